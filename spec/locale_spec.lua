-- The host's locale: a decimal-comma LC_NUMERIC (as a host that calls
-- setlocale(LC_ALL, "") in Germany gets) must not reach the wire or the
-- JSON the SDK reads.  Each test switches a category for its own call and
-- restores it; without de_DE installed (locale-gen de_DE.UTF-8) they are
-- pending.
local dcs = require "dcs"
local E = require "support.emulator"
local names = require "dcs.names"

local DECIMAL_COMMA = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8" }

-- Runs fn with LC_CTYPE set to a Latin-1 locale, where Lua 5.3 and 5.4's
-- %w takes the letters from 0xC0 up; false when none is installed.
local function with_latin1(fn)
  local old = os.setlocale(nil, "ctype")
  for _, name in ipairs { "de_DE.ISO-8859-1", "de_DE.iso88591", "de_DE", "fr_FR.ISO-8859-1", "fr_FR" } do
    local set = os.setlocale(name, "ctype")
    if set and not set:lower():find("utf") then
      local ok, err = pcall(fn)
      os.setlocale(old, "ctype")
      if not ok then error(err, 0) end
      return true
    end
  end
  os.setlocale(old, "ctype")
  return false
end

-- Runs fn with LC_NUMERIC set to a decimal-comma locale; false when none is installed.
local function with_decimal_comma(fn)
  local old = os.setlocale(nil, "numeric")
  for _, name in ipairs(DECIMAL_COMMA) do
    if os.setlocale(name, "numeric") then
      local ok, err = pcall(fn)
      os.setlocale(old, "numeric")
      if not ok then error(err, 0) end
      return true
    end
  end
  return false
end

describe("a decimal-comma LC_NUMERIC", function()
  it("leaves fractional query values with a decimal point, signed as sent", function()
    local query
    local ran = with_decimal_comma(function()
      local _
      _, _, query = dcs.sign { method = "GET", url = "https://h.example/p", ak = "AK", sk = "SK",
        headers = { ["X-Sdk-Date"] = "20210416T120000Z" }, query = { f = 1.5, g = 0.25 } }
    end)
    if not ran then return pending("no decimal-comma locale installed") end
    assert.are.equal("f=1.5&g=0.25", query)
  end)

  describe("against the emulator", function()
    local emu, client
    local fixture = E.fixture(nil, function(e, c) emu, client = e, c end)
    lazy_setup(fixture.start)
    lazy_teardown(fixture.stop)

    it("decodes an answer with fractional numbers, set after the SDK was loaded", function()
      emu:fault { match = { path_contains = "/redislog" }, times = 1,
        action = { respond = { status = 200, json = { total_num = 0, file_list = {}, ratio = 1.5 } } } }
      local res, err
      local ran = with_decimal_comma(function() res, err = client:list_redislogs(E.INSTANCE) end)
      if not ran then return pending("no decimal-comma locale installed") end
      assert.is_nil(err)
      assert.are.equal(1.5, res.ratio)
    end)
  end)
end)

describe("a Latin-1 LC_CTYPE", function()
  it("leaves a server's file names in [A-Za-z0-9._+-]", function()
    local got = {}
    local ran = with_latin1(function()
      got[1] = names.from_server("r\233sum\233.log", "fallback")
      got[2] = names.from_server("\233\255", "fallback")
      got[3] = names.from_link("https://h.example/a/caf%C3%A9.log?x=1", "fallback")
    end)
    if not ran then return pending("no Latin-1 locale installed") end
    assert.are.same({ "r_sum_.log", "fallback", "caf__.log" }, got)
  end)
end)
