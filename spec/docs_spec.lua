-- Every Lua example in README.md and examples/ runs, against the emulator.
local E = require "support.emulator"
local sub = require "support.subprocess"

local ROOT, sh_quote = sub.ROOT, sub.quote

local function lua_blocks(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  local blocks = {}
  for block in text:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = block end
  return blocks
end

describe("documentation examples", function()
  local emu, env, dir

  -- run a Lua file with the example environment -> status, output
  local function run_file(path, args)
    local cmd = ("cd %s && env -u LD_PRELOAD %s LUA_PATH=%s LUA_CPATH=%s %s %s %s 2>&1"):format(
      sh_quote(dir), env, sh_quote(sub.LUA_PATH), sh_quote(sub.LUA_CPATH), sub.LUA, sh_quote(path),
      args or "")
    return sub.shell(cmd)
  end

  lazy_setup(function()
    emu = E.start("--collect-delay 0.1")
    dir = require("support.files").tmpdir()
    env = ("DCS_ENDPOINT=%s HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s HUAWEICLOUD_SDK_PROJECT_ID=%s")
      :format(emu.url, E.AK, E.SK, E.PROJECT)
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. dir)
  end)
  before_each(function() emu:reset() end)

  it("examples/download_link.lua prints a link", function()
    local status, out = run_file(ROOT .. "/examples/download_link.lua", E.INSTANCE .. " " .. E.LOG_ID)
    assert.are.equal(0, status, out)
    assert.matches("link:%s+http://127%.0%.0%.1:%d+/_obs/", out)
  end)

  it("examples/run_log_workflow.lua collects, lists, links and downloads", function()
    local status, out = run_file(ROOT .. "/examples/run_log_workflow.lua", E.INSTANCE .. " .")
    assert.are.equal(0, status, out)
    assert.matches("1%. collect.-2%. list.-succeed.-3%. link.-4%. download.-saved %./redis_", out)
  end)

  -- The README's snippets use region = "cn-north-4"; the preamble points
  -- every client at the emulator instead (endpoint wins over region) and
  -- gives the snippets the names they use.
  local PREAMBLE = [[
    local dcs = require "dcs"
    local real_client = dcs.client
    dcs.client = function(a, b, c, d)
      if type(a) == "table" then a.endpoint = os.getenv("DCS_ENDPOINT") return real_client(a) end
      d = d or {}
      d.endpoint = os.getenv("DCS_ENDPOINT")
      return real_client(a, b, c, d)
    end
    AK, SK, PROJECT_ID = os.getenv("HUAWEICLOUD_SDK_AK"), os.getenv("HUAWEICLOUD_SDK_SK"),
      os.getenv("HUAWEICLOUD_SDK_PROJECT_ID")
    instance_id, log_id = %q, %q
    client = dcs.client { ak = AK, sk = SK, project = PROJECT_ID }
    link = assert(client:create_redislog_download_link(instance_id, log_id))
  ]]

  for i, block in ipairs(lua_blocks("README.md")) do
    if block:find("ngx%.") then
      -- nginx-only snippets run inside nginx (nginx_spec); here they must compile
      it("README.md Lua block #" .. i .. " (for nginx) compiles", function()
        assert((loadstring or load)(block))
      end)
    else
    it("README.md Lua block #" .. i .. " runs", function()
      local path = dir .. "/readme_" .. i .. ".lua"
      local f = assert(io.open(path, "w"))
      f:write(PREAMBLE:format(E.INSTANCE, E.LOG_ID), "\n", block)
      f:close()
      local status, out = run_file(path)
      assert.are.equal(0, status, out)
      assert.not_matches("stack traceback", out)       -- no uncaught error
    end)
    end
  end
end)

-- A fresh Debian 12 machine (the cloud images, the debian:12 container) has
-- no make: the README's two commands need it before they install the rest.
describe("README's Try it", function()
  it("says how to get make, which the two commands need first", function()
    local f = assert(io.open("README.md"))
    local section = f:read("*a"):match("\n## Try it.-\n## ")
    f:close()
    assert.truthy(section:find("`apt-get install make`", 1, true))
    assert.truthy(section:find("\nmake demo ", 1, true) and section:find("\nmake check ", 1, true))
  end)
end)

