-- lua-dcs embedded in C hosts (make embed, include/dcs.h), for the ABI
-- running the specs: libdcs exports dcs_preload alone; the example host
-- (examples/embed/) runs its run-log tasks to the right results in its
-- 60 Hz loop; 8 threads with a state each make 1 000 calls each at once;
-- lua_close with tasks and transfers in flight ends them and gives back
-- every byte.  Every program finds lua-dcs in the library alone: LUA_PATH
-- points nowhere (cjson comes from Lua's default package.cpath).
--
-- tools/check runs the programs again under a tool in its non-FAST stages:
-- DCS_EMBED_CHECK=tsan (everything of ours built with -fsanitize=thread),
-- helgrind or valgrind (memcheck), with --filter="under <tool>".
local E = require "support.emulator"
local embed = require "support.embed"
local files = require "support.files"
local sub = require "support.subprocess"
local core = require "dcs.core"

local CHECK = os.getenv("DCS_EMBED_CHECK")
local ROOT = sub.ROOT
local INSTANCES = 24
local STALL = 1024 * 1024

local VALGRIND = "valgrind -q --error-exitcode=99 "
local MEMCHECK = VALGRIND .. "--leak-check=full --errors-for-leak-kinds=definite,indirect "
  .. "--show-leak-kinds=definite,indirect"
local HELGRIND = VALGRIND .. "--tool=helgrind --suppressions=" .. ROOT .. "/tools/helgrind.supp"
local TSAN_ENV = { TSAN_OPTIONS = "halt_on_error=1 exitcode=66" }

describe("lua-dcs embedded in a C host (" .. embed.ABI .. ")", function()
  local emu, hs, dir, jobs, n = nil, nil, nil, nil, 0

  lazy_setup(function()
    embed.make("embed embed-host embed-tests")
    emu = E.start()
    hs = E.start_hostile()
    jobs = embed.add_instances(emu, INSTANCES)
    dir = files.tmpdir()
  end)
  lazy_teardown(function()
    emu:stop()
    hs:stop()
    files.remove_tree(dir)
  end)

  local function scratch(name)
    n = n + 1
    local path = ("%s/%s-%d"):format(dir, name, n)
    assert(os.execute("mkdir -p " .. path))
    return path
  end

  -- The bytes the emulator serves for a log, hashed here.
  local function served_sha256(job)
    local client = emu:client()
    local link = assert(client:create_redislog_download_link(job.instance, job.log))
    client:close()
    local res = assert(emu.http:request { url = link.link })
    assert.are.equal(200, res.status)
    return core.sha256_hex(res.body)
  end

  -- The example host over every added instance: every task's result checked.
  local function host(variant, opts)
    local dest = scratch("host")
    embed.write_jobs(dest .. "/jobs.txt", jobs)
    local status, out = embed.run(emu, dest, { embed.dir(variant) .. "/embed/game-host",
      ROOT .. "/examples/embed/game.lua", dest .. "/jobs.txt", dest }, opts)
    assert.are.equal(0, status, out)
    local r = embed.parse_host(out)
    assert.are.same({}, r.failures)
    assert.are.equal(INSTANCES + 1, r.tasks, out)
    assert.are.equal(0, r.failed)
    for _, job in ipairs(jobs) do
      assert.are.same({ log = job.log, id = job.log }, r.links[job.instance], out)
    end
    local sha = served_sha256(jobs[1])
    assert.are.same({ log = jobs[1].log, bytes = 96 * 1024, sha256 = sha }, r.download)
    assert.are.equal(sha, core.sha256_file(("%s/%s.log"):format(dest, jobs[1].log)))
    assert.is_true(r.ticks >= 1 and r.overruns <= r.ticks, out)
    return r
  end

  local function threads(variant, count, calls, opts)
    local dest = scratch("threads")
    opts = opts or {}
    opts.env = opts.env or {}
    opts.env.DCS_DEST = dest
    local status, out = embed.run(emu, dest, { embed.dir(variant) .. "/embed/threads",
      ROOT .. "/spec/embed/threads.lua", tostring(count), tostring(calls) }, opts)
    assert.are.equal(0, status, out)
    assert.matches(("threads %d, calls %d, ok %d, failed 0"):format(count, count * calls, count * calls), out,
      1, true)
    local sha = served_sha256({ instance = E.INSTANCE, log = E.LOG_ID })
    for i = 1, count do
      assert.are.equal(sha, core.sha256_file(("%s/thread-%d.log"):format(dest, i)))
    end
  end

  -- A download stalled after STALL bytes (the hostile server holds the
  -- rest) and link calls the emulator holds (a delay on E.INSTANCE) are
  -- in flight when the program calls lua_close.
  local function lifetime(variant, opts)
    local dest = scratch("lifetime")
    hs:file { path = "/big.log", size = 4 * STALL, tricks = { stall_after = STALL } }
    emu:fault { match = { path_contains = "/instances/" .. E.INSTANCE .. "/" }, times = -1,
      action = { delay = 30 } }
    local status, out = embed.run(emu, dest, { embed.dir(variant) .. "/embed/lifetime",
      ROOT .. "/spec/embed/lifetime.lua", dest, hs.url .. "/big.log", tostring(STALL), E.INSTANCE, E.LOG_ID },
      opts)
    emu:admin("DELETE", "/_emulator/faults")
    assert.are.equal(0, status, out)
    assert.matches(("in flight: a download at %d bytes, 8 link calls, 10 tasks alive"):format(STALL), out, 1, true)
    assert.matches("after lua_close: 0 bytes in 0 blocks", out, 1, true)
    -- the partial file stays, for a later call to resume
    assert.are.equal(STALL, #files.read(dest .. "/big.log.part"))
  end

  it("libdcs exports dcs_preload alone, links no Lua, and dcs.pc gives the version", function()
    local d = embed.dir()
    local _, syms = sub.shell("nm -g --defined-only " .. d .. "/libdcs.a | awk 'NF == 3 { print $3 }'")
    assert.are.equal("dcs_preload\n", syms)
    _, syms = sub.shell("nm -D --defined-only " .. d .. "/libdcs.so | awk 'NF == 3 { print $3 }'")
    assert.are.equal("dcs_preload\n", syms)
    -- the host brings its Lua: libdcs.so needs no Lua library
    local _, needed = sub.shell("readelf -d " .. d .. "/libdcs.so | grep NEEDED")
    assert.not_matches("lua", needed)
    assert.matches("libcurl", needed)
    local _, version = sub.shell("PKG_CONFIG_PATH=" .. d .. " pkg-config --modversion dcs")
    assert.are.equal(require("dcs.version") .. "\n", version)
  end)

  it("the example host runs every task to its result in its 60 Hz loop", function()
    host()          -- its tick figures are make bench-embed's (bench/embed.lua): no timing asserted here
  end)

  -- spec/embed/preload.c: package.preload replaced (by a table, a number),
  -- package.loaded.package replaced, before luaL_openlibs, twice
  it("dcs_preload makes require find lua-dcs, or fails with a message, whatever the host did to package", function()
    local status, out = embed.run(emu, ROOT, { embed.dir() .. "/embed/preload" })
    assert.are.equal(0, status, out)
    assert.not_matches("not ok", out)
  end)

  it("8 threads, a Lua state each, make 1000 calls each at once", function()
    threads(nil, 8, 1000)
  end)

  it("lua_close ends the tasks and transfers in flight and gives back every byte", function()
    lifetime()
  end)

  if CHECK == "tsan" then
    it("under tsan: 8 threads x 1000 calls", function()
      embed.make("embed-tests embed-host", "tsan")
      threads("tsan", 8, 1000, { env = TSAN_ENV })
    end)
    it("under tsan: lua_close with transfers in flight", function() lifetime("tsan", { env = TSAN_ENV }) end)
    it("under tsan: the example host", function() host("tsan", { env = TSAN_ENV }) end)
  elseif CHECK == "helgrind" then
    it("under helgrind: 8 threads x 100 calls", function()
      if embed.ABI == "luajit" then
        -- LuaJIT's allocator keeps an unsynchronised mmap hint shared by
        -- every state, by design; TSan covers LuaJIT instead.
        return pending("helgrind runs for PUC Lua only")
      end
      threads(nil, 8, 100, { prefix = HELGRIND })
    end)
  elseif CHECK == "valgrind" then
    it("under valgrind: lua_close with transfers in flight", function() lifetime(nil, { prefix = MEMCHECK }) end)
    it("under valgrind: the example host", function() host(nil, { prefix = MEMCHECK }) end)
    it("under valgrind: 2 threads x 20 calls", function() threads(nil, 2, 20, { prefix = MEMCHECK }) end)
  end
end)
