--- Which transport carries a call, and the clock and sleep that go with it.
--   "curl"    the C libcurl handle: blocking; plain Lua and host programs
--   "ngx"     nginx cosockets (dcs.transport.ngx): never blocks a worker
--   function  the user's own: function(req) -> status, headers, body | nil, err
--   nil       auto: "ngx" inside nginx, "curl" elsewhere
-- Inside nginx, phases without cosockets (init, init_worker, set, log,
-- header/body filters) get an error saying what to do, unless "curl" was
-- chosen on purpose.
local core = require "dcs.core"

local M = {}

local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
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

--- Sleep and clock that do not block nginx where they can.
function M.sleep(seconds)
  if M.cosockets() then return ngx.sleep(seconds) end
  return core.sleep(seconds)
end

function M.monotime()
  if M.in_nginx() then
    ngx.update_time()
    return ngx.now()
  end
  return core.monotime()
end

--- Wraps function(req) -> status, headers, body in the transport contract.
-- A download (req.file) is written from the whole body.
function M.from_function(fn)
  local t = {}
  function t.request(_, req)
    local ok, status, headers, body = pcall(fn, { method = req.method, url = req.url,
      headers = req.headers, body = req.body, timeout = req.timeout })
    if not ok or type(status) ~= "number" then
      local why = not ok and status or headers
      return nil, { kind = "network", reason = "transport", bytes = 0,
                    message = "transport function failed: " .. tostring(why or "no status") }
    end
    local res = { status = status, headers = {}, body = body or "", new_connections = 0, bytes = 0 }
    for k, v in pairs(headers or {}) do res.headers[tostring(k):lower()] = tostring(v) end
    if req.file and status >= 200 and status < 300 then
      local fp, err = io.open(req.file, "wb")
      if not fp then return nil, { kind = "io", reason = "open", bytes = 0, message = tostring(err) } end
      fp:write(res.body)
      fp:close()
      res.bytes, res.body, res.restarted = #res.body, "", req.file_mode == "ab"
      if req.progress then req.progress(res.bytes, res.bytes, status) end
    end
    return res
  end
  function t.close() return true end
  return t
end

--- The chooser a client keeps: chooser() -> transport | nil, message.
-- opts: the client's network options; mode: nil | "curl" | "ngx" | function.
function M.chooser(mode, opts)
  if type(mode) == "function" then
    local t = M.from_function(mode)
    return function() return t end, t
  end
  local curl
  local function get_curl()
    curl = curl or core.http(opts)
    return curl
  end
  local ngx_transport
  local function get_ngx()
    ngx_transport = ngx_transport or require("dcs.transport.ngx").new(opts)
    return ngx_transport
  end
  local chooser
  if mode == "curl" then
    chooser = get_curl
  elseif mode == "ngx" or (mode == nil and M.in_nginx()) then
    chooser = function()
      if M.cosockets() then return get_ngx() end
      if not M.in_nginx() then
        return nil, "transport \"ngx\" needs OpenResty/nginx (ngx.socket.tcp); this is plain Lua"
      end
      return nil, ("nginx cosockets are not available in the '%s' phase: call from a timer "
        .. "(ngx.timer.at(0, function() ... end)) or from a rewrite, access or content handler, "
        .. "or pass transport = \"curl\" to block this worker on purpose"):format(tostring(M.phase()))
    end
  else
    chooser = get_curl
  end
  local closer = { close = function() if curl then curl:close() end return true end }
  return chooser, closer
end

return M
