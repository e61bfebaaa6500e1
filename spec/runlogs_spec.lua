-- collect_redislog, list_redislogs, each_redislog, fetch_run_logs over loopback.
local core = require "dcs.core"
local E = require "support.emulator"
local files = require "support.files"

local tmpdir, listdir = files.tmpdir, files.entries

describe("run-log workflow", function()
  local emu, client
  local fixture = E.fixture("--collect-delay 0.3", function(e, c) emu, client = e, c end)
  lazy_setup(fixture.start)
  lazy_teardown(fixture.stop)
  before_each(fixture.reset)

  describe("collect_redislog", function()
    it("returns true on 204 and sends log_type=run with query_time and replication_id", function()
      assert.is_true(client:collect_redislog(E.MS_INSTANCE, { query_time = 3, replication_id = E.REPLICATION }))
      local r = emu:last_request()
      assert.are.equal("POST", r.method)
      assert.are.equal(204, r.status)
      assert.are.equal("log_type=run&query_time=3&replication_id=" .. E.REPLICATION, r.query)
      assert.are.equal("", r.body)
    end)

    it("defaults to today for a single-node instance", function()
      emu:config { collect_delay = 60 }        -- still "creating" however slow the machine is
      assert.is_true(client:collect_redislog(E.EMPTY_INSTANCE))
      assert.are.equal("log_type=run", emu:last_request().query)
      local res = assert(client:list_redislogs(E.EMPTY_INSTANCE))
      assert.are.equal(1, res.total_num)
      assert.are.equal("creating", res.file_list[1].status)
    end)

    it("rejects an invalid query_time or replication_id before sending", function()
      for _, bad in ipairs { 2, 5, -1, 1.5, "3", 0 / 0, math.huge, 2 ^ 63, true } do
        local ok, err = client:collect_redislog(E.INSTANCE, { query_time = bad })
        assert.is_nil(ok)
        assert.are.equal("invalid_argument", err.kind)
        -- the values it takes, not a range of integers most of which it refuses
        assert.are.equal("query_time must be one of 0, 1, 3, 7 (got " .. tostring(bad) .. ")", err.message)
      end
      local ok, err = client:collect_redislog(E.INSTANCE, { replication_id = "" })
      assert.is_nil(ok)
      assert.are.equal("invalid_argument", err.kind)
      assert.are.equal(0, #emu:requests())
    end)

    it("gets the service's 400 for a master/standby instance without replication_id", function()
      local ok, err = client:collect_redislog(E.MS_INSTANCE)
      assert.is_nil(ok)
      assert.are.equal(400, err.status)
      assert.are.equal("DCS.4800", err.code)
      assert.matches("replication_id", err.message)
    end)
  end)

  describe("list_redislogs", function()
    it("returns total_num and the file fields", function()
      local res = assert(client:list_redislogs(E.INSTANCE))
      assert.are.equal(3, res.total_num)
      assert.are.equal(3, #res.file_list)
      local f = res.file_list[1]
      assert.are.equal(E.LOG_ID, f.id)
      assert.are.equal(E.LOG_ID, f.backup_id)
      assert.are.equal("succeed", f.status)
      assert.are.equal("group-0", f.group_name)
      assert.are.equal("192.168.0.142", f.replication_ip)
      assert.matches("^%d%d%d%d%-%d%d%-%d%d$", f.time)
      assert.are.equal("redis_192.168.0.142_" .. f.time .. ".log", f.file_name)
      assert.are.equal("limit=10&log_type=run&offset=0", (function()
        assert(client:list_redislogs(E.INSTANCE, { offset = 0, limit = 10 }))
        return emu:last_request().query
      end)())
    end)

    it("turns a 204 into an empty list", function()
      local res = assert(client:list_redislogs(E.EMPTY_INSTANCE))
      assert.are.equal(204, emu:last_request().status)
      assert.are.same({ total_num = 0, file_list = {} }, res)
    end)

    it("validates offset and limit", function()
      for _, opts in ipairs { { offset = -1 }, { limit = 0 }, { limit = 1001 }, { limit = "10" } } do
        local res, err = client:list_redislogs(E.INSTANCE, opts)
        assert.is_nil(res)
        assert.are.equal("invalid_argument", err.kind)
      end
    end)
  end)

  describe("each_redislog", function()
    it("iterates every file across pages", function()
      for _ = 1, 4 do
        emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { size = 10 })
      end
      local ids = {}
      for file, err in client:each_redislog(E.INSTANCE, { page_size = 2 }) do
        assert.is_nil(err)
        ids[#ids + 1] = file.id
      end
      assert.are.equal(7, #ids)
      local seen = {}
      for _, id in ipairs(ids) do
        assert.is_nil(seen[id])
        seen[id] = true
      end
      assert.are.equal(4, #emu:requests())      -- pages of 2, 2, 2, 1
    end)

    it("gives each file once when a listing that shifts between pages repeats one", function()
      -- offset paging over a listing that grows at its head: page 2 repeats page 1's last file
      local function file(id) return { id = id, file_name = id .. ".log", status = "succeed" } end
      emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 200, json = { total_num = 3, file_list = { file("a"), file("b") } } } } }
      emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 200, json = { total_num = 3, file_list = { file("b"), file("c") } } } } }
      local ids = {}
      for f, err in client:each_redislog(E.INSTANCE, { page_size = 2 }) do
        assert.is_nil(err)
        ids[#ids + 1] = f.id
      end
      assert.are.same({ "a", "b", "c" }, ids)
    end)

    it("ends at once for an instance without logs", function()
      local n = 0
      for _ in client:each_redislog(E.EMPTY_INSTANCE) do n = n + 1 end
      assert.are.equal(0, n)
    end)

    it("gives false, err once on a failure, then ends", function()
      local seen = {}
      for file, err in client:each_redislog("5560df16-cebf-4473-95c4-d1b573c16e70") do
        seen[#seen + 1] = { file, err }
      end
      assert.are.equal(1, #seen)
      assert.is_false(seen[1][1])
      assert.are.equal(404, seen[1][2].status)
    end)
  end)

  describe("fetch_run_logs", function()
    it("collects, waits until the new files are ready, and downloads each", function()
      local dir = tmpdir()
      local calls = 0
      local written, failed = client:fetch_run_logs(E.MS_INSTANCE, { days = 3,
        replication_id = E.REPLICATION, dest = dir, poll_interval = 0.1, timeout = 10,
        progress = function(file, done, total)
          calls = calls + 1
          assert.is_string(file.file_name)
          assert.is_true(done <= total)
        end })
      assert.is_table(written, tostring(failed))
      assert.are.same({}, failed)
      assert.are.equal(3, #written)
      assert.is_true(calls >= 3)
      local names = listdir(dir)
      table.sort(names)
      assert.are.equal(3, #names)                 -- no temporary files left over
      for _, w in ipairs(written) do
        assert.are.equal(dir .. "/" .. w.file_name, w.path)
        assert.are.equal(core.sha256_file(w.path), w.sha256)
        assert.matches("^redis_192%.168%.0%.11_%d+%-%d+%-%d+%.log$", w.file_name)
      end
      os.execute("rm -rf " .. dir)
    end)

    -- The listing before the collection is empty, and every one after it
    -- gives `list` (entries for a file of a past day, which the collection
    -- of today does not replace, so its links work).
    local function new_files(list)
      local old = emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { time = "2020-01-01" })
      for _, f in ipairs(list) do f.id, f.status = old.id, "succeed" end
      emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 200, json = { total_num = 0, file_list = {} } } } }
      emu:fault { match = { method = "GET", path_contains = "/redislog" }, times = -1,
        action = { respond = { status = 200, json = { total_num = #list, file_list = list } } } }
    end

    it("downloads a new file once when the listing gives it twice", function()
      local dir = tmpdir()
      local f = { file_name = "twice.log" }
      new_files { f, f }
      local written, failed = client:fetch_run_logs(E.INSTANCE, { dest = dir, poll_interval = 0.1, timeout = 5 })
      assert.is_table(written, tostring(failed))
      assert.are.same({}, failed)
      assert.are.equal(1, #written)
      assert.are.same({ "twice.log" }, listdir(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("saves a file whose server-given name has a long extension under a name of at most MAX_NAME bytes", function()
      local dir = tmpdir()
      new_files { { file_name = "redis." .. ("log"):rep(100) } }
      local written, failed = client:fetch_run_logs(E.INSTANCE, { dest = dir, poll_interval = 0.1, timeout = 5 })
      assert.is_table(written, tostring(failed))
      assert.are.same({}, failed)
      assert.are.equal(1, #written)
      local base = written[1].path:match("[^/]*$")
      assert.is_true(#base <= require("dcs.names").MAX_NAME, base)
      assert.matches("^redis", base)
      assert.are.same({ base }, listdir(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("reports a failing file per file and still downloads the others", function()
      local dir = tmpdir()
      -- the second link request fails; the first and third files still land
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = { respond = { status = 500,
          json = { error_code = "DCS.5000", error_msg = "Internal service error." } } } }
      local written, failed = client:fetch_run_logs(E.INSTANCE, { days = 3, dest = dir, poll_interval = 0.1 })
      assert.is_table(written, tostring(failed))
      assert.are.equal(2, #written)
      assert.are.equal(1, #failed)
      assert.are.equal("DCS.5000", failed[1].error.code)
      assert.is_string(failed[1].file_name)
      assert.are.equal(2, #listdir(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("reports files that never become ready, after the timeout", function()
      local dir = tmpdir()
      emu:config { collect_delay = 60 }
      local t0 = core.monotime()
      local written, failed = client:fetch_run_logs(E.EMPTY_INSTANCE, { dest = dir, timeout = 0.5,
        poll_interval = 0.1 })
      assert.is_true(core.monotime() - t0 < 3)
      assert.are.same({}, written)
      assert.are.equal(1, #failed)
      assert.are.equal("timeout", failed[1].error.kind)
      assert.matches("still 'creating'", failed[1].error.message)
      assert.are.equal(0, #listdir(dir))
      os.execute("rm -rf " .. dir)
    end)

    it("gives every request its request_timeout: the listings, the collection and the links", function()
      local dir = tmpdir()
      local c = emu:client { retries = false }
      emu:fault { match = { method = "POST", path_contains = "/redislog" }, times = 1, action = { delay = 1.5 } }
      local t0 = core.monotime()
      local written, err = c:fetch_run_logs(E.INSTANCE, { days = 3, dest = dir, poll_interval = 0.1,
        request_timeout = 0.3 })
      assert.is_nil(written)
      assert.are.equal("timeout", err.kind)
      assert.are.equal("collect_redislog", err.operation)
      assert.is_true(core.monotime() - t0 < 1.2)
      -- the emulator carries the collection out after its delay: let it, then start afresh
      core.sleep(math.max(0, t0 + 2 - core.monotime()))
      emu:reset()
      emu:fault { match = { path_contains = "/links" }, times = -1, action = { delay = 1.5 } }
      t0 = core.monotime()
      local failed
      written, failed = c:fetch_run_logs(E.INSTANCE, { days = 3, dest = dir, poll_interval = 0.1,
        request_timeout = 0.3 })
      assert.is_table(written, tostring(failed))
      assert.are.same({}, written)
      assert.are.equal(3, #failed)
      for _, f in ipairs(failed) do
        assert.are.equal("timeout", f.error.kind)
        assert.are.equal("create_redislog_download_link", f.error.operation)
      end
      assert.is_true(core.monotime() - t0 < 1.5)
      core.sleep(math.max(0, t0 + 2 - core.monotime()))     -- the emulator's delayed answers, out of the way
      emu:reset()
      c:close()
      os.execute("rm -rf " .. dir)
    end)

    it("fails as a whole when the collection is refused", function()
      local written, err = client:fetch_run_logs(E.MS_INSTANCE, { dest = "." })
      assert.is_nil(written)
      assert.are.equal("DCS.4800", err.code)
    end)

    it("downloads at most `concurrency` files at once", function()
      local dir = tmpdir()
      emu:config { latency = 0.2 }
      local written, failed = client:fetch_run_logs(E.INSTANCE, { days = 3, dest = dir, poll_interval = 0.1,
        concurrency = 1 })
      assert.is_table(written, tostring(failed))
      assert.are.equal(3, #written)
      assert.are.equal(1, emu:admin("GET", "/_emulator/stats").peak_in_flight)
      os.execute("rm -rf " .. dir)
      local _, err = client:fetch_run_logs(E.INSTANCE, { concurrency = 0 })
      assert.are.equal("invalid_argument", err.kind)
      assert.matches("concurrency must be an integer from 1 to 64", err.message)
    end)

    it("validates its options", function()
      local _, err = client:fetch_run_logs(E.INSTANCE, { poll_interval = 0 })
      assert.are.equal("invalid_argument", err.kind)
      _, err = client:fetch_run_logs(E.INSTANCE, { days = 2 })
      assert.are.equal("invalid_argument", err.kind)
      assert.matches("days must be one of 0, 1, 3, 7", err.message)
      assert.are.equal(0, #emu:requests())
    end)

    it("refuses a dest that is not an existing directory before collecting anything", function()
      local dir = tmpdir()
      local file = dir .. "/a-file"
      assert(io.open(file, "w")):close()
      for _, dest in ipairs { dir .. "/missing", file, dir .. "/missing/deeper", "/dev/null", file .. "/x" } do
        local written, err = client:fetch_run_logs(E.INSTANCE, { dest = dest, timeout = 1, poll_interval = 0.1 })
        assert.is_nil(written)
        assert.are.equal("invalid_argument", err.kind, tostring(err))
        assert.matches("^dest must be a directory %(" .. dest:gsub("%p", "%%%0") .. ": [^)]+%)$", err.message)
      end
      assert.are.equal(0, #emu:requests())     -- no collection, which replaces the day's older log
      os.execute("rm -rf " .. dir)
    end)
  end)
end)
