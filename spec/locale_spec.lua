-- The host's locale: a decimal-comma LC_NUMERIC (as a host that calls
-- setlocale(LC_ALL, "") in Germany gets) must not reach the wire or the
-- JSON the SDK reads.  Each test switches a category for its own call and
-- restores it; without de_DE installed (locale-gen de_DE.UTF-8) they are
-- pending.
local dcs = require "dcs"

local DECIMAL_COMMA = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8" }

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
end)
