--- Runs Lua code in a fresh lua5.4 process with a chosen environment, for
-- behaviour that depends on environment variables or HOME.
local M = {}

M.ROOT = io.popen("pwd"):read("l")

function M.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- run(code, { NAME = value, ... }[, cwd]) -> status, combined output
-- The environment is cleared except PATH and what is given.
function M.run(code, env, cwd)
  local vars = {}
  for k, v in pairs(env or {}) do vars[#vars + 1] = k .. "=" .. M.quote(v) end
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local cmd = ("cd %s && env -i PATH=%s LUA_PATH=%s LUA_CPATH=%s %s lua5.4 %s 2>&1"):format(
    M.quote(cwd or M.ROOT), M.quote(os.getenv("PATH")),
    M.quote(M.ROOT .. "/lua/?.lua;" .. M.ROOT .. "/lua/?/init.lua;" .. M.ROOT .. "/spec/?.lua;;"),
    M.quote(M.ROOT .. "/build/lua5.4/?.so;;"), table.concat(vars, " "), M.quote(path))
  local p = io.popen(cmd)
  local out = p:read("*a")
  local _, _, status = p:close()
  os.remove(path)
  return status, out
end

return M
