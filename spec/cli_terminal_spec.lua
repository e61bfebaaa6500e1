-- dcs-logs on a real terminal (a pseudo-terminal made by script(1)):
-- progress bars and waiting lines on stderr, only there.
local E = require "support.emulator"
local cli = require "support.cli"

local unpack = table.unpack or unpack

local SIZE = 1024 * 1024
local CHUNK = 64 * 1024

describe("dcs-logs on a terminal", function()
  local s = cli.servers()       -- s.hs, s.emu, s.dir
  lazy_setup(s.start)
  lazy_teardown(s.stop)
  before_each(s.reset)

  -- /slow.log: SIZE bytes at about 640 KiB/s, so the bar has a speed and a time left.
  local function slow_file()
    local served = s.hs:file { path = "/slow.log", size = SIZE }
    local res = assert(s.hs.http:request { method = "GET", url = s.hs.url .. "/slow.log" })
    local steps = { { respond = { status = 200, content_length = SIZE, body = "",
      headers = { ETag = res.headers.etag } } } }
    for at = 1, SIZE, CHUNK do
      steps[#steps + 1] = { send = res.body:sub(at, at + CHUNK - 1) }
      steps[#steps + 1] = { sleep = 0.1 }
    end
    s.hs:script { match = { path_prefix = "/slow.log" }, times = 1, steps = steps }
    return served
  end

  it("draws a progress bar with speed and time left on stderr; stdout gets the result alone", function()
    local served = slow_file()
    local shown = cli.tty(s.dir, "", { "download", s.hs.url .. "/slow.log" }, "> out.txt", 100)
    assert.matches("\rslow%.log  ?%d+%% %[#*%-+%] [%d.]+ KiB / 1%.0 MiB  [%d.]+ [KM]iB/s  ETA [%d.]+s", shown)
    assert.matches("\rslow%.log 100%% %[#+%] 1%.0 MiB / 1%.0 MiB  [%d.]+ [KM]iB/s  in [%d.]+s", shown)
    for line in shown:gmatch("[^\n]+") do
      local last = line:match("([^\r]*)\r?$")
      assert.is_true(#last <= 100, last)                -- never wider than the terminal
    end
    assert.is_nil(shown:find("saved", 1, true))
    local out = cli.read_all(s.dir .. "/out.txt")
    assert.are.equal(("saved slow.log (1.0 MiB, sha256 %s)\n"):format(served.sha256), out)
  end)

  it("shows a speed under 1 KiB/s, a fraction of a byte included, as whole bytes", function()
    -- 256 KiB (one progress report), then 1000 bytes 1.5 s later: the
    -- last report's speed is about 666.7 B/s
    local size = 256 * 1024 + 1000
    local served = s.hs:file { path = "/crawl.log", size = size }
    local res = assert(s.hs.http:request { method = "GET", url = s.hs.url .. "/crawl.log" })
    s.hs:script { match = { path_prefix = "/crawl.log" }, times = 1, steps = {
      { respond = { status = 200, content_length = size, body = "", headers = { ETag = res.headers.etag } } },
      { send = res.body:sub(1, 256 * 1024) }, { sleep = 1.5 }, { send = res.body:sub(256 * 1024 + 1) } } }
    local shown = cli.tty(s.dir, "", { "download", s.hs.url .. "/crawl.log" }, "> out.txt", 100)
    assert.matches("\rcrawl%.log 100%% %[#+%] 257%.0 KiB / 257%.0 KiB  %d+ B/s  in [%d.]+s", shown)
    assert.are.equal(("saved crawl.log (257.0 KiB, sha256 %s)\n"):format(served.sha256),
      cli.read_all(s.dir .. "/out.txt"))
  end)

  it("takes a COLUMNS that is not a whole number of columns for none", function()
    for _, value in ipairs { "70.5", "nan", "inf", "0x20", "-5", "0" } do
      os.execute("rm -f " .. s.dir .. "/*")
      local shown = cli.tty(s.dir, "COLUMNS=" .. value .. " " .. cli.env_for(s.emu, E),
        { "download", E.INSTANCE, E.LOG_ID, "-o", "x.log" }, nil, 90)
      assert.truthy(shown:find("\nsaved x%.log"), value .. ": " .. shown)
      -- the bar as wide as the terminal (stty's 90 columns) allows
      local bar = shown:match("x%.log 100%% %[(#+)%] 96%.0 KiB / 96%.0 KiB [^\27]*in [%d.]+s\27%[K")
      assert.are.equal(30, bar and #bar, value .. ": " .. shown)
    end
  end)

  it("draws nothing with --no-progress or --quiet, nor when stderr is not a terminal", function()
    for _, flag in ipairs { "--no-progress", "--quiet" } do
      local shown = cli.tty(s.dir, cli.env_for(s.emu, E), { "download", E.INSTANCE, E.LOG_ID, flag, "-o", "x.log" })
      assert.is_nil(shown:find("%", 1, true), shown)
      assert.matches("^saved x%.log", shown)
    end
    local shown = cli.tty(s.dir, cli.env_for(s.emu, E), { "download", E.INSTANCE, E.LOG_ID, "-o", "y.log" },
      "2> err.txt")
    assert.matches("^saved y%.log", shown)
    assert.are.equal("", cli.read_all(s.dir .. "/err.txt"))
  end)

  it("erases a retry's waiting line before the results, which start a line of their own", function()
    for _, c in ipairs { { "/redislog", "list", E.INSTANCE }, { "/links", "link", E.INSTANCE, E.LOG_ID } } do
      s.emu:fault { match = { path_contains = c[1] }, times = 1,
        action = { respond = { status = 503, json = { error_code = "APIGW.0613", error_msg = "unavailable" } } } }
      local shown = cli.tty(s.dir, cli.env_for(s.emu, E), { unpack(c, 2) })
      assert.matches("\rretrying [%l_]+ %(HTTP 503%) in 1s\27%[K\r\27%[K" .. (c[2] == "list" and "ID " or "http://"),
        shown)
    end
  end)

  it("says what fetch is waiting for while the service collects", function()
    s.emu:config { collect_delay = 1.5 }
    local shown = cli.tty(s.dir, cli.env_for(s.emu, E), { "fetch", E.INSTANCE, "--poll-interval", "0.3" })
    assert.matches("\rwaiting 1s %(up to 5m%) for the service to collect the run log\27%[K", shown)
    assert.matches("\rredis_[^\r\n]+ 100%% %[#+%] 96%.0 KiB / 96%.0 KiB", shown)
    assert.matches("\nsaved %./redis_", shown)
  end)

  it("shows one line for several targets, updated in place, and the results on stdout", function()
    s.emu:config { latency = 0.2 }
    local args = { "link", "--parallel", "2" }
    for _, log in ipairs { E.LOG_ID, E.LOG_ID, "missing-1", E.LOG_ID, E.LOG_ID } do
      args[#args + 1], args[#args + 2] = E.INSTANCE, log
    end
    local shown = cli.tty(s.dir, cli.env_for(s.emu, E), args, "> out.txt")
    assert.matches("^\r0/5 done, 0 failed\27%[K\r1/5 done, ", shown)
    assert.matches("\r4/5 done, 1 failed\27%[K", shown)
    assert.matches("\r5/5 done, 1 failed\27%[K\r?\n", shown)        -- kept as the last word
    assert.matches("\ndcs%-logs: [-%x]+ missing%-1: dcs: create_redislog_download_link: HTTP 404", shown)
    assert.is_nil(shown:find("http://", 1, true))                   -- the links went to stdout
    local out = cli.read_all(s.dir .. "/out.txt")
    assert.are.equal(4, select(2, out:gsub("\n", "")))
    assert.is_nil(out:find("done", 1, true))
    shown = cli.tty(s.dir, cli.env_for(s.emu, E), { "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, E.LOG_ID,
      "--no-progress" }, "> out.txt")
    assert.are.equal("", shown)
  end)
end)

describe("core.isatty on a terminal", function()
  local sub = require "support.subprocess"

  it("says false for a number no descriptor has, not what a cut to int would name", function()
    local code = 'local core = require "dcs.core" io.write(tostring(core.isatty(2)), " ", '
      .. 'tostring(core.isatty(2^32 + 2)), " ", tostring(core.isatty(-1)))'
    local inner = ("LUA_PATH=%s LUA_CPATH=%s %s -e %s"):format(sub.quote(sub.LUA_PATH), sub.quote(sub.LUA_CPATH),
      sub.LUA, sub.quote(code))
    local p = io.popen("env -u LD_PRELOAD script -qec " .. sub.quote(inner) .. " /dev/null")
    local shown = p:read("*a")
    p:close()
    assert.are.equal("true false false", shown)
  end)
end)
