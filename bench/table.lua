-- The closing table of `make bench`: what bench/sign.lua, download.lua,
-- fanout.lua, hostloop.lua, throughput.lua and embed.lua recorded in this run
-- (build/bench/summary.tsv, emptied by make bench first), one line each,
-- as ratios to their peers or ideals, with the load average each saw.
local PATH = (os.getenv("PWD") or ".") .. "/build/bench/summary.tsv"

local function read()
  local rows = {}
  local f = io.open(PATH)
  if not f then return rows end
  for line in f:lines() do
    local k, v = line:match("^([^\t]+)\t(.*)$")
    if k then rows[k] = v end
  end
  f:close()
  return rows
end

local function nums(s)
  local t = {}
  for x in (s or ""):gmatch("%S+") do t[#t + 1] = tonumber(x) end
  return t
end

local function line(what, result, target, load)
  print(("%-40s %-40s %-12s %s"):format(what, result, target, load or ""))
end

local function main()
  local r = read()
  print()
  print("make bench, " .. (type(jit) == "table" and jit.version or _VERSION)
    .. " (load average: 1, 5, 15 min, before / after each bench)")
  line("", "result", "target", "load average")
  if r.sign then
    local s = nums(r.sign)
    line(("signing (%s): dcs.sign vs Python"):format(r["sign sha256"] or "?"),
      ("%.0f vs %.0f sig/s: %.1fx"):format(s[1], s[2], s[1] / s[2]), ">= 7x", r["sign load"])
  end
  if r.throughput then
    local t = nums(r.throughput)
    line("1 connection: calls/s vs raw libcurl", ("%.0f vs %.0f: %.2fx"):format(t[1], t[2], t[3]), ">= 0.9x",
      r["throughput load"])
    local e = nums(r["throughput engine"])
    if e[1] then line("  the engine alone from C, no Lua", ("%.0f: %.2fx"):format(e[1], e[2]), "", "") end
    local f = nums(r["throughput floor"])
    if f[1] then
      line("  floor: the engine from Lua, no pipeline", ("%.0f: %.2fx"):format(f[1], f[2]), "", "")
      line("  floor + the pipeline's work", ("%.0f: %.2fx (pipeline %.1f us hot)"):format(f[3], f[4], f[5]),
        "", "")
    end
    local c = nums(r["throughput cpu"])
    if c[1] then
      line("  CPU a call: SDK, floor, raw loop", ("%.1f, %.1f, %.1f us"):format(c[1], c[2], c[3]), "", "")
      if c[4] then line("  CPU a call: the engine from C", ("%.1f us"):format(c[4]), "", "") end
    end
  end
  for _, cap in ipairs { 1, 8, 64, 256 } do
    local f = nums(r["fanout " .. cap])
    if f[1] then
      line(cap == 1 and "1000 calls, sequential" or ("1000 calls, dcs.gather cap " .. cap),
        ("%.3f s, ideal %.3f s: %.2fx"):format(f[1], f[2], f[1] / f[2]), cap == 64 and "<= 1.3x" or "",
        cap == 1 and r["fanout load"] or "")
      if f[3] and f[3] ~= f[2] then
        line("  (64 connections at most: ideal)", ("%.3f s: %.2fx"):format(f[3], f[1] / f[3]), "", "")
      end
    end
  end
  if r.hostloop then
    local h = nums(r.hostloop)
    line("60 Hz host loop, 200 in flight: step+GC", ("max %.2f ms, p99 %.2f ms (GC %.2f)"):format(h[1], h[2], h[4]),
      "< 2 ms", r["hostloop load"])
  end
  if r["hostloop inside"] then
    local h = nums(r["hostloop inside"])
    line("  collector inside the ticks: step", ("max %.2f ms, p99 %.2f ms"):format(h[1], h[2]), "", "")
  end
  if r.embed then
    local e = nums(r.embed)
    line("C host (examples/embed), 60 Hz ticks", ("%d ticks, %d overran (max by %.2f ms); work max %.2f ms")
      :format(e[1], e[2], e[3], e[5]), "", "")
  end
  if r.download then
    local d = nums(r.download)
    line("download 300 MiB vs curl -o (speed)", ("%.2fx"):format(d[1]), ">= 0.9x", r["download load"])
    line("download+SHA-256 vs SHA-256 alone", ("%.2fx the time"):format(d[2]), "<= 1.2x", "")
  end
end

main()
