-- dcs.core.sign against callers whose tables change under it: a finalizer
-- run by any allocation inside the call may add or remove entries of the
-- query and headers tables.  The binding must neither overflow a buffer
-- sized from a stale count nor hand the signer a string that only the
-- caller's table kept alive.  Each case runs in its own process, because a
-- heap overflow there can kill it without a word; under `make asan` (the
-- process inherits LD_PRELOAD and the ASan build) or valgrind
-- (DCS_SPEC_VALGRIND=1) the smaller overflows are caught too.
local sub = require "support.subprocess"

-- A ticker: a finalizer that runs mutate(n) once per collection cycle while
-- dcs.core.sign is running, then re-arms itself, at most `times` times.
-- The GC is made as eager as it goes so that cycles complete inside the call.
local PRELUDE = [=[
local core = require "dcs.core"
local gc = require "support.gc"          -- on_gc, and the most eager collector
local inside, done, fired = false, false, 0
-- About one collection cycle per allocation, so finalizers run all
-- through the call.
local function eager_gc(on)
  gc.eager(on)
  collectgarbage()
end
local function ticker(times, mutate)
  local function arm()
    gc.on_gc(function()
      if inside and fired < times then
        fired = fired + 1
        mutate(fired)
      end
      if not done then arm() end
    end)
  end
  arm()
end
local function sign(args)
  args.method, args.url, args.ak, args.sk = "GET", "https://h.example/p", "AK", "SK"
  eager_gc(true)
  inside = true
  local ok, h, canonical = pcall(core.sign, args)
  inside, done = false, true
  eager_gc(false)
  return ok, h, canonical
end
-- On success the result must agree with itself: every header returned is
-- a string and exactly the '_'-free ones are signed, with their values.
local function report(ok, h, canonical)
  if not ok then
    print("RESULT error " .. tostring(h) .. " fired=" .. fired)
    return
  end
  local names = {}
  for k, v in pairs(h) do
    if type(k) ~= "string" or type(v) ~= "string" then
      print("RESULT inconsistent: non-string header")
      return
    end
    if k ~= "Authorization" and not k:find("_", 1, true) then
      names[#names + 1] = k:lower()
      local line = "\n" .. k:lower() .. ":" .. v:match("^[ \t]*(.-)[ \t]*$") .. "\n"
      if not canonical:find(line, 1, true) then
        print("RESULT inconsistent: " .. k .. " not in the canonical request")
        return
      end
    end
  end
  table.sort(names)
  local signed = h.Authorization:match("SignedHeaders=([^,]*),")
  if signed ~= table.concat(names, ";") then
    print("RESULT inconsistent: SignedHeaders " .. tostring(signed))
    return
  end
  print("RESULT ok fired=" .. fired .. " headers=" .. #names)
end
]=]

-- Helpers of the removal cases: unique(prefix, i) is a string no constant
-- refers to, so it dies with its table entry; in_visit_order(t) lists the
-- keys of t in the order lua_next gives them (removals do not rehash).
local REMOVAL = [=[
local function unique(prefix, i)
  return prefix .. "-" .. i .. "-" .. string.rep("z", 48) .. tostring({}):gsub("[^%w]", "")
end
local function in_visit_order(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  return keys
end
]=]

local CASES = {
  {
    name = "headers: a finalizer adds hundreds of headers during the call",
    code = [=[
local headers = { ["X-Sdk-Date"] = "20210416T120000Z" }
for i = 1, 20 do headers["X-N" .. i] = i + 0.5 end
local added = 0
ticker(20, function()
  for _ = 1, 40 do added = added + 1; headers["X-Added-" .. added] = added + 0.5 end
end)
report(sign { headers = headers })
]=],
  },
  {
    name = "headers: a finalizer adds a few headers during the call",
    code = [=[
local headers = { ["X-Sdk-Date"] = "20210416T120000Z" }
for i = 1, 150 do headers["X-N" .. i] = i + 0.5 end
local added = 0
ticker(30, function()
  for _ = 1, 2 do added = added + 1; headers["X-Added-" .. added] = added + 0.5 end
end)
report(sign { headers = headers })
]=],
  },
  {
    name = "headers: a finalizer removes headers whose names only the table held",
    code = REMOVAL .. [=[
local headers = { ["X-Sdk-Date"] = "20210416T120000Z" }
for i = 1, 200 do headers[unique("X-Gone", i)] = i + 0.5 end
local doomed = in_visit_order(headers)
-- From the 20th run on, drop the entries visited first: the ones whose
-- names a careless binding already holds.
ticker(80, function(run)
  if run < 20 then return end
  for _ = 1, 4 do
    local name = table.remove(doomed, 1)
    if name and name ~= "X-Sdk-Date" then headers[name] = nil end
  end
end)
report(sign { headers = headers })
]=],
  },
  {
    name = "query: a finalizer adds hundreds of pairs during the call",
    code = [=[
local query = {}
for i = 1, 20 do query["n" .. i] = i + 0.5 end
local added = 0
ticker(40, function()
  for _ = 1, 40 do added = added + 1; query["added" .. added] = added + 0.5 end
end)
report(sign { query = query, headers = { ["X-Sdk-Date"] = "20210416T120000Z" } })
]=],
  },
  {
    name = "query: a finalizer grows the arrays being expanded",
    code = [=[
local query = {}
for k = 1, 8 do
  local a = {}
  for i = 1, 100 do a[i] = i + 0.5 end
  query["list" .. k] = a
end
ticker(8, function()
  for k = 1, 8 do
    local a = query["list" .. k]
    for _ = 1, 3 do a[#a + 1] = #a + 0.25 end
  end
end)
report(sign { query = query, headers = { ["X-Sdk-Date"] = "20210416T120000Z" } })
]=],
  },
  {
    name = "query: a finalizer removes keys and array values only the table held",
    code = REMOVAL .. [=[
local query = {}
for i = 1, 300 do
  query[unique("gone", i)] = (i % 3 == 0) and { unique("v", i), i + 0.5, unique("w", i) } or i + 0.5
end
local doomed = in_visit_order(query)
-- Each run also shortens every array it reaches, from the end.
ticker(120, function(run)
  if run < 20 then return end
  for _ = 1, 4 do
    local key = table.remove(doomed, 1)
    local v = key and query[key]
    if type(v) == "table" then v[#v] = nil end
    if key then query[key] = nil end
  end
  for _, v in pairs(query) do
    if type(v) == "table" and #v > 1 then v[#v] = nil end
  end
end)
report(sign { query = query, headers = { ["X-Sdk-Date"] = "20210416T120000Z" } })
]=],
  },
}

-- The environment the case runs in: the same dcs.core the specs loaded
-- (the ASan build under tools/check's busted-asan stage) and the sanitizer
-- runtime when it is preloaded.
local function case_env()
  local env = {}
  local so = package.searchpath("dcs.core", package.cpath)
  if so then env.LUA_CPATH = so:gsub("dcs/core%.so$", "?.so") .. ";;" end
  for _, name in ipairs { "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS" } do
    env[name] = os.getenv(name)
  end
  return env
end

-- A corrupted heap may also hang the process: `timeout` ends it.
local function run_case(code, wrapper)
  local lua = sub.LUA
  sub.LUA = "timeout 120 " .. (wrapper and wrapper .. " " or "") .. lua
  local ok, status, out = pcall(sub.run, PRELUDE .. code, case_env())
  sub.LUA = lua
  assert(ok, status)
  return status, out
end

-- What each case may end with: a consistent signature, or a clean error
-- that names the limit the growth ran into.
local function check(status, out)
  assert.are.equal(0, status, out)
  local result = out:match("RESULT ([^\n]*)")
  assert.is_truthy(result, out)
  assert.is_falsy(out:find("AddressSanitizer", 1, true), out)
  assert.is_falsy(out:find("runtime error", 1, true), out)
  if not result:find("^ok ") then
    assert.matches("^error .*too many", result)
  end
  -- The case is only worth something when the finalizer did run inside.
  assert.is_true(tonumber(result:match("fired=(%d+)")) > 0, result)
  return result
end

describe("dcs.core.sign with tables a finalizer changes during the call", function()
  for _, case in ipairs(CASES) do
    it(case.name, function()
      check(run_case(case.code))
    end)
  end
end)

describe("the same under valgrind", function()
  local enabled = os.getenv("DCS_SPEC_VALGRIND") == "1" and sub.ABI == "lua5.4"
    and not os.getenv("LD_PRELOAD")
  for _, case in ipairs(CASES) do
    it(case.name, function()
      if not enabled then return pending("set DCS_SPEC_VALGRIND=1 (lua5.4, no ASan preload)") end
      check(run_case(case.code,
        "valgrind -q --error-exitcode=99 --suppressions=" .. sub.ROOT .. "/tools/valgrind.supp"))
    end)
  end
end)
