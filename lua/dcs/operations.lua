--- The DCS run-log API, described once (docs/api.md, "Run-log APIs").
-- Each entry becomes a client method taking its path arguments in order,
-- then an optional table of query options and per-call settings.
--
--   method, path   HTTP method and path template; {project_id} comes from the client
--   args           positional path parameters (ids: see dcs.validate.id)
--   query          query parameters: fixed = value always sent; or
--                  type = "id" | "integer", enum = {...}, min, max
--   success        HTTP statuses that mean success
--   result         function(status, decoded_body) -> value returned to the caller,
--                  or nil and why the body is not what the API defines
--   api            the official SDK operation name, for docs and errors
--   service        "dcs" (default) or "iam": which endpoint it goes to
--   project        false: no project in the path or X-Project-Id header
--   internal       true: used by the SDK itself, not a client method
local validate = require "dcs.validate"

-- Fields of a log file entry and the types a server may give them.
local FILE_FIELDS = { file_name = "string", status = "string", time = "string", group_name = "string",
  replication_ip = "string", backup_id = "string" }

-- A listing page: every field checked before the caller sees it.
local function check_listing(body)
  local total, why = validate.integer(body.total_num or 0, 0, validate.MAX_INTEGER)
  if not total then return nil, "total_num " .. why end
  local files = body.file_list or {}
  if type(files) ~= "table" then return nil, "file_list is not a list" end
  local n = 0
  for _ in pairs(files) do n = n + 1 end
  if n ~= #files then return nil, "file_list is not a list" end
  for i, f in ipairs(files) do
    if type(f) ~= "table" then return nil, ("file_list[%d] is not an object"):format(i) end
    local _, bad = validate.id(f.id)
    if bad then return nil, ("file_list[%d].id %s"):format(i, bad) end
    for k, t in pairs(FILE_FIELDS) do
      if type(f[k]) == "userdata" then f[k] = nil end          -- JSON null
      if f[k] ~= nil and type(f[k]) ~= t then return nil, ("file_list[%d].%s is not a %s"):format(i, k, t) end
    end
  end
  body.total_num, body.file_list = total, files
  return body
end

local M = {
  create_redislog_download_link = {
    api = "CreateRedislogDownloadLink",
    method = "POST",
    path = "/v2/{project_id}/instances/{instance_id}/redislog/{log_id}/links",   -- {id} in the API docs
    args = { "instance_id", "log_id" },
    success = { [200] = true },
    -- the link itself is checked where it is used (client:download)
    result = function(_, body)
      if type(body) ~= "table" or type(body.link) ~= "string" then return nil, "answer has no link" end
      return body
    end,
  },

  collect_redislog = {
    api = "CreateRedislog",
    method = "POST",
    path = "/v2/{project_id}/instances/{instance_id}/redislog",
    args = { "instance_id" },
    query = {
      log_type = { fixed = "run" },
      query_time = { type = "integer", enum = { 0, 1, 3, 7 } },
      replication_id = { type = "id" },
    },
    success = { [204] = true },
    result = function() return true end,
  },

  list_redislogs = {
    api = "ListRedislog",
    method = "GET",
    path = "/v2/{project_id}/instances/{instance_id}/redislog",
    args = { "instance_id" },
    query = {
      log_type = { fixed = "run" },
      offset = { type = "integer", min = 0, max = 2 ^ 31 - 1 },
      limit = { type = "integer", min = 1, max = 1000 },
    },
    success = { [200] = true, [204] = true },
    -- 204 means "no logs" (docs/api.md, "ListRedislog"): give the same shape as a 200.
    result = function(status, body)
      if status == 204 then return { total_num = 0, file_list = {} } end
      if type(body) ~= "table" then return nil, "answer is not a JSON object" end
      return check_listing(body)
    end,
  },
}

-- IAM KeystoneListProjects, for the project id lookup (docs/api.md, "Project id lookup").
M.iam_list_projects = {
  api = "KeystoneListProjects",
  service = "iam",
  project = false,
  internal = true,
  method = "GET",
  path = "/v3/projects",
  args = {},
  query = { name = { type = "id" } },
  success = { [200] = true },
}

return M
