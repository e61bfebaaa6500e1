--- The collector as the finalizer tests need it: a finalizer f armed on a
-- fresh object, and the most eager collector each version offers (about a
-- cycle per allocation, so finalizers run inside the call under test).
local M = {}

--- Arms f as the finalizer of a new, unreferenced object (LuaJIT: tables
-- have no __gc, a newproxy does).
function M.on_gc(f)
  if newproxy then
    getmetatable(newproxy(true)).__gc = f
  else
    setmetatable({}, { __gc = f })
  end
end

--- on: the eager collector (restarted if a test stopped it); off: the defaults.
function M.eager(on)
  if on then collectgarbage("restart") end
  if _VERSION == "Lua 5.4" then
    collectgarbage("incremental", on and 1 or 200, on and 1000 or 100, on and 0 or 13)
  else
    collectgarbage("setpause", on and 1 or 200)
    collectgarbage("setstepmul", on and 1000 or 200)
  end
end

return M
