-- Choosing a transport: the user's own function, and the errors for
-- transports that cannot work here.
local dcs = require "dcs"
local core = require "dcs.core"
local E = require "support.emulator"

describe("transport option", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  -- A host program's own HTTP stack would go here; this one happens to use
  -- a libcurl handle of its own.
  local function host_transport(log)
    local http = core.http()
    return function(req)
      log[#log + 1] = req
      local res, failure = http:request(req)
      if not res then return nil, failure.message end
      return res.status, res.headers, res.body
    end
  end

  it("sends every request through a user function", function()
    local log = {}
    local c = emu:client { transport = host_transport(log) }
    local res = assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.are.equal(E.LOG_ID, res.id)
    local list = assert(c:list_redislogs(E.INSTANCE))
    assert.are.equal(3, list.total_num)
    local dir = os.tmpname()
    os.remove(dir)
    local saved = assert(c:download(res.link, dir))
    assert.are.equal(98304, saved.bytes)
    assert.are.equal(core.sha256_file(dir), saved.sha256)
    os.remove(dir)
    c:close()
    assert.are.equal(3, #log)
    assert.are.equal("POST", log[1].method)
    assert.matches("/links$", log[1].url)
    assert.matches("^SDK%-HMAC%-SHA256 ", log[1].headers.Authorization)
    assert.are.equal("", log[1].body)
    assert.matches("log_type=run", log[2].url)
  end)

  -- The README's LuaSocket transport, taken from the README itself.
  local function readme_transport()
    local f = assert(io.open("README.md"))
    local text = f:read("*a")
    f:close()
    local block = assert(text:match("```lua\n(local socket = require \"socket\".-)\nlocal client ="))
    return assert(load(block .. "\nreturn luasocket_transport"))()
  end

  it("streams a download through the README's LuaSocket transport, chunk by chunk", function()
    local SIZE = 32 * 1024 * 1024
    local id = emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { size = SIZE }).id
    local streamed, writes = 0, 0
    local luasocket = readme_transport()
    local c = emu:client { transport = function(req)
      if req.stream then
        local stream = req.stream
        req.stream = function(status, headers)
          streamed = streamed + 1
          local write = stream(status, headers)
          return write and function(chunk)
            writes = writes + 1
            return write(chunk)
          end
        end
      end
      return luasocket(req)
    end }
    local link = assert(c:create_redislog_download_link(E.INSTANCE, id)).link
    local path = os.tmpname()
    collectgarbage()
    local before = collectgarbage("count")
    local peak = before
    local saved = assert(c:download(link, path, { progress = function()
      collectgarbage()                  -- what is live, not the collector's slack
      peak = math.max(peak, collectgarbage("count"))
    end }))
    c:close()
    assert.are.equal(SIZE, saved.bytes)
    assert.are.equal(core.sha256_file(path), saved.sha256)
    os.remove(path)
    assert.are.equal(1, streamed)
    assert.is_true(writes > 100, "writes: " .. writes)
    -- the file never sits in memory: what is live stays small
    assert.is_true(peak - before < 4 * 1024, ("live heap grew by %.0f KiB"):format(peak - before))
  end)

  it("keeps the Lua heap under 16 MiB for a 200 MiB download through the streaming form", function()
    local CHUNK, SIZE = ("x"):rep(65536), 200 * 1024 * 1024
    local c = emu:client { transport = function(req)
      local write = assert(req.stream(200, { ["Content-Length"] = tostring(SIZE), ETag = '"g"' }))
      for _ = 1, SIZE / #CHUNK do assert(write(CHUNK)) end
      return 200, { ["Content-Length"] = tostring(SIZE) }
    end }
    local path = os.tmpname()
    collectgarbage()
    local peak, before = 0, collectgarbage("count")
    local saved = assert(c:download("http://generated.invalid/big.log", path, { checksum = false,
      progress = function(done)
        if done % (4 * 1024 * 1024) == 0 then   -- every 4 MiB: what is live, not the collector's slack
          collectgarbage()
          peak = math.max(peak, collectgarbage("count") - before)
        end
      end }))
    c:close()
    os.remove(path)
    assert.are.equal(SIZE, saved.bytes)
    assert.is_true(peak < 16 * 1024, ("live heap grew by %.0f KiB"):format(peak))
  end)

  it("stops a streaming function when the download refuses or fails", function()
    local c = emu:client { retries = false, transport = function(req)
      local write, why = req.stream(200, { ["Content-Length"] = "10" })
      assert(write, why)
      local ok, err = write("0123456789")
      assert(ok, err)
      ok, err = write("more than announced: max_bytes says no")
      return ok and 200 or nil, err
    end }
    local path = os.tmpname()
    os.remove(path)
    local res, err = c:download("http://generated.invalid/x.log", path, { max_bytes = 10 })
    c:close()
    assert.is_nil(res)
    assert.is_table(err)
    assert.is_nil(io.open(path))
  end)

  it("turns a failing function into a network error", function()
    local c = emu:client { retries = false, transport = function() return nil, "host loop is down" end }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("network", err.kind)
    assert.matches("host loop is down", err.message)
    c = emu:client { retries = false, transport = function() error("crashed") end }
    _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("network", err.kind)
    assert.matches("crashed", err.message)
  end)

  -- A function that relays the emulator's answer through libcurl, the
  -- status made what another HTTP library or a JSON bridge may hand over.
  local function relay(status_of)
    local http = core.http()
    return function(req)
      local res = assert(http:request { method = req.method, url = req.url, headers = req.headers, body = req.body })
      return status_of(res.status), res.headers, res.body
    end, http
  end

  it("takes a function's status 404.0 as 404, and refuses one that is no HTTP status", function()
    local fn, http = relay(function(status) return status + 0.0 end)
    local c = emu:client { retries = false, transport = fn }
    local _, err = c:create_redislog_download_link(E.INSTANCE, "missing")
    assert.are.equal(404, err.status)
    assert.are.equal("404", tostring(err.status))              -- an integer, as from libcurl
    assert.matches("HTTP 404 DCS", tostring(err))
    c:close()
    http:close()
    for _, bad in ipairs { 250.5, 0 / 0, -1, 99, 1000, 1e300, 2 ^ 63 } do
      fn, http = relay(function() return bad end)
      c = emu:client { retries = false, transport = fn }
      for _, call in ipairs { function() return c:create_redislog_download_link(E.INSTANCE, E.LOG_ID) end,
        function() return c:download(emu.url .. "/x.log", os.tmpname() .. "-x") end } do
        local ok, res, derr = pcall(call)
        assert.is_true(ok, tostring(bad) .. ": raised " .. tostring(res))
        assert.is_nil(res)
        assert.are.equal("network", derr.kind, tostring(bad))
        assert.matches("not an HTTP status", derr.message)
      end
      c:close()
      http:close()
    end
  end)

  it("refuses a status that is no HTTP status from a streaming function too", function()
    local c = emu:client { retries = false, transport = function(req)
      local write, why = req.stream(200.5, { ["Content-Length"] = "2" })
      if not write then return nil, why end
      write("ok")
      return 200
    end }
    local path = os.tmpname()
    os.remove(path)
    local ok, res, err = pcall(c.download, c, "http://generated.invalid/x.log", path)
    c:close()
    assert.is_true(ok, tostring(res))
    assert.is_nil(res)
    assert.matches("not an HTTP status", err.message)
    assert.is_nil(io.open(path))
  end)

  it("refuses the ngx transport outside nginx with a clear error", function()
    local c = emu:client { transport = "ngx" }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("unsupported_phase", err.kind)
    assert.matches("needs OpenResty/nginx", err.message)
    assert.are.equal(0, #emu:requests())
  end)

  it("rejects an unknown transport name", function()
    assert.error_matches(function() emu:client { transport = "socket" } end,
      "option 'transport' must be \"curl\", \"ngx\" or a function")
    assert.error_matches(function() emu:client { transport = 42 } end, "must be a string or function")
  end)

  it("uses libcurl outside nginx by default, made on first use", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = emu.url }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    assert.matches("libcurl/", emu:last_request().headers["User-Agent"])
  end)
end)

describe("a URL's port", function()
  it("is refused before any transport sees it, when it is no port libcurl or nginx would read alike", function()
    local emu = E.start()
    local t = require("dcs.transport").select("curl", { timeout = 5 }).get()
    finally(function() t:close() emu:stop() end)
    local port = emu.url:match(":(%d+)$")
    for _, url in ipairs { "http://127.0.0.1:" .. port .. "x/", "http://127.0.0.1:99999/", "http://127.0.0.1:0/" } do
      local res, failure = t:request { method = "GET", url = url }
      assert.is_nil(res, url)
      assert.are.equal("invalid_argument", failure.kind, url .. ": " .. failure.message)
      assert.matches("port", failure.message)
    end
    assert.are.equal(0, #emu:requests())
  end)
end)

describe("dcs.validate.url", function()
  -- It remembers the last URL that passed: a fresh copy of the module, so
  -- that nothing has passed yet when the first value comes.
  local saved, v
  before_each(function()
    saved = package.loaded["dcs.validate"]
    package.loaded["dcs.validate"] = nil
    v = require "dcs.validate"
  end)
  after_each(function() package.loaded["dcs.validate"] = saved end)

  it("refuses what fails before and after a URL passed, and passes it again", function()
    for round = 1, 2 do
      for _, bad in ipairs { false, "", "ftp://h/x", "http://u:p@h/x", "http:///x", "http://h:0/", "http://h:65536/",
        "http://h:abc/", "http://h:/", "http://h:+80/", "http://:80/", "http://[]:80/", "http://[127.0.0.1]/",
        "http://::1:80/", "http://[::1]x/", "http://h:80:80/" } do
        local ok, why = v.url(bad)
        assert.is_nil(ok, tostring(bad))
        assert.is_string(why)
      end
      local ok, why = v.url(nil)
      assert.is_nil(ok)
      assert.equals("must be a string", why)
      for _, good in ipairs { "http://h:65535/", "http://h:1/", "http://[::1]:8080/", "http://[::1]?x",
        "https://h.:443" } do
        assert.equals(good, v.url(good))
      end
      assert.equals("http://h/a", v.url("http://h/a"), "round " .. round)
    end
    assert.equals("http://h/a", v.url("http://h/" .. "a"))
  end)
end)

describe("byte classes (core.bytes_are, core.bad_header)", function()
  local function alnum(c) return c:find("^%w$") ~= nil end
  local reference = {
    text = function(b) return b == 9 or (b >= 32 and b ~= 127) end,
    token = function(b) local c = string.char(b) return alnum(c) or ("!#$%&'*+-.^_`|~"):find(c, 1, true) ~= nil end,
    visible = function(b) return b >= 33 and b <= 126 end,
    id = function(b) local c = string.char(b) return alnum(c) or c == "." or c == "_" or c == "-" end,
  }

  it("puts every byte in the classes the definitions give, alone and among good bytes", function()
    for kind, is in pairs(reference) do
      for b = 0, 255 do
        local c = string.char(b)
        assert.equals(is(b) and (kind ~= "id" or alnum(c)), core.bytes_are(c, kind), kind .. " " .. b)
        -- a bad byte anywhere in a longer string, long enough for any unrolling
        for _, at in ipairs { 1, 2, 17, 40 } do
          local s = ("a"):rep(at - 1) .. c .. ("a"):rep(40 - at)
          assert.equals(is(b) and (kind ~= "id" or at > 1 or alnum(c)), core.bytes_are(s, kind),
            kind .. " " .. b .. " at " .. at)
        end
      end
    end
  end)

  it("wants tokens and ids not empty, ids starting with a letter or digit", function()
    assert.is_false(core.bytes_are("", "token"))
    assert.is_false(core.bytes_are("", "id"))
    assert.is_true(core.bytes_are("", "text"))
    assert.is_false(core.bytes_are(".a", "id"))
    assert.is_true(core.bytes_are("a.", "id"))
    assert.has_error(function() core.bytes_are("a", "tex") end)
    assert.has_error(function() core.bytes_are("a", "texts") end)
  end)

  it("agrees with the header parser's tokens (the names engine:start accepts)", function()
    local engine = core.engine()
    for b = 0, 255 do
      local name = "x" .. string.char(b)
      local ok, transfer = pcall(engine.start, engine, { url = "http://127.0.0.1:9/", headers = { [name] = "v" } })
      if ok then transfer:cancel() end
      assert.equals(reference.token(b), ok, "byte " .. b)
      assert.equals(not ok and "name" or nil, (core.bad_header { [name] = "v" }), "byte " .. b)
    end
    engine:close()
  end)

  it("names the first bad value of a header table", function()
    for b = 0, 255 do
      local what, name = core.bad_header { ok = "value", bad = "v" .. string.char(b) .. "v" }
      if reference.text(b) then
        assert.is_nil(what, "byte " .. b)
      else
        assert.same({ "value", "bad" }, { what, name }, "byte " .. b)
      end
    end
  end)
end)
