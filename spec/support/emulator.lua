--- Starts tools/dcs-emulator on a free loopback port for a spec file and
-- talks to its admin API (/_emulator/...) through the real libcurl transport.
local core = require "dcs.core"
local cjson = require "cjson"

local M = {
  AK = "EXAMPLEAK0000000000A",
  SK = "exampleSK00000000000000000000000000000000",
  PROJECT = "0123456789abcdef0123456789abcdef",
  INSTANCE = "5560df16-cebf-4473-95c4-d1b573c16e79",          -- single node, 3 ready logs
  LOG_ID = "3ea6ce21-048e-447a-83c3-3fb004b88439",
  MS_INSTANCE = "7d3c0f5e-1b2a-4c3d-9e8f-0a1b2c3d4e5f",       -- master/standby, no logs
  REPLICATION = "b1c2d3e4-0000-4000-8000-000000000001",
  EMPTY_INSTANCE = "00000000-0000-4000-8000-0000000000e0",   -- single node, no logs
}

local Emulator = {}
Emulator.__index = Emulator

-- Starts a tools/ server that prints "... listening on URL pid=PID".
local function launch(tool, extra_args)
  os.execute("mkdir -p build")
  -- env -u: the sanitizer stage preloads ASan into Lua; not into Python.
  local cmd = "exec env -u LD_PRELOAD python3 tools/" .. tool .. " --port 0 --exit-with-parent --quiet "
    .. (extra_args or "") .. " 2>>build/" .. tool .. ".log"
  local proc = assert(io.popen(cmd, "r"))
  local line = proc:read("*l") or ""
  local url, pid = line:match("listening on (https?://%S+) pid=(%d+)")
  assert(url, tool .. " did not start: " .. line .. " (see build/" .. tool .. ".log)")
  return url, pid, proc
end

--- M.start("--collect-delay 0.2") -> emulator
function M.start(extra_args)
  local url, pid, proc = launch("dcs-emulator", extra_args)
  -- the admin API is reached over plain HTTP or, with --tls-cert, HTTPS
  local http = core.http { timeout = 10, insecure = url:find("^https") ~= nil }
  return setmetatable({ url = url, pid = pid, proc = proc, http = http }, Emulator)
end

--- M.start_proxy("--auth user:pass") -> proxy (tools/http-proxy), with :log() and :stop()
--- Link jobs for dcs.gather: n of { instance, log } on the emulator's
-- instance, every bad_every-th with a log id it does not know.
function M.link_jobs(n, bad_every)
  local list = {}
  for i = 1, n do
    list[i] = { instance = M.INSTANCE, log = (bad_every and i % bad_every == 0) and ("missing-" .. i) or M.LOG_ID }
  end
  return list
end

function M.start_proxy(extra_args)
  local url, pid, proc = launch("http-proxy", extra_args)
  return setmetatable({ url = url, pid = pid, proc = proc, http = core.http { timeout = 10, proxy = "" } },
    Emulator)
end

function Emulator:log()
  return self:admin("GET", "/_proxy/log").requests
end

function Emulator:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.proc:close()
    self.http:close()
    self.pid = nil
  end
end

--- Admin call: emu:admin("POST", "/_emulator/faults", { ... }) -> decoded body, status
function Emulator:admin(method, path, body)
  local res, failure = self.http:request {
    method = method, url = self.url .. path,
    headers = body and { ["Content-Type"] = "application/json" } or nil,
    body = body and cjson.encode(body) or nil,
  }
  assert(res, failure and failure.message)
  local decoded = res.body ~= "" and cjson.decode(res.body) or nil
  return decoded, res.status
end

function Emulator:reset() return self:admin("POST", "/_emulator/reset") end
function Emulator:fault(spec) return self:admin("POST", "/_emulator/faults", spec) end
function Emulator:config(cfg) return self:admin("POST", "/_emulator/config", cfg) end

-- The next request whose path has `part` answers `status` with
-- Retry-After: 5 (a 429's pause, or a 503's back-off of exactly that).
function Emulator:later(part, status)
  return self:fault { match = { path_contains = part }, times = 1, action = { respond = { status = status,
    headers = { ["Retry-After"] = "5" }, json = { error_code = "APIGW.0308", error_msg = "later" } } } }
end
function Emulator:requests()
  return self:admin("GET", "/_emulator/requests").requests
