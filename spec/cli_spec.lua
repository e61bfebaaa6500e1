-- bin/dcs-logs, run as a real process against the emulator.
local cjson = require "cjson"
local core = require "dcs.core"
local E = require "support.emulator"
local sub = require "support.subprocess"

local ROOT, sh_quote = sub.ROOT, sub.quote
local unpack = table.unpack or unpack

describe("dcs-logs", function()
  local emu, dir

  -- run("list", INSTANCE, ...) -> status, stdout, stderr
  local function run_with(env, ...)
    local args = {}
    for i, a in ipairs { ... } do args[i] = sh_quote(a) end
    local err_file = os.tmpname()
    local cmd = ("cd %s && env -u LD_PRELOAD %s LUA_PATH=%s LUA_CPATH=%s %s %s/bin/dcs-logs %s 2>%s"):format(
      sh_quote(dir), env, sh_quote(sub.LUA_PATH), sh_quote(sub.LUA_CPATH), sub.LUA, ROOT,
      table.concat(args, " "), err_file)
    local status, out = sub.shell(cmd)
    local f = io.open(err_file)
    local err = f:read("*a")
    f:close()
    os.remove(err_file)
    return status, out, err
  end
  local function env()
    return ("DCS_ENDPOINT=%s HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s HUAWEICLOUD_SDK_PROJECT_ID=%s")
      :format(emu.url, E.AK, E.SK, E.PROJECT)
  end
  local function run(...) return run_with(env(), ...) end

  lazy_setup(function()
    emu = E.start("--collect-delay 0.2")
    dir = require("support.files").tmpdir()
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. dir)
  end)
  before_each(function()
    emu:reset()
    os.execute("rm -rf " .. dir .. "/*")
  end)

  it("has --help for itself and for every command", function()
    local status, out = run("--help")
    assert.are.equal(0, status)
    assert.matches("usage: dcs%-logs %[options%] COMMAND", out)
    for _, cmd in ipairs { "collect", "list", "link", "download", "fetch" } do
      status, out = run(cmd, "--help")
      assert.are.equal(0, status)
      assert.matches("usage: dcs%-logs " .. cmd, out)
      status, out = run("-h", cmd)
      assert.are.equal(0, status)
      assert.matches("usage: dcs%-logs " .. cmd, out)
    end
  end)

  it("lists files as a table and as JSON", function()
    local status, out = run("list", E.INSTANCE)
    assert.are.equal(0, status)
    assert.matches("^ID%s+STATUS%s+DAY%s+SHARD%s+REPLICA%s+FILE\n", out)
    assert.matches(E.LOG_ID:gsub("%-", "%%-") .. "%s+succeed", out)
    status, out = run("list", E.INSTANCE, "--json", "--limit", "2")
    assert.are.equal(0, status)
    local data = cjson.decode(out)
    assert.are.equal(3, data.total_num)
    assert.are.equal(2, #data.file_list)
    status, out = run("--json", "list", E.EMPTY_INSTANCE)
    assert.are.equal(0, status)
    assert.matches('"file_list":%[%]', out)          -- an array, not {}
    assert.are.equal(0, cjson.decode(out).total_num)
    status, out = run("list", "--all", E.INSTANCE)
    assert.are.equal(0, status)
    assert.matches("88441", out)
  end)

  it("prints a link, and downloads by instance and log id or by link", function()
    local status, out = run("link", E.INSTANCE, E.LOG_ID)
    assert.are.equal(0, status)
    local link = out:match("^(http://%S+)\n$")
    assert.truthy(link)
    status, out = run("download", link, "--output", "by-link.log")
    assert.are.equal(0, status)
    assert.matches("^saved by%-link%.log %(96%.0 KiB, sha256 %x+%)", out)
    status, out = run("download", E.INSTANCE, E.LOG_ID, "--json")
    assert.are.equal(0, status)
    local res = cjson.decode(out)
    assert.matches("^redis_192%.168%.0%.142_.*%.log$", res.path)
    assert.are.equal(core.sha256_file(dir .. "/" .. res.path), res.sha256)
    assert.are.equal(core.sha256_file(dir .. "/by-link.log"), res.sha256)
  end)

  it("collects, and fetches the new files into --dest", function()
    local status, out = run("collect", E.MS_INSTANCE, "--days", "1", "--replication", E.REPLICATION)
    assert.are.equal(0, status)
    assert.matches("collecting run logs", out)
    status, out = run("fetch", E.INSTANCE, "--days", "3", "--dest", dir, "--poll-interval", "0.1", "--json")
    assert.are.equal(0, status)
    local res = cjson.decode(out)
    assert.are.equal(3, #res.written)
    assert.are.same({}, res.failed)
    for _, w in ipairs(res.written) do assert.are.equal(core.sha256_file(w.path), w.sha256) end
  end)

  it("exits 3 and names the file when one file of a fetch fails", function()
    emu:fault { match = { path_contains = "/links" }, times = 1,
      action = { respond = { status = 500,
        json = { error_code = "DCS.5000", error_msg = "Internal service error." } } } }
    local status, out, err = run("fetch", E.INSTANCE, "--days", "3", "--poll-interval", "0.1")
    assert.are.equal(3, status)
    assert.are.equal(2, select(2, out:gsub("saved ", "")))
    assert.matches("dcs%-logs: redis_.-%.log: dcs: create_redislog_download_link: HTTP 500 DCS%.5000", err)
  end)

  it("fails with one line and status 1 on an API error", function()
    local status, out, err = run("collect", E.MS_INSTANCE)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.matches("^dcs%-logs: dcs: collect_redislog: HTTP 400 DCS%.4800: [^\n]+\n$", err)
  end)

  it("says what every credentials provider answered when none has any", function()
    local status, out, err = run_with("HOME=/nonexistent HUAWEICLOUD_SDK_METADATA_ENDPOINT=http://127.0.0.1:9",
      "list", E.INSTANCE, "--endpoint", emu.url,
      "--project", E.PROJECT)
    assert.are.equal(1, status)
    assert.are.equal("", out)
    assert.matches("^dcs%-logs: dcs: list_redislogs: credentials error: no credentials: environment: "
      .. ".*metadata: http://127%.0%.0%.1:9: ", err)
  end)

  it("takes credentials from flags", function()
    local status = run_with("DCS_ENDPOINT=" .. emu.url, "list", E.INSTANCE, "--ak", E.AK, "--sk", E.SK,
      "--project", E.PROJECT)
    assert.are.equal(0, status)
    status = run_with("", "list", E.INSTANCE, "--endpoint", emu.url, "--ak", E.AK, "--sk", "wrong",
      "--project", E.PROJECT)
    assert.are.equal(1, status)
  end)

  it("exits 2 on usage errors", function()
    local cases = {
      { "", { "list", E.INSTANCE, "--ak", "A" }, "give both %-%-ak and %-%-sk, or neither" },
      { "", { "list", E.INSTANCE, "--region", "mars-1" }, "unknown DCS region 'mars%-1'" },
      { env(), { "bogus" }, "unknown command 'bogus'" },
      { env(), { "list" }, "missing INSTANCE" },
      { env(), { "list", E.INSTANCE, "--days", "3" }, "unknown option %-%-days" },
      { env(), { "collect", E.INSTANCE, "--days" }, "%-%-days needs a value" },
      { env(), { "link", E.INSTANCE, E.LOG_ID, "extra" }, "too many arguments" },
      { env(), {}, "usage: dcs%-logs" },
    }
    for _, c in ipairs(cases) do
      local status, _, err = run_with(c[1], unpack(c[2]))
      assert.are.equal(2, status)
      assert.matches(c[3], err)
    end
  end)

  it("draws a progress bar only when stdout is a terminal", function()
    local _, out = run("download", E.INSTANCE, E.LOG_ID, "--output", "plain.log")
    assert.not_matches("%[#", out)
    -- script(1) gives the command a pseudo-terminal
    local inner = ("env %s LUA_PATH=%s LUA_CPATH=%s %s %s/bin/dcs-logs download %s %s --output %s/tty.log")
      :format(env(), sub.LUA_PATH:gsub(";", "\\;"), sub.LUA_CPATH:gsub(";", "\\;"), sub.LUA,
        ROOT, E.INSTANCE, E.LOG_ID, dir)
    local p = io.popen("env -u LD_PRELOAD script -qec " .. sh_quote(inner) .. " /dev/null")
    local tty = p:read("*a")
    p:close()
    assert.matches("%[##############################%] 100%% 96%.0 KiB / 96%.0 KiB", tty)
    assert.matches("saved ", tty)
  end)
end)