-- The Install section's commands run luarocks, make and a C compiler,
-- none of them on a fresh machine: its list of Debian packages names them.
describe("README's Install", function()
  it("lists the Debian packages its commands need", function()
    local f = assert(io.open("README.md"))
    local section = f:read("*a"):match("\n## Install\n(.-)\n## ")
    f:close()
    local listed = {}
    for names in section:match("Debian packages:(.-)%.\n"):gmatch("`([^`]+)`") do
      for name in names:gmatch("%S+") do listed[name] = true end
    end
    for line in section:match("```sh\n(.-)```"):gmatch("[^\n]+") do
      local program = line:match("^(%S+)")
      if program ~= "#" and program ~= "export" then
        assert.truthy(listed[program], "README's Install runs " .. program .. " but does not list its package")
      end
    end
    assert.truthy(listed.gcc, "README's Install builds C but lists no compiler")
  end)
end)

-- The README's Reliability section states the hostile suite's counts; they
-- come from the case tables themselves, so this does not depend on the
-- suite having run (it writes the same numbers to build/hostile-counts.json).
describe("README's hostile suite counts", function()
  it("are those of spec/support/hostile_cases.lua", function()
    local counts = require("support.hostile_cases").counts()
    local f = assert(io.open("README.md"))
    local readme = f:read("*a")
    f:close()
    local line = ("hostile suite: %d inputs tried, %d server faults tried, all handled")
      :format(counts.inputs, counts.faults)
    assert.truthy(readme:find(line, 1, true), "README.md lacks the line: " .. line)
    local flat = readme:gsub("%s+", " ")
    for _, phrase in ipairs { ("tries %d hostile inputs"):format(counts.inputs),
      ("tries %d server faults"):format(counts.faults) } do
      assert.truthy(flat:find(phrase, 1, true), "README.md lacks: " .. phrase)
    end
  end)
end)

-- Every option dcs.client takes has a row in the README's "Client options"
-- table, and every name there is an option.
describe("README's client options table", function()
  it("lists every option dcs.client takes, and no other", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("*a")
    f:close()
    local section = assert(readme:match("\n### Client options\n(.-)\n### "))
    local listed = {}
    for cell in section:gmatch("\n| ([^|]+) |") do
      for name in cell:gmatch("`([%w_]+)`") do listed[name] = true end
    end
    for name in pairs(require("dcs.config").OPTIONS) do
      assert.truthy(listed[name], "README's Client options lacks " .. name)
    end
    for name in pairs(listed) do
      assert.truthy(require("dcs.config").OPTIONS[name], "README lists " .. name .. ", not an option")
    end
  end)
end)

-- Every kind of error the Lua layer makes is in the README's Errors table.
describe("README's error kinds", function()
  it("name every kind the code gives an error object", function()
    local f = assert(io.open("README.md"))
    local row = assert(f:read("*a"):match("\n| `kind` | ([^\n]+)"))
    f:close()
    local p = assert(io.popen("cat lua/dcs/*.lua lua/dcs/transport/*.lua"))
    local source = p:read("*a")
    p:close()
    local kinds = 0
    for kind in source:gmatch('kind = "([%w_]+)"') do
      kinds = kinds + 1
      assert.truthy(row:find('`"' .. kind .. '"`', 1, true), "README's Errors table lacks kind " .. kind)
    end
    assert.is_true(kinds >= 12)
  end)
end)

-- The README's size of the Lua layer (Architecture) is within 5 % of
-- what lua/dcs holds.
describe("README's size of the Lua layer", function()
  it("is the line count of lua/dcs, give or take 5 %", function()
    local f = assert(io.open("README.md"))
    local figure = assert(f:read("*a"):gsub("%s+", " "):match("The Lua layer is about ([%d,]+) lines"))
    f:close()
    local p = assert(io.popen("cat lua/dcs/*.lua lua/dcs/transport/*.lua | wc -l"))
    local lines = tonumber(p:read("*a"):match("%d+"))
    p:close()
    local said = tonumber((figure:gsub(",", "")))
    assert.is_true(math.abs(said - lines) <= lines / 20, ("README says %s lines, lua/dcs has %d"):format(figure, lines))
  end)
end)

