-- The ECS metadata provider and the IAM project lookup, against the
-- emulator (which serves both on loopback).
local cjson = require "cjson"
local dcs = require "dcs"
local sub = require "support.subprocess"
local E = require "support.emulator"

local clean_env = os.getenv("HUAWEICLOUD_SDK_AK") == nil and os.getenv("HUAWEICLOUD_SDK_SK") == nil

local function count(reqs, path)
  local n = 0
  for _, r in ipairs(reqs) do if r.path == path then n = n + 1 end end
  return n
end

describe("ECS metadata credentials", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function metadata_client(opts)
    local o = { endpoint = emu.url, project = E.PROJECT, metadata_endpoint = emu.url,
                credentials_file = "/nonexistent/credentials", retries = false }
    for k, v in pairs(opts or {}) do o[k] = v end
    return dcs.client(o)
  end

  it("gets temporary credentials (token step, then securitykey) and signs with them", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    local c = metadata_client()
    local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.is_nil(err)
    assert.are.equal(E.LOG_ID, res.id)
    local reqs = emu:requests()
    assert.are.equal("PUT", reqs[1].method)
    assert.are.equal("/meta-data/latest/api/token", reqs[1].path)
    assert.are.equal("21600", reqs[1].headers["X-Metadata-Token-Ttl-Seconds"])
    assert.are.equal("/openstack/latest/securitykey", reqs[2].path)
    assert.is_string(reqs[2].headers["X-Metadata-Token"])
    local api = reqs[3]
    assert.matches("/links$", api.path)
    assert.matches("^SDK%-HMAC%-SHA256 Access=TMP", api.headers.Authorization)
    assert.is_string(api.headers["X-Security-Token"])
    assert.matches("x%-security%-token", api.headers.Authorization)
  end)

  it("reuses the credentials until 40 minutes before they expire", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    emu:config { metadata_ttl = 3600 }
    local c = metadata_client()
    for _ = 1, 3 do assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)) end
    c:close()
    assert.are.equal(1, count(emu:requests(), "/openstack/latest/securitykey"))
    emu:reset()
    emu:config { metadata_ttl = 35 * 60 }     -- inside the refresh window: fetched every time
    c = metadata_client()
    for _ = 1, 3 do assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)) end
    c:close()
    assert.are.equal(3, count(emu:requests(), "/openstack/latest/securitykey"))
  end)

  it("never keeps credentials whose expiry it cannot read: the next call fetches new ones", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    for _, expires_at in ipairs { "soon", 1700000000, "2026-13-45T25:61:61Z", cjson.null } do
      emu:reset()
      emu:fault { match = { path_contains = "securitykey" }, times = 1, action = { respond = { status = 200,
        json = { credential = { access = "TMPAK0000000001", secret = "tmpsecret", securitytoken = "tok",
          expires_at = expires_at } } } } }
      local c = metadata_client()
      c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)    -- the emulator does not know that AK
      local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      c:close()
      assert.is_nil(err, tostring(expires_at))
      assert.are.equal(E.LOG_ID, res.id)
      assert.are.equal(2, count(emu:requests(), "/openstack/latest/securitykey"), tostring(expires_at))
    end
  end)

  it("shares one refresh among the tasks of a fan-out that need credentials at once", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    emu:config { latency = 0.05 }
    local c = metadata_client()
    local results, failed = dcs.gather(E.link_jobs(20), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 20 })
    assert.are.equal(0, failed, results[1].err and tostring(results[1].err))
    local reqs = emu:requests()
    assert.are.equal(1, count(reqs, "/meta-data/latest/api/token"))
    assert.are.equal(1, count(reqs, "/openstack/latest/securitykey"))
    -- a refresh that fails fails every task waiting for it, with one request
    emu:reset()
    emu:config { metadata_agency = false, latency = 0.05 }
    c:close()
    c = metadata_client()
    results, failed = dcs.gather(E.link_jobs(20), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 20 })
    c:close()
    assert.are.equal(20, failed)
    for _, r in ipairs(results) do
      assert.are.equal("credentials", r.err.kind)
      assert.matches("Please configure Cloud Service Agency first", r.err.message)
    end
    assert.are.equal(1, count(emu:requests(), "/openstack/latest/securitykey"))
  end)

  it("goes on without a token where the token step is not supported", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    emu:config { metadata_token = "unsupported" }
    local c = metadata_client()
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    local reqs = emu:requests()
    assert.are.equal(404, reqs[1].status)
    assert.is_nil(reqs[2].headers["X-Metadata-Token"])
  end)

  it("quotes a securitykey error answer without the session token it was sent", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    local token = "SESSION-" .. ("t"):rep(40)
    emu:fault { match = { path_contains = "api/token" }, times = 1, action = { respond = { status = 200,
      body = token } } }
    emu:fault { match = { path_contains = "securitykey" }, times = 1, action = { respond = { status = 500,
      body = "bad session " .. token } } }
    local c = metadata_client()
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal("credentials", err.kind)
    assert.matches("securitykey answered HTTP 500: bad session ", err.message, 1, true)
    assert.is_nil(err.message:find(token, 1, true))
    assert.is_nil(tostring(err):find(token, 1, true))
  end)

  it("reports the metadata answer when it has no credentials for us", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    emu:config { metadata_agency = false }
    local c = metadata_client()
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal("credentials", err.kind)
    assert.matches("environment: .*; profile: no file /nonexistent/credentials; metadata: .*"
      .. "Please configure Cloud Service Agency first", err.message)
  end)

  it("keeps the process's project cache bounded though every client gets a new temporary AK", function()
    if not clean_env then return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment") end
    -- a client a call, as a host might make one a job: each gets a new
    -- temporary AK (the emulator's securitykey), so a project lookup too
    local function calls(n)
      for _ = 1, n do
        local c = dcs.client { endpoint = emu.url, region = "cn-north-4", iam_endpoint = emu.url,
          metadata_endpoint = emu.url, credentials_file = "/nonexistent/credentials", retries = false }
        assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
        c:close()
      end
      collectgarbage()
      collectgarbage()
      return collectgarbage("count")
    end
    -- multiples of the cap, so that the cache is as full after each: what
    -- grows is what it would keep beyond them (an AK's entry is about 110
    -- bytes: 1536 of them, 165 KiB; the emulator logs 2500 requests at most)
    local max = require("dcs.request").PROJECT_CACHE_MAX
    local before = calls(2 * max)
    local grown = calls(6 * max) - before
    assert.are.equal(8 * max, count(emu:requests(), "/v3/projects"))
    assert.is_true(grown < 64, ("%d temporary AKs kept %.0f KiB"):format(6 * max, grown))
  end)

  it("is never probed unless the chain reaches it", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = emu.url,
      metadata_endpoint = emu.url }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    local status, out = sub.run(([[
      local dcs = require "dcs"
      local c = dcs.client { endpoint = %q, metadata_endpoint = %q }
      assert(c:create_redislog_download_link(%q, %q))
    ]]):format(emu.url, emu.url, E.INSTANCE, E.LOG_ID), { HUAWEICLOUD_SDK_AK = E.AK,
      HUAWEICLOUD_SDK_SK = E.SK, HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT })
    assert.are.equal(0, status, out)
    local reqs = emu:requests()
    assert.are.equal(2, #reqs)
    assert.are.equal(0, count(reqs, "/meta-data/latest/api/token"))
  end)
end)

