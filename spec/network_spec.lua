-- TLS verification, proxies (with credentials and no_proxy, also from the
-- environment), redirects, against the emulator and tools/http-proxy.
local dcs = require "dcs"
local core = require "dcs.core"
local sub = require "support.subprocess"
local E = require "support.emulator"

local function make_cert(dir)
  assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
    .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem 2>/dev/null"):format(dir, dir)))
  return dir .. "/cert.pem", dir .. "/key.pem"
end

describe("network", function()
  local emu, tls, proxy, auth_proxy, dir, cert
  lazy_setup(function()
    dir = require("support.files").tmpdir()
    local key
    cert, key = make_cert(dir)
    emu = E.start()
    tls = E.start(("--tls-cert %s --tls-key %s"):format(cert, key))
    proxy = E.start_proxy()
    auth_proxy = E.start_proxy("--auth user:s3cr3t")
  end)
  lazy_teardown(function()
    for _, s in ipairs { emu, tls, proxy, auth_proxy } do s:stop() end
    os.execute("rm -rf " .. dir)
  end)
  before_each(function()
    emu:reset()
    tls:reset()
    proxy:admin("DELETE", "/_proxy/log")
    auth_proxy:admin("DELETE", "/_proxy/log")
  end)

  local function client(server, opts)
    local o = { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = server.url, retries = false }
    for k, v in pairs(opts or {}) do o[k] = v end
    return dcs.client(o)
  end
  local function link(c)
    local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    return res, err
  end

  describe("TLS", function()
    it("verifies the server with ca_file", function()
      assert.matches("^https://", tls.url)
      local res, err = link(client(tls, { ca_file = cert }))
      assert.is_nil(err)
      assert.matches("^https://127%.0%.0%.1:%d+/_obs/", res.link)
    end)

    it("refuses an unknown certificate authority", function()
      local res, err = link(client(tls))
      assert.is_nil(res)
      assert.are.equal("network", err.kind)
      assert.are.equal("tls", err.reason)
      assert.are.equal(0, #tls:requests())
    end)

    it("skips verification only with insecure = true", function()
      assert(link(client(tls, { insecure = true })))
    end)

    it("fails over to the next endpoint after a TLS failure", function()
      local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, retries = false,
        endpoints = { tls.url, emu.url } }
      assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
      assert.are.equal(emu.url, c.endpoint)
      c:close()
    end)
  end)

  describe("proxies", function()
    it("go through an HTTP proxy", function()
      assert(link(client(emu, { proxy = proxy.url })))
      assert.are.equal("1.1 lua-dcs-test-proxy", emu:last_request().headers.Via)
      local log = proxy:log()
      assert.are.equal(1, #log)
      assert.matches("/links$", log[1].target)
    end)

    it("send proxy credentials from the proxy URL", function()
      local with_auth = auth_proxy.url:gsub("^http://", "http://user:s3cr3t@")
      assert(link(client(emu, { proxy = with_auth })))
      assert.is_true(auth_proxy:log()[1].authorized)
      assert.is_nil(emu:last_request().headers["Proxy-Authorization"])
      local res, err = link(client(emu, { proxy = auth_proxy.url }))
      assert.is_nil(res)
      assert.are.equal(407, err.status)
    end)

    it("fail with reason proxy when the proxy refuses the CONNECT", function()
      local wrong = auth_proxy.url:gsub("^http://", "http://user:wr0ngpw@")
      local res, err = link(client(tls, { proxy = wrong, ca_file = cert }))
      assert.is_nil(res)
      assert.are.equal("network", err.kind)
      assert.are.equal("proxy", err.reason)
      assert.matches("407", err.message)
      assert.is_nil(tostring(err):find("wr0ngpw", 1, true))
      assert.are.equal(0, #tls:requests())
    end)

    it("tunnel HTTPS with CONNECT", function()
      assert(link(client(tls, { proxy = proxy.url, ca_file = cert })))
      assert.are.equal("CONNECT", proxy:log()[1].method)
    end)

    it("show sink.head only the target's answer through a CONNECT tunnel", function()
      local t = core.http { proxy = proxy.url, ca_file = cert }
      local heads = {}
      local res = assert(t:request { url = tls.url .. "/_emulator/health", sink = { head = function(status, headers)
        heads[#heads + 1] = { status = status, headers = headers }
        return false
      end } })
      t:close()
      assert.are.equal("CONNECT", proxy:log()[1].method)
      assert.are.equal(1, #heads)
      assert.are.equal(200, heads[1].status)
      assert.is_string(heads[1].headers["x-request-id"])     -- the emulator's, not the proxy's
      assert.are.equal(heads[1].headers, res.headers)
    end)

    it("are bypassed for no_proxy hosts", function()
      assert(link(client(emu, { proxy = proxy.url, no_proxy = "127.0.0.1" })))
      assert.is_nil(emu:last_request().headers.Via)
      assert.are.equal(0, #proxy:log())
    end)

    it("come from http_proxy and no_proxy in the environment", function()
      local code = ([[
        local dcs = require "dcs"
        local c = dcs.client { ak = %q, sk = %q, project = %q, endpoint = %q, retries = false }
        assert(c:create_redislog_download_link(%q, %q))
      ]]):format(E.AK, E.SK, E.PROJECT, emu.url, E.INSTANCE, E.LOG_ID)
      local status, out = sub.run(code, { http_proxy = proxy.url })
      assert.are.equal(0, status, out)
      assert.are.equal("1.1 lua-dcs-test-proxy", emu:last_request().headers.Via)
      status, out = sub.run(code, { http_proxy = proxy.url, no_proxy = "127.0.0.1" })
      assert.are.equal(0, status, out)
      assert.is_nil(emu:last_request().headers.Via)
    end)
  end)

  it("reaches an IPv6 endpoint, with the Host header it signed", function()
    local v6 = E.start("--host ::1")
    assert.matches("^http://%[::1%]:%d+$", v6.url)
    local res, err = link(client(v6))
    local r = v6:last_request()
    v6:stop()
    assert.is_nil(err)
    assert.matches("^http://%[::1%]:%d+/_obs/", res.link)
    assert.are.equal(v6.url:match("//(.*)$"), r.headers.Host)
  end)

  it("does not follow redirects", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = {
      status = 302, headers = { Location = emu.url .. "/elsewhere" }, body = "" } } }
    local res, err = link(client(emu))
    assert.is_nil(res)
    assert.are.equal("api", err.kind)
    assert.are.equal(302, err.status)
    assert.are.equal(1, #emu:requests())
  end)

  it("applies the connect timeout", function()
    local p = io.popen("exec env -u LD_PRELOAD python3 spec/support/full_backlog.py 2")
    local port = p:read("*l")
    local started = os.time()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, retries = false,
      endpoint = "http://127.0.0.1:" .. port, connect_timeout = 0.5 }
    local res, err = link(c)
    local elapsed = os.time() - started
    p:close()
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.matches("[Cc]onnect", err.message)
    assert.is_true(elapsed <= 2, "took " .. elapsed .. " s")
  end)

  it("applies the total timeout", function()
    emu:config { latency = 1.5 }
    local t0 = os.time()
    local res, err = link(client(emu, { timeout = 0.5 }))
    emu:config { latency = 0 }
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.is_true(os.time() - t0 <= 2)
  end)
end)
