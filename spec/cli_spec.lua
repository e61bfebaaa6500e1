-- bin/dcs-logs, run as a real process against the emulator.
local cjson = require "cjson"
local core = require "dcs.core"
local E = require "support.emulator"
local cli = require "support.cli"
local sub = require "support.subprocess"

local unpack = table.unpack or unpack

local function lines_of(text)
  local lines = {}
  for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines
end

describe("dcs-logs", function()
  local emu, dir

  local function env() return cli.env_for(emu, E) end
  local function run_with(vars, ...) return cli.run(dir, vars, ...) end
  local function run(...) return cli.run(dir, env(), ...) end

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

  describe("help", function()
    it("has help for itself and for every command, within 80 columns", function()
      local status, out = run("--help")
      assert.are.equal(0, status)
      assert.matches("^usage: dcs%-logs %[options%] COMMAND", out)
      local _, again = run("help")
      assert.are.equal(out, again)
      status, again = run("help", "help")                 -- not "unknown command 'help' (did you mean help?)"
      assert.are.equal(0, status)
      assert.are.equal(out, again)
      for _, cmd in ipairs { "collect", "list", "link", "download", "fetch" } do
        for _, args in ipairs { { cmd, "--help" }, { "-h", cmd }, { "help", cmd } } do
          status, out = run(unpack(args))
          assert.are.equal(0, status)
          assert.matches("^usage: dcs%-logs " .. cmd, out)
          for _, line in ipairs(lines_of(out)) do assert.is_true(#line <= 80, line) end
        end
      end
    end)

    it("prints its version", function()
      local status, out = run("--version")
      assert.are.equal(0, status)
      assert.matches("^dcs%-logs %d+%.%d+%.%d+ %(lua%-dcs %d+%.%d+%.%d+; [^;]+; libcurl [%d.]+; "
        .. "SHA%-256 [%l-]+%)\n$", out)
      assert.are.equal(core.SHA256, out:match("SHA%-256 ([%l-]+)%)"))
    end)

    it("prints the usage on stderr and exits 2 without a command", function()
      local status, out, err = run()
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.matches("^usage: dcs%-logs", err)
    end)
  end)

  describe("output", function()
    it("lists files as a table and as JSON with its keys in a stable order", function()
      local status, out = run("list", E.INSTANCE)
      assert.are.equal(0, status)
      assert.matches("^ID%s+STATUS%s+DAY%s+SHARD%s+REPLICA%s+FILE\n", out)
      assert.matches(E.LOG_ID:gsub("%-", "%%-") .. "%s+succeed", out)
      status, out = run("list", E.INSTANCE, "--json", "--limit", "2")
      assert.are.equal(0, status)
      assert.matches('^{"total_num":3,"file_list":%[{"id":"[^"]+","file_name":"[^"]+","status":"succeed",'
        .. '"time":"[^"]+","group_name":"[^"]+","replication_ip":"[^"]+","backup_id":"[^"]+"}', out)
      assert.are.equal(2, #cjson.decode(out).file_list)
      status, out = run("--json", "list", E.EMPTY_INSTANCE)
      assert.are.equal(0, status)
      assert.are.equal('{"total_num":0,"file_list":[]}\n', out)     -- an array, not {}
      status, out = run("list", "--all", E.INSTANCE)
      assert.are.equal(0, status)
      assert.matches("88441", out)
    end)

    it("prints the files alone on stdout: a page's count and 'no log files' go to stderr", function()
      local status, out, err = run("list", E.INSTANCE, "--limit", "2")
      assert.are.equal(0, status, err)
      assert.are.equal(3, #lines_of(out))                      -- the header and two files
      assert.are.equal("dcs-logs: 2 of 3 files; see --offset, --limit or --all\n", err)
      status, out, err = run("list", E.EMPTY_INSTANCE)
      assert.are.equal(0, status, err)
      assert.are.equal("", out)
      assert.are.equal("dcs-logs: no log files\n", err)
      status, out, err = run("list", E.EMPTY_INSTANCE, "--quiet")
      assert.are.equal(0, status, err)
      assert.are.equal("", out .. err)
    end)

    it("prints a link (JSON without \\/), and downloads by instance and log id or by link", function()
      local status, out = run("link", E.INSTANCE, E.LOG_ID)
      assert.are.equal(0, status)
      local link = out:match("^(http://%S+)\n$")
      assert.truthy(link)
      status, out = run("link", E.INSTANCE, E.LOG_ID, "--json")
      assert.are.equal(0, status)
      assert.matches('^{"id":"[^"]+","backup_id":"[^"]+","link":"http://127%.0%.0%.1:%d+/_obs/', out)
      status, out = run("download", link, "--output", "by-link.log")
      assert.are.equal(0, status)
      assert.matches("^saved by%-link%.log %(96%.0 KiB, sha256 %x+%)\n$", out)
      status, out = run("download", E.INSTANCE, E.LOG_ID, "--json")
      assert.are.equal(0, status)
      assert.matches('^{"path":"redis_[^"]+%.log","bytes":98304,"sha256":"%x+","resumes":0}\n$', out)
      local res = cjson.decode(out)
      assert.are.equal(core.sha256_file(dir .. "/" .. res.path), res.sha256)
      assert.are.equal(core.sha256_file(dir .. "/by-link.log"), res.sha256)
    end)

    it("prints a link that holds control characters with them escaped, for one target and for several", function()
      -- a server's link that would retitle the terminal and move the cursor
      local hostile = "\27]0;pwned\7\27[2Ahttps://h/x.log\r"
      emu:fault { match = { path_contains = "/links" }, times = -1,
        action = { respond = { status = 200, json = { id = E.LOG_ID, link = hostile } } } }
      local one, two = { "link", E.INSTANCE, E.LOG_ID }, { "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, E.LOG_ID }
      for _, args in ipairs { one, two } do
        local status, out, err = run(unpack(args))
        assert.are.equal(0, status, err)
        assert.is_nil(out:find("[%z\1-\9\11-\31\127]"), out)
        assert.matches("\\027%]0;pwned\\007\\027%[2Ahttps://h/x%.log\\013\n$", out)
      end
    end)

    -- python3 reads what the command printed: strict UTF-8, then JSON or
    -- a check for C0 and C1 controls (U+009B is CSI to xterm) -> "ok" or why
    local function python_says(check, text)
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write(text)
      f:close()
      local _, said = sub.shell(("env -u LD_PRELOAD python3 -c %s < %s 2>&1"):format(sub.quote("import json, re, sys\n"
        .. "try:\n  t = sys.stdin.buffer.read().decode('utf-8')\n  " .. check .. "\n  print('ok')\n"
        .. "except Exception as e:\n  print(repr(e))"), path))
      os.remove(path)
      return said
    end
    local NO_CONTROLS = "assert not re.search('[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f]', t), repr(t)"

    it("shows a server's C1 controls and bytes outside UTF-8 escaped, and puts them in JSON as valid UTF-8", function()
      -- the answer as bytes: the emulator sends the code points of "raw" as latin-1
      local function latin1(bytes)
        return (bytes:gsub("[\128-\255]", function(c)
          return string.char(0xC0 + math.floor(c:byte() / 64), 0x80 + c:byte() % 64)
        end))
      end
      local body = ('{"total_num":1,"file_list":[{"id":"%s","file_name":"a\255b\194\15531mRED\192\175.log",'
        .. '"status":"succeed","time":"2026-11-28","group_name":"g\194\133","replication_ip":"1.2.3.4",'
        .. '"backup_id":"x","\254":"key"}]}'):format(E.LOG_ID)
      emu:fault { match = { path_contains = "/redislog" }, times = 2, action = { raw = latin1(
        ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s")
        :format(#body, body)) } }
      local status, out, err = run("list", E.INSTANCE)
      assert.are.equal(0, status, err)
      assert.are.equal("ok\n", python_says(NO_CONTROLS, out))
      assert.matches("a\\255b\\194\\15531mRED\\192\\175%.log\n$", out)
      status, out, err = run("list", E.INSTANCE, "--json")
      assert.are.equal(0, status, err)
      assert.are.equal("ok\n", python_says("json.loads(t)", out))
      assert.are.equal("a\239\191\189b\194\15531mRED\239\191\189\239\191\189.log",
        cjson.decode(out).file_list[1].file_name)
      -- an error message the same way
      emu:fault { match = { path_contains = "/redislog" }, times = 1, action = { respond = { status = 400,
        json = { error_code = "DCS.4800", error_msg = "bad \194\15531m\194\144 request" } } } }
      local failed, _, said = run("collect", E.INSTANCE)
      assert.are.equal(1, failed)
      assert.are.equal("ok\n", python_says(NO_CONTROLS, said))
      assert.matches("bad \\194\\15531m\\194\\144 request", said)
    end)

    it("downloads into a directory given as --output, creating it", function()
      local status, out, err = run("download", E.INSTANCE, E.LOG_ID, "-o", "new/dir/")
      assert.are.equal(0, status, err)
      assert.matches("^saved new/dir/redis_[^ ]+%.log ", out)
      assert.matches("^dcs%-logs: created directory new/dir\n$", err)
    end)

    -- README: `download` checks that it can write there before asking
    -- anything of the service (here: before the link request)
    it("refuses a directory it cannot write to before asking for the link", function()
      for _, case in ipairs { { "/sys", "%." }, { dir, "/sys", "-o", "/sys" }, { dir, "/sys", "-o", "/sys/" },
        { dir, "/sys", "-o", "/sys/redis.log" } } do
        local status, out, err = cli.run(case[1], env(), "download", E.INSTANCE, E.LOG_ID, unpack(case, 3))
        assert.are.equal(1, status, err)
        assert.are.equal("", out)
        assert.matches("^dcs%-logs: cannot write in " .. case[2] .. ": [^\n]+\n$", err)
      end
      assert.are.same({}, emu:requests())
    end)

    it("refuses an --output that is a FIFO or a device, instead of renaming the file onto it", function()
      assert(os.execute("mkfifo " .. dir .. "/fifo"))
      local status, out, err = run("download", E.INSTANCE, E.LOG_ID, "--output", "fifo")
      assert.are.equal(2, status, err)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: %-%-output fifo exists and is not a regular file %(a device, a FIFO", err)
      local still = os.execute("test -p " .. dir .. "/fifo")
      assert.is_true(still == true or still == 0)
    end)

    it("says nothing but the results with --quiet", function()
      local status, out, err = run("-q", "download", E.INSTANCE, E.LOG_ID, "-o", "quiet/")
      assert.are.equal(0, status, err)
      assert.matches("^saved quiet/", out)
      assert.are.equal("", err)
      status, out, err = run("collect", E.INSTANCE, "--quiet")
      assert.are.equal(0, status, err)
      assert.are.equal("", out .. err)
      status, out, err = run("collect", E.INSTANCE)            -- a message: on stderr, stdout empty
      assert.are.equal(0, status, err)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: collecting the run logs of [-%x]+ %(today%); follow with: dcs%-logs list ", err)
    end)
  end)

  describe("fetch", function()
    it("creates the destination of the README's example, and says so", function()
      local status, out, err = run("fetch", E.INSTANCE, "--days", "3", "--dest", "./logs", "--poll-interval", "0.1")
      assert.are.equal(0, status, err)
      assert.are.equal("dcs-logs: created directory ./logs\n", err)
      assert.are.equal(3, select(2, out:gsub("saved %./logs/redis_", "")))
      status, out = run("fetch", E.INSTANCE, "--days", "3", "--dest", dir .. "/logs", "--poll-interval", "0.1",
        "--json")
      assert.are.equal(0, status)
      local res = cjson.decode(out)
      assert.are.equal(3, #res.written)
      assert.are.same({}, res.failed)
      for _, w in ipairs(res.written) do assert.are.equal(core.sha256_file(w.path), w.sha256) end
    end)

    it("refuses a destination it cannot write to before collecting anything, saying why", function()
      for dest, why in pairs { ["/sys"] = "cannot write in /sys: [^\n]+",
        ["/dev/null/logs"] = "cannot create directory /dev/null/logs: Not a directory" } do
        local status, out, err = run("fetch", E.INSTANCE, "--dest", dest)
        assert.are.equal(1, status)
        assert.are.equal("", out)
        assert.matches("^dcs%-logs: " .. why .. "\n$", err)
      end
      assert.are.same({}, emu:requests())
    end)

    it("says a destination that is a file or a device is not a directory, before collecting", function()
      assert(io.open(dir .. "/a-file", "w")):close()
      for _, dest in ipairs { "a-file", "/dev/null" } do
        local status, out, err = run("fetch", E.INSTANCE, "--dest", dest)
        assert.are.equal(1, status)
        assert.are.equal("", out)
        assert.are.equal("dcs-logs: " .. dest .. " exists and is not a directory\n", err)
      end
      assert.are.same({}, emu:requests())
    end)

    it("names each partial file a failure left, with the command that resumes it", function()
      -- files cut at 32 KiB: writes beyond fail (EFBIG), as on a full disk
      local function limited(...)
        return sub.shell(("trap '' XFSZ; ulimit -f 64; cd %s && %s 2>&1"):format(sub.quote(dir),
          cli.command_line(env(), { ... })))
      end
      local status, said = limited("download", E.INSTANCE, E.LOG_ID, "-o", "one.log")
      assert.are.equal(1, status, said)
      assert.matches("^dcs%-logs: 32%.0 KiB kept in one%.log%.part: the same command resumes it\n"
        .. "dcs%-logs: dcs: download: i/o error %(write%)", said)
      status, said = limited("fetch", E.INSTANCE, "--days", "3", "--dest", "logs", "--poll-interval", "0.1")
      assert.are.equal(3, status, said)
      local commands = {}
      for command in said:gmatch("dcs%-logs: 32%.0 KiB kept in logs/redis_[^ ]+%.log%.part: `dcs%-logs ([^`]+)`") do
        commands[#commands + 1] = command
      end
      assert.are.equal(3, #commands, said)
      status, said = sub.shell(("cd %s && %s %s 2>&1"):format(sub.quote(dir), cli.command_line(env(), {}),
        commands[1]))                                          -- as pasted
      assert.are.equal(0, status, said)
      assert.matches("resuming logs/redis_[^ ]+ from 32%.0 KiB", said)
      assert.matches("\nsaved logs/redis_", said)
      -- several instances: each one's, in its directory
      status, said = limited("fetch", E.INSTANCE, E.EMPTY_INSTANCE, "--dest", "many", "--poll-interval", "0.1")
      assert.are.equal(1, status, said)
      for _, instance in ipairs { E.INSTANCE, E.EMPTY_INSTANCE } do
        local where = ("many/%s/redis_[^ ]+%%.log"):format(instance:gsub("%-", "%%-"))
        assert.matches("dcs%-logs: 32%.0 KiB kept in " .. where .. "%.part: `dcs%-logs download "
          .. instance:gsub("%-", "%%-") .. " [-%x]+ %-%-output " .. where .. "` resumes it\n", said)
      end
    end)

    it("exits 3 and reports the whole error of the file that failed", function()
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 500,
          json = { error_code = "DCS.5000", error_msg = "Internal service error." } } } }
      local status, out, err = run("fetch", E.INSTANCE, "--days", "3", "--poll-interval", "0.1")
      assert.are.equal(3, status)
      assert.are.equal(2, select(2, out:gsub("saved ", "")))
      assert.matches("dcs%-logs: redis_.-%.log: dcs: create_redislog_download_link: HTTP 500 DCS%.5000", err)
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 500,
          json = { error_code = "DCS.5000", error_msg = "Internal service error." } } } }
      status, out = run("fetch", E.INSTANCE, "--days", "3", "--poll-interval", "0.1", "--json")
      assert.are.equal(3, status)
      assert.matches('"failed":%[{"id":"[^"]+","file_name":"[^"]+","path":"%./redis_[^"]+%.log",'
        .. '"error":{"kind":"api",'
        .. '"operation":"create_redislog_download_link","status":500,"code":"DCS.5000",'
        .. '"message":"Internal service error.","request_id":"%x+","retryable":false,"attempts":1}}%]', out)
    end)
  end)

  describe("several targets", function()
    -- The ids and file names of the instance's three logs, in listing order.
    local function logs()
      local _, out = run("list", E.INSTANCE, "--json")
      return cjson.decode(out).file_list
    end

    local function write(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w"))
      f:write(text)
      f:close()
    end

    -- Runs the command with stdin from a file of dir.
    local function run_stdin(file, ...)
      local err_file = os.tmpname()
      local status, out = require("support.subprocess").shell(("cd %s && %s < %s 2>%s"):format(dir,
        cli.command_line(env(), { ... }), file, err_file))
      local err = cli.read_all(err_file)
      os.remove(err_file)
      return status, out, err
    end

    it("link makes the links at once, --parallel at a time, and prints them in the order given", function()
      local files = logs()
      emu:config { latency = 0.2 }
      emu:fault { match = { path_contains = files[1].id }, times = 1, action = { delay = 0.6 } }  -- first done last
      local args = {}
      for i = 1, 12 do
        local f = files[(i - 1) % 3 + 1]
        args[#args + 1], args[#args + 2] = E.INSTANCE, f.id
      end
      local status, out, err = run("link", "--parallel", "4", unpack(args))
      assert.are.equal(0, status, err)
      assert.are.equal("", err)
      local lines = lines_of(out)
      assert.are.equal(12, #lines)
      for i, line in ipairs(lines) do
        local f = files[(i - 1) % 3 + 1]
        local instance, id, link = line:match("^(%S+) (%S+) (http://%S+)$")
        assert.are.same({ E.INSTANCE, f.id }, { instance, id })
        assert.truthy(link:find("/" .. f.file_name .. "?", 1, true), line)
      end
      assert.are.equal(4, emu:admin("GET", "/_emulator/stats").peak_in_flight)   -- concurrent, capped
    end)

    it("reports the pairs that fail and exits 3 (1 when all fail); --json is an array in order", function()
      local pairs_ = { E.INSTANCE, E.LOG_ID, E.INSTANCE, "missing-1", E.INSTANCE, E.LOG_ID }
      local status, out, err = run("link", unpack(pairs_))
      assert.are.equal(3, status)
      assert.are.equal(2, #lines_of(out))
      assert.matches("^dcs%-logs: " .. E.INSTANCE:gsub("%-", "%%-") .. " missing%-1: dcs: "
        .. "create_redislog_download_link: HTTP 404 DCS%.4001: [^\n]+\n$", err)
      status, out = run("link", "--json", unpack(pairs_))
      assert.are.equal(3, status)
      local res = cjson.decode(out)
      assert.are.equal(3, #res)
      assert.matches('^%[{"ok":true,"instance_id":"[^"]+","log_id":"[^"]+","id":"[^"]+","backup_id":"[^"]+",'
        .. '"link":"http://[^"]+"},{"ok":false,"instance_id":"[^"]+","log_id":"missing%-1","error":{"kind":"api",'
        .. '"operation":"create_redislog_download_link","status":404,"code":"DCS%.4001",', out)
      assert.are.same({ true, false, true }, { res[1].ok, res[2].ok, res[3].ok })
      status, out = run("link", E.INSTANCE, "missing-1", E.INSTANCE, "missing-2")
      assert.are.equal(1, status)
      assert.are.equal("", out)
    end)

    it("link reads the pairs from a file or stdin with --from", function()
      -- saved by a Windows editor: a byte order mark, CRLF
      write("pairs.txt", ("\239\187\191%s %s\r\n# instance log\n\n  %s\t%s   # again\r\n"):format(E.INSTANCE,
        E.LOG_ID, E.INSTANCE, E.LOG_ID))
      local status, out, err = run("link", "--from", "pairs.txt", "--json")
      assert.are.equal(0, status, err)
      local res = cjson.decode(out)
      assert.are.equal(2, #res)
      assert.are.same({ E.LOG_ID, E.LOG_ID }, { res[1].log_id, res[2].log_id })
      status, out, err = run_stdin("pairs.txt", "link", "--from", "-")
      assert.are.equal(0, status, err)
      assert.are.equal(2, #lines_of(out))
      emu:admin("DELETE", "/_emulator/requests")
      write("bad.txt", ("%s %s\n%s\n"):format(E.INSTANCE, E.LOG_ID, E.INSTANCE))
      status, out, err = run("link", "--from", "bad.txt")
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: bad%.txt line 2: expected INSTANCE LOG, got 1 words\n", err)
      write("empty.txt", "# nothing\n\n")
      status, out, err = run_stdin("empty.txt", "fetch", "--from", "-")
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: %-%-from: no targets", err)
      write("huge.txt", (" "):rep(8 * 2 ^ 20 + 1))               -- bounded: --from /dev/zero never ends
      status, out, err = run("link", "--from", "huge.txt")
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: %-%-from: huge%.txt holds more than 8 MiB of targets\n", err)
      status, out, err = run("link", "--from", dir)            -- opens, fails when read
      assert.are.equal(2, status)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: %-%-from: cannot read .-: Is a directory\n", err)
      assert.are.same({}, emu:requests())
    end)

    it("stops a fetch of several instances at a 401 to one's link request, naming that instance", function()
      emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 401,
        json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
      local status, _, err = run("fetch", E.INSTANCE, E.EMPTY_INSTANCE, "--days", "3", "--parallel", "1",
        "--poll-interval", "0.1", "--quiet")
      assert.are.equal(1, status, err)
      assert.matches("\ndcs%-logs: stopped: the gateway answered HTTP 401 for " .. E.INSTANCE:gsub("%p", "%%%0")
        .. "; the remaining 1 target was not sent", err)
      for _, r in ipairs(emu:requests()) do                        -- the other instance: nothing
        assert.is_nil(r.path:find(E.EMPTY_INSTANCE, 1, true), r.path)
      end
    end)

    it("stops at a 401 from the gateway and says the rest were not sent, to avoid the AK lockout", function()
      local args = {}
      for i = 1, 5 do args[2 * i - 1], args[2 * i] = E.INSTANCE, E.LOG_ID end
      local status, out, err = run("link", "--sk", "wrong-secret-000000000000000000000000", "--ak", E.AK,
        "--parallel", "1", unpack(args))
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("HTTP 401 APIGW%.0301: ", err)
      assert.matches("\ndcs%-logs: stopped: the gateway answered HTTP 401 for [^;]+; the remaining 4 targets "
        .. "were not sent, to avoid the AK lockout %(the gateway locks an AK after repeated failed "
        .. "signatures%): check the credentials\n$", err)
      assert.are.equal(1, #emu:requests())
      -- a 401 after some succeeded: those are printed, the rest not sent, exit 3
      local files = logs()
      emu:fault { match = { path_contains = files[3].id }, times = -1, action = { respond = { status = 401,
        json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
      emu:admin("DELETE", "/_emulator/requests")
      status, out, err = run("link", "--parallel", "1", "--json", E.INSTANCE, files[1].id, E.INSTANCE,
        files[2].id, E.INSTANCE, files[3].id, E.INSTANCE, files[1].id)
      assert.are.equal(3, status)
      local res = cjson.decode(out)
      assert.are.same({ true, true, false, false }, { res[1].ok, res[2].ok, res[3].ok, res[4].ok })
      assert.are.same({ "api", 401, "aborted" }, { res[3].error.kind, res[3].error.status, res[4].error.kind })
      assert.matches("the remaining 1 target was not sent, to avoid the AK lockout", err)
      assert.are.equal(3, #emu:requests())
    end)

    it("fetch fetches several instances at once, each into its own directory", function()
      local status, out, err = run("fetch", E.INSTANCE, E.EMPTY_INSTANCE, "--days", "3", "--dest", "logs",
        "--poll-interval", "0.1")
      assert.are.equal(0, status, err)
      for _, id in ipairs { E.INSTANCE, E.EMPTY_INSTANCE } do
        assert.are.equal(3, select(2, out:gsub("saved logs/" .. id:gsub("%-", "%%-") .. "/redis_", "")))
        assert.truthy(err:find("created directory logs/" .. id, 1, true))
      end
      write("instances.txt", E.MS_INSTANCE .. "\n" .. E.INSTANCE .. "\n")
      status, out = run("fetch", "--from", "instances.txt", "--dest", "logs", "--poll-interval", "0.1", "--json")
      assert.are.equal(3, status)
      local res = cjson.decode(out)
      assert.are.same({ false, E.MS_INSTANCE, "DCS.4800" }, { res[1].ok, res[1].instance_id, res[1].error.code })
      assert.are.same({ true, E.INSTANCE, 1 }, { res[2].ok, res[2].instance_id, #res[2].written })
      assert.are.equal(core.sha256_file(dir .. "/" .. res[2].written[1].path), res[2].written[1].sha256)
    end)

    it("keeps a single target as it was: a bare link, and an object with --json", function()
      local status, out = run("link", E.INSTANCE, E.LOG_ID, "--parallel", "3")
      assert.are.equal(0, status)
      assert.matches("^http://%S+\n$", out)
      status, out = run("fetch", E.INSTANCE, "--json", "--poll-interval", "0.1", "--dest", "one")
      assert.are.equal(0, status)
      assert.matches('^{"written":%[{', out)
    end)
  end)

  describe("failures", function()
    it("fail with one line and status 1; with --json the error object goes to stdout", function()
      local status, out, err = run("collect", E.MS_INSTANCE)
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: dcs: collect_redislog: HTTP 400 DCS%.4800: [^\n]+\n$", err)
      status, out = run("collect", E.MS_INSTANCE, "--json")
      assert.are.equal(1, status)
      assert.matches('^{"error":{"kind":"api","operation":"collect_redislog","status":400,"code":"DCS.4800",'
        .. '"message":"[^"]+","request_id":"%x+","retryable":false,"attempts":1}}\n$', out)
    end)

    it("exit 1 when the results cannot be written: a full disk, a pipe closed with SIGPIPE ignored", function()
      for _, args in ipairs { { "list", E.INSTANCE }, { "list", E.INSTANCE, "--json" },
        { "link", E.INSTANCE, E.LOG_ID }, { "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, E.LOG_ID }, { "--version" },
        { "help", "list" } } do
        local status, out = sub.shell(("cd %s && %s 2>&1 >/dev/full"):format(sub.quote(dir),
          cli.command_line(env(), args)))
        assert.are.equal(1, status, table.concat(args, " ") .. ": " .. out)
        assert.are.equal("dcs-logs: cannot write the results: No space left on device\n", out)
      end
      -- the reader is gone before the first write; stderr and the status come on fd 3
      local status, out = sub.shell(("cd %s && ( trap '' PIPE; { sleep 0.3; %s 2>&3; echo \"exit $?\" >&3; } | true )"
        .. " 3>&1"):format(sub.quote(dir), cli.command_line(env(), { "list", E.INSTANCE })))
      assert.are.equal(0, status)
      assert.are.equal("dcs-logs: cannot write the results: Broken pipe\nexit 1\n", out)
    end)

    it("exit 1 when stdout is closed, instead of writing the results into the next descriptor opened", function()
      -- libcurl's socketpair, or a download's partial file, would take descriptor 1
      for _, args in ipairs { { "list", E.INSTANCE }, { "download", E.INSTANCE, E.LOG_ID, "-o", "closed.log" } } do
        local status, out = sub.shell(("cd %s && %s 2>&1 >&-"):format(sub.quote(dir), cli.command_line(env(), args)))
        assert.are.equal(1, status, out)
        assert.are.equal("dcs-logs: cannot write the results: Bad file descriptor\n", out)
      end
      local f = assert(io.open(dir .. "/closed.log", "rb"))              -- the file itself is whole
      assert.are.equal(98304, #f:read("*a"))
      f:close()
    end)

    it("say when to try again after a 429", function()
      emu:fault { match = { path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 429, headers = { ["Retry-After"] = "120" },
          json = { error_code = "APIGW.0308", error_msg = "The throttling threshold has been reached" } } } }
      local status, _, err = run("list", E.INSTANCE)
      assert.are.equal(1, status)
      assert.matches("HTTP 429 APIGW%.0308: .-; the service asks to wait 2m %(Retry%-After%): "
        .. "try again after %d%d:%d%d:%d%d\n$", err)
    end)

    it("say by how much the clock is off when the gateway refuses the date", function()
      emu:config { clock_skew = 3600 }
      local status, _, err = run("list", E.INSTANCE)
      assert.are.equal(1, status)
      assert.matches("signature expired.-; the local clock is 1h behind the server's: sync it", err)
    end)

    it("say what every credentials provider answered when none has any", function()
      local status, out, err = run_with("HOME=/nonexistent HUAWEICLOUD_SDK_METADATA_ENDPOINT=http://127.0.0.1:9",
        "list", E.INSTANCE, "--endpoint", emu.url, "--project", E.PROJECT)
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^dcs%-logs: dcs: list_redislogs: credentials error: no credentials: environment: "
        .. ".*metadata: http://127%.0%.0%.1:9: ", err)
    end)
  end)

  describe("options", function()
    it("take credentials from flags, and the project from the environment", function()
      local status = run_with("DCS_ENDPOINT=" .. emu.url, "list", E.INSTANCE, "--ak", E.AK, "--sk", E.SK,
        "--project", E.PROJECT)
      assert.are.equal(0, status)
      status = run_with("", "list", E.INSTANCE, "--endpoint", emu.url, "--ak", E.AK, "--sk", "wrong",
        "--project", E.PROJECT)
      assert.are.equal(1, status)
      local _, err
      status, _, err = run_with("HUAWEICLOUD_SDK_PROJECT_ID=" .. E.PROJECT, "list", E.INSTANCE,
        "--endpoint", emu.url, "--ak", E.AK, "--sk", E.SK)
      assert.are.equal(0, status, err)
      for _, r in ipairs(emu:requests()) do assert.is_nil(r.path:find("/v3/projects", 1, true), r.path) end
    end)

    it("never pair keys given as flags with the environment's security token (it belongs to its key)", function()
      emu:reset()
      local status, _, err = run_with("HUAWEICLOUD_SDK_SECURITY_TOKEN=T0KEN-of-another-key", "list", E.INSTANCE,
        "--endpoint", emu.url, "--ak", E.AK, "--sk", E.SK, "--project", E.PROJECT)
      assert.are.equal(0, status, err)
      local sent = emu:requests()
      assert.are.equal(1, #sent)
      local names = {}
      for k in pairs(sent[1].headers) do names[k:lower()] = true end
      assert.is_true(names["x-project-id"])
      assert.is_nil(names["x-security-token"])
    end)

    it("trace every request with --verbose, and the headers with --debug, without secrets", function()
      local status, out, err = run("list", E.INSTANCE, "--verbose")
      assert.are.equal(0, status, err)
      assert.matches("^ID", out)
      assert.matches("^dcs%-logs: > GET http://127%.0%.0%.1:%d+/v2/" .. E.PROJECT .. "/instances/"
        .. E.INSTANCE:gsub("%-", "%%-") .. "/redislog%?[^ ]+ %(list_redislogs, attempt 1%)\n"
        .. "dcs%-logs: < HTTP 200 in %d+%.%d+s %[request_id %x+%] %(list_redislogs, attempt 1%)\n$", err)
      local token = "T0KEN-" .. ("s"):rep(40)
      emu:fault { match = { path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 200, json = { total_num = 0, file_list = {} } } } }
      status, out, err = run_with(env() .. " HUAWEICLOUD_SDK_SECURITY_TOKEN=" .. token, "list", E.INSTANCE,
        "--debug")
      assert.are.equal("", out)
      assert.are.equal(0, status, err)
      assert.matches("\ndcs%-logs: no log files\n$", err)
      assert.matches("dcs%-logs: >   Authorization: %*%*%*\n", err)
      assert.matches("dcs%-logs: >   X%-Security%-Token: %*%*%*\n", err)
      assert.matches("dcs%-logs: >   X%-Sdk%-Date: %d+T%d+Z\n", err)
      assert.is_nil(err:find(E.SK, 1, true))
      assert.is_nil(err:find(token, 1, true))
      assert.is_nil(err:find("Signature=", 1, true))
    end)

    it("retry as often as --retries says", function()
      emu:fault { match = { path_contains = "/redislog" }, times = 5,
        action = { respond = { status = 503, json = { error_code = "APIGW.0613", error_msg = "unavailable" } } } }
      local status, _, err = run("list", E.INSTANCE, "--retries", "2", "-v")
      assert.are.equal(1, status)
      assert.matches("%(list_redislogs, attempt 3%)\n", err)
      assert.matches("retrying list_redislogs %(HTTP 503%) in", err)
      assert.matches("HTTP 503 APIGW%.0613: unavailable %(after 3 attempts%)", err)
      assert.is_nil(err:find("attempt 4", 1, true))
    end)

    it("exit 2 on usage errors, with the reason", function()
      local cases = {
        { "", { "list", E.INSTANCE, "--ak", "A" }, "give both %-%-ak and %-%-sk, or neither" },
        { "", { "list", E.INSTANCE, "--region", "mars-1" }, "%-%-region: unknown DCS region 'mars%-1'" },
        { env(), { "bogus" }, "unknown command 'bogus'" },
        { env(), { "lsit" }, "unknown command 'lsit' %(did you mean list%?%)" },
        { env(), { "help", "bogus" }, "unknown command 'bogus'" },
        { env(), { "list" }, "missing INSTANCE" },
        { env(), { "list", E.INSTANCE, "--days", "3" }, "%-%-days is an option of collect and fetch, not of list" },
        { env(), { "--days", "3", "fetch", E.INSTANCE }, "%-%-days is an option of collect and fetch: put it after" },
        { env(), { "list", E.INSTANCE, "--limt", "3" }, "unknown option %-%-limt %(did you mean %-%-limit%?%)" },
        { env(), { "list", E.INSTANCE, "-x" }, "unknown option %-x" },
        { env(), { "list", E.INSTANCE, "--" .. ("x"):rep(100000) },             -- shown cut
          "unknown option %-%-" .. ("x"):rep(64) .. "%.%.%.\n" },
        { env(), { "collect", E.INSTANCE, "--days" }, "%-%-days needs a value" },
        { env(), { "collect", E.INSTANCE, "--days", "two" }, "%-%-days needs a number %(got 'two'%)" },
        -- decimal only, the same on every interpreter: Lua's tonumber would take
        -- hex and blanks everywhere, and "inf" on LuaJIT alone
        { env(), { "list", E.INSTANCE, "--limit", "0x10" }, "%-%-limit needs a number %(got '0x10'%)" },
        { env(), { "list", E.INSTANCE, "--limit", "inf" }, "%-%-limit needs a number %(got 'inf'%)" },
        { env(), { "collect", E.INSTANCE, "--days", " 1 " }, "%-%-days needs a number %(got ' 1 '%)" },
        { env(), { "fetch", E.INSTANCE, "--timeout", "1e3" }, "%-%-timeout needs a number %(got '1e3'%)" },
        { env(), { "collect", E.INSTANCE, "--days", "2" }, "%-%-days must be one of 0, 1, 3, 7 %(got 2%)" },
        { env(), { "list", E.INSTANCE, "--limit", "-5" }, "%-%-limit must be an integer from 1 to 1000 %(got %-5%)" },
        { env(), { "list", E.INSTANCE, "--limit", "5000" }, "%-%-limit must be an integer from 1 to 1000" },
        { env(), { "list", "../x" }, "INSTANCE is not a plausible id" },
        { env(), { "fetch", E.INSTANCE, "--timeout", "-1" }, "%-%-timeout must be" },
        -- a single fetch too checks its numbers before it makes --dest
        { env(), { "fetch", E.INSTANCE, "--timeout", "-1", "--dest", "none" }, "%-%-timeout must be" },
        { env(), { "fetch", E.INSTANCE, "--poll-interval", "0", "--dest", "none" }, "%-%-poll%-interval must be" },
        { env(), { "fetch", E.INSTANCE, "--days", "2", "--dest", "none" }, "%-%-days must be one of" },
        { env(), { "list", E.INSTANCE, "--retries", "11" }, "%-%-retries must be a whole number from 0 to 10" },
        { env(), { "list", E.INSTANCE, "--request-timeout", "0" },
          "%-%-request%-timeout must be a number of seconds from 0%.001 to 1e%+06 %(got 0%)" },
        { env(), { "download", "ftp://x/y" }, "unsupported link scheme 'ftp': a link is http:// or https://" },
        { env(), { "download", E.INSTANCE }, "missing LOG %(or give a link%)" },
        { env(), { "list", E.INSTANCE, "extra" }, "too many arguments" },
        { env(), { "list", E.INSTANCE, "--all", "--limit", "5" }, "%-%-all lists every file: give it without" },
        { env(), { "download", E.INSTANCE, E.LOG_ID, "-o", "-" },
          "%-%-output %- %(standard output%) is not supported" },
        { env(), { "list", E.INSTANCE, "--offset", "2", "--all" }, "%-%-all lists every file: give it without" },
        { env(), { "link", E.INSTANCE, E.LOG_ID, "extra" },
          "link takes INSTANCE LOG pairs: the last INSTANCE %('extra'%) has no LOG" },
        { env(), { "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, "../x" }, "target 2: LOG is not a plausible id" },
        { env(), { "fetch", E.INSTANCE, E.INSTANCE }, "target 2: INSTANCE [-%x]+ given twice" },
        { env(), { "fetch", E.INSTANCE, E.EMPTY_INSTANCE, "--days", "2", "--dest", "none" },
          "%-%-days must be one of 0, 1, 3, 7 %(got 2%)" },
        { env(), { "link", "--from", "pairs.txt", E.INSTANCE, E.LOG_ID },
          "give the targets as arguments or with %-%-from, not both" },
        { env(), { "link", "--from", "no-such-file" }, "%-%-from: cannot read no%-such%-file: No such file" },
        { env(), { "list", E.INSTANCE, "--json=yes" }, "%-%-json takes no value" },
      }
      for _, n in ipairs { "0", "65", "1.5", "-3" } do
        cases[#cases + 1] = { env(), { "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, E.LOG_ID, "--parallel", n },
          "%-%-parallel must be a whole number from 1 to 64 %(got " .. n:gsub("%p", "%%%0") .. "%)" }
      end
      for _, c in ipairs(cases) do
        local status, out, err = run_with(c[1], unpack(c[2]))
        assert.are.equal(2, status, err)
        assert.are.equal("", out)
        assert.matches("^dcs%-logs: " .. c[3], err)
        assert.matches("\nRun 'dcs%-logs help[ a-z]*' for usage%.\n$", err)
      end
      assert.are.same({}, emu:requests())                 -- none of them sent anything
      assert.is_nil(io.open(dir .. "/none"))              -- nor made a directory
    end)

    it("check the ids and options of one target before making its directory", function()
      for _, args in ipairs {
        { "fetch", E.INSTANCE, "--days", "2", "--dest", "none" },
        { "fetch", E.INSTANCE, "--poll-interval", "0", "--dest", "none" },
        { "fetch", "../x", "--dest", "none" },
        { "download", "../x", E.LOG_ID, "-o", "none/" },
        { "download", E.INSTANCE, "-o", "none/" },
        { "download", "http://bob:pa55word@127.0.0.1:9/x.log", "-o", "none/", "-v" },
        { "download", "http://127.0.0.1:9/a b.log", "-o", "none/" },
      } do
        local status, out, err = run(unpack(args))
        assert.are.equal(2, status, err)
        assert.are.equal("", out)
        assert.is_nil(err:find("created directory", 1, true), err)
        assert.is_nil(err:find("pa55word", 1, true), err)
        assert.is_nil(io.open(dir .. "/none"), table.concat(args, " "))
      end
      assert.are.same({}, emu:requests())
    end)

    it("refuse an empty value: --output \"\" would be the root directory", function()
      for _, c in ipairs { { "output", "download", E.INSTANCE, E.LOG_ID, "--output", "" },
        { "output", "download", E.INSTANCE, E.LOG_ID, "-o", "" }, { "dest", "fetch", E.INSTANCE, "--dest=" },
        { "endpoint", "list", E.INSTANCE, "--endpoint=" } } do
        local status, out, err = run(unpack(c, 2))
        assert.are.equal(2, status, err)
        assert.are.equal("", out)
        assert.matches("^dcs%-logs: %-%-" .. c[1] .. " needs a value %(got an empty one%)\n", err)
      end
      assert.are.same({}, emu:requests())
      assert.are.equal(0, (run("list", E.INSTANCE, "--proxy", "")))     -- "" is no proxy
    end)

    it("name in a client's error the variable its value came from, or the option", function()
      local cases = {
        { "DCS_ENDPOINT=ftp://x", { "list", E.INSTANCE }, "DCS_ENDPOINT must be an http:// or https:// URL" },
        { "HUAWEICLOUD_SDK_REGION=mars-1", { "list", E.INSTANCE }, "HUAWEICLOUD_SDK_REGION: unknown DCS region" },
        { "HUAWEICLOUD_SDK_REGION=mars-1", { "list", E.INSTANCE, "--region", "venus-2" },
          "--region: unknown DCS region 'venus-2'" },
        { "HUAWEICLOUD_SDK_PROJECT_ID=bad!", { "list", E.INSTANCE, "--ak", E.AK, "--sk", E.SK },
          "HUAWEICLOUD_SDK_PROJECT_ID is not a plausible id" },
        { env(), { "fetch", E.INSTANCE, "--request-timeout", "0" }, "--request-timeout must be a number" },
      }
      for _, c in ipairs(cases) do
        local status, out, err = run_with(c[1], unpack(c[2]))
        assert.are.equal(2, status, err)
        assert.are.equal("", out)
        assert.are.equal("dcs-logs: " .. c[3], err:sub(1, #c[3] + 10))
      end
    end)

    it("put a usage error of --json in JSON too", function()
      local status, out = run("collect", E.INSTANCE, "--days", "2", "--json")
      assert.are.equal(2, status)
      assert.matches('^{"error":{"kind":"invalid_argument","operation":"collect_redislog",', out)
    end)

    it("put every usage error in JSON with --json, wherever it was found and wherever --json stands", function()
      for _, c in ipairs {
        { { "list", "--json" }, "missing INSTANCE" },
        { { "--json", "list", E.INSTANCE, "--limt", "3" }, "unknown option --limt (did you mean --limit?)" },
        { { "list", E.INSTANCE, "--limit", "abc", "--json" }, "--limit needs a number (got 'abc')" },
        { { "fetch", "../x", "--json" }, "INSTANCE is not a plausible id" },
        { { "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, "../x", "--json" }, "target 2: LOG is not a plausible id" },
        { { "list", E.INSTANCE, "--json", "--request-timeout", "0" }, "--request-timeout must be a number" },
      } do
        local status, out, err = run(unpack(c[1]))
        assert.are.equal(2, status, err)
        local res = cjson.decode(out)
        assert.are.equal("invalid_argument", res.error.kind)
        assert.are.equal(c[2], res.error.message:sub(1, #c[2]))
        assert.are.equal("dcs-logs: " .. c[2], err:sub(1, #c[2] + 10))
      end
      assert.are.same({}, emu:requests())
      local status, out, err = run("--json")                 -- no command: the usage on stderr
      assert.are.equal(2, status, err)
      assert.are.equal('{"error":{"kind":"invalid_argument","message":"missing COMMAND"}}\n', out)
      assert.matches("^usage: dcs%-logs", err)
    end)
  end)
end)
