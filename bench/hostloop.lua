-- Host loop: a 60 Hz loop in Lua (loop:step(0) each tick, then sleep to the
-- next tick) with 200 link calls in flight all along (200 tasks, each
-- making one call after another) against nginx answering after 50 ms
-- (bench/server.lua).  What it measures is the SDK's share of each tick:
-- the time spent inside loop:step, every tick counted, the first one (which
-- starts all 200 calls) included.  Target: under 2 ms at the max and at
-- the 99th percentile.
--
--   make bench
--   lua5.4 bench/hostloop.lua [seconds] [in_flight]   (LUA_PATH/LUA_CPATH as in make bench)
local core = require "dcs.core"
local dcs = require "dcs"
local server = require "server"

local SECONDS = tonumber(arg[1]) or 10
local IN_FLIGHT = tonumber(arg[2]) or 200
local HZ = 60

-- The collector as a host that wants short ticks sets it (README, "Host
-- loops"): Lua 5.4's incremental mode with 1 KiB steps instead of 8 KiB
-- (pause and step multiplier as by default); with the defaults one step of
-- the collector can take milliseconds.  LuaJIT's collector is left as it is.
local function host_gc()
  if _VERSION == "Lua 5.4" and not jit then collectgarbage("incremental", 200, 100, 10) end
end

local function percentile(sorted, p)
  return sorted[math.max(1, math.ceil(#sorted * p))]
end

local function run(client)
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
  local ticks, steps = HZ * SECONDS, {}
  local start = core.monotime()
  for tick = 1, ticks do
    local t0 = core.monotime()
    loop:step(0)
    steps[tick] = core.monotime() - t0
    local next_tick = start + tick / HZ
    local now = core.monotime()
    if next_tick > now then core.sleep(next_tick - now) end
  end
  local elapsed = core.monotime() - start
  local done = calls
  stop = true
  loop:run()
  return steps, done, failures, elapsed
end

local function main()
  local load_before = server.loadavg()
  local srv = server.start()
  local client = server.client(dcs, srv.slow)
  -- warm-up: the connections exist before the measured loop, as in a
  -- host that has been running for a while
  dcs.gather(server.ids(64), function(id) return client:create_redislog_download_link(id, server.LOG) end,
    { concurrency = 64 })
  collectgarbage()
  host_gc()
  local steps, calls, failures, elapsed = run(client)
  client:close()
  srv.stop()
  assert(failures == 0, failures .. " calls failed")
  local sorted = {}
  for i, v in ipairs(steps) do sorted[i] = v end
  table.sort(sorted)
  local max, p99, p50 = sorted[#sorted], percentile(sorted, 0.99), percentile(sorted, 0.5)
  local load_after = server.loadavg()
  print(("host loop: %d Hz for %d ticks, %d link calls in flight (server: %d ms), %s")
    :format(HZ, #steps, IN_FLIGHT, server.DELAY * 1000, type(jit) == "table" and jit.version or _VERSION))
  print(("  time in loop:step per tick: max %.2f ms, p99 %.2f ms, median %.3f ms (target: < 2 ms)")
    :format(max * 1000, p99 * 1000, p50 * 1000))
  print(("  first tick (starts all %d calls): %.2f ms; calls completed: %d (%.0f/s)")
    :format(IN_FLIGHT, steps[1] * 1000, calls, calls / elapsed))
  print(("  load average before: %s, after: %s"):format(load_before, load_after))
  server.record {
    { "hostloop", ("%.3f %.3f %.4f %d %.0f"):format(max * 1000, p99 * 1000, p50 * 1000, #steps, calls / elapsed) },
    { "hostloop load", load_before .. " / " .. load_after },
  }
end

server.run(main)
