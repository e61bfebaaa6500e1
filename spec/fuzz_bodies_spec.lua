-- Randomized decoding: real bodies (a listing page, a link answer, error
-- bodies, an IAM project answer, a metadata securitykey answer), captured
-- from the emulator once into spec/fixtures/fuzz_bodies.json (so a seed
-- always means the same inputs; each run checks that the emulator's bodies
-- still have the fixtures' JSON shape, and DCS_FUZZ_CAPTURE=1 writes them
-- again), mutated thousands of times (byte flips,
-- truncation, inserted tokens, JSON type swaps, deep nesting, splices) and
-- fed through the public API: a client whose transport is a function (the
-- documented user transport, not a mock of libcurl) for the DCS operations,
-- IAM and the metadata provider, and, for a smaller count, the metadata
-- path over a real loopback server (tools/hostile-server).  Every outcome
-- must be a valid result of the documented shape or nil, err with
-- dcs.is_error(err); nothing may raise.
--
--   DCS_FUZZ_SEED=n        the seed (printed at the start; a failure names it
--                          and the iteration)
--   DCS_FUZZ_ITERATIONS=n  mutations per body (default 4000); the server part
--                          runs a tenth of that (at least 20)
local cjson = require "cjson"
local core = require "dcs.core"
local dcs = require "dcs"
local E = require "support.emulator"
local validate = require "dcs.validate"

local SEED = math.floor(tonumber(os.getenv("DCS_FUZZ_SEED") or "") or 20261128)
local ITERATIONS = math.floor(tonumber(os.getenv("DCS_FUZZ_ITERATIONS") or "") or 4000)
local SERVER_ITERATIONS = math.max(20, math.floor(ITERATIONS / 10))

local clean_env = os.getenv("HUAWEICLOUD_SDK_AK") == nil and os.getenv("HUAWEICLOUD_SDK_SK") == nil
local FIXTURES = "spec/fixtures/fuzz_bodies.json"
local KINDS = { "list", "link", "error404", "error401", "iam", "securitykey" }

-- The JSON shape of a value: key names and value types, arrays by their first element.
local function json_shape(v)
  if type(v) ~= "table" then return type(v) end
  if #v > 0 then return { json_shape(v[1]) } end
  local out = {}
  for k, x in pairs(v) do out[k] = json_shape(x) end
  return out
end

-- Park-Miller: the same sequence on every Lua (doubles hold every product).
local function generator(seed)
  local state = seed % 2147483646 + 1
  local r = {}
  function r.next()
    state = state * 48271 % 2147483647
    return state
  end
  function r.int(a, b)              -- a..b inclusive
    return a + r.next() % (b - a + 1)
  end
  function r.pick(list) return list[r.int(1, #list)] end
  function r.chance(p) return r.next() / 2147483647 < p end
  return r
end

-- ---- mutations ----

local TOKENS = { '"', "'", "{", "}", "[", "]", ",", ":", "\\", "\\u0000", "\\ud800", "\\u12", "\\x41", "null",
  "true", "false", "NaN", "-NaN", "Infinity", "-Infinity", "nan", "inf", "1e400", "-1e400", "1e-400",
  "123456789012345678901234567890", "9007199254740993", "-0", "0x10", "0x", "1.5", "-1", "1.", ".5", "01",
  "\0", "\r\n", "\255", "\192\128", "\237\160\128", "//", "/*", "{}", "[]", '""', '"\27[31m"', '"../.."',
  '"a/b"', "{{{{", "]]]]", '{"a":', '"total_num"', '"file_list"', '"link"', '"projects"', '"credential"',
  '"id"', '"file_name"', ",,", "::", " ", "\t", "\n" }

local function hostile_value(r)
  local choices = {
    function() return cjson.null end, function() return true end, function() return false end,
    function() return r.int(-5, 5) end, function() return 1.5 end, function() return 1e300 end,
    function() return -1e300 end, function() return 2 ^ 53 + 2 end, function() return 2 ^ 63 end,
    function() return -1 end, function() return 0 end, function() return "" end, function() return ".." end,
    function() return "a/b" end, function() return "\27[31m\r\n\0" end, function() return ("x"):rep(r.int(1, 5000)) end,
    function() return "12" end, function() return {} end, function() return { 1, 2, 3 } end,
    function() return { id = "x" } end, function() return { { { { {} } } } } end,
    function() return "https://127.0.0.1:1/x" end, function() return "javascript:alert(1)" end,
  }
  return r.pick(choices)()
end

-- Keys in a fixed order: pairs() order changes from run to run (string
-- hashes are seeded per process), and a seed must mean the same inputs.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) == "number" end
    return a < b
  end)
  return keys