end
function Emulator:last_request()
  local all = self:requests()
  return all[#all]
end

-- Hostile server (tools/hostile-server): misbehaves on demand, see
-- tools/hostile_server/__init__.py for its control API under /_hostile/.
local Hostile = { admin = Emulator.admin, stop = Emulator.stop }
Hostile.__index = Hostile

--- M.start_hostile("--tls-cert F --tls-key F") -> hostile server
function M.start_hostile(extra_args)
  local url, pid, proc = launch("hostile-server", extra_args)
  local http = core.http { timeout = 10, proxy = "", insecure = url:find("^https") ~= nil }
  return setmetatable({ url = url, pid = pid, proc = proc, http = http }, Hostile)
end

-- A control call that must succeed: its decoded answer.
function Hostile:call(method, path, body)
  local res, status = self:admin(method, path, body)
  assert(status == 200, ("%s %s -> %s %s"):format(method, path, tostring(status),
    res and tostring(res.error) or ""))
  return res
end

--- hs:reset() or hs:reset{ close_connections = true } (also ends clients' kept-alive connections)
function Hostile:reset(opts) return self:call("POST", "/_hostile/reset", opts) end
--- hs:script{ match = {...}, times = n, steps = {...} } -> script id
function Hostile:script(spec) return self:call("POST", "/_hostile/script", spec).id end
--- hs:file{ path =, size =, ... } -> { path, size, seed, requests, sha256 }
function Hostile:file(spec) return self:call("POST", "/_hostile/file", spec) end
function Hostile:stats() return self:call("GET", "/_hostile/stats") end
function Hostile:clear_log() return self:call("DELETE", "/_hostile/log") end
--- hs:listener("silent" | "close" | "tls_silent") -> its URL
function Hostile:listener(kind) return self:call("POST", "/_hostile/listener", { kind = kind }).url end
function Hostile:file_sha256(path)
  local q = path:gsub("[^%w%-%._~/]", function(c) return ("%%%02X"):format(c:byte()) end)
  return self:call("GET", "/_hostile/file-sha256?path=" .. q)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_VALUE = {}
for i = 1, #B64 do B64_VALUE[B64:byte(i)] = i - 1 end

--- Decodes standard base64 (padding optional).
function M.b64decode(s)
  s = s:gsub("[^%w%+/]", "")
  local out = {}
  for i = 1, #s, 4 do
    local n, k = 0, 0
    for j = i, math.min(i + 3, #s) do
      n, k = n * 64 + B64_VALUE[s:byte(j)], k + 1
    end
    for _ = k + 1, 4 do n = n * 64 end
    local bytes = string.char(math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    out[#out + 1] = bytes:sub(1, k - 1)
  end
  return table.concat(out)
end

-- Log entries also have .raw and .body (decoded on first use) and
-- :header(name) -> the first value of that header (case-insensitive).
local Entry = {}
function Entry.__index(e, k)
  if k == "raw" or k == "body" then
    local v = M.b64decode(rawget(e, k .. "_b64"))
    rawset(e, k, v)
    return v
  end
  return Entry[k]
end
function Entry:header(name)
  for _, h in ipairs(self.headers) do
    if h[1]:lower() == name:lower() and type(h[2]) == "string" then return h[2] end
  end
end

--- hs:log() -> { entry, ... }: every non-control request received, in order
function Hostile:log()
  local all = self:call("GET", "/_hostile/log").requests
  for _, e in ipairs(all) do setmetatable(e, Entry) end
  return all
end

-- A raw TCP client (python3): sends bytes, reads until EOF, RST or `wait` seconds of silence.
local RAW_CLIENT = [[
import socket, sys
host, port, path, wait, half = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
data, out, end = open(path, "rb").read(), b"", "timeout"
s = socket.create_connection((host, port), timeout=wait)
try:
    s.sendall(data)
    if half == "1":
        s.shutdown(socket.SHUT_WR)
    while True:
        d = s.recv(65536)
        if not d:
            end = "eof"
            break
        out += d
except socket.timeout:
    pass
except ConnectionResetError:
    end = "reset"
sys.stdout.write(end + " " + out.hex() + "\n")
]]
local raw_client_path

--- M.raw_start(url, data, { wait = seconds, half_close = bool }) -> handle; handle:wait()
-- -> received bytes, "eof" | "reset" | "timeout". The client runs while the spec goes on.
function M.raw_start(url, data, opts)
  opts = opts or {}
  if not raw_client_path then
    raw_client_path = os.tmpname()
    local f = assert(io.open(raw_client_path, "w"))
    f:write(RAW_CLIENT)
    f:close()
  end
  local host, port = url:match("^%a+://([^:/]+):(%d+)")
  local data_path = os.tmpname()
  local f = assert(io.open(data_path, "wb"))
  f:write(data)
  f:close()
  local proc = assert(io.popen(("exec env -u LD_PRELOAD python3 %s %s %s %s %s %s"):format(
    raw_client_path, host, port, data_path, tostring(opts.wait or 1), opts.half_close and "1" or "0")))
  return {
    wait = function()
      local line = proc:read("*l") or ""
      proc:close()
      os.remove(data_path)
      local how, hex = line:match("^(%a+) (%x*)$")
      assert(how, "raw client failed: " .. line)
      return (hex:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)), how
    end,
  }
end

--- M.raw(url, data, opts) -> received bytes, how the connection ended
function M.raw(url, data, opts) return M.raw_start(url, data, opts).wait() end

--- hs:raw(data, opts): M.raw to this server's main listener
function Hostile:raw(data, opts) return M.raw(self.url, data, opts) end

--- A client for this emulator; opts override the defaults.
function Emulator:client(opts)
  local o = { ak = M.AK, sk = M.SK, project = M.PROJECT, endpoint = self.url }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("dcs").client(o)
end

--- An emulator (started with extra_args) and a client of it for a describe
--- block's tests: { start, stop, reset } for its lazy_setup, lazy_teardown
--- and before_each (busted's functions are the spec's, not this module's);
--- set(emu, client) gets them once started.
function M.fixture(extra_args, set)
  local emu, client
  return {
    start = function()
      emu = M.start(extra_args)
      client = emu:client()
      set(emu, client)
    end,
    stop = function()
      client:close()
      emu:stop()
    end,
    reset = function() emu:reset() end,
  }
end

return M
