-- Regions, endpoint overrides and the credentials chain (environment and
-- profile file; the metadata service is in metadata_spec).
local dcs = require "dcs"
local regions = require "dcs.regions"
local credentials = require "dcs.credentials"
local sub = require "support.subprocess"
local E = require "support.emulator"

describe("regions", function()
  it("knows the 30 DCS regions of the official SDKs", function()
    assert.are.equal(30, #regions.KNOWN)
    for _, r in ipairs { "cn-north-4", "ap-southeast-1", "eu-west-101", "my-kualalumpur-1", "af-south-1" } do
      local c = dcs.client { ak = "a", sk = "b", project = "p", region = r }
      assert.are.equal("https://dcs." .. r .. ".myhuaweicloud.com", c.endpoint)
      c:close()
    end
  end)

  it("rejects an unknown region with the list of known ones", function()
    local ok, err = pcall(dcs.client, { ak = "a", sk = "b", project = "p", region = "mars-north-1" })
    assert.is_false(ok)
    assert.matches("unknown DCS region 'mars%-north%-1'; known regions: af%-south%-1, cn%-north%-2, "
      .. ".*my%-kualalumpur%-1", err)
    -- README: not with an endpoint given, where the region only names the IAM project
    local c = dcs.client { ak = "a", sk = "b", region = "mars-north-1", endpoint = "http://127.0.0.1:9" }
    assert.are.same({ "http://127.0.0.1:9" }, c.endpoints)
    assert.are.equal("https://iam.mars-north-1.myhuaweicloud.com", c.iam_endpoint)
    c:close()
  end)

  it("takes HUAWEICLOUD_SDK_REGION_DCS_<REGION> endpoints from the environment, even for other regions", function()
    local status, out = sub.run([[
      local dcs = require "dcs"
      local c = dcs.client { ak = "a", sk = "b", project = "p", region = "cn-north-4" }
      print(table.concat(c.endpoints, " "))
      c = dcs.client { ak = "a", sk = "b", project = "p", region = "xx-private-1" }
      print(table.concat(c.endpoints, " "))
    ]], { HUAWEICLOUD_SDK_REGION_DCS_CN_NORTH_4 = "http://127.0.0.1:9000, 127.0.0.1:9001/",
          HUAWEICLOUD_SDK_REGION_DCS_XX_PRIVATE_1 = "https://dcs.private.example" })
    assert.are.equal(0, status, out)
    assert.are.equal("http://127.0.0.1:9000 https://127.0.0.1:9001\nhttps://dcs.private.example\n", out)
  end)

  it("accepts endpoint or endpoints, not both", function()
    local c = dcs.client { ak = "a", sk = "b", project = "p", endpoints = { "h1", "http://h2:8080/" } }
    assert.are.same({ "https://h1", "http://h2:8080" }, c.endpoints)
    c:close()
    assert.error_matches(function()
      dcs.client { ak = "a", sk = "b", project = "p", endpoint = "h1", endpoints = { "h2" } }
    end, "not both")
    assert.error_matches(function() dcs.client { ak = "a", sk = "b", project = "p", endpoints = {} } end,
      "'endpoints' is empty")
    assert.error_matches(function() dcs.client { ak = "a", sk = "b", project = "p", endpoints = { "x y" } } end,
      "option 'endpoints%[1%]'")
  end)
end)

describe("credentials chain", function()
  local emu, dir
  lazy_setup(function()
    emu = E.start()
    dir = require("support.files").tmpdir()
    os.execute("mkdir -p " .. dir .. "/home/.huaweicloud")
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. dir)
  end)
  before_each(function() emu:reset() end)

  local CALL = [[
    local dcs = require "dcs"
    local c = dcs.client { endpoint = os.getenv("EMU"), metadata_endpoint = "http://127.0.0.1:1",
      retries = false }
    local res, err = c:create_redislog_download_link("%s", "%s")
    print(res and ("ok " .. res.id) or tostring(err))
  ]]
  local function call_code() return CALL:format(E.INSTANCE, E.LOG_ID) end

  it("reads HUAWEICLOUD_SDK_AK, _SK, _PROJECT_ID and _SECURITY_TOKEN", function()
    local status, out = sub.run(call_code(), { EMU = emu.url, HUAWEICLOUD_SDK_AK = E.AK,
      HUAWEICLOUD_SDK_SK = E.SK, HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT,
      HUAWEICLOUD_SDK_SECURITY_TOKEN = "env-token-123" })
    assert.are.equal(0, status, out)
    assert.are.equal("ok " .. E.LOG_ID .. "\n", out)
    local r = emu:last_request()
    assert.are.equal("env-token-123", r.headers["X-Security-Token"])
    assert.are.equal(E.PROJECT, r.headers["X-Project-Id"])
  end)

  it("reads [basic] of the profile file, from HOME or HUAWEICLOUD_SDK_CREDENTIALS_FILE", function()
    local f = assert(io.open(dir .. "/home/.huaweicloud/credentials", "w"))
    f:write("; comment\n[global]\nak = nope\n\n[basic]\nak = ", E.AK, "\nsk=", E.SK,
      "\r\nproject_id = ", E.PROJECT, "\n")
    f:close()
    local status, out = sub.run(call_code(), { EMU = emu.url, HOME = dir .. "/home" })
    assert.are.equal(0, status, out)
    assert.are.equal("ok " .. E.LOG_ID .. "\n", out)
    os.rename(dir .. "/home/.huaweicloud/credentials", dir .. "/creds.ini")
    status, out = sub.run(call_code(), { EMU = emu.url, HOME = dir .. "/home",
      HUAWEICLOUD_SDK_CREDENTIALS_FILE = dir .. "/creds.ini" })
    assert.are.equal(0, status, out)
    assert.are.equal("ok " .. E.LOG_ID .. "\n", out)
    -- and the credentials_file option
    local c = dcs.client { endpoint = emu.url, credentials_file = dir .. "/creds.ini" }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
  end)

  it("reads a profile saved with a UTF-8 byte order mark", function()
    local f = assert(io.open(dir .. "/bom.ini", "wb"))
    f:write("\239\187\191[basic]\r\nak = ", E.AK, "\r\nsk = ", E.SK, "\r\nproject_id = ", E.PROJECT, "\r\n")
    f:close()
    local c = dcs.client { endpoint = emu.url, credentials_file = dir .. "/bom.ini",
      metadata_endpoint = "http://127.0.0.1:1", retries = false }
    local res, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    c:close()
    assert.is_nil(err)
    assert.are.equal(E.LOG_ID, res.id)
    assert.are.equal(E.PROJECT, emu:last_request().headers["X-Project-Id"])
  end)

  it("names where an implausible project id was read: the variable, or the profile file", function()
    local f = assert(io.open(dir .. "/badproject.ini", "w"))
    f:write("[basic]\nak = ", E.AK, "\nsk = ", E.SK, "\nproject_id = not a project!\n")
    f:close()
    local code = "local ok, err = pcall(require('dcs').client, { endpoint = os.getenv('EMU') }) print(err)"
    local status, out = sub.run(code, { EMU = emu.url, HUAWEICLOUD_SDK_CREDENTIALS_FILE = dir .. "/badproject.ini" })
    assert.are.equal(0, status, out)
    assert.matches("dcs%.client: project_id of the profile " .. dir:gsub("%p", "%%%0")
      .. "/badproject%.ini is not a plausible id", out)
    status, out = sub.run(code, { EMU = emu.url, HUAWEICLOUD_SDK_CREDENTIALS_FILE = dir .. "/badproject.ini",
      HUAWEICLOUD_SDK_PROJECT_ID = "also bad!" })
    assert.are.equal(0, status, out)
    assert.matches("dcs%.client: HUAWEICLOUD_SDK_PROJECT_ID is not a plausible id", out)
  end)

  it("prefers the environment over the profile", function()
    local f = assert(io.open(dir .. "/creds2.ini", "w"))
    f:write("[basic]\nak = ", E.AK, "\nsk = wrong-sk\nproject_id = ", E.PROJECT, "\n")
    f:close()
    local status, out = sub.run(call_code(), { EMU = emu.url, HUAWEICLOUD_SDK_CREDENTIALS_FILE = dir .. "/creds2.ini",
      HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = E.SK, HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT })
    assert.are.equal(0, status, out)
    assert.matches("^ok ", out)
  end)

  it("refuses a key from the environment with a stray byte, naming its variable", function()
    local code = [[
      local ok, err = pcall(require("dcs").client, { endpoint = os.getenv("EMU"), retries = false })
      print(ok and "constructed" or err)
    ]]
    for _, case in ipairs {
      { "HUAWEICLOUD_SDK_AK", E.AK .. "\n", E.SK, "HUAWEICLOUD_SDK_AK must be an HTTP token" },
      { "HUAWEICLOUD_SDK_SK", E.AK, E.SK .. " ", "HUAWEICLOUD_SDK_SK must be printable ASCII without blanks" },
      { "HUAWEICLOUD_SDK_SK", E.AK, E.SK .. "\233", "HUAWEICLOUD_SDK_SK must be printable ASCII without blanks" },
      { "HUAWEICLOUD_SDK_SK", E.AK, E.SK .. "\n", "HUAWEICLOUD_SDK_SK must not contain control characters" },
    } do
      local status, out = sub.run(code, { EMU = emu.url, HUAWEICLOUD_SDK_AK = case[2],
        HUAWEICLOUD_SDK_SK = case[3], HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT })
      assert.are.equal(0, status, out)
      assert.is_truthy(out:find("credentials from the environment: " .. case[4], 1, true), out)
      assert.is_falsy(out:find(E.SK, 1, true), out)
    end
    assert.are.equal(0, #emu:requests())
  end)

  it("explains what every provider said when all fail", function()
    local status, out = sub.run(call_code(), { EMU = emu.url, HOME = dir .. "/nowhere",
      HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT })
    assert.are.equal(0, status, out)
    assert.matches("credentials error: no credentials: environment: HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK "
      .. "are not both set; profile: no file .-/nowhere/%.huaweicloud/credentials; metadata: "
      .. "http://127%.0%.0%.1:1: ", out)
    assert.are.equal(0, #emu:requests())
  end)

  it("names the one of HUAWEICLOUD_SDK_AK and _SK that is missing or empty", function()
    for _, case in ipairs {
      { { HUAWEICLOUD_SDK_AK = E.AK, HUAWEICLOUD_SDK_SK = "" }, "HUAWEICLOUD_SDK_SK is empty" },
      { { HUAWEICLOUD_SDK_AK = E.AK }, "HUAWEICLOUD_SDK_SK is not set" },
      { { HUAWEICLOUD_SDK_AK = "", HUAWEICLOUD_SDK_SK = E.SK }, "HUAWEICLOUD_SDK_AK is empty" },
    } do
      local env = case[1]
      env.EMU, env.HOME, env.HUAWEICLOUD_SDK_PROJECT_ID = emu.url, dir .. "/nowhere", E.PROJECT
      local status, out = sub.run(call_code(), env)
      assert.are.equal(0, status, out)
      assert.is_truthy(out:find("no credentials: environment: " .. case[2] .. "; profile: ", 1, true), out)
      assert.is_falsy(out:find(E.SK, 1, true), out)
    end
    assert.are.equal(0, #emu:requests())
  end)

  it("takes an empty HOME for none, not for the root directory", function()
    local status, out = sub.run(call_code(), { EMU = emu.url, HOME = "", HUAWEICLOUD_SDK_PROJECT_ID = E.PROJECT })
    assert.are.equal(0, status, out)
    assert.matches("; profile: no HOME and no HUAWEICLOUD_SDK_CREDENTIALS_FILE; metadata: ", out)
    assert.are.equal(0, #emu:requests())
  end)

  it("parses INI and UTC times", function()
    local ini = credentials.parse_ini("[Basic]\n ak = A \n#x\nsk= S=1\n[other]\nak=B")
    assert.are.same({ ak = "A", sk = "S=1" }, ini.basic)
    assert.are.equal(1618574400, credentials.parse_utc("2021-04-16T12:00:00.000000Z"))
    assert.are.equal(951782400, credentials.parse_utc("2000-02-29T00:00:00Z"))
    assert.is_nil(credentials.parse_utc("yesterday"))
    assert.is_nil(credentials.parse_utc("2026-13-01T00:00:00Z"))
  end)
end)
