--- The embedding programs (make embed-host, make embed-tests): builds them
-- for the ABI running the specs and runs them against the emulator the way
-- a C host runs, with lua-dcs from the library alone.  Used by
-- spec/embed_spec.lua and by `make bench-embed` (bench/embed.lua).
local E = require "support.emulator"
local sub = require "support.subprocess"

local M = { ABI = sub.ABI }

local function sh(cmd) return sub.shell(cmd .. " 2>&1") end

--- make("embed-host embed-tests"[, "tsan"]): builds, raises with make's output on failure.
-- env -u LD_PRELOAD: the ASan stage preloads its runtime into busted.
function M.make(targets, variant)
  local status, out = sh(("cd %s && env -u LD_PRELOAD make -s %s LUA=%s%s"):format(
    sub.quote(sub.ROOT), targets, M.ABI, variant and (" EMBED=" .. variant) or ""))
  if status ~= 0 then error("make " .. targets .. " failed:\n" .. out, 2) end
end

--- build/<ABI>[-variant], where make puts libdcs and the programs.
function M.dir(variant)
  return sub.ROOT .. "/build/" .. M.ABI .. (variant and ("-" .. variant) or "")
end

--- run(emu, cwd, argv[, { prefix =, env = { NAME = value } }]) -> status, output
-- argv[1] is a program under dir(variant)/embed/ or a path.  The program
-- gets the emulator's credentials (DCS_ENDPOINT, HUAWEICLOUD_SDK_*,
-- DCS_INSTANCE, DCS_LOG_ID), LUA_PATH pointing nowhere (so no Lua file of
-- lua-dcs can be found on disk) and Lua's default package.cpath (where
-- Debian's cjson.so is).  prefix: valgrind and its options, say.
function M.run(emu, cwd, argv, opts)
  opts = opts or {}
  local vars = {
    DCS_ENDPOINT = emu.url, HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = E.SK,
    HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT, DCS_INSTANCE = E.INSTANCE, DCS_LOG_ID = E.LOG_ID,
    HUAWEICLOUD_SDK_METADATA_ENDPOINT = "http://127.0.0.1:9", LUA_PATH = "/nonexistent/?.lua",
  }
  for k, v in pairs(opts.env or {}) do vars[k] = v end
  local assigns, args = {}, {}
  for k, v in pairs(vars) do assigns[#assigns + 1] = k .. "=" .. sub.quote(v) end
  for i, a in ipairs(argv) do args[i] = sub.quote(a) end
  return sh(("cd %s && env -u LD_PRELOAD -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u LUA_PATH_5_3 "
    .. "-u LUA_CPATH_5_3 %s %s %s"):format(sub.quote(cwd), table.concat(assigns, " "), opts.prefix or "",
    table.concat(args, " ")))
end

--- add_instances(emu, n) -> { { instance =, log = }, ... }: n instances added
-- through the emulator's admin API, each with one ready log.
function M.add_instances(emu, n)
  local jobs = {}
  for i = 1, n do
    local id = ("e0000000-0000-4000-8000-%012d"):format(i)
    local _, status = emu:admin("POST", "/_emulator/instances", { id = id })
    assert(status == 201, "adding instance " .. id .. ": " .. tostring(status))
    local res = emu:admin("POST", "/_emulator/instances/" .. id .. "/logs", {})
    jobs[i] = { instance = id, log = res.id }
  end
  return jobs
end

--- write_jobs(path, jobs): the example host's jobs file.
function M.write_jobs(path, jobs)
  local f = assert(io.open(path, "w"))
  for _, j in ipairs(jobs) do f:write(j.instance, " ", j.log, "\n") end
  f:close()
end

--- The example host's output, read: { links = { [instance] = { log =, id = } },
-- failures = { line... }, download = { log =, bytes =, sha256 = }, tasks =,
-- failed =, ticks =, overruns =, max_overrun =, mean_work =, max_work = }
function M.parse_host(out)
  local r = { links = {}, failures = {} }
  for line in out:gmatch("[^\n]+") do
    local inst, log, id = line:match("^link (%S+) (%S+) ok id=(%S+)$")
    if inst then r.links[inst] = { log = log, id = id } end
    local dlog, bytes, sha = line:match("^download (%S+) ok bytes=(%d+) sha256=(%x+)$")
    if dlog then r.download = { log = dlog, bytes = tonumber(bytes), sha256 = sha } end
    if line:find("^link %S+ %S+ failed") or line:find("^download %S+ failed") then
      r.failures[#r.failures + 1] = line
    end
    local tasks, failed = line:match("^tasks (%d+), failed (%d+)$")
    if tasks then r.tasks, r.failed = tonumber(tasks), tonumber(failed) end
    local t, o, mo, mw, xw = line:match(
      "^ticks (%d+), overruns (%d+), max overrun ([%d.]+) ms, mean work ([%d.]+) ms, max work ([%d.]+) ms$")
    if t then
      r.ticks, r.overruns, r.max_overrun = tonumber(t), tonumber(o), tonumber(mo)
      r.mean_work, r.max_work = tonumber(mw), tonumber(xw)
    end
  end
  return r
end

return M
