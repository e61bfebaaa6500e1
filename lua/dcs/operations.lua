--- The DCS run-log API, described once (shared/docs/dcs-api.md section 1).
-- Each entry becomes a client method taking its path arguments in order,
-- then an optional table of query options and per-call settings.
--
--   method, path   HTTP method and path template; {project_id} comes from the client
--   args           positional path parameters (non-empty strings)
--   query          query parameters: fixed = value always sent; or
--                  type = "string" | "integer", enum = {...}, min, max, default
--   success        HTTP statuses that mean success
--   result         function(status, decoded_body) -> value returned to the caller
--   api            the official SDK operation name, for docs and errors
--   service        "dcs" (default) or "iam": which endpoint it goes to
--   project        false: no project in the path or X-Project-Id header
--   internal       true: used by the SDK itself, not a client method
local M = {
  create_redislog_download_link = {
    api = "CreateRedislogDownloadLink",
    method = "POST",
    path = "/v2/{project_id}/instances/{instance_id}/redislog/{log_id}/links",   -- {id} in the API docs
    args = { "instance_id", "log_id" },
    success = { [200] = true },
  },

  collect_redislog = {
    api = "CreateRedislog",
    method = "POST",
    path = "/v2/{project_id}/instances/{instance_id}/redislog",
    args = { "instance_id" },
    query = {
      log_type = { fixed = "run" },
      query_time = { type = "integer", enum = { 0, 1, 3, 7 } },
      replication_id = { type = "string" },
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
      offset = { type = "integer", min = 0 },
      limit = { type = "integer", min = 1, max = 1000 },
    },
    success = { [200] = true, [204] = true },
    -- 204 means "no logs" (dcs-api.md 1.2): give the same shape as a 200.
    result = function(status, body)
      if status == 204 or type(body) ~= "table" then
        return { total_num = 0, file_list = {} }
      end
      body.total_num = body.total_num or 0
      body.file_list = body.file_list or {}
      return body
    end,
  },
}

-- IAM KeystoneListProjects, for the project id lookup (dcs-api.md 4.4).
M.iam_list_projects = {
  api = "KeystoneListProjects",
  service = "iam",
  project = false,
  internal = true,
  method = "GET",
  path = "/v3/projects",
  args = {},
  query = { name = { type = "string" } },
  success = { [200] = true },
}

return M
