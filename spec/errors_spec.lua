-- Every failure comes back as nil, err with an error object.
local dcs = require "dcs"
local core = require "dcs.core"
local E = require "support.emulator"

describe("error objects", function()
  local emu, client
  lazy_setup(function()
    emu = E.start()
    client = emu:client { retries = false }    -- retries have their own spec
  end)
  lazy_teardown(function()
    client:close()
    emu:stop()
  end)
  before_each(function() emu:reset() end)

  local function fail_with(respond)
    emu:fault { match = { path_contains = "/links" }, action = { respond = respond } }
    local res, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.is_nil(res)
    assert.is_true(dcs.is_error(err))
    return err
  end

  local DCS_BODIES = {
    { 400, "DCS.4800", "Invalid logType." },
    { 401, "DCS.1001", "Invalid token." },
    { 403, "DCS.2003", "No permission." },
    { 404, "DCS.3022", "This DCS instance does not exist." },
    { 429, "DCS.4999", "Too many requests." },
    { 500, "DCS.5000", "Internal service error." },
  }
  for _, case in ipairs(DCS_BODIES) do
    it("maps a DCS " .. case[1] .. " body", function()
      local err = fail_with { status = case[1], headers = { ["X-Request-Id"] = "rid-" .. case[1] },
        json = { error_code = case[2], error_msg = case[3], error_ext_msg = require("cjson").null } }
      assert.are.equal("api", err.kind)
      assert.are.equal(case[1], err.status)
      assert.are.equal(case[2], err.code)
      assert.are.equal(case[3], err.message)
      assert.are.equal("rid-" .. case[1], err.request_id)
      assert.are.equal("create_redislog_download_link", err.operation)
      assert.are.equal(case[1] == 429, err.retryable)
      assert.are.equal(("dcs: create_redislog_download_link: HTTP %d %s: %s [request_id rid-%d]")
        :format(case[1], case[2], case[3], case[1]), tostring(err))
    end)
  end

  local GATEWAY = {
    { 401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail" },
    { 403, "APIGW.0302", "The IAM user is not authorized to access the API." },
    { 404, "APIGW.0101", "The API does not exist or has not been published in the environment." },
    { 429, "APIGW.0308", "The throttling threshold has been reached." },
    { 500, "APIGW.0601", "Internal server error" },
  }
  for _, case in ipairs(GATEWAY) do
    it("maps a gateway " .. case[1] .. " body, taking request_id from the body when no header", function()
      local err = fail_with { status = case[1], headers = { ["X-Request-Id"] = "" },
        json = { error_code = case[2], error_msg = case[3], request_id = "body-rid" } }
      assert.are.equal(case[2], err.code)
      assert.are.equal(case[3], err.message)
      assert.are.equal(case[1], err.status)
    end)
  end

  for _, status in ipairs { 400, 401, 403, 404, 429, 500 } do
    it("maps a non-JSON " .. status .. " body: code is the status", function()
      local err = fail_with { status = status, body = "<html>upstream says no</html>" }
      assert.are.equal("api", err.kind)
      assert.are.equal(tostring(status), err.code)
      assert.are.equal("<html>upstream says no</html>", err.message)
      assert.matches("^%x+$", err.request_id)        -- the emulator's X-Request-Id
    end)
  end

  it("hides a secret that holds another whole, and reads a list of secrets with holes", function()
    local errors = require "dcs.errors"
    assert.are.equal("t=*** and ***", errors.redact("t=XXXXabcd1234YYYY and abcd1234",
      { "abcd1234", "XXXXabcd1234YYYY" }))
    assert.are.equal("a *** b", errors.redact("a abcd1234 b", { nil, "abcd1234" }))
  end)

  it("redacts a secret echoed all over a body in work proportional to the body", function()
    local errors = require "dcs.errors"
    local secret = "tok-0123456789ab"
    local body = (secret .. " "):rep(2048)                 -- 34 KiB
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    local redacted = errors.redact(body, { secret })
    local allocated = collectgarbage("count") - before    -- a copy of the rest per echo: 34 MiB
    collectgarbage("restart")
    assert.are.equal(("*** "):rep(2048), redacted)
    assert.is_true(allocated < 1024, ("redacting allocated %.0f KiB"):format(allocated))
  end)

  it("gives an empty error body a readable message", function()
    local err = fail_with { status = 503, body = "" }
    assert.are.equal("503", err.code)
    assert.are.equal("Service Unavailable", err.message)
    assert.is_true(err.retryable)
  end)

  it("finds nested and camelCase error fields", function()
    local err = fail_with { status = 400, json = { error = { code = "X.1", message = "nested" } } }
    assert.are.equal("X.1", err.code)
    assert.are.equal("nested", err.message)
    err = fail_with { status = 400, json = { errorCode = "Y.2", errorMsg = "camel" } }
    assert.are.equal("Y.2", err.code)
    assert.are.equal("camel", err.message)
  end)

  it("reports a 2xx body that is not JSON as a decode error", function()
    local err = fail_with { status = 200, body = "not json" }
    assert.are.equal("decode", err.kind)
    assert.are.equal(200, err.status)
    assert.matches("not a JSON object", err.message)
  end)

  it("maps the emulator's real 404 and 400 answers", function()
    local _, err = client:create_redislog_download_link("5560df16-cebf-4473-95c4-d1b573c16e70", E.LOG_ID)
    assert.are.equal(404, err.status)
    assert.are.equal("DCS.3022", err.code)
    _, err = client:create_redislog_download_link("not-a-uuid", E.LOG_ID)
    assert.are.equal(400, err.status)
    assert.are.equal("DCS.4061", err.code)
    _, err = client:create_redislog_download_link(E.INSTANCE, "00000000-0000-4000-8000-000000000000")
    assert.are.equal(404, err.status)
  end)

  it("reports a wrong SK as 401 APIGW.0301 without leaking the SK, token or Authorization", function()
    local sk, token = "wrong-secret-key-0123456789", "SECRET-TOKEN-abcdef-0123456789"
    local c = emu:client { sk = sk, security_token = token }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.are.equal(401, err.status)
    assert.are.equal("APIGW.0301", err.code)
    assert.matches("verify aksk signature fail", err.message)
    local text = tostring(err) .. err.message
    assert.not_matches(sk, text, 1, true)
    assert.not_matches(token, text, 1, true)       -- the gateway echoes it; we redact
    assert.not_matches("Signature=", text, 1, true)
    local authorization = emu:last_request().headers.Authorization
    assert.not_matches(authorization, text, 1, true)
  end)

  it("is rejected with 401 when X-Sdk-Date is more than 15 minutes off", function()
    local http = core.http()
    local url = emu.url .. "/v2/" .. E.PROJECT .. "/instances/" .. E.INSTANCE .. "/redislog"
    local headers = dcs.sign { method = "GET", url = url, query = { log_type = "run" },
      headers = { ["X-Sdk-Date"] = core.sdk_date(os.time() - 16 * 60) }, ak = E.AK, sk = E.SK }
    local res = assert(http:request { method = "GET", url = url .. "?log_type=run", headers = headers })
    assert.are.equal(401, res.status)
    assert.matches("signature expired", res.body)
    headers = dcs.sign { method = "GET", url = url, query = { log_type = "run" },
      headers = { ["X-Sdk-Date"] = core.sdk_date(os.time() - 14 * 60) }, ak = E.AK, sk = E.SK }
    res = assert(http:request { method = "GET", url = url .. "?log_type=run", headers = headers })
    assert.are.equal(200, res.status)
    http:close()
  end)

  it("reports a refused connection as a network error", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = "http://127.0.0.1:1" }
    local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.are.equal("connect", err.reason)
    assert.is_true(err.retryable)
    assert.matches("^dcs: create_redislog_download_link: network error %(connect%): ", tostring(err))
  end)

  it("reports a dropped connection as a network error", function()
    -- times = -1: libcurl itself retries once when a reused connection dies
    -- before any byte of the answer, so drop every attempt.
    emu:fault { match = { path_contains = "/links" }, times = -1, action = { drop = true } }
    local res, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
  end)

  it("prints as one line, also through assert() in the interpreter", function()
    emu:fault { match = { path_contains = "/links" }, action = { respond = { status = 404,
      json = { error_code = "DCS.3022", error_msg = "This DCS instance does not exist." } } } }
    local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    local text = tostring(err)
    assert.matches("^dcs: create_redislog_download_link: HTTP 404 DCS%.3022: This DCS instance does not exist%.", text)
    assert.not_matches("\n", text, 1, true)
    -- and the stand-alone interpreter prints the same line
    local _, out = require("support.subprocess").run([[
      local dcs = require "dcs"
      local c = dcs.client{ak="a", sk="b", project="p", endpoint="http://127.0.0.1:1"}
      assert(c:create_redislog_download_link("i", ""))]])
    assert.matches("dcs: create_redislog_download_link: invalid argument: log_id must be a non%-empty string", out)
  end)
end)
