--- JSON for the SDK's own use: lua-cjson, whatever the host's locale.
-- lua-cjson reads LC_NUMERIC's decimal point once, when an instance is
-- made, and converts through strtod and snprintf, which read it at every
-- call: after a host switches to a decimal-comma locale (os.setlocale in
-- Lua, setlocale in C) a body with 1.5 failed to decode and 1.5 encoded
-- as 1,5.  A new instance is made when LC_NUMERIC is no longer the one
-- the current instance was made under.
local cjson = require "cjson"

local M = {}

local instance, made_under

local function current()
  local numeric = os.setlocale and os.setlocale(nil, "numeric")
  if not instance or numeric ~= made_under then
    instance, made_under = cjson.new(), numeric
    if instance.decode_array_with_array_mt then instance.decode_array_with_array_mt(true) end
  end
  return instance
end

--- The value of a JSON text; raises on invalid JSON, as cjson.decode.
function M.decode(text)
  return current().decode(text)
end

--- The JSON text of a value; raises as cjson.encode.
function M.encode(value)
  return current().encode(value)
end

return M
