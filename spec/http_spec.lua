-- The libcurl transport's contract (csrc/lhttp.c): the body sink (head,
-- file, progress), failures by kind and reason, malformed responses,
-- argument checks, and header anchoring against finalizers that change
-- the caller's tables mid-call.
local core = require "dcs.core"
local E = require "support.emulator"
local files = require "support.files"
local sub = require "support.subprocess"

local read = files.read

describe("core.http request", function()
  local emu, dir, link, big_link, expected, big
  lazy_setup(function()
    emu = E.start()
    dir = files.tmpdir()
  end)
  lazy_teardown(function()
    emu:stop()
    files.remove_tree(dir)
  end)
  -- Fresh emulator state for each test: the seeded log, and a 1 MiB one
  -- (several progress calls).
  before_each(function()
    emu:reset()
    os.execute("rm -f " .. dir .. "/*")
    local c = emu:client()
    link = assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
    local id = emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { size = 1024 * 1024 }).id
    big_link = assert(c:create_redislog_download_link(E.INSTANCE, id)).link
    c:close()
    if not big then
      local http = core.http()
      expected = assert(http:request { url = link }).body
      big = assert(http:request { url = big_link }).body
      http:close()
    end
  end)

  local n = 0
  local function new_file(opts)
    n = n + 1
    local path = dir .. "/f" .. n
    return assert(core.open_file(path, "new", opts)), path
  end

  local function raw(text)
    emu:fault { match = { path_prefix = "/raw" }, times = 1, action = { raw = text } }
    return emu.url .. "/raw"
  end

  describe("sink", function()
    it("streams the body into the file after head says true", function()
      local t = core.http()
      local file, path = new_file { sha256 = true }
      local heads, seen = {}, {}
      local res = assert(t:request { url = big_link, sink = { file = file,
        head = function(status, headers)
          heads[#heads + 1] = { status = status, headers = headers }
          return true
        end,
        progress = function(bytes) seen[#seen + 1] = bytes end } })
      t:close()
      assert.are.equal(200, res.status)
      assert.are.equal("", res.body)
      assert.are.equal(1, #heads)
      assert.are.equal(200, heads[1].status)
      assert.are.equal(tostring(#big), heads[1].headers["content-length"])   -- lower-case names
      assert.are.equal(heads[1].headers, res.headers)
      assert.is_nil(res.bytes)
      assert.is_nil(res.restarted)
      assert.are.equal(#big, file:size())
      assert.are.equal(core.sha256_hex(big), file:sha256())
      file:close()
      assert.are.equal(big, read(path))
      -- progress: integers, growing by at least 256 KiB, the last one the total
      assert.is_true(#seen >= 2 and #seen <= 5, "calls: " .. #seen)
      for i, bytes in ipairs(seen) do
        assert.is_true(math.type == nil or math.type(bytes) == "integer")
        if i > 1 and i < #seen then assert.is_true(bytes - seen[i - 1] >= 256 * 1024) end
        if i > 1 then assert.is_true(bytes > seen[i - 1]) end
      end
      assert.are.equal(#big, seen[#seen])
    end)

    it("calls progress once, at the end, for a small body", function()
      local t = core.http()
      local file = new_file()
      local seen = {}
      assert(t:request { url = link, sink = { file = file, head = function() return true end,
        progress = function(bytes) seen[#seen + 1] = bytes end } })
      t:close()
      file:close()
      assert.are.same({ #expected }, seen)
    end)

    it("buffers the body when head says false", function()
      local t = core.http()
      local file = new_file()
      local calls = 0
      local res = assert(t:request { url = link, sink = { file = file, head = function() return false end,
        progress = function() calls = calls + 1 end } })
      t:close()
      assert.are.equal(expected, res.body)
      assert.are.equal(0, file:size())
      assert.are.equal(0, calls)
      file:close()
    end)

    it("without head, streams a 2xx body and buffers any other", function()
      local t = core.http()
      local file = new_file()
      assert.are.equal("", assert(t:request { url = link, sink = { file = file } }).body)
      assert.are.equal(#expected, file:size())
      emu:config { link_ttl = -1 }
      local c = emu:client()
      local expired = assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
      c:close()
      local res = assert(t:request { url = expired, sink = { file = file } })
      assert.are.equal(403, res.status)
      assert.matches("AccessDenied", res.body)
      assert.are.equal(#expected, file:size())
      t:close()
      file:close()
    end)

    it("stops the transfer when head refuses", function()
      local t = core.http()
      local file = new_file()
      local res, failure = t:request { url = link, sink = { file = file,
        head = function(status) return nil, "not what I asked for: " .. status end } }
      t:close()
      assert.is_nil(res)
      assert.are.equal("aborted", failure.kind)
      assert.are.equal("refused", failure.reason)
      assert.are.equal("not what I asked for: 200", failure.message)
      assert.are.equal(200, failure.status)
      assert.are.equal(tostring(#expected), failure.headers["content-length"])
      assert.are.equal(0, file:size())
      file:close()
      -- nil without a message
      t = core.http()
      res, failure = t:request { url = link, sink = { head = function() return nil end } }
      t:close()
      assert.is_nil(res)
      assert.are.equal("refused", failure.reason)
      assert.matches("refused by sink.head", failure.message)
    end)

    it("fails with reason callback when head raises or answers nonsense", function()
      local t = core.http()
      local cases = {
        { function() error("head broke") end, "sink.head failed: .*head broke" },
        { function() error({}) end, "sink.head failed: table" },
        { function() return 42 end, "must return true, false or nil, message %(got a number%)" },
        { function() return true end, "the sink has no file" },
      }
      for _, case in ipairs(cases) do
        local res, failure = t:request { url = link, sink = { head = case[1] } }
        assert.is_nil(res)
        assert.are.equal("aborted", failure.kind)
        assert.are.equal("callback", failure.reason)
        assert.matches(case[2], failure.message)
        assert.are.equal(200, failure.status)
      end
      t:close()
    end)

    it("calls head when there is no body", function()
      local t = core.http()
      local statuses = {}
      local res = assert(t:request { method = "HEAD", url = link, sink = { head = function(status)
        statuses[#statuses + 1] = status
        return false
      end } })
      t:close()
      assert.are.same({ 200 }, statuses)
      assert.are.equal("", res.body)
    end)

    it("never calls head for an interim 1xx answer", function()
      local t = core.http()
      local heads = {}
      local url = raw("HTTP/1.1 100 Continue\r\n\r\n"
        .. "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        .. "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nhi")
      local res = assert(t:request { url = url, sink = { head = function(status, headers)
        heads[#heads + 1] = status
        assert.is_nil(headers.link)
        return false
      end } })
      t:close()
      assert.are.same({ 200 }, heads)
      assert.are.equal("yes", res.headers["x-final"])
      assert.is_nil(res.headers.link)
      assert.are.equal("hi", res.body)
    end)

    it("cancels when progress returns false", function()
      local t = core.http()
      local file = new_file()
      local res, failure = t:request { url = big_link, sink = { file = file, head = function() return true end,
        progress = function() return false end } }
      t:close()
      assert.is_nil(res)
      assert.are.equal("aborted", failure.kind)
      assert.are.equal("cancelled", failure.reason)
      assert.are.equal(200, failure.status)
      assert.is_true(file:size() >= 256 * 1024 and file:size() < #big)
      file:close()
    end)

    it("fails with reason callback when progress raises", function()
      local t = core.http()
      local file = new_file()
      local res, failure = t:request { url = big_link, sink = { file = file, head = function() return true end,
        progress = function() error("progress broke") end } }
      t:close()
      file:close()
      assert.is_nil(res)
      assert.are.equal("aborted", failure.kind)
      assert.are.equal("callback", failure.reason)
      assert.matches("sink.progress failed: .*progress broke", failure.message)
    end)

    it("fails with reason write when the file refuses bytes", function()
      -- a child with a small file size limit (SIGXFSZ ignored): EFBIG
      local script = dir .. "/limited.lua"
      local f = assert(io.open(script, "w"))
      f:write(([[
        local core = require "dcs.core"
        local file = assert(core.open_file(%q, "new"))
        local t = core.http()
        local res, failure = t:request { url = %q, sink = { file = file, head = function() return true end } }
        print(res, failure.kind, failure.reason, failure.status, failure.message)
      ]]):format(dir .. "/out", big_link))
      f:close()
      local status, out = sub.run_file_limited(script, 64)
      assert.are.equal(0, status, out)
      assert.matches("^nil\taborted\twrite\t200\tcannot write the body to the file: File too large %(efbig%)\n$", out)
    end)

    it("checks the sink's fields", function()
      local t = core.http()
      for _, sink in ipairs { 1, { file = "path" }, { file = io.stdout }, { head = 1 }, { progress = "x" } } do
        assert.error_matches(function() t:request { url = link, sink = sink } end, "sink")
      end
      t:close()
    end)
  end)

  describe("responses", function()
    it("without a sink: status, headers, body, new_connections, elapsed", function()
      local t = core.http()
      local res = assert(t:request { url = link })
      t:close()
      assert.are.equal(200, res.status)
      assert.are.equal(expected, res.body)
      assert.are.equal(1, res.new_connections)
      assert.is_number(res.elapsed)
      assert.is_string(res.headers["x-request-id"])
    end)

    it("joins repeated header names with a comma", function()
      local t = core.http()
      local res = assert(t:request { url = raw("HTTP/1.1 200 OK\r\nX-Rep: a\r\nx-rep: b\r\n"
        .. "Content-Length: 0\r\n\r\n") })
      t:close()
      assert.are.equal("a, b", res.headers["x-rep"])
    end)

    -- libcurl leaves "Name:" and blanks out of the request; the signer
    -- signs such a header (trimmed) as empty, so it must go, as empty.
    it("sends a header whose value is empty or only blanks, as empty", function()
      local t = core.http()
      assert(t:request { url = emu.url .. "/blank", headers = { ["X-Empty"] = "", ["X-Blank"] = "  \t ",
        ["X-Kept"] = " v " } })
      t:close()
      local h = emu:last_request().headers
      assert.are.equal("", h["X-Empty"])
      assert.are.equal("", h["X-Blank"])
      assert.are.equal("v", h["X-Kept"]:match("^%s*(.-)%s*$"))
    end)

    it("fails a malformed header block with reason bad_response", function()
      local t = core.http()
      for _, block in ipairs {
        "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Ctl: a\1b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 0\r\n\r\n",
      } do
        local heads = 0
        local res, failure = t:request { url = raw(block), sink = { head = function()
          heads = heads + 1
          return false
        end } }
        assert.is_nil(res, block)
        assert.are.equal("network", failure.kind)
        assert.are.equal("bad_response", failure.reason)
        assert.matches("malformed", failure.message)
        assert.is_nil(failure.status)
        assert.are.equal(0, heads)
      end
      t:close()
    end)

    it("fails a transfer slower than min_speed with reason stall", function()
      local t = core.http()
      emu:fault { match = { path_prefix = "/_obs/" }, times = 1, action = { delay = 4 } }
      local started = core.monotime()
      local res, failure = t:request { url = link, stall_timeout = 1 }
      assert.is_nil(res)
      assert.are.equal("timeout", failure.kind)
      assert.are.equal("stall", failure.reason)
      assert.is_true(core.monotime() - started < 3.5)
      emu:fault { match = { path_prefix = "/_obs/" }, times = 1, action = { delay = 3 } }
      res, failure = t:request { url = link, timeout = 0.5, stall_timeout = 60 }
      assert.is_nil(res)
      assert.are.equal("timeout", failure.kind)
      assert.are.equal("timeout", failure.reason)
      t:close()
    end)

    it("sends several transfers over one handle, sink or not", function()
      local t = core.http()
      for i = 1, 4 do
        local file = new_file()
        local res = assert(t:request { url = link, sink = i % 2 == 0 and { file = file } or nil })
        assert.are.equal(i % 2 == 0 and "" or expected, res.body)
        assert.are.equal(i == 1 and 1 or 0, res.new_connections)
        file:close()
      end
      t:close()
    end)
  end)

  describe("arguments", function()
    local t
    before_each(function() t = core.http() end)
    after_each(function() t:close() end)

    local function raises(req, pattern)
      req.url = req.url or "http://127.0.0.1:1/"
      assert.error_matches(function() t:request(req) end, pattern)
    end

    it("refuse header names that are not tokens and values with CR, LF or NUL", function()
      raises({ headers = { ["Bad Name"] = "x" } }, "not an HTTP token")
      raises({ headers = { ["X-A:"] = "x" } }, "not an HTTP token")
      raises({ headers = { [""] = "x" } }, "not an HTTP token")
      raises({ headers = { ["X-A\0"] = "x" } }, "not an HTTP token")
      raises({ headers = { ["X-A"] = "a\r\nX-Injected: 1" } }, "CR, LF or NUL")
      raises({ headers = { ["X-A"] = "a\nb" } }, "CR, LF or NUL")
      raises({ headers = { ["X-A"] = "a\0b" } }, "CR, LF or NUL")
      raises({ headers = { ["X-A"] = true } }, "map names to strings")
      raises({ headers = { "positional" } }, "map names to strings")
      raises({ headers = "X-A: 1" }, "headers must be a table")
    end)

    it("refuse more than 1000 headers", function()
      local headers = {}
      for i = 1, 1001 do headers["X-H" .. i] = "v" end
      raises({ headers = headers }, "too many headers %(at most 1000%)")
      headers["X-H1001"] = nil
      local res = t:request { url = "http://127.0.0.1:1/", headers = headers, connect_timeout = 1 }
      assert.is_nil(res)                          -- refused by the closed port, not by the check
    end)

    it("refuse a method that is not upper-case letters and a URL with blanks or controls", function()
      raises({ method = "get" }, "method must be upper%-case letters")
      raises({ method = "" }, "method must be upper%-case letters")
      raises({ url = "http://127.0.0.1:1/a b" }, "url must not contain whitespace")
      raises({ url = "http://127.0.0.1:1/a\r\nX: 1" }, "url must not contain whitespace")
      raises({ url = "http://127.0.0.1:1/\0" }, "url must not contain whitespace")
      raises({ url = "" }, "url must be a non%-empty string")
      assert.has_error(function() t:request {} end)
    end)

    it("refuse network options with a NUL byte, which libcurl would cut short", function()
      local e = core.engine()
      for _, name in ipairs { "ca_file", "proxy", "no_proxy", "user_agent" } do
        local opts = { [name] = "x\0y" }
        assert.error_matches(function() core.http(opts) end, "'" .. name .. "' must not contain a NUL byte")
        assert.error_matches(function() e:start({ url = "http://127.0.0.1:1/" }, opts) end,
          "'" .. name .. "' must not contain a NUL byte")
      end
      assert.are.equal(0, e:running())
      e:close()
    end)

    it("range-check every number before using it", function()
      for _, bad in ipairs { 0 / 0, math.huge, -math.huge, 1e300, 2 ^ 63, 0, 0.0005, -1 } do
        for _, name in ipairs { "timeout", "stall_timeout", "min_speed" } do
          raises({ [name] = bad }, name)
        end
        for _, name in ipairs { "timeout", "connect_timeout" } do
          assert.error_matches(function() core.http { [name] = bad } end, name)
        end
        if bad ~= 0 then
          assert.error_matches(function() core.http { max_body = bad } end, "max_body")
        end
        assert.error_matches(function() core.http { max_body = 1.5 } end, "max_body")
      end
      raises({ timeout = "10" }, "timeout")
      raises({ timeout = true }, "timeout")
      -- in range: a refused connection, not an error
      for _, req in ipairs { { timeout = false }, { timeout = 0.001 }, { timeout = 1e6 },
        { stall_timeout = 0.001, min_speed = 1e9 } } do
        req.url = "http://127.0.0.1:1/"
        local res, failure = t:request(req)
        assert.is_nil(res)
        assert.are.equal("network", failure.kind)
      end
      core.http { timeout = false, connect_timeout = 0.001, max_body = 0 }:close()
    end)
  end)

  describe("header anchoring", function()
    -- Finalizers that add keys to the headers table while the call
    -- allocates: the call must use its own copy, never crash, and send
    -- only what it copied.
    local STRESS = [[
      local core, url, rounds = ...
      -- the most eager collector, so finalizers run inside the calls; put
      -- back afterwards (a pause of 0 left behind slows every later spec)
      local pause, stepmul
      if _VERSION == "Lua 5.4" then collectgarbage("incremental", 0, 1000)
      else pause, stepmul = collectgarbage("setpause", 0), collectgarbage("setstepmul", 1000) end
      local function finalized(fn)     -- LuaJIT runs __gc only for userdata
        if newproxy then
          local p = newproxy(true)
          getmetatable(p).__gc = fn
          return p
        end
        return setmetatable({}, { __gc = fn })
      end
      local t = core.http()
      local ok_count = 0
      for round = 1, rounds do
        local headers = {}
        for i = 1, 40 do headers["X-H" .. i] = i % 2 == 0 and ("v" .. i) or i end
        for i = 1, 200 do
          finalized(function()
            headers["X-Gc-" .. round .. "-" .. i] = ("g"):rep(i)
            headers["X-H" .. (i % 40 + 1)] = nil
          end)
        end
        local ok, res = pcall(t.request, t, { url = url, headers = headers })
        if ok and res then ok_count = ok_count + 1 end
      end
      t:close()
      if _VERSION == "Lua 5.4" then collectgarbage("incremental", 200, 100)     -- 5.4's defaults
      else collectgarbage("setpause", pause) collectgarbage("setstepmul", stepmul) end
      collectgarbage("restart")
      return ok_count
    ]]

    it("survives finalizers changing the headers table mid-call", function()
      local ok_count = assert(load(STRESS))(core, emu.url .. "/_emulator/health", 30)
      collectgarbage()
      assert.is_true(ok_count > 0)
    end)

    it("survives it in a fresh process too", function()
      local env = {}
      local cpath = sub.LUA_CPATH
      -- under the ASan stage, the child loads the instrumented module as well
      if package.cpath:find("build/asan/", 1, true) then
        sub.LUA_CPATH = sub.ROOT .. "/build/asan/?.so;;"
        env.LD_PRELOAD, env.ASAN_OPTIONS = os.getenv("LD_PRELOAD"), os.getenv("ASAN_OPTIONS")
      end
      local status, out = sub.run(([[
        local n = assert(load(%q))(require "dcs.core", %q, 100)
        print("ok " .. n)
      ]]):format(STRESS, emu.url .. "/_emulator/health"), env)
      sub.LUA_CPATH = cpath
      assert.are.equal(0, status, out)
      assert.matches("^ok %d+\n$", out)
    end)
  end)
end)