describe("project id lookup", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function client(region)
    return dcs.client { ak = E.AK, sk = E.SK, region = region, endpoint = emu.url, iam_endpoint = emu.url,
                        retries = false }
  end

  it("asks IAM for the project named after the region, once per AK and region", function()
    emu:admin("POST", "/_emulator/projects", { id = E.PROJECT, name = "xx-lookup-1" })
    local c = client("xx-lookup-1")
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.are.equal(E.PROJECT, c.project)
    c:close()
    local reqs = emu:requests()
    assert.are.equal(2, #reqs)
    assert.are.equal("/v3/projects", reqs[1].path)
    assert.are.equal("name=xx-lookup-1", reqs[1].query)
    assert.is_nil(reqs[1].headers["X-Project-Id"])
    assert.matches("SDK%-HMAC%-SHA256 Access=", reqs[1].headers.Authorization)
    assert.are.equal(E.PROJECT, reqs[2].headers["X-Project-Id"])
    -- a second client with the same AK and region uses the cache
    c = client("xx-lookup-1")
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    assert.are.equal(3, #emu:requests())
  end)

  it("shares one lookup among the tasks of a fan-out that start without a project", function()
    emu:admin("POST", "/_emulator/projects", { id = E.PROJECT, name = "xx-fanout-1" })
    emu:config { latency = 0.05 }
    local c = client("xx-fanout-1")
    local results, failed = dcs.gather(E.link_jobs(20), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 20 })
    c:close()
    assert.are.equal(0, failed, results[1].err and tostring(results[1].err))
    assert.are.equal(1, count(emu:requests(), "/v3/projects"))
    -- a lookup that fails fails every task waiting for it, each with an error of its own
    c = client("xx-fanout-none-1")
    results, failed = dcs.gather(E.link_jobs(20), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 20 })
    c:close()
    assert.are.equal(20, failed)
    for i, r in ipairs(results) do
      assert.are.equal("project id lookup in IAM failed: no IAM project named 'xx-fanout-none-1': confirm "
        .. "that it exists, or set 'project'", r.err.message)
      if i > 1 then assert.are_not.equal(results[1].err, r.err) end
    end
    assert.are.equal(2, count(emu:requests(), "/v3/projects"))
  end)

  it("shares a lookup that outlasts a waiter's patience: one waiter takes over, the rest join it", function()
    emu:admin("POST", "/_emulator/projects", { id = E.PROJECT, name = "xx-slow-1" })
    -- the first lookup waits out a 503's Retry-After, longer than the
    -- client's timeout, the waiters' patience
    emu:fault { match = { path_prefix = "/v3/projects" }, times = 1, action = { respond = { status = 503,
      headers = { ["Retry-After"] = "1" }, body = "busy" } } }
    local c = dcs.client { ak = E.AK, sk = E.SK, region = "xx-slow-1", endpoint = emu.url, iam_endpoint = emu.url,
                           timeout = 0.4 }
    local results, failed = dcs.gather(E.link_jobs(20), function(job)
      return c:create_redislog_download_link(job.instance, job.log)
    end, { concurrency = 20 })
    c:close()
    assert.are.equal(0, failed, results[1].err and tostring(results[1].err))
    local n = count(emu:requests(), "/v3/projects")
    assert.is_true(n <= 3, n .. " IAM lookups for one fan-out")
  end)

  it("fails clearly when no project or several have that name", function()
    local c = client("xx-none-1")
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.matches("no IAM project named 'xx%-none%-1'", err.message)
    emu:admin("POST", "/_emulator/projects", { id = "11111111111111111111111111111111", name = "xx-two-1" })
    emu:admin("POST", "/_emulator/projects", { id = "22222222222222222222222222222222", name = "xx-two-1" })
    c = client("xx-two-1")
    _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.matches("2 IAM projects named 'xx%-two%-1' %(1111.*, 2222.*%): set 'project'", err.message)
  end)

  it("names several projects with ids it checked, redacted and cut", function()
    local token = "tok-secret-0123456789"
    emu:fault { match = { path_prefix = "/v3/projects" }, times = 1, action = { respond = { status = 200,
      json = { projects = { { id = token }, { id = ("b"):rep(300000) }, { id = "c\27[2J\r\nX" },
        { id = "3333" } } } } } }
    local c = dcs.client { ak = E.AK, sk = E.SK, security_token = token, region = "xx-ids-1", endpoint = emu.url,
      iam_endpoint = emu.url, retries = false }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal("project id lookup in IAM failed: 4 IAM projects named 'xx-ids-1' (***, ?, ?, 3333): "
      .. "set 'project'", err.message)
    local many = {}
    for i = 1, 5000 do many[i] = { id = ("0"):rep(120) .. ("%08d"):format(i) } end
    emu:fault { match = { path_prefix = "/v3/projects" }, times = 1, action = { respond = { status = 200,
      json = { projects = many } } } }
    c = dcs.client { ak = E.AK, sk = E.SK, region = "xx-ids-2", endpoint = emu.url, iam_endpoint = emu.url,
      retries = false }
    _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.matches("^project id lookup in IAM failed: 5000 IAM projects named 'xx%-ids%-2' %(0+1, 0+2, ", err.message)
    assert.is_true(#err.message < 1000, #err.message)
    assert.are.equal(2, #emu:requests())
  end)

  it("takes the IAM endpoint from HUAWEICLOUD_SDK_IAM_ENDPOINT", function()
    emu:admin("POST", "/_emulator/projects", { id = E.PROJECT, name = "xx-env-1" })
    local status, out = sub.run(([[
      local dcs = require "dcs"
      local c = dcs.client { ak = %q, sk = %q, region = "xx-env-1", endpoint = %q }
      assert(c:create_redislog_download_link(%q, %q))
      print(c.project)
    ]]):format(E.AK, E.SK, emu.url, E.INSTANCE, E.LOG_ID), { HUAWEICLOUD_SDK_IAM_ENDPOINT = emu.url })
    assert.are.equal(0, status, out)
    assert.are.equal(E.PROJECT .. "\n", out)
  end)
end)
