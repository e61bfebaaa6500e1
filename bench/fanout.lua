-- Fan-out: 1 000 link calls (client:create_redislog_download_link) for
-- 1 000 instance ids against a server that is not the bottleneck (nginx
-- answering after ngx.sleep(0.05), bench/server.lua): sequential blocking
-- calls, then dcs.gather with caps 8, 64 and 256, in the same run, each
-- against its ideal ceil(1000 / cap) x 50 ms.  Each round runs every
-- variant once, in an order that rotates from round to round; the table
-- shows the medians.
--
--   make bench
--   lua5.4 bench/fanout.lua [rounds] [calls]   (LUA_PATH/LUA_CPATH as in make bench)
local core = require "dcs.core"
local dcs = require "dcs"
local server = require "server"
local tasks = require "dcs.tasks"

local ROUNDS = tonumber(arg[1]) or 3
local CALLS = tonumber(arg[2]) or 1000

local function check(results, failed)
  assert(failed == 0, "some calls failed: " .. tostring(failed > 0 and results[1].err))
  assert(#results == CALLS)
end

local function variants(client, ids)
  local function call(id) return client:create_redislog_download_link(id, server.LOG) end
  local list = {
    { name = "sequential blocking calls", cap = 1, run = function()
      for _, id in ipairs(ids) do assert(call(id)) end
    end },
  }
  for _, cap in ipairs { 8, 64, 256 } do
    list[#list + 1] = { name = ("dcs.gather, concurrency %d"):format(cap), cap = cap, run = function()
      check(dcs.gather(ids, call, { concurrency = cap }))
    end }
  end
  return list
end

local function main()
  local load_before = server.loadavg()
  local srv = server.start()
  local client = server.client(dcs, srv.slow)
  local ids = server.ids(CALLS)
  local list = variants(client, ids)
  local times = {}
  for i = 1, #list do times[i] = {} end
  -- round 0 opens the connections and warms nginx up; not counted
  for round = 0, ROUNDS do
    for k = 0, #list - 1 do
      local i = (round + k) % #list + 1
      if round > 0 or i ~= 1 then
        local t0 = core.monotime()
        list[i].run()
        if round > 0 then times[i][round] = core.monotime() - t0 end
      end
    end
  end
  client:close()
  srv.stop()
  local rows = {}
  print(("fan-out: %d link calls, server answers after %d ms (nginx + Lua); medians of %d interleaved rounds")
    :format(CALLS, server.DELAY * 1000, ROUNDS))
  print(("  %-32s %9s %9s %8s"):format("", "wall", "ideal", "ratio"))
  for i, v in ipairs(list) do
    local med = server.median(times[i])
    local ideal = math.ceil(CALLS / v.cap) * server.DELAY
    print(("  %-32s %7.3f s %7.3f s %7.2fx"):format(v.name, med, ideal, med / ideal))
    local capped = math.ceil(CALLS / math.min(v.cap, tasks.MAX_CONNECTIONS)) * server.DELAY
    if capped ~= ideal then
      -- HTTP/1.1 here: one call per connection at a time, and the engine
      -- opens at most tasks.MAX_CONNECTIONS
      print(("  %-32s %9s %7.3f s %7.2fx"):format(("  with %d connections at most"):format(tasks.MAX_CONNECTIONS),
        "", capped, med / capped))
    end
    rows[#rows + 1] = { "fanout " .. v.cap, ("%.3f %.3f %.3f"):format(med, ideal, capped) }
  end
  local load_after = server.loadavg()
  print(("  load average before: %s, after: %s"):format(load_before, load_after))
  rows[#rows + 1] = { "fanout load", load_before .. " / " .. load_after }
  server.record(rows)
end

server.run(main)
