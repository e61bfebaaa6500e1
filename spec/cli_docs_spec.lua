-- What ships with dcs-logs besides the command: the man page, the bash
-- completion, their installation (make install, the rock), tools/smoke.
local E = require "support.emulator"
local cli = require "support.cli"
local files = require "support.files"
local sub = require "support.subprocess"

local ROOT, quote = sub.ROOT, sub.quote
local MAN = ROOT .. "/man/dcs-logs.1"
local COMPLETION = ROOT .. "/completion/dcs-logs.bash"

local function have(program) return sub.shell("command -v " .. program .. " >/dev/null") == 0 end

-- Other programs run without the sanitizer stage's preloaded ASan runtime.
local function shell(cmd) return sub.shell("env -u LD_PRELOAD " .. cmd) end

-- The --options a help text lists (its lines that start with an option).
local function options_in(help)
  local list = {}
  for line in help:gmatch("[^\n]+") do
    if line:find("^  %-") then
      local names = line:match("^  (%S.-)  ") or line:match("^  (%S.*)$")
      for opt in names:gmatch("%-%-[%a][%w-]*") do list[#list + 1] = opt end
    end
  end
  return list
end

local function help_of(topic)
  local _, out = cli.run(ROOT, "", "help", topic)
  return out
end

-- Every --option of `dcs-logs help` and of each command's help.
local function documented_options()
  local seen, list = {}, {}
  for _, topic in ipairs { "collect", "list", "link", "download", "fetch" } do
    for _, opt in ipairs(options_in(help_of() .. help_of(topic))) do
      if not seen[opt] then
        seen[opt] = true
        list[#list + 1] = opt
      end
    end
  end
  return list
end

-- Runs bash with the completion loaded: complete WORD... -> the candidates
local function complete(env, ...)
  local words = {}
  for i, w in ipairs { ... } do words[i] = quote(w) end
  local script = ". " .. quote(COMPLETION) .. "; COMP_WORDS=(" .. table.concat(words, " ")
    .. "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _dcs_logs; printf '%s\\n' \"${COMPREPLY[@]}\""
  local _, out = shell(("%s bash -c %s"):format(env or "", quote(script)))
  local got = {}
  for line in out:gmatch("[^\n]+") do got[#got + 1] = line end
  table.sort(got)
  return got
end

describe("dcs-logs documentation and installation", function()
  local options

  lazy_setup(function() options = documented_options() end)

  it("help mentions the options it has", function()
    local all = " " .. table.concat(options, " ") .. " "
    for _, opt in ipairs { "--json", "--quiet", "--verbose", "--debug", "--retries", "--version", "--days",
      "--dest", "--output", "--poll-interval", "--no-progress", "--all", "--parallel", "--from" } do
      assert.truthy(all:find(" " .. opt .. " ", 1, true), opt)
    end
  end)

  it("help lists every option the command takes (its flag tables)", function()
    local source = files.read(ROOT .. "/bin/dcs-logs")
    local all = " " .. table.concat(options, " ") .. " "
    local tables = { (assert(source:match("\nlocal GLOBAL_FLAGS = (%b{})"))) }
    for t in source:gmatch("\n    flags = (%b{})") do tables[#tables + 1] = t end
    assert.is_true(#tables >= 6, "flag tables found: " .. #tables)
    for _, t in ipairs(tables) do
      for name in t:gmatch('([%w]+) = "') do
        assert.truthy(all:find(" --" .. name .. " ", 1, true), "help lacks --" .. name)
      end
      for name in t:gmatch('%["([%w-]+)"%] = "') do
        assert.truthy(all:find(" --" .. name .. " ", 1, true), "help lacks --" .. name)
      end
    end
  end)

  it("help fits 80 columns", function()
    for _, topic in ipairs { false, "collect", "list", "link", "download", "fetch" } do
      for line in help_of(topic or nil):gmatch("[^\n]+") do
        assert.is_true(#line <= 80, ("help %s: %d columns: %s"):format(topic or "", #line, line))
      end
    end
  end)

  it("has a man page that formats without warnings and documents every option", function()
    local text = files.read(MAN)
    assert.matches('\n%.TH DCS%-LOGS 1 "[%d-]+" "lua%-dcs ' .. require("dcs.version"):gsub("%.", "%%.") .. '"', text)
    for _, opt in ipairs(options) do
      assert.truthy(text:find(opt:gsub("%-", "\\-"), 1, true), opt .. " is not in the man page")
    end
    for line in text:gmatch("[^\n]+") do           -- only requests man(7) and groff know
      local request = line:match("^%.(%S*)")
      if request and request ~= "\\\"" then
        assert.truthy(("TH SH SS TP PP RS RE EX EE B I BR RB BI IB IR RI br"):find("%f[%w]" .. request .. "%f[%W]"),
          line)
      end
    end
    if have("groff") then
      local status, out = shell("groff -man -Tutf8 -ww -z " .. quote(MAN) .. " 2>&1")
      assert.are.equal(0, status)
      assert.are.equal("", out)
    end
    if have("man") then
      local status, out = shell("MANWIDTH=80 man -l " .. quote(MAN) .. " 2>&1")
      assert.are.equal(0, status)
      assert.matches("^DCS%-LOGS%(1%)", out)
      assert.matches("\nEXIT STATUS\n", out)
      for line in out:gmatch("[^\n]+") do assert.is_true(#line <= 80, line) end
    end
  end)

  it("has a bash completion for commands, options and their values", function()
    local _, out = shell("bash -c " .. quote(". " .. quote(COMPLETION) .. "; complete -p dcs-logs"))
    assert.are.equal("complete -F _dcs_logs dcs-logs\n", out)
    assert.are.same({ "collect", "download", "fetch", "help", "link", "list" }, complete(nil, "dcs-logs", ""))
    assert.are.same({ "fetch" }, complete(nil, "dcs-logs", "-v", "f"))
    assert.are.same({ "0", "1", "3", "7" }, complete(nil, "dcs-logs", "fetch", "X", "--days", ""))
    assert.are.same({ "--days", "--debug", "--dest" }, complete(nil, "dcs-logs", "fetch", "X", "--d"))
    local known = {}
    for _, r in ipairs(require("dcs.regions").KNOWN) do known[#known + 1] = r end
    table.sort(known)
    assert.are.same(known, complete(nil, "dcs-logs", "--region", ""))
    -- every option a command's help shows completes after that command
    for _, cmd in ipairs { "collect", "list", "link", "download", "fetch" } do
      local offered = " " .. table.concat(complete(nil, "dcs-logs", cmd, "--"), " ") .. " "
      local expected = options_in(help_of() .. help_of(cmd))
      assert.is_true(#expected >= 18)
      for _, opt in ipairs(expected) do
        assert.truthy(offered:find(" " .. opt .. " ", 1, true), cmd .. " " .. opt)
      end
    end
  end)

  it("completes log ids from the service, with the options typed so far", function()
    local emu = E.start()
    local bin = files.tmpdir()
    local f = assert(io.open(bin .. "/dcs-logs", "w"))
    f:write("#!/bin/sh\nexec ", cli.command_line("", {}), ' "$@"\n')
    f:close()
    os.execute("chmod +x " .. bin .. "/dcs-logs")
    local env = ("PATH=%s:$PATH HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s HUAWEICLOUD_SDK_PROJECT_ID=%s")
      :format(bin, E.AK, E.SK, E.PROJECT)
    local ids = complete(env, "dcs-logs", "--endpoint", emu.url, "link", E.INSTANCE, "3ea")
    -- link takes pairs: the LOG of the second pair too, not after a LOG
    local second = complete(env, "dcs-logs", "--endpoint", emu.url, "link", E.INSTANCE, E.LOG_ID, E.INSTANCE, "")
    local after_log = complete(env, "dcs-logs", "--endpoint", emu.url, "link", E.INSTANCE, E.LOG_ID, "")
    emu:stop()
    files.remove_tree(bin)
    assert.are.equal(3, #ids)
    assert.are.equal(E.LOG_ID, ids[1])
    assert.are.equal(3, #second)
    assert.are.same({}, after_log)
  end)

  it("installs the man page and the completion with make install, and ships them in the rock", function()
    local dest = files.tmpdir()
    local status, out = shell(("make -s -C %s install DESTDIR=%s PREFIX=/usr 2>&1"):format(quote(ROOT), dest))
    assert.are.equal(0, status, out)
    assert.are.same({ "dcs-logs.1" }, files.entries(dest .. "/usr/share/man/man1"))
    assert.are.same({ "dcs-logs" }, files.entries(dest .. "/usr/share/bash-completion/completions"))
    if sub.ABI ~= "lua5.4" then return files.remove_tree(dest) end      -- the rock is built once
    local src = files.source_copy(ROOT)
    status, out = shell(("sh -c 'cd %s && luarocks --lua-version 5.4 make --deps-mode=none --tree %s/tree "
      .. "lua-dcs-scm-1.rockspec' 2>&1"):format(src, dest))
    files.remove_tree(src)
    assert.are.equal(0, status, out)
    local rock = dest .. "/tree/lib/luarocks/rocks-5.4/lua-dcs/scm-1"
    assert.are.same({ "dcs-logs.1" }, files.entries(rock .. "/man"))
    assert.are.same({ "dcs-logs.bash" }, files.entries(rock .. "/completion"))
    status, out = shell(("LUA_PATH=%s LUA_CPATH=%s %s/tree/bin/dcs-logs --version"):format(
      quote(dest .. "/tree/share/lua/5.4/?.lua;" .. dest .. "/tree/share/lua/5.4/?/init.lua;;"),
      quote(dest .. "/tree/lib/lua/5.4/?.so;;"), dest))
    files.remove_tree(dest)
    assert.are.equal(0, status)
    assert.matches("^dcs%-logs %d", out)
  end)

  it("make install and make uninstall take a DESTDIR and a PREFIX with spaces", function()
    -- a scratch copy: split, the paths would name directories in it
    local src, dest = files.source_copy(ROOT), files.tmpdir()
    local stage = dest .. "/stage dir"
    local before = files.entries(src)
    local args = ("DESTDIR=%s PREFIX=%s"):format(quote(stage), quote("/opt/lua dcs"))
    local status, out = shell(("make -s -C %s install %s 2>&1"):format(quote(src), args))
    local _, installed = sub.shell(("cd %s && find . -type f | sort"):format(quote(stage)))
    local uninstall_status, uninstall_out = shell(("make -s -C %s uninstall %s 2>&1"):format(quote(src), args))
    local _, left = sub.shell(("cd %s && find . -type f"):format(quote(stage)))
    local after = files.entries(src)
    files.remove_tree(src)
    files.remove_tree(dest)
    assert.are.equal(0, status, out)
    assert.are.equal("./opt/lua dcs/share/bash-completion/completions/dcs-logs\n"
      .. "./opt/lua dcs/share/man/man1/dcs-logs.1\n", installed)
    assert.are.equal(0, uninstall_status, uninstall_out)
    assert.are.equal("", left)
    assert.are.same(before, after)
  end)

  it("the README's luarocks install lines work as written (into a scratch tree)", function()
    if sub.ABI ~= "lua5.4" then return end              -- built once
    local readme = files.read(ROOT .. "/README.md")
    local lines = {}
    for line in readme:gmatch("(luarocks %-%-lua%-version 5%.[14] make [^`\n#]*)") do
      lines[#lines + 1] = line:gsub("%s+$", "")
    end
    assert.are.equal(2, #lines)
    for _, line in ipairs(lines) do
      local tree, src = files.tmpdir(), files.source_copy(ROOT)
      local status, out = shell(("sh -c %s 2>&1"):format(quote("cd " .. quote(src) .. " && "
        .. line:gsub(" make ", " make --tree " .. tree .. " ", 1))))
      files.remove_tree(src)
      assert.are.equal(0, status, line .. "\n" .. out)
      local version = line:match("%-%-lua%-version (5%.%d)")
      local lua = version == "5.1" and "luajit" or "lua5.4"
      status, out = shell(("-C /tmp %s -e %s 2>&1"):format(lua, quote(([[
        package.path = "%s/share/lua/%s/?.lua;%s/share/lua/%s/?/init.lua;" .. package.path
        package.cpath = "%s/lib/lua/%s/?.so;" .. package.cpath
        io.write(require("dcs")._VERSION)]]):format(tree, version, tree, version, tree, version))))
      assert.are.equal(0, status, out)
      assert.matches("^%d+%.%d+%.%d+$", out)
      -- and the command, through the wrapper LuaRocks wrote, which runs
      -- LuaRocks' interpreter for that version: for 5.1 on Debian lua5.1
      -- (lua-check pulls it in), which the command refuses with a way out
      local function command(program)
        return shell(("-C /tmp sh -c %s 2>&1"):format(quote(("eval \"$(luarocks --lua-version %s path --tree %s)\" "
          .. "&& %s --version"):format(version, tree, program))))
      end
      local _, interpreter = shell("luarocks --lua-version " .. version .. " config lua_interpreter")
      local wrapper_status, wrapper_out = command(tree .. "/bin/dcs-logs")
      if version == "5.1" then        -- with luajit, as the message says
        status, out = command(("luajit %s/lib/luarocks/rocks-5.1/lua-dcs/scm-1/bin/dcs-logs"):format(tree))
      end
      files.remove_tree(tree)
      if interpreter == "lua5.1\n" then
        assert.are.equal(1, wrapper_status, wrapper_out)
        assert.are.equal("dcs-logs: needs LuaJIT, Lua 5.3 or 5.4, not PUC Lua 5.1: run it with luajit, "
          .. "or install the Lua 5.4 rock (luarocks --lua-version 5.4 make)\n", wrapper_out)
      else
        assert.are.equal(0, wrapper_status, line .. "\n" .. wrapper_out)
        assert.matches("^dcs%-logs %d+%.%d+%.%d+ %(lua%-dcs", wrapper_out)
      end
      if version == "5.1" then
        assert.are.equal(0, status, out)
        assert.matches("^dcs%-logs %d+%.%d+%.%d+ %(lua%-dcs %S+; LuaJIT", out)
      end
    end
  end)

  it("tools/smoke skips without credentials, and runs the main job where it points", function()
    local status, out = shell("-i PATH=\"$PATH\" " .. quote(ROOT .. "/tools/smoke"))
    assert.are.equal(0, status)
    assert.matches("^smoke: skipped: set HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_REGION, "
      .. "DCS_SMOKE_INSTANCE", out)
    if sub.ABI ~= "lua5.4" then return end            -- the script is Lua 5.4
    local emu = E.start()
    status, out = shell(("%s HUAWEICLOUD_SDK_REGION=cn-north-4 DCS_SMOKE_INSTANCE=%s %s"):format(
      cli.env_for(emu, E), E.INSTANCE, quote(ROOT .. "/tools/smoke")))
    emu:stop()
    assert.are.equal(0, status, out)
    assert.matches("smoke: list: 3 log files .-smoke: link: http.-smoke: download: redis_.-smoke: ok\n$", out)
  end)
end)
