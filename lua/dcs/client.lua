--- dcs.client: configuration, and the request pipeline every operation
-- goes through: validate -> build -> sign (C) -> send (transport) -> decode.
-- The transport is any object with :request(req) -> res | nil, failure, so
-- a cosocket or host-loop transport can replace libcurl without C ever
-- calling back into Lua code that might yield.
local core = require "dcs.core"
local cjson = require "cjson"
local errors = require "dcs.errors"
local operations = require "dcs.operations"

local VERSION = "0.1.0"

local json = cjson.new()
if json.decode_array_with_array_mt then json.decode_array_with_array_mt(true) end

-- lua-cjson decodes every number as a float on Lua 5.3+; give integral
-- values back as integers so total_num prints as 3, not 3.0.
local integers = math.tointeger and function(self, t)
  for k, v in pairs(t) do
    if type(v) == "number" then
      t[k] = math.tointeger(v) or v
    elseif type(v) == "table" then
      self(self, v)
    end
  end
  return t
end or function(_, t) return t end

-- SK and security token live here, keyed weakly by client, so they are not
-- reachable through the client table (pairs, inspect, debug dumps).
local secrets = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

local OPTIONS = {
  ak = "string", sk = "string", project = "string", region = "string", endpoint = "string",
  security_token = "string", timeout = "number", connect_timeout = "number",
  ca_file = "string", insecure = "boolean", proxy = "string", user_agent = "string",
}

local function user_agent(extra)
  local lua = _VERSION
  if type(jit) == "table" and jit.version then lua = jit.version end
  local ua = ("lua-dcs/%s (%s; libcurl/%s)"):format(VERSION, lua, core.curl_version())
  if extra and extra ~= "" then ua = ua .. " " .. extra end
  return ua
end

local function normalize_endpoint(endpoint)
  if not endpoint:find("^%a[%w+.-]*://") then endpoint = "https://" .. endpoint end
  endpoint = endpoint:gsub("/+$", "")
  if not endpoint:find("^https?://[^/?#%s]+$") then
    error(("dcs.client: option 'endpoint' must look like https://host[:port] (got %q)"):format(endpoint), 3)
  end
  return endpoint
end

--- dcs.client{ ak =, sk =, project =, region = | endpoint =, ... }
--- dcs.client(ak, sk, project[, opts])
local function new(ak_or_opts, sk, project, opts)
  local o
  if type(ak_or_opts) == "table" then
    o = ak_or_opts
  else
    o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.ak, o.sk, o.project = ak_or_opts, sk, project
  end
  for k, v in pairs(o) do
    local want = OPTIONS[k]
    if not want then error(("dcs.client: unknown option '%s'"):format(tostring(k)), 2) end
    if type(v) ~= want then
      error(("dcs.client: option '%s' must be a %s"):format(k, want), 2)
    end
  end
  for _, k in ipairs { "ak", "sk", "project" } do
    if o[k] == nil or o[k] == "" then
      error(("dcs.client: option '%s' is required"):format(k), 2)
    end
  end
  local endpoint
  if o.endpoint then
    endpoint = normalize_endpoint(o.endpoint)
  elseif o.region then
    if not o.region:find("^[a-z][a-z0-9-]*[a-z0-9]$") then
      error(("dcs.client: option 'region' is not a region id (got %q)"):format(o.region), 2)
    end
    endpoint = "https://dcs." .. o.region .. ".myhuaweicloud.com"
  else
    error("dcs.client: option 'region' or 'endpoint' is required", 2)
  end
  for _, k in ipairs { "timeout", "connect_timeout" } do
    if o[k] and (o[k] ~= o[k] or o[k] <= 0) then  -- NaN too
      error(("dcs.client: option '%s' must be > 0"):format(k), 2)
    end
  end

  local self = setmetatable({
    endpoint = endpoint,
    project = o.project,
    region = o.region,
    timeout = o.timeout or 120,          -- Go SDK default; Python uses (60, 120)
    connect_timeout = o.connect_timeout or 60,
    user_agent = user_agent(o.user_agent),
  }, Client)
  secrets[self] = { ak = o.ak, sk = o.sk, security_token = o.security_token }
  self.transport = core.http {
    timeout = self.timeout,
    connect_timeout = self.connect_timeout,
    ca_file = o.ca_file,
    insecure = o.insecure,
    proxy = o.proxy,
  }
  return self
end

--- Idempotent; also __close and __gc.
function Client:close()
  if not self.closed then
    self.closed = true
    if self.transport and self.transport.close then self.transport:close() end
  end
  return true
end
Client.__close = Client.close
Client.__gc = Client.close

function Client:__tostring()
  return ("dcs.client(endpoint=%s, project=%s%s)"):format(self.endpoint, self.project,
    self.closed and ", closed" or "")
end

-- Secrets that must never reach an error message.
local function secret_list(self, extra)
  local s = secrets[self] or {}
  return { s.sk, s.security_token, extra }
