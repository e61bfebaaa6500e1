-- tools/hostile-server: every feature driven through the real libcurl
-- transport (dcs.core.http), and through a raw TCP client where a feature
-- lives below HTTP (exact bytes, FIN against RST, malformed requests).
local core = require "dcs.core"
local cjson = require "cjson"
local E = require "support.emulator"

-- One request on a fresh handle (no connection reuse between checks).
-- req.file: a path the 2xx body streams into (replaced), through the body
-- sink; `bytes` on the result or failure says how much it got.
local function get(url, req, opts)
  local o = { timeout = 5, proxy = "" }
  for k, v in pairs(opts or {}) do o[k] = v end
  local h = core.http(o)
  req = req or {}
  req.url = url
  local file
  if req.file then
    os.remove(req.file)
    file = assert(core.open_file(req.file, "new"))
    req.sink = { file = file, head = function(status) return status >= 200 and status < 300 end }
    req.file = nil
  end
  local res, failure = h:request(req)
  h:close()
  if file then
    local got = res or failure
    got.bytes = file:size()
    file:close()
  end
  return res, failure
end

-- Polls fn until it returns true (generous bound); the last value otherwise.
local function eventually(fn, seconds)
  local deadline = core.monotime() + (seconds or 5)
  repeat
    if fn() then return true end
    core.sleep(0.05)
  until core.monotime() > deadline
  return fn()
end

local function respond(spec, match, times)
  return { match = match, times = times or 1, steps = { { respond = spec } } }
end

local function tmpfile()
  local path = os.tmpname()
  return path, function() os.remove(path) end
end

