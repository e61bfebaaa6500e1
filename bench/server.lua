--- The server of the call benches (fanout.lua, hostloop.lua, throughput.lua):
-- Debian's nginx with the Lua module on two free loopback ports, answering
-- the DCS link call (POST /v2/{project}/instances/{id}/redislog/{log}/links,
-- any signature accepted) with {"id":..,"backup_id":..,"link":"https://x/y"}:
--   slow    after ngx.sleep(0.05), from Lua (fan-out, host loop)
--   static  at once, a static `return 200` (single-connection throughput)
-- One worker, access log off: nginx is not the bottleneck.  M.nginx starts
-- every bench's nginx (download.lua's static files too).
local core = require "dcs.core"

local M = {}

M.DELAY = 0.05

local DIR = os.getenv("PWD") .. "/build/bench/calls"

-- What every bench nginx has: the prefix's paths, one worker, no access
-- log; the modules loaded and the http block's contents vary.
local CONF = [[
%s
%s
worker_processes 1;
worker_rlimit_nofile 8192;
error_log %s/error.log warn;
pid %s/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %s/tmp;
  proxy_temp_path %s/tmp;
  fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp;
  scgi_temp_path %s/tmp;
%s
}
]]

local LUA_MODULES = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;]]

-- The call benches' two servers (see the top of this file).
local CALLS = [[
  default_type application/json;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
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
  }]]

--- A free TCP port on 127.0.0.1.
function M.free_port()
  local p = io.popen("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); "
    .. "print(s.getsockname()[1])'")
  local port = p:read("*l")
  p:close()
  return assert(tonumber(port), "no free port")
end

--- Starts Debian's nginx with prefix `dir` and the `http` block's
-- contents (`lua`: load the Lua module), then asks `probe(url_of_port)`
-- for each port until all answer -> a stop function; raises when nginx
-- does not come up.
local running = {}              -- the stop functions of the nginx still up

function M.nginx(dir, http, ports, probe, lua)
  os.execute("mkdir -p " .. dir .. "/tmp")
  local root = io.popen("id -u"):read("*l") == "0" and "user root;" or ""
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(CONF:format(lua and LUA_MODULES or "", root, dir, dir, dir, dir, dir, dir, dir, http))
  f:close()
  local proc = io.popen(("exec nginx -p %s -c %s/nginx.conf -g 'daemon off;' 2>>%s/stderr.log")
    :format(dir, dir, dir))
  local function stop()
    if not running[stop] then return end
    running[stop] = nil
    local pf = io.open(dir .. "/nginx.pid")
    local pid = pf and pf:read("*l")
    if pf then pf:close() end
    if pid then os.execute("kill -QUIT " .. pid) end
    proc:close()
  end
  running[stop] = true
  local http_client = core.http { timeout = 5, proxy = "" }
  for _, port in ipairs(ports) do
    local up = false
    for _ = 1, 100 do
      up = probe(http_client, "http://127.0.0.1:" .. port)
      if up then break end
      core.sleep(0.05)
    end
    if not up then
      http_client:close()
      stop()
      error("nginx did not start; see " .. dir .. "/stderr.log and error.log")
    end
  end
  http_client:close()
  return stop
end

local function answers_links(http, url)
  local res = http:request { method = "POST", url = url .. "/v2/p/instances/i/redislog/l/links", body = "" }
  return res and res.status == 200
end

--- Starts the call benches' nginx: { slow = url, static = url, stop = function }.
function M.start()
  local slow_port, static_port = M.free_port(), M.free_port()
  local stop = M.nginx(DIR, CALLS:format(slow_port, M.DELAY, static_port), { slow_port, static_port },
    answers_links, true)
  return { slow = "http://127.0.0.1:" .. slow_port, static = "http://127.0.0.1:" .. static_port, stop = stop }
end

--- Runs a bench's main function; whatever happens, stops the nginx it
-- started (else the interpreter, closing nginx's pipe at exit, would wait
-- for it forever), then exits 1 on an error.
function M.run(main)
  local ok, err = xpcall(main, debug.traceback)
  for stop in pairs(running) do stop() end
  if not ok then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
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