end

local function check_query_value(name, spec, v)
  if spec.type == "integer" then
    if type(v) ~= "number" or v ~= math.floor(v) then
      return ("%s must be an integer"):format(name)
    end
  elseif spec.type == "string" then
    if type(v) ~= "string" or v == "" then return ("%s must be a non-empty string"):format(name) end
  end
  if spec.enum then
    local ok = false
    for _, e in ipairs(spec.enum) do if e == v then ok = true end end
    if not ok then
      local list = {}
      for i, e in ipairs(spec.enum) do list[i] = tostring(e) end
      return ("%s must be one of %s (got %s)"):format(name, table.concat(list, ", "), tostring(v))
    end
  end
  if spec.min and v < spec.min then return ("%s must be >= %d"):format(name, spec.min) end
  if spec.max and v > spec.max then return ("%s must be <= %d"):format(name, spec.max) end
  return nil
end

-- validate + build: returns the unsigned request, or nil and an error object.
local function build(self, name, op, n, ...)
  local args = { ... }
  local project = core.encode(self.project)
  local path = op.path:gsub("{project_id}", function() return project end)
  for i, arg_name in ipairs(op.args) do
    local v = args[i]
    if type(v) ~= "string" or v == "" then
      return nil, errors.invalid(name, ("%s must be a non-empty string (got %s)"):format(
        arg_name, v == "" and "an empty string" or type(v)))
    end
    path = path:gsub("{" .. arg_name .. "}", function() return core.encode(v) end)
  end
  local opts = args[#op.args + 1]
  if n > #op.args + 1 then
    return nil, errors.invalid(name, ("too many arguments (%s takes %d and an options table)")
      :format(name, #op.args))
  end
  if opts ~= nil and type(opts) ~= "table" then
    return nil, errors.invalid(name, "options must be a table")
  end
  opts = opts or {}
  local query, timeout = {}, nil
  for k, v in pairs(opts) do
    local spec = op.query and op.query[k]
    if k == "timeout" then
      if type(v) ~= "number" or v ~= v or v <= 0 then
        return nil, errors.invalid(name, "timeout must be a positive number of seconds")
      end
      timeout = v
    elseif not spec or spec.fixed then
      return nil, errors.invalid(name, ("unknown option '%s'"):format(tostring(k)))
    else
      local problem = check_query_value(k, spec, v)
      if problem then return nil, errors.invalid(name, problem) end
      query[k] = v
    end
  end
  for k, spec in pairs(op.query or {}) do
    if spec.fixed then query[k] = spec.fixed end
  end
  local s = secrets[self]
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Project-Id"] = self.project,
    ["X-Security-Token"] = s.security_token,
  }
  return { method = op.method, url = self.endpoint .. path, query = query, headers = headers,
           body = "", timeout = timeout }
end

local function decode(self, name, op, res, authorization)
  local decoded
  if res.body ~= "" then
    local ok, value = pcall(json.decode, res.body)
    if ok and type(value) == "table" then decoded = integers(integers, value) end
  end
  if not op.success[res.status] then
    return nil, errors.from_response(name, res, decoded, secret_list(self, authorization))
  end
  if res.body ~= "" and decoded == nil then
    return nil, errors.new { kind = "decode", operation = name, status = res.status,
      request_id = res.headers["x-request-id"],
      message = "response body is not a JSON object: " .. res.body:sub(1, 200) }
  end
  if op.result then return op.result(res.status, decoded) end
  if decoded == nil then
    return nil, errors.new { kind = "decode", operation = name, status = res.status,
      request_id = res.headers["x-request-id"], message = "empty response body" }
  end
  return decoded
end

local function call(self, name, op, ...)
  if self.closed then
    return nil, errors.new { kind = "closed", operation = name, message = "the client is closed",
                             retryable = false }
  end
  local req, err = build(self, name, op, select("#", ...), ...)
  if not req then return nil, err end

  local s = secrets[self]
  local headers, _, query = core.sign {
    method = req.method, url = req.url, query = req.query, headers = req.headers,
    body = req.body, ak = s.ak, sk = s.sk,
  }
  -- Sent but not signed, as the Node SDK does: proxies may rewrite these.
  headers["User-Agent"] = self.user_agent
  headers["Accept"] = "application/json"

  local res, failure = self.transport:request {
    method = req.method,
    url = query ~= "" and (req.url .. "?" .. query) or req.url,
    headers = headers,
    body = req.body,
    timeout = req.timeout,
  }
  if not res then
    return nil, errors.from_transport(name, failure, secret_list(self, headers.Authorization))
  end
  return decode(self, name, op, res, headers.Authorization)
end

for name, op in pairs(operations) do
  Client[name] = function(self, ...) return call(self, name, op, ...) end
end
require("dcs.runlogs").install(Client)

return { new = new, Client = Client, VERSION = VERSION, user_agent = user_agent }
