-- Signing speed: dcs.sign (C) against a peer in the same run, the
-- emulator's Python signer (hmac, hashlib).  Both sign the list_redislog
-- vector of spec/fixtures/sign-vectors.json from scratch and must produce
-- its Authorization.  dcs.sign hashes with the CPU's SHA extensions when
-- it has them (dcs.core.SHA256 says which); DCS_NO_SHA_NI=1 measures it
-- with mbedTLS's SHA-256 instead.
--
--   make bench            (LUA=lua5.4 by default; also LUA=luajit)
--   DCS_NO_SHA_NI=1 lua5.4 bench/sign.lua   (LUA_PATH/LUA_CPATH as in make bench)
local dcs = require "dcs"
local core = require "dcs.core"
local server = require "server"

local N = tonumber(arg[1]) or 20000
local ROUNDS = 5
local EXPECT = "SDK-HMAC-SHA256 Access=EXAMPLEAK0000000000A, SignedHeaders=content-type;host;x-project-id;"
  .. "x-sdk-date, Signature=7014b7619f3baf575ea6ef3daac513e8e9ef712e8cb08864bd5a0dbf1d5f610e"

local request = {
  method = "GET",
  url = "https://dcs.cn-north-4.myhuaweicloud.com/v2/0123456789abcdef0123456789abcdef"
    .. "/instances/5560df16-cebf-4473-95c4-d1b573c16e79/redislog",
  query = { log_type = "run", offset = 0, limit = 10 },
  headers = { ["X-Project-Id"] = "0123456789abcdef0123456789abcdef", ["X-Sdk-Date"] = "20210416T120000Z",
              ["content-type"] = "application/json" },
  body = "{}", ak = "EXAMPLEAK0000000000A", sk = "exampleSK00000000000000000000000000000000",
}

local load_before = server.loadavg()

assert(dcs.sign(request).Authorization == EXPECT, "dcs.sign does not reproduce the vector")
local ours, peers = {}, {}
for round = 1, ROUNDS do
  local start = os.clock()
  for _ = 1, N do dcs.sign(request) end
  ours[round] = N / (os.clock() - start)
  local p = assert(io.popen("python3 bench/sign_peer.py " .. N))
  local rate, auth = p:read("*l"):match("^(%d+) (.*)$")
  p:close()
  assert(auth == EXPECT, "the peer does not reproduce the vector")
  peers[round] = tonumber(rate)
end
local a, b = server.median(ours), server.median(peers)
print(("%-40s %9.0f signatures per CPU second"):format(("dcs.sign (C, SHA-256 %s, %s):"):format(
  core.SHA256, type(jit) == "table" and jit.version or _VERSION), a))
print(("%-40s %9.0f signatures per CPU second"):format("peer: Python hmac/hashlib signer:", b))
print(("ratio: %.1fx (median of %d rounds of %d signatures each)"):format(a / b, ROUNDS, N))
local load_after = server.loadavg()
print(("load average before: %s, after: %s"):format(load_before, load_after))
server.record { { "sign", ("%.0f %.0f"):format(a, b) }, { "sign sha256", core.SHA256 },
  { "sign load", load_before .. " / " .. load_after } }
