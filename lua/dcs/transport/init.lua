--- Transports: the one contract every way of sending a request follows,
-- and the one place that decides which transport carries a call.
--
--   "curl"    the C libcurl handle (dcs.core.http): blocking; plain Lua and hosts
--   "ngx"     nginx cosockets (dcs.transport.ngx): never blocks a worker
--   function  the user's own: function(req) -> status, headers, body | nil, err
--   nil       auto: "ngx" inside nginx, "curl" elsewhere
--
-- The contract.  transport:request(req) -> res | nil, failure
--
--   req = {
--     method = "GET",              upper-case letters
--     url = "https://host/path?q", printable ASCII, no user information
--     headers = { Name = "value" }, names are HTTP tokens, values have no control bytes
--     body = "" | nil,
--     timeout = seconds | false,   whole exchange; false: none; nil: the transport's default
--     stall_timeout = seconds,     fail when under min_speed bytes/s for this long
--     min_speed = bytes_per_second,
--     sink = nil | {               a body consumer, for downloads
--       file = <dcs.core.file>,    where a streamed body goes (see lua/dcs/runlogs.lua)
--       head = function(status, headers) -> true | false | nil, message
--                                  called once, before any body byte: true streams the
--                                  body into file, false buffers it like any other
--                                  body, nil refuses (the request fails, kind "aborted")
--       progress = function(bytes) -> false to cancel
--                                  integer bytes streamed so far by this request
--     },
--   }
--   res = { status, headers = { lower-case name = value }, body, new_connections, elapsed }
--         (body is "" when it went into a sink; a buffered body over the
--         transport's max_body fails: network, too_large; read res.headers
--         by name: the curl transport builds it on first read, and pairs
--         does not list it before)
--   failure = { kind, reason, message, status?, headers? }
--     kind "network"  reason dns | connect | tls | send | recv | bad_response | too_large | proxy | ...
--     kind "timeout"  reason timeout | stall
--     kind "aborted"  reason refused | cancelled | callback | write  (the sink stopped it)
--     kind "closed", kind "invalid_argument" (reason "reentrant": the wait
--       for the transfer raised, as when a host steps an engine from one
--       of its own callbacks; the transfer is cancelled)
--     status and headers are there when a response had started.
--
-- Every request is checked by dcs.validate.request here, before the
-- transport sees it, so no transport re-checks in its own way.
local core = require "dcs.core"
local tasks = require "dcs.tasks"
local validate = require "dcs.validate"

local M = {}

-- The largest body a client's built-in transports buffer: every API
-- answer (a listing page of 1000 files is about 300 KB) and a download's
-- error answer; downloads themselves stream into their file.  JSON
-- decodes to about 25 times its size in Lua memory, so this bounds what
-- a hostile server can make a call allocate.
M.MAX_BODY = 2 * 1024 * 1024

local COSOCKET_PHASES = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
  ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

function M.in_nginx()
  return type(ngx) == "table" and type(ngx.get_phase) == "function"
end

function M.phase()
  return M.in_nginx() and ngx.get_phase() or nil
end

function M.cosockets()
  return M.in_nginx() and COSOCKET_PHASES[ngx.get_phase()] == true
end

local function noop() end

--- Whether coroutines can be made here: nginx turns its coroutine API off
--- in the phases that cannot yield (set, log, init_worker, ...), where
--- coroutine.create raises.
---@return boolean
function M.coroutines()
  return not M.in_nginx() or (pcall(coroutine.create, noop))
end

