--- client:download: a pre-signed link to a file, in one place.
--
-- The body streams into PATH.part, a file created with O_EXCL|O_NOFOLLOW
-- (dcs.core.open_file: no symlink or other user's file is ever written)
-- and locked while the download runs (a second download to PATH fails),
-- with its SHA-256 computed as it arrives.  PATH.part.meta (the sidecar)
-- holds the server's validator (ETag or Last-Modified) and the size, so a
-- download cut short, in this call or in an earlier run, resumes with
-- Range + If-Range only when the server proves the file unchanged; the
-- Content-Range of the answer must continue exactly where the file ends,
-- or the download starts over.  PATH is only ever written by the final
-- rename of a complete file.
-- @module dcs.download
local core = require "dcs.core"
local json = require "dcs.json"
local errors = require "dcs.errors"
local tasks = require "dcs.tasks"
local validate = require "dcs.validate"

local M = {}

M.DEFAULTS = {
  resume = true,        -- resume after a drop, and a partial file from an earlier run
  max_resumes = 5,      -- resumed requests per call (each must make progress)
  timeout = 3600,       -- seconds for the whole download, resumes included; false: none
  stall_timeout = 30,   -- seconds below min_speed before the transfer counts as stalled
  min_speed = 1024,     -- bytes per second
  max_bytes = 4 * 1024 ^ 3,   -- a larger file (or a body that never ends) is refused
  checksum = true,      -- SHA-256 (and MD5 for a Content-MD5) of the file, computed as it streams
}

local OPTION_TYPES = { progress = "function", resume = "boolean", max_resumes = "number",
  timeout = "number", stall_timeout = "number", min_speed = "number", max_bytes = "number",
  checksum = "boolean" }
M.OPTIONS = OPTION_TYPES      -- the options client:download takes (the docs are checked against it)

local function invalid(message) return nil, errors.invalid("download", message) end

-- A download link: an http(s) URL safe for the request line, and without
-- dot segments (libcurl would resolve them and fetch another path).
local function check_link(link)
  local _, why = validate.url(link)
  if why then return nil, "link " .. why end
  local path = link:match("^%a+://[^/?#]*(/[^?#]*)") or ""
  if ("/" .. path .. "/"):find("/%.%.?/") then return nil, "link must not contain '.' or '..' segments" end
  return link
end

--- The options, checked and completed with the defaults, or nil, err.
function M.options(link, path, opts)
  local _, why = check_link(link)
  if why then return invalid(why) end
  if type(path) ~= "string" or path == "" or path:sub(-1) == "/" or path:find("%z") then
    return invalid("path must be a file name (without NUL bytes)")
  end
  -- the finished file is renamed onto path: never onto a device, a FIFO or
  -- a directory (as root, `-o /dev/null` would replace the device node)
  local kind = core.file_type(path)
  if kind == "directory" or kind == "other" then
    return invalid(("path %s exists and is not a regular file (a device, a FIFO or a directory)"):format(path))
  end
  if opts ~= nil and type(opts) ~= "table" then return invalid("options must be a table") end
  local o = {}
  for k, v in pairs(opts or {}) do
    local want = OPTION_TYPES[k]
    if not want then return invalid(("unknown option '%s'"):format(tostring(k))) end
    if type(v) ~= want and not (k == "timeout" and v == false) then
      return invalid(("%s must be a %s"):format(k, want))
    end
    o[k] = v
  end
  for k, v in pairs(M.DEFAULTS) do if o[k] == nil then o[k] = v end end
  local checks = {
    max_resumes = function(v) return validate.integer(v, 0, 100) end,
    -- not `v == false or validate.seconds(v)`: `or` would keep one value, and lose why
    timeout = function(v) if v == false then return true end return validate.seconds(v) end,
    stall_timeout = function(v) return validate.seconds(v, 1) end,
    min_speed = function(v) return validate.integer(v, 1, 1e9) end,
    max_bytes = function(v) return validate.integer(v, 0, validate.MAX_INTEGER) end,
  }
  for k, check in pairs(checks) do
    local ok, bad = check(o[k])
    if not ok then return invalid(k .. " " .. tostring(bad)) end
  end
  return o
end

local function io_error(message, reason)
  return errors.new { kind = "io", operation = "download", reason = reason, message = message,
                      retryable = false }
end

-- ---- the sidecar ----

local MAX_VALIDATOR = 256

local function read_sidecar(path)
  local text = core.read_file(path, 4096)
  local ok, meta = pcall(json.decode, text or "")
  if not ok or type(meta) ~= "table" or type(meta.validator) ~= "string" or #meta.validator > MAX_VALIDATOR
    or not validate.text(meta.validator) then
    return nil
  end
  meta.total = validate.integer(meta.total, 1, validate.MAX_INTEGER)    -- an integer, as a fresh length is
  return meta.total and meta
end

local function write_sidecar(path, validator, total)
  os.remove(path)
  local f = core.open_file(path, "new")
  if not f then return end                   -- without a sidecar the next run starts over
  f:write(json.encode { validator = validator, total = total })
  f:close()
end

-- The partial files this Lua state holds locked, by path (weak values).
-- A download whose code can never run again (its light thread killed by
-- nginx when the request was aborted, a coroutine dropped mid-download)
-- holds its lock until the collector closes its file: a download that
-- finds the lock taken within this state collects first, then asks again.
local holders = setmetatable({}, { __mode = "v" })

-- A full collection, after dropping LuaJIT's compiled traces: a trace
-- recorded in a killed light thread can hold its objects (its file).
local function collect_dead_holders()
  if jit then jit.flush() end
  collectgarbage()
end

-- core.open_file, and the file's lock: a second download to the same path
-- is refused (in_use) before it truncates or writes the first one's file.
local function open_locked(path, mode, hashes)
  local f, why, code = core.open_file(path, mode, hashes)
  if f then
    local locked
    locked, why, code = f:lock()
    if not locked and code == "in_use" and holders[path] then
      collect_dead_holders()
      locked, why, code = f:lock()
    end
    if not locked then
      f:close()
      return nil, why, code
    end
    holders[path] = f
  end
  return f, why, code
end

-- The partial file to write into, and what the sidecar says of it, or nil, err.
-- An existing partial file is opened, which takes its lock, before
-- anything is truncated or removed: one that another download is writing
-- (in_use) is left alone, even with resume = false.  With resume = false
-- it is opened without digests (they would read it all) and held locked
-- until a new one has its name.
local function open_partial(path, o)
  local part, meta_path = path .. ".part", path .. ".part.meta"
  local hashes = { sha256 = o.checksum, md5 = o.checksum }
  local f, why, code = open_locked(part, "existing", o.resume and hashes or {})
  if f and o.resume then
    local meta = read_sidecar(meta_path)
    if meta and f:size() > 0 and f:size() < meta.total then return f, meta end
    f:truncate(0)
    os.remove(meta_path)
    return f, {}
  elseif code == "in_use" or (o.resume and code ~= "not_found") then
    return nil, io_error(why .. (code == "in_use" and "" or " (remove it to download again)"), code)
  end
  local old = f
  if code ~= "not_found" then os.remove(part) end    -- resume = false: whatever holds the name goes
  os.remove(meta_path)
  f, why, code = open_locked(part, "new", hashes)
  if old then old:close() end
  if not f then return nil, io_error(why, code) end
  return f, {}
end

-- ---- one request ----

-- A strong validator the server can be asked to prove with If-Range.
local function validator_of(headers)
  local etag = headers.etag
  if etag and etag:find('^"[^"]*"$') and #etag <= MAX_VALIDATOR then return etag end
  local modified = headers["last-modified"]
  if modified and #modified <= MAX_VALIDATOR and validate.text(modified) then return modified end
  return nil
end

-- Whether a 206 is of the version the partial file holds: parts combine
-- only under one strong validator (RFC 9110, 14.4), so an ETag or
-- Last-Modified the answer carries must be the one If-Range sent.
local function same_version(validator, headers)
  local theirs = validator and (validator:sub(1, 1) == '"' and headers.etag or headers["last-modified"])
  return theirs == nil or theirs == validator
end

-- Content-Range: bytes first-last/total
local function content_range(headers)
  local first, last, total = (headers["content-range"] or ""):match("^%s*bytes%s+(%d+)%-(%d+)/(%d+)%s*$")
  return tonumber(first), tonumber(last), tonumber(total)
end

-- Content-Length: its first item.  Repeated fields come joined ("N, N"),
-- and the transports refused any that are not all one number.
local function content_length(headers)
  return tonumber((headers["content-length"] or ""):match("^%s*(%d+)"))
end

-- Without a Content-MD5 to check, the MD5 is not worth its CPU: dropped
-- for the rest of this download (the SHA-256 stays).
local function keep_md5_if_checked(state)
  if state.options.checksum and not state.content_md5 and not state.md5_dropped then
    state.md5_dropped = state.file:drop_md5() or nil
  end
  return true
end

-- Decides what to do with a response's head (see the sink contract in
-- dcs.transport); `state` carries what the download knows so far.
local function head(state, status, headers)
  local file, o = state.file, state.options
  if status == 416 and state.offset > 0 then
    -- the partial file is longer than what the server has now: start over
    state.restart = "the server cannot continue the partial file (HTTP 416)"
    return nil, state.restart
  elseif status == 206 and state.offset > 0 then
    local first, last, total = content_range(headers)
    if first ~= state.offset or last ~= (total or 0) - 1 or total ~= state.total then
      state.restart = "the server's Content-Range does not continue the partial file"
      return nil, state.restart
    end
    if not same_version(state.validator, headers) then
      state.restart = "the server's 206 is of another version of the file than the partial file"
      return nil, state.restart
    end
    return keep_md5_if_checked(state)
  elseif status == 200 then
    local length = content_length(headers)
    if length and length > o.max_bytes then
      state.too_large = ("the file is %d bytes, more than max_bytes (%d)"):format(length, o.max_bytes)
      return nil, state.too_large
    end
    if state.offset > 0 then file:truncate(0) end    -- the whole file came back: start over
    state.offset, state.total, state.validator = 0, length, validator_of(headers)
    -- the whole file's MD5; a 206 continuing this validated file keeps it (a
    -- 206's own Content-MD5 would cover only the range sent, RFC 2616 14.15)
    state.content_md5 = headers["content-md5"]
    if o.resume and state.validator and length and length > 0 then
      write_sidecar(state.meta_path, state.validator, length)
    end
    return keep_md5_if_checked(state)
  elseif status >= 200 and status < 300 then
    -- once more from the start after a resume; from the start, it is an error
    local why = ("unexpected HTTP %d to a download"):format(status)
    if state.offset > 0 then state.restart = why end
    return nil, why
  end
  return false                                   -- an error: buffer its body
