--- Runs Lua code in a fresh lua5.4 process with a chosen environment, for
-- behaviour that depends on environment variables or HOME.
local M = {}

M.ROOT = io.popen("pwd"):read("*l")

-- The interpreter running the specs, so subprocesses use the same ABI.
M.ABI = type(jit) == "table" and "luajit" or _VERSION:gsub("Lua ", "lua")
M.LUA = M.ABI
M.LUA_PATH = M.ROOT .. "/lua/?.lua;" .. M.ROOT .. "/lua/?/init.lua;" .. M.ROOT .. "/spec/?.lua;;"
M.LUA_CPATH = M.ROOT .. "/build/" .. M.ABI .. "/?.so;;"

function M.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- shell(command) -> exit status, stdout.  The status comes from the shell
-- itself: on Lua 5.1/LuaJIT, pipe:close() does not return it.
function M.shell(cmd)
  local p = io.popen("{ " .. cmd .. "\n}; echo \"__exit_status:$?\"")
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__exit_status:(%d+)\n?$")
  return tonumber(status), body
end

--- run(code, { NAME = value, ... }[, cwd]) -> status, combined output
-- The environment is cleared except PATH and what is given.
function M.run(code, env, cwd)
  local vars = {}
  env = env or {}
  -- Never let a credentials chain probe the real metadata address from a test.
  if not env.HUAWEICLOUD_SDK_METADATA_ENDPOINT then
    vars[1] = "HUAWEICLOUD_SDK_METADATA_ENDPOINT=http://127.0.0.1:9"
  end
  for k, v in pairs(env) do vars[#vars + 1] = k .. "=" .. M.quote(v) end
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local cmd = ("cd %s && env -i PATH=%s LUA_PATH=%s LUA_CPATH=%s %s %s %s 2>&1"):format(
    M.quote(cwd or M.ROOT), M.quote(os.getenv("PATH")), M.quote(M.LUA_PATH), M.quote(M.LUA_CPATH),
    table.concat(vars, " "), M.LUA, M.quote(path))
  local status, out = M.shell(cmd)
  os.remove(path)
  return status, out
end

--- run_file_limited(path, blocks) -> status, combined output
-- Runs a Lua file with the spec's paths under a file size limit (ulimit -f
-- blocks; SIGXFSZ ignored, so a write past it fails with EFBIG instead of
-- killing the process): write errors without filling a disk.
function M.run_file_limited(path, blocks)
  return M.shell(("trap '' XFSZ; ulimit -f %d; cd %s && env -u LD_PRELOAD LUA_PATH=%s LUA_CPATH=%s %s %s 2>&1")
    :format(blocks, M.quote(M.ROOT), M.quote(M.LUA_PATH), M.quote(M.LUA_CPATH), M.LUA, M.quote(path)))
end

return M
