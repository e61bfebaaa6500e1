-- Host loop: a 60 Hz loop in Lua (loop:step(0) each tick, then sleep to the
-- next tick) with 200 link calls in flight all along (200 tasks, each
-- making one call after another) against nginx answering after 50 ms
-- (bench/server.lua).  What it measures is the SDK's share of each tick:
-- the time spent inside loop:step, every tick counted, the first one (which
-- starts all 200 calls) included, and the collector's work on the SDK's
-- garbage.  Target: under 2 ms at the max.
--
-- The host owns the collector (README, "Host loops"); the loop runs twice:
--   between  as game engines do: the automatic collector stopped, one
--            collectgarbage("step", 0) after each step, in the tick's idle
--            time; the SDK's share is step + that GC step (the target)
--   inside   the collector paces itself, its steps landing inside
--            loop:step; for the record
-- Lua 5.4's steps are 1 KiB (collectgarbage("incremental", 200, 100, 10))
-- in both; LuaJIT's collector is left as it is.
--
--   make bench
--   lua5.4 bench/hostloop.lua [seconds] [in_flight]   (LUA_PATH/LUA_CPATH as in make bench)
local core = require "dcs.core"
local dcs = require "dcs"
local server = require "server"

local SECONDS = tonumber(arg[1]) or 10
local IN_FLIGHT = tonumber(arg[2]) or 200
local HZ = 60

local function percentile(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

local function sorted_copy(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  return s
end

-- The collector of each placement.
local function set_gc(placement)
  collectgarbage()
  if _VERSION == "Lua 5.4" and not jit then collectgarbage("incremental", 200, 100, 10) end
  if placement == "between" then collectgarbage("stop") end
end

-- One tick: the step, then (between) the collector's step.  -> the step's
-- time, the SDK's share (step + GC), the GC step's time.
local function tick(loop, placement)
  local t0 = core.monotime()
  loop:step(0)
  local t1 = core.monotime()
  if placement ~= "between" then return t1 - t0, t1 - t0, 0 end
  collectgarbage("step", 0)
  local t2 = core.monotime()
  return t1 - t0, t2 - t0, t2 - t1
end

local function run(client, placement)
  local loop = dcs.loop()
  local ids = server.ids(IN_FLIGHT)
  local stop, calls, failures = false, 0, 0
  for i = 1, IN_FLIGHT do
    loop:spawn(function()
      while not stop do
        local res = client:create_redislog_download_link(ids[i], server.LOG)
        if res then calls = calls + 1 else failures = failures + 1 end
      end
    end)
  end
  set_gc(placement)
  local r = { steps = {}, shares = {}, gc_max = 0, heap_max = 0 }
  local start = core.monotime()
  for n = 1, HZ * SECONDS do
    local gc
    r.steps[n], r.shares[n], gc = tick(loop, placement)
    r.gc_max, r.heap_max = math.max(r.gc_max, gc), math.max(r.heap_max, collectgarbage("count"))
    local next_tick, now = start + n / HZ, core.monotime()
    if next_tick > now then core.sleep(next_tick - now) end
  end
  r.rate, r.calls = calls / (core.monotime() - start), calls
  stop = true
  loop:run()
  collectgarbage("restart")
  assert(failures == 0, failures .. " calls failed")
  return r
end

local function report(placement, r)
  local steps, shares = sorted_copy(r.steps), sorted_copy(r.shares)
  local ms = function(x) return x * 1000 end
  print(("  collector %s the ticks: time in loop:step max %.2f ms, p99 %.2f ms, median %.3f ms; "
    .. "first tick %.2f ms; %d calls (%.0f/s)"):format(placement, ms(steps[#steps]), ms(percentile(steps, 0.99)),
      ms(percentile(steps, 0.5)), ms(r.steps[1]), r.calls, r.rate))
  if placement == "between" then
    print(("    GC step between ticks: max %.2f ms; step + GC: max %.2f ms, p99 %.2f ms (target: < 2 ms); "
      .. "heap at most %.0f KiB"):format(ms(r.gc_max), ms(shares[#shares]), ms(percentile(shares, 0.99)), r.heap_max))
  end
  return ("%.3f %.3f %.4f %.3f %.0f"):format(ms(shares[#shares]), ms(percentile(shares, 0.99)),
    ms(percentile(steps, 0.5)), ms(r.gc_max), r.rate)
end

local function main()
  local load_before = server.loadavg()
  local srv = server.start()
  local client = server.client(dcs, srv.slow)
  -- warm-up: the connections exist before the measured loop, as in a
  -- host that has been running for a while
  dcs.gather(server.ids(64), function(id) return client:create_redislog_download_link(id, server.LOG) end,
    { concurrency = 64 })
  local between = run(client, "between")
  local inside = run(client, "inside")
  client:close()
  srv.stop()
  local load_after = server.loadavg()
  print(("host loop: %d Hz for %d ticks, %d link calls in flight (server: %d ms), %s")
    :format(HZ, HZ * SECONDS, IN_FLIGHT, server.DELAY * 1000, type(jit) == "table" and jit.version or _VERSION))
  local rec_between, rec_inside = report("between", between), report("inside", inside)
  print(("  load average before: %s, after: %s"):format(load_before, load_after))
  server.record {
    { "hostloop", rec_between },
    { "hostloop inside", rec_inside },
    { "hostloop load", load_before .. " / " .. load_after },
  }
end

server.run(main)
