-- Single-connection throughput: blocking link calls per second
-- (client:create_redislog_download_link: one client, one kept-alive
-- connection) against a static nginx answer, as a ratio to a raw libcurl C
-- loop (bench/curl_loop.c: one easy handle, the same POST with the same
-- headers, nothing signed or decoded) in the same run.  The difference is
-- the SDK's per-call work: build, sign, headers, decode.  Three more loops
-- split it: the engine alone from C (bench/engine_loop.c: the same request
-- through csrc/dcs_engine.c, no Lua), which shows what the multi engine
-- itself adds; the same prebuilt request through dcs.core.engine from Lua
-- (start, step, result; no pipeline), the floor that the binding and the
-- engine leave; and that floor with the pipeline's work added before each
-- call (the same call on a client whose transport function answers at
-- once), which shows what that work costs between two network waits.  The
-- pipeline's cost in a hot loop, with no network at all, is printed beside
-- it.  Each round runs the five loops in an order that alternates; the
-- table shows the medians.  Each loop's CPU a call (its process's, user
-- and system) is printed too: it moves far less with the machine's other
-- work than the calls a second do, so it shows what a change to the
-- per-call work did.
--
--   make bench
--   lua5.4 bench/throughput.lua [rounds] [calls]   (LUA_PATH/LUA_CPATH as in make bench;
--                                                   build/bench/curl_loop and engine_loop
--                                                   built by make bench)
local core = require "dcs.core"
local dcs = require "dcs"
local server = require "server"

local ROUNDS = tonumber(arg[1]) or 7
local CALLS = tonumber(arg[2]) or 5000
local CURL_LOOP = os.getenv("PWD") .. "/build/bench/curl_loop"
local ENGINE_LOOP = os.getenv("PWD") .. "/build/bench/engine_loop"

local INSTANCE = "5560df16-cebf-4473-95c4-d1b573c16e79"
local ANSWER = '{"id":"' .. server.LOG .. '","backup_id":"b","link":"https://x/y"}'

-- Calls a second, and microseconds of this process's CPU a call, since t0 and c0.
local function per_call(t0, c0)
  return CALLS / (core.monotime() - t0), (os.clock() - c0) / CALLS * 1e6
end

local function sdk_round(client)
  local t0, c0 = core.monotime(), os.clock()
  for _ = 1, CALLS do
    local res = client:create_redislog_download_link(INSTANCE, server.LOG)
    assert(res and res.link == "https://x/y")
  end
  return per_call(t0, c0)
end

-- The request the SDK sends, built once (the signature is not checked).
local FLOOR_HEADERS = {
  ["Content-Type"] = "application/json", ["X-Project-Id"] = "0123456789abcdef0123456789abcdef",
  ["X-Sdk-Date"] = "20240101T000000Z", Accept = "application/json",
  Authorization = "SDK-HMAC-SHA256 Access=BENCHAK0000000000000, SignedHeaders=content-type;host;"
    .. "x-project-id;x-sdk-date, Signature=" .. ("0"):rep(64),
}

-- A client whose transport answers at once: the pipeline's work alone.
local function instant_client()
  local headers = { ["Content-Type"] = "application/json" }
  return dcs.client { ak = "BENCHAK0000000000000", sk = "exampleSK00000000000000000000000000000000",
    project = "0123456789abcdef0123456789abcdef", endpoint = "http://127.0.0.1:1", retries = false,
    transport = function() return 200, headers, ANSWER end }
end

-- Microseconds of CPU a call of the pipeline takes in a hot loop.
local function pipeline_cpu(instant)
  local n = CALLS * 4
  local c0 = os.clock()
  for _ = 1, n do assert(instant:create_redislog_download_link(INSTANCE, server.LOG)) end
  return (os.clock() - c0) / n * 1e6
end

-- The floor loop; with `instant`, the pipeline's work before each call.
local function floor_round(url, user_agent, instant)
  local engine = core.engine()
  local req = { method = "POST", url = url, headers = FLOOR_HEADERS, body = "" }
  local opts = { proxy = "", user_agent = user_agent }
  local t0, c0 = core.monotime(), os.clock()
  for _ = 1, CALLS do
    if instant then assert(instant:create_redislog_download_link(INSTANCE, server.LOG)) end
    local transfer = engine:start(req, opts)
    while not transfer:done() do engine:step(0.05) end
    local res = transfer:result()
    assert(res and res.status == 200)
  end
  local rate, cpu = per_call(t0, c0)
  engine:close()
  return rate, cpu
end

-- A C loop (bench/curl_loop.c or engine_loop.c): its calls a second and CPU a call.
local function c_round(program, url)
  local p = assert(io.popen(("%s '%s' %d"):format(program, url, CALLS)))
  local line = p:read("*l") or ""
  p:close()
  local rate, status, cpu = line:match("^(%d+) (%d+) %d+ ([%d.]+)")
  assert(status == "200", program .. " failed: " .. line)
  return tonumber(rate), tonumber(cpu)