end

local function request_for(self, link, state, remaining)
  local o = state.options
  local headers = { ["User-Agent"] = self.user_agent, Accept = "*/*" }
  if state.offset > 0 then
    headers.Range = ("bytes=%d-"):format(state.offset)
    headers["If-Range"] = state.validator
  end
  return {
    method = "GET", url = link, headers = headers,
    timeout = remaining or false, stall_timeout = o.stall_timeout, min_speed = o.min_speed,
    sink = {
      file = state.file,
      head = function(status, h) return head(state, status, h) end,
      progress = function(bytes)
        local done = state.offset + bytes
        if done > o.max_bytes then
          state.too_large = ("more than max_bytes (%d) received"):format(o.max_bytes)
          return false
        end
        if o.progress then return o.progress(done, state.total) end
      end,
    },
  }
end

-- After a failed request: "again" (from state.offset) or nil.
local function next_step(state, failure, before)
  local o = state.options
  if state.too_large then return nil end
  if failure.kind == "aborted" and failure.reason == "refused" and state.restart then
    state.file:truncate(0)
    state.offset, state.validator, state.total, state.restart = 0, nil, nil, nil
    return "again"
  end
  -- a drop is resumed; a stall or a timeout is the server being too slow,
  -- and asking again would only repeat it
  if failure.kind ~= "network" then return nil end
  -- resume only what the server can prove unchanged, and only after progress:
  -- an attempt that got nothing (a refused connection, say) is not repeated
  local size = state.file:size()
  if not (o.resume and state.validator and state.total and size > before and size < state.total) then
    return nil
  end
  state.offset = size
  return "again"
