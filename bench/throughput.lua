-- Single-connection throughput: blocking link calls per second
-- (client:create_redislog_download_link: one client, one kept-alive
-- connection) against a static nginx answer, as a ratio to a raw libcurl C
-- loop (bench/curl_loop.c: one easy handle, the same POST with the same
-- headers, nothing signed or decoded) in the same run.  Each round runs
-- both, in an order that alternates; the table shows the medians.  The
-- difference is the SDK's per-call work: build, sign, headers, decode.
-- A third loop splits it: the same prebuilt request through dcs.core.engine
-- from Lua (start, step, result; no pipeline), the floor that the binding
-- and the engine leave.
--
--   make bench
--   lua5.4 bench/throughput.lua [rounds] [calls]   (LUA_PATH/LUA_CPATH as in make bench;
--                                                   build/bench/curl_loop built by make bench)
local core = require "dcs.core"
local dcs = require "dcs"
local server = require "server"

local ROUNDS = tonumber(arg[1]) or 7
local CALLS = tonumber(arg[2]) or 5000
local CURL_LOOP = os.getenv("PWD") .. "/build/bench/curl_loop"

local function sdk_round(client)
  local t0 = core.monotime()
  for _ = 1, CALLS do
    local res = client:create_redislog_download_link("5560df16-cebf-4473-95c4-d1b573c16e79", server.LOG)
    assert(res and res.link == "https://x/y")
  end
  return CALLS / (core.monotime() - t0)
end

-- The request the SDK sends, built once (the signature is not checked).
local FLOOR_HEADERS = {
  ["Content-Type"] = "application/json", ["X-Project-Id"] = "0123456789abcdef0123456789abcdef",
  ["X-Sdk-Date"] = "20240101T000000Z", Accept = "application/json",
  Authorization = "SDK-HMAC-SHA256 Access=BENCHAK0000000000000, SignedHeaders=content-type;host;"
    .. "x-project-id;x-sdk-date, Signature=" .. ("0"):rep(64),
}

local function floor_round(url, user_agent)
  local engine = core.engine()
  local req = { method = "POST", url = url, headers = FLOOR_HEADERS, body = "" }
  local opts = { proxy = "", user_agent = user_agent }
  local t0 = core.monotime()
  for _ = 1, CALLS do
    local transfer = engine:start(req, opts)
    while not transfer:done() do engine:step(0.05) end
    local res = transfer:result()
    assert(res and res.status == 200)
  end
  local rate = CALLS / (core.monotime() - t0)
  engine:close()
  return rate
end

local function curl_round(url)
  local p = assert(io.popen(("%s '%s' %d"):format(CURL_LOOP, url, CALLS)))
  local line = p:read("*l") or ""
  p:close()
  local rate, status = line:match("^(%d+) (%d+)")
  assert(status == "200", "curl_loop failed: " .. line)
  return tonumber(rate)
end

local function main()
  local load_before = server.loadavg()
  local srv = server.start()
  local client = server.client(dcs, srv.static)
  local url = srv.static .. "/v2/0123456789abcdef0123456789abcdef/instances/"
    .. "5560df16-cebf-4473-95c4-d1b573c16e79/redislog/" .. server.LOG .. "/links"
  local ours, floors, peers = {}, {}, {}
  for round = 0, ROUNDS do              -- round 0 warms up; not counted
    local a, f, b
    if round % 2 == 0 then
      a = sdk_round(client)
      f = floor_round(url, client.user_agent)
      b = curl_round(url)
    else
      b = curl_round(url)
      f = floor_round(url, client.user_agent)
      a = sdk_round(client)
    end
    if round > 0 then ours[round], floors[round], peers[round] = a, f, b end
  end
  client:close()
  srv.stop()
  local ratios, floor_ratios = {}, {}
  for i = 1, ROUNDS do ratios[i], floor_ratios[i] = ours[i] / peers[i], floors[i] / peers[i] end
  local a, b, r = server.median(ours), server.median(peers), server.median(ratios)
  local f, fr = server.median(floors), server.median(floor_ratios)
  local load_after = server.loadavg()
  print(("single-connection throughput: %d blocking link calls per round against a static nginx answer, "
    .. "%s, libcurl %s; medians of %d interleaved rounds"):format(CALLS,
      type(jit) == "table" and jit.version or _VERSION, core.curl_version(), ROUNDS))
  print(("  %-44s %8.0f calls/s"):format("client:create_redislog_download_link:", a))
  print(("  %-44s %8.0f calls/s"):format("peer: raw libcurl loop (bench/curl_loop.c):", b))
  print(("  ratio: %.2fx (median of the rounds' ratios; target >= 0.9x); per call: %.1f us vs %.1f us")
    :format(r, 1e6 / a, 1e6 / b))
  print(("  floor: dcs.core.engine from Lua, the request prebuilt: %.0f calls/s, %.2fx (%.1f us a call)")
    :format(f, fr, 1e6 / f))
  print(("  load average before: %s, after: %s"):format(load_before, load_after))
  server.record {
    { "throughput", ("%.0f %.0f %.3f"):format(a, b, r) },
    { "throughput floor", ("%.0f %.3f"):format(f, fr) },
    { "throughput load", load_before .. " / " .. load_after },
  }
end

server.run(main)