end

-- One round of each loop, in an order that alternates:
-- { sdk = { calls/s, CPU us a call }, floor =, piped =, engine =, peer = }.
local function round_of(n, client, instant, url)
  local runs = {
    function() return "sdk", sdk_round(client) end,
    function() return "floor", floor_round(url, client.user_agent) end,
    function() return "piped", floor_round(url, client.user_agent, instant) end,
    function() return "engine", c_round(ENGINE_LOOP, url) end,
    function() return "peer", c_round(CURL_LOOP, url) end,
  }
  local round = {}
  for i = 1, #runs do
    local k, rate, cpu = runs[n % 2 == 0 and i or #runs + 1 - i]()
    round[k] = { rate, cpu }
  end
  return round
end

-- Medians over the rounds: of each loop's calls/s, of its ratio to the
-- peer, and of its CPU a call.
local function medians(rounds)
  local out = {}
  for _, k in ipairs { "sdk", "floor", "piped", "engine", "peer" } do
    local rates, ratios, cpus = {}, {}, {}
    for i, r in ipairs(rounds) do rates[i], ratios[i], cpus[i] = r[k][1], r[k][1] / r.peer[1], r[k][2] end
    out[k] = { rate = server.median(rates), ratio = server.median(ratios), cpu = server.median(cpus) }
  end
  return out
end

local function report(m, pipeline_us, load_before, load_after)
  print(("single-connection throughput: %d blocking link calls per round against a static nginx answer, "
    .. "%s, libcurl %s; medians of %d interleaved rounds"):format(CALLS,
      type(jit) == "table" and jit.version or _VERSION, core.curl_version(), ROUNDS))
  print(("  %-44s %8.0f calls/s"):format("client:create_redislog_download_link:", m.sdk.rate))
  print(("  %-44s %8.0f calls/s"):format("peer: raw libcurl loop (bench/curl_loop.c):", m.peer.rate))
  print(("  ratio: %.2fx (median of the rounds' ratios; target >= 0.9x); per call: %.1f us vs %.1f us")
    :format(m.sdk.ratio, 1e6 / m.sdk.rate, 1e6 / m.peer.rate))
  print(("  the engine alone from C (bench/engine_loop.c), no Lua: %.2fx (%.1f us a call)")
    :format(m.engine.ratio, 1e6 / m.engine.rate))
  print(("  floor: dcs.core.engine from Lua, the request prebuilt: %.2fx (%.1f us a call)")
    :format(m.floor.ratio, 1e6 / m.floor.rate))
  print(("  floor + the pipeline's work before each call: %.2fx (%.1f us a call: the pipeline costs %.1f us "
    .. "here, %.1f us of CPU in a hot loop)"):format(m.piped.ratio, 1e6 / m.piped.rate,
      1e6 / m.piped.rate - 1e6 / m.floor.rate, pipeline_us))
  print(("  CPU a call (the loop's process, user and system): SDK %.1f us, floor %.1f us, engine from C %.1f us, "
    .. "raw loop %.1f us: the SDK's own work %.1f us"):format(m.sdk.cpu, m.floor.cpu, m.engine.cpu, m.peer.cpu,
      m.sdk.cpu - m.peer.cpu))
  print(("  load average before: %s, after: %s"):format(load_before, load_after))
end

local function main()
  local load_before = server.loadavg()
  local srv = server.start()
  local client, instant = server.client(dcs, srv.static), instant_client()
  local url = srv.static .. "/v2/0123456789abcdef0123456789abcdef/instances/" .. INSTANCE
    .. "/redislog/" .. server.LOG .. "/links"
  local rounds = {}
  for n = 0, ROUNDS do                  -- round 0 warms up; not counted
    local rates = round_of(n, client, instant, url)
    if n > 0 then rounds[n] = rates end
  end
  client:close()
  srv.stop()
  local pipeline_us = pipeline_cpu(instant)
  local m = medians(rounds)
  local load_after = server.loadavg()
  report(m, pipeline_us, load_before, load_after)
  server.record {
    { "throughput", ("%.0f %.0f %.3f"):format(m.sdk.rate, m.peer.rate, m.sdk.ratio) },
    { "throughput floor", ("%.0f %.3f %.0f %.3f %.2f"):format(m.floor.rate, m.floor.ratio, m.piped.rate,
      m.piped.ratio, pipeline_us) },
    { "throughput cpu", ("%.1f %.1f %.1f %.1f"):format(m.sdk.cpu, m.floor.cpu, m.peer.cpu, m.engine.cpu) },
    { "throughput engine", ("%.0f %.3f"):format(m.engine.rate, m.engine.ratio) },
    { "throughput load", load_before .. " / " .. load_after },
  }
end

server.run(main)
