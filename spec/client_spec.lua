-- dcs.client: options, what goes on the wire, results.
local dcs = require "dcs"
local E = require "support.emulator"
local gc = require "support.gc"

describe("dcs.client options", function()
  local base = { ak = "AK", sk = "SK", project = "P", region = "cn-north-4" }
  local function with(over)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(over) do
      if v == "nil" then t[k] = nil else t[k] = v end
    end
    return t
  end

  it("builds the endpoint from the region", function()
    local c = dcs.client(base)
    assert.are.equal("https://dcs.cn-north-4.myhuaweicloud.com", c.endpoint)
    c:close()
  end)

  it("accepts positional ak, sk, project and an options table", function()
    local c = dcs.client("AK", "SK", "P", { endpoint = "127.0.0.1:8080/" })
    assert.are.equal("https://127.0.0.1:8080", c.endpoint)
    assert.are.equal("P", c.project)
    c:close()
  end)

  it("prefers an explicit endpoint over the region", function()
    local c = dcs.client(with { endpoint = "http://127.0.0.1:9" })
    assert.are.equal("http://127.0.0.1:9", c.endpoint)
    c:close()
  end)

  it("raises an error naming each missing or bad option", function()
    -- with one of ak and sk given, the other is required (without both, the
    -- credentials chain applies: see credentials_spec)
    for _, name in ipairs { "ak", "sk" } do
      assert.error_matches(function() dcs.client(with { [name] = "nil" }) end,
        "option '" .. name .. "' is required")
      assert.error_matches(function() dcs.client(with { [name] = "" }) end,
        "option '" .. name .. "' is required")
    end
    -- without a region there is nothing to look the project up by
    assert.error_matches(function() dcs.client(with { project = "nil", region = "nil", endpoint = "http://h" }) end,
      "option 'project' is required")
    assert.error_matches(function() dcs.client(with { project = "" }) end,
      "option 'project' must be a non%-empty string")
    assert.error_matches(function() dcs.client(with { region = "nil" }) end,
      "option 'region' or 'endpoint' is required")
    assert.error_matches(function() dcs.client(with { timout = 3 }) end, "unknown option 'timout'")
    assert.error_matches(function() dcs.client(with { timeout = "3" }) end, "option 'timeout' must be a number")
    assert.error_matches(function() dcs.client(with { timeout = 0 }) end,
      "option 'timeout' must be a number of seconds from 0.001 to 1e%+06 %(got 0%)")
    assert.error_matches(function() dcs.client(with { insecure = 1 }) end, "option 'insecure' must be a boolean")
    assert.error_matches(function() dcs.client(with { region = "CN north" }) end, "option 'region'")
    assert.error_matches(function() dcs.client(with { endpoint = "ftp://x/y?z" }) end, "option 'endpoint'")
  end)

  it("never shows the SK or the security token", function()
    local sk, token = "SECRET-SK-0123456789", "SECRET-TOKEN-0123456789"
    local c = dcs.client(with { sk = sk, security_token = token })
    local seen = { tostring(c) }
    for k, v in pairs(c) do seen[#seen + 1] = tostring(k) .. "=" .. tostring(v) end
    local ok, err = pcall(dcs.client, with { sk = sk, security_token = token, bogus = true })
    assert.is_false(ok)
    seen[#seen + 1] = tostring(err)
    local all = table.concat(seen, "\n")
    assert.not_matches(sk, all, 1, true)
    assert.not_matches(token, all, 1, true)
    c:close()
  end)
end)

describe("create_redislog_download_link over loopback", function()
  local emu, client
  local fixture = E.fixture(nil, function(e, c) emu, client = e, c end)
  lazy_setup(fixture.start)
  lazy_teardown(fixture.stop)
  before_each(fixture.reset)

  it("returns the decoded link", function()
    local res, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.is_nil(err)
    assert.are.equal(E.LOG_ID, res.id)
    assert.are.equal(E.LOG_ID, res.backup_id)
    assert.matches("^" .. emu.url:gsub("%p", "%%%0") .. "/_obs/.+%.log%?", res.link)
  end)

  it("sends what the official SDKs send, with no body", function()
    assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    local r = emu:last_request()
    assert.are.equal("POST", r.method)
    assert.are.equal("/v2/" .. E.PROJECT .. "/instances/" .. E.INSTANCE .. "/redislog/" .. E.LOG_ID .. "/links", r.path)
    assert.are.equal("", r.query)
    assert.are.equal("", r.body)
    assert.are.equal("0", r.headers["Content-Length"])
    assert.are.equal("application/json", r.headers["Content-Type"])
    assert.are.equal(E.PROJECT, r.headers["X-Project-Id"])
    assert.matches("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$", r.headers["X-Sdk-Date"])
    assert.matches("^lua%-dcs/" .. dcs._VERSION:gsub("%.", "%%.") .. " ", r.headers["User-Agent"])
    assert.is_nil(r.headers["X-Security-Token"])
    assert.matches("SignedHeaders=content%-type;host;x%-project%-id;x%-sdk%-date,", r.headers.Authorization)
    assert.are.equal(200, r.status)
  end)

  it("sends and signs X-Security-Token when set", function()
    local c = emu:client { security_token = "gQpjbi1ub3J0aC00+EXAMPLE/TOKEN==" }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    local r = emu:last_request()
    assert.are.equal("gQpjbi1ub3J0aC00+EXAMPLE/TOKEN==", r.headers["X-Security-Token"])
    assert.matches("x%-sdk%-date;x%-security%-token,", r.headers.Authorization)
    c:close()
  end)

  it("appends the user_agent option", function()
    local c = emu:client { user_agent = "my-cron/2.0" }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.matches(" my%-cron/2%.0$", emu:last_request().headers["User-Agent"])
    c:close()
  end)

  it("sends ids as they are, and refuses any id that would need encoding", function()
    local res, err = client:create_redislog_download_link(E.INSTANCE, "log_1.a-b")
    assert.is_nil(res)
    assert.are.equal("api", err.kind)
    assert.are.equal(404, err.status)       -- unknown log, but the signature was accepted
    assert.are.equal("/v2/" .. E.PROJECT .. "/instances/" .. E.INSTANCE .. "/redislog/log_1.a-b/links",
      emu:last_request().path)
    emu:admin("DELETE", "/_emulator/requests")
    res, err = client:create_redislog_download_link(E.INSTANCE, "log:1@a!(b)*~é/x y")
    assert.is_nil(res)
    assert.are.equal("invalid_argument", err.kind)
    assert.matches("^log_id is not a plausible id", err.message)
    assert.are.same({}, emu:requests())
  end)

  it("keeps fields the server adds", function()
    emu:fault { match = { path_contains = "/links" }, action = { respond = { status = 200,
      json = { id = "i", backup_id = "b", link = "https://x/y", expires_in = 86400, extra = { a = 1 } } } } }
    local res = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.are.equal(86400, res.expires_in)
    assert.are.equal(1, res.extra.a)
    assert.are.equal("https://x/y", res.link)
  end)

  it("rejects a bad instance or log id before any network I/O", function()
    local cases = {
      { nil, E.LOG_ID, "instance_id" }, { "", E.LOG_ID, "instance_id" }, { 42, E.LOG_ID, "instance_id" },
      { E.INSTANCE, nil, "log_id" }, { E.INSTANCE, "", "log_id" }, { E.INSTANCE, {}, "log_id" },
    }
    for _, case in ipairs(cases) do
      local res, err = client:create_redislog_download_link(case[1], case[2])
      assert.is_nil(res)
      assert.are.equal("invalid_argument", err.kind)
      assert.are.equal("create_redislog_download_link", err.operation)
      assert.matches("^" .. case[3] .. " must be a non%-empty string", err.message)
      assert.is_false(err.retryable)
    end
    local res, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID, { bogus = 1 })
    assert.is_nil(res)
    assert.matches("unknown option 'bogus'", err.message)
    assert.are.equal(0, #emu:requests())
  end)

  it("honours a per-call timeout", function()
    emu:fault { match = { path_contains = "/links" }, action = { delay = 1.5 } }
    local t0 = os.time()
    local res, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID,
      { timeout = 0.3, retries = false })
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(os.time() - t0 <= 1)
  end)
end)

-- The pipeline reuses its signing argument tables from call to call; a
-- finalizer run by an allocation inside the signer may make a call of its
-- own, which must never lend its project or security token to the request
-- being signed (found on the branch that introduced the reuse: 1964 of
-- 44515 requests carried the other client's).
describe("a call made by a finalizer during another call's signing", function()
  it("keeps each client's project and security token in its own requests", function()
    local seen = {}
    local function transport(tag)
      return function(req)
        seen[#seen + 1] = { tag = tag, project = req.headers["X-Project-Id"], token = req.headers["X-Security-Token"] }
        return 200, { ["content-type"] = "application/json" }, '{"total_num":0,"file_list":[]}'
      end
    end
    local function client(tag)
      return dcs.client { ak = "AK" .. tag, sk = "SK" .. tag, security_token = "TOKEN" .. tag,
        project = "project" .. tag, endpoint = "http://127.0.0.1:9", transport = transport(tag), retries = false }
    end
    local a, b = client("a"), client("b")
    local fired, done = 0, false
    local function arm()
      gc.on_gc(function()
        -- a bounded chain: on LuaJIT a finalizer's own allocations run the next
        if done or fired >= 300 then return end
        fired = fired + 1
        b:list_redislogs("instb", { offset = 1, limit = 7 })   -- numbers: the signer allocates their text
        arm()
      end)
    end
    -- LuaJIT 2.1.0-beta3 (Debian's) loops forever in compiled code when
    -- these finalizers make calls (main before the reuse too): interpreter only
    if jit then jit.off() end
    gc.eager(true)
    arm()
    for _ = 1, 20000 do
      a:list_redislogs("insta", { offset = 2, limit = 9 })
      if fired >= 300 then break end
    end
    done = true
    gc.eager(false)
    if jit then jit.on() end
    local wrong = 0
    for _, s in ipairs(seen) do
      if s.project ~= "project" .. s.tag or s.token ~= "TOKEN" .. s.tag then wrong = wrong + 1 end
    end
    assert.is_true(fired >= 300, "finalizer calls: " .. fired)
    assert.are.equal(0, wrong, ("%d of %d requests carried the other client's project or token"):format(wrong, #seen))
  end)
end)
