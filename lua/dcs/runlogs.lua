--- The run-log workflow on top of the API operations: paging, and
-- collect -> poll -> link -> download in one call.  Adds methods to the
-- client class (dcs/init.lua installs them); see README "Run-log workflow".
-- Paging trusts nothing a server says: the number of files is bounded
-- (max_files) and a listing that contradicts itself ends with an error.
-- @module dcs.runlogs
local core = require "dcs.core"
local errors = require "dcs.errors"
local download = require "dcs.download"
local gather = require "dcs.gather"
local names = require "dcs.names"
local request = require "dcs.request"
local validate = require "dcs.validate"

local M = {}

-- The methods this module adds to the client class (M.install).
---@class dcs.Client
local Client = {}

local DEFAULT_PAGE = 100
M.MAX_FILES = 10000      -- DCS keeps one file per replica and day: far fewer in practice

-- nil, or an error object naming the first key of opts not in `known`.
local function unknown_option(op, opts, known)
  for k in pairs(opts) do
    if not known[k] then return errors.invalid(op, ("unknown option '%s'"):format(tostring(k))) end
  end
end

local PAGING = { page_size = true, max_files = true, timeout = true }
local FETCH = { days = true, dest = true, timeout = true, poll_interval = true, replication_id = true,
  progress = true, request_timeout = true, concurrency = true }
M.PAGING_OPTIONS, M.FETCH_OPTIONS = PAGING, FETCH   -- (the docs are checked against them)

local function paging_options(op, opts)
  if opts ~= nil and type(opts) ~= "table" then return nil, errors.invalid(op, "options must be a table") end
  opts = opts or {}
  local unknown = unknown_option(op, opts, PAGING)
  if unknown then return nil, unknown end
  local o = { page_size = opts.page_size or DEFAULT_PAGE, max_files = opts.max_files or M.MAX_FILES,
    timeout = opts.timeout }
  local _, why = validate.integer(o.page_size, 1, 1000)
  if why then return nil, errors.invalid(op, "page_size " .. why) end
  _, why = validate.integer(o.max_files, 1, validate.MAX_INTEGER)
  if why then return nil, errors.invalid(op, "max_files " .. why) end
  if o.timeout ~= nil then
    _, why = validate.seconds(o.timeout)
    if why then return nil, errors.invalid(op, "timeout " .. why) end
  end
  return o
end

