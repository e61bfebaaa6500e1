--- The run-log workflow on top of the API operations: paging, downloading a
-- log file to disk, and collect -> poll -> link -> download in one call.
-- Adds methods to the client class; see README "Run-log workflow".
local core = require "dcs.core"
local errors = require "dcs.errors"
local transports = require "dcs.transport"

local M = {}

local DEFAULT_PAGE = 100

--- for file, err in client:each_redislog(instance_id[, { page_size = }]) do
-- Yields every file across pages.  On a failure the loop gets false, err
-- once and then ends.
local function each_redislog(self, instance_id, opts)
  opts = opts or {}
  local page_size = opts.page_size or DEFAULT_PAGE
  local offset, total, page, index, done = 0, nil, nil, 0, false
  return function()
    if done then return nil end
    if page == nil or index >= #page then
      if page ~= nil and offset >= total then
        done = true
        return nil
      end
      local res, err = self:list_redislogs(instance_id, { offset = offset, limit = page_size,
        timeout = opts.timeout })
      if not res then
        done = true
        return false, err
      end
      page, total = res.file_list, res.total_num
      offset = offset + #page
      index = 0
      if #page == 0 then
        done = true
        return nil
      end
    end
    index = index + 1
    return page[index]
  end
end

-- Content-Range: bytes 100-199/1000 -> 1000
local function range_total(headers)
  local total = headers and headers["content-range"] and headers["content-range"]:match("/(%d+)%s*$")
  return tonumber(total)
end

local temp_counter = 0
local function temp_path(path)
  temp_counter = temp_counter + 1
  return ("%s.%d-%d-%d.part"):format(path, os.time(), math.random(0, 0x7fffffff), temp_counter)
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

--- client:download(link, path[, { progress = function(done, total) end,
---   resume = true, max_resumes = 5, timeout = false, stall_timeout = 60 }])
-- -> { path, bytes, sha256, resumes } | nil, err
-- The link is pre-signed: it is fetched without AK/SK signing.  The body
-- goes to a temporary file next to path, renamed to path only once complete.
local function download(self, link, path, opts)
  local op = "download"
  if self.closed then
    return nil, errors.new { kind = "closed", operation = op, message = "the client is closed",
                             retryable = false }
  end
  if type(link) ~= "string" or not link:find("^[Hh][Tt][Tt][Pp][Ss]?://[^/%s]+") then
    return nil, errors.invalid(op, "link must be an http(s) URL")
  end
  if type(path) ~= "string" or path == "" or path:sub(-1) == "/" then
    return nil, errors.invalid(op, "path must be a file name")
  end
  if opts ~= nil and type(opts) ~= "table" then return nil, errors.invalid(op, "options must be a table") end
  opts = opts or {}
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    return nil, errors.invalid(op, "progress must be a function")
  end
  local resume = opts.resume ~= false
  local max_resumes = resume and (opts.max_resumes or 5) or 0

  local transport, terr = self:transport(op)
  if not transport then return nil, terr end
  local tmp = temp_path(path)
  local offset, total, etag, resumes = 0, nil, nil, 0
  local user_progress = opts.progress
  local function progress(bytes, length, status)
    local base = status == 206 and offset or 0
    local whole = total or (length >= 0 and base + length or nil)
    return user_progress(base + bytes, whole)
  end
  local function fail(err)
    os.remove(tmp)
    err.operation = op
    return nil, err
  end

  while true do
    local headers = { ["User-Agent"] = self.user_agent, Accept = "*/*" }
    if offset > 0 then
      headers.Range = "bytes=" .. ("%d"):format(offset) .. "-"
      headers["If-Range"] = etag                    -- changed file: whole body, restart
    end
    local res, failure = transport:request {
      method = "GET", url = link, headers = headers,
      file = tmp, file_mode = offset > 0 and "ab" or "wb",
      progress = user_progress and progress or nil,
      timeout = opts.timeout or false, stall_timeout = opts.stall_timeout or 60,
    }
    local got = res or failure
    if got.status == 200 or got.status == 206 then
      if got.status == 200 then
        offset = 0
        total = tonumber(got.headers["content-length"])
      else
        total = range_total(got.headers) or total
      end
      offset = offset + got.bytes
      etag = got.headers.etag or got.headers["last-modified"] or etag
    end
    if res then
      if res.status ~= 200 and res.status ~= 206 then
        return fail(errors.from_response(op, res, nil, {}))
      end
      break
    end
    local retry = (failure.kind == "network" or failure.kind == "timeout")
      and resumes < max_resumes
    if not retry then
      local err = errors.from_transport(op, failure, {})
      if failure.status == 200 or failure.status == 206 then
        err.message = err.message .. (" (%d of %s bytes received)"):format(offset, tostring(total or "?"))
      end
      return fail(err)
    end
    resumes = resumes + 1
  end

  local size = file_size(tmp) or -1
  if total and size ~= total then
    return fail(errors.new { kind = "network", reason = "short", message =
      ("incomplete download: %d of %d bytes"):format(size, total) })
  end
  local sha256, herr = core.sha256_file(tmp)
  if not sha256 then return fail(errors.new { kind = "io", message = herr }) end
  local ok, rerr = os.rename(tmp, path)
  if not ok then return fail(errors.new { kind = "io", reason = "rename", message = rerr }) end
  return { path = path, bytes = size, sha256 = sha256, resumes = resumes }
