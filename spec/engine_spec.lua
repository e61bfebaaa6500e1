-- The multi engine (csrc/dcs_engine.c, csrc/lengine.c): many transfers in
-- flight in one thread, connection caps, a step that never blocks when told
-- not to, descriptors and timeout for a host's own loop, cancel and close
-- in flight, callbacks that end transfers while the engine steps, results
-- identical to handle:request's, and HTTP/2 multiplexing over one
-- connection (nginx).  Real servers over loopback; time only as generous
-- bounds.
local core = require "dcs.core"
local E = require "support.emulator"
local N = require "support.nginx"
local files = require "support.files"
local gc = require "support.gc"

local NO_PROXY = { proxy = "" }

local function pack(...) return { n = select("#", ...), ... } end

-- Calls call() with a finalizer pending whose first run inside it runs
-- action(): the finalizer re-arms itself until the call starts, and the
-- collector is as eager as it goes, so it runs at the call's first
-- allocations.  Returns call()'s results (packed) and whether action ran.
local function finalizer_inside(call, action)
  local inside, ran = false, false
  local function fin()
    if ran then return end
    if inside then
      ran = true
      action()
    else
      gc.on_gc(fin)
    end
  end
  gc.on_gc(fin)
  gc.eager(true)
  inside = true
  local out = pack(call())
  inside = false
  gc.eager(false)
  ran = true                    -- a finalizer still pending does nothing
  return out, ran
end

-- Steps until nothing is in flight (or `limit` seconds passed); the number of steps.
local function run(e, limit)
  local deadline, steps = core.monotime() + (limit or 60), 0
  while e:running() > 0 and core.monotime() < deadline do
    e:step(0.5)
    steps = steps + 1
  end
  return steps
end

-- Starts req on e and steps until nothing is in flight: its result.
local function result_of(e, req)
  local t = e:start(req, NO_PROXY)
  run(e)
  return t:result()
end

