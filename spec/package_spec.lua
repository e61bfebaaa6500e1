-- The rockspec installs every module of the Lua layer and every C source,
-- so a new file can never be left out of a release; make embed builds
-- libdcs from what lua/dcs/ holds now.
local files = require "support.files"
local sub = require "support.subprocess"

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  return text
end

local function sources(pattern)
  local list = {}
  local p = io.popen("find lua csrc -type f | sort")
  for path in p:lines() do
    if path:find(pattern) then list[#list + 1] = path end
  end
  p:close()
  return list
end

describe("lua-dcs-scm-1.rockspec", function()
  local rockspec = read("lua-dcs-scm-1.rockspec")

  it("installs every Lua module under its module name", function()
    local lua = sources("%.lua$")
    assert.is_true(#lua > 10)
    for _, path in ipairs(lua) do
      local name = path:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
      local listed = rockspec:find(('["%s"] = "%s"'):format(name, path), 1, true)
      assert.truthy(listed, path .. " is not in the rockspec as " .. name)
    end
  end)

  it("gives the C core the version of lua/dcs/version.lua", function()
    local version = require "dcs.version"
    assert.truthy(rockspec:find('"DCS_VERSION=' .. version .. '"', 1, true))
    -- the release's rockspec: the same modules and sources, its own version
    local release = read("lua-dcs-" .. version .. "-1.rockspec")
    assert.truthy(release:find('version = "' .. version .. '-1"', 1, true))
    assert.truthy(release:find('tag = "v' .. version .. '"', 1, true))
    assert.are.equal(rockspec:gsub('version = "scm%-1"', ""), (release:gsub('version = "[^"]*"', "")
      :gsub('\n  tag = "[^"]*",', "")))
    assert.are.equal(version, require("dcs.core")._VERSION)
    assert.are.equal(version, require("dcs")._VERSION)
  end)

  -- LuaRocks compiles without -fvisibility=hidden (the Makefile's): what
  -- the sources do not mark hidden, the rock's module exports
  it("builds a dcs/core.so that exports luaopen_dcs_core alone and links no Lua", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src, tree = files.source_copy(sub.ROOT), files.tmpdir()
    local status, out = sub.shell(("cd %s && { unset LD_PRELOAD; luarocks --lua-version 5.4 make --deps-mode=none "
      .. "--tree %s lua-dcs-scm-1.rockspec\n} 2>&1"):format(sub.quote(src), sub.quote(tree)))
    local so = tree .. "/lib/lua/5.4/dcs/core.so"
    local _, exported = sub.shell("nm -D --defined-only " .. so .. " | awk 'NF == 3 { print $3 }'")
    local _, needed = sub.shell("readelf -d " .. so .. " | grep NEEDED")
    files.remove_tree(src)
    files.remove_tree(tree)
    assert.are.equal(0, status, out)
    assert.are.equal("luaopen_dcs_core\n", exported)
    assert.not_matches("lua", needed)
  end)

  it("builds every C source of the module", function()
    for _, path in ipairs(sources("%.c$")) do
      if path == "csrc/embed.c" then
        -- libdcs's only (make embed): dcs_preload and the Lua layer compiled in
        assert.falsy(rockspec:find('"' .. path .. '"', 1, true), path .. " must not be in dcs/core.so")
      else
        assert.truthy(rockspec:find('"' .. path .. '"', 1, true), path .. " is not in the rockspec")
      end
    end
  end)
end)

describe("the Makefile", function()
  -- make in a scratch copy of the checkout: status, output.  No LD_PRELOAD:
  -- the ASan stage preloads its runtime into busted, not into the tools.
  local function make(src, args)
    return sub.shell(("cd %s && { unset LD_PRELOAD; make -s %s\n} 2>&1"):format(sub.quote(src), args))
  end
  local function holds(path, text)
    return files.read(path):find(text, 1, true) ~= nil
  end

  it("make embed leaves out of libdcs a module removed from lua/dcs/", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src = files.source_copy(sub.ROOT)
    local probe = src .. "/lua/dcs/zz_probe.lua"
    local f = assert(io.open(probe, "w"))
    f:write("return 'zz_probe'\n")
    f:close()
    local status, out = make(src, "embed")
    assert.are.equal(0, status, out)
    assert.is_true(holds(src .. "/build/lua5.4/libdcs.a", "dcs.zz_probe"))
    -- the other files keep their dates: only the list of files changed
    os.remove(probe)
    status, out = make(src, "embed")
    local lib, so = holds(src .. "/build/lua5.4/libdcs.a", "dcs.zz_probe"),
      holds(src .. "/build/lua5.4/libdcs.so", "dcs.zz_probe")
    files.remove_tree(src)
    assert.are.equal(0, status, out)
    assert.is_false(lib, "libdcs.a still preloads the removed module")
    assert.is_false(so, "libdcs.so still preloads the removed module")
  end)

  it("make embed writes dcs.pc again for a checkout moved elsewhere, and links the example host there", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src, moved = files.source_copy(sub.ROOT), files.tmpdir()
    local status, out = make(src, "embed-host")
    assert.are.equal(0, status, out)
    -- mv keeps every date: nothing looks out of date but where the files are
    assert(os.execute(("mv %s %s/tree"):format(sub.quote(src), sub.quote(moved))))
    -- and one edit, so the host is linked again
    assert(os.execute(("touch %s/tree/lua/dcs/names.lua"):format(sub.quote(moved))))
    status, out = make(moved .. "/tree", "embed-host")
    local _, libdir = sub.shell(("PKG_CONFIG_PATH=%s/tree/build/lua5.4 pkg-config --variable=libdir dcs"):format(
      sub.quote(moved)))
    files.remove_tree(moved)
    assert.are.equal(0, status, out)
    assert.are.equal(moved .. "/tree/build/lua5.4\n", libdir)
  end)

  it("make embed builds libdcs and links the C hosts from a directory whose name has spaces", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src, parent = files.source_copy(sub.ROOT), files.tmpdir()
    local dir = parent .. "/lua dcs checkout"
    assert(os.execute(("mv %s %s"):format(sub.quote(src), sub.quote(dir))))
    local status, out = make(dir, "embed embed-host embed-tests")
    local _, built = sub.shell(("ls %s/build/lua5.4/embed"):format(sub.quote(dir)))
    files.remove_tree(sub.quote(parent))
    assert.are.equal(0, status, out)
    assert.are.equal("game-host\nlifetime\npreload\nthreads\n", built)
  end)

  -- The README's two commands on a fresh machine, with MAKEFLAGS=-j as many
  -- set it: nothing compiles before the packages are in (here the copy's
  -- tools/install-deps takes a second and leaves a mark, the compiler
  -- fails without it, and the tools the commands end with only say ok).
  it("make -j demo and make -j check install the missing packages before they build", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src = files.source_copy(sub.ROOT)
    local function script(name, body)
      local f = assert(io.open(src .. "/" .. name, "w"))
      f:write("#!/bin/sh\n", body, "\n")
      f:close()
      assert(os.execute("chmod +x " .. sub.quote(src .. "/" .. name)))
    end
    script("tools/install-deps", "sleep 1; touch deps-installed")
    script("cc-after-deps", '[ -e deps-installed ] || { echo "compiled before the packages were in" >&2; exit 1; }\n'
      .. 'exec cc "$@"')
    script("tools/demo", "echo demo ok")
    script("tools/check", "echo check ok")
    local results = {}
    for _, goal in ipairs { "demo", "check" } do
      os.remove(src .. "/deps-installed")
      local status, out = make(src, ("-j4 %s CC=%s"):format(goal, sub.quote(src .. "/cc-after-deps")))
      results[goal] = { status = status, out = out }
      make(src, "clean")
    end
    files.remove_tree(src)
    assert.are.same({ demo = { status = 0, out = "demo ok\n" }, check = { status = 0, out = "check ok\n" } },
      results)
  end)

  -- a distribution builds with its own flags (Debian: dpkg-buildflags):
  -- CPPFLAGS (-D_FORTIFY_SOURCE=2) and LDFLAGS (-Wl,-z,relro -Wl,-z,now)
  it("make and make embed build with CPPFLAGS and LDFLAGS", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src = files.source_copy(sub.ROOT)
    -- a string every file compiled with CPPFLAGS carries
    local f = assert(io.open(src .. "/probe.h", "w"))
    f:write('static const char dcs_cppflags_probe[] __attribute__((used)) = "cppflags-probe";\n')
    f:close()
    local status, out = make(src, ("all embed CPPFLAGS=%s LDFLAGS=-Wl,-z,now"):format(
      sub.quote("-include " .. src .. "/probe.h")))
    local built = {}
    for _, lib in ipairs { "dcs/core.so", "libdcs.so", "libdcs.a" } do
      local path = src .. "/build/lua5.4/" .. lib
      local _, flags = sub.shell("readelf -d " .. path .. " 2>/dev/null | grep -o 'BIND_NOW' | head -1")
      built[lib] = { probe = files.read(path):find("cppflags-probe", 1, true) ~= nil,
        now = lib ~= "libdcs.a" and flags == "BIND_NOW\n" or nil }
    end
    files.remove_tree(src)
    assert.are.equal(0, status, out)
    assert.are.same({ ["dcs/core.so"] = { probe = true, now = true }, ["libdcs.so"] = { probe = true, now = true },
      ["libdcs.a"] = { probe = true } }, built)
  end)

  -- Ubuntu's dpkg-buildflags and Fedora's rpm flags add -flto=auto: libdcs.a
  -- is one relocatable object whose hidden symbols objcopy makes local,
  -- which it cannot do to LTO objects
  it("make embed with -flto in CFLAGS builds a libdcs.a that hosts link, exporting dcs_preload alone", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src = files.source_copy(sub.ROOT)
    local status, out = make(src, "embed embed-host CFLAGS='-g -O2 -flto=auto' LDFLAGS=-flto=auto")
    local _, syms = sub.shell(("nm -g --defined-only %s/build/lua5.4/libdcs.a | awk 'NF == 3 { print $3 }'"):format(
      sub.quote(src)))
    files.remove_tree(src)
    assert.are.equal(0, status, out)
    assert.are.equal("dcs_preload\n", syms)
  end)

  -- with LTO, gcc sees across the files: what -Wall finds then counts too
  it("make builds dcs/core.so warning-free with -flto (gcc, each ABI)", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src = files.source_copy(sub.ROOT)
    local results = {}
    for _, lua in ipairs { "lua5.4", "lua5.3", "luajit" } do
      local status, out = make(src, ("all LUA=%s CC=gcc CFLAGS='-g -O2 -flto=auto -Werror'"):format(lua))
      results[lua] = status == 0 or out
    end
    files.remove_tree(src)
    assert.are.same({ ["lua5.4"] = true, ["lua5.3"] = true, luajit = true }, results)
  end)

  -- the README's system-wide install runs LuaRocks in the checkout, which
  -- builds there: csrc/*.o and dcs/core.so (a dcs/core.so shadows build/
  -- for every process with "./?.so" on its cpath)
  it("make clean leaves the checkout as it was, after make, make embed and luarocks make", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local src, tree = files.source_copy(sub.ROOT), files.tmpdir()
    local function listing()
      local paths = {}
      for path in select(2, sub.shell(("cd %s && find ."):format(sub.quote(src)))):gmatch("[^\n]+") do
        paths[path] = true
      end
      return paths
    end
    local before = listing()
    local status, out = make(src, ("all embed && luarocks --lua-version 5.4 make --deps-mode=none --tree %s "
      .. "lua-dcs-scm-1.rockspec >/dev/null && make -s clean"):format(sub.quote(tree)))
    local left = {}
    for path in pairs(listing()) do
      if not before[path] then left[#left + 1] = path end
    end
    table.sort(left)
    files.remove_tree(src)
    files.remove_tree(tree)
    assert.are.equal(0, status, out)
    assert.are.same({}, left)
  end)
end)

-- make deps (tools/install-deps) is what a fresh machine gets: every program
-- the Makefile's targets run, outside the C toolchain, comes from its list.
describe("tools/install-deps", function()
  it("installs the package of every program make check, demo, docs and bench run", function()
    local script = files.read(sub.ROOT .. "/tools/install-deps")
    local listed = {}
    for name in script:match('PKGS="(.-)"'):gmatch("%S+") do listed[name] = true end
    local package_of = {
      python3 = "python3", busted = "lua-busted", luacheck = "lua-check", luarocks = "luarocks",
      ldoc = "lua-ldoc", valgrind = "valgrind", clang = "clang", nginx = "nginx-light", openssl = "openssl",
      script = "bsdutils", groff = "groff-base", man = "man-db", ["pkg-config"] = "pkg-config",
      curl = "curl",          -- bench/download.lua's peer, curl -o
    }
    local missing = {}
    for program, package in pairs(package_of) do
      if not listed[package] then missing[#missing + 1] = program .. " (" .. package .. ")" end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)
end)
