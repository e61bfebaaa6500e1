-- dcs-logs interrupted by a signal, as a real process: it stops at once,
-- exits 128 + the signal with one line, and a rerun resumes the download.
local core = require "dcs.core"
local E = require "support.emulator"
local cli = require "support.cli"
local sub = require "support.subprocess"

local SIZE = 4 * 1024 * 1024
local SLOW_PART = 2 * 1024 * 1024           -- served slowly, then the answer hangs
local CHUNK = 64 * 1024
local BOUND = 20                            -- seconds: generous, only against hangs

describe("dcs-logs interrupted", function()
  local s = cli.servers()       -- s.hs, s.emu, s.dir
  lazy_setup(s.start)
  lazy_teardown(s.stop)
  before_each(s.reset)

  local function file_size(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local n = f:seek("end")
    f:close()
    return n
  end

  -- Waits until path exists with at least `bytes` bytes.
  local function wait_for_size(path, bytes)
    local deadline = core.monotime() + BOUND
    while core.monotime() < deadline do
      if (file_size(path) or 0) >= bytes then return true end
      core.sleep(0.02)
    end
    return false
  end

  -- The first partial file that appears in dir (the download started).
  local function wait_for_part(dir)
    local deadline, part = core.monotime() + BOUND
    repeat
      core.sleep(0.05)
      local p = io.popen(("ls %s/*.part 2>/dev/null"):format(sub.quote(dir)))
      part = p:read("*l")
      p:close()
    until part or core.monotime() > deadline
    assert.truthy(part, "the download did not start")
    return part
  end

  -- The served file path (/big.log), whose first request gets its first
  -- SLOW_PART bytes at about 640 KiB/s and then nothing: a slow, big download.
  -- Without validators (no_validator), what it sends cannot be resumed.
  local function slow_big_file(path, no_validator)
    path = path or "/big.log"
    local served = s.hs:file { path = path, size = SIZE }
    local res = assert(s.hs.http:request { method = "GET", url = s.hs.url .. path,
      headers = { Range = ("bytes=0-%d"):format(SLOW_PART - 1) } })
    assert.are.equal(206, res.status)
    local headers = { ["Content-Type"] = "application/octet-stream" }
    if not no_validator then
      headers.ETag, headers["Last-Modified"] = res.headers.etag, res.headers["last-modified"]
    end
    local steps = { { respond = { status = 200, content_length = SIZE, body = "", headers = headers } } }
    for at = 1, SLOW_PART, CHUNK do
      steps[#steps + 1] = { send = res.body:sub(at, at + CHUNK - 1) }
      steps[#steps + 1] = { sleep = 0.1 }
    end
    steps[#steps + 1] = { hang = true }
    s.hs:script { match = { path_prefix = path }, times = 1, steps = steps }
    s.hs:clear_log()
    return served
  end

  -- `dcs-logs download` of the slow file, Ctrl-C once 512 KiB came:
  -- what it said on stderr (it exited 130, with nothing on stdout).
  local function interrupted_download(link, env)
    local h = cli.start(s.dir, env, "download", link, "--output", "big.log")
    assert.is_true(wait_for_size(s.dir .. "/big.log.part", 512 * 1024), "the download did not start")
    h:signal("INT")
    local status, out, err = h:wait(BOUND)
    assert.are.equal(130, status, err)
    assert.are.equal("", out)
    return err
  end

  it("Ctrl-C stops a download at once with exit 130 and one line; a rerun resumes it", function()
    local served = slow_big_file()
    local link, env = s.hs.url .. "/big.log", "HUAWEICLOUD_SDK_REGION=cn-north-4"
    local err = interrupted_download(link, env)
    assert.matches("^dcs%-logs: interrupted; [%d.]+ [KM]iB kept in big%.log%.part: "
      .. "the same command resumes it\n$", err)
    assert.is_nil(err:find("traceback"))
    local kept = file_size(s.dir .. "/big.log.part")
    assert.is_true(kept >= 512 * 1024 and kept < SLOW_PART, tostring(kept))
    assert.truthy(file_size(s.dir .. "/big.log.part.meta"))

    local status, again
    status, again, err = cli.run(s.dir, env, "download", link, "--output", "big.log", "--json")
    assert.are.equal(0, status, err)
    local log = s.hs:log()
    assert.are.equal(2, #log)                     -- the interrupted request, then the resumed one
    assert.are.equal(("bytes=%d-"):format(kept), log[2]:header("Range"))
    assert.are.equal(served.sha256, core.sha256_file(s.dir .. "/big.log"))
    assert.matches('"sha256":"' .. core.sha256_file(s.dir .. "/big.log") .. '"', again)
    assert.matches("resuming big%.log from", err)
    assert.is_nil(file_size(s.dir .. "/big.log.part"))
    assert.is_nil(file_size(s.dir .. "/big.log.part.meta"))
  end)

  it("Ctrl-C during a download it could not resume leaves nothing behind, and says so", function()
    slow_big_file(nil, true)
    local err = interrupted_download(s.hs.url .. "/big.log", "HUAWEICLOUD_SDK_REGION=cn-north-4")
    assert.are.equal("dcs-logs: interrupted\n", err)
    assert.is_nil(file_size(s.dir .. "/big.log.part"))
    assert.is_nil(file_size(s.dir .. "/big.log.part.meta"))
  end)

  it("Ctrl-C during fetch's download names the command that resumes it, which does", function()
    local served = slow_big_file()
    -- the service's links point at the slow file, for fetch and for the rerun
    s.emu:fault { match = { path_contains = "/links" }, times = 2, action = { respond = { status = 200,
      json = { id = "x", backup_id = "x", link = s.hs.url .. "/big.log" } } } }
    -- a destination with a space and a quote: the command is still one to paste into a shell
    os.execute("mkdir \"" .. s.dir .. "/Bob's logs\"")
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, "--dest", "Bob's logs",
      "--poll-interval", "0.1")
    local part = wait_for_part(s.dir .. "/Bob's logs")
    assert.is_true(wait_for_size(part, 512 * 1024))
    h:signal("INT")
    local status, out, err = h:wait(BOUND)
    assert.are.equal(130, status, err)
    assert.are.equal("", out)
    local rerun = err:match("^dcs%-logs: interrupted; [%d.]+ [KM]iB kept in Bob's logs/redis_[^ ]+%.log%.part: "
      .. "`dcs%-logs (download [^`]+)` resumes it\n$")
    assert.truthy(rerun, err)
    local kept = file_size(part)
    status, out = sub.shell(("cd %s && %s %s 2>&1"):format(sub.quote(s.dir),
      cli.command_line(cli.env_for(s.emu, E), {}), rerun))         -- as pasted
    assert.are.equal(0, status, out)
    local log = s.hs:log()
    assert.are.equal(("bytes=%d-"):format(kept), log[#log]:header("Range"))
    local path = part:gsub("%.part$", "")
    assert.are.equal(served.sha256, core.sha256_file(path))
    assert.matches("sha256 " .. served.sha256, out)
  end)

  it("Ctrl-C during fetch names the partial file of a small file that has not reported progress yet", function()
    -- 200 KiB: fewer bytes than a progress report needs; half of it, then nothing
    local size, half = 200 * 1024, 100 * 1024
    s.hs:file { path = "/small.log", size = size }
    local res = assert(s.hs.http:request { method = "GET", url = s.hs.url .. "/small.log" })
    s.hs:script { match = { path_prefix = "/small.log" }, times = 1, steps = {
      { respond = { status = 200, content_length = size, body = "", headers = { ETag = res.headers.etag } } },
      { send = res.body:sub(1, half) }, { hang = true } } }
    s.emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 200,
      json = { id = "x", backup_id = "x", link = s.hs.url .. "/small.log" } } } }
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, "--dest", "logs", "--poll-interval", "0.1")
    wait_for_part(s.dir .. "/logs")
    core.sleep(1)                       -- the half arrives (the writer holds it until the file is closed)
    h:signal("INT")
    local status, out, err = h:wait(BOUND)
    assert.are.equal(130, status, err)
    assert.are.equal("", out)
    assert.matches("^dcs%-logs: created directory logs\ndcs%-logs: interrupted; [%d.]+ KiB kept in "
      .. "logs/redis_[^ ]+%.log%.part: `dcs%-logs download [^`]+` resumes it\n$", err)
  end)

  it("Ctrl-C during fetch's downloads names every partial file it keeps, and what it saved", function()
    slow_big_file("/big1.log")
    slow_big_file("/big2.log")
    s.hs:file { path = "/small.log", size = 1000 }
    for _, path in ipairs { "/big1.log", "/big2.log", "/small.log" } do
      s.emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 200,
        json = { id = "x", backup_id = "x", link = s.hs.url .. path } } } }
    end
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, "--days", "3", "--dest", "logs",
      "--poll-interval", "0.1")
    local function parts()
      local p = io.popen("ls " .. s.dir .. "/logs/ 2>/dev/null")
      local list = {}
      for name in p:lines() do if name:find("%.part$") then list[#list + 1] = name end end
      p:close()
      return list
    end
    local deadline = core.monotime() + BOUND
    while #parts() < 2 and core.monotime() < deadline do core.sleep(0.05) end
    for _, name in ipairs(parts()) do assert.is_true(wait_for_size(s.dir .. "/logs/" .. name, 256 * 1024)) end
    h:signal("INT")
    local status, out, err = h:wait(BOUND)
    assert.are.equal(130, status, err)
    local kept = parts()
    assert.are.equal(2, #kept)
    assert.matches("\ndcs%-logs: interrupted; 2 partial files kept:\n", err)
    for _, name in ipairs(kept) do
      assert.truthy(err:find("kept in logs/" .. name .. ": `dcs-logs download ", 1, true), err)
    end
    assert.matches("^saved logs/[^ ]+%.log %(1000 B, sha256 %x+%)\n$", out)
  end)

  it("Ctrl-C during fetch names the partial file of each of two files a server gave one name", function()
    slow_big_file("/big1.log")
    slow_big_file("/big2.log")
    local function file(id) return { id = id, file_name = "same.log", status = "succeed" } end
    s.emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = 1,
      action = { respond = { status = 200, json = { total_num = 0, file_list = {} } } } }
    s.emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = -1,
      action = { respond = { status = 200, json = { total_num = 2, file_list = { file("a1"), file("a2") } } } } }
    for _, path in ipairs { "/big1.log", "/big2.log" } do
      s.emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 200,
        json = { id = "x", backup_id = "x", link = s.hs.url .. path } } } }
    end
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, "--dest", "logs", "--poll-interval", "0.1")
    local parts = { s.dir .. "/logs/same.log.part", s.dir .. "/logs/same-2.log.part" }
    for _, part in ipairs(parts) do assert.is_true(wait_for_size(part, 256 * 1024), part) end
    h:signal("INT")
    local status, _, err = h:wait(BOUND)
    assert.are.equal(130, status, err)
    assert.matches("\ndcs%-logs: interrupted; 2 partial files kept:\n", err)
    assert.matches("kept in logs/same%.log%.part: `dcs%-logs download [^`]+ %-%-output logs/same%.log`", err)
    assert.matches("kept in logs/same%-2%.log%.part: `dcs%-logs download [^`]+ %-%-output logs/same%-2%.log`", err)
  end)

  it("SIGTERM stops fetch while it waits for the collection: exit 143, one line", function()
    s.emu:config { collect_delay = 120 }
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, "--poll-interval", "0.2")
    local deadline = core.monotime() + BOUND
    repeat
      core.sleep(0.05)
      local collected = false
      for _, r in ipairs(s.emu:requests()) do collected = collected or r.method == "POST" end
    until collected or core.monotime() > deadline
    h:signal("TERM")
    local status, out, err = h:wait(BOUND)
    assert.are.equal(143, status, err)
    assert.are.equal("", out)
    assert.are.equal("dcs-logs: interrupted\n", err)
  end)

  it("Ctrl-C stops a fetch of several instances at once: exit 130 and one line", function()
    s.emu:config { collect_delay = 120 }
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, E.EMPTY_INSTANCE, "--poll-interval", "0.2",
      "--quiet")
    local deadline = core.monotime() + BOUND
    local collected
    repeat
      core.sleep(0.05)
      collected = 0
      for _, r in ipairs(s.emu:requests()) do collected = collected + (r.method == "POST" and 1 or 0) end
    until collected == 2 or core.monotime() > deadline
    assert.are.equal(2, collected)                      -- both under way at once
    h:signal("INT")
    local t0 = core.monotime()
    local status, out, err = h:wait(BOUND)
    assert.is_true(core.monotime() - t0 < 5)
    assert.are.equal(130, status, err)
    assert.are.equal("", out)
    assert.are.equal("dcs-logs: interrupted\n", err)
  end)

  it("prints what a fetch of several instances did with --json when interrupted, as for one", function()
    s.emu:config { collect_delay = 120 }
    local h = cli.start(s.dir, cli.env_for(s.emu, E), "fetch", E.INSTANCE, E.EMPTY_INSTANCE, "--poll-interval", "0.2",
      "--json", "--quiet")
    local deadline, collected = core.monotime() + BOUND, 0
    while collected < 2 and core.monotime() < deadline do
      core.sleep(0.05)
      collected = 0
      for _, r in ipairs(s.emu:requests()) do collected = collected + (r.method == "POST" and 1 or 0) end
    end
    h:signal("INT")
    local status, out, err = h:wait(BOUND)
    assert.are.equal(130, status, err)
    assert.are.equal("dcs-logs: interrupted\n", err)
    local list = require("cjson").decode(out)
    assert.are.equal(2, #list)
    for i, id in ipairs { E.INSTANCE, E.EMPTY_INSTANCE } do
      assert.are.equal(id, list[i].instance_id)
      assert.is_false(list[i].ok)
      assert.are.equal("closed", list[i].error.kind, require("cjson").encode(list[i]))
    end
  end)

  it("a second Ctrl-C ends a request that does not return", function()
    local silent = s.hs:listener("silent")
    local h = cli.start(s.dir, ("DCS_ENDPOINT=%s HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s "
      .. "HUAWEICLOUD_SDK_PROJECT_ID=%s"):format(silent, E.AK, E.SK, E.PROJECT), "list", E.INSTANCE)
    core.sleep(0.5)
    h:signal("INT")
    core.sleep(0.2)
    h:signal("INT")
    local status = h:wait(BOUND)
    assert.are.equal(130, status)
  end)
end)
