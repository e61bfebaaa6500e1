-- core.open_file and core.read_file: the download file writer (csrc/dcs_file.c,
-- csrc/lfile.c): refusals (links, other owners, FIFOs, devices), the running
-- SHA-256 and MD5, truncate, close and garbage collection; and the same
-- methods while a libcurl transfer streams into the file and its digests
-- run on helper threads.
local core = require "dcs.core"
local E = require "support.emulator"
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
    assert.has_error(function() core.open_file(dir .. "/x", "new", { md5 = 1 }) end)
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

  it("keeps the MD5 as Content-MD5 would carry it, primed, truncated and closed", function()
    local path = dir .. "/m"
    local f = assert(core.open_file(path, "new", { md5 = true, sha256 = true }))
    assert.are.equal("1B2M2Y8AsgTpgAmY7PhCfg==", f:content_md5())        -- MD5 of ""
    assert(f:write("hello "))
    assert(f:write("world"))
    assert.are.equal("XrY7u+Ae7tCTyyK7j1rNww==", f:content_md5())
    assert.are.equal(core.sha256_hex("hello world"), f:sha256())
    f:close()
    f = assert(core.open_file(path, "existing", { md5 = true }))
    assert.are.equal("XrY7u+Ae7tCTyyK7j1rNww==", f:content_md5())
    local hex, why = f:sha256()
    assert.is_nil(hex)
    assert.matches("without sha256", why)
    assert.is_true(f:truncate(0))
    assert.are.equal("1B2M2Y8AsgTpgAmY7PhCfg==", f:content_md5())
    f:close()
    local md5, closed = f:content_md5()
    assert.is_nil(md5)
    assert.matches("closed", closed)
    f = assert(core.open_file(path, "existing", { sha256 = true }))
    md5, why = f:content_md5()
    assert.is_nil(md5)
    assert.matches("without md5", why)
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

-- A libcurl transfer into the file hashes on helper threads; each method,
-- called from the sink's progress callback while they run, must see what
-- it would see with inline hashing.
describe("core.open_file under a streaming transfer", function()
  local SIZE = 3 * 1024 * 1024
  local hs, dir, url, expected
  lazy_setup(function()
    hs = E.start_hostile()
    dir = files.tmpdir()
  end)
  lazy_teardown(function()
    hs:stop()
    files.remove_tree(dir)
  end)
  before_each(function()
    hs:reset()
    expected = hs:file { path = "/f.bin", size = SIZE }.sha256
    url = hs.url .. "/f.bin"
  end)

  -- Streams f.bin into a new file; progress(file, bytes, path) runs each time.
  local n = 0
  local function stream(progress, opts)
    n = n + 1
    local path = dir .. "/s" .. n
    local file = assert(core.open_file(path, "new", opts or { sha256 = true, md5 = true }))
    local t = core.http { proxy = "" }
    local res, failure = t:request { url = url, sink = { file = file,
      progress = progress and function(bytes) return progress(file, bytes, path) end } }
    t:close()
    return file, path, res, failure
  end

  -- The digests of what is on disk, computed inline by a fresh reader.
  local function inline_md5(path)
    local f = assert(core.open_file(path, "existing", { md5 = true }))
    local md5 = f:content_md5()
    f:close()
    return md5
  end

  it("has every byte hashed when the request returns", function()
    local file, path, res = stream()
    assert.are.equal(200, res.status)
    assert.are.equal(SIZE, file:size())
    assert.are.equal(expected, file:sha256())
    assert.are.equal(inline_md5(path), file:content_md5())
    file:close()
    assert.are.equal(expected, core.sha256_hex(read(path)))
  end)

  it("gives the digests of the bytes so far in the middle of the body", function()
    local checked = 0
    local file, path, res = stream(function(f, bytes, path)
      if bytes < SIZE and checked < 3 then
        checked = checked + 1
        assert.are.equal(bytes, f:size())
        assert.are.equal(core.sha256_hex(read(path):sub(1, bytes)), f:sha256())
        assert.are.equal(inline_md5(path), f:content_md5())
      end
    end)
    assert.are.equal(200, res.status)
    assert.are.equal(3, checked)
    assert.are.equal(expected, file:sha256())
    file:close()
    assert.are.equal(expected, core.sha256_hex(read(path)))
  end)

  it("follows a truncate and a write from the callback", function()
    local done = false
    local file, path, res = stream(function(f, bytes)
      if not done and bytes >= SIZE / 2 then
        done = true
        assert.is_true(f:truncate(1000))
        assert.is_true(f:write("inserted"))
      end
    end)
    assert.are.equal(200, res.status)
    local content = read(path)
    assert.are.equal(#content, file:size())
    assert.are.equal(core.sha256_hex(content), file:sha256())
    assert.are.equal(inline_md5(path), file:content_md5())
    file:close()
  end)

  it("stops cleanly when the callback closes the file", function()
    local file, _, res, failure = stream(function(f, bytes)
      if bytes >= SIZE / 3 then f:close() end
    end)
    assert.is_nil(res)
    assert.are.equal("write", failure.reason)
    assert.matches("ebadf", failure.message)
    assert.matches("closed", tostring(file))
  end)

  it("hashes one digest alone, and none when asked for none", function()
    local file = stream(nil, { sha256 = true })
    assert.are.equal(expected, file:sha256())
    file:close()
    local path
    file, path = stream(nil, { md5 = true })
    assert.are.equal(inline_md5(path), file:content_md5())
    file:close()
    file, path = stream(nil, {})
    assert.are.equal(SIZE, file:size())
    file:close()
    assert.are.equal(expected, core.sha256_hex(read(path)))
  end)

  it("releases writers collected after a streamed body", function()
    for _ = 1, 3 do stream() end                -- never closed: __gc joins and closes
    collectgarbage()
    collectgarbage()
    local file = stream()
    assert.are.equal(expected, file:sha256())
    file:close()
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

  it("and sha256_file refuse a name with a NUL byte, which would name another file", function()
    local f = assert(core.open_file(dir .. "/named", "new"))
    assert(f:write("abc"))
    f:close()
    assert.are.equal(core.sha256_hex("abc"), core.sha256_file(dir .. "/named"))
    local hex, why = core.sha256_file(dir .. "/named\0.part")
    assert.is_nil(hex)
    assert.matches("NUL byte", why)
  end)

  it("raises on a bad limit", function()
    for _, bad in ipairs { -1, 0 / 0, math.huge, 2 ^ 60 } do
      assert.has_error(function() core.read_file(dir .. "/x", bad) end)
    end
    assert.has_error(function() core.read_file(dir .. "/x") end)
  end)

  it("drops the MD5 on request and keeps the SHA-256", function()
    local f = assert(core.open_file(dir .. "/d", "new", { sha256 = true, md5 = true }))
    assert(f:write("abc"))
    assert.is_true(f:drop_md5())
    assert(f:write("def"))
    assert.is_nil(f:content_md5())
    assert.are.equal(core.sha256_hex("abcdef"), f:sha256())
    f:close()
  end)
end)

describe("core.file_type", function()
  local dir
  before_each(function() dir = files.tmpdir() end)
  after_each(function() files.remove_tree(dir) end)

  it("says what a path is, following symbolic links", function()
    write_plain(dir .. "/f", "x")
    assert(sh("mkfifo " .. dir .. "/fifo && ln -s f " .. dir .. "/link && ln -s . " .. dir .. "/here"))
    assert.are.equal("directory", core.file_type(dir))
    assert.are.equal("directory", core.file_type(dir .. "/here"))
    assert.are.equal("file", core.file_type(dir .. "/f"))
    assert.are.equal("file", core.file_type(dir .. "/link"))
    assert.are.equal("other", core.file_type(dir .. "/fifo"))
    assert.are.equal("other", core.file_type("/dev/null"))
  end)

  it("gives nil, a message naming the path and a code when there is nothing to say", function()
    for path, code in pairs { [dir .. "/absent"] = "not_found", [dir .. "/f/x"] = "enotdir",
                              [""] = "invalid", ["a\0b"] = "invalid" } do
      write_plain(dir .. "/f", "x")
      local kind, msg, got = core.file_type(path)
      assert.is_nil(kind)
      assert.are.equal(code, got, path)
      if code ~= "invalid" then assert.truthy(msg:find(path, 1, true), msg) end
    end
    assert.has_error(function() core.file_type() end)
  end)
end)
