--- Scratch directories and small file helpers for the specs.
local M = {}

--- A new empty directory under the system's temporary directory.
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

--- Names in a directory, hidden ones included.
function M.entries(dir)
  local names = {}
  local p = io.popen("ls -A " .. dir)
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  table.sort(names)
  return names
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function M.remove_tree(dir)
  os.execute("rm -rf " .. dir)
end

--- A scratch copy of the source tree at root (no build/, no .git): LuaRocks
-- builds a rock where it is run and leaves dcs/core.so and csrc/*.o behind,
-- and a dcs/core.so in the checkout would shadow build/<ABI>/ for every
-- process that keeps "./?.so" on its cpath.
function M.source_copy(root)
  local dir = M.tmpdir()
  -- env -u LD_PRELOAD: under the ASan stage, tar must not load the sanitizer
  assert(os.execute(("env -u LD_PRELOAD sh -c \"tar -C '%s' --exclude=./build --exclude=./.git --exclude=./dcs "
    .. "-cf - . | tar -C '%s' -xf -\""):format(root, dir)))
  return dir
end

return M