end

-- Every (parent, key) of a decoded JSON value.
local function slots(value, out)
  out = out or {}
  if type(value) == "table" then
    for _, k in ipairs(sorted_keys(value)) do
      out[#out + 1] = { value, k }
      slots(value[k], out)
    end
  end
  return out
end

-- JSON with sorted keys (cjson.encode follows pairs()).
local function encode(v)
  if v == nil or v == cjson.null then return "null" end
  local t = type(v)
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
    return ("%.17g"):format(v)
  end
  if t == "string" then return cjson.encode(v) end
  local keys = sorted_keys(v)
  local parts = {}
  if #keys > 0 and #keys == #v then
    for i = 1, #v do parts[i] = encode(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  for i, k in ipairs(keys) do parts[i] = cjson.encode(tostring(k)) .. ":" .. encode(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function swap_type(r, body)
  local ok, value = pcall(cjson.decode, body)
  if not ok or type(value) ~= "table" then return body end
  local all = slots(value)
  for _ = 1, r.int(1, 3) do
    if #all == 0 then break end
    local slot = r.pick(all)
    if r.chance(0.15) then
      slot[1][slot[2]] = nil
    else
      slot[1][slot[2]] = hostile_value(r)
    end
  end
  return encode(value)
end

local function flip_bit(b, k)
  local bit = 2 ^ k
  if math.floor(b / bit) % 2 == 1 then return b - bit end
  return b + bit
end

local MUTATORS = {
  function(r, s)                    -- a random byte
    if #s == 0 then return s end
    local i = r.int(1, #s)
    return s:sub(1, i - 1) .. string.char(r.int(0, 255)) .. s:sub(i + 1)
  end,
  function(r, s)                    -- one bit
    if #s == 0 then return s end
    local i = r.int(1, #s)
    return s:sub(1, i - 1) .. string.char(flip_bit(s:byte(i), r.int(0, 7))) .. s:sub(i + 1)
  end,
  function(r, s) return s:sub(1, r.int(0, #s)) end,                      -- truncation
  function(r, s)                    -- an inserted token
    local i = r.int(0, #s)
    return s:sub(1, i) .. r.pick(TOKENS) .. s:sub(i + 1)
  end,
  function(r, s)                    -- a deleted range
    if #s == 0 then return s end
    local i = r.int(1, #s)
    return s:sub(1, i - 1) .. s:sub(i + r.int(1, 16))
  end,
  function(r, s)                    -- a repeated range
    if #s == 0 then return s end
    local i = r.int(1, #s)
    local j = math.min(#s, i + r.int(0, 40))
    return s:sub(1, j) .. s:sub(i, j):rep(r.int(1, 50)) .. s:sub(j + 1)
  end,
  swap_type, swap_type, swap_type,  -- decode, change types, encode (weighted: the shapes matter most)
  function(r, s)                    -- deep nesting around the body
    local n = r.int(1, 1200)
    if r.chance(0.5) then return ("["):rep(n) .. s .. ("]"):rep(n) end
    return ('{"a":'):rep(n) .. s .. ("}"):rep(n)
  end,
  function(r, s)                    -- deep nesting inside a value
    local n = r.int(1, 1200)
    local i = s:find(":", r.int(1, math.max(1, #s)), true) or s:find(":", 1, true)
    if not i then return s end
    return s:sub(1, i) .. ("["):rep(n) .. "1" .. ("]"):rep(n) .. "," .. s:sub(i + 1)
  end,
}

local function mutate(r, body, others)
  local s = body
  if r.chance(0.05) then                                                  -- a splice of two bodies
    local other = r.pick(others)
    s = s:sub(1, r.int(0, #s)) .. other:sub(r.int(1, math.max(1, #other)))
  end
  for _ = 1, r.int(1, 3) do s = r.pick(MUTATORS)(r, s) end
  return s
end

local JUNK_HEADERS = { "", "abc", "-1", "1e9", "99999999999", "\27[31m", ("r"):rep(3000), "Wed, 99 Foo",
  "0", "3", "Thu, 01 Jan 1970 00:00:00 GMT", "\r\nX: 1" }

local function headers_for(r)
  local h = { ["Content-Type"] = "application/json" }
  if r.chance(0.2) then h["X-Request-Id"] = r.pick(JUNK_HEADERS) end
  if r.chance(0.2) then h["Retry-After"] = r.pick(JUNK_HEADERS) end
  return h
end

-- ---- what a valid outcome looks like ----

local FILE_FIELDS = { "file_name", "status", "time", "group_name", "replication_ip", "backup_id" }

local function is_integer(v) return type(v) == "number" and v == math.floor(v) and v >= 0 and v <= 2 ^ 53 end

local function listing_problem(res)
  if type(res) ~= "table" then return "not a table" end
  if not is_integer(res.total_num) then return "total_num " .. tostring(res.total_num) end
  if type(res.file_list) ~= "table" then return "file_list not a table" end
  local n = 0
  for _ in pairs(res.file_list) do n = n + 1 end
  if n ~= #res.file_list then return "file_list not a list" end
  for i, f in ipairs(res.file_list) do
    if type(f) ~= "table" then return "file " .. i .. " not a table" end
    if not validate.id(f.id) then return "file " .. i .. " id " .. tostring(f.id) end
    for _, k in ipairs(FILE_FIELDS) do
      if f[k] ~= nil and type(f[k]) ~= "string" then return ("file %d %s is a %s"):format(i, k, type(f[k])) end
    end
  end
end

local SHAPES = {
  list = listing_problem,
  link = function(res)
    if type(res) ~= "table" or type(res.link) ~= "string" then return "no link" end
  end,
  collect = function(res) if res ~= true then return "not true" end end,
  each = function(res)
    if type(res) ~= "table" then return "not a table" end
    for i, f in ipairs(res) do
      if type(f) ~= "table" or not validate.id(f.id) then return "file " .. i end
    end
  end,
}

local function printable(s)
  s = tostring(s)
  if #s > 300 then s = s:sub(1, 300) .. ("... (%d bytes)"):format(#s) end
  return (s:gsub("[%z\1-\31\127-\255]", function(c) return ("\\%03d"):format(c:byte()) end))
end

-- Checks one outcome of pcall(op); error() with what to reproduce it by.
local function judge(shape, where, kinds, ok, res, err)
  local function fail(why) error(("%s: %s"):format(where, why), 0) end
  if not ok then fail("raised: " .. printable(res)) end
  if res ~= nil and res ~= false then
    local problem = SHAPES[shape](res)
    if problem then fail("invalid result: " .. problem) end
    return "ok"
  end
  if not dcs.is_error(err) then fail("not an error object: " .. printable(err)) end
  local tok, text = pcall(tostring, err)
  if not tok or type(text) ~= "string" or text:find("[\r\n]") then fail("tostring(err): " .. printable(text)) end
  if type(err.kind) ~= "string" or type(err.message) ~= "string" then fail("error without kind or message") end
  if kinds and not kinds[err.kind] then fail("error kind " .. err.kind .. ": " .. printable(text)) end
  return err.kind
end

-- Runs an iterator to its end, bounded: the files or nil, err.
local function drain(iter)
  local files = {}
  for _ = 1, 10000 do
    local f, err = iter()
    if f == nil then return files end
    if f == false then
      if iter() ~= nil then error("each_redislog went on after false, err", 0) end
      return nil, err
    end
    files[#files + 1] = f
  end
  error("each_redislog never ended", 0)
end

describe("randomized decoding of server bodies", function()
  local emu, hs
  local bodies = {}         -- the fixtures, once checked against the emulator

  lazy_setup(function()
    io.stderr:write(("fuzz_bodies: seed %d (DCS_FUZZ_SEED), %d mutations per body (DCS_FUZZ_ITERATIONS)\n")
      :format(SEED, ITERATIONS))
    emu = E.start()
    local live = {}
    -- capture real bodies: a transport function that records what the emulator answers
    local captured = {}
    local function recorder(req)
      local h = core.http { timeout = 10, proxy = "" }
      local res, failure = h:request { method = req.method, url = req.url, headers = req.headers, body = req.body }
      h:close()
      if not res then return nil, failure.message end
      captured[#captured + 1] = { url = req.url, status = res.status, body = res.body }
      return res.status, res.headers, res.body
    end
    local function last() return captured[#captured] end
    local c = emu:client { transport = recorder, retries = false }
    assert(c:list_redislogs(E.INSTANCE))
    live.list = last().body
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    live.link = last().body
    assert(not c:create_redislog_download_link("5560df16-cebf-4473-95c4-d1b573c16e70", E.LOG_ID))
    live.error404 = last().body
    c:close()
    c = emu:client { transport = recorder, retries = false, sk = "wrongSK0000000000000000000000000000000000" }
    assert(not c:list_redislogs(E.INSTANCE))
    live.error401 = last().body
    c:close()
    c = dcs.client { ak = E.AK, sk = E.SK, region = "cn-north-4", endpoint = emu.url, iam_endpoint = emu.url,
      transport = recorder, retries = false }
    assert(c:list_redislogs(E.INSTANCE))
    c:close()
    for _, rec in ipairs(captured) do
      if rec.url:find("/v3/projects", 1, true) then live.iam = rec.body end
    end
    local h = core.http { timeout = 10, proxy = "" }
    local token = assert(h:request { method = "PUT", url = emu.url .. "/meta-data/latest/api/token",
      headers = { ["X-Metadata-Token-Ttl-Seconds"] = "21600" } }).body
    live.securitykey = assert(h:request { url = emu.url .. "/openstack/latest/securitykey",
      headers = { ["X-Metadata-Token"] = token } }).body
    h:close()
    for _, k in ipairs(KINDS) do
      assert(type(live[k]) == "string" and #live[k] > 2, "no " .. k .. " body captured")
      assert(pcall(cjson.decode, live[k]), k .. " is not JSON")
    end
    if os.getenv("DCS_FUZZ_CAPTURE") == "1" then
      local f = assert(io.open(FIXTURES, "w"))
      f:write(cjson.encode(live), "\n")
      f:close()
    end
    local f = assert(io.open(FIXTURES))
    local fixed = cjson.decode(f:read("*a"))
    f:close()
    for _, k in ipairs(KINDS) do
      assert.are.same(json_shape(cjson.decode(live[k])), json_shape(cjson.decode(fixed[k])),
        k .. ": the emulator's answer changed shape; capture again with DCS_FUZZ_CAPTURE=1")
      bodies[k] = fixed[k]
    end
    assert.matches('"file_list"', bodies.list)
    assert.matches('"credential"', bodies.securitykey)
    assert.matches('"projects"', bodies.iam)
    assert.matches("DCS.3022", bodies.error404)
    assert.matches("APIGW", bodies.error401)
  end)

  lazy_teardown(function()
    if emu then emu:stop() end
    if hs then hs:stop() end
  end)

  local function others()
    return { bodies.list, bodies.link, bodies.error404, bodies.error401, bodies.iam, bodies.securitykey }
  end

  -- A client whose transport answers every request with answer(req).
  local function client_with(answer, extra)
    local o = { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = "https://127.0.0.1:1", retries = false,
      transport = function(req) return answer(req) end }
    for k, v in pairs(extra or {}) do o[k] = v end
    local c = dcs.client(o)
    c.sleep = function() end                -- retries without waiting
    return c
  end

  local ERROR_STATUSES = { 400, 401, 403, 404, 405, 409, 429, 500, 502, 503, 504 }

  -- One DCS operation fed mutated `kind` bodies; the tally of outcomes.
  local function fuzz_operation(label, kind, shape, call, success, salt)
    local r = generator(SEED + salt)
    local current = {}
    local retrying = { max = 2, base = 0.001, cap = 0.001 }
    local plain = client_with(function() return current.status, current.headers, current.body end)
    local retried = client_with(function() return current.status, current.headers, current.body end,
      { retries = retrying })
    local tally = {}
    for i = 1, ITERATIONS do
      current.body = mutate(r, bodies[kind], others())
      current.headers = headers_for(r)
      current.status = r.chance(0.75) and r.pick(success) or r.pick(ERROR_STATUSES)
      local c = r.chance(0.1) and retried or plain
      local where = ("%s, seed %d, iteration %d, HTTP %d, body %s"):format(label, SEED, i, current.status,
        printable(current.body))
      local outcome = judge(shape, where, nil, pcall(call, c, r))
      tally[outcome] = (tally[outcome] or 0) + 1
    end
    plain:close()
    retried:close()
    return tally
  end

  local function report(label, tally)
    local parts = {}
    for k, n in pairs(tally) do parts[#parts + 1] = k .. " " .. n end
    table.sort(parts)
    io.stderr:write(("fuzz_bodies: %s: %s\n"):format(label, table.concat(parts, ", ")))
    -- both ways out were taken: the mutations reach the checks
    assert.is_true((tally.ok or 0) > 0, label .. ": no mutation gave a valid result")
    assert.is_true((tally.decode or 0) + (tally.api or 0) > 0, label .. ": no mutation gave an error")
  end

  it("list_redislogs and each_redislog: listing pages", function()
    report("list_redislogs", fuzz_operation("list_redislogs", "list", "list",
      function(c) return c:list_redislogs(E.INSTANCE) end, { 200, 200, 200, 204 }, 1))
    report("each_redislog", fuzz_operation("each_redislog", "list", "each",
      function(c, r) return drain(c:each_redislog(E.INSTANCE, { page_size = r.int(1, 5), max_files = 50 })) end,
      { 200 }, 2))
  end)

  it("create_redislog_download_link: link answers", function()
    report("create_redislog_download_link", fuzz_operation("create_redislog_download_link", "link", "link",
      function(c) return c:create_redislog_download_link(E.INSTANCE, E.LOG_ID) end, { 200 }, 3))
  end)

  it("error bodies, on every operation", function()
    local tally = {}
    for salt, kind in ipairs { "error404", "error401" } do
      local r = generator(SEED + 10 + salt)
      local current = {}
      local c = client_with(function() return current.status, current.headers, current.body end)
      for i = 1, ITERATIONS do
        current.body = mutate(r, bodies[kind], others())
        current.headers = headers_for(r)
        current.status = r.pick(ERROR_STATUSES)
        local op = r.int(1, 3)
        local where = ("%s on operation %d, seed %d, iteration %d, HTTP %d, body %s"):format(kind, op, SEED, i,
          current.status, printable(current.body))
        local outcome
        if op == 1 then
          outcome = judge("list", where, nil, pcall(c.list_redislogs, c, E.INSTANCE))
        elseif op == 2 then
          outcome = judge("link", where, nil, pcall(c.create_redislog_download_link, c, E.INSTANCE, E.LOG_ID))
        else
          outcome = judge("collect", where, nil, pcall(c.collect_redislog, c, E.INSTANCE, { query_time = 1 }))
        end
        if outcome ~= "api" then error(where .. ": an error status gave " .. outcome, 0) end
        tally[outcome] = (tally[outcome] or 0) + 1
      end
      c:close()
    end
    io.stderr:write(("fuzz_bodies: error bodies: api %d\n"):format(tally.api or 0))
  end)

  it("collect_redislog: 204 and 200 with mutated bodies", function()
    report("collect_redislog", fuzz_operation("collect_redislog", "link", "collect",
      function(c) return c:collect_redislog(E.INSTANCE, { query_time = 1 }) end, { 204, 204, 200 }, 4))
  end)

  it("the IAM project lookup", function()
    local r = generator(SEED + 20)
    local body
    local tally = {}
    for i = 1, ITERATIONS do
      body = mutate(r, bodies.iam, others())
      local status = r.chance(0.85) and 200 or r.pick(ERROR_STATUSES)
      -- a new AK each time: a project found is cached per AK and region
      local c = dcs.client { ak = "FUZZAK" .. i, sk = E.SK, region = "cn-north-4", endpoint = "https://127.0.0.1:1",
        iam_endpoint = "https://127.0.0.1:2", retries = false,
        transport = function(req)
          if req.url:find("/v3/projects", 1, true) then
            return status, { ["Content-Type"] = "application/json" }, body
          end
          return 200, {}, bodies.list
        end }
      local where = ("IAM, seed %d, iteration %d, HTTP %d, body %s"):format(SEED, i, status, printable(body))
      local outcome = judge("list", where, nil, pcall(c.list_redislogs, c, E.INSTANCE))
      tally[outcome] = (tally[outcome] or 0) + 1
      c:close()
    end
    report("IAM", tally)
  end)

  local CREDENTIALS_ONLY = { credentials = true }

  it("the metadata provider, through a transport function", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    local r = generator(SEED + 30)
    local tally = {}
    for i = 1, ITERATIONS do
      local token_body = r.chance(0.1) and mutate(r, "hostile-token-value", others()) or "hostile-token-value"
      local body = mutate(r, bodies.securitykey, others())
      local status = r.chance(0.85) and 200 or r.pick(ERROR_STATUSES)
      local c = dcs.client { project = E.PROJECT, endpoint = "https://127.0.0.1:1",
        metadata_endpoint = "http://127.0.0.1:1", credentials_file = "/nonexistent/fuzz/credentials",
        retries = false,
        transport = function(req)
          if req.url:find("/api/token", 1, true) then return 200, {}, token_body end
          if req.url:find("/securitykey", 1, true) then return status, {}, body end
          return 200, {}, bodies.list
        end }
      local where = ("metadata, seed %d, iteration %d, HTTP %d, token %s, body %s"):format(SEED, i, status,
        printable(token_body), printable(body))
      local outcome = judge("list", where, CREDENTIALS_ONLY, pcall(c.list_redislogs, c, E.INSTANCE))
      tally[outcome] = (tally[outcome] or 0) + 1
      c:close()
    end
    io.stderr:write(("fuzz_bodies: metadata (transport function): ok %d, credentials %d\n")
      :format(tally.ok or 0, tally.credentials or 0))
    assert.is_true((tally.ok or 0) > 0 and (tally.credentials or 0) > 0)
  end)

  it("the metadata provider, over a real loopback server", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    hs = hs or E.start_hostile()
    local r = generator(SEED + 40)
    local tally = {}
    for i = 1, SERVER_ITERATIONS do
      local body = mutate(r, bodies.securitykey, others())
      hs:reset()
      hs:script { match = { path_prefix = "/meta-data/" }, times = -1,
        steps = { { respond = { status = 200, body = "hostile-token-value" } } } }
      hs:script { match = { path_prefix = "/openstack/" }, times = -1,
        steps = { { respond = { status = 200, body = body, headers = { ["Content-Type"] = "application/json" } } } } }
      hs:script { match = { path_prefix = "/v2/" }, times = -1,
        steps = { { respond = { status = 200, body = bodies.list } } } }
      local c = dcs.client { project = E.PROJECT, endpoint = hs.url, metadata_endpoint = hs.url,
        credentials_file = "/nonexistent/fuzz/credentials", retries = false }
      local where = ("metadata over HTTP, seed %d, iteration %d, body %s"):format(SEED, i, printable(body))
      local outcome = judge("list", where, CREDENTIALS_ONLY, pcall(c.list_redislogs, c, E.INSTANCE))
      tally[outcome] = (tally[outcome] or 0) + 1
      c:close()
    end
    io.stderr:write(("fuzz_bodies: metadata (hostile-server): ok %d, credentials %d\n")
      :format(tally.ok or 0, tally.credentials or 0))
    assert.is_true((tally.ok or 0) + (tally.credentials or 0) == SERVER_ITERATIONS)
  end)
end)
