--- DCS regions and endpoint resolution, as the official Go and Python SDKs
-- do it (docs/api.md, "Regions and endpoints"): the environment override
-- HUAWEICLOUD_SDK_REGION_DCS_<REGION_ID> (comma-separated endpoints) first,
-- then the built-in table, https://dcs.<region>.myhuaweicloud.com.
local validate = require "dcs.validate"

local M = {}

-- The 30 regions of services/dcs/v2/region (Go) / dcs_region.py (Python).
M.KNOWN = {
  "af-south-1",
  "cn-north-2", "cn-north-4", "cn-north-1", "cn-north-9", "cn-north-12",
  "cn-east-2", "cn-east-3", "cn-east-4", "cn-east-5",
  "cn-south-1", "cn-south-2", "cn-southwest-2",
  "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
  "ru-northwest-2", "ru-moscow-1",
  "sa-brazil-1", "la-north-2", "la-south-2", "na-mexico-1",
  "ae-ad-1", "tr-west-1", "me-east-1",
  "eu-west-101", "eu-west-0",
  "my-kualalumpur-1",
}

local known = {}
for _, r in ipairs(M.KNOWN) do known[r] = true end

--- "host:port" or "https://host/" -> "https://host[:port]", or nil, why.
-- An endpoint never carries credentials: they would go out in the Host
-- header and into messages.  Refused without quoting the value.
function M.normalize(endpoint)
  if type(endpoint) ~= "string" or endpoint == "" then return nil, "must be a non-empty string" end
  endpoint = endpoint:gsub("^%s+", ""):gsub("%s+$", "")
  if not endpoint:find("^%a[%w+.-]*://") then endpoint = "https://" .. endpoint end
  endpoint = endpoint:gsub("/+$", "")
  local _, why = validate.url(endpoint)
  if why then return nil, why end
  local authority = endpoint:match("^[Hh][Tt][Tt][Pp][Ss]?://([^/?#]+)$")
  local host, port = (authority or ""):match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = (authority or ""):match("^([%w._-]+)(.*)$") end
  local number = port and tonumber(port:match("^:(%d%d?%d?%d?%d?)$"))
  if not host or (port ~= "" and not (number and number >= 1 and number <= 65535)) then
    return nil, ("must look like https://host[:port] (got %q)"):format(endpoint)
  end
  return endpoint
end

--- Endpoints from HUAWEICLOUD_SDK_REGION_DCS_CN_NORTH_4 and friends.
function M.from_env(region, getenv)
  local name = "HUAWEICLOUD_SDK_REGION_DCS_" .. region:upper():gsub("-", "_")
  local value = (getenv or os.getenv)(name)
  if not value or value:find("^%s*$") then return nil end
  local list = {}
  for item in value:gmatch("[^,]+") do
    local e, why = M.normalize(item)
    if not e then return nil, name .. ": " .. why end
    list[#list + 1] = e
  end
  return list
end

--- The endpoints of a region: the environment override, else the table.
-- Returns nil, message for an unknown region.
function M.endpoints(region)
  local list, err = M.from_env(region)
  if err then return nil, err end
  if list then return list end
  if not known[region] then
    return nil, ("unknown DCS region '%s'; known regions: %s"):format(region, table.concat(M.KNOWN, ", "))
  end
  return { "https://dcs." .. region .. ".myhuaweicloud.com" }
end

--- The IAM endpoint for the project lookup (docs/api.md, "Project id lookup").
function M.iam_endpoint(region)
  local env = os.getenv("HUAWEICLOUD_SDK_IAM_ENDPOINT")
  if env and env ~= "" then return M.normalize(env) end
  return "https://iam." .. region .. ".myhuaweicloud.com"
end

return M
