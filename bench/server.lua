--- The server of the call benches (fanout.lua, hostloop.lua, throughput.lua):
-- Debian's nginx with the Lua module on two free loopback ports, answering
-- the DCS link call (POST /v2/{project}/instances/{id}/redislog/{log}/links,
-- any signature accepted) with {"id":..,"backup_id":..,"link":"https://x/y"}:
--   slow    after ngx.sleep(0.05), from Lua (fan-out, host loop)
--   static  at once, a static `return 200` (single-connection throughput)
-- One worker, access log off: nginx is not the bottleneck.
local core = require "dcs.core"

local M = {}

M.DELAY = 0.05

local DIR = os.getenv("PWD") .. "/build/bench/calls"

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
%s
worker_processes 1;
worker_rlimit_nofile 8192;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
  server {
    listen 127.0.0.1:%d;
    location ~ ^/v2/[^/]+/instances/([^/]+)/redislog/([^/]+)/links$ {
      content_by_lua_block {
        ngx.sleep(%g)
        ngx.print('{"id":"', ngx.var[2], '","backup_id":"', ngx.var[1], '","link":"https://x/y"}')
      }
    }
  }
  server {
    listen 127.0.0.1:%d;
    location ~ ^/v2/[^/]+/instances/[^/]+/redislog/[^/]+/links$ {
      return 200 '{"id":"3ea6ce21-048e-447a-83c3-3fb004b88439","backup_id":"b","link":"https://x/y"}';
    }
  }
}
]]

--- A free TCP port on 127.0.0.1.
function M.free_port()
  local p = io.popen("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); "
    .. "print(s.getsockname()[1])'")
  local port = p:read("*l")
  p:close()
  return assert(tonumber(port), "no free port")
end

local function up(url)
  local http = core.http { timeout = 5, proxy = "" }
  for _ = 1, 100 do
    local res = http:request { method = "POST", url = url .. "/v2/p/instances/i/redislog/l/links", body = "" }
    if res and res.status == 200 then
      http:close()
      return true
    end
    core.sleep(0.05)
  end
  http:close()
  return false
end

--- Starts nginx: { slow = url, static = url, stop = function }.
function M.start()
  os.execute("mkdir -p " .. DIR .. "/tmp")
  local slow_port, static_port = M.free_port(), M.free_port()
  local root = io.popen("id -u"):read("*l") == "0" and "user root;" or ""
  local f = assert(io.open(DIR .. "/nginx.conf", "w"))
  f:write(CONF:format(root, DIR, DIR, DIR, DIR, DIR, DIR, DIR, slow_port, M.DELAY, static_port))
  f:close()
  local proc = io.popen(("exec nginx -p %s -c %s/nginx.conf -g 'daemon off;' 2>>%s/stderr.log")
    :format(DIR, DIR, DIR))
  local s = { slow = "http://127.0.0.1:" .. slow_port, static = "http://127.0.0.1:" .. static_port }
  function s.stop()
    local pf = io.open(DIR .. "/nginx.pid")
    local pid = pf and pf:read("*l")
    if pf then pf:close() end
    if pid then os.execute("kill -QUIT " .. pid) end
    proc:close()
  end
  if not (up(s.slow) and up(s.static)) then
    s.stop()
    error("nginx did not start; see " .. DIR .. "/stderr.log and error.log")
  end
  return s
end

--- A client of the benches: any signature is accepted.
function M.client(dcs, url)
  return dcs.client { ak = "BENCHAK0000000000000", sk = "exampleSK00000000000000000000000000000000",
    project = "0123456789abcdef0123456789abcdef", endpoint = url, proxy = "", retries = false }
end

--- n distinct instance ids.
function M.ids(n)
  local ids = {}
  for i = 1, n do ids[i] = ("5560df16-cebf-4473-95c4-%012d"):format(i) end
  return ids
end

M.LOG = "3ea6ce21-048e-447a-83c3-3fb004b88439"

function M.median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s[math.ceil(#s / 2)]
end

function M.loadavg()
  local f = io.open("/proc/loadavg")
  local text = f and f:read("*l") or "?"
  if f then f:close() end
  return text:match("^(%S+ %S+ %S+)") or text
end

--- Appends "key<TAB>value" lines to build/bench/summary.tsv, which
-- bench/table.lua prints at the end of make bench.
function M.record(rows)
  os.execute("mkdir -p " .. os.getenv("PWD") .. "/build/bench")
  local f = assert(io.open(os.getenv("PWD") .. "/build/bench/summary.tsv", "a"))
  for _, row in ipairs(rows) do f:write(row[1], "\t", row[2], "\n") end
  f:close()
end

return M
