-- Regression tests for the hardening issue: each drives the public API
-- (or the dcs-logs command) the way an attacker or a hostile server would,
-- and failed before the fix.  The defect numbers follow the issue.
local cjson = require "cjson"
local core = require "dcs.core"
local dcs = require "dcs"
local E = require "support.emulator"
local files = require "support.files"
local sub = require "support.subprocess"
local cli = require "support.cli"

local tmpdir, entries, read = files.tmpdir, files.entries, files.read

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("hardening", function()
  local emu, dir
  lazy_setup(function()
    emu = E.start("--collect-delay 0.2")
  end)
  lazy_teardown(function() emu:stop() end)
  before_each(function()
    emu:reset()
    dir = tmpdir()
  end)
  after_each(function() files.remove_tree(dir) end)

  local function add_log(instance, file_name)
    return emu:admin("POST", "/_emulator/instances/" .. instance .. "/logs",
      { file_name = file_name, status = "succeed", size = 64, time = "2020-01-01" }).id
  end

  describe("1: names chosen by the server", function()
    it("dcs-logs download INSTANCE LOG never writes outside the current directory", function()
      local id = add_log(E.EMPTY_INSTANCE, "../../escape.log")
      local abs = add_log(E.EMPTY_INSTANCE, dir .. "/abs.log")
      local cwd = dir .. "/a/b"
      os.execute("mkdir -p " .. cwd)
      local status, out, err = cli.run(cwd, cli.env_for(emu, E), "download", E.EMPTY_INSTANCE, id)
      assert.are.equal(0, status, err)
      assert.is_false(exists(dir .. "/escape.log"))
      assert.are.same({ "escape.log" }, entries(cwd))
      assert.matches("saved escape%.log", out)
      status, out, err = cli.run(cwd, cli.env_for(emu, E), "download", E.EMPTY_INSTANCE, abs)
      assert.matches("saved abs%.log", out)
      assert.are.equal(0, status, err)
      assert.is_false(exists(dir .. "/abs.log"))
      assert.are.same({ "abs.log", "escape.log" }, entries(cwd))
    end)

    it("dcs-logs download LINK takes a safe base name from the link", function()
      local id = add_log(E.EMPTY_INSTANCE, "x")
      local client = emu:client()
      local link = assert(client:create_redislog_download_link(E.EMPTY_INSTANCE, id)).link
      client:close()
      -- the same file, reached through a link whose last segment decodes to ../../up.log
      emu:fault { match = { path_contains = "..%2F" }, times = -1,
        action = { respond = { status = 200, body = "sixty-four bytes" } } }
      local hostile = link:gsub("/_obs/([^/]+)/[^?]*", "/_obs/%1/..%%2F..%%2Fup.log")
      local cwd = dir .. "/a/b"
      os.execute("mkdir -p " .. cwd)
      local status, _, err = cli.run(cwd, cli.env_for(emu, E), "download", hostile)
      assert.are.equal(0, status, err)
      assert.is_false(exists(dir .. "/up.log"))
      assert.are.same({ "up.log" }, entries(cwd))
      -- a name the user gives is used as given
      status, _, err = cli.run(cwd, cli.env_for(emu, E), "download", hostile, "--output", "../mine.log")
      assert.are.equal(0, status, err)
      assert.is_true(exists(dir .. "/a/mine.log"))
    end)

    it("fetch_run_logs keeps duplicates, hidden names and escapes out of the file system", function()
      local names = { "dup.log", "dup.log", ".hidden", "../escape.log", "ansi\27]0;pwned\7\27[31m.log",
        "/abs.log" }
      for _, n in ipairs(names) do add_log(E.EMPTY_INSTANCE, n) end
      -- the first listing sees nothing, so every file above counts as new
      emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 200, json = { total_num = 0, file_list = {} } } } }
      local client = emu:client()
      local dest = dir .. "/dest"
      os.execute("mkdir -p " .. dest)
      local written, failed = client:fetch_run_logs(E.EMPTY_INSTANCE, { dest = dest, poll_interval = 0.05 })
      client:close()
      assert.is_table(written, tostring(failed))
      assert.are.same({}, failed)
      assert.are.equal(#names + 1, #written)         -- and the one the collection made
      local seen = {}
      for _, w in ipairs(written) do
        local base = w.path:sub(#dest + 2)
        assert.are.equal(dest .. "/" .. base, w.path)
        assert.is_nil(base:find("[/%c]"), base)
        assert.is_nil(base:find("^%."), base)
        assert.is_nil(seen[base], "two entries written to " .. base)
        seen[base] = true
      end
      assert.are.equal(#written, #entries(dest))
      assert.is_false(exists(dir .. "/escape.log"))
    end)

    it("dcs-logs list never prints control characters raw", function()
      add_log(E.EMPTY_INSTANCE, "ansi\27]0;pwned\7\27[31m.log")
      local status, out, err = cli.run(dir, cli.env_for(emu, E), "list", E.EMPTY_INSTANCE)
      assert.are.equal(0, status, err)
      assert.is_nil(out:find("\27", 1, true))
      assert.is_nil(out:find("\7", 1, true))
    end)
  end)

  describe("2: the partial file", function()
    it("never writes through a symlink planted at a predictable partial name (LuaJIT)", function()
      if not exists(sub.ROOT .. "/build/luajit/dcs/core.so") then
        assert(os.execute("make -s LUA=luajit >/dev/null"))
      end
      local client = emu:client()
      local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
      client:close()
      local victim = dir .. "/victim.txt"
      write(victim, "precious")
      local target = dir .. "/out.log"
      -- LuaJIT's math.random is the same in every process that did not seed it
      local p = io.popen("luajit -e 'io.write(math.random(0, 0x7fffffff))'")
      local r = p:read("*a")
      p:close()
      local now = os.time()
      for t = now - 2, now + 30 do
        os.execute(("ln -s %s %s"):format(victim, sub.quote(("%s.%d-%s-1.part"):format(target, t, r))))
      end
      os.execute(("ln -s %s %s.part"):format(victim, target))
      local code = ([[
        local dcs = require "dcs"
        local c = dcs.client { ak = %q, sk = %q, project = %q, endpoint = %q }
        local res, err = c:download(%q, %q)
        print(res and "ok" or tostring(err))
      ]]):format(E.AK, E.SK, E.PROJECT, emu.url, link, target)
      local f = assert(io.open(dir .. "/attack.lua", "w"))
      f:write(code)
      f:close()
      sub.shell(("cd %s && env -u LD_PRELOAD LUA_PATH=%s LUA_CPATH=%s luajit %s/attack.lua"):format(
        sub.ROOT, sub.quote(sub.LUA_PATH), sub.quote(sub.ROOT .. "/build/luajit/?.so;;"), dir))
      assert.are.equal("precious", read(victim))
    end)
  end)

  describe("3: header injection in the nginx transport", function()
    local N = require "support.nginx"
    local hs, nginx
    lazy_setup(function()
      assert(os.execute("make -s LUA=luajit >/dev/null"))
      hs = E.start_hostile()
      nginx = N.start { env = { HOSTILE = hs.url, SCRATCH = os.tmpname() }, server = [[
        location = /inject {
          content_by_lua_block {
            local dcs = require "dcs"
            local base = { ak = "AK", sk = "SK", project = "P", endpoint = os.getenv("HOSTILE"), retries = false }
            local case, evil = ngx.var.arg_case, "x\r\nX-Injected: 1"
            if case == "link" then
              local client = dcs.client(base)
              local _, err = client:download(os.getenv("HOSTILE") .. "/x\r\nX-Injected: 1\r\nY: z",
                os.getenv("SCRATCH"))
              client:close()
              return ngx.say(err and err.kind or "downloaded")
            end
            base[case] = evil
            local ok, client = pcall(dcs.client, base)
            if not ok then return ngx.say("refused") end
            local called, _, err = pcall(client.create_redislog_download_link, client, "i", "l")
            client:close()
            ngx.say("accepted ", called and (err and err.kind or "") or "raised")
          }
        }
      ]] }
    end)
    lazy_teardown(function()
      if nginx then nginx:stop() end
      hs:stop()
    end)

    it("refuses CR/LF in ak, user_agent and a download link before anything is sent", function()
      for _, c in ipairs { { "link", "invalid_argument" }, { "user_agent", "refused" }, { "ak", "refused" },
                           { "project", "refused" }, { "security_token", "refused" } } do
        local case, want = c[1], c[2]
        hs:clear_log()
        local res = assert(nginx:get("/inject?case=" .. case))
        assert.are.equal(200, res.status)
        assert.are.equal(want .. "\n", res.body, case)
        assert.are.same({}, hs:log(), case)
      end
    end)
  end)

  describe("5: dot segments and implausible ids", function()
    it("rejects '.' and '..' and other non-ids before sending", function()
      local client = emu:client()
      for _, args in ipairs {
        { "..", ".." }, { ".", E.LOG_ID }, { E.INSTANCE, ".." }, { "a/b", E.LOG_ID },
        { E.INSTANCE, "x?y" }, { E.INSTANCE, "x%2F.." }, { ("a"):rep(300), E.LOG_ID },
      } do
        local res, err = client:create_redislog_download_link(args[1], args[2])
        assert.is_nil(res)
        assert.are.equal("invalid_argument", err.kind)
      end
      local _, err = client:list_redislogs("..")
      assert.are.equal("invalid_argument", err.kind)
      client:close()
      assert.are.same({}, emu:requests())
      assert.has_error(function() emu:client { project = ".." } end)
      assert.has_error(function() emu:client { project = "a/b" } end)
    end)
  end)

  describe("6: secrets in error messages", function()
    local TOKEN = "SecurityTokenValue0123456789abcdefSECRET"

    it("redacts a security token that crosses the cut of a long non-JSON error body", function()
      local client = emu:client { security_token = TOKEN, retries = false }
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 500, body = ("x"):rep(500) .. TOKEN .. ("y"):rep(100) } } }
      local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      client:close()
      assert.are.equal("api", err.kind)
      assert.is_nil(tostring(err):find(TOKEN:sub(1, 8), 1, true))
    end)

    it("redacts the SK from a 2xx body that is not JSON", function()
      local client = emu:client { retries = false }
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 200, body = "oops " .. E.SK } } }
      local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      client:close()
      assert.are.equal("decode", err.kind)
      assert.is_nil(tostring(err):find(E.SK, 1, true))
    end)

    it("refuses credentials inside endpoints", function()
      local url = emu.url:gsub("^http://", "http://user:pw@")
      assert.has_error(function() emu:client { endpoint = url } end)
      assert.has_error(function() emu:client { endpoints = { emu.url, url } } end)
      assert.has_error(function() emu:client { endpoint = nil, region = "cn-north-4", iam_endpoint = url } end)
      local status, out = sub.run([[
        local ok, err = pcall(require("dcs").client, { ak = "A", sk = "B", project = "P", region = "cn-north-4" })
        print(ok and "accepted" or err)
      ]], { HUAWEICLOUD_SDK_REGION_DCS_CN_NORTH_4 = url })
      assert.are.equal(0, status)
      assert.matches("user", out)                    -- the option named...
      assert.not_matches("accepted", out)
      assert.not_matches("pw@", out)                 -- ...but not the password
    end)

    it("redacts proxy credentials that a server echoes", function()
      local proxy = E.start_proxy("--auth user:proxysecret")
      local client = emu:client { proxy = proxy.url:gsub("^http://", "http://user:proxysecret@"), retries = false }
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 500, body = "proxy said: user:proxysecret / dXNlcjpwcm94eXNlY3JldA==" } } }
      local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      client:close()
      proxy:stop()
      assert.are.equal("api", err.kind)
      assert.is_nil(tostring(err):find("proxysecret", 1, true))
      assert.is_nil(tostring(err):find("dXNlcjpwcm94eXNlY3JldA==", 1, true))
    end)

    it("redacts the credentials of a proxy given without a scheme or taken from the environment", function()
      -- libcurl quotes a proxy URL it cannot use in its error message
      local seen = {}
      local client = emu:client { proxy = "user:proxysecret@bad host:3128", retries = false,
        on_response = function(info) seen[#seen + 1] = info.error end }
      local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      client:close()
      assert.are.equal("network", err.kind)
      assert.matches("bad host", tostring(err))
      assert.is_nil(tostring(err):find("proxysecret", 1, true))
      assert.is_nil(seen[1]:find("proxysecret", 1, true))
      for _, proxy in ipairs { "http://user:proxysecret@bad host:3128", "user:proxysecret@bad host:3128" } do
        local status, out = sub.run(([[
          local c = require("dcs").client { ak = %q, sk = %q, project = %q, endpoint = %q, retries = false }
          local _, e = c:create_redislog_download_link(%q, %q)
          print(tostring(e))
        ]]):format(E.AK, E.SK, E.PROJECT, emu.url, E.INSTANCE, E.LOG_ID), { http_proxy = proxy })
        assert.are.equal(0, status, out)
        assert.matches("bad host", out)
        assert.is_nil(out:find("proxysecret", 1, true), out)
      end
      assert.are.equal(0, #emu:requests())
    end)
  end)

  describe("8: bounded work", function()
    it("stops paging when a server claims 10^18 files", function()
      emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = -1,
        action = { respond = { status = 200, json = { total_num = 1e18,
          file_list = { { id = "f", file_name = "f.log", status = "succeed" } } } } } }
      local client = emu:client()
      local n, last_err = 0, nil
      for file, err in client:each_redislog(E.INSTANCE) do
        n = n + 1
        if file == false then last_err = err break end
        if n > 300 then break end
      end
      client:close()
      assert.is_true(n <= 300, "each_redislog never stopped")
      assert.is_table(last_err)
    end)

    it("ignores a negative Retry-After instead of retrying at once", function()
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 429, headers = { ["Retry-After"] = "-100" },
          json = { error_code = "APIGW.0308", error_msg = "throttled" } } } }
      local client = emu:client { retries = { max = 1, base = 0.01, cap = 0.02 } }
      local waits = {}
      client.sleep = function(s) waits[#waits + 1] = s end
      assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
      client:close()
      assert.are.equal(1, #waits)
      assert.is_true(waits[1] > 0 and waits[1] <= 0.02)
    end)
  end)

  describe("7: resuming only what the server proves", function()
    local hs
    lazy_setup(function() hs = E.start_hostile() end)
    lazy_teardown(function() hs:stop() end)
    before_each(function() hs:reset() end)

    it("does not splice a changed file when the server gave no validator", function()
      local d = hs:file { path = "/f.log", size = 100000, etag = cjson.null, last_modified = cjson.null,
        tricks = { drop_after = { 30000 }, change_after = 1 } }
      local client = emu:client()
      local res, err = client:download(hs.url .. "/f.log", dir .. "/f.log")
      client:close()
      local now = hs:file_sha256("/f.log").sha256
      assert.are_not.equal(d.sha256, now)
      if res then
        assert.are.equal(now, res.sha256)
        assert.are.equal(now, core.sha256_hex(read(dir .. "/f.log")))
      else
        assert.are.equal("network", err.kind)
        assert.are.same({}, entries(dir))
      end
    end)

    it("starts over when Content-Range does not continue the partial file", function()
      local numbers = {}
      for i = 1, 200 do numbers[i] = ("%05d"):format(i) end
      local body = table.concat(numbers)             -- 1000 bytes, no two 500-byte halves alike
      local head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nETag: \"v1\"\r\n\r\n"
      hs:script { match = { path_prefix = "/r.log" }, times = 1,
        steps = { { send = head .. body:sub(1, 500) }, { close = true } } }
      -- asked for bytes=500-, it answers with the first 500 bytes again
      hs:script { match = { path_prefix = "/r.log" }, times = 1, steps = { { respond = { status = 206,
        headers = { ["Content-Range"] = "bytes 0-499/1000", ETag = '"v1"' }, body = body:sub(1, 500) } } } }
      hs:script { match = { path_prefix = "/r.log" }, times = 1, steps = { { respond = { status = 200,
        headers = { ETag = '"v1"' }, body = body } } } }
      local client = emu:client()
      local res, err = client:download(hs.url .. "/r.log", dir .. "/r.log")
      client:close()
      assert.is_table(res, tostring(err))
      assert.are.equal(core.sha256_hex(body), res.sha256)
      assert.are.equal(body, read(dir .. "/r.log"))
    end)
  end)

  describe("8: bounded work against a hostile server", function()
    local hs
    lazy_setup(function() hs = E.start_hostile() end)
    lazy_teardown(function() hs:stop() end)
    before_each(function() hs:reset() end)

    local function hostile_client(opts)
      local o = { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = hs.url }
      for k, v in pairs(opts or {}) do o[k] = v end
      return dcs.client(o)
    end

    it("does not retry a body over the size cap", function()
      hs:script { match = { path_contains = "/links" }, times = -1, steps = { { respond = { status = 200,
        body_repeat = { text = ("x"):rep(1024), count = 64 * 1024 + 1 } } } } }
      local client = hostile_client { retries = { max = 3, base = 0.01, cap = 0.05 } }
      local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      client:close()
      assert.are.equal("too_large", err.reason)
      assert.is_false(err.retryable)
      assert.are.equal(1, hs:stats().requests)
    end)

    it("fails a download that drips below the minimum speed", function()
      hs:file { path = "/drip.log", size = 100, tricks = { drip_interval = 0.5 } }
      local client = emu:client()
      local t0 = core.monotime()
      local res, err = client:download(hs.url .. "/drip.log", dir .. "/drip.log", { stall_timeout = 2 })
      local took = core.monotime() - t0
      client:close()
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      assert.is_true(took >= 2 and took < 6, "took " .. took)
      -- nothing at the path; only the partial file a later call may resume
      assert.are.same({ "drip.log.part", "drip.log.part.meta" }, entries(dir))
    end)

    it("spends one connect timeout on a stalled TLS handshake, not one per resume", function()
      local url = hs:listener("tls_silent")
      local client = emu:client { connect_timeout = 1 }
      local t0 = core.monotime()
      local res, err = client:download(url .. "/x.log", dir .. "/x.log")
      local took = core.monotime() - t0
      client:close()
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      assert.is_true(took >= 1 and took < 3, "took " .. took)
    end)
  end)

  describe("9: numbers", function()
    it("refuses timeouts that would become 'none' or overflow", function()
      for _, v in ipairs { 0.0009, 0, -1, math.huge, -math.huge, 0 / 0, 1e300, 2 ^ 63 } do
        assert.has_error(function() emu:client { timeout = v } end, nil, tostring(v))
        assert.has_error(function() emu:client { connect_timeout = v } end, nil, tostring(v))
      end
      local client = emu:client()
      for _, v in ipairs { 0.0009, math.huge, 0 / 0, 1e300, 2 ^ 63 } do
        local _, err = client:list_redislogs(E.INSTANCE, { timeout = v })
        assert.are.equal("invalid_argument", err.kind)
        _, err = client:download("http://127.0.0.1:9/x", dir .. "/x", { timeout = v })
        assert.are.equal("invalid_argument", err.kind)
      end
      client:close()
      assert.are.same({}, emu:requests())
    end)

    it("refuses query numbers that are not finite integers in range", function()
      local client = emu:client()
      for _, v in ipairs { math.huge, -math.huge, 0 / 0, 1e300, 2 ^ 63, 2 ^ 53 + 2, 1.5 } do
        local _, err = client:list_redislogs(E.INSTANCE, { offset = v })
        assert.are.equal("invalid_argument", err.kind, tostring(v))
      end
      client:close()
      assert.are.same({}, emu:requests())
    end)

    it("refuses these values in the C layer without undefined casts", function()
      for _, v in ipairs { math.huge, 0 / 0, 1e300, 2 ^ 63, -1 } do
        assert.has_error(function() core.http { timeout = v } end)
        assert.has_error(function() core.http { connect_timeout = v } end)
        assert.has_error(function() core.http { max_body = v } end)
        local h = core.http()
        assert.has_error(function() h:request { url = "http://127.0.0.1:9/", timeout = v } end)
        h:close()
      end
      for _, v in ipairs { math.huge, -math.huge, 0 / 0, 1e300, 2 ^ 63 } do
        assert.has_error(function()
          core.sign { method = "GET", url = "http://h/", ak = "a", sk = "b", query = { n = v } }
        end)
      end
    end)
  end)

  describe("10: validation in the constructor, nil, err at run time", function()
    it("refuses CR, LF and NUL in ak, sk, project, user_agent and security_token", function()
      for _, bad in ipairs { "a\r\nX-Injected: 1", "a\nb", "a\0b" } do
        for _, field in ipairs { "ak", "project", "user_agent", "security_token" } do
          assert.has_error(function() emu:client { [field] = bad } end, nil, field)
        end
      end
    end)

    it("refuses retry settings that would overflow a sleep", function()
      assert.has_error(function() emu:client { retries = { base = 1e308, cap = 1e308 } } end)
      assert.has_error(function() emu:client { retries = { cap = math.huge } } end)
      local client = emu:client()
      local _, err = client:list_redislogs(E.INSTANCE, { retries = { cap = 0 / 0 } })
      assert.are.equal("invalid_argument", err.kind)
      client:close()
    end)

    it("returns invalid_argument for wrong-typed download options", function()
      local client = emu:client()
      for _, opts in ipairs {
        { resume = "yes" }, { max_resumes = "5" }, { max_resumes = -1 }, { max_resumes = 1.5 },
        { stall_timeout = "60" }, { stall_timeout = 0 / 0 }, { timeout = "x" }, { progress = 1 },
        { bogus = true },
      } do
        local ok, res, err = pcall(client.download, client, "http://127.0.0.1:9/x", dir .. "/x", opts)
        assert.is_true(ok, tostring(res))
        assert.is_nil(res)
        assert.are.equal("invalid_argument", err.kind)
      end
      client:close()
    end)

    local hostile_bodies = {
      list = {
        { file_list = { 1, 2, 3 }, total_num = 3 },
        { file_list = "x", total_num = 1 },
        { file_list = {}, total_num = "5" },
        { file_list = { { id = {}, file_name = "a" } }, total_num = 1 },
        { total_num = -1, file_list = {} },
      },
    }

    it("never raises on hostile listing bodies", function()
      local client = emu:client { retries = false }
      for _, body in ipairs(hostile_bodies.list) do
        emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = 1,
          action = { respond = { status = 200, json = body } } }
        local ok, res, err = pcall(client.list_redislogs, client, E.INSTANCE)
        assert.is_true(ok, tostring(res))
        assert.is_nil(res)
        assert.are.equal("decode", err.kind)
      end
      client:close()
    end)

    it("never raises on a hostile IAM project answer", function()
      for _, projects in ipairs { { { name = "cn-north-4" } }, { { id = {} } }, { 1 }, "x" } do
        emu:fault { match = { path_prefix = "/v3/projects" }, times = 1,
          action = { respond = { status = 200, json = { projects = projects } } } }
        local client = dcs.client { ak = E.AK, sk = E.SK, region = "cn-north-4", endpoint = emu.url,
          iam_endpoint = emu.url, retries = false }
        local ok, res, err = pcall(client.list_redislogs, client, E.INSTANCE)
        client:close()
        assert.is_true(ok, tostring(res))
        assert.is_nil(res)
        assert.is_table(err)
      end
    end)

    it("never raises on a hostile metadata answer", function()
      for _, credential in ipairs {
        { access = "AK", secret = "SK", securitytoken = {} },
        { access = "AK", secret = "SK", securitytoken = "a\r\nX-Injected: 1" },
        { access = {}, secret = "SK" },
        { access = "A\r\nK", secret = "SK" },
      } do
        emu:fault { match = { path_prefix = "/openstack/latest/securitykey" }, times = 1,
          action = { respond = { status = 200, json = { credential = credential } } } }
        local status, out = sub.run(([[
          local dcs = require "dcs"
          local c = dcs.client { project = "P", endpoint = %q, metadata_endpoint = %q, retries = false }
          local ok, res, err = pcall(c.list_redislogs, c, "i")
          print(ok and (res and "res" or ("err " .. err.kind)) or ("raised " .. tostring(res)))
        ]]):format(emu.url, emu.url), { HOME = "/nonexistent" })
        assert.are.equal(0, status)
        assert.matches("^err credentials", out)
      end
      assert.are.same({}, (function()
        local sent = {}
        for _, r in ipairs(emu:requests()) do
          if r.path:find("/redislog") then sent[#sent + 1] = r end
        end
        return sent
      end)())
    end)
  end)

  describe("11: smaller ones", function()
    it("dcs.sign refuses an ak with CR or LF", function()
      assert.has_error(function()
        dcs.sign { method = "GET", url = "http://h/", ak = "AK\r\nX-Injected: 1", sk = "SK" }
      end)
    end)

    it("refuses a download path with a NUL byte and leaves the file it names alone", function()
      write(dir .. "/keep", "keep me")
      local client = emu:client()
      local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
      local res, err = client:download(link, dir .. "/keep\0.log")
      client:close()
      assert.is_nil(res)
      assert.are.equal("invalid_argument", err.kind)
      assert.are.equal("keep me", read(dir .. "/keep"))
      assert.are.same({ "keep" }, entries(dir))
    end)

    it("does not hang on a credentials file that is a FIFO, nor read /dev/zero", function()
      os.execute("mkfifo " .. dir .. "/fifo")
      for _, path in ipairs { dir .. "/fifo", "/dev/zero" } do
        local status, out = sub.shell(("cd %s && timeout 10 env -u LD_PRELOAD HOME=/nonexistent "
          .. "HUAWEICLOUD_SDK_METADATA_ENDPOINT=http://127.0.0.1:9 HUAWEICLOUD_SDK_CREDENTIALS_FILE=%s "
          .. "LUA_PATH=%s LUA_CPATH=%s %s -e %s 2>&1"):format(sub.ROOT, path, sub.quote(sub.LUA_PATH),
          sub.quote(sub.LUA_CPATH), sub.LUA, sub.quote([[
            local c = require("dcs").client { project = "P", endpoint = "http://127.0.0.1:9", retries = false }
            local _, err = c:list_redislogs("i")
            print(err.kind)
          ]])))
        assert.are_not.equal(124, status, "timed out on " .. path)
        assert.matches("credentials", out)
      end
    end)
  end)
end)
