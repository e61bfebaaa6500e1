-- The SDK inside Debian's nginx (LuaJIT, lua-nginx-module): cosockets in
-- content, access and timer phases, a clear error in init, and a worker
-- that stays free while a call waits.
local core = require "dcs.core"
local E = require "support.emulator"
local N = require "support.nginx"

local HTTP = [[
  init_by_lua_block {
    local dcs = require "dcs"
    local client = dcs.client { endpoint = os.getenv("DCS_ENDPOINT"), retries = false }
    local res, err = client:create_redislog_download_link("%s", "%s")
    INIT_RESULT = res and "unexpected success" or (err.kind .. ": " .. err.message)
    client:close()
  }
  init_worker_by_lua_block {
    ngx.timer.at(0, function(premature)
      if premature then return end
      local dcs = require "dcs"
      local client = dcs.client { endpoint = os.getenv("DCS_ENDPOINT") }
      local res, err = client:create_redislog_download_link("%s", "%s")
      TIMER_RESULT = res and ("link " .. res.link) or tostring(err)
      client:close()
    end)
  }
]]

local SERVER = [[
    location = /link {
      content_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { endpoint = ngx.var.arg_endpoint or os.getenv("DCS_ENDPOINT"),
          transport = ngx.var.arg_transport, retries = { max = 2, base = 0.05 },
          proxy = ngx.var.arg_proxy and ngx.unescape_uri(ngx.var.arg_proxy) }
        local res, err = client:create_redislog_download_link(ngx.var.arg_instance, ngx.var.arg_log)
        client:close()
        if not res then
          ngx.status = 502
          return ngx.say(tostring(err))
        end
        ngx.say(res.link)
      }
    }
    location = /fast {
      content_by_lua_block { ngx.say("fast") }
    }
    location = /init {
      content_by_lua_block { ngx.say(INIT_RESULT) }
    }
    location = /timer {
      content_by_lua_block { ngx.say(TIMER_RESULT or "pending") }
    }
    location = /protected {
      access_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { endpoint = os.getenv("DCS_ENDPOINT") }
        local list, err = client:list_redislogs(ngx.var.arg_instance)
        client:close()
        if not list then
          ngx.log(ngx.ERR, tostring(err))
          return ngx.exit(503)
        end
        if list.total_num == 0 then return ngx.exit(404) end
        ngx.req.set_header("X-Run-Logs", list.total_num)
      }
      content_by_lua_block { ngx.say("run logs: ", ngx.req.get_headers()["X-Run-Logs"]) }
    }
    location = /fetch {
      content_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { endpoint = os.getenv("DCS_ENDPOINT") }
        local written, failed = client:fetch_run_logs(ngx.var.arg_instance, { days = 3,
          dest = ngx.var.arg_dest, poll_interval = 0.1 })
        client:close()
        if not written then return ngx.say("error ", tostring(failed)) end
        for _, w in ipairs(written) do ngx.say(w.path, " ", w.bytes, " ", w.sha256) end
        ngx.say("failed ", #failed)
      }
    }
]]