--- Sleep and clock that block neither nginx nor the other tasks: ngx.sleep
--- inside nginx, a yield inside a task (dcs.tasks), else the C core's.
--- A client's `sleep` and `monotime`; a host with its own scheduler may
--- replace both on a client.
---@param seconds number
function M.sleep(seconds)
  if M.cosockets() then
    -- ngx.sleep counts whole milliseconds: under one it sleeps none, and
    -- nginx (without OpenResty's delayed-events patch) warns in its error
    -- log at every such call, each paced call of a fast rate_limit
    ngx.sleep(math.max(seconds, 0.001))
  else
    tasks.sleep(seconds)
  end
end

--- Inside nginx with cosockets, an ngx.semaphore to sleep on (its wait
--- ends early when posted, which ngx.sleep cannot); nil elsewhere, where
--- a task's sleep is ended through its loop (dcs.tasks).
---@return table? semaphore
function M.alarm()
  if M.cosockets() then return require("ngx.semaphore").new() end
  return nil
end

--- Seconds on a monotonic clock, inside nginx too: ngx.now() is the wall
--- clock, and a jump of it (NTP, a resumed VM) moved every deadline and pause.
---@return number
function M.monotime()
  return core.monotime()
end

-- Whether the running code can wait for another task or light thread
-- without blocking it: inside nginx with cosockets, or in a task of the
-- loop while no step is under way.
local function can_wait()
  return M.cosockets() or tasks.may_yield()
end

local unpack = table.unpack or unpack

local function pack(...) return { n = select("#", ...), ... } end

--- Runs fn() once for the callers that ask while a run is under way (a
--- credentials refresh, a project lookup asked by every task of a
--- fan-out at once): the first caller runs it; the others, when they can
--- wait without blocking it, get its results instead of sending the same
--- requests again.  slot is a table the callers share.  When the run is
--- abandoned (its task cancelled, fn raised) or outlasts max_wait seconds
--- (a light thread killed in nginx), one waiter runs fn again and the
--- others wait for that run: not every waiter at once.
---@param slot table
---@param max_wait number seconds
---@param fn function
---@return any ... what fn returned
function M.shared(slot, max_wait, fn)
  local f = slot.flight
  while f and f.owner ~= coroutine.running() and can_wait() do
    local deadline = M.monotime() + max_wait
    while not f.done and slot.flight == f and M.monotime() < deadline do M.sleep(0.01) end
    if f.done then return unpack(f.results, 1, f.results.n) end
    if slot.flight == f then break end      -- outlasted max_wait: this caller runs fn
    f = slot.flight                         -- another waiter took over, or none yet
  end
  f = { owner = coroutine.running() }
  slot.flight = f
  local release = tasks.on_cancel(function() if slot.flight == f then slot.flight = nil end end)
  local r = pack(pcall(fn))
  release()
  if slot.flight == f then slot.flight = nil end
  if not r[1] then error(r[2], 0) end
  f.results, f.done = pack(unpack(r, 2, r.n)), true
  return unpack(f.results, 1, f.results.n)
end

local function failure(kind, reason, message)
  return { kind = kind, reason = reason, message = message }
end

local PROGRESS_EVERY = 256 * 1024

-- A function's status as an integer (404.0 from a JSON bridge is 404), or
-- nil, failure: the three digits of a status line, as libcurl's are.
local function http_status(status)
  local code = validate.integer(status, 100, 999)
  if code then return code end
  return nil, failure("network", "transport", ("transport function returned status %s, not an HTTP status "
    .. "(an integer from 100 to 999)"):format(tostring(status)))
end

-- The sink's head, under pcall: true (stream), false (buffer) or nil, failure.
local function ask_head(sink, status, headers)
  local ok, take, why = pcall(sink.head, status, headers)
  if not ok then return nil, failure("aborted", "callback", "sink.head failed: " .. tostring(take)) end
  if take == true or take == false then return take end
  return nil, failure("aborted", "refused", tostring(why or "refused by the sink"))
end

-- write(chunk) -> true | nil, failure: the file, then progress every 256 KiB.
local function file_writer(sink)
  local streamed, reported = 0, 0
  local writer = {}
  function writer.write(chunk, final)
    if chunk ~= "" then
      local ok, err = sink.file:write(chunk)
      if not ok then return nil, failure("aborted", "write", "cannot write the body to the file: " .. tostring(err)) end
      streamed = streamed + #chunk
    end
    if not sink.progress or (not final and streamed - reported < PROGRESS_EVERY) then return true end
    reported = streamed
    local ok, go_on = pcall(sink.progress, streamed)
    if not ok then return nil, failure("aborted", "callback", "sink.progress failed: " .. tostring(go_on)) end
    if go_on == false then return nil, failure("aborted", "cancelled", "cancelled by the progress callback") end
    return true
  end
  return writer
end

local function lower_keys(headers)
  local out = {}
  if type(headers) == "table" then
    for k, v in pairs(headers) do out[tostring(k):lower()] = tostring(v) end
  end
  return out
end

--- Wraps a user's function in the contract.  Two forms:
--   function(req) -> status, headers, body          the body whole
--   function(req) -> status, headers                after streaming it: for a
--       download req.stream(status, headers) returns write(chunk) -> true |
--       nil, err (call it per chunk; stop on an error), or nil when the body
--       should come back whole after all (an error answer), or nil, err.
function M.from_function(fn)
  local t = {}
  function t.request(_, req)
    local state = {}
    local user_req = { method = req.method, url = req.url, headers = req.headers, body = req.body,
      timeout = req.timeout }
    if req.sink then
      user_req.stream = function(status, headers)
        if state.asked then error("req.stream may be called once", 2) end
        state.asked = true
        local code, f = http_status(status)
        if not code then state.failure = f return nil, f.message end
        local take
        take, f = ask_head(req.sink, code, lower_keys(headers))
        if take == nil then state.failure = f return nil, f.message end
        if not take then return nil end
        state.writer = file_writer(req.sink)
        return function(chunk)
          if state.failure then return nil, state.failure.message end
          local ok, werr = state.writer.write(tostring(chunk))
          if not ok then state.failure = werr return nil, werr.message end
          return true
        end
      end
    end
    local ok, status, headers, body = pcall(fn, user_req)
    if state.failure then return nil, state.failure end
    if not ok or type(status) ~= "number" then
      local why = not ok and status or headers
      return nil, failure("network", "transport", "transport function failed: " .. tostring(why or "no status"))
    end
    local serr
    status, serr = http_status(status)
    if not status then return nil, serr end
    if body ~= nil and type(body) ~= "string" then
      return nil, failure("network", "transport", "transport function returned a body that is not a string")
    end
    local res = { status = status, headers = lower_keys(headers), body = body or "", new_connections = 0 }
    if state.writer then
      local done, ferr = state.writer.write(res.body, true)
      if not done then return nil, ferr end
      res.body = ""
      return res
    end
    if not req.sink or state.asked then return res end
    -- the whole-body form: hand it to the sink as a streaming transport would
    local take, hf = ask_head(req.sink, res.status, res.headers)
    if take == nil then return nil, hf end
    if not take then return res end
    local done, ferr = file_writer(req.sink).write(res.body, true)
    if not done then return nil, ferr end
    res.body = ""
    return res
  end
  function t.close() return true end
  return t
end

-- The one validation in front of every transport.
local function checked(transport)
  return {
    request = function(_, req)
      local _, why = validate.request(req)
      if why then return nil, failure("invalid_argument", "request", why) end
      return transport:request(req)
    end,
    close = function() return transport:close() end,
  }
end

local function phase_error()
  if not M.in_nginx() then
    return "transport \"ngx\" needs OpenResty/nginx (ngx.socket.tcp); this is plain Lua"
  end
  return ("nginx cosockets are not available in the '%s' phase: call from a timer "
    .. "(ngx.timer.at(0, function() ... end)) or from a rewrite, access or content handler, "
    .. "or pass transport = \"curl\" to block this worker on purpose"):format(tostring(M.phase()))
end

local function new_transport(kind, opts)
  local o = { max_body = M.MAX_BODY }
  for k, v in pairs(opts) do o[k] = v end
  if kind == "ngx" then return require("dcs.transport.ngx").new(o) end
  return require("dcs.transport.curl").new(o)
end

--- The transports of one client.  mode: nil | "curl" | "ngx" | function;
-- opts: its network options.
--   selector:get() -> transport | nil, message   (made on first use, then kept)
--   selector:isolated(overrides) -> transport | nil, message
--       a new transport of the same kind with some options changed (the
--       metadata provider's: short timeouts, never a proxy); close it after use
--   selector:close()
function M.select(mode, opts)
  local selector, kept, raw = {}, {}, {}
  local function kind()
    if type(mode) == "function" then return "function" end
    if mode == "curl" or (mode == nil and not M.in_nginx()) then return "curl" end
    if M.cosockets() then return "ngx" end
    return nil, phase_error()
  end
  function selector.get()
    local k, why = kind()
    if not k then return nil, why end
    if not kept[k] then
      raw[k] = k == "function" and M.from_function(mode) or new_transport(k, opts)
      kept[k] = checked(raw[k])
    end
    return kept[k]
  end
  function selector.isolated(overrides)
    local k, why = kind()
    if not k then return nil, why end
    if k == "function" then return checked(M.from_function(mode)) end
    local o = {}
    for name, v in pairs(opts) do o[name] = v end
    for name, v in pairs(overrides) do o[name] = v end
    if k == "ngx" and o.proxy == "" then o.proxy = nil end
    return checked(new_transport(k, o))
  end
  function selector.close()
    for _, t in pairs(raw) do t:close() end
    return true
  end
  return selector
end

return M
