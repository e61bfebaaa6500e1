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
function Emulator:requests()
  return self:admin("GET", "/_emulator/requests").requests
end
function Emulator:last_request()
  local all = self:requests()
  return all[#all]
end

--- A client for this emulator; opts override the defaults.
function Emulator:client(opts)
  local o = { ak = M.AK, sk = M.SK, project = M.PROJECT, endpoint = self.url }
  for k, v in pairs(opts or {}) do o[k] = v end
  return require("dcs").client(o)
end

return M