end

-- A server-given file name must not lead out of dest.
local function safe_name(name, fallback)
  name = type(name) == "string" and name:gsub("[/\\%z]", "_") or ""
  if name == "" or name == "." or name == ".." then name = fallback end
  return name
end

local function list_all(self, instance_id, opts)
  local files = {}
  for file, err in each_redislog(self, instance_id, { timeout = opts.request_timeout }) do
    if file == false then return nil, err end
    files[#files + 1] = file
  end
  return files
end

--- client:fetch_run_logs(instance_id[, { days = 0|1|3|7, replication_id =,
---   dest = ".", timeout = 300, poll_interval = 3, progress = fn(file, done, total) }])
-- -> written, failed | nil, err
-- written: { {id, file_name, path, bytes, sha256}, ... }
-- failed:  { {id, file_name, error}, ... }  (one entry per file that failed)
local function fetch_run_logs(self, instance_id, opts)
  local op = "fetch_run_logs"
  opts = opts or {}
  if type(opts) ~= "table" then return nil, errors.invalid(op, "options must be a table") end
  local days = opts.days or 0
  local dest = opts.dest or "."
  local timeout = opts.timeout or 300
  local interval = opts.poll_interval or 3
  if days ~= 0 and days ~= 1 and days ~= 3 and days ~= 7 then
    return nil, errors.invalid(op, "days must be one of 0, 1, 3, 7 (got " .. tostring(days) .. ")")
  end
  if type(dest) ~= "string" or dest == "" then return nil, errors.invalid(op, "dest must be a directory") end
  if type(timeout) ~= "number" or timeout < 0 then return nil, errors.invalid(op, "timeout must be >= 0") end
  if type(interval) ~= "number" or interval <= 0 then
    return nil, errors.invalid(op, "poll_interval must be > 0")
  end

  local before, err = list_all(self, instance_id, opts)
  if not before then return nil, err end
  local known = {}
  for _, f in ipairs(before) do known[f.id] = true end

  local ok
  ok, err = self:collect_redislog(instance_id, { query_time = days, replication_id = opts.replication_id })
  if not ok then return nil, err end

  -- One file per day (dcs-api.md 1): wait for that many new files to be ready.
  local expected = math.max(1, days)
  local deadline = self.monotime() + timeout
  local fresh
  while true do
    local files
    files, err = list_all(self, instance_id, opts)
    if not files then return nil, err end
    fresh = {}
    local ready = 0
    for _, f in ipairs(files) do
      if not known[f.id] then
        fresh[#fresh + 1] = f
        if f.status == "succeed" then ready = ready + 1 end
      end
    end
    if #fresh >= expected and ready == #fresh then break end
    if self.monotime() >= deadline then break end
    self.sleep(math.min(interval, math.max(0, deadline - self.monotime())))
  end
  if #fresh == 0 then
    return nil, errors.new { kind = "timeout", operation = op, message =
      ("no new log file appeared within %gs after collecting (Redis may have logged nothing)"):format(timeout) }
  end

  local written, failed = {}, {}
  for _, f in ipairs(fresh) do
    local name = safe_name(f.file_name, "redis-" .. tostring(f.id) .. ".log")
    local function failure(e)
      failed[#failed + 1] = { id = f.id, file_name = f.file_name, error = e }
    end
    if f.status ~= "succeed" then
      failure(errors.new { kind = "timeout", operation = op, message =
        ("log file %s still '%s' after %gs"):format(name, tostring(f.status), timeout) })
    else
      local link, lerr = self:create_redislog_download_link(instance_id, f.id)
      if not link then
        failure(lerr)
      else
        local progress = opts.progress and function(done, total) return opts.progress(f, done, total) end
        local res, derr = download(self, link.link, dest .. "/" .. name, { progress = progress })
        if not res then
          failure(derr)
        else
          written[#written + 1] = { id = f.id, file_name = f.file_name, path = res.path,
            bytes = res.bytes, sha256 = res.sha256 }
        end
      end
    end
  end
  return written, failed
end

function M.install(Client)
  Client.each_redislog = each_redislog
  Client.download = download
  Client.fetch_run_logs = fetch_run_logs
  -- ngx.sleep / ngx.now inside nginx, where they exist; overridable per client.
  Client.sleep = transports.sleep
  Client.monotime = transports.monotime
end

return M