end

-- The error for a failed download; `res` when the server answered an error.
local function download_error(self, state, res, failure)
  if res then return errors.from_response("download", res, nil, self:secret_values()) end
  if state.too_large then
    return errors.new { kind = "network", operation = "download", reason = "too_large",
      message = state.too_large, retryable = false }
  end
  local kinds = { cancelled = "cancelled", callback = "callback", write = "io", refused = "network" }
  local err = errors.from_transport("download", failure, self:secret_values())
  if failure.kind == "aborted" then err.kind, err.retryable = kinds[failure.reason] or "io", false end
  if state.total then
    err.message = err.message .. (" (%d of %d bytes received)"):format(state.file:size(), state.total)
  end
  return err
end

-- The transfer loop: true, resumes or nil, err.
local function transfer(self, transport, link, state)
  local o, resumes = state.options, 0
  local deadline = o.timeout and self.monotime() + o.timeout
  while true do
    local remaining = deadline and deadline - self.monotime()
    if remaining and remaining < validate.MIN_SECONDS then
      return nil, errors.new { kind = "timeout", operation = "download", message = "download timed out" }
    end
    local before = state.file:size()
    local res, failure = transport:request(request_for(self, link, state, remaining))
    if res and res.status >= 200 and res.status < 300 then return true, resumes end
    if res or next_step(state, failure, before) ~= "again" or resumes >= o.max_resumes then
      return nil, download_error(self, state, res, failure)
    end
    resumes = resumes + 1
  end