-- Checks one page against what paging promised; nil or an error object.
local function page_error(op, page, total, offset, o)
  if #page > o.page_size then
    return errors.decode(op, nil, "paging", ("the server sent %d files for a page of %d"):format(#page, o.page_size))
  end
  if #page < o.page_size and offset + #page < total then
    return errors.decode(op, nil, "paging", ("the server claims %d files but ended its listing at %d")
      :format(total, offset + #page))
  end
  if offset + #page > o.max_files then
    return errors.decode(op, nil, "limit", ("the server lists more than max_files (%d) files"):format(o.max_files))
  end
end

--- The options of each_redislog.
---@class dcs.PagingOptions
---@field page_size? integer files per request, 1 to 1000 (default 100)
---@field max_files? integer more than this is an error of kind "decode" (default 10000)
---@field timeout? number seconds for each request

-- The timeout of the next page's request: o.timeout (nil: the client's),
-- cut to what is left before o.deadline when there is one (the wait of
-- fetch_run_logs); nil when nothing is left.
local function page_timeout(self, o)
  if not o.deadline then return o.timeout, true end
  local left = o.deadline - self.monotime()
  if left < 0.001 then return nil end
  return math.min(o.timeout or self.timeout, left), true
end

-- each_redislog's loop over checked options o (page_size, max_files,
-- timeout, and deadline: a monotime no page request may outlast), or
-- over false, oerr.
local function pages(self, instance_id, o, oerr)
  local offset, total, page, index, done = 0, nil, nil, 0, false
  -- the ids given so far: offset paging over a listing that changes between
  -- pages (a new file at its head) repeats files, and a caller that fetches
  -- each file must not get one twice
  local seen = {}
  local function next_file()
    if page == nil or index >= #page then
      if page ~= nil and offset >= total then return nil end
      local timeout, left = page_timeout(self, o)
      if not left then
        return false, errors.new { kind = "timeout", operation = "each_redislog",
          message = "the listing did not end within the time left" }
      end
      local res, err = self:list_redislogs(instance_id, { offset = offset, limit = o.page_size, timeout = timeout })
      if res then err = page_error("each_redislog", res.file_list, res.total_num, offset, o) end
      if err then return false, err end
      page, total, index = res.file_list, res.total_num, 0
      offset = offset + #page
      if #page == 0 then return nil end
    end
    index = index + 1
    return page[index]
  end
  return function()
    if done then return nil end
    if not o then
      done = true
      return false, oerr
    end
    while true do
      local file, err = next_file()
      if not file then
        done = true
        return file, err
      end
      if not seen[file.id] then
        seen[file.id] = true
        return file
      end
    end
  end
end

--- `for file, err in client:each_redislog(instance_id[, opts]) do`: every
--- file once, across pages.  On a failure the loop gets false, err once and then ends.
---@param instance_id string
---@param opts? dcs.PagingOptions
---@return fun(): (dcs.LogFile|false)?, dcs.Error? iterator
function Client:each_redislog(instance_id, opts)
  local o, oerr = paging_options("each_redislog", opts)
  return pages(self, instance_id, o, oerr)
end

-- Every file of the instance, or nil, err; no request outlasts deadline.
local function list_all(self, instance_id, opts, deadline)
  local files = {}
  for file, err in pages(self, instance_id, { page_size = DEFAULT_PAGE, max_files = M.MAX_FILES,
    timeout = opts.request_timeout, deadline = deadline }) do
    if file == false then return nil, err end
    files[#files + 1] = file
  end
  return files
end

-- Every option is checked here, before the first request: a mistake
-- found later (replication_id by collect_redislog, say) would come after
-- listings had gone out.
local function fetch_options(op, opts)
  if opts ~= nil and type(opts) ~= "table" then return nil, errors.invalid(op, "options must be a table") end
  opts = opts or {}
  local unknown = unknown_option(op, opts, FETCH)
  if unknown then return nil, unknown end
  local o = { days = opts.days or 0, dest = opts.dest or ".", timeout = opts.timeout or 300,
    interval = opts.poll_interval or 3, replication_id = opts.replication_id, progress = opts.progress,
    request_timeout = opts.request_timeout, concurrency = opts.concurrency or 4 }
  if o.days ~= 0 and o.days ~= 1 and o.days ~= 3 and o.days ~= 7 then
    return nil, errors.invalid(op, "days must be one of 0, 1, 3, 7 (got " .. tostring(o.days) .. ")")
  end
  if type(o.dest) ~= "string" or o.dest == "" or o.dest:find("%z") then
    return nil, errors.invalid(op, "dest must be a directory")
  end
  local _, why = validate.seconds(o.timeout, 0)
  if why then return nil, errors.invalid(op, "timeout " .. why) end
  _, why = validate.seconds(o.interval)
  if why then return nil, errors.invalid(op, "poll_interval " .. why) end
  _, why = validate.integer(o.concurrency, 1, 64)
  if why then return nil, errors.invalid(op, "concurrency " .. why) end
  if o.progress ~= nil and type(o.progress) ~= "function" then
    return nil, errors.invalid(op, "progress must be a function")
  end
  if o.replication_id ~= nil then
    _, why = validate.id(o.replication_id)
    if why then return nil, errors.invalid(op, "replication_id " .. why) end
  end
  if o.request_timeout ~= nil then
    _, why = validate.seconds(o.request_timeout)
    if why then return nil, errors.invalid(op, "request_timeout " .. why) end
  end
  return o
end

-- Why dest is not a directory, or nil.  What it is (stat) counts, not
-- whether it can be read: a directory that cannot be read may be written.
local function not_a_directory(dest)
  local kind, why = core.file_type(dest)
  if kind == "directory" then return nil end
  return kind and "it is not a directory" or why:match(": ([^:]*)$") or why
end

-- The ids of the files listed now (only the ids are kept).
local function known_ids(self, instance_id, o)
  local known = {}
  for file, err in self:each_redislog(instance_id, { timeout = o.request_timeout }) do
    if file == false then return nil, err end
    known[file.id] = true
  end
  return known
end

-- Polls the listing until the collected files are ready: the new files
-- (not in `known`), or nil, err.
local function wait_for_new(self, instance_id, o, known)
  local expected = math.max(1, o.days)       -- one file per day (docs/api.md, "Run-log APIs")
  local deadline = self.monotime() + o.timeout
  while true do
    -- the listings too: a server answering its pages slowly holds the
    -- wait one request's timeout past its own at most (the last listing,
    -- made at the deadline, has that long)
    local files, err = list_all(self, instance_id, o, deadline + (o.request_timeout or self.timeout))
    if not files then return nil, err end
    local fresh, ready = {}, 0
    for _, f in ipairs(files) do
      if not known[f.id] then
        fresh[#fresh + 1] = f
        if f.status == "succeed" then ready = ready + 1 end
      end
    end
    if (#fresh >= expected and ready == #fresh) or self.monotime() >= deadline then return fresh end
    -- the client's wait: closing the client ends this sleep at once
    request.wait(self, math.min(o.interval, math.max(0, deadline - self.monotime())))
  end
end

-- Downloads one new file into dest under its safe, unique name.
local function fetch_one(self, instance_id, job, o)
  local f, name = job.file, job.name
  if f.status ~= "succeed" then
    return nil, errors.new { kind = "timeout", operation = "fetch_run_logs", message =
      ("log file %s still '%s' after %gs"):format(name, names.printable(f.status), o.timeout) }
  end
  local link, err = self:create_redislog_download_link(instance_id, f.id, { timeout = o.request_timeout })
  if not link then return nil, err end
  local path = o.dest .. "/" .. name
  -- the path too: two files a server gave one name land under different ones
  local progress = o.progress and function(done, total) return o.progress(f, done, total, path) end
  local res
  res, err = download.download(self, link.link, path, { progress = progress })
  if not res then return nil, err end
  return { id = f.id, file_name = f.file_name, path = res.path, bytes = res.bytes, sha256 = res.sha256 }
end

--- The options of fetch_run_logs.
---@class dcs.FetchOptions
---@field days? integer 0 (today, the default), 1, 3 or 7
---@field replication_id? string the replica (master/standby and cluster instances)
---@field dest? string the directory to save into, which must exist (default ".")
---@field timeout? number seconds to wait for the collection (default 300)
---@field poll_interval? number seconds between listings (default 3)
---@field concurrency? integer downloads at once, 1 to 64 (default 4)
---@field request_timeout? number seconds for each API request (listings, collection, links; not the downloads)
---@field progress? fun(file: dcs.LogFile, done: integer, total: integer?, path: string): boolean? false cancels

--- A file fetch_run_logs saved.
---@class dcs.FetchedFile
---@field id string
---@field file_name? string
---@field path string
---@field bytes integer
---@field sha256 string

--- A file fetch_run_logs could not save.
---@class dcs.FailedFile
---@field id string
---@field file_name? string
---@field path string where it was to be saved (a partial file may be kept beside it)
---@field error dcs.Error

--- The whole job: collect, wait until the new files are ready, download
--- each into `dest` (concurrently, under safe unique names).  A file that
--- fails does not stop the others: it is in `failed`.
---@param instance_id string
---@param opts? dcs.FetchOptions
---@return dcs.FetchedFile[]? written nil when the job failed as a whole
---@return dcs.FailedFile[]|dcs.Error failed the files that failed, or the error
function Client:fetch_run_logs(instance_id, opts)
  local op = "fetch_run_logs"
  local o, err = fetch_options(op, opts)
  if not o then return nil, err end
  -- here, not in fetch_options: dcs-logs checks the options before it
  -- creates the directories; and before anything is sent, since the
  -- collection replaces the day's older log at the service
  local why = not_a_directory(o.dest)
  if why then return nil, errors.invalid(op, ("dest must be a directory (%s: %s)"):format(o.dest, why)) end
  local known
  known, err = known_ids(self, instance_id, o)
  if not known then return nil, err end
  local ok
  ok, err = self:collect_redislog(instance_id, { query_time = o.days, replication_id = o.replication_id,
    timeout = o.request_timeout })
  if not ok then return nil, err end
  local fresh
  fresh, err = wait_for_new(self, instance_id, o, known)
  if not fresh then return nil, err end
  if #fresh == 0 then
    return nil, errors.new { kind = "timeout", operation = op, message =
      ("no new log file appeared within %gs after collecting (Redis may have logged nothing)"):format(o.timeout) }
  end
  -- names first (in listing order, so they do not depend on timing), then
  -- the downloads, concurrently; a gateway 401 to a link request stops the
  -- rest (not a download's 401: gather.stop_on_401)
  local used, jobs = {}, {}
  for i, f in ipairs(fresh) do
    jobs[i] = { file = f, name = names.unique(names.from_server(f.file_name, "redis-" .. f.id .. ".log"), used) }
  end
  local results = gather.gather(jobs, function(job) return fetch_one(self, instance_id, job, o) end,
    { concurrency = o.concurrency })
  local written, failed = {}, {}
  for i, r in ipairs(results) do
    if r.ok then
      written[#written + 1] = r.value
    else
      failed[#failed + 1] = { id = fresh[i].id, file_name = fresh[i].file_name,
        path = o.dest .. "/" .. jobs[i].name, error = r.err }
    end
  end
  return written, failed
end

--- The options of fetch_run_logs checked as it checks them (dcs-logs
--- checks them once before fetching many instances).
---@param opts? dcs.FetchOptions
---@return table? options normalised
---@return dcs.Error? err
function M.check_fetch_options(opts) return fetch_options("fetch_run_logs", opts) end

--- Adds the methods of this module (and client:download) to the client class.
---@param class table dcs.client's Client
function M.install(class)
  class.each_redislog = Client.each_redislog
  class.download = download.download
  class.fetch_run_logs = Client.fetch_run_logs
end

return M