describe("inside nginx", function()
  if not N.available() then
    it("needs nginx-light and libnginx-mod-http-lua", function() pending("nginx is not installed") end)
    return
  end

  local emu, tls, untrusted, nginx, certs, proxy
  lazy_setup(function()
    assert(os.execute("make -s LUA=luajit >/dev/null"))
    certs = require("support.files").tmpdir()
    for _, name in ipairs { "trusted", "other" } do
      assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
        .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s/%s.key -out %s/%s.pem 2>/dev/null")
        :format(certs, name, certs, name)))
    end
    emu = E.start("--collect-delay 0.2")
    tls = E.start(("--tls-cert %s/trusted.pem --tls-key %s/trusted.key"):format(certs, certs))
    untrusted = E.start(("--tls-cert %s/other.pem --tls-key %s/other.key"):format(certs, certs))
    proxy = E.start_proxy("--auth ops:s3cr3t")
    nginx = N.start {
      env = { DCS_ENDPOINT = emu.url, HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = E.SK,
              HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT },
      http = HTTP:format(E.INSTANCE, E.LOG_ID, E.INSTANCE, E.LOG_ID)
        .. ("  lua_ssl_trusted_certificate %s/trusted.pem;\n  lua_ssl_verify_depth 2;\n"):format(certs),
      server = SERVER,
    }
  end)
  lazy_teardown(function()
    if nginx then nginx:stop() end
    for _, e in ipairs { emu, tls, untrusted, proxy } do e:stop() end
    os.execute("rm -rf " .. certs)
  end)
  before_each(function() emu:reset() end)

  local function link_path(extra)
    return ("/link?instance=%s&log=%s%s"):format(E.INSTANCE, E.LOG_ID, extra or "")
  end

  it("gets a download link from content_by_lua, through cosockets", function()
    local res = assert(nginx:get(link_path()))
    assert.are.equal(200, res.status, res.body)
    assert.matches("^" .. emu.url:gsub("%p", "%%%0") .. "/_obs/", res.body)
    local r = emu:last_request()
    assert.matches("^lua%-dcs/[%d.]+ %(LuaJIT", r.headers["User-Agent"])
    assert.matches("SignedHeaders=content%-type;host;x%-project%-id;x%-sdk%-date", r.headers.Authorization)
  end)

  it("reaches an IPv6 endpoint, with the Host header it signed", function()
    local v6 = E.start("--host ::1")
    local res = assert(nginx:get(link_path("&endpoint=" .. v6.url)))
    local r = v6:last_request()
    v6:stop()
    assert.are.equal(200, res.status, res.body)
    assert.matches("^http://%[::1%]:%d+/_obs/", res.body)
    assert.are.equal(v6.url:match("//(.*)$"), r.headers.Host)
  end)

  it("speaks TLS, verifying the server against lua_ssl_trusted_certificate", function()
    local res = assert(nginx:get(link_path("&endpoint=" .. tls.url)))
    assert.are.equal(200, res.status, res.body)
    assert.matches("^https://127%.0%.0%.1:%d+/_obs/", res.body)
    res = assert(nginx:get(link_path("&endpoint=" .. untrusted.url)))
    assert.are.equal(502, res.status)
    assert.matches("network error %(tls%): TLS handshake with 127%.0%.0%.1:%d+: .*self%-signed certificate",
      res.body)
    assert.are.equal(0, #untrusted:requests())
  end)

  -- The interleaving behind the test above's rare 500: each of the server's
  -- flights is already buffered when OpenSSL next reads (the server thread,
  -- woken on the worker's CPU, answers before the worker's next syscall), so
  -- the handshake completes within sslhandshake's first call; Debian's
  -- lua-nginx-module then loses the verification failure and resty.core's
  -- sslhandshake dies on an assertion.  spec/support/hold_tls_flights.c
  -- makes every handshake of this nginx go that way.
  it("speaks TLS when the handshake completes without waiting for the server", function()
    local shim, held = certs .. "/hold_tls_flights.so", certs .. "/held.log"
    assert(os.execute(("env -u LD_PRELOAD cc -shared -fPIC -o %s spec/support/hold_tls_flights.c -ldl"):format(shim)))
    local eager = N.start {
      env = { HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = E.SK, HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT,
              HOLD_TLS_FLIGHTS_LOG = held },
      preload = shim,
      http = ("  lua_ssl_trusted_certificate %s/trusted.pem;\n  lua_ssl_verify_depth 2;\n"):format(certs),
      server = SERVER,
    }
    finally(function() eager:stop() end)
    local function held_lines()
      local f = io.open(held)
      local lines = {}
      for line in (f and f:read("*a") or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
      if f then f:close() end
      os.remove(held)
      return lines
    end
    local function assert_all_held(lines)
      assert.is_true(#lines >= 1, "no TLS write held")
      for _, line in ipairs(lines) do assert.matches("^ready [1-9]%d*$", line) end
    end

    local res = assert(eager:get(link_path("&endpoint=" .. tls.url)))
    assert.are.equal(200, res.status, res.body)
    assert.matches("^https://127%.0%.0%.1:%d+/_obs/", res.body)
    assert_all_held(held_lines())
    res = assert(eager:get(link_path("&endpoint=" .. untrusted.url)))
    assert.are.equal(502, res.status, res.body)
    assert.matches("network error %(tls%): TLS handshake with 127%.0%.0%.1:%d+: .*self%-signed certificate",
      res.body)
    assert.are.equal(0, #untrusted:requests())
    assert_all_held(held_lines())
  end)

  it("goes through an HTTP proxy with credentials, and tunnels HTTPS with CONNECT", function()
    proxy:admin("DELETE", "/_proxy/log")
    local with_auth = proxy.url:gsub("^http://", "http://ops:s3cr3t@")
    local function escape(s) return (s:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)) end
    local res = assert(nginx:get(link_path("&proxy=" .. escape(with_auth))))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("1.1 lua-dcs-test-proxy", emu:last_request().headers.Via)
    assert.is_nil(emu:last_request().headers["Proxy-Authorization"])
    res = assert(nginx:get(link_path("&endpoint=" .. tls.url .. "&proxy=" .. escape(with_auth))))
    assert.are.equal(200, res.status, res.body)
    local log = proxy:log()
    assert.are.equal(2, #log)
    assert.is_true(log[1].authorized)
    assert.are.equal("CONNECT", log[2].method)
    assert.is_true(log[2].authorized)
    res = assert(nginx:get(link_path("&endpoint=" .. tls.url .. "&proxy=" .. escape(proxy.url))))
    assert.are.equal(502, res.status)
    assert.matches("answered 407 to CONNECT", res.body)
  end)

  it("fails with reason proxy on both transports when the proxy refuses the CONNECT", function()
    tls:reset()
    for _, transport in ipairs { "ngx", "curl" } do
      local res = assert(nginx:get(link_path("&endpoint=" .. tls.url .. "&transport=" .. transport
        .. "&proxy=http%3A%2F%2Fops%3Awr0ngpw%40" .. proxy.url:match("//(.*)$"))))
      assert.are.equal(502, res.status)
      assert.matches("network error %(proxy%).*407", res.body)
      assert.is_nil(res.body:find("wr0ngpw", 1, true), res.body)
    end
    assert.are.equal(0, #tls:requests())
  end)

  it("refuses a proxy URL with a raw '@' in its password, as libcurl does, without quoting it", function()
    for _, transport in ipairs { "ngx", "curl" } do
      local res = assert(nginx:get(link_path("&transport=" .. transport
        .. "&proxy=http%3A%2F%2Fops%3As3%40cr3t%40127.0.0.1%3A9")))     -- http://ops:s3@cr3t@127.0.0.1:9
      assert.are.equal(502, res.status)
      assert.matches("network error", res.body)
      assert.is_nil(res.body:find("cr3t", 1, true), res.body)
    end
    assert.are.equal(0, #emu:requests())
  end)

  it("maps API errors the same way", function()
    local res = assert(nginx:get("/link?instance=5560df16-cebf-4473-95c4-d1b573c16e70&log=" .. E.LOG_ID))
    assert.are.equal(502, res.status)
    assert.matches("^dcs: create_redislog_download_link: HTTP 404 DCS%.3022", res.body)
  end)

  it("retries with ngx.sleep", function()
    emu:fault { match = { path_contains = "/links" }, times = 1,
      action = { respond = { status = 503, json = { error_code = "APIGW.0613", error_msg = "busy" } } } }
    local res = assert(nginx:get(link_path()))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(2, #emu:requests())
  end)

  it("keeps connections alive in nginx's pool across requests", function()
    for _ = 1, 3 do assert.are.equal(200, assert(nginx:get(link_path())).status) end
    local reqs = emu:requests()
    assert.are.equal(3, #reqs)
    assert.are.equal(reqs[1].conn, reqs[3].conn)
  end)

  it("runs in an access_by_lua hook", function()
    local res = assert(nginx:get("/protected?instance=" .. E.INSTANCE))
    assert.are.equal(200, res.status)
    assert.are.equal("run logs: 3\n", res.body)
    res = assert(nginx:get("/protected?instance=" .. E.EMPTY_INSTANCE))
    assert.are.equal(404, res.status)
  end)

  it("runs in an ngx.timer.at job started from init_worker", function()
    local res
    for _ = 1, 50 do
      res = assert(nginx:get("/timer"))
      if res.body ~= "pending\n" then break end
      core.sleep(0.1)
    end
    assert.matches("^link http://", res.body)
  end)

  it("says what to do when called in the init phase", function()
    local res = assert(nginx:get("/init"))
    assert.matches("^unsupported_phase: nginx cosockets are not available in the 'init' phase: "
      .. "call from a timer %(ngx%.timer%.at%(0, function%(%) %.%.%. end%)%)", res.body)
  end)

  it("collects, polls and streams the files to disk through cosockets", function()
    local dest = nginx.dir .. "/logs"
    os.execute("mkdir -p " .. dest)
    local res = assert(nginx:get(("/fetch?instance=%s&dest=%s"):format(E.INSTANCE, dest), 30))
    assert.are.equal(200, res.status)
    local n = 0
    for path, bytes, sha in res.body:gmatch("(%S+) (%d+) (%x+)\n") do
      n = n + 1
      assert.are.equal(core.sha256_file(path), sha)
      assert.are.equal("98304", bytes)
    end
    assert.are.equal(3, n, res.body)
    assert.matches("failed 0\n$", res.body)
  end)

  it("does not block the worker while a call waits", function()
    -- worker_processes 1: the slow call and the fast request share a worker
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { delay = 2 } }
    local out = nginx.dir .. "/slow.out"
    os.execute(("env -u LD_PRELOAD curl -s -o %s '%s%s' </dev/null >/dev/null 2>&1 &"):format(out, nginx.url,
      link_path()))
    core.sleep(0.3)                              -- the slow call is now waiting on the emulator
    local fast = assert(nginx:get("/fast"))
    assert.are.equal("fast\n", fast.body)
    assert.is_true(fast.elapsed < 0.2, ("the fast request took %.3f s"):format(fast.elapsed))
    for _ = 1, 50 do
      local f = io.open(out)
      local body = f and f:read("*a") or ""
      if f then f:close() end
      if body:find("^http://") then return end
      core.sleep(0.1)
    end
    error("the slow request did not finish")
  end)

  it("runs examples/openresty/nginx.conf as documented", function()
    local example = N.start_conf("examples/openresty/nginx.conf", { DCS_ENDPOINT = emu.url,
      HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = E.SK, HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT,
      OPS_KEY = "letmein" })
    local path = ("/redis-log?instance=%s&log=%s"):format(E.INSTANCE, E.LOG_ID)
    local denied = assert(example.http:request { url = example.url .. path })
    local res = assert(example.http:request { url = example.url .. path, headers = { ["X-Ops-Key"] = "letmein" } })
    local missing = assert(example.http:request { url = example.url .. "/redis-log?instance=" .. E.INSTANCE,
      headers = { ["X-Ops-Key"] = "letmein" } })
    emu:admin("DELETE", "/_emulator/requests")
    local dots = assert(example.http:request { url = example.url .. "/redis-log?instance=..&log=..",
      headers = { ["X-Ops-Key"] = "letmein" } })
    example:stop()
    assert.are.equal(400, dots.status)
    assert.are.same({}, emu:requests())              -- nothing reached the service
    assert.are.equal(403, denied.status)
    assert.are.equal(302, res.status)
    assert.matches("^" .. emu.url:gsub("%p", "%%%0") .. "/_obs/", res.headers.location)
    assert.are.equal(400, missing.status)
    assert.matches("instance and log must be ids", missing.body)
  end)

  it("runs the README's timer job, with the region's endpoint from the environment", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("*a")
    f:close()
    local block = readme:match("```lua\n(%-%- in init_worker_by_lua_block.-)```")
    assert.truthy(block, "README timer block not found")
    local job = N.start {
      env = { HUAWEICLOUD_SDK_REGION_DCS_CN_NORTH_4 = emu.url, DCS_INSTANCE = E.INSTANCE,
              HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = E.SK, HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT },
      http = "init_worker_by_lua_block {\n" .. block .. "\n}",
      server = "location = /fast { content_by_lua_block { ngx.say('fast') } }",
    }
    local log
    for _ = 1, 50 do
      log = job:error_log()
      if log:find("run logs: ", 1, true) then break end
      core.sleep(0.1)
    end
    job:stop()
    assert.matches("run logs: 3", log)
  end)

  it("blocks the worker when the blocking transport is chosen on purpose", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { delay = 1.5 } }
    local out = nginx.dir .. "/slow-curl.out"
    os.execute(("env -u LD_PRELOAD curl -s -o %s '%s%s' </dev/null >/dev/null 2>&1 &"):format(out, nginx.url,
      link_path("&transport=curl")))
    core.sleep(0.3)
    local fast = assert(nginx:get("/fast"))
    assert.is_true(fast.elapsed > 0.8, ("the fast request took %.3f s"):format(fast.elapsed))
  end)
end)
