-- core.open_file and core.read_file: the download file writer (csrc/dcs_file.c,
-- csrc/lfile.c): refusals (links, other owners, FIFOs, devices), the running
-- SHA-256, truncate, close and garbage collection.
local core = require "dcs.core"
local files = require "support.files"
local sub = require "support.subprocess"

local read = files.read

local function write_plain(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- A command without the ASan runtime the sanitizer stage preloads into Lua.
local function sh(cmd)
  return os.execute("env -u LD_PRELOAD " .. cmd)
end

local function is_root()
  local p = io.popen("env -u LD_PRELOAD id -u")
  local uid = p:read("*l")
  p:close()
  return uid == "0"
end

-- Open descriptors of this process (its pid from /proc/self/stat, read by us).
-- Descriptors of this process open on files under `under` (not counting
-- what libcurl's resolver threads or popen(3) may have open meanwhile).
local function open_fds(under)
  local pid = read("/proc/self/stat"):match("^(%d+)")
  local p = io.popen("ls -l /proc/" .. pid .. "/fd 2>/dev/null")
  local n = 0
  for line in p:lines() do
    if line:find("-> " .. under, 1, true) then n = n + 1 end
  end
  p:close()
  return n
end

describe("core.open_file", function()
  local dir
  before_each(function() dir = files.tmpdir() end)
  after_each(function() files.remove_tree(dir) end)

  it("creates a new file, mode 0600, and hashes what is written", function()
    local path = dir .. "/a"
    local f = assert(core.open_file(path, "new", { sha256 = true }))
    assert.matches("^dcs.core.file %(open%) " .. path:gsub("%p", "%%%0"), tostring(f))
    assert.are.equal(core.sha256_hex(""), f:sha256())
    local parts = {}
    for i = 1, 100 do
      local chunk = ("%d:"):format(i):rep(i)
      parts[#parts + 1] = chunk
      assert.is_true(f:write(chunk))
      if i % 25 == 0 then           -- a digest midway leaves the file open for more
        assert.are.equal(core.sha256_hex(table.concat(parts)), f:sha256())
      end
    end
    local content = table.concat(parts)
    assert.are.equal(#content, f:size())
    assert.is_true(math.type == nil or math.type(f:size()) == "integer")
    assert.are.equal(core.sha256_hex(content), f:sha256())
    assert.is_true(f:sync())
    assert.is_true(f:close())
    assert.are.equal(content, read(path))
    local p = io.popen("env -u LD_PRELOAD stat -c %a " .. path)
    assert.are.equal("600", p:read("*l"))
    p:close()
  end)

  it("refuses a name that exists, naming the path", function()
    local path = dir .. "/taken"
    write_plain(path, "old")
    local f, msg, code = core.open_file(path, "new")
    assert.is_nil(f)
    assert.are.equal("exists", code)
    assert.truthy(msg:find(path, 1, true))
    assert.are.equal("old", read(path))
  end)

  it("refuses a symlink at the name, new or existing, leaving its target untouched", function()
    local target, link = dir .. "/target", dir .. "/link"
    write_plain(target, "precious")
    assert(sh(("ln -s %s %s"):format(target, link)))
    for _, mode in ipairs { "new", "existing" } do
      local f, msg, code = core.open_file(link, mode, { sha256 = true })
      assert.is_nil(f)
      assert.are.equal("symlink", code)
      assert.matches("symbolic link", msg)
      assert.truthy(msg:find(link, 1, true))
    end
    assert.are.equal("precious", read(target))
    -- a dangling link: its target must not be created through it
    assert(sh(("ln -s %s/nowhere %s/dangling"):format(dir, dir)))
    local _, _, code = core.open_file(dir .. "/dangling", "new")
    assert.are.equal("symlink", code)
    assert.are.same({ "dangling", "link", "target" }, files.entries(dir))
  end)

  it("refuses an existing file of another owner", function()
    if not is_root() then return pending("needs root to chown a file to nobody") end
    local path = dir .. "/theirs"
    write_plain(path, "x")
    assert(sh("chown nobody " .. path))
    local f, msg, code = core.open_file(path, "existing")
    assert.is_nil(f)
    assert.are.equal("not_owner", code)
    assert.matches("owned by another user", msg)
  end)

  it("refuses a hard-linked file, a directory, a FIFO and a device", function()
    write_plain(dir .. "/one", "x")
    assert(sh(("ln %s/one %s/two"):format(dir, dir)))
    local _, msg, code = core.open_file(dir .. "/one", "existing")
    assert.are.equal("links", code)
    assert.matches("more than one hard link", msg)
    assert(sh("mkdir " .. dir .. "/sub"))
    assert(sh("mkfifo " .. dir .. "/fifo"))
    local started = core.monotime()
    for _, path in ipairs { dir .. "/sub", dir .. "/fifo", "/dev/null" } do
      local f
      f, msg, code = core.open_file(path, "existing")
      assert.is_nil(f)
      assert.are.equal("not_regular", code, path)
      assert.matches("not a regular file", msg)
    end
    assert.is_true(core.monotime() - started < 1, "a FIFO must not block the open")
  end)

  it("reports a missing file or directory as not_found", function()
    local _, _, code = core.open_file(dir .. "/absent", "existing")
    assert.are.equal("not_found", code)
    _, _, code = core.open_file(dir .. "/no/such/dir", "new")
    assert.are.equal("not_found", code)
  end)

  it("refuses an empty path or one with a NUL as invalid", function()
    for _, path in ipairs { "", dir .. "/a\0b" } do
      local f, msg, code = core.open_file(path, "new")
      assert.is_nil(f)
      assert.are.equal("invalid", code)
      assert.matches("invalid file name", msg)
    end
    assert.are.same({}, files.entries(dir))
  end)

  it("raises on programmer errors", function()
    assert.has_error(function() core.open_file(dir .. "/x", "append") end)
    assert.has_error(function() core.open_file(dir .. "/x", "new", { sha256 = "yes" }) end)
    assert.has_error(function() core.open_file(dir .. "/x", "new", 1) end)
    assert.has_error(function() core.open_file(nil, "new") end)
  end)

  it("primes the digest from an existing file's bytes", function()
    local path = dir .. "/part"
    write_plain(path, "abc")
    local f = assert(core.open_file(path, "existing", { sha256 = true }))
    assert.are.equal(3, f:size())
    assert.are.equal(core.sha256_hex("abc"), f:sha256())
    assert(f:write("def"))
    assert.are.equal(core.sha256_hex("abcdef"), f:sha256())
    f:close()
    assert.are.equal("abcdef", read(path))
    -- without hashing: the size all the same, and no digest
    f = assert(core.open_file(path, "existing"))
    assert.are.equal(6, f:size())
    local hex, why = f:sha256()
    assert.is_nil(hex)
    assert.matches("without sha256", why)
    f:close()
  end)

  it("truncates, and the digest follows", function()
    local path = dir .. "/t"
    local f = assert(core.open_file(path, "new", { sha256 = true }))
    assert(f:write("0123456789"))
    assert.is_true(f:truncate(4))
    assert.are.equal(4, f:size())
    assert.are.equal(core.sha256_hex("0123"), f:sha256())
    assert(f:write("ab"))
    assert.are.equal("0123ab", read(path))
    assert.are.equal(core.sha256_hex("0123ab"), f:sha256())
    assert.is_true(f:truncate(0))
    assert.are.equal(core.sha256_hex(""), f:sha256())
    assert(f:write("new"))
    assert.are.equal(core.sha256_hex("new"), f:sha256())
    assert.are.equal("new", read(path))
    for _, bad in ipairs { -1, 4, 1.5, 0 / 0, math.huge } do
      assert.has_error(function() f:truncate(bad) end)
    end
    f:close()
  end)

  it("closes once, and fails cleanly after", function()
    local f = assert(core.open_file(dir .. "/c", "new", { sha256 = true }))
    assert(f:write("xy"))
    assert.is_true(f:close())
    assert.is_true(f:close())
    assert.matches("^dcs.core.file %(closed%)", tostring(f))
    for _, call in ipairs {
      function() return f:write("more") end, function() return f:truncate(0) end,
      function() return f:sync() end, function() return f:sha256() end,
    } do
      local ok, msg = call()
      assert.is_nil(ok)
      assert.matches("closed", msg)
    end
    assert.are.equal(2, f:size())
    getmetatable(f).__gc(f)             -- what the collector would do after close
    getmetatable(f).__close(f)
    assert.are.equal("xy", read(dir .. "/c"))
  end)

  it("closes through <close> on Lua 5.4", function()
    if not _VERSION:find("5%.4") then return pending("Lua 5.4 only") end
    local chunk = assert(load([[
      local core, path = ...
      local f <close> = assert(core.open_file(path, "new"))
      assert(f:write("scoped"))
      return f
    ]]))
    local f = chunk(core, dir .. "/s")
    assert.matches("closed", tostring(f))
    assert.are.equal("scoped", read(dir .. "/s"))
  end)

  it("releases the descriptors of writers collected while open", function()
    collectgarbage()
    local before = open_fds(dir)
    for i = 1, 50 do
      local f = assert(core.open_file(dir .. "/gc" .. i, "new", { sha256 = i % 2 == 0 }))
      f:write("data")
      if i % 3 == 0 then f:close() end
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(0, before)
    assert.are.equal(0, open_fds(dir))
    assert.are.equal("data", read(dir .. "/gc50"))
  end)

  it("reports a failed write (here: over the file size limit)", function()
    -- ulimit -f in the child, SIGXFSZ ignored: the write fails with EFBIG.
    local script = dir .. "/limited.lua"
    write_plain(script, ([[
      local core = require "dcs.core"
      local f = assert(core.open_file(%q, "new", { sha256 = true }))
      local ok, msg, code = f:write(("x"):rep(100000))
      print(tostring(ok), msg, code, f:size() > 0, f:size() < 100000)
      print(f:write("y"))
    ]]):format(dir .. "/big"))
    local status, out = sub.run_file_limited(script, 8)
    assert.are.equal(0, status, out)
    local first, second = out:match("^([^\n]*)\n([^\n]*)")
    assert.matches("^nil\tcannot write " .. dir:gsub("%p", "%%%0") .. "/big: File too large\tefbig\ttrue\ttrue$",
      first)
    assert.matches("^nil\tcannot write .*File too large\tefbig$", second)   -- sticky
  end)
end)

describe("core.read_file", function()
  local dir
  before_each(function() dir = files.tmpdir() end)
  after_each(function() files.remove_tree(dir) end)

  it("reads a small regular file", function()
    write_plain(dir .. "/f", "contents\0with a NUL")
    assert.are.equal("contents\0with a NUL", core.read_file(dir .. "/f", 100))
    assert.are.equal("contents\0with a NUL", core.read_file(dir .. "/f", 19))
    write_plain(dir .. "/empty", "")
    assert.are.equal("", core.read_file(dir .. "/empty", 0))
  end)

  it("refuses a file over the limit", function()
    write_plain(dir .. "/f", ("x"):rep(1000))
    local s, msg, code = core.read_file(dir .. "/f", 999)
    assert.is_nil(s)
    assert.are.equal("too_large", code)
    assert.truthy(msg:find(dir .. "/f", 1, true))
  end)

  it("refuses a FIFO, /dev/zero and a directory at once", function()
    assert(sh("mkfifo " .. dir .. "/fifo"))
    local started = core.monotime()
    for _, path in ipairs { dir .. "/fifo", "/dev/zero", dir } do
      local s, msg, code = core.read_file(path, 1e6)
      assert.is_nil(s)
      assert.are.equal("not_regular", code, path)
      assert.matches("not a regular file", msg)
    end
    assert.is_true(core.monotime() - started < 1)
  end)

  it("reports not_found and invalid paths", function()
    local _, _, code = core.read_file(dir .. "/absent", 10)
    assert.are.equal("not_found", code)
    _, _, code = core.read_file("", 10)
    assert.are.equal("invalid", code)
    _, _, code = core.read_file("a\0b", 10)
    assert.are.equal("invalid", code)
  end)

  it("raises on a bad limit", function()
    for _, bad in ipairs { -1, 0 / 0, math.huge, 2 ^ 60 } do
      assert.has_error(function() core.read_file(dir .. "/x", bad) end)
    end
    assert.has_error(function() core.read_file(dir .. "/x") end)
  end)
end)
