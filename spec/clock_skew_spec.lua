-- A request refused for its date (401, "signature expired"): the error says
-- by how much the local clock differs from the server's, and what to do.
local E = require "support.emulator"
local errors = require "dcs.errors"

describe("clock skew", function()
  local emu, hs

  lazy_setup(function()
    emu = E.start()
    hs = E.start_hostile()
  end)
  lazy_teardown(function()
    emu:stop()
    hs:stop()
  end)
  before_each(function()
    emu:reset()
    hs:reset()
  end)

  it("is measured from the gateway's answer when the local clock is behind or ahead", function()
    local client = emu:client { retries = false }
    for _, skew in ipairs { 1205, -7300 } do
      emu:config { clock_skew = skew }
      local res, err = client:list_redislogs(E.INSTANCE)
      assert.is_nil(res)
      assert.are.equal(401, err.status)
      assert.is_true(math.abs(err.clock_skew - skew) <= 2, tostring(err.clock_skew))
      local words = skew > 0 and "the local clock is 20m %d+s behind the server's"
        or "the local clock is 2h 1m ahead of the server's"
      assert.matches(words .. ": sync it %(NTP", tostring(err))
    end
    client:close()
  end)

  it("is measured from the Date header when the message does not say", function()
    local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3600)
    hs:script { match = { path_contains = "/redislog" }, times = 1, steps = { { respond = {
      status = 401, headers = { Date = date, ["Content-Type"] = "application/json" },
      body = '{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information: '
        .. 'signature expired"}' } } } }
    local client = require("dcs").client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = hs.url,
      retries = false }
    local _, err = client:list_redislogs(E.INSTANCE)
    client:close()
    assert.is_true(math.abs(err.clock_skew - 3600) <= 5, tostring(err.clock_skew))
    assert.matches("signature expired; the local clock is 1h behind the server's", err.message)
  end)

  it("leaves other answers alone", function()
    assert.is_nil(errors.clock_skew({ status = 401, headers = {} }, "verify aksk signature fail"))
    assert.is_nil(errors.clock_skew({ status = 403, headers = {} }, "Request has expired"))
    assert.is_false(errors.clock_skew({ status = 401, headers = {} }, "signature expired"))
    local err = errors.from_response("x", { status = 401, headers = {}, body = "signature expired" })
    assert.matches("the local clock is probably off", err.message)
    assert.is_nil(err.clock_skew)
  end)

  it("parses HTTP dates", function()
    assert.are.equal(784111777, errors.http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.is_nil(errors.http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    for _, bad in ipairs { "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:60:37 GMT", "Sun, 00 Nov 1994 08:49:37 GMT" } do
      assert.is_nil(errors.http_date(bad), bad)          -- not carried into the next day or month
    end
    -- nor a gateway's signature time of month 13: the skew is not told, not made up
    assert.is_false(errors.clock_skew({ status = 401, headers = {} },
      "signature expired, signature time:20261301T000000Z,server time:20261128T000000Z"))
    assert.are.equal("20m 5s", errors.duration(1205))
    assert.are.equal("1h", errors.duration(3600))
    assert.are.equal("1d 1h", errors.duration(90061))
  end)
end)
