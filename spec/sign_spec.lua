-- dcs.sign against the official SDK vectors, and its contract.
local dcs = require "dcs"
local core = require "dcs.core"
local cjson = require "cjson"
local gc = require "support.gc"

local function read_vectors()
  local f = assert(io.open("spec/fixtures/sign-vectors.json", "rb"))
  local data = cjson.decode(f:read("*a"))
  f:close()
  return data
end

local vectors = read_vectors()
local EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

local function lines(s)
  local out = {}
  for l in (s .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

describe("dcs.sign reproduces the official SDK vector", function()
  assert.is_true(#vectors.vectors >= 15)
  for _, v in ipairs(vectors.vectors) do
    it(v.name, function()
      local headers = dcs.sign { method = v.method, url = v.url, query = v.query,
        headers = v.headers, body = v.body, ak = v.ak, sk = v.sk }
      assert.are.equal(v.expect_authorization, headers.Authorization)
    end)
  end
  for _, v in ipairs(vectors.canonical_query_vectors) do
    it("canonical query " .. v.name, function()
      local _, canonical = dcs.sign { method = "GET", url = "https://example.com/", query = v.query,
        ak = "AccessKey", sk = "SecretKey" }
      assert.are.equal(v.expect_canonical_query, lines(canonical)[3])
    end)
  end
end)

-- The signer hashes with the CPU's SHA extensions where it has them and
-- with mbedTLS otherwise (csrc/dcs_sha256.h); DCS_NO_SHA_NI forces mbedTLS.
-- Both must give every vector its signature.
describe("dcs.sign on either SHA-256", function()
  local subprocess = require "support.subprocess"
  local SIGN_ALL = [[
    local cjson, dcs = require "cjson", require "dcs"
    local f = assert(io.open("spec/fixtures/sign-vectors.json", "rb"))
    for _, v in ipairs(cjson.decode(f:read("*a")).vectors) do
      local h = dcs.sign { method = v.method, url = v.url, query = v.query, headers = v.headers,
        body = v.body, ak = v.ak, sk = v.sk }
      print(h.Authorization == v.expect_authorization and "ok" or "wrong: " .. v.name)
    end
    print(require("dcs.core").SHA256)
  ]]

  local function sign_all(env)
    local status, out = subprocess.run(SIGN_ALL, env)
    assert.are.equal(0, status, out)
    local got = lines(out)
    table.remove(got)                   -- the empty string after the last newline
    return table.remove(got), got
  end

  it("reproduces every vector with mbedTLS when DCS_NO_SHA_NI is set", function()
    local sha, results = sign_all { DCS_NO_SHA_NI = "1" }
    assert.are.equal("mbedtls", sha)
    assert.are.equal(#vectors.vectors, #results)
    for _, r in ipairs(results) do assert.are.equal("ok", r) end
  end)

  it("reproduces every vector with the default SHA-256, the one this process uses", function()
    local sha, results = sign_all {}
    assert.are.equal(core.SHA256, sha)
    assert.is_truthy(sha == "sha-ni" or sha == "mbedtls", sha)
    assert.are.equal(#vectors.vectors, #results)
    for _, r in ipairs(results) do assert.are.equal("ok", r) end
  end)
end)

-- dcs.sign keeps the key states of the last SK and the hash of the last
-- short body from call to call (bench/sign.lua): whatever the order of SKs
-- and bodies, each signature is the one a fresh signer gives.
describe("dcs.sign's per-state memo", function()
  local function sign_each(order)
    local got = {}
    for _, i in ipairs(order) do
      local v = vectors.vectors[i]
      got[#got + 1] = dcs.sign({ method = v.method, url = v.url, query = v.query,
        headers = v.headers, body = v.body, ak = v.ak, sk = v.sk }).Authorization
      assert.are.equal(v.expect_authorization, got[#got], v.name)
    end
    return got
  end

  it("refuses a URL with user information, which would be signed and returned as Host", function()
    local ok, why = pcall(dcs.sign, { method = "GET", url = "https://ops:s3cr3t@dcs.example.com/v2",
      ak = "AK", sk = "SK" })
    assert.is_false(ok)
    assert.matches("or user information", why)
    assert.is_nil(why:find("s3cr3t", 1, true))
  end)

  it("gives every vector its signature, in any order and with other SKs between", function()
    local order = {}
    for i = #vectors.vectors, 1, -1 do order[#order + 1] = i; order[#order + 1] = 1 end
    sign_each(order)
    local args = { method = "POST", url = "https://h.example/p", headers = { ["X-Sdk-Date"] = "20210416T120000Z" },
      ak = "AK", body = "{}" }
    local seen = {}
    for _, sk in ipairs { "SK1", "SK2", "SK1", string.rep("k", 100), "SK2" } do
      args.sk = sk
      local auth = dcs.sign(args).Authorization
      assert.are.equal(seen[sk] or auth, auth)
      seen[sk] = auth
    end
    assert.are_not.equal(seen.SK1, seen.SK2)
  end)

  -- Tasks sign in coroutines, each with its own stack: it must grow by what
  -- the tables hold, not by the limits (room for SIGN_MAX_QUERY pairs is
  -- 32 KB, made again after each collection shrank the stack).
  it("grows a signing coroutine's stack by what the tables hold", function()
    local args = { method = "GET", url = "https://h.example/p", query = { a = "1", b = { "2", "3" } },
      headers = { ["X-Sdk-Date"] = "20210416T120000Z", ["X-A"] = "b" }, ak = "AK", sk = "SK" }
    local expected = dcs.sign(args).Authorization
    collectgarbage("collect")
    collectgarbage("stop")
    local before = collectgarbage("count")
    for _ = 1, 50 do
      assert.are.equal(expected, coroutine.wrap(function() return dcs.sign(args).Authorization end)())
    end
    local per_coroutine = (collectgarbage("count") - before) / 50
    collectgarbage("restart")
    assert.is_true(per_coroutine < 8, ("%.1f KB a coroutine"):format(per_coroutine))
  end)

  it("signs each body, short or long, with its own hash", function()
    local args = { method = "POST", url = "https://h.example/p", ak = "AK", sk = "SK",
      headers = { ["X-Sdk-Date"] = "20210416T120000Z" } }
    for _, body in ipairs { "{}", "{}", "[]", string.rep("x", 64), string.rep("x", 65), "", "{}" } do
      args.body = body
      local _, canonical = dcs.sign(args)
      local expect = body == "" and EMPTY_HASH or core.sha256_hex(body)
      assert.are.equal(expect, canonical:sub(-64))
    end
  end)

  it("gives a finalizer that signs during a signature its own correct result", function()
    local v = vectors.vectors[1]
    local args = { method = v.method, url = v.url, query = v.query, headers = v.headers, body = v.body,
      ak = v.ak, sk = v.sk }
    local other = { method = "GET", url = "https://h.example/p", ak = "AK", sk = "other-SK", body = "[]",
      headers = { ["X-Sdk-Date"] = "20210416T120000Z" } }
    local expect_inner = dcs.sign(other).Authorization
    local inner, done, inside, fired_inside = {}, false, false, 0
    local function arm()
      local function gc_fn()
        -- never during lua_close: LuaJIT may have unloaded dcs.core by then
        if not done and #inner < 1000 then
          if inside then fired_inside = fired_inside + 1 end
          inner[#inner + 1] = dcs.sign(other).Authorization
          arm()
        end
      end
      gc.on_gc(gc_fn)
    end
    gc.eager(true)
    arm()
    -- until the finalizer has signed inside dcs.sign a few times (a cycle
    -- over a large heap takes many signatures); every signature checked
    local wrong = 0
    for _ = 1, 200000 do
      inside = true
      local auth = dcs.sign(args).Authorization
      inside = false
      if auth ~= v.expect_authorization then wrong = wrong + 1 end
      if fired_inside >= 3 then break end
    end
    done = true
    gc.eager(false)
    collectgarbage()
    assert.are.equal(0, wrong)
    assert.is_true(fired_inside >= 3, "the finalizer signed inside dcs.sign " .. fired_inside .. " times")
    for _, auth in ipairs(inner) do assert.are.equal(expect_inner, auth) end
  end)
end)

describe("dcs.sign contract", function()
  local base = { method = "GET", url = "https://dcs.cn-north-4.myhuaweicloud.com:443/v2/p/x",
                 ak = "AK", sk = "SK", headers = { ["X-Sdk-Date"] = "20210416T120000Z" } }
  local function sign(over)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(over or {}) do t[k] = v end
    return dcs.sign(t)
  end

  it("returns every given header plus Host and Authorization", function()
    local h, canonical, query = sign { headers = { ["X-Sdk-Date"] = "20210416T120000Z", ["X-A"] = " v " } }
    assert.are.equal("dcs.cn-north-4.myhuaweicloud.com:443", h.Host)
    assert.are.equal(" v ", h["X-A"])            -- sent as given, signed trimmed
    assert.are.equal("20210416T120000Z", h["X-Sdk-Date"])
    assert.matches("^SDK%-HMAC%-SHA256 Access=AK, SignedHeaders=host;x%-a;x%-sdk%-date, Signature=%x+$",
      h.Authorization)
    local l = lines(canonical)
    assert.are.same({ "GET", "/v2/p/x/", "", "host:dcs.cn-north-4.myhuaweicloud.com:443",
      "x-a:v", "x-sdk-date:20210416T120000Z", "", "host;x-a;x-sdk-date", EMPTY_HASH }, l)
    assert.are.equal("", query)
  end)

  it("adds X-Sdk-Date from the UTC clock when absent", function()
    local before = os.time()
    local h = sign { headers = {} }
    local y, mo, d, hh, mi, ss = h["X-Sdk-Date"]:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
    assert.truthy(y)
    assert.are.equal(os.date("!%Y%m%dT%H%M%SZ", before):sub(1, 11), h["X-Sdk-Date"]:sub(1, 11))
    assert.matches("x%-sdk%-date", h.Authorization)
    assert.truthy(mo and d and hh and mi and ss)
  end)

  it("keeps a given Host header and signs it", function()
    local h, canonical = sign { headers = { ["X-Sdk-Date"] = "20210416T120000Z", host = "other:8443" } }
    assert.are.equal("other:8443", h.host)
    assert.is_nil(h.Host)
    assert.matches("\nhost:other:8443\n", canonical, 1, true)
  end)

  it("does not sign header names containing an underscore, but returns them", function()
    local h = sign { headers = { ["X-Sdk-Date"] = "20210416T120000Z", X_ODD = "1" } }
    assert.are.equal("1", h.X_ODD)
    assert.not_matches("x_odd", h.Authorization)
  end)

  it("uses X-Sdk-Content-Sha256 as the payload hash when given", function()
    local _, canonical = sign { method = "PUT", body = "abc",
      headers = { ["X-Sdk-Date"] = "20210416T120000Z", ["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD" } }
    assert.are.equal("UNSIGNED-PAYLOAD", lines(canonical)[#lines(canonical)])
    local _, c2 = sign { method = "PUT", body = "abc" }
    assert.are.equal(core.sha256_hex("abc"), lines(c2)[#lines(c2)])
  end)

  it("decodes the path, re-encodes each segment and ends it with '/'", function()
    local _, canonical = sign { url = "https://h/a%20b/c:d/%E6%97%A5" }
    assert.are.equal("/a%20b/c%3Ad/%E6%97%A5/", lines(canonical)[2])
    local _, c2 = sign { url = "https://h" }
    assert.are.equal("/", lines(c2)[2])
  end)

  it("sorts and encodes query values of every type", function()
    local _, canonical, query = sign { query = { b = { "z", "a" }, a = true, n = 7.0, f = 1.5, s = "x y" } }
    assert.are.equal("a=true&b=a&b=z&f=1.5&n=7&s=x%20y", query)
    assert.are.equal(query, lines(canonical)[3])
  end)

  it("writes integral numbers in decimal, up to the long long range", function()
    local _, _, query = sign { query = { a = 2 ^ 53, b = -2 ^ 63, c = 0.25, d = -0.0 } }
    assert.are.equal("a=9007199254740992&b=-9223372036854775808&c=0.25&d=0", query)
    if math.maxinteger then
      local _, _, q2 = sign { query = { a = math.maxinteger, b = math.mininteger } }
      assert.are.equal("a=9223372036854775807&b=-9223372036854775808", q2)
    end
    local h = sign { headers = { ["X-Sdk-Date"] = "20210416T120000Z", ["X-N"] = 2 ^ 62 } }
    assert.are.equal("4611686018427387904", h["X-N"])
  end)

  -- Each of these once reached a double -> long long cast (undefined;
  -- UBSan's float-cast-overflow in the `make asan` build).
  it("raises on numbers that are not finite or not in [-2^63, 2^63)", function()
    for _, bad in ipairs { 0 / 0, 1 / 0, -1 / 0, 1e300, -1e300, 2 ^ 63, -2 ^ 63 * 2, 2 ^ 64 } do
      local shown = (bad ~= bad and "nan" or string.format("%.17g", bad)):gsub("%p", "%%%0")
      assert.error_matches(function() sign { query = { limit = bad } } end,
        "query value " .. shown .. " for 'limit' is not a finite number in range", nil,
        "query value " .. tostring(bad))
      assert.error_matches(function() sign { query = { list = { 1, bad } } } end,
        "query value " .. shown .. " for 'list' is not a finite number in range")
      assert.error_matches(function()
        sign { headers = { ["X-Sdk-Date"] = "20210416T120000Z", ["X-N"] = bad } }
      end, "header value " .. shown .. " for 'X%-N' is not a finite number in range")
      if bad == bad then  -- NaN cannot be a key
        assert.error_matches(function() sign { query = { [bad] = "v" } } end,
          "query key " .. shown .. " is not a finite number in range")
      end
    end
  end)

  it("refuses an AK that is not an HTTP token of 1 to 128 bytes", function()
    for _, bad in ipairs { "AK\r\nX-Evil: 1", "AK\n", "AK\0", "A K", "AK,SignedHeaders=x",
                           string.rep("A", 129) } do
      assert.error_matches(function() sign { ak = bad } end,
        "dcs.sign: invalid AK %(must be an HTTP token of 1 to 128 bytes", nil, ("%q"):format(bad))
    end
    local h = sign { ak = string.rep("A", 128) }
    assert.matches("^SDK%-HMAC%-SHA256 Access=" .. string.rep("A", 128) .. ", ", h.Authorization)
  end)

  describe("limits", function()
    local function headers(n)    -- n headers, X-Sdk-Date and Host included
      local t = { ["X-Sdk-Date"] = "20210416T120000Z", Host = "h" }
      for i = 1, n - 2 do t[("X-N%05d"):format(i)] = "v" end
      return t
    end

    it("are exported as dcs.core.SIGN_MAX_HEADERS and SIGN_MAX_QUERY, as README says", function()
      assert.are.equal(256, core.SIGN_MAX_HEADERS)
      assert.are.equal(1024, core.SIGN_MAX_QUERY)
      local f = assert(io.open("README.md"))
      local readme = f:read("*a"):gsub("%s+", " ")
      f:close()
      for _, name in ipairs { "SIGN_MAX_HEADERS", "SIGN_MAX_QUERY" } do
        assert.truthy(readme:find(("`dcs.core.%s` (%d)"):format(name, core[name]), 1, true), name)
      end
    end)

    it("allow SIGN_MAX_HEADERS headers and refuse one more", function()
      local h = sign { headers = headers(core.SIGN_MAX_HEADERS) }
      local _, semicolons = h.Authorization:match("SignedHeaders=([^,]*)"):gsub(";", "")
      assert.are.equal(core.SIGN_MAX_HEADERS, semicolons + 1)
      assert.error_matches(function() sign { headers = headers(core.SIGN_MAX_HEADERS + 1) } end,
        "^dcs.sign: too many headers %(at most 256, Host and X%-Sdk%-Date included%)$")
      -- Host and X-Sdk-Date added by dcs.sign count too.
      local t = headers(core.SIGN_MAX_HEADERS)
      t.Host, t["X-Sdk-Date"] = nil, nil
      t["X-Extra"] = "v"
      assert.error_matches(function() sign { headers = t } end, "too many headers")
    end)

    it("refuse 10 000 headers", function()
      -- (speed is make bench's business: no timing in tests)
      assert.error_matches(function() sign { headers = headers(10000) } end, "too many headers")
    end)

    it("allow SIGN_MAX_QUERY pairs and refuse one more, arrays included", function()
      local q, list = {}, {}
      for i = 1, core.SIGN_MAX_QUERY - 24 do q["k" .. i] = i end
      for i = 1, 24 do list[i] = i end
      q.list = list
      local _, _, query = sign { query = q }
      local _, amps = query:gsub("&", "")
      assert.are.equal(core.SIGN_MAX_QUERY, amps + 1)
      list[25] = 25
      assert.error_matches(function() sign { query = q } end,
        "^dcs.sign: too many query pairs %(at most 1024%)$")
      local big, long = {}, {}
      for i = 1, 100000 do big["k" .. i], long[i] = "v", i end
      assert.error_matches(function() sign { query = big } end, "too many query pairs")
      assert.error_matches(function() sign { query = { k = long } } end, "too many query pairs")
    end)
  end)

  it("raises on programmer errors, naming the problem", function()
    assert.error_matches(function() sign { url = "https://h/p?x=1" } end, "without query")
    assert.error_matches(function() sign { ak = "" } end, "'ak' is required")
    assert.error_matches(function() sign { sk = false } end, "'sk' must be a string")
    assert.error_matches(function() sign { headers = { ["X-Sdk-Date"] = "d", A = "x\r\nB: y" } } end,
      "invalid header")
    assert.error_matches(function() sign { headers = { ["X-Sdk-Date"] = "d", host = "a", Host = "b" } } end,
      "duplicate header")
    assert.error_matches(function() sign { query = { a = { {} } } } end, "query array values")
    assert.error_matches(function() sign { query = "a=1" } end, "dcs.sign: query must be a table")
    assert.error_matches(function() sign { headers = "X-A: 1" } end, "dcs.sign: headers must be a table")
    assert.error_matches(function() dcs.sign() end, "table expected")
    assert.error_matches(function() sign { method = "GET\n" } end, "invalid method")
    assert.error_matches(function() sign { headers = { ["X-Sdk-Date"] = "d", ["a;b"] = "1" } } end,
      "invalid header")
  end)
end)

describe("dcs.core helpers", function()
  it("percent-encodes with the unreserved set only", function()
    assert.are.equal("a-_.~%20%2F%25%C3%A9", core.encode("a-_.~ /%é"))
    assert.are.equal("a/b%20c", core.encode("a/b c", true))
    assert.are.equal("a b/%zz", core.decode("a%20b%2F%zz"))
  end)
  it("hashes SHA-256 and HMAC-SHA256", function()
    assert.are.equal(EMPTY_HASH, core.sha256_hex(""))
    -- RFC 4231 test case 2
    assert.are.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      core.hmac_sha256_hex("Jefe", "what do ya want for nothing?"))
    assert.are.equal("20210416T120000Z", core.sdk_date(1618574400))
    assert.are.equal("99991231T235959Z", core.sdk_date(253402300799))
    assert.error_matches(function() core.sdk_date(253402300800) end, "out of range")
    assert.error_matches(function() core.sdk_date(0 / 0) end, "out of range")
  end)
end)
