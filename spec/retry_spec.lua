-- Retries with backoff, endpoint failover and hooks, against the emulator.
local dcs = require "dcs"
local retry = require "dcs.retry"
local E = require "support.emulator"

local function json_fault(status, code, msg, headers)
  return { respond = { status = status, headers = headers, json = { error_code = code, error_msg = msg } } }
end

describe("retries", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  local function client(opts)
    local o = { retries = { max = 3, base = 0.01, cap = 2 } }
    for k, v in pairs(opts or {}) do o[k] = v end
    return emu:client(o)
  end

  for _, status in ipairs { 429, 502, 503, 504 } do
    it("retries " .. status .. " and then succeeds", function()
      emu:fault { match = { path_contains = "/links" }, times = 2, action = json_fault(status, "X.1", "busy") }
      local c = client()
      local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      c:close()
      assert.is_nil(err)
      assert.are.equal(E.LOG_ID, res.id)
      assert.are.equal(3, #emu:requests())
    end)
  end

  for _, status in ipairs { 400, 401, 403, 404, 500 } do
    it("never retries " .. status, function()
      emu:fault { match = { path_contains = "/links" }, times = -1, action = json_fault(status, "X.2", "no") }
      local c = client()
      local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      c:close()
      assert.are.equal(status, err.status)
      assert.are.equal(1, err.attempts)
      assert.are.equal(1, #emu:requests())
    end)
  end

  it("gives up after max retries and says how many attempts were made", function()
    emu:fault { match = { path_contains = "/links" }, times = -1, action = json_fault(503, "APIGW.0613", "IAM down") }
    local c = client()
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal(4, err.attempts)
    assert.are.equal(4, #emu:requests())
    assert.matches("%(after 4 attempts%)", tostring(err))
  end)

  it("retries a dropped connection and a timeout", function()
    emu:fault { match = { path_contains = "/links" }, times = 2, action = { drop = true } }
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { delay = 1 } }
    local c = client()
    local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID, { timeout = 0.3 })
    c:close()
    assert.is_nil(err)
    assert.are.equal(E.LOG_ID, res.id)
  end)

  it("honours Retry-After and signs every attempt afresh", function()
    emu:fault { match = { path_contains = "/links" }, times = 1,
      action = json_fault(429, "APIGW.0308", "The throttling threshold has been reached.", { ["Retry-After"] = "1" }) }
    local c = client()
    local t0 = c.monotime()
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    local waited = c.monotime() - t0
    c:close()
    assert.is_true(waited >= 1, "waited " .. waited)
    local reqs = emu:requests()
    assert.are.equal(2, #reqs)
    assert.are_not.equal(reqs[1].headers["X-Sdk-Date"], reqs[2].headers["X-Sdk-Date"])
    assert.are_not.equal(reqs[1].headers.Authorization, reqs[2].headers.Authorization)
  end)

  it("waits through client.sleep, which a host program can replace", function()
    emu:fault { match = { path_contains = "/links" }, times = 2,
      action = json_fault(429, "APIGW.0308", "slow down", { ["Retry-After"] = "2" }) }
    local c = client { retries = { max = 3, base = 0.01, cap = 5 } }
    local waits = {}
    c.sleep = function(seconds) waits[#waits + 1] = seconds end
    local t0 = c.monotime()
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    -- each wait is what is left of the pause the 429 asked for (the whole
    -- client pauses; time does not pass in this fake sleep)
    assert.are.equal(2, #waits)
    for _, w in ipairs(waits) do assert.is_true(w > 1.9 and w <= 2, tostring(w)) end
    assert.is_true(c.monotime() - t0 < 1)
  end)

  it("does not wait a Retry-After longer than cap", function()
    emu:fault { match = { path_contains = "/links" }, times = -1,
      action = json_fault(429, "APIGW.0308", "slow down", { ["Retry-After"] = "30" }) }
    local c = client()
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal(429, err.status)
    assert.are.equal(30, err.retry_after)
    assert.are.equal(1, err.attempts)
  end)

  -- README, Retries: Retry-After is waited exactly on any answer that is
  -- retried (a 503's too), and one longer than cap ends the retries
  it("waits exactly the Retry-After of a 503, and gives up on one longer than cap", function()
    emu:fault { match = { path_contains = "/links" }, times = 1,
      action = json_fault(503, "APIGW.0613", "busy", { ["Retry-After"] = "2" }) }
    local c = client { retries = { max = 3, base = 0.01, cap = 5 } }
    local waits = {}
    c.sleep = function(seconds) waits[#waits + 1] = seconds end
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.are.same({ 2 }, waits)
    emu:fault { match = { path_contains = "/links" }, times = -1,
      action = json_fault(503, "APIGW.0613", "busy", { ["Retry-After"] = "30" }) }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal(503, err.status)
    assert.are.equal(30, err.retry_after)
    assert.are.equal(1, err.attempts)
    assert.are.same({ 2 }, waits)
  end)

  -- README, Errors: a Retry-After that is not a delay nor an HTTP date is
  -- ignored; day 32 or hour 24 is not a date (counting on from the month
  -- would make one, weeks ahead, and end the retries as "longer than cap")
  it("ignores a Retry-After date with a field out of range, and backs off", function()
    for _, value in ipairs { "Sun, 32 Nov 2026 00:00:00 GMT", "Sun, 01 Nov 2026 24:00:00 GMT",
      "Sun, 01 Nov 2026 00:60:00 GMT", "Sun, 01 Nov 2026 00:00:61 GMT", "Sun, 00 Nov 2026 00:00:00 GMT" } do
      emu:reset()
      emu:fault { match = { path_contains = "/links" }, times = -1,
        action = json_fault(503, "APIGW.0613", "busy", { ["Retry-After"] = value }) }
      local c = client { retries = { max = 2, base = 0.01, cap = 5 } }
      local waits = {}
      c.sleep = function(seconds) waits[#waits + 1] = seconds end
      local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      c:close()
      assert.are.equal(503, err.status, value)
      assert.is_nil(err.retry_after, value)
      assert.are.equal(3, err.attempts, value)
      for _, w in ipairs(waits) do assert.is_true(w <= 0.02, value .. ": waited " .. w) end
    end
  end)

  it("never pauses the client longer than cap, however far ahead Retry-After says", function()
    for _, value in ipairs { "999999999", "Fri, 31 Dec 9999 23:59:59 GMT" } do
      emu:fault { match = { path_contains = "/links" }, times = 1,
        action = json_fault(429, "APIGW.0308", "slow down", { ["Retry-After"] = value }) }
      local c = client { retries = { max = 3, base = 0.01, cap = 0.5 } }
      local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      assert.are.equal(429, err and err.status, value)
      assert.is_true(err.retry_after > 1e8, value)     -- told, to wait it out if the caller wants
      -- the client's next call (in a task, so that a hang shows) waits at most cap
      local loop = dcs.loop()
      local task = loop:spawn(c.create_redislog_download_link, c, E.INSTANCE, E.LOG_ID)
      local t0 = c.monotime()
      while not task:done() and c.monotime() - t0 < 5 do loop:step(0.05) end
      local done = task:done()
      task:cancel()
      c:close()
      assert.is_true(done, value .. ": the next call still waits after 5 s")
      assert.are.equal(E.LOG_ID, assert(task:result()).id)
    end
  end)

  it("can be turned off per client and per call", function()
    emu:fault { match = { path_contains = "/links" }, times = -1, action = json_fault(503, "X", "down") }
    local off = emu:client { retries = false }
    local _, err = off:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal(1, err.attempts)
    off:close()
    local c = client()
    _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID, { retries = false })
    assert.are.equal(1, err.attempts)
    _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID, { retries = { max = 1, base = 0.01 } })
    assert.are.equal(2, err.attempts)
    c:close()
  end)

  it("validates the retries option", function()
    assert.error_matches(function() emu:client { retries = { max = 11 } } end,
      "option 'retries': max must be an integer from 0 to 10")
    assert.error_matches(function() emu:client { retries = { tries = 1 } } end, "unknown field 'tries'")
    assert.error_matches(function() emu:client { retries = 3 } end, "option 'retries' must be a table or false")
    local c = client()
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID, { retries = { base = -1 } })
    assert.are.equal("invalid_argument", err.kind)
    assert.are.equal("retries: base must be a number of seconds from 0.001 to 3600 (got -1)", err.message)
    c:close()
  end)

  it("backs off exponentially with full jitter, capped", function()
    local p = { max = 5, base = 0.5, cap = 3 }
    local e = { retryable = true }
    local top = function() return 1 end
    assert.are.equal(0.5, retry.delay(p, 1, e, top))
    assert.are.equal(1, retry.delay(p, 2, e, top))
    assert.are.equal(2, retry.delay(p, 3, e, top))
    assert.are.equal(3, retry.delay(p, 4, e, top))
    assert.are.equal(0, retry.delay(p, 4, e, function() return 0 end))
    assert.is_nil(retry.delay(p, 6, e, top))
    assert.is_nil(retry.delay(p, 1, { retryable = true, status = 401 }, top))
    assert.is_nil(retry.delay(p, 1, { retryable = false }, top))
  end)
end)

describe("endpoint failover", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  it("moves on to the next endpoint after a connection failure, and stays there", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, retries = false,
      endpoints = { "http://127.0.0.1:1", emu.url } }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.are.equal(emu.url, c.endpoint)
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    assert.are.equal(2, #emu:requests())
    assert.are.equal(emu.url:match("//(.*)$"), emu:last_request().headers.Host)
  end)

  it("reports every endpoint when all fail", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, retries = false,
      endpoints = { "http://127.0.0.1:1", "http://127.0.0.1:2" } }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal("network", err.kind)
    assert.matches("127%.0%.0%.1:1: .*; http://127%.0%.0%.1:2: ", err.message)
  end)

  it("does not move on after an HTTP error", function()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = json_fault(404, "DCS.3022", "gone") }
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, retries = false,
      endpoints = { emu.url, "http://127.0.0.1:1" } }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal(404, err.status)
  end)
end)

describe("hooks", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)

  it("see method, URL, status, duration, request id and attempt, with secrets redacted", function()
    emu:reset()
    emu:fault { match = { path_contains = "/links" }, times = 1, action = json_fault(503, "X", "down") }
    local token = "SECRET-TOKEN-0123456789abcdef"
    local requests, responses = {}, {}
    local c = emu:client { security_token = token, retries = { max = 2, base = 0.01 },
      on_request = function(info) requests[#requests + 1] = info end,
      on_response = function(info) responses[#responses + 1] = info end }
    -- the emulator accepts any token for the static example AK
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    assert.are.equal(2, #requests)
    assert.are.equal(2, #responses)
    local r = requests[2]
    assert.are.equal("POST", r.method)
    assert.are.equal("create_redislog_download_link", r.operation)
    assert.are.equal(2, r.attempt)
    assert.matches("/links$", r.url)
    assert.are.equal("***", r.headers.Authorization)
    assert.are.equal("***", r.headers["X-Security-Token"])
    assert.are.equal(E.PROJECT, r.headers["X-Project-Id"])
    assert.are.equal(503, responses[1].status)
    assert.are.equal(200, responses[2].status)
    assert.are.equal(2, responses[2].attempt)
    assert.matches("^%x+$", responses[2].request_id)
    assert.is_true(responses[2].duration >= 0)
    for _, info in ipairs(requests) do
      for _, v in pairs(info.headers) do assert.not_matches(token, v, 1, true) end
    end
  end)

  it("cannot break a call by raising", function()
    emu:reset()
    local c = emu:client { on_request = function() error("bad hook") end,
      on_response = function() error("bad hook") end }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
  end)
end)

describe("back-off jitter", function()
  it("comes from the system, so that two processes do not retry in step", function()
    -- math.random's seed is fixed in LuaJIT and Lua 5.3: every process
    -- would draw the same waits
    local code = [[
      local retry = require "dcs.retry"
      local waits = {}
      for i = 1, 4 do waits[i] = retry.delay({ max = 5, base = 1, cap = 20 }, i, { retryable = true }) end
      print(table.concat(waits, " "))
    ]]
    local sub = require "support.subprocess"
    local s1, first = sub.run(code)
    local s2, second = sub.run(code)
    assert.are.equal(0, s1, first)
    assert.are.equal(0, s2, second)
    assert.are_not.equal(first, second)
  end)
end)
