-- The example C host's tick budget (examples/embed/): its 60 Hz loop runs
-- examples/embed/game.lua, which starts link tasks for many instances and
-- a download and advances them with dcs.loop():step(0) each tick.  Per
-- round: ticks, how many overran their 1/60 s and by how much at most,
-- and the work per tick (mean, max).  The emulator answers after LATENCY
-- seconds, so transfers span many ticks as on a real network.  Not a test:
-- the figures depend on the machine (spec/embed_spec.lua checks results).
--
--   make bench-embed                              (LUA=lua5.4 by default)
--   lua5.4 bench/embed.lua [rounds] [instances] [latency]
--                                   (LUA_PATH with spec/, LUA_CPATH as in make bench-embed)
--
-- Prints a table, and for make bench's closing table (bench/table.lua) adds
-- the rounds' totals to build/bench/summary.tsv: ticks, overruns, the
-- largest overrun, the mean and the largest work per tick (ms).
local E = require "support.emulator"
local embed = require "support.embed"
local files = require "support.files"
local sub = require "support.subprocess"

local ROUNDS = tonumber(arg[1]) or 3
local INSTANCES = tonumber(arg[2]) or 1000
local LATENCY = tonumber(arg[3]) or 0.05

embed.make("embed-host")
local emu = E.start(("--latency %s"):format(LATENCY))
local jobs = embed.add_instances(emu, INSTANCES)
local dir = files.tmpdir()

local function round()
  local dest = dir .. "/round"
  files.remove_tree(dest)
  assert(os.execute("mkdir -p " .. dest))
  embed.write_jobs(dest .. "/jobs.txt", jobs)
  local status, out = embed.run(emu, dest, { embed.dir() .. "/embed/game-host",
    sub.ROOT .. "/examples/embed/game.lua", dest .. "/jobs.txt", dest })
  local r = embed.parse_host(out)
  if status ~= 0 or r.failed ~= 0 or r.tasks ~= INSTANCES + 1 then
    error("the example host failed:\n" .. out)
  end
  return r
end

print(("example host, %s: %d instances (a link each) and a download, emulator latency %.0f ms, 60 Hz")
  :format(embed.ABI, INSTANCES, LATENCY * 1000))
print(("%-6s %7s %9s %16s %14s %13s"):format("round", "ticks", "overruns", "max overrun ms", "mean work ms",
  "max work ms"))
local total = { ticks = 0, overruns = 0, max_overrun = 0, work = 0, max_work = 0 }
for i = 1, ROUNDS do
  local r = round()
  print(("%-6d %7d %9d %16.3f %14.3f %13.3f"):format(i, r.ticks, r.overruns, r.max_overrun, r.mean_work,
    r.max_work))
  total.ticks, total.overruns = total.ticks + r.ticks, total.overruns + r.overruns
  total.max_overrun = math.max(total.max_overrun, r.max_overrun)
  total.work, total.max_work = total.work + r.mean_work * r.ticks, math.max(total.max_work, r.max_work)
end
emu:stop()
files.remove_tree(dir)
os.execute("mkdir -p build/bench")
local f = assert(io.open("build/bench/summary.tsv", "a"))
f:write(("embed\t%d %d %.3f %.3f %.3f\n"):format(total.ticks, total.overruns, total.max_overrun,
  total.work / total.ticks, total.max_work))
f:close()
