--- Runs bin/dcs-logs as a real process, in a chosen directory and
-- environment: run(dir, env, args...) -> exit status, stdout, stderr.
local sub = require "support.subprocess"

local M = {}

--- env: a string of NAME=value words for env(1), already quoted.
function M.run(dir, env, ...)
  local args = {}
  for i, a in ipairs { ... } do args[i] = sub.quote(a) end
  local err_file = os.tmpname()
  local cmd = ("cd %s && env -u LD_PRELOAD %s LUA_PATH=%s LUA_CPATH=%s %s %s/bin/dcs-logs %s 2>%s"):format(
    sub.quote(dir), env, sub.quote(sub.LUA_PATH), sub.quote(sub.LUA_CPATH), sub.LUA, sub.ROOT,
    table.concat(args, " "), err_file)
  local status, out = sub.shell(cmd)
  local f = io.open(err_file)
  local err = f:read("*a")
  f:close()
  os.remove(err_file)
  return status, out, err
end

--- The environment that points the command at an emulator.
function M.env_for(emu, E)
  return ("DCS_ENDPOINT=%s HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s HUAWEICLOUD_SDK_PROJECT_ID=%s")
    :format(emu.url, E.AK, E.SK, E.PROJECT)
end

return M
