-- Tasks, dcs.gather and the host loop outside nginx: real concurrency on
-- the libcurl multi engine, against the emulator and the hostile server.
local core = require "dcs.core"
local dcs = require "dcs"
local E = require "support.emulator"
local files = require "support.files"

describe("tasks and dcs.gather", function()
  local emu, client
  lazy_setup(function() emu = E.start("--collect-delay 0.2") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function()
    -- requests an earlier test left sleeping in the emulator would count as
    -- in flight: let them end first
    for _ = 1, 100 do
      if emu:admin("GET", "/_emulator/stats").in_flight == 0 then break end
      core.sleep(0.1)
    end
    emu:reset()
    client = emu:client { retries = false }
  end)
  after_each(function() client:close() end)

  local function link_of(job) return client:create_redislog_download_link(job.instance, job.log) end

  it("runs 200 items at a cap of 64: 64 in flight, never more, results in order", function()
    emu:config { latency = 0.3 }
    local t0 = core.monotime()
    local results, failed = dcs.gather(E.link_jobs(200, 10), link_of, { concurrency = 64 })
    local took = core.monotime() - t0
    assert.are.equal(200, #results)
    assert.are.equal(20, failed)
    for i, r in ipairs(results) do
      if i % 10 == 0 then
        assert.is_false(r.ok)
        assert.are.equal(404, r.err.status)
      else
        assert.is_true(r.ok, tostring(r.err))
        assert.are.equal(E.LOG_ID, r.value.id)
      end
    end
    assert.are.equal(64, emu:admin("GET", "/_emulator/stats").peak_in_flight)
    -- 4 rounds of 0.3 s when concurrent, 60 s if not: a generous bound
    assert.is_true(took < 20, "took " .. took)
  end)

  it("calls progress once per item and turns a raise into that item's error", function()
    local seen = {}
    local results = dcs.gather({ 1, 2, 3 }, function(n)
      if n == 2 then error("boom") end
      return n * 10
    end, { concurrency = 2, progress = function(done, total, i) seen[#seen + 1] = { done, total, i } end })
    assert.are.equal(10, results[1].value)
    assert.is_false(results[2].ok)
    assert.matches("boom", results[2].err.message)
    assert.are.equal(30, results[3].value)
    assert.are.equal(3, #seen)
    assert.are.same({ 3, 3 }, { seen[3][1], seen[3][2] })
  end)

  it("stops the fan-out at a gateway 401, so the AK is not locked", function()
    local bad = emu:client { sk = "wrong-secret-000000000000000000000000", retries = false }
    local results, failed = dcs.gather(E.link_jobs(100), function(job)
      return bad:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 4 })
    bad:close()
    assert.are.equal(100, failed)
    local aborted = 0
    for _, r in ipairs(results) do
      if r.err.kind == "aborted" then
        aborted = aborted + 1
        assert.matches("HTTP 401", r.err.message)
      else
        assert.are.equal(401, r.err.status)
      end
    end
    assert.is_true(aborted >= 90, "aborted " .. aborted)
    assert.is_true(#emu:requests() <= 10, "sent " .. #emu:requests())
  end)

  it("sends nothing more for the items already started once a gateway 401 stops the fan-out", function()
    -- the first three requests get a 503 that asks to retry after 1 s, the
    -- fourth a 401: the three retries, due after the stop, must not be sent
    emu:fault { match = { path_contains = "/links" }, times = 3, action = { respond = { status = 503,
      headers = { ["Retry-After"] = "1" }, json = { error_code = "DCS.5003", error_msg = "busy" } } } }
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 401,
      json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
    local c = emu:client { retries = { max = 2, base = 0.01, cap = 2 } }
    local results, failed = dcs.gather(E.link_jobs(6), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 4 })
    c:close()
    assert.are.equal(6, failed)
    assert.are.equal(4, #emu:requests())
    local kinds = {}
    for _, r in ipairs(results) do
      kinds[r.err.kind] = (kinds[r.err.kind] or 0) + 1
      if r.err.kind == "aborted" then assert.matches("HTTP 401 APIGW%.0301", r.err.message) end
    end
    assert.are.same({ api = 1, aborted = 5 }, kinds)
  end)

  it("raises what a stop function raised once every worker ended, with no worker left running", function()
    local tasks = require "dcs.tasks"
    local finished = {}
    local ok, why = pcall(dcs.gather, { 1, 2, 3 }, function(i)
      if i > 1 then tasks.sleep(0.2) end          -- items 2 and 3 still run when item 1 fails
      finished[i] = true
      return nil, { kind = "api" }
    end, { concurrency = 2, stop = function() error("the stop rule raised") end })
    assert.is_false(ok)
    assert.matches("the stop rule raised", tostring(why))
    assert.is_true(finished[2], "dcs.gather raised while a worker still ran item 2")
    assert.are.equal(0, dcs.loop().live)
  end)

  it("stops a fan-out run by an item of a stopped one too: its calls send nothing", function()
    emu:fault { match = { path_contains = "stop-401" }, times = 1, action = { respond = { status = 401,
      json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
    local stopped = false
    local results = dcs.gather({ "stop", "nested" }, function(item)
      if item == "stop" then
        local _, err = client:create_redislog_download_link(E.INSTANCE, "stop-401")
        stopped = true
        return nil, err
      end
      -- an item started before the stop runs a fan-out of its own after it
      while not stopped do require("dcs.tasks").sleep(0.01) end
      local inner = dcs.gather(E.link_jobs(3), link_of, { concurrency = 1 })
      return inner
    end, { concurrency = 2 })
    assert.are.equal(401, results[1].err.status)
    for _, r in ipairs(results[2].value) do
      assert.are.equal("aborted", r.err and r.err.kind)
    end
    assert.are.equal(1, #emu:requests())
  end)

  it("stops the fan-out an item runs in when a fan-out of that item is stopped by a 401", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 401,
      json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
    -- what dcs-logs fetch does for several instances: a fetch_run_logs (its
    -- downloads a fan-out) per instance, in a fan-out; the first one's
    -- first link request gets the 401
    local dir = files.tmpdir()
    local results = dcs.gather({ E.INSTANCE, E.INSTANCE }, function(instance)
      return client:fetch_run_logs(instance, { days = 3, dest = dir, poll_interval = 0.05, concurrency = 1 })
    end, { concurrency = 1 })
    files.remove_tree(dir)
    assert.are.equal("aborted", results[2].err and results[2].err.kind)
    assert.matches("HTTP 401 APIGW%.0301", results[2].err.message)
    local after, seen = 0, false
    for _, r in ipairs(emu:requests()) do
      if seen then after = after + 1 end
      seen = seen or r.path:find("/links", 1, true) ~= nil
    end
    assert.are.equal(0, after, "requests sent after the 401")
  end)

  it("is not stopped by a 401 from a download link's server, which signs nothing with the AK", function()
    local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
    emu:fault { match = { path_contains = "/_obs/" }, times = 1, action = { respond = { status = 401,
      body = "<Error><Code>AccessDenied</Code><Message>expired</Message></Error>" } } }
    local dir = files.tmpdir()
    local results, failed = dcs.gather({ "a.log", "b.log", "c.log" }, function(name)
      return client:download(link, dir .. "/" .. name)
    end, { concurrency = 1 })
    files.remove_tree(dir)
    assert.are.equal(1, failed)
    assert.are.equal(401, results[1].err.status)
    assert.is_true(results[2].ok and results[3].ok)
  end)

  it("makes every task of a client wait out a 429's Retry-After", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 429,
      headers = { ["Retry-After"] = "1" }, json = { error_code = "APIGW.0308", error_msg = "throttled" } } } }
    local sent, throttled_at = {}, nil
    local c = emu:client { retries = { max = 2, base = 0.01, cap = 2 },
      on_request = function() sent[#sent + 1] = core.monotime() end,
      on_response = function(i) if i.status == 429 then throttled_at = core.monotime() end end }
    local results, failed = dcs.gather(E.link_jobs(40), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 8 })
    c:close()
    assert.are.equal(0, failed, tostring(results[1].err))
    assert.truthy(throttled_at)
    local early = 0
    for _, t in ipairs(sent) do
      if t > throttled_at and t < throttled_at + 0.9 then early = early + 1 end
    end
    assert.are.equal(0, early)
  end)

  it("makes tasks already waiting for their rate_limit slot wait out a 429's Retry-After too", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 429,
      headers = { ["Retry-After"] = "2" }, json = { error_code = "APIGW.0308", error_msg = "throttled" } } } }
    local sent, throttled_at = {}, nil
    -- slots every 0.5 s: the tasks behind the first are asleep for theirs when its 429 comes
    local c = emu:client { rate_limit = 2, retries = { max = 2, base = 0.01, cap = 3 },
      on_request = function() sent[#sent + 1] = core.monotime() end,
      on_response = function(i) if i.status == 429 then throttled_at = core.monotime() end end }
    local results, failed = dcs.gather(E.link_jobs(4), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 4 })
    c:close()
    assert.are.equal(0, failed, tostring(results[1].err))
    assert.truthy(throttled_at)
    local early = {}
    for _, t in ipairs(sent) do
      if t > throttled_at and t < throttled_at + 1.9 then early[#early + 1] = ("%.2f"):format(t - throttled_at) end
    end
    assert.are.same({}, early)
  end)

  it("keeps the rate_limit slots that come after a 429's pause: only those inside it move back", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 429,
      headers = { ["Retry-After"] = "1" }, json = { error_code = "APIGW.0308", error_msg = "throttled" } } } }
    local sent, throttled_at = {}, nil
    -- slots every 0.25 s up to 1.75 s: the pause holds the first three behind the first
    local c = emu:client { rate_limit = 4, retries = { max = 2, base = 0.01, cap = 3 },
      on_request = function() sent[#sent + 1] = core.monotime() end,
      on_response = function(i) if i.status == 429 then throttled_at = core.monotime() end end }
    local results, failed = dcs.gather(E.link_jobs(8), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 8 })
    c:close()
    assert.are.equal(0, failed, tostring(results[1].err))
    local after_pause = {}
    for _, t in ipairs(sent) do
      if t >= throttled_at + 0.95 and t < throttled_at + 1.9 then after_pause[#after_pause + 1] = t end
    end
    -- the slots at 1.25, 1.5 and 1.75 s are used, not left idle behind new ones
    assert.is_true(#after_pause >= 2, #after_pause .. " requests sent in the second after the pause")
  end)

  it("holds a rate limit shared by every task of the client", function()
    local c = emu:client { rate_limit = 20, retries = false }
    local t0 = core.monotime()
    local _, failed = dcs.gather(E.link_jobs(41), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 16 })
    local took = core.monotime() - t0
    c:close()
    assert.are.equal(0, failed)
    assert.is_true(took >= 1.9, "took " .. took)       -- 40 intervals of 50 ms
  end)

  it("retries inside tasks, suspending only the task that waits", function()
    emu:fault { match = { path_contains = "/links" }, times = 3, action = { respond = { status = 503,
      json = { error_code = "DCS.5000", error_msg = "busy" } } } }
    local c = emu:client { retries = { max = 3, base = 0.2, cap = 0.4 } }
    local results, failed = dcs.gather(E.link_jobs(10), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 10 })
    c:close()
    assert.are.equal(0, failed, tostring(results[1].err))
    assert.are.equal(13, #emu:requests())
  end)

  it("ends calls in flight with kind 'closed' when their client closes", function()
    emu:config { latency = 1 }
    local loop = dcs.loop()
    local tasks = {}
    for i = 1, 5 do tasks[i] = loop:spawn(link_of, E.link_jobs(1)[1]) end
    loop:step(0)
    loop:step(0.1)
    client:close()
    for _, t in ipairs(tasks) do
      local _, err = t:wait()
      assert.are.equal("closed", err.kind)
    end
  end)

  it("ends calls asleep in a 429's pause, a rate_limit slot or a back-off with kind 'closed' on close", function()
    emu:later("throttled-1", 429)
    emu:later("busy-1", 503)              -- retried after exactly its Retry-After: a 5 s back-off
    local retries = { max = 2, base = 0.01, cap = 10 }
    local paced = emu:client { rate_limit = 0.1, retries = false }        -- a slot every 10 s
    local paused, backing_off = emu:client { retries = retries }, emu:client { retries = retries }
    local loop = dcs.loop()
    local first = loop:spawn(paced.create_redislog_download_link, paced, E.INSTANCE, E.LOG_ID)
    local asleep = {
      loop:spawn(paced.create_redislog_download_link, paced, E.INSTANCE, E.LOG_ID),
      loop:spawn(paused.create_redislog_download_link, paused, E.INSTANCE, "throttled-1"),
      loop:spawn(backing_off.create_redislog_download_link, backing_off, E.INSTANCE, "busy-1"),
    }
    local t0 = core.monotime()
    while core.monotime() - t0 < 1 do loop:step(0.05) end
    assert.is_true(first:done())
    assert.are.equal(3, #emu:requests())
    for _, c in ipairs { paced, paused, backing_off } do c:close() end
    t0 = core.monotime()
    while core.monotime() - t0 < 3 and loop:step(0.05) > 0 do end
    for i, task in ipairs(asleep) do
      local done = task:done()
      task:cancel()
      assert.is_true(done, "task " .. i .. " still asleep 3 s after its client closed")
      local _, err = task:result()
      assert.are.equal("closed", err.kind)
    end
    assert.are.equal(3, #emu:requests())
  end)

  it("ends a fetch_run_logs asleep between its listings with kind 'closed' on close", function()
    emu:config { collect_delay = 30 }                 -- the new file stays 'creating': it polls
    local dir = files.tmpdir()
    local c = emu:client { retries = false }
    local loop = dcs.loop()
    local fetch = loop:spawn(c.fetch_run_logs, c, E.INSTANCE, { dest = dir, poll_interval = 10, timeout = 60 })
    local t0 = core.monotime()
    while core.monotime() - t0 < 1 do loop:step(0.05) end
    assert.is_false(fetch:done())
    c:close()
    t0 = core.monotime()
    while core.monotime() - t0 < 3 and not fetch:done() do loop:step(0.05) end
    local done = fetch:done()
    fetch:cancel()
    files.remove_tree(dir)
    assert.is_true(done, "fetch_run_logs still asleep 3 s after its client closed")
    local _, err = fetch:result()
    assert.are.equal("closed", err.kind)
  end)

  it("cancels a task in flight", function()
    emu:config { latency = 1 }
    local loop = dcs.loop()
    local task = loop:spawn(link_of, E.link_jobs(1)[1])
    loop:step(0.1)
    assert.is_false(task:done())
    assert.is_true(task:cancel())
    assert.is_true(task:done())
    local res, err = task:result()
    assert.is_nil(res)
    assert.are.equal("cancelled", err.kind)
    loop:run()
  end)

  it("releases on cancel what a task registered, latest first, and nothing released or outside tasks", function()
    local tasks = require "dcs.tasks"
    local ran = {}
    local outside = tasks.on_cancel(function() ran[#ran + 1] = "outside" end)
    outside()
    local loop = dcs.loop()
    local task = loop:spawn(function()
      tasks.on_cancel(function() ran[#ran + 1] = "first" end)
      tasks.on_cancel(function() error("a raise is ignored") end)
      local release = tasks.on_cancel(function() ran[#ran + 1] = "released" end)
      tasks.on_cancel(function() ran[#ran + 1] = "last" end)
      release()
      tasks.sleep(10)
    end)
    loop:step(0)
    assert.is_true(task:cancel())
    assert.are.same({ "last", "first" }, ran)
    assert.is_false(task:cancel())
    assert.are.same({ "last", "first" }, ran)
    local done = loop:spawn(function() tasks.on_cancel(function() ran[#ran + 1] = "done" end) end)
    loop:run()
    assert.is_false(done:cancel())
    assert.are.same({ "last", "first" }, ran)
  end)

  it("runs a call from a download's progress function at once, in a task or not", function()
    local other = emu:client { user_agent = "other", retries = false }
    local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
    local dir = files.tmpdir()
    local function download(name)
      local inner = {}
      local res, err = client:download(link, dir .. "/" .. name, { progress = function()
        inner[#inner + 1] = { other:list_redislogs(E.INSTANCE) }
      end })
      return res, err, inner
    end
    local res, err, inner = download("blocking.log")                  -- outside any task
    assert(res, tostring(err))
    assert(inner[1][1], tostring(inner[1][2]))
    local loop = dcs.loop()
    local task = loop:spawn(download, "task.log")
    loop:run()
    res, err, inner = task:result()
    assert(res, tostring(err))
    assert(#inner > 0 and inner[1][1], tostring(inner[1] and inner[1][2]))
    other:close()
    files.remove_tree(dir)
  end)

  describe("from a sink callback and around cancels", function()
    local hs, dir
    lazy_setup(function() hs = E.start_hostile() end)
    lazy_teardown(function() hs:stop() end)
    before_each(function()
      hs:reset { close_connections = true }
      dir = files.tmpdir()
    end)
    after_each(function() files.remove_tree(dir) end)

    -- A file of n pieces of k bytes, `gap` seconds apart, with a validator.
    local function slow(path, n, k, gap)
      local steps = { { send = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: "v1"\r\n\r\n'):format(n * k) } }
      for _ = 1, n do
        steps[#steps + 1] = { send = ("x"):rep(k) }
        steps[#steps + 1] = { sleep = gap }
      end
      hs:script { match = { path_prefix = path }, times = 1, steps = steps }
      return hs.url .. path
    end

    it("runs a fan-out from a progress function one item at a time, blocking", function()
      local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
      local results
      assert(client:download(link, dir .. "/a.log", { progress = function()
        results = results or dcs.gather({ E.INSTANCE, E.INSTANCE }, function(id) return client:list_redislogs(id) end)
      end }))
      assert.is_true(results[1].ok and results[2].ok)
      assert.are.equal(0, dcs.loop().live)
    end)

    it("closes the engines of a progress function's calls once the loop's engine is idle", function()
      local link = slow("/obs/n", 3, 270000, 0.01)
      local engines = {}
      assert(client:download(link, dir .. "/n.log", { progress = function()
        engines[#engines + 1] = dcs.loop():engine()
        assert(client:list_redislogs(E.INSTANCE))
      end }))
      assert.is_true(#engines >= 3)
      for i = 2, #engines do assert.are.equal(engines[1], engines[i]) end   -- kept while it ran
      -- a host that made such a call once holds neither it nor its sockets
      assert.is_true(engines[1]:closed())
      assert.are_not.equal(engines[1], dcs.loop():engine())
      link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
      local again
      assert(client:download(link, dir .. "/a.log", { progress = function()
        again = again or dcs.loop():engine()
        assert(client:list_redislogs(E.INSTANCE))
      end }))
      assert.are_not.equal(engines[1], again)
      assert.is_true(again:closed())
    end)

    it("sleeps without yielding in a callback that a task's own loop:step runs", function()
      local limited = emu:client { retries = false, rate_limit = 5 }
      local link = slow("/obs/i", 5, 270000, 0.1)
      local loop = dcs.loop()
      local download = loop:spawn(function()
        return client:download(link, dir .. "/i.log", { progress = function()
          assert(limited:list_redislogs(E.INSTANCE))      -- waits for its rate limit's slot
        end })
      end)
      loop:spawn(function() while not download:done() do loop:step(0.05) end end)
      loop:run()
      limited:close()
      assert(download:result())
    end)

    it("cancels a cancelled fan-out's items too", function()
      local loop = dcs.loop()
      local links = {}
      for i = 1, 3 do links[i] = slow("/obs/k" .. i, 6, 270000, 0.1) end
      local t = loop:spawn(function()
        return dcs.gather(links, function(l, i) return client:download(l, dir .. "/k" .. i .. ".log") end)
      end)
      for _ = 1, 5 do loop:step(0.05) end
      assert.is_true(t:cancel())
      assert.are.equal(0, loop:engine():running())
      loop:run()
      for _, name in ipairs(files.entries(dir)) do assert.matches("%.part", name) end   -- none finished
    end)

    it("keeps a task that tries to cancel itself running to its end, and the loop's count right", function()
      local loop = dcs.loop()
      local t
      t = loop:spawn(function() return t:cancel() end)
      local other = loop:spawn(function() require("dcs.tasks").sleep(0.2) return 2 end)
      loop:run()
      assert.is_false(t:result())
      assert.are.equal(2, other:result())
      assert.are.equal(0, loop.live)
    end)
  end)

  it("makes the loop's engine anew once it was closed", function()
    emu:config { latency = 0.3 }
    local loop = dcs.loop()
    local ts = {}
    for i = 1, 3 do ts[i] = loop:spawn(function() return client:list_redislogs(E.INSTANCE) end) end
    loop:spawn(function()
      require("dcs.tasks").sleep(0.1)
      loop:engine():close()
    end)
    loop:run()
    for i = 1, 3 do
      local res, err = ts[i]:result()
      assert.is_nil(res)
      assert.are.equal("closed", err.kind)
    end
    emu:config { latency = 0 }
    assert(client:list_redislogs(E.INSTANCE))                        -- blocking
    local t = loop:spawn(function() return client:list_redislogs(E.INSTANCE) end)
    loop:run()
    assert(t:result())
  end)

  it("gives every call its timeout under load: not before T, before T + 2 s", function()
    emu:config { latency = 4 }
    local c = emu:client { timeout = 1, retries = false }
    local t0 = core.monotime()
    local results, failed = dcs.gather(E.link_jobs(30), function(job)
      local started = core.monotime()
      local res, err = c:create_redislog_download_link(job.instance, job.log)
      return res, err and setmetatable({ took = core.monotime() - started }, { __index = err })
    end, { concurrency = 30 })
    c:close()
    assert.are.equal(30, failed)
    for _, r in ipairs(results) do
      assert.are.equal("timeout", r.err.kind)
      assert.is_true(r.err.took >= 1 and r.err.took < 3, "took " .. r.err.took)
    end
    assert.is_true(core.monotime() - t0 < 10)
  end)

  it("gives calls beyond the 64 connections their timeout from the call, waiting included", function()
    -- the first 64 calls hold every connection for 2 s; the 36 after them,
    -- with 1 s each, fail in the engine's queue on time, never sent
    emu:config { latency = 2 }
    local c = emu:client { retries = false }
    local results, failed = dcs.gather(E.link_jobs(100), function(job, i)
      local started = core.monotime()
      local res, err = c:create_redislog_download_link(job.instance, job.log, { timeout = i <= 64 and 5 or 1 })
      return res, err and setmetatable({ took = core.monotime() - started }, { __index = err })
    end, { concurrency = 100 })
    c:close()
    assert.are.equal(36, failed)
    for i, r in ipairs(results) do
      assert.are.equal(i <= 64, r.ok, "call " .. i)
      if not r.ok then
        assert.are.equal("timeout", r.err.kind)
        assert.matches("no connection became free", r.err.message, 1, true)
        assert.is_true(r.err.took >= 1 and r.err.took < 3, "took " .. r.err.took)
      end
    end
    local stats = emu:admin("GET", "/_emulator/stats")
    assert.are.equal(64, stats.peak_in_flight)
    assert.are.equal(64, stats.requests)
  end)

  it("downloads concurrently in fetch_run_logs, resuming a dropped one", function()
    emu:fault { match = { path_prefix = "/_obs/" }, times = 1, action = { drop_after_bytes = 5000 } }
    local dir = files.tmpdir()
    local c = emu:client()
    local written, failed = c:fetch_run_logs(E.INSTANCE, { days = 3, dest = dir, poll_interval = 0.05 })
    c:close()
    assert.is_table(written, tostring(failed))
    assert.are.equal(3, #written)
    assert.are.same({}, failed)
    for _, w in ipairs(written) do assert.are.equal(core.sha256_file(w.path), w.sha256) end
    files.remove_tree(dir)
  end)

  it("keeps the heap of a 10 000-item fan-out proportional to the cap", function()
    collectgarbage()
    local before, peak = collectgarbage("count"), 0
    local results, failed = dcs.gather(E.link_jobs(10000), function(job)
      local res, err = client:create_redislog_download_link(job.instance, job.log)
      return res and true, err
    end, { concurrency = 64, progress = function(done)
      if done % 500 == 0 then                 -- what is live, not the collector's slack
        collectgarbage()
        peak = math.max(peak, collectgarbage("count") - before)
      end
    end })
    local first
    for _, r in ipairs(results) do if not r.ok then first = first or tostring(r.err) end end
    assert.are.equal(0, failed, first)
    assert.are.equal(10000, #results)
    assert.is_true(emu:admin("GET", "/_emulator/stats").peak_in_flight <= 64)
    -- the results table (10 000 small tables) is about 1 MiB; the rest is the cap's
    assert.is_true(peak < 8 * 1024, ("live heap grew by %.0f KiB"):format(peak))
  end)
end)

describe("the host loop", function()
  local hs, emu
  lazy_setup(function()
    hs = E.start_hostile()
    emu = E.start()
  end)
  lazy_teardown(function()
    hs:stop()
    emu:stop()
  end)

  it("never blocks in step(0), and says what it waits on", function()
    local silent = hs:listener("silent")
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = silent, retries = false,
      timeout = 30 }
    local loop = dcs.loop()
    local task = loop:spawn(function() return c:list_redislogs(E.INSTANCE) end)
    loop:step(0)
    local t0 = core.monotime()
    for _ = 1, 1000 do loop:step(0) end
    local took = core.monotime() - t0
    assert.is_true(took < 0.5, "1000 steps took " .. took)
    assert.is_false(task:done())
    assert.is_true(#loop:fds() >= 1)
    assert.is_number(loop:timeout())
    task:cancel()
    c:close()
  end)

  it("forgets a cancelled task's sleep: no timeout for it, and a step does not wait it out", function()
    local loop = dcs.loop()
    local sleeper = loop:spawn(function() require("dcs.tasks").sleep(3) end)
    loop:step(0)
    assert.is_true(sleeper:cancel())
    assert.is_nil(loop:timeout())                       -- nothing left to wait for
    local t0 = core.monotime()
    assert.are.equal(0, loop:step(5))
    local took = core.monotime() - t0
    assert.is_true(took < 1, "a step with no task alive waited " .. took .. " s")
  end)

  it("runs a 60 Hz tick loop that advances tasks without blocking", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = emu.url }
    local loop = dcs.loop()
    local list = {}
    local function link() return c:create_redislog_download_link(E.INSTANCE, E.LOG_ID) end
    for i = 1, 20 do list[i] = loop:spawn(link) end
    local ticks = 0
    repeat
      ticks = ticks + 1
      loop:step(0)
      core.sleep(1 / 60)
    until loop:step(0) == 0 or ticks > 600
    c:close()
    for _, t in ipairs(list) do assert.are.equal(E.LOG_ID, assert(t:result()).id) end
  end)

  it("re-raises what a task's function raised, nil and false included", function()
    local loop = dcs.loop()
    local list = {
      loop:spawn(function() error(nil) end),
      loop:spawn(function() error(false) end),
      loop:spawn(function() error({ why = "a table" }) end),
    }
    loop:run()
    local raised = {}
    for i, t in ipairs(list) do
      local ok, what = pcall(t.result, t)
      assert.is_false(ok)
      raised[i] = what
    end
    assert.is_nil(raised[1])
    assert.is_false(raised[2])
    assert.are.same({ why = "a table" }, raised[3])
    assert.has_error(function() list[1]:wait() end, nil)
  end)

  it("refuses a wait that would never end: on the task itself, or on one that waits for it", function()
    local loop = dcs.loop()
    local me
    me = loop:spawn(function() return me:wait() end)
    local a, b
    a = loop:spawn(function() return b:wait() end)
    b = loop:spawn(function()
      require("dcs.tasks").sleep(0.01)      -- a waits for b by now
      return a:wait()
    end)
    loop:run()
    for _, t in ipairs { me, b } do
      local ok, why = pcall(t.result, t)
      assert.is_false(ok)
      assert.matches("wait%(%) on a task that waits for this one %(or on itself%)", why)
    end
    assert.has_error(function() a:result() end)           -- b's failure, re-raised by its wait
  end)

  it("lets a task wait for one whose wait ended with a cancel: no cycle through the cancelled task", function()
    local loop = dcs.loop()
    local go = false
    local a, s
    local b = loop:spawn(function()
      while not go do coroutine.yield() end          -- ready again at every step
      return s:wait()
    end)
    a = loop:spawn(function() return b:wait() end)
    s = loop:spawn(function()
      local _, err = a:wait()
      return err.kind
    end)
    loop:step(0, 1)            -- a waits for b, s for a
    go = true
    a:cancel()                 -- s is woken, and runs after b: b waits for s, which waits for nothing now
    loop:run()
    assert.are.equal("cancelled", s:result())
    assert.are.equal("cancelled", b:result())
  end)

  it("lets go of a waiter cancelled while the task it waits for runs on", function()
    local tasks = require "dcs.tasks"
    local loop = dcs.loop()
    local stop = false
    local long = loop:spawn(function()
      while not stop do tasks.sleep(0.001) end
      return "done"
    end)
    local function give_up_waits(n)
      for _ = 1, n do
        local waiter = loop:spawn(function() return long:wait() end)
        loop:step(0)
        assert.is_true(waiter:cancel())
      end
      collectgarbage()
      collectgarbage()
      return collectgarbage("count")
    end
    local before = give_up_waits(100)
    local grown = give_up_waits(2000) - before          -- each held waiter is about 150 bytes
    stop = true
    loop:run()
    assert.are.equal("done", long:result())
    assert.is_true(grown < 64, ("2000 waits given up kept %.0f KiB"):format(grown))
  end)

  it("keeps a step within its budget: tasks left over run first at the next step, in order", function()
    local loop = dcs.loop()
    local ran = {}
    for i = 1, 4 do loop:spawn(function() ran[#ran + 1] = i end) end
    loop:step(0, 0)                     -- a budget of 0 still resumes one task
    assert.are.same({ 1 }, ran)
    local late = loop:spawn(function() ran[#ran + 1] = "late" end)
    loop:step(0, 0)
    assert.are.same({ 1, 2 }, ran)
    loop:step(0, 10)                    -- a budget with room for the rest
    assert.are.same({ 1, 2, 3, 4, "late" }, ran)
    assert.is_true(late:done())
    assert.has_error(function() loop:step(0, -1) end, "dcs.loop:step: budget must be >= 0")
  end)

  it("hands libcurl one ready socket per step under a budget of 0, and every answer arrives", function()
    -- the answers come after the first step has sent every request, even
    -- when that step is slow (valgrind): none is read before the counted steps
    emu:config { latency = 0.3 }
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = emu.url, retries = false }
    local loop = dcs.loop()
    local list = {}
    for i = 1, 8 do
      list[i] = loop:spawn(function() return c:create_redislog_download_link(E.INSTANCE, E.LOG_ID) end)
    end
    loop:step(0, math.huge)             -- no bound: starts every transfer, then steps the engine
    local steps = 0
    while loop:step(0.05, 0) > 0 and steps < 2000 do steps = steps + 1 end
    c:close()
    for _, t in ipairs(list) do assert.are.equal(E.LOG_ID, assert(t:result()).id) end
    assert.is_true(steps >= 8, "steps: " .. steps)
    assert.has_error(function() loop:engine():step(0, -2) end)
    emu:config { latency = 0 }
  end)
end)