describe("core.engine", function()
  local hs, emu, dir
  lazy_setup(function()
    hs = E.start_hostile()
    emu = E.start()
    dir = files.tmpdir()
  end)
  lazy_teardown(function()
    hs:stop()
    emu:stop()
    files.remove_tree(dir)
  end)
  before_each(function() hs:reset() end)

  local n = 0
  local function new_file()
    n = n + 1
    local path = dir .. "/f" .. n
    return assert(core.open_file(path, "new", { sha256 = true })), path
  end

  -- Every request to /slow... answered after `delay` seconds.
  local function slow(delay, body)
    hs:script { match = { path_prefix = "/slow" }, times = -1,
      steps = { { sleep = delay }, { respond = { status = 200, body = body or "slow" } } } }
    return hs.url .. "/slow"
  end

  describe("concurrency", function()
    it("runs 50 transfers at once in one thread, at most max_connections to the server", function()
      local url = slow(0.5)
      local e = core.engine { max_connections = 10 }
      local transfers = {}
      local started = core.monotime()
      for i = 1, 50 do transfers[i] = e:start({ url = url .. "/" .. i }, NO_PROXY) end
      assert.are.equal(50, e:running())
      run(e)
      local elapsed = core.monotime() - started
      local connections = 0
      for i, t in ipairs(transfers) do
        assert.is_true(t:done())
        local res = assert(t:result())
        assert.are.equal("slow", res.body, "transfer " .. i)
        connections = connections + res.new_connections
      end
      e:close()
      -- 5 rounds of 0.5 s; one after another would take 25 s
      assert.is_true(elapsed < 50 * 0.5 / 4, ("%.2f s"):format(elapsed))
      local stats = hs:stats()
      assert.are.equal(10, stats.peak_in_flight)
      assert.are.equal(50, stats.requests)
      assert.is_true(connections <= 10, connections .. " connections")
    end)

    -- Steps e until t is done (at most `limit` seconds): seconds from `since`.
    local function done_after(e, t, since, limit)
      local deadline = core.monotime() + (limit or 10)
      while not t:done() and core.monotime() < deadline do e:step(0.05) end
      return core.monotime() - since
    end

    -- t's failure, which must be a timeout.
    local function timed_out(t)
      local res, failure = t:result()
      assert.is_nil(res)
      assert.are.equal("timeout", failure.kind)
      return failure
    end

    it("holds transfers beyond max_connections itself, oldest first", function()
      local url = slow(0.1)
      local e = core.engine { max_connections = 1 }
      for i = 1, 4 do e:start({ url = url .. "/" .. i }, NO_PROXY) end
      run(e)
      e:close()
      local order = {}
      for i, entry in ipairs(hs:log()) do order[i] = entry.target end
      assert.are.same({ "/slow/1", "/slow/2", "/slow/3", "/slow/4" }, order)
      assert.are.equal(1, hs:stats().peak_in_flight)
    end)

    it("fails a held transfer when its timeout runs out, with no connection free", function()
      local silent = hs:listener("silent")
      local e = core.engine { max_connections = 1 }
      local started = core.monotime()
      local a = e:start({ url = silent .. "/a", timeout = 30 }, NO_PROXY)
      local b = e:start({ url = slow(0.1) .. "/b", timeout = 1 }, NO_PROXY)
      e:step(0)
      -- the engine wakes its host by b's deadline (not a's), and does not
      -- ask for a step at once while b cannot join
      local wake = e:timeout()
      assert.is_true(wake > 0 and wake <= 1, tostring(wake))
      local took = done_after(e, b, started)
      local failure = timed_out(b)
      assert.are.equal("timeout", failure.reason)
      assert.matches("no connection became free within its 1000 ms", failure.message, 1, true)
      assert.is_true(took >= 1 and took < 3, ("%.2f s"):format(took))
      assert.is_false(a:done())
      e:close()
      for _, entry in ipairs(hs:log()) do assert.are_not.equal("/slow/b", entry.target) end
    end)

    it("starts a held transfer with what is left of its timeout", function()
      local url = slow(0.6)
      local e = core.engine { max_connections = 1 }
      local started = core.monotime()
      local a = e:start({ url = url .. "/a", timeout = 10 }, NO_PROXY)
      -- joins at about 0.6 s: with a whole second from then it would get
      -- its answer at 1.2 s; its timeout counts from its start
      local b = e:start({ url = url .. "/b", timeout = 1 }, NO_PROXY)
      local took = done_after(e, b, started)
      assert(a:result())
      timed_out(b)
      assert.is_true(took >= 1 and took < 1.5, ("%.2f s"):format(took))
      e:close()
      assert.are.equal(2, hs:stats().requests)
    end)

    it("holds nothing with a cap per host: libcurl keeps the caps, other hosts go on", function()
      -- two calls to the hostile server, one of them held by libcurl for
      -- the host's one connection, and one to the emulator: it goes at once
      local a_url = slow(1.5)
      local e = core.engine { max_connections = 2, max_host_connections = 1 }
      e:start({ url = a_url .. "/a1" }, NO_PROXY)
      e:start({ url = a_url .. "/a2" }, NO_PROXY)
      local started = core.monotime()
      local b = e:start({ url = emu.url .. "/_none_", timeout = 0.5 }, NO_PROXY)
      local took = done_after(e, b, started)
      local res, failure = b:result()
      assert(res, failure and failure.message)
      assert.is_true(took < 0.5, ("%.2f s"):format(took))
      e:close()
    end)

    it("fails held transfers at their own deadlines, whatever their order in the queue", function()
      local silent = hs:listener("silent")
      local e = core.engine { max_connections = 1 }
      local started = core.monotime()
      local a = e:start({ url = silent .. "/a", timeout = 30 }, NO_PROXY)
      local b = e:start({ url = silent .. "/b", timeout = 1.5 }, NO_PROXY)
      local c = e:start({ url = silent .. "/c", timeout = 0.3 }, NO_PROXY)
      local d = e:start({ url = silent .. "/d", timeout = 0.8 }, NO_PROXY)
      local at = {}
      e:step(0)
      c:cancel()                -- the earliest deadline goes: the others keep theirs
      -- a host that sleeps for the engine's timeout and steps with a zero one
      while not b:done() and core.monotime() - started < 5 do
        local wake = e:timeout()
        assert.is_true(wake ~= nil and wake <= 1.5, tostring(wake))
        core.sleep(wake)
        e:step(0)
        for name, t in pairs { b = b, d = d } do
          if t:done() and not at[name] then at[name] = core.monotime() - started end
        end
      end
      assert.is_true(at.d >= 0.8 and at.d < 1.3, tostring(at.d))
      assert.is_true(at.b >= 1.5 and at.b < 2, tostring(at.b))
      assert.matches("no connection became free", select(2, d:result()).message, 1, true)
      assert.is_false(a:done())
      e:close()
    end)

    it("lets a held transfer be cancelled; the others go on", function()
      local url = slow(0.2)
      local e = core.engine { max_connections = 1 }
      local a = e:start({ url = url .. "/a" }, NO_PROXY)
      local b = e:start({ url = url .. "/b" }, NO_PROXY)
      e:step(0)
      assert.are.equal(2, e:running())
      b:cancel()
      assert.is_true(b:done())
      assert.are.equal("closed", select(2, b:result()).kind)
      assert.are.equal(1, e:running())
      run(e)
      assert.are.equal("slow", assert(a:result()).body)
      e:close()
      assert.are.equal(1, hs:stats().requests)
    end)

    it("holds max_host_connections", function()
      local url = slow(0.3)
      local e = core.engine { max_connections = 0, max_host_connections = 3 }
      local transfers = {}
      for i = 1, 12 do transfers[i] = e:start({ url = url .. "/" .. i }, NO_PROXY) end
      run(e)
      for _, t in ipairs(transfers) do assert(t:result()) end
      e:close()
      assert.are.equal(3, hs:stats().peak_in_flight)
    end)

    it("sends transfers with different options over one engine, each with its own", function()
      local url = slow(0.1)
      local e = core.engine()
      local a = e:start({ url = url .. "/a" }, { proxy = "", user_agent = "agent-a" })
      local b = e:start({ url = url .. "/b", headers = { ["X-Who"] = "b" } },
        { proxy = "", user_agent = "agent-b", max_body = 2 })
      run(e)
      assert(a:result())
      local res, failure = b:result()
      assert.is_nil(res)
      assert.are.equal("too_large", failure.reason)     -- b's own max_body
      e:close()
      local agents = {}
      for _, entry in ipairs(hs:log()) do agents[entry.target] = entry:header("User-Agent") end
      assert.are.equal("agent-a", agents["/slow/a"])
      assert.are.equal("agent-b", agents["/slow/b"])
    end)

    it("reuses a connection across transfers one after another", function()
      local e = core.engine()
      local news = {}
      for i = 1, 3 do
        local t = e:start({ url = hs.url .. "/_none_" .. i }, NO_PROXY)
        run(e)
        local res = assert(t:result())
        assert.are.equal(404, res.status)
        news[i] = res.new_connections
      end
      e:close()
      assert.are.same({ 1, 0, 0 }, news)
    end)

    -- Requests whose options differ from one to the next, in an order
    -- where each could leave something behind on the easy handle the next
    -- one reuses: a HEAD, bodies, custom methods, headers, a file, another
    -- user agent and back.
    local function varied_requests(url, file)
      return {
        { { method = "HEAD", url = url .. "/1" } },
        { { method = "GET", url = url .. "/2" } },
        { { method = "POST", url = url .. "/3", body = "abc", headers = { ["X-B"] = "b" } } },
        { { method = "DELETE", url = url .. "/4" } },
        { { method = "PUT", url = url .. "/5", body = "xyz" } },
        { { method = "HEAD", url = url .. "/6" } },
        { { method = "DELETE", url = url .. "/7" } },
        { { method = "POST", url = url .. "/8" } },
        { { method = "GET", url = url .. "/9", headers = { ["X-A"] = "a" } } },
        { { method = "GET", url = url .. "/10", sink = { file = file, head = function() return true end } } },
        { { method = "GET", url = url .. "/11" }, { proxy = "", user_agent = "other-agent" } },
        { { method = "PATCH", url = url .. "/12", body = "p" } },
        { { method = "GET", url = url .. "/13" } },
      }
    end

    -- What the server saw of each request: method, target, body, header lines.
    local function wire(entries)
      local out = {}
      for i, entry in ipairs(entries) do
        local lines = {}
        for _, h in ipairs(entry.headers) do lines[#lines + 1] = h[1] .. ": " .. tostring(h[2]) end
        out[i] = { entry.method, entry.target, entry.body, table.concat(lines, "\n") }
      end
      return out
    end

    it("sends on a reused handle exactly what a fresh one sends: nothing carries over", function()
      local f1, f2 = new_file(), new_file()
      local function run_all(engine_for, file)
        hs:script { match = { path_prefix = "/v" }, times = -1,
          steps = { { respond = { status = 200, body = "hello" } } } }
        local results = {}
        for i, r in ipairs(varied_requests(hs.url .. "/v", file)) do
          local e = engine_for()
          local t = e:start(r[1], r[2] or { proxy = "", user_agent = "agent" })
          run(e)
          local res = assert(t:result())
          results[i] = { res.status, res.body }
        end
        return results
      end
      local shared = core.engine()
      local reused = run_all(function() return shared end, f1)
      local reused_log = wire(hs:log())
      shared:close()
      hs:reset()
      local fresh = run_all(function() return core.engine() end, f2)
      assert.are.same(fresh, reused)
      assert.are.same(wire(hs:log()), reused_log)
      -- and they are what each request asked for
      assert.are.same({ 200, "" }, reused[1])
      assert.are.same({ 200, "hello" }, reused[2])
      assert.are.same({ 200, "" }, reused[10])      -- into the file
      assert.are.equal("HEAD", reused_log[6][1])
      assert.are.equal("DELETE", reused_log[7][1])
      assert.are.equal("", reused_log[7][3])
      assert.are.equal("xyz", reused_log[5][3])
      assert.matches("User-Agent: other-agent", reused_log[11][4], 1, true)
      assert.matches("User-Agent: agent", reused_log[12][4], 1, true)
      assert.is_nil(reused_log[9][4]:find("X-B", 1, true))
    end)

    -- A random sequence of requests (seeded): methods, bodies, headers, two
    -- user agents, files, and transfers that never get a connection or time
    -- out, each { req, opts }.
    local function random_requests(seed, count)
      local rng = setmetatable({ state = seed }, { __call = function(self, limit)
        self.state = (self.state * 1103515245 + 12345) % 2147483648
        return self.state % limit + 1
      end })
      local methods = { "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS" }
      local out = {}
      for i = 1, count do
        local roll = rng(20)
        local req
        if roll == 1 then
          req = { url = rng(2) == 1 and "ftp://127.0.0.1/x" or "http://127.0.0.1:99999/x" }
        elseif roll == 2 then
          req = { url = hs.url .. "/late/" .. i, timeout = 0.1 }
        else
          req = { method = methods[rng(#methods)], url = hs.url .. "/v/" .. i, headers = {} }
          if req.method ~= "GET" and req.method ~= "HEAD" and rng(3) > 1 then
            req.body = ("b"):rep(rng(3000) - 1) .. i
          end
          for _, name in ipairs { "X-A", "X-B", "X-C" } do
            if rng(2) == 1 then req.headers[name] = name .. "-" .. rng(1000) end
          end
          if req.method == "GET" and rng(4) == 1 then req.sink = { head = function() return true end } end
        end
        out[i] = { req, { proxy = "", user_agent = "agent-" .. rng(2), connect_timeout = rng(2) * 5 } }
      end
      return out
    end

    it("sends on a reused handle what a fresh one sends, over random sequences", function()
      local seed = tonumber(os.getenv("DCS_FUZZ_SEED") or "") or os.time()
      local function run_all(engine_for)
        hs:script { match = { path_prefix = "/v" }, times = -1,
          steps = { { respond = { status = 200, body = "hello" } } } }
        hs:script { match = { path_prefix = "/late" }, times = -1,
          steps = { { sleep = 0.4 }, { respond = { status = 200, body = "late" } } } }
        local results = {}
        for i, r in ipairs(random_requests(seed, 80)) do
          if r[1].sink then r[1].sink.file = new_file() end
          local e = engine_for()
          local t = e:start(r[1], r[2])
          run(e)
          local res, failure = t:result()
          results[i] = res and { res.status, res.body } or { failure.kind, failure.reason }
        end
        return results, wire(hs:log())
      end
      local shared = core.engine()
      local reused, reused_log = run_all(function() return shared end)
      shared:close()
      hs:reset()
      local fresh, fresh_log = run_all(function() return core.engine() end)
      assert.are.same(fresh, reused, "seed " .. seed)
      assert.are.same(fresh_log, reused_log, "seed " .. seed)
    end)

    it("gives no transfer the timeout or stall limit of the one before it on the handle", function()
      local url = slow(0.6)
      hs:script { match = { path_prefix = "/stall" }, times = -1,
        steps = { { sleep = 1.5 }, { respond = { status = 200, body = "late" } } } }
      local e = core.engine()
      local function one(req) return result_of(e, req) end
      local _, failure = one { url = url .. "/a", timeout = 0.2 }
      assert.are.equal("timeout", failure.kind)
      assert(one { url = url .. "/b" })
      -- libcurl counts a stall in whole seconds
      _, failure = one { url = hs.url .. "/stall/c", stall_timeout = 1, min_speed = 1e6 }
      assert.are.equal("stall", failure.reason)
      assert(one { url = hs.url .. "/stall/d" })
      e:close()
    end)

    it("sees a stall as soon on a reused handle as on a new one", function()
      -- libcurl keeps a transfer's speed on its handle until a reset and
      -- measures the next transfer's only from the next whole second: a
      -- fast call, then in the same second one that stalls with its total
      -- timeout soon after its stall limit, failed with "timeout"
      hs:script { match = { path_prefix = "/fast" }, times = -1,
        steps = { { respond = { status = 200, body = ("x"):rep(100000) } } } }
      hs:script { match = { path_prefix = "/drip" }, times = -1,
        steps = { { send = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" },
                  { drip = "x", interval = 0.3, count = 100 } } }
      local e = core.engine()
      assert(result_of(e, { url = hs.url .. "/fast/warm" }))
      repeat local f = core.monotime() % 1 until f > 0.01 and f < 0.05    -- a second just begun
      local fast = assert(result_of(e, { url = hs.url .. "/fast/now" }))
      assert.are.equal(0, fast.new_connections)          -- the kept-alive connection and handle
      local _, failure = result_of(e, { url = hs.url .. "/drip", stall_timeout = 1, min_speed = 1000, timeout = 1.8 })
      assert.are.equal("stall", failure.reason)
      e:close()
    end)

    it("keeps its handles working after a transfer that never had a connection", function()
      -- libcurl 7.88 keeps such a transfer's receive buffer on its handle,
      -- and then refuses a download's buffer size on it
      local f = new_file()
      local e = core.engine()
      local function one(req) return result_of(e, req) end
      for _, bad in ipairs { "ftp://127.0.0.1/x", "http://127.0.0.1:99999/x" } do
        local _, failure = one { url = bad }
        assert.are.equal("network", failure.kind)
        local res, why = one { url = hs.url .. "/file", sink = { file = f, head = function() return true end } }
        assert(res, why and why.message)
        assert(one { url = "ftp://127.0.0.1/x" } == nil)
        assert(one { url = hs.url .. "/after" })
      end
      e:close()
      local h = core.http(NO_PROXY)
      assert.is_nil(h:request { url = "ftp://127.0.0.1/x" })
      assert(h:request { url = hs.url .. "/blocking" })
      h:close()
    end)

    it("retries dead kept-alive connections as often as they die, call after call", function()
      -- libcurl 7.88 counts these retries across a handle's transfers until
      -- it is reset, and fails the sixth
      local h = core.http(NO_PROXY)
      assert(h:request { url = hs.url .. "/warm" })
      for i = 1, 8 do
        hs:script { match = { path_prefix = "/die" }, times = 1, steps = { { close = true } } }
        local res, failure = h:request { url = hs.url .. "/die/" .. i }
        assert(res, ("call %d: %s"):format(i, failure and failure.message))
      end
      h:close()
    end)

    it("retries onto another kept-alive connection as often as one dies, call after call", function()
      -- each call's first try dies on one idle connection and its retry
      -- succeeds on the next (no new connection): libcurl 7.88 counts the
      -- retries across a handle's transfers until it is reset
      hs:script { match = { path_prefix = "/warm" }, times = -1,
        steps = { { sleep = 0.3 }, { respond = { status = 200, body = "w" } } } }
      local e = core.engine { max_connections = 16 }
      local warm = {}
      for i = 1, 8 do warm[i] = e:start({ url = hs.url .. "/warm/" .. i }, NO_PROXY) end
      run(e)
      for i = 1, 8 do assert(warm[i]:result()) end
      for i = 1, 7 do
        hs:script { match = { path_prefix = "/die" }, times = 1, steps = { { close = true } } }
        local t = e:start({ url = hs.url .. "/die/" .. i }, NO_PROXY)
        run(e)
        local res, failure = t:result()
        assert(res, ("call %d: %s"):format(i, failure and failure.message))
        assert.are.equal(0, res.new_connections)
      end
      e:close()
    end)

    it("leaves blocking calls on one keep-alive connection", function()
      local h = core.http(NO_PROXY)
      for i = 1, 3 do assert(h:request { url = hs.url .. "/_none_" .. i }) end
      h:close()
      local log = hs:log()
      assert.are.equal(3, #log)
      assert.are.equal(log[1].conn, log[2].conn)
      assert.are.equal(log[1].conn, log[3].conn)
    end)
  end)

  describe("step, fds and timeout", function()
    it("never blocks with a zero timeout", function()
      local silent = hs:listener("silent")
      local e = core.engine()
      local t = e:start({ url = silent .. "/x", timeout = 30 }, NO_PROXY)
      local started = core.monotime()
      for _ = 1, 1000 do e:step(0) end
      local took = core.monotime() - started
      assert.is_true(took < 1, ("%.3f s"):format(took))
      assert.is_false(t:done())
      -- a bounded step waits no longer than its bound
      started = core.monotime()
      e:step(0.2)
      assert.is_true(core.monotime() - started < 0.2 + 1)
      e:close()
    end)

    it("reports descriptors and a timeout consistent with the work in flight", function()
      local e = core.engine()
      assert.are.same({}, e:fds())
      assert.is_nil(e:timeout())
      assert.are.equal(0, e:running())
      assert.are.equal(0, e:step(1))            -- nothing in flight: returns at once
      local silent = hs:listener("silent")
      local t = e:start({ url = silent .. "/x", timeout = 30 }, NO_PROXY)
      assert.are.equal(1, e:running())
      assert.are.equal(0, e:timeout())          -- a step is due to start it
      assert.are.same({}, e:fds())               -- no progress outside step
      local fds
      for _ = 1, 50 do
        e:step(0.1)
        fds = e:fds()
        if #fds == 1 and fds[1].read and not fds[1].write then break end
      end
      assert.are.equal(1, #fds)
      assert.is_true(math.type == nil or math.type(fds[1].fd) == "integer")
      assert.is_true(fds[1].fd > 2)
      assert.is_true(fds[1].read)
      assert.is_false(fds[1].write)
      local timeout = e:timeout()
      assert.is_number(timeout)
      assert.is_true(timeout >= 0 and timeout <= 30)
      t:cancel()
      assert.are.same({}, e:fds())
      assert.is_nil(e:timeout())
      assert.are.equal(0, e:running())
      e:close()
      assert.are.same({}, e:fds())
      assert.is_nil(e:timeout())
    end)

    it("lists the descriptors a finalizer run by fds opens, none it has no room for", function()
      -- fds makes room for the descriptors it counted; the allocation may
      -- run a finalizer that steps the engine, which opens more
      local url = slow(5)
      local grew, tries = false, 0
      while not grew and tries < 5 do
        tries = tries + 1
        local e = core.engine()
        e:start({ url = url .. "/" .. tries .. "/first" }, NO_PROXY)
        local deadline = core.monotime() + 10
        while #e:fds() == 0 and core.monotime() < deadline do e:step(0.05) end
        for i = 1, 7 do e:start({ url = url .. "/" .. tries .. "/" .. i }, NO_PROXY) end
        local out, ran = finalizer_inside(function() return e:fds() end, function()
          local until_ = core.monotime() + 2
          while #e:fds() < 8 and core.monotime() < until_ do e:step(0.05) end
        end)
        local fds, after = out[1], {}
        for _, d in ipairs(e:fds()) do after[d.fd] = true end
        for _, d in ipairs(fds) do
          assert.is_true(after[d.fd], "fd " .. tostring(d.fd) .. " is not the engine's")
          assert.is_boolean(d.read)
          assert.is_boolean(d.write)
        end
        grew = ran and #fds > 1
        e:close()
      end
      if not grew then return pending("no finalizer stepped the engine inside fds in 5 tries") end
    end)

    it("lets a host wait on the descriptors itself", function()
      -- poll(2) through python would be another process: wait with the
      -- engine's own timeout instead, and step(0) only: never blocks,
      -- still finishes
      local url = slow(0.2)
      local e = core.engine()
      local t = e:start({ url = url .. "/host" }, NO_PROXY)
      local deadline = core.monotime() + 10
      while not t:done() and core.monotime() < deadline do
        e:step(0)
        core.sleep(math.min(e:timeout() or 0.01, 0.01))
      end
      assert.are.equal("slow", assert(t:result()).body)
      e:close()
    end)
  end)

  describe("cancel and close", function()
    it("cancel ends a transfer in flight with kind closed, once", function()
      local url = slow(5)
      local e = core.engine()
      local t = e:start({ url = url .. "/c" }, NO_PROXY)
      local other = e:start({ url = url .. "/d" }, NO_PROXY)
      e:step(0.1)
      assert.is_true(t:cancel())
      assert.is_true(t:done())
      local res, failure = t:result()
      assert.is_nil(res)
      assert.are.same({ kind = "closed", reason = "cancelled", message = "the transfer was cancelled" },
        failure)
      t:cancel()
      assert.are.same(failure, select(2, t:result()))
      assert.are.equal(1, e:running())
      assert.is_false(other:done())
      e:close()
    end)

    it("close ends every transfer in flight with kind closed and is idempotent", function()
      local url = slow(5)
      local e = core.engine()
      local transfers = {}
      for i = 1, 5 do transfers[i] = e:start({ url = url .. "/" .. i }, NO_PROXY) end
      e:step(0.1)
      assert.is_false(e:closed())
      local started = core.monotime()
      assert.is_true(e:close())
      assert.is_true(core.monotime() - started < 1)
      assert.is_true(e:closed())
      assert.is_true(e:close())
      for _, t in ipairs(transfers) do
        assert.is_true(t:done())
        local res, failure = t:result()
        assert.is_nil(res)
        assert.are.equal("closed", failure.kind)
        assert.are.equal("closed", failure.reason)
        assert.matches("closed", failure.message)
        t:cancel()                               -- a no-op once done
      end
      assert.matches("^dcs.core.engine %(closed%)", tostring(e))
      assert.are.equal(0, e:running())
      assert.are.equal(0, e:step(0.1))
      -- a start after the close: done at once, closed
      local late = e:start({ url = url .. "/late" }, NO_PROXY)
      assert.is_true(late:done())
      assert.are.equal("closed", select(2, late:result()).kind)
      getmetatable(e).__gc(e)
      getmetatable(e).__close(e)
    end)

    it("closes through <close> on Lua 5.4", function()
      if not _VERSION:find("5%.4") then return pending("Lua 5.4 only") end
      local url = slow(5)
      local t = assert(load([[
        local core, url = ...
        local e <close> = core.engine()
        local t = e:start({ url = url }, { proxy = "" })
        e:step(0.05)
        return t
      ]]))(core, url .. "/x")
      assert.is_true(t:done())
      assert.are.equal("closed", select(2, t:result()).kind)
    end)

    it("raises from result before the transfer is done; ids are small integers", function()
      local url = slow(5)
      local e = core.engine()
      local a = e:start({ url = url .. "/a" }, NO_PROXY)
      local b = e:start({ url = url .. "/b" }, NO_PROXY)
      assert.error_matches(function() a:result() end, "not done")
      assert.are.equal(1, a:id())
      assert.are.equal(2, b:id())
      assert.matches("^dcs.core.transfer #1 %(running%)", tostring(a))
      e:close()
      assert.matches("^dcs.core.transfer #1 %(done%)", tostring(a))
    end)

    it("survives the collector: engines and transfers dropped in flight, in any order", function()
      local url = slow(5)
      for round = 1, 6 do
        local refs = { engine = core.engine(), transfers = {} }     -- dropped below
        for i = 1, 3 do
          refs.transfers[i] = refs.engine:start({ url = url .. "/" .. round .. "/" .. i }, NO_PROXY)
        end
        refs.engine:step(0.05)
        if round % 2 == 0 then
          refs.engine = nil                      -- the transfers keep it alive
          collectgarbage()
          assert.is_false(refs.transfers[1]:done())
        end
        if round % 3 == 0 then refs.transfers = nil end
        collectgarbage()
        collectgarbage()
      end
    end)

    it("keeps running transfers alive, not finished ones", function()
      local url = slow(0.1)
      local e = core.engine()
      local weak = setmetatable({}, { __mode = "v" })
      weak[1] = e:start({ url = url .. "/w" }, NO_PROXY)
      collectgarbage()
      collectgarbage()
      assert.is_not_nil(weak[1])                 -- running: the engine holds it
      run(e)
      assert.are.equal(0, e:running())
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])                     -- finished: gone
      e:close()
    end)
  end)

  describe("callbacks during step", function()
    local big_url
    before_each(function()
      hs:file { path = "/big", size = 3 * 1024 * 1024 }
      big_url = hs.url .. "/big"
    end)

    local function download(e, sink, url)
      sink.file = sink.file or (new_file())
      return e:start({ url = url or big_url, sink = sink }, NO_PROXY), sink.file
    end

    it("a head callback closes the engine: every transfer ends closed", function()
      local e = core.engine()
      local other = e:start({ url = slow(5) .. "/o" }, NO_PROXY)
      local closed_inside
      local t = download(e, { head = function()
        e:close()
        closed_inside = e:closed()                     -- closed, though freed only after the step
        return true
      end })
      run(e, 10)
      assert.is_true(closed_inside)
      for _, tr in ipairs { t, other } do
        local res, failure = tr:result()
        assert.is_nil(res)
        assert.are.equal("closed", failure.kind)
        assert.are.equal("closed", failure.reason)
      end
      assert.are.equal(200, select(2, t:result()).status)     -- its head had come
      assert.is_table(select(2, t:result()).headers)
      assert.matches("closed", tostring(e))
    end)

    it("a progress callback cancels another transfer, or its own", function()
      local e = core.engine()
      local other = e:start({ url = slow(5) .. "/o" }, NO_PROXY)
      local calls = 0
      local t, file = download(e, { head = function() return true end, progress = function()
        calls = calls + 1
        other:cancel()
      end })
      run(e, 30)
      assert(t:result())
      assert.are.equal(3 * 1024 * 1024, file:size())
      assert.are.equal("cancelled", select(2, other:result()).reason)
      assert.is_true(calls > 1)
      local me
      me, file = download(e, { progress = function() me:cancel() end })
      run(e, 30)
      local res, failure = me:result()
      assert.is_nil(res)
      assert.are.same({ "closed", "cancelled", 200 }, { failure.kind, failure.reason, failure.status })
      assert.is_true(file:size() >= 256 * 1024 and file:size() < 3 * 1024 * 1024)
      e:close()
    end)

    -- Head callbacks that run while a budgeted step starts queued
    -- transfers: transfers with a stall timeout get a libcurl timer a
    -- second after their request went, their answers come just before
    -- it, the host sleeps past both, then starts more and steps with a
    -- budget, whose first start runs the due timers and so the callbacks.
    for _, variant in ipairs { "cancel", "close", "gc", "start", "release" } do
      it("a callback inside the start of queued transfers: " .. variant, function()
        hs:script { match = { path_prefix = "/slow" }, times = -1,
          steps = { { sleep = 0.9 }, { respond = { status = 200, body = "slow" } } } }
        math.randomseed(7)
        local e = core.engine { max_connections = 25 }
        local queued, heads = {}, 0
        local function head()
          heads = heads + 1
          if variant == "cancel" or variant == "gc" or variant == "release" then
            for j = 1, #queued do
              if queued[j] and math.random() < 0.5 then queued[j]:cancel() end
            end
          end
          if variant == "gc" or variant == "release" then
            for j = 1, #queued do if math.random() < 0.5 then queued[j] = false end end
            collectgarbage()
            collectgarbage()
          end
          if variant == "start" and #queued < 200 then
            for _ = 1, 3 do queued[#queued + 1] = e:start({ url = hs.url .. "/_none_" }, NO_PROXY) end
          end
          if variant == "close" and heads == 3 then e:close() end
          return false
        end
        local xs = {}
        for i = 1, 20 do
          xs[i] = e:start({ url = hs.url .. "/slow/" .. i, stall_timeout = 5, sink = { head = head } }, NO_PROXY)
        end
        e:step(0, 0.05)
        core.sleep(1.3)
        for i = 1, 30 do queued[i] = e:start({ url = hs.url .. "/_none_" .. i }, NO_PROXY) end
        local deadline = core.monotime() + 20
        while e:running() > 0 and core.monotime() < deadline do e:step(0.05, 0) end
        assert.are.equal(0, e:running())
        for _, t in ipairs(xs) do assert.is_true(t:done()) end
        assert.is_true(heads > 0)
        e:close()
      end)
    end

    it("a callback starts a transfer; it runs in the following steps", function()
      local e = core.engine()
      local started
      local t = download(e, { head = function()
        started = e:start({ url = hs.url .. "/_none_" }, NO_PROXY)
        return true
      end })
      run(e, 30)
      assert(t:result())
      assert.are.equal(404, assert(started:result()).status)
      e:close()
    end)

    it("a callback that steps its own engine fails its transfer, nothing else", function()
      local e = core.engine()
      local t = download(e, { head = function()
        e:step(0)
        return true
      end })
      run(e, 30)
      local res, failure = t:result()
      assert.is_nil(res)
      assert.are.equal("callback", failure.reason)
      assert.matches("step called from inside a sink callback", failure.message)
      e:close()
    end)

    it("a callback closes another engine with transfers in flight", function()
      local a, b = core.engine(), core.engine()
      local other = b:start({ url = slow(5) .. "/b" }, NO_PROXY)
      b:step(0.05)
      local t = download(a, { head = function()
        b:close()
        return true
      end })
      run(a, 30)
      assert(t:result())
      assert.are.equal("closed", select(2, other:result()).kind)
      a:close()
    end)

    it("survives a full collection inside every callback", function()
      local e = core.engine()
      for i = 1, 4 do
        download(e, { head = function()
          collectgarbage()
          return true
        end, progress = function() collectgarbage() end })
        if i % 2 == 0 then collectgarbage() end
      end
      run(e, 60)
      assert.are.equal(0, e:running())
      e:close()
      collectgarbage()
    end)

    it("runs callbacks under pcall on the stepping coroutine", function()
      local e = core.engine()
      local seen = {}
      local t = download(e, { head = function()
        seen.head = coroutine.running()
        return true
      end, progress = function() seen.progress = coroutine.running() end })
      local co = coroutine.create(function() return run(e, 30) end)
      assert(coroutine.resume(co))
      assert(t:result())
      assert.are.equal(co, seen.head)
      assert.are.equal(co, seen.progress)
      e:close()
    end)
  end)

  describe("arguments", function()
    it("raise like handle:request's", function()
      local e = core.engine()
      local url = "http://127.0.0.1:1/"
      for _, case in ipairs {
        { { method = "get", url = url }, "method must be upper%-case letters" },
        { { url = "http://127.0.0.1:1/a b" }, "url must not contain whitespace" },
        { {}, "url must be a non%-empty string" },
        { { url = url, headers = { ["Bad Name"] = "x" } }, "not an HTTP token" },
        { { url = url, headers = { ["X-A"] = "a\r\nb" } }, "CR, LF or NUL" },
        { { url = url, headers = "x" }, "headers must be a table" },
        { { url = url, timeout = 0 }, "timeout" },
        { { url = url, sink = { file = "path" } }, "sink.file" },
        { { url = url, sink = { head = 1 } }, "sink.head" },
      } do
        assert.error_matches(function() e:start(case[1]) end, case[2])
      end
      for _, opts in ipairs { { timeout = "x" }, { connect_timeout = 0 }, { max_body = 1.5 }, 1 } do
        assert.has_error(function() e:start({ url = url }, opts) end)
      end
      assert.has_error(function() e:start("x") end)
      assert.has_error(function() e:step(-1) end)
      assert.has_error(function() e:step(0 / 0) end)
      for _, cfg in ipairs { { max_connections = -1 }, { max_connections = 1.5 },
        { max_host_connections = "2" }, { multiplex = "yes" } } do
        assert.has_error(function() core.engine(cfg) end)
      end
      assert.are.equal(0, e:running())
      e:close()
    end)
  end)

  describe("results", function()
    -- The same request through a fresh core.http() handle and through an
    -- engine: results, failures, what the sink saw and wrote must be the
    -- same, but for what varies between two requests (the request id, the
    -- date, the numbers in libcurl's messages).
    local link, big_link
    lazy_setup(function()
      local c = emu:client()
      link = assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
      local id = emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { size = 1024 * 1024 }).id
      big_link = assert(c:create_redislog_download_link(E.INSTANCE, id)).link
      c:close()
    end)

    local function normal(v)
      if type(v) ~= "table" then return v end
      local out = {}
      for k, x in pairs(v) do
        if k == "x-request-id" or k == "date" or k == "elapsed" then
          out[k] = type(x)
        elseif k == "message" then
          out[k] = x:gsub("%d+", "N")
        else
          out[k] = normal(x)
        end
      end
      return out
    end

    -- The URLs a case may use, known once the emulator runs.
    local function urls()
      return { link = link, big = big_link, raw = emu.url .. "/raw",
               health = emu.url .. "/_emulator/health" }
    end

    -- case = { name, req = function(record, urls) -> req, opts =, setup = function() }
    local function outcome(case, via_engine)
      if case.setup then case.setup() end
      local record = { progress = {}, heads = {} }
      local req = case.req(record, urls())
      local res, failure
      if via_engine then
        local e = core.engine()
        local t = e:start(req, case.opts or {})
        run(e, 30)
        res, failure = t:result()
        e:close()
      else
        local h = core.http(case.opts)
        res, failure = h:request(req)
        h:close()
      end
      -- a result builds its headers on first read (lreq.c): read them, so
      -- that pairs in normal() compares them too
      if res then assert.is_table(res.headers) end
      if record.file then
        if not record.file_closed then
          record.size = record.file:size()
          record.sha = record.file:sha256()
          record.file:close()
        end
        record.file = nil
      end
      return { normal(res), normal(failure), normal(record) }
    end

    local function fault(path, action)
      return function() emu:fault { match = { path_prefix = path }, times = 1, action = action } end
    end

    -- A request of url (a key of urls()) with the extra fields given.
    local function plain(url, extra)
      return function(_, u)
        local req = { url = u[url] or url }
        for k, v in pairs(extra or {}) do req[k] = v end
        return req
      end
    end

    -- A download of url into a new file, head and progress recorded.
    local function sink(url, head, progress, extra)
      return function(record, u)
        record.file = new_file()
        local req = plain(url, extra)(record, u)
        req.sink = { file = record.file,
          head = head and function(status, headers)
            record.heads[#record.heads + 1] = status
            return head(status, headers, record)
          end,
          progress = progress and function(bytes)
            record.progress[#record.progress + 1] = bytes
            return progress(bytes, record)
          end }
        return req
      end
    end

    local yes = function() return true end
    local cases = {
      { "a plain GET", req = plain("link") },
      { "HEAD", req = plain("link", { method = "HEAD" }) },
      { "POST with a body and headers", req = plain("health", { method = "POST", body = '{"x": 1}',
        headers = { ["Content-Type"] = "application/json", ["X-Empty"] = "", ["X-N"] = 7 } }) },
      { "a streamed body with progress", req = sink("big", yes, function() end) },
      { "a buffered body (head false)", req = sink("link", function() return false end) },
      { "a 2xx body without head", req = sink("link") },
      { "head refuses with a message", req = sink("link", function(status) return nil, "no: " .. status end) },
      { "head refuses", req = sink("link", function() return nil end) },
      { "head raises", req = sink("link", function() error("head broke") end) },
      { "head raises a table", req = sink("link", function() error({}) end) },
      { "head answers nonsense", req = sink("link", function() return 42 end) },
      { "head says true without a file", req = plain("link", { sink = { head = yes } }) },
      { "progress cancels", req = sink("big", yes, function() return false end) },
      { "progress raises", req = sink("big", yes, function() error("progress broke") end) },
      { "progress closes the file", req = sink("big", yes, function(_, record)
        record.file:close()
        record.file_closed = true
      end) },
      { "an interim 1xx", req = sink("raw", function() return false end),
        setup = fault("/raw", { raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: <x>\r\n\r\n"
          .. "HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nhi" }) },
      { "repeated header names", req = plain("raw"),
        setup = fault("/raw", { raw = "HTTP/1.1 200 OK\r\nX-Rep: a\r\nx-rep: b\r\nContent-Length: 0\r\n\r\n" }) },
      { "a malformed header block", req = plain("raw"),
        setup = fault("/raw", { raw = "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n" }) },
      { "a folded header line", req = plain("raw"),
        setup = fault("/raw", { raw = "HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n" }) },
      { "a 101", req = plain("raw"),
        setup = fault("/raw", { raw = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n" }) },
      { "conflicting Content-Length", req = plain("raw"),
        setup = fault("/raw", { raw = "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nhi" }) },
      { "Content-Length with Transfer-Encoding", req = plain("raw"),
        setup = fault("/raw", { raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
          .. "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" }) },
      { "no status line", req = plain("raw"), setup = fault("/raw", { raw = "hello\r\n\r\n" }) },
      { "a body over max_body", req = plain("link"), opts = { max_body = 10 } },
      { "a refused connection", req = plain("http://127.0.0.1:1/") },
      { "a protocol other than http(s)", req = plain("gopher://127.0.0.1:1/") },
      { "a connection dropped without an answer", req = plain("raw"), setup = fault("/raw", { drop = true }) },
      { "a connection reset", req = plain("raw"), setup = fault("/raw", { reset = true }) },
      { "a body cut short", req = sink("big", yes), setup = fault("/_obs/", { drop_after_bytes = 300000 }) },
      { "a stall", req = plain("big", { stall_timeout = 1 }), setup = fault("/_obs/", { delay = 3 }) },
      { "a timeout", req = plain("big", { timeout = 0.5, stall_timeout = 60 }),
        setup = fault("/_obs/", { delay = 2 }) },
    }

    for _, case in ipairs(cases) do
      it("are handle:request's: " .. case[1], function()
        assert.are.same(outcome(case, false), outcome(case, true))
      end)
    end

    it("build a response's headers when first read, once per request", function()
      local e = core.engine()
      local t = e:start({ url = link }, NO_PROXY)
      run(e)
      local res = assert(t:result())
      assert.is_nil(rawget(res, "headers"))
      for k in pairs(res) do assert.are_not.equal("headers", k) end
      local headers = res.headers
      assert.are.equal("text/plain", headers["content-type"])
      assert.is_string(headers["x-request-id"])
      assert.are.equal(headers, rawget(res, "headers"))       -- a plain field from then on
      assert.are.equal(headers, t:result().headers)           -- the request's results share it
      assert.is_nil(res.other)
      assert.is_nil(getmetatable(res).__index(res, 1))
      -- the block stays with the result: the transfer and engine may go first
      local t2 = e:start({ url = link }, NO_PROXY)
      run(e)
      local res2 = assert(t2:result())
      t2 = nil                                                 -- luacheck: ignore 311
      e:close()
      e = nil                                                  -- luacheck: ignore 311
      collectgarbage()
      collectgarbage()
      assert.are.equal(headers["content-type"], res2.headers["content-type"])
      -- core.http's results are made the same way
      local h = core.http(NO_PROXY)
      local res3 = assert(h:request { url = link })
      h:close()
      assert.is_nil(rawget(res3, "headers"))
      assert.are.equal("text/plain", res3.headers["content-type"])
    end)

    it("give the results of one request one headers table, a finalizer during its build too", function()
      -- building the table allocates, and so may run a finalizer that reads
      -- the headers of another result of the same request first
      local lines = { "HTTP/1.1 200 OK\r\n", "Content-Length: 0\r\n" }
      for i = 1, 198 do lines[#lines + 1] = "X-F" .. i .. ": " .. ("v"):rep(100) .. "\r\n" end
      lines[#lines + 1] = "\r\n"
      emu:fault { match = { path_prefix = "/many" }, times = -1, action = { raw = table.concat(lines) } }
      local e = core.engine()
      local inside, b, seen, ran = false, nil, nil, 0
      local function fin()
        ran = ran + 1
        if inside and b and not seen then seen = b.headers end
      end
      local function pending_finalizers()
        ran = 0
        for _ = 1, 20000 do
          if newproxy then                                  -- 5.1, LuaJIT: no __gc on tables
            getmetatable(newproxy(true)).__gc = fin
          else
            setmetatable({}, { __gc = fin })
          end
        end
        while ran == 0 do collectgarbage("step", 0) end   -- finalizers under way
      end
      local tries, a, first = 0, nil, nil
      while not seen and tries < 50 do
        tries = tries + 1
        b = nil
        local t = e:start({ url = emu.url .. "/many" }, NO_PROXY)
        run(e)
        a, b = assert(t:result()), assert(t:result())
        pending_finalizers()
        inside = true
        first = a.headers                                   -- the first read of either
        inside = false
      end
      e:close()
      emu:reset()
      if not seen then return pending("no finalizer ran inside the build in 50 tries") end
      assert.are.equal(first, b.headers)
      assert.are.equal(first, a.headers)
      assert.are.equal(first, seen)
    end)

    it("survive a finalizer that releases their transfer (its __gc) while one is built", function()
      -- building a result allocates, and so may run a finalizer that does
      -- what the collector does to a transfer: release its C side
      local e = core.engine()
      local url = emu.url .. "/_emulator/health"
      local function release(t) return function() getmetatable(t).__gc(t) end end
      -- released inside its first result: the result, or closed
      local t = e:start({ url = url }, NO_PROXY)
      run(e)
      local out = finalizer_inside(function() return t:result() end, release(t))
      if out[1] then
        assert.are.equal(200, out[1].status)
      else
        assert.are.equal("closed", out[2].kind)
      end
      -- released inside a later result: that result, and every one after
      t = e:start({ url = url }, NO_PROXY)
      run(e)
      local first = assert(t:result())
      local ran
      out, ran = finalizer_inside(function() return t:result() end, release(t))
      collectgarbage()
      e:close()
      if not ran then return pending("no finalizer ran inside result") end
      for _, res in ipairs { assert(out[1]), assert(t:result()) } do
        assert.are.same({ first.status, first.body }, { res.status, res.body })
        assert.are.equal(first.headers["content-type"], res.headers["content-type"])
      end
    end)

    it("give a result's headers no way to crash the host", function()
      local e = core.engine()
      local res = assert(result_of(e, { url = link }))
      e:close()
      local index = getmetatable(res).__index
      assert.is_false(pcall(index, "not a table", "headers"))
      assert.is_nil(index({}, "headers"))                          -- no metatable
      assert.is_nil(setmetatable({}, { __index = index }).headers)  -- no block
      local forged = setmetatable({}, { __index = index, "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n" })
      local ok, err = pcall(function() return forged.headers end)
      assert.is_false(ok)
      assert.matches("malformed response header block", err)
    end)

    it("give the headers table sink.head saw as the result's own", function()
      local e = core.engine()
      local seen
      local res = assert(result_of(e, { url = link, sink = { head = function(_, headers)
        seen = headers
        return false
      end } }))
      e:close()
      assert.is_table(seen)
      assert.are.equal(seen, rawget(res, "headers"))
    end)

    it("are handle:request's for a TLS failure (an untrusted certificate)", function()
      local certs = dir .. "/tls"
      os.execute("mkdir -p " .. certs)
      assert(os.execute(("env -u LD_PRELOAD openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
        .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s/k.pem -out %s/c.pem 2>/dev/null"):format(certs, certs)))
      local tls = E.start(("--tls-cert %s/c.pem --tls-key %s/k.pem"):format(certs, certs))
      local case = { req = function() return { url = tls.url .. "/_emulator/health" } end }
      local blocking, engine = outcome(case, false), outcome(case, true)
      assert.are.same(blocking, engine)
      assert.are.equal("tls", blocking[2].reason)
      case.opts = { ca_file = certs .. "/c.pem" }
      blocking, engine = outcome(case, false), outcome(case, true)
      assert.are.same(blocking, engine)
      assert.are.equal(200, blocking[1].status)
      tls:stop()
    end)
  end)

  describe("HTTP/2", function()
    local nginx, url, certs
    lazy_setup(function()
      if not N.available() then return end
      certs = files.tmpdir()
      assert(os.execute(("env -u LD_PRELOAD openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
        .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s/h2.key -out %s/h2.pem 2>/dev/null")
        :format(certs, certs)))
      local port = N.free_port()
      nginx = N.start { http = ([[
  server {
    listen 127.0.0.1:%d ssl http2;
    ssl_certificate %s/h2.pem;
    ssl_certificate_key %s/h2.key;
    location = /conn {
      content_by_lua_block { ngx.sleep(0.2) ngx.say(ngx.var.connection, " ", ngx.var.server_protocol) }
    }
  }
]]):format(port, certs, certs) }
      url = "https://127.0.0.1:" .. port .. "/conn"
    end)
    lazy_teardown(function()
      if nginx then nginx:stop() end
      if certs then files.remove_tree(certs) end
    end)

    -- 20 transfers at once: { connection numbers seen }, new connections, seconds
    local function twenty(cfg)
      local e = core.engine(cfg)
      local transfers = {}
      local started = core.monotime()
      for i = 1, 20 do transfers[i] = e:start({ url = url }, { ca_file = certs .. "/h2.pem", proxy = "" }) end
      run(e)
      local elapsed = core.monotime() - started
      local seen, count, news = {}, 0, 0
      for _, t in ipairs(transfers) do
        local res = assert(t:result())
        local conn, proto = res.body:match("^(%d+) (%S+)\n$")
        assert.are.equal("HTTP/2.0", proto)
        if not seen[conn] then count = count + 1 end
        seen[conn] = true
        news = news + res.new_connections
      end
      e:close()
      return count, news, elapsed
    end

    it("multiplexes 20 concurrent transfers over one connection", function()
      if not nginx then return pending("nginx with lua-nginx-module is not installed") end
      local connections, news, elapsed = twenty()
      assert.are.equal(1, connections)
      assert.are.equal(1, news)
      -- each answer takes 0.2 s; one after another would take 4 s
      assert.is_true(elapsed < 20 * 0.2 / 2, ("%.2f s"):format(elapsed))
    end)

    it("runs round after round of multiplexed transfers on one engine", function()
      -- a transfer that ends while others share its connection leaves
      -- libcurl 7.88's receive buffer on its handle
      if not nginx then return pending("nginx with lua-nginx-module is not installed") end
      local e = core.engine()
      for round = 1, 3 do
        local transfers = {}
        for i = 1, 4 do transfers[i] = e:start({ url = url }, { ca_file = certs .. "/h2.pem", proxy = "" }) end
        run(e)
        for i, t in ipairs(transfers) do
          local res, failure = t:result()
          assert(res, ("round %d, transfer %d: %s"):format(round, i, failure and failure.message))
        end
      end
      e:close()
    end)

    it("opens a connection per transfer with multiplex = false", function()
      if not nginx then return pending("nginx with lua-nginx-module is not installed") end
      local connections, news = twenty { multiplex = false }
      assert.are.equal(20, connections)
      assert.are.equal(20, news)
    end)
  end)
end)
