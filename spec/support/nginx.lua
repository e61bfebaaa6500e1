--- Starts Debian's nginx with libnginx-mod-http-lua on a free loopback port,
-- with a generated nginx.conf, for the OpenResty specs.  The Lua side loads
-- build/luajit/dcs/core.so (nginx embeds LuaJIT).
local core = require "dcs.core"
local sub = require "support.subprocess"

local M = {}

local Nginx = {}
Nginx.__index = Nginx

local function free_port()
  local p = io.popen("env -u LD_PRELOAD python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); "
    .. "print(s.getsockname()[1])'")
  local port = p:read("*l")
  p:close()
  return assert(tonumber(port), "no free port")
end

--- A free loopback port (for a server block of one's own in spec.http).
M.free_port = free_port

--- Whether Debian's nginx and its Lua module are installed.
function M.available()
  local f = io.open("/usr/lib/nginx/modules/ngx_http_lua_module.so")
  if not f then return false end
  f:close()
  local status = os.execute("command -v nginx >/dev/null 2>&1")
  return status == true or status == 0      -- Lua 5.4 / 5.3, LuaJIT
end

local TEMPLATE = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
%s
worker_processes 1;
error_log %s/error.log info;
pid %s/nginx.pid;
%s
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;;";
  lua_package_cpath "%s/build/luajit/?.so;;";
%s
  server {
    listen 127.0.0.1:%d;
%s
  }
}
]]

local function scratch_dir(sub_dir)
  local dir = sub.ROOT .. "/build/nginx-" .. tostring(os.time()) .. "-" .. math.random(1, 1e6)
  os.execute("mkdir -p " .. dir .. "/" .. sub_dir)
  return dir
end

local IS_ROOT = io.popen("id -u"):read("*l") == "0"

-- Writes conf into dir and starts nginx in the foreground with env (and
-- the shared library `preload` preloaded, if given).
local function launch(dir, port, conf, env, pid_file, preload)
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  local vars = {}
  for name, value in pairs(env or {}) do vars[#vars + 1] = name .. "=" .. sub.quote(value) end
  if preload then vars[#vars + 1] = "LD_PRELOAD=" .. sub.quote(preload) end
  local cmd = ("exec env -u LD_PRELOAD %s nginx -p %s -c %s/nginx.conf -g 'daemon off;' 2>>%s/stderr.log")
    :format(table.concat(vars, " "), dir, dir, dir)
  local self = setmetatable({ dir = dir, port = port, url = "http://127.0.0.1:" .. port,
    proc = io.popen(cmd), http = core.http { timeout = 30, proxy = "" }, pid_file = pid_file }, Nginx)
  return self:wait()
end

--- M.start{ env = {NAME = value}, http = "directives", server = "locations",
--   preload = "path/to/lib.so" (LD_PRELOAD for nginx; the environment
--   variables in env that the library reads at load time get to it) }
function M.start(spec)
  local dir, port = scratch_dir("tmp"), free_port()
  local env_lines = {}
  for name in pairs(spec.env or {}) do env_lines[#env_lines + 1] = "env " .. name .. ";" end
  local conf = TEMPLATE:format(IS_ROOT and "user root;" or "", dir, dir, table.concat(env_lines, "\n"),
    dir, dir, dir, dir, dir, sub.ROOT, sub.ROOT, sub.ROOT, spec.http or "", port, spec.server or "")
  return launch(dir, port, conf, spec.env, dir .. "/nginx.pid", spec.preload)
end

--- Runs a whole nginx.conf of ours (examples/openresty/nginx.conf) on a
-- free port: its listen line, $prefix and logs/ are pointed at a scratch
-- prefix and this checkout.
function M.start_conf(path, env)
  local f = assert(io.open(path))
  local conf = f:read("*a")
  f:close()
  local dir, port = scratch_dir("logs"), free_port()
  local n
  conf, n = conf:gsub("listen 127%.0%.0%.1:%d+;", "listen 127.0.0.1:" .. port .. ";")
  assert(n == 1, "no listen line")
  conf = conf:gsub("%$prefix/%.%./%.%./", sub.ROOT .. "/")
  if IS_ROOT then conf = "user root;\n" .. conf end
  return launch(dir, port, conf, env, dir .. "/logs/nginx.pid")
end

function Nginx:wait()
  for _ = 1, 100 do
    if self.http:request { url = self.url .. "/__nothing__" } then return self end
    core.sleep(0.05)
  end
  local log = io.open(self.dir .. "/stderr.log")
  error("nginx did not start: " .. (log and log:read("*a") or "?"))
end

function Nginx:get(path, timeout)
  return self.http:request { url = self.url .. path, timeout = timeout }
end

function Nginx:error_log()
  local f = io.open(self.dir .. "/error.log")
  local text = f and f:read("*a") or ""
  if f then f:close() end
  return text
end

function Nginx:stop()
  if self.proc then
    local f = io.open(self.pid_file)
    local pid = f and f:read("*l")
    if f then f:close() end
    if pid then os.execute("kill -QUIT " .. pid .. " 2>/dev/null") end
    self.proc:close()
    self.http:close()
    self.proc = nil
    os.execute("rm -rf " .. self.dir)
  end
end

return M
