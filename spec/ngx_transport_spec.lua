-- The cosocket transport's connections inside nginx, against
-- tools/hostile-server: what one handler (a timer job, say) that makes many
-- calls leaves open, and which requests go on the wire again.  A location
-- runs the requests it is given, in turn, through the transport "ngx" and
-- answers with each outcome.
local cjson = require "cjson"
local E = require "support.emulator"
local N = require "support.nginx"

local SERVER = [[
    location = /calls {
      content_by_lua_block {
        local cjson = require "cjson"
        ngx.req.read_body()
        local job = cjson.decode(ngx.req.get_body_data())
        local transport = assert(require("dcs.transport").select("ngx", {}).get())
        local out = {}
        for i = 1, job.repeats or 1 do
          for _, req in ipairs(job.requests) do
            ngx.update_time()
            local started = ngx.now()
            local res, failure = transport:request(req)
            ngx.update_time()
            local o = res and { status = res.status, body = res.body } or failure
            o.elapsed = ngx.now() - started
            out[#out + 1] = o
          end
        end
        ngx.say(cjson.encode(out))
      }
    }

    location = /jump {
      content_by_lua_block {
        local cjson = require "cjson"
        local args = ngx.req.get_uri_args()
        local transport = assert(require("dcs.transport").select("ngx", {}).get())
        local call = ngx.thread.spawn(function()
          return transport:request { method = "GET", url = args.url, timeout = 10 }
        end)
        ngx.sleep(0.3)
        local f = assert(io.open(args.file, "w"))
        f:write(args.by)
        f:close()
        local _, res, failure = ngx.thread.wait(call)
        os.remove(args.file)
        ngx.say(cjson.encode(res and { status = res.status } or failure))
      }
    }

    location = /route {
      content_by_lua_block {
        local cjson = require "cjson"
        ngx.req.read_body()
        local job = cjson.decode(ngx.req.get_body_data())
        local out = {}
        for i, c in ipairs(job) do
          local t = require("dcs.transport").select("ngx", { proxy = c.proxy, no_proxy = c.no_proxy,
            timeout = 5, connect_timeout = 2 }).get()
          local res, failure = t:request { method = "GET", url = c.url }
          out[i] = res and { status = res.status } or failure
        end
        ngx.say(cjson.encode(out))
      }
    }
]]

-- Whether libcurl (dcs.core.http) sends a request for url through a proxy
-- that listens nowhere (port dead), given no_proxy.
local function curl_proxied(url, no_proxy, dead)
  local core = require "dcs.core"
  local t = core.http { proxy = "http://127.0.0.1:" .. dead, no_proxy = no_proxy, timeout = 5, connect_timeout = 2 }
  local res, failure = t:request { url = url }
  t:close()
  assert(not res, "a server answered " .. url)
  return failure.message:find("port " .. dead .. " ", 1, true) ~= nil
end

describe("the ngx transport's connections", function()
  if not N.available() then
    it("needs nginx-light and libnginx-mod-http-lua", function() pending("nginx is not installed") end)
    return
  end

  local hs, nginx, jump_file
  lazy_setup(function()
    assert(os.execute("make -s LUA=luajit >/dev/null"))
    hs = E.start_hostile()
    -- the wall clock of this nginx moves by the seconds written in jump_file
    -- (spec/support/jump_clock.c)
    local dir = require("support.files").tmpdir()
    jump_file = dir .. "/jump"
    assert(os.execute(("env -u LD_PRELOAD cc -shared -fPIC -o %s/jump_clock.so spec/support/jump_clock.c -ldl")
      :format(dir)))
    nginx = N.start { server = SERVER, env = { JUMP_CLOCK_FILE = jump_file },     -- worker_connections 64
      preload = dir .. "/jump_clock.so" }
  end)
  lazy_teardown(function()
    if nginx then nginx:stop() end
    if hs then hs:stop() end
  end)
  before_each(function() hs:reset { close_connections = true } end)

  -- Runs requests (repeated `repeats` times) in one nginx handler: the outcomes.
  local function calls(requests, repeats)
    local res = assert(nginx.http:request { method = "POST", url = nginx.url .. "/calls", timeout = 60,
      body = cjson.encode { requests = requests, repeats = repeats } })
    assert.are.equal(200, res.status, res.body .. nginx:error_log():sub(-2000))
    return cjson.decode(res.body)
  end

  local function answer(body, extra)
    return "HTTP/1.1 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body .. (extra or "")
  end

  -- libcurl 7.88's rules (lib/noproxy.c), each case checked against it
  it("bypasses the proxy for the no_proxy hosts libcurl bypasses it for", function()
    local dead, target = N.free_port(), N.free_port()
    local ip, v6 = "http://127.0.0.1:" .. target .. "/", "http://[::1]:" .. target .. "/"
    local cases = {     -- url, no_proxy, bypassed
      { ip, "127.0.0.1", true }, { ip, "127.0.0.0/8", true }, { ip, "127.0.0.1/32", true },
      { ip, "10.0.0.0/8", false }, { ip, "0.0.1", false }, { ip, ".0.0.1", false },
      { ip, "127.0.0.1.", false }, { ip, "127.0.0.1:" .. target, false },
      { ip, "*", true }, { ip, " * ", false }, { ip, "a.invalid,*", false },
      { ip, "a.invalid 127.0.0.1", true }, { ip, "a.invalid\t, ,127.0.0.1", true },
      { "http://x.invalid./", "x.invalid", true }, { "http://x.invalid/", "x.invalid.", true },
      { "http://x.invalid/", ".x.invalid", true }, { "http://a.x.invalid/", "x.invalid", true },
      { "http://ax.invalid/", "x.invalid", false }, { "http://X.INVALID/", "x.invalid", true },
      { "http://x.invalid/", "*.invalid", false }, { "http://x.invalid/", "invalid", true },
      { v6, "::1", true }, { v6, "[::1]", false }, { v6, "1", false },
    }
    local job = {}
    for i, c in ipairs(cases) do
      job[i] = { url = c[1], no_proxy = c[2], proxy = "http://127.0.0.1:" .. dead }
    end
    local res = assert(nginx.http:request { method = "POST", url = nginx.url .. "/route", timeout = 60,
      body = cjson.encode(job) })
    assert.are.equal(200, res.status, res.body .. nginx:error_log():sub(-2000))
    for i, o in ipairs(cjson.decode(res.body)) do
      local url, no_proxy, bypassed = cases[i][1], cases[i][2], cases[i][3]
      local what = ("%s with no_proxy %q"):format(url, no_proxy)
      assert.are.equal(bypassed, not curl_proxied(url, no_proxy, dead), "libcurl: " .. what)
      assert.is_string(o.message, what)
      local proxied = o.message:find("proxy 127.0.0.1:" .. dead, 1, true) ~= nil
      assert.are.equal(bypassed, not proxied, "ngx: " .. what .. ": " .. o.message)
    end
  end)

  -- libcurl takes a proxy URL without a scheme for http://, and one
  -- without a port for port 1080
  it("reads a proxy URL as libcurl does: no scheme is http, no port is 1080", function()
    local started, proxy = pcall(E.start_proxy, "--port 1080")
    if not started then return pending("port 1080 is taken: " .. tostring(proxy)) end
    local other = E.start_proxy()
    hs:script { match = { path_prefix = "/p" }, times = -1, steps = { { send = answer("{}") } } }
    local job = {}
    for i, url in ipairs { "http://127.0.0.1", "127.0.0.1", "user:pw@127.0.0.1/", other.url:match("//(.*)$") } do
      job[i] = { url = hs.url .. "/p", proxy = url }
    end
    local res = assert(nginx.http:request { method = "POST", url = nginx.url .. "/route", timeout = 60,
      body = cjson.encode(job) })
    local proxied, elsewhere = #proxy:log(), #other:log()
    proxy:stop()
    other:stop()
    assert.are.equal(200, res.status, res.body .. nginx:error_log():sub(-2000))
    for i, o in ipairs(cjson.decode(res.body)) do
      assert.are.equal(200, o.status, job[i].proxy .. ": " .. tostring(o.message))
    end
    assert.are.equal(3, proxied)
    assert.are.equal(1, elsewhere)
  end)

  -- libcurl leaves a host name's trailing dot out of SNI and of the
  -- certificate check (OpenSSL's check fails on it): so do cosockets
  it("verifies a TLS host name with a trailing dot (localhost.) as libcurl does", function()
    local dir = require("support.files").tmpdir()
    assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      .. "-addext subjectAltName=DNS:localhost -keyout %s/key.pem -out %s/cert.pem 2>/dev/null"):format(dir, dir)))
    local tls = E.start(("--tls-cert %s/cert.pem --tls-key %s/key.pem"):format(dir, dir))
    local dns = io.popen("exec env -u LD_PRELOAD python3 spec/support/tiny_dns.py")
    local dns_port, dns_pid = dns:read("*l"):match("^(%d+) (%d+)$")
    local resolving = N.start { server = SERVER, http = ("  resolver 127.0.0.1:%s ipv6=off;\n"
      .. "  lua_ssl_trusted_certificate %s/cert.pem;\n"):format(dns_port, dir) }
    local port = tls.url:match(":(%d+)$")
    local job = { { url = "https://localhost.:" .. port .. "/_emulator/health" },
      { url = "https://localhost:" .. port .. "/_emulator/health" } }
    local res = resolving.http:request { method = "POST", url = resolving.url .. "/route", timeout = 60,
      body = cjson.encode(job) }
    local log = resolving:error_log()
    resolving:stop()
    os.execute("kill " .. dns_pid)
    dns:close()
    tls:stop()
    os.execute("rm -rf " .. dir)
    assert(res, "nginx did not answer")
    assert.are.equal(200, res.status, res.body .. log:sub(-2000))
    for i, o in ipairs(cjson.decode(res.body)) do
      assert.are.equal(200, o.status, job[i].url .. ": " .. tostring(o.message))
    end
  end)

  it("closes a connection that cannot go back to the pool (bytes after the body)", function()
    hs:script { match = { path_prefix = "/junk" }, times = -1, steps = { { send = answer("{}", "JUNK") } } }
    local out = calls({ { method = "GET", url = hs.url .. "/junk", timeout = 5 } }, 100)
    for i, o in ipairs(out) do
      assert.are.equal(200, o.status, ("call %d: %s"):format(i, tostring(o.message)))
    end
    assert.are.equal(100, #out)
  end)

  -- libcurl tries a kept-alive connection again only when the server had
  -- closed it before any answer: a stall is a slow server, and the request
  -- is not sent twice
  it("does not send a request again after a stall on a kept-alive connection", function()
    hs:script { match = { path_prefix = "/f" }, times = 1, steps = { { send = answer("{}") } } }
    hs:script { match = { path_prefix = "/f" }, times = 1, steps = { { hang = true } } }
    local req = { method = "GET", url = hs.url .. "/f", timeout = 10, stall_timeout = 1 }
    local out = calls { req, req }
    assert.are.equal(200, out[1].status)
    assert.are.equal("timeout", out[2].kind, cjson.encode(out[2]))
    assert.is_true(out[2].elapsed < 2, ("took %.3f s"):format(out[2].elapsed))
    assert.are.equal(2, hs:stats().requests)
  end)

  -- ngx.now() is the wall clock: a deadline on it ended a request at once
  -- when the clock jumped forward (NTP, a resumed VM), and a jump back
  -- gave a dripping server an hour more
  it("keeps a request's deadline when the wall clock jumps an hour forward", function()
    hs:script { match = { path_prefix = "/late" }, times = 1, steps = { { sleep = 1 }, { send = answer("{}") } } }
    local res = assert(nginx.http:request { method = "GET", timeout = 30,
      url = ("%s/jump?url=%s/late&by=3600&file=%s"):format(nginx.url, hs.url, jump_file) })
    assert.are.equal(200, res.status, res.body .. nginx:error_log():sub(-2000))
    assert.are.same({ status = 200 }, cjson.decode(res.body))
  end)
end)