-- The README's bounds of a server-given file name (Security) are dcs.names's.
describe("README's safe file names", function()
  it("have the length and extension bounds dcs.names applies", function()
    local names = require "dcs.names"
    local f = assert(io.open("README.md"))
    local flat = f:read("*a"):gsub("%s+", " ")
    f:close()
    local phrase = ("at most %d bytes (a longer one is cut, keeping an extension of up to %d bytes)")
      :format(names.MAX_NAME, names.MAX_EXT)
    assert.truthy(flat:find(phrase, 1, true), "README.md lacks: " .. phrase)
    local long = names.from_server(("a"):rep(300) .. ".log")
    assert.are.equal(names.MAX_NAME, #long)
    assert.matches("%.log$", long)
    assert.are.equal(names.MAX_NAME, #names.from_server(("a"):rep(300) .. "." .. ("b"):rep(names.MAX_EXT + 1)))
  end)
end)

-- The README's C host (Embedding in a C host), linked with the README's own
-- link line against libdcs.a for the ABI running the specs, run with no
-- Lua file of lua-dcs on disk (LUA_PATH points nowhere).
describe("README's C host snippet", function()
  local embed = require "support.embed"
  local files = require "support.files"
  local emu, dir

  local function readme()
    local f = assert(io.open("README.md"))
    local text = f:read("*a")
    f:close()
    return text
  end

  -- The static link line of the README's sh block, for this ABI's Lua.
  local function link_line(text)
    local block = assert(text:match("```sh\n(make embed .-)```"), "README: no `make embed` sh block")
    local line = assert(block:match("\n(cc %-o host host%.c [^\n]-\\\n[^\n]*)\n"), "README: no static cc line")
    return (line:gsub("\\\n", " "):gsub("lua5%.4", embed.ABI))
  end

  -- The README's other line, against libdcs.so, for this ABI's Lua.
  local function shared_line(text)
    local block = assert(text:match("```sh\n(make embed .-)```"), "README: no `make embed` sh block")
    local line = assert(block:match("# or against libdcs%.so: (cc [^\n]*)\n"), "README: no libdcs.so cc line")
    return (line:gsub("lua5%.4", embed.ABI))
  end

  lazy_setup(function()
    embed.make("embed")
    emu = E.start()
    dir = files.tmpdir()
  end)
  lazy_teardown(function()
    emu:stop()
    files.remove_tree(dir)
  end)

  local text = readme()
  local blocks = {}
  for block in text:gmatch("```c\n(.-)```") do blocks[#blocks + 1] = block end
  it("has one", function() assert.are.equal(1, #blocks) end)
  for i, block in ipairs(blocks) do
    it("#" .. i .. " builds warning-free with the README's link line and runs", function()
      local f = assert(io.open(dir .. "/host.c", "w"))
      f:write(block)
      f:close()
      -- unset LD_PRELOAD: the ASan stage preloads its runtime into busted, not into cc
      local shell = ("unset LD_PRELOAD; export PKG_CONFIG_PATH=%s; cd %s && "):format(sh_quote(embed.dir()),
        sh_quote(dir))
      local status, out = sub.shell(shell .. ("cc -fsyntax-only -Wall -Wextra -Werror $(pkg-config --cflags dcs %s)"
        .. " host.c 2>&1"):format(embed.ABI))
      assert.are.equal(0, status, out)
      local cmd = link_line(text)
      status, out = sub.shell(shell .. cmd .. " 2>&1")
      assert.are.equal(0, status, cmd .. "\n" .. out)
      status, out = embed.run(emu, dir, { dir .. "/host" })
      assert.are.equal(0, status, out)
      assert.are.equal("lua-dcs " .. require("dcs.version") .. "\n", out)
      -- against libdcs.so, as the README's other line links: found where
      -- dcs.pc says it is, with no LD_LIBRARY_PATH
      cmd = shared_line(text):gsub("%-o host ", "-o host-shared ")
      status, out = sub.shell(shell .. cmd .. " 2>&1")
      assert.are.equal(0, status, cmd .. "\n" .. out)
      status, out = embed.run(emu, dir, { dir .. "/host-shared" })
      assert.are.equal(0, status, out)
      assert.are.equal("lua-dcs " .. require("dcs.version") .. "\n", out)
    end)
  end
end)

-- README's first command on a fresh machine, in a scratch copy of the
-- checkout.  Lua 5.4 reads LUA_PATH_5_4 and LUA_CPATH_5_4 before LUA_PATH
-- and LUA_CPATH: a user's own (another lua-dcs, say) must not win over the
-- checkout's.
describe("README's make demo", function()
  it("downloads a run log from the emulator, whatever LUA_PATH_5_4 the user has", function()
    if sub.ABI ~= "lua5.4" then return end              -- the demo is Lua 5.4's
    local files = require "support.files"
    local src = files.source_copy(ROOT)
    local status, out = sub.shell(("cd %s && { unset LD_PRELOAD; LUA_PATH_5_4='/nonexistent/?.lua' "
      .. "LUA_CPATH_5_4='/nonexistent/?.so' make -s demo\n} 2>&1"):format(sh_quote(src)))
    local _, landed = sub.shell(("ls %s/build/demo-logs"):format(sh_quote(src)))
    files.remove_tree(src)
    assert.are.equal(0, status, out)
    assert.matches("4%. download.-saved build/demo%-logs/redis_", out)
    assert.matches("^redis_[^\n]+%.log\n$", landed)
  end)
end)

-- The README's limits and defaults are the code's constants: each phrase,
-- blanks folded, must hold the figure the code has.
describe("README's figures", function()
  it("are the constants of the code they describe", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("*a"):gsub("%s+", " ")
    f:close()
    local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
    local tasks, retry = require "dcs.tasks", require "dcs.retry"
    local checks = {
      { "The (%d+) DCS regions of the official SDKs", count(require("dcs.regions").KNOWN) },
      { "one of the (%d+) DCS regions", count(require("dcs.regions").KNOWN) },
      { "cached per AK and region for the process %((%d+) pairs at most", require("dcs.request").PROJECT_CACHE_MAX },
      { "The engine opens at most (%d+) connections %(`dcs.tasks.MAX_CONNECTIONS`%)", tasks.MAX_CONNECTIONS },
      { "`dcs.tasks.STEP_BUDGET`, ([%d.]+) ms", tasks.STEP_BUDGET * 1000 },
      { "Options: `concurrency` %((%d+)%)", require("dcs.gather").DEFAULT_CONCURRENCY },
      { "at most max_files, ([%d ]+) by default", require("dcs.runlogs").MAX_FILES },
      { "`retries` | `{ max = (%d+),", retry.DEFAULT.max },
      { "`retries` | `{ max = %d+, base = ([%d.]+),", retry.DEFAULT.base },
      { "`retries` | `{ max = %d+, base = [%d.]+, cap = (%d+) }`", retry.DEFAULT.cap },
      { "with (%d+) s timeouts and never through a proxy", require("dcs.credentials").METADATA_TIMEOUT },
      { "refreshed (%d+) minutes before they expire", require("dcs.credentials").REFRESH_WINDOW / 60 },
      { "starting with a letter or digit, at most (%d+) characters", require("dcs.validate").MAX_ID },
      { "`limit` 1 to (%d+)%)", require("dcs.operations").list_redislogs.query.limit.max },
      { "API answer %(and a download's error answer%) is at most (%d+) MiB",
        require("dcs.transport").MAX_BODY / 2 ^ 20 },
    }
    for _, c in ipairs(checks) do
      local said = readme:match(c[1])
      assert.truthy(said, "README lacks: " .. c[1])
      assert.are.equal(c[2], tonumber((said:gsub(" ", ""))), c[1])
    end
  end)
end)