describe("hostile server", function()
  local hs
  lazy_setup(function() hs = E.start_hostile() end)
  lazy_teardown(function() hs:stop() end)
  before_each(function() hs:reset() end)

  describe("control API", function()
    it("starts on a loopback port with empty stats and log", function()
      assert.matches("^http://127%.0%.0%.1:%d+$", hs.url)
      assert.are.same({ connections = 0, open_connections = 0, in_flight = 0, peak_in_flight = 0,
        requests = 0 }, hs:stats())
      assert.are.same({}, hs:log())
    end)

    it("answers 404 with JSON when nothing matches and logs the request exactly", function()
      local res = assert(get(hs.url .. "/nothing?x=1", { method = "POST", body = "abc",
        headers = { ["X-Test"] = "yes" } }))
      assert.are.equal(404, res.status)
      assert.are.equal("/nothing?x=1", cjson.decode(res.body).target)
      local log = hs:log()
      assert.are.equal(1, #log)
      local e = log[1]
      assert.are.equal("POST", e.method)
      assert.are.equal("/nothing?x=1", e.target)
      assert.are.equal("HTTP/1.1", e.version)
      assert.are.equal("yes", e:header("x-test"))
      assert.are.equal("abc", e.body)
      assert.are.equal("main", e.listener)
      assert.are.equal(cjson.null, e.error)
      assert.are.equal("POST /nothing?x=1 HTTP/1.1\r\n", e.raw:sub(1, 28))
      assert.are.equal("\r\n\r\nabc", e.raw:sub(-7))
    end)

    it("keeps control calls out of the log and the stats", function()
      assert(get(hs.url .. "/one"))
      local st = hs:stats()
      assert.are.equal(1, st.requests)
      assert.are.equal(1, st.connections)          -- the admin connection does not count
      assert.is_true(eventually(function() return hs:stats().open_connections == 0 end))
      assert.are.equal(1, #hs:log())
      hs:clear_log()
      assert.are.same({}, hs:log())
      hs:reset()
      assert.are.equal(0, hs:stats().requests)
    end)

    it("refuses bad scripts and unknown endpoints", function()
      local _
      local res, status = hs:admin("POST", "/_hostile/script", { steps = { { bogus = true } } })
      assert.are.equal(400, status)
      assert.matches("step 1", res.error)
      _, status = hs:admin("POST", "/_hostile/script", { steps = { { respond = { status = "x" } } } })
      assert.are.equal(400, status)
      _, status = hs:admin("POST", "/_hostile/file", { path = "/f", size = 1, tricks = { nope = 1 } })
      assert.are.equal(400, status)
      _, status = hs:admin("GET", "/_hostile/nope")
      assert.are.equal(404, status)
      _, status = hs:admin("GET", "/_hostile/reset")
      assert.are.equal(405, status)
    end)
  end)

  describe("respond step", function()
    it("builds status, reason, ordered duplicate headers and a templated body", function()
      hs:script(respond({ status = 203, reason = "Fine Thanks", body = "at {{base}}",
        headers = { { "X-Dup", "1" }, { "X-Dup", "2" }, { "Location", "{{base}}/next" } } }, nil, 2))
      local res = assert(get(hs.url .. "/r"))
      assert.are.equal(203, res.status)
      assert.are.equal("1, 2", res.headers["x-dup"])
      assert.are.equal(hs.url .. "/next", res.headers.location)
      assert.are.equal("at " .. hs.url, res.body)
      local bytes = hs:raw("GET /r HTTP/1.1\r\n\r\n", { wait = 0.5 })
      assert.are.equal("HTTP/1.1 203 Fine Thanks\r\nX-Dup: 1\r\nX-Dup: 2\r\nLocation: " .. hs.url
        .. "/next\r\nContent-Length: " .. #res.body .. "\r\n\r\n" .. res.body, bytes)
    end)

    it("repeats a body and sends chunked bodies", function()
      hs:script(respond({ body_repeat = { text = "ab", count = 100000 } }))
      local res = assert(get(hs.url .. "/big"))
      assert.are.equal(("ab"):rep(100000), res.body)
      hs:script(respond({ body = ("x"):rep(20), chunked = true, chunk_size = 7 }, nil, 2))
      res = assert(get(hs.url .. "/chunked"))
      assert.are.equal("chunked", res.headers["transfer-encoding"])
      assert.is_nil(res.headers["content-length"])
      assert.are.equal(("x"):rep(20), res.body)
      local bytes = hs:raw("GET /chunked HTTP/1.1\r\n\r\n", { wait = 0.5 })
      assert.matches("\r\n\r\n7\r\nxxxxxxx\r\n7\r\nxxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n$", bytes)
    end)

    it("leaves Content-Length out or makes it lie", function()
      hs:script(respond({ body = "until close", content_length = cjson.null }))
      local res = assert(get(hs.url .. "/noclen"))
      assert.are.equal("until close", res.body)
      assert.is_nil(res.headers["content-length"])
      hs:script({ steps = { { respond = { body = "short", content_length = 100 } }, { close = true } } })
      local _, failure = get(hs.url .. "/long")
      assert.are.equal("network", failure.kind)
      assert.are.equal("recv", failure.reason)
      hs:script(respond({ body = "abcdef", content_length = 2 }))
      res = assert(get(hs.url .. "/short"))
      assert.are.equal("ab", res.body)
    end)
  end)

  describe("raw steps and connection endings", function()
    it("sends raw text and base64 bytes exactly", function()
      hs:script({ steps = { { send = "HTTP/1.1 200 OK\r\nX-Nul: a\0b\255\r\n" },
        { send_b64 = "Q29udGVudC1MZW5ndGg6IDINCg0Kb2s=" }, { close = true } } })
      local bytes, how = hs:raw("GET / HTTP/1.1\r\n\r\n")
      assert.are.equal("HTTP/1.1 200 OK\r\nX-Nul: a\0b\255\r\nContent-Length: 2\r\n\r\nok", bytes)
      assert.are.equal("eof", how)
      hs:script({ steps = { { send = "HTTP/1.1 abc\r\n\r\n" }, { close = true } } })
      local _, failure = get(hs.url .. "/malformed")
      assert.are.equal("network", failure.kind)
    end)

    it("sleeps and drips", function()
      hs:script({ steps = { { sleep = 0.4 }, { respond = { body = "late" } } } })
      local t0 = core.monotime()
      local res = assert(get(hs.url .. "/sleep"))
      assert.are.equal("late", res.body)
      local took = core.monotime() - t0
      assert.is_true(took >= 0.35 and took < 5, "took " .. took)
      hs:script({ steps = { { send = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n" },
        { drip = "ab", interval = 0.05, count = 3 } } })
      t0 = core.monotime()
      res = assert(get(hs.url .. "/drip"))
      took = core.monotime() - t0
      assert.are.equal("ababab", res.body)
      assert.is_true(took >= 0.2 and took < 5, "took " .. took)
    end)

    it("hangs until the client gives up, with the request in flight", function()
      hs:script({ steps = { { send = "HTTP/1.1 200 OK\r\n" }, { hang = true } } })
      local client = E.raw_start(hs.url, "GET /hang HTTP/1.1\r\n\r\n", { wait = 1.5 })
      assert.is_true(eventually(function() return hs:stats().in_flight == 1 end))
      local bytes, how = client.wait()
      assert.are.equal("HTTP/1.1 200 OK\r\n", bytes)
      assert.are.equal("timeout", how)
      assert.is_true(eventually(function() return hs:stats().in_flight == 0 end))
      local st = hs:stats()
      assert.are.equal(1, st.peak_in_flight)
      assert.are.equal(0, st.open_connections)
      hs:script({ steps = { { hang = true } } })
      local _, failure = get(hs.url .. "/hang", { timeout = 0.5 })
      assert.are.equal("timeout", failure.kind)
    end)

    it("closes with a FIN, resets with an RST", function()
      hs:script({ times = 2, steps = { { close = true } } })
      local bytes, how = hs:raw("GET /fin HTTP/1.1\r\n\r\n")
      assert.are.equal("", bytes)
      assert.are.equal("eof", how)
      local _, failure = get(hs.url .. "/fin")
      assert.are.equal("recv", failure.reason)
      hs:script({ times = 2, steps = { { send = "HTTP/1.1 200 OK\r\n" }, { reset = true } } })
      _, how = hs:raw("GET /rst HTTP/1.1\r\n\r\n")      -- the RST may discard what came before
      assert.are.equal("reset", how)
      _, failure = get(hs.url .. "/rst")
      assert.are.equal("network", failure.kind)
    end)

    it("keeps the connection alive unless the response says otherwise", function()
      hs:script(respond({ body = "ok" }, nil, -1))
      local h = core.http { timeout = 5, proxy = "" }
      assert.are.equal(1, assert(h:request { url = hs.url .. "/a" }).new_connections)
      assert.are.equal(0, assert(h:request { url = hs.url .. "/b" }).new_connections)
      h:close()
      assert.are.equal(1, hs:stats().connections)
      hs:reset()
      hs:script(respond({ body = "ok", headers = { Connection = "close" } }, nil, -1))
      h = core.http { timeout = 5, proxy = "" }
      assert(h:request { url = hs.url .. "/a" })
      assert.are.equal(1, assert(h:request { url = hs.url .. "/b" }).new_connections)
      h:close()
      assert.are.equal(2, hs:stats().connections)
    end)

    it("ends clients' kept-alive connections on reset { close_connections = true }", function()
      hs:script(respond({ body = "ok" }, nil, -1))
      local h = core.http { timeout = 5, proxy = "" }
      assert(h:request { url = hs.url .. "/a" })
      hs:reset()
      hs:script(respond({ body = "ok" }, nil, -1))
      assert.are.equal(0, assert(h:request { url = hs.url .. "/b" }).new_connections)
      hs:reset { close_connections = true }
      assert.are.same({}, hs:log())                -- the control connection itself still works
      hs:script(respond({ body = "ok" }, nil, -1))
      assert.is_true(eventually(function() return hs:stats().open_connections == 0 end))
      assert.are.equal(1, assert(h:request { url = hs.url .. "/c" }).new_connections)
      h:close()
      local _, status = hs:admin("POST", "/_hostile/reset", { close_connections = "yes" })
      assert.are.equal(400, status)
    end)
  end)

  describe("scripts", function()
    it("match method, path prefix and path contains; the first fit with uses left wins", function()
      local a = hs:script(respond({ status = 201 }, { method = "POST", path_prefix = "/a" }, 1))
      hs:script(respond({ status = 202 }, { path_contains = "q=1" }, 2))
      hs:script(respond({ status = 203 }, nil, -1))
      local function status(method, path)
        return assert(get(hs.url .. path, { method = method })).status
      end
      assert.are.equal(203, status("GET", "/a"))
      assert.are.equal(201, status("POST", "/a/x"))
      assert.are.equal(203, status("POST", "/a/x"))
      assert.are.equal(202, status("GET", "/x?q=1"))
      assert.are.equal(202, status("GET", "/x?q=1"))
      assert.are.equal(203, status("GET", "/x?q=1"))
      local scripts = hs:call("GET", "/_hostile/script").scripts
      assert.are.same({ id = a, match = { method = "POST", path_prefix = "/a" }, times = 0, used = 1 },
        scripts[1])
      assert.are.equal(-1, scripts[3].times)
      assert.are.equal(3, scripts[3].used)
    end)
  end)

  describe("served files", function()
    local SIZE = 100000
    local URL

    local function fetch(headers, path)
      return get(hs.url .. (path or "/files/a.log"), { headers = headers })
    end

    before_each(function() URL = hs.url .. "/files/a.log" end)

    it("serves deterministic content that matches file-sha256, and HEAD", function()
      local d = hs:file { path = "/files/a.log", size = SIZE, seed = 7 }
      local res = assert(fetch())
      assert.are.equal(200, res.status)
      assert.are.equal(SIZE, #res.body)
      assert.are.equal(d.sha256, core.sha256_hex(res.body))
      assert.are.equal(d.sha256, hs:file_sha256("/files/a.log").sha256)
      assert.are.equal("bytes", res.headers["accept-ranges"])
      assert.are.equal('"hs-7-100000"', res.headers.etag)
      local again = assert(fetch())
      assert.are.equal(res.body, again.body)
      local other = hs:file { path = "/files/b.log", size = SIZE, seed = 8 }
      assert.are_not.equal(d.sha256, other.sha256)
      local head = assert(get(URL, { method = "HEAD" }))
      assert.are.equal(tostring(SIZE), head.headers["content-length"])
      assert.are.equal("", head.body)
      local path, done = tmpfile()
      assert(get(URL, { file = path }))
      assert.are.equal(d.sha256, core.sha256_file(path))
      done()
      assert.are.equal(4, hs:file_sha256("/files/a.log").requests)
    end)

    it("honours Range and If-Range", function()
      hs:file { path = "/files/a.log", size = SIZE, etag = '"v1"' }
      local full = assert(fetch()).body
      local res = assert(fetch { Range = "bytes=1000-" })
      assert.are.equal(206, res.status)
      assert.are.equal("bytes 1000-99999/100000", res.headers["content-range"])
      assert.are.equal(full:sub(1001), res.body)
      res = assert(fetch { Range = "bytes=10-19" })
      assert.are.equal(full:sub(11, 20), res.body)
      res = assert(fetch { Range = "bytes=200000-" })
      assert.are.equal(416, res.status)
      assert.are.equal("bytes */100000", res.headers["content-range"])
      res = assert(fetch { Range = "bytes=1000-", ["If-Range"] = '"v1"' })
      assert.are.equal(206, res.status)
      res = assert(fetch { Range = "bytes=1000-", ["If-Range"] = '"v0"' })
      assert.are.equal(200, res.status)
      assert.are.equal(full, res.body)
      local lm = res.headers["last-modified"]
      assert.are.equal(206, assert(fetch { Range = "bytes=5-", ["If-Range"] = lm }).status)
      assert.are.equal(200, assert(fetch { Range = "bytes=5-",
        ["If-Range"] = "Mon, 01 Jan 2024 00:00:00 GMT" }).status)
    end)

    it("lies about ranges on request", function()
      hs:file { path = "/files/a.log", size = SIZE, tricks = { ignore_range = true } }
      local full = assert(fetch()).body
      local res = assert(fetch { Range = "bytes=1000-" })
      assert.are.equal(200, res.status)
      assert.are.equal(full, res.body)
      hs:file { path = "/files/a.log", size = SIZE, tricks = { range_start_offset = 100 } }
      res = assert(fetch { Range = "bytes=1000-" })
      assert.are.equal(206, res.status)
      assert.are.equal("bytes 900-99999/100000", res.headers["content-range"])
      assert.are.equal(full:sub(901), res.body)
    end)

    it("cuts chosen requests after N body bytes", function()
      local d = hs:file { path = "/files/a.log", size = SIZE, tricks = { drop_after = { 100, cjson.null, 5000 } } }
      local path, done = tmpfile()
      local _, failure = get(URL, { file = path })
      assert.are.equal("recv", failure.reason)
      assert.are.equal(100, failure.bytes)
      assert.are.equal(SIZE, assert(get(URL, { file = path })).bytes)
      assert.are.equal(d.sha256, core.sha256_file(path))
      _, failure = get(URL, { file = path })
      assert.are.equal(5000, failure.bytes)
      assert.are.equal(SIZE, assert(get(URL, { file = path })).bytes)
      done()
    end)

    it("changes the content after n requests, with or without new validators", function()
      local d = hs:file { path = "/files/a.log", size = SIZE, tricks = { change_after = 1 } }
      local first = assert(fetch())
      assert.are.equal(d.sha256, core.sha256_hex(first.body))
      local changed = hs:file_sha256("/files/a.log")
      assert.are_not.equal(d.sha256, changed.sha256)
      local second = assert(fetch())
      assert.are.equal(changed.sha256, core.sha256_hex(second.body))
      assert.are_not.equal(first.headers.etag, second.headers.etag)
      assert.are_not.equal(first.headers["last-modified"], second.headers["last-modified"])
      local res = assert(fetch { Range = "bytes=10-", ["If-Range"] = first.headers.etag })
      assert.are.equal(200, res.status)          -- the old validator no longer matches

      hs:file { path = "/files/a.log", size = SIZE, tricks = { change_after = 1, keep_validator = true } }
      first = assert(fetch())
      res = assert(fetch { Range = "bytes=10-", ["If-Range"] = first.headers.etag })
      assert.are.equal(206, res.status)          -- same ETag, other bytes: the lie
      assert.are_not.equal(first.body:sub(11), res.body)
      assert.are.equal(#first.body - 10, #res.body)
    end)

    it("drips or stalls the body", function()
      hs:file { path = "/files/a.log", size = 10, tricks = { drip_interval = 0.05 } }
      local t0 = core.monotime()
      local res = assert(fetch())
      local took = core.monotime() - t0
      assert.are.equal(10, #res.body)
      assert.is_true(took >= 0.4 and took < 5, "took " .. took)
      hs:file { path = "/files/a.log", size = SIZE, tricks = { stall_after = 1000 } }
      local path, done = tmpfile()
      local _, failure = get(URL, { file = path, timeout = 1 })
      done()
      assert.are.equal("timeout", failure.kind)
      assert.are.equal(1000, failure.bytes)
    end)
  end)

  describe("request log", function()
    it("records malformed requests as they arrived", function()
      local data = "GET /lf HTTP/1.1\nHost: x\nNoColonHere\nX-Nul: a\0b\n\n"
      local bytes = hs:raw(data, { wait = 0.5 })
      assert.matches("^HTTP/1.1 404 ", bytes)
      local e = hs:log()[1]
      assert.are.equal(data, e.raw)
      assert.are.same({ { "Host", "x" }, { "NoColonHere", cjson.null }, { "X-Nul", "a\0b" } }, e.headers)
      assert.matches("without a colon", e.error)
      assert.matches("NUL", e.error)
    end)

    it("splits pipelined requests, so a smuggled request is its own entry", function()
      local bytes = hs:raw("POST /first HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        .. "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        .. "GET /smuggled HTTP/1.1\r\n\r\n", { wait = 0.5 })
      local _, n = bytes:gsub("HTTP/1.1 404", "")
      assert.are.equal(3, n)
      local log = hs:log()
      assert.are.equal(3, #log)
      assert.are.equal("hello", log[1].body)
      assert.are.equal("abc", log[2].body)
      assert.are.equal("3\r\nabc\r\n0\r\n\r\n", log[2].raw:sub(-13))
      assert.are.equal("/smuggled", log[3].target)
      assert.are.equal(log[1].conn, log[3].conn)
    end)

    it("answers a head over 1 MiB with 431 and records it", function()
      local bytes = hs:raw("GET /big HTTP/1.1\r\nX: " .. ("a"):rep(1024 * 1024) .. "\r\n\r\n", { wait = 3 })
      assert.matches("^HTTP/1.1 431 ", bytes)
      local e = hs:log()[1]
      assert.matches("larger than", e.error)
      assert.are.equal(1024 * 1024, #e.raw)
    end)

    it("records a request the client cut short", function()
      local bytes, how = hs:raw("PUT /cut HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", { half_close = true })
      assert.are.equal("", bytes)
      assert.are.equal("eof", how)
      local e = hs:log()[1]
      assert.are.equal("abc", e.body)
      assert.matches("inside the body", e.error)
    end)
  end)

  describe("stats", function()
    it("counts connections and requests in flight at once", function()
      hs:script({ times = -1, steps = { { sleep = 1 }, { respond = { body = "ok" } } } })
      local clients = {}
      for i = 1, 3 do
        clients[i] = E.raw_start(hs.url, "GET /slow HTTP/1.1\r\nConnection: close\r\n\r\n", { wait = 5 })
      end
      for i = 1, 3 do
        local bytes, how = clients[i].wait()
        assert.matches("^HTTP/1.1 200 ", bytes)
        assert.are.equal("eof", how)
      end
      assert.is_true(eventually(function() return hs:stats().open_connections == 0 end))
      local st = hs:stats()
      assert.are.equal(3, st.peak_in_flight)
      assert.are.equal(0, st.in_flight)
      assert.are.equal(3, st.requests)
      assert.are.equal(3, st.connections)
    end)
  end)

  describe("extra listeners", function()
    it("silent: accepts and logs, never answers", function()
      local url = hs:listener("silent")
      assert.matches("^http://127%.0%.0%.1:%d+$", url)
      local _, failure = get(url .. "/quiet", { timeout = 0.5 })
      assert.are.equal("timeout", failure.kind)
      local e = hs:log()[1]
      assert.are.equal("silent", e.listener)
      assert.are.equal("/quiet", e.target)
      assert.are.equal(1, hs:stats().connections)
    end)

    it("tls_silent: a TLS handshake stalls", function()
      local url = hs:listener("tls_silent")
      assert.matches("^https://127%.0%.0%.1:%d+$", url)
      local _, failure = get(url .. "/", { timeout = 0.5 }, { insecure = true })
      assert.are.equal("timeout", failure.kind)
      assert.are.same({}, hs:log())
    end)

    it("close: the connection ends at once", function()
      local url = hs:listener("close")
      local bytes, how = E.raw(url, "GET / HTTP/1.1\r\n\r\n")
      assert.are.equal("", bytes)
      assert.are_not.equal("timeout", how)
      local _, failure = get(url .. "/")
      assert.are.equal("network", failure.kind)
      assert.are.equal(2, hs:stats().connections)
    end)

    it("fills {{silent}} in scripts, and goes away on reset", function()
      local silent = hs:listener("silent")
      hs:script(respond({ status = 302, headers = { Location = "{{silent}}/x" } }))
      local res = assert(get(hs.url .. "/redirect"))
      assert.are.equal(silent .. "/x", res.headers.location)
      hs:reset()
      local _, failure = get(silent .. "/", { timeout = 2 })
      assert.are.equal("connect", failure.reason)
    end)
  end)

  describe("with TLS", function()
    local tls, dir
    lazy_setup(function()
      dir = require("support.files").tmpdir()
      assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
        .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem 2>/dev/null"):format(dir, dir)))
      tls = E.start_hostile(("--tls-cert %s/cert.pem --tls-key %s/key.pem"):format(dir, dir))
    end)
    lazy_teardown(function()
      tls:stop()
      os.execute("rm -rf " .. dir)
    end)

    it("serves scripts and files over https", function()
      assert.matches("^https://127%.0%.0%.1:%d+$", tls.url)
      tls:script(respond({ body = "secure {{base}}" }))
      local res = assert(get(tls.url .. "/s", nil, { ca_file = dir .. "/cert.pem" }))
      assert.are.equal("secure " .. tls.url, res.body)
      local d = tls:file { path = "/f", size = 5000, tricks = { drop_after = { 10 } } }
      local _, failure = get(tls.url .. "/f", nil, { insecure = true })
      assert.are.equal("network", failure.kind)
      res = assert(get(tls.url .. "/f", nil, { insecure = true }))
      assert.are.equal(d.sha256, core.sha256_hex(res.body))
      local e = tls:log()[1]
      assert.is_true(e.tls)
      assert.are.equal("/s", e.target)
    end)
  end)
end)