end

-- Keeps a partial file the next call can resume; removes any other, before
-- the close lets go of its lock (after it, the name may be another's).
local function abandon(state)
  local size = state.file:size()
  if not (state.options.resume and state.validator and state.total and size > 0 and size < state.total) then
    os.remove(state.part_path)
    os.remove(state.meta_path)
  end
  state.file:close()
end

--- The options of client:download.
---@class dcs.DownloadOptions
---@field progress? fun(done: integer, total: integer?): boolean? false (or a raise) cancels
---@field resume? boolean resume after a drop, and a partial file of an earlier run (default true)
---@field max_resumes? integer resumed requests per call, 0 to 100 (default 5)
---@field timeout? number|false seconds for the whole download (default 3600)
---@field stall_timeout? number seconds below min_speed before it counts as stalled (default 30)
---@field min_speed? integer bytes per second (default 1024)
---@field max_bytes? integer a larger file is refused (default 4 GiB)
---@field checksum? boolean SHA-256 (and MD5 for a Content-MD5) as it streams (default true)

--- A finished download.
---@class dcs.Downloaded
---@field path string
---@field bytes integer
---@field sha256? string
---@field resumes integer how many times it resumed

--- client:download(link, path[, opts]): streams a pre-signed link into
--- PATH.part, resuming after a drop when the server proves the file
--- unchanged, and renames it to PATH when complete.
---@param self dcs.Client
---@param link string the URL (client:create_redislog_download_link)
---@param path string where to save the file (its directory must exist)
---@param opts? dcs.DownloadOptions
---@return dcs.Downloaded? result
---@return dcs.Error? err
function M.download(self, link, path, opts)
  if self.closed then return nil, errors.closed("download") end
  local o, oerr = M.options(link, path, opts)
  if not o then return nil, oerr end
  local transport, terr = self:transport("download")
  if not transport then return nil, terr end
  local file, meta = open_partial(path, o)
  if not file then return nil, meta end
  local state = { file = file, options = o, offset = file:size(), validator = meta.validator,
    total = meta.total, part_path = path .. ".part", meta_path = path .. ".part.meta" }
  -- a task cancelled meanwhile never comes back here: its partial file
  -- goes as on any other failure
  local release = tasks.on_cancel(function() abandon(state) end)
  local ok, resumes = transfer(self, transport, link, state)
  release()
  if not ok then
    abandon(state)
    return nil, resumes
  end
  local size = file:size()
  if state.total and size ~= state.total then
    abandon(state)
    local short = size < state.total
    return nil, errors.new { kind = "network", operation = "download", reason = short and "short" or "long",
      message = (short and "incomplete download: %d of %d bytes" or "the server sent %d bytes of a %d-byte file")
        :format(size, state.total) }
  end
  if o.checksum and state.content_md5 and not state.md5_dropped and file:content_md5() ~= state.content_md5 then
    os.remove(state.part_path)
    os.remove(state.meta_path)
    file:close()
    return nil, errors.new { kind = "network", reason = "checksum", operation = "download",
      message = "Content-MD5 does not match: the file is corrupt" }
  end
  local sha256 = o.checksum and file:sha256() or nil
  -- renamed while this file still holds the lock: a download that opened
  -- the partial name since then waits on the lock, never truncates it
  os.remove(state.meta_path)
  local renamed, rerr = os.rename(state.part_path, path)
  if not renamed then
    abandon(state)
    return nil, io_error(tostring(rerr), "rename")
  end
  local closed, cerr = file:close()
  if not closed then
    os.remove(path)
    return nil, io_error(tostring(cerr), "close")
  end
  return { path = path, bytes = size, sha256 = sha256, resumes = resumes }
end

return M
