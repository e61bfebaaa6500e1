-- The API reference: every public function carries lua-language-server
-- annotations (so editors complete and check calls), and `make docs`
-- builds the LDoc HTML reference that lists them.
local sub = require "support.subprocess"
local files = require "support.files"

local ROOT, quote = sub.ROOT, sub.quote

-- Every function of the public tables: the module, the client class, the
-- loop and the task -> { {owner =, name =, fn =}, ... }, sorted.
local function public_functions()
  local tasks = require "dcs.tasks"
  local list = {}
  local function add(owner, t)
    for name, fn in pairs(t) do
      if type(fn) == "function" and not name:find("^__") then           -- metamethods are not called by name
        list[#list + 1] = { owner = owner, name = name, fn = fn }
      end
    end
  end
  add("dcs", require "dcs")
  add("Client", require("dcs.client").Client)
  add("Loop", tasks.Loop)
  add("Task", tasks.Task)
  table.sort(list, function(a, b) return a.owner .. "." .. a.name < b.owner .. "." .. b.name end)
  return list
end

local function path_of(info)
  local path = info.source:sub(2)
  return path:sub(1, 1) == "/" and path or (ROOT .. "/" .. path)
end

local lines_cache = {}
local function lines_of(path)
  if not lines_cache[path] then
    local list = {}
    for line in files.read(path):gmatch("([^\n]*)\n?") do list[#list + 1] = line end
    lines_cache[path] = list
  end
  return lines_cache[path]
end

-- The comment block right above line n: its ---@param names and whether
-- it has a ---@return.
local function annotations_above(path, n)
  local lines, params, returns = lines_of(path), {}, false
  local i = n - 1
  while i >= 1 and lines[i]:find("^%s*%-%-") do
    local param = lines[i]:match("^%s*%-%-%-@param%s+([%w_.]+)")
    if param then params[param:gsub("%?$", "")] = true end
    if lines[i]:find("^%s*%-%-%-@return") then returns = true end
    i = i - 1
  end
  return params, returns, n - 1 - i
end

-- The functions that return values, by first line, from luac's listing:
-- a RETURN with values, a RETURN1 or a tail call.
local returning_cache = {}
local function returning(path)
  if not returning_cache[path] then
    local found, current = {}, nil
    local p = io.popen("luac5.4 -l -p " .. quote(path) .. " 2>&1")
    for line in p:lines() do
      local first = line:match("^function <[^:]+:(%d+),%d+>")
      if first then current = tonumber(first) elseif line:find("^main <") then current = nil end
      local op = line:match("^%s*%d+%s+%[%d+%]%s+(%u+%d?)")
      local values = op == "RETURN1" or op == "TAILCALL"
        or (op == "RETURN" and (line:find("; all out", 1, true) or tonumber(line:match("; (%d+) out")) > 0))
      if current and values then found[current] = true end
    end
    p:close()
    returning_cache[path] = found
  end
  return returning_cache[path]
end

-- What is missing from the annotations of one Lua function: a list of words.
local function missing_annotations(f)
  local info = debug.getinfo(f.fn, "Su")
  local path = path_of(info)
  local params, returns, block = annotations_above(path, info.linedefined)
  local missing = {}
  if block == 0 then return { "a doc comment" } end
  local names = {}
  for i = 1, info.nparams do
    local name = debug.getlocal(f.fn, i)
    names[name] = true
    if name ~= "self" and not params[name] then missing[#missing + 1] = "---@param " .. name end
  end
  if info.isvararg and not params["..."] then missing[#missing + 1] = "---@param ..." end
  for name in pairs(params) do
    if not names[name] and name ~= "..." then missing[#missing + 1] = "no parameter " .. name end
  end
  if returning(path)[info.linedefined] and not returns then missing[#missing + 1] = "---@return" end
  return missing
end

local function all_sources()
  local text = {}
  local p = io.popen("find " .. quote(ROOT .. "/lua/dcs") .. " -name '*.lua' | sort")
  for path in p:lines() do text[#text + 1] = files.read(path) end
  p:close()
  return table.concat(text, "\n")
end

describe("API annotations", function()
  it("annotate every public function: a ---@param per parameter, a ---@return when it returns", function()
    local list, sources = public_functions(), all_sources()
    assert.is_true(#list >= 25, "public functions found: " .. #list)
    local problems = {}
    for _, f in ipairs(list) do
      local missing
      if debug.getinfo(f.fn, "S").what == "C" then
        -- a C function is declared as a field of its class: ---@field name fun(...): ...
        missing = sources:find("\n%-%-%-@field " .. f.name .. " fun%([^\n]+%):") and {} or { "---@field fun" }
      else
        missing = missing_annotations(f)
      end
      if #missing > 0 then
        problems[#problems + 1] = ("%s.%s: %s"):format(f.owner, f.name, table.concat(missing, ", "))
      end
    end
    assert.are.same({}, problems)
  end)

  it("describe the error object as class dcs.Error with every field", function()
    local text = files.read(ROOT .. "/lua/dcs/errors.lua")
    assert.truthy(text:find("\n---@class dcs.Error\n", 1, true))
    for _, field in ipairs { "kind", "message", "operation", "status", "code", "request_id", "reason",
      "retryable", "attempts", "retry_after", "clock_skew" } do
      assert.truthy(text:find("\n%-%-%-@field " .. field .. "%??%s"), field)
    end
  end)

  it("name the classes the annotations use", function()
    local sources = all_sources()
    local declared = {}
    for name in sources:gmatch("\n%-%-%-@class ([%w_.]+)") do declared[name] = true end
    for name in sources:gmatch("[ (|<,]+(dcs%.[%u][%w_]*)") do
      assert.truthy(declared[name], name .. " is used but not declared with ---@class")
    end
  end)
end)

describe("make docs", function()
  local function have_ldoc() return sub.shell("command -v ldoc >/dev/null") == 0 end

  it("builds the HTML reference in build/docs, listing every public function", function()
    if not have_ldoc() then
      return pending("ldoc is not installed (Debian: lua-ldoc; tools/install-deps installs it)")
    end
    local status, out = sub.shell("env -u LD_PRELOAD make -s -C " .. quote(ROOT) .. " docs 2>&1")
    assert.are.equal(0, status, out)
    assert.is_nil(out:lower():find("warning", 1, true), out)
    local index = files.read(ROOT .. "/build/docs/index.html")
    local pages = {}
    for module in index:gmatch('href="modules/([%w_.]+)%.html"') do
      pages[#pages + 1] = files.read(ROOT .. "/build/docs/modules/" .. module .. ".html")
    end
    assert.is_true(#pages >= 7, "module pages linked from the index: " .. #pages)
    local anchors = {}
    for name in table.concat(pages):gmatch('<a name = "([^"]+)"') do anchors[name] = true end
    for _, f in ipairs(public_functions()) do
      local info = debug.getinfo(f.fn, "S")
      local defined = info.what == "Lua" and lines_of(path_of(info))[info.linedefined]
        :match("function%s+([%w_.:]+)%s*%(")
      local as = { f.owner .. ":" .. f.name, f.owner .. "." .. f.name, defined and defined:gsub("^M%.", "") }
      assert.truthy(anchors[as[1]] or anchors[as[2]] or (as[3] and anchors[as[3]])
        or (info.what == "C" and table.concat(pages):find('"parameter">' .. f.name .. "<", 1, true)),
        f.owner .. "." .. f.name .. " is not in the reference")
    end
    -- the copy the rock installs (copy_directories: docs), for `luarocks doc lua-dcs`
    assert.are.equal(index, files.read(ROOT .. "/docs/reference/index.html"))
  end)

  it("puts the reference in the rock, where `luarocks doc lua-dcs` finds it", function()
    if not have_ldoc() then return pending("ldoc is not installed (Debian: lua-ldoc)") end
    if sub.ABI ~= "lua5.4" then return end              -- the rock is built once
    local tree, src = files.tmpdir(), files.source_copy(ROOT)
    local status, out = sub.shell(("env -u LD_PRELOAD sh -c 'cd %s && make -s docs && luarocks --lua-version 5.4 "
      .. "make --deps-mode=none --tree %s lua-dcs-scm-1.rockspec && luarocks --lua-version 5.4 --tree %s "
      .. "doc lua-dcs --list --porcelain' 2>&1"):format(src, tree, tree))
    files.remove_tree(tree)
    files.remove_tree(src)
    assert.are.equal(0, status, out)
    assert.matches("/lib/luarocks/rocks%-5%.4/lua%-dcs/scm%-1/docs/reference/index%.html\n", out)
    assert.matches("/docs/api%.md\n", out)
  end)
end)

-- The options tables of client:download, fetch_run_logs and each_redislog:
-- the annotations' classes, and the README, name every option the code
-- takes, and no other; the defaults they give are the code's.
describe("option annotations and the README", function()
  local readme = files.read(ROOT .. "/README.md")

  local function fields(path, class)
    local text = files.read(ROOT .. path)
    local block = assert(text:match("\n%-%-%-@class " .. class:gsub("%.", "%%.") .. "\n(.-)\n\n"), class)
    local names = {}
    for name, rest in block:gmatch("%-%-%-@field ([%w_]+)%??%s+([^\n]*)") do names[name] = rest end
    return names
  end

  local function same_names(listed, taken, where)
    for name in pairs(taken) do assert.truthy(listed[name], where .. " lacks " .. name) end
    for name in pairs(listed) do assert.truthy(taken[name], where .. " names " .. name .. ", not an option") end
  end

  it("client:download: dcs.DownloadOptions and the README's Options table", function()
    local download = require "dcs.download"
    local annotated = fields("/lua/dcs/download.lua", "dcs.DownloadOptions")
    same_names(annotated, download.OPTIONS, "dcs.DownloadOptions")
    local section = assert(readme:match("\nOptions:\n\n(| option |.-)\n\n"))
    local listed, row = {}, {}
    for line in section:gmatch("[^\n]+") do
      local names, default = line:match("^|%s*([^|]-)%s*|%s*([^|]-)%s*|")
      if names and not names:find("^option") and not names:find("^%-") then
        local i = 0
        for name in names:gmatch("`([%w_]+)`") do
          listed[name] = true
          i = i + 1
          row[name] = default:find(",") and select(i, default:match("^(.-),%s*(.-)$")) or default
        end
      end
    end
    same_names(listed, download.OPTIONS, "README's download Options table")
    local shown = { [true] = "true", [false] = "false", [4 * 1024 ^ 3] = "4 GiB" }
    for name, default in pairs(download.DEFAULTS) do
      local want = shown[default] or tostring(math.floor(default))
      assert.are.equal(want, (row[name]:gsub("`", "")), "README's default of " .. name)
      assert.truthy(annotated[name]:find("(default " .. want .. ")", 1, true), "annotated default of " .. name)
    end
  end)

  it("dcs.client: dcs.ClientOptions names every option, of every type it takes", function()
    local annotated = fields("/lua/dcs/client.lua", "dcs.ClientOptions")
    local options = require("dcs.config").OPTIONS
    same_names(annotated, options, "dcs.ClientOptions")
    local spelled = { ["function"] = "fun%(", table = "table", string = "string", number = "number",
      boolean = "boolean", ["false"] = "false" }
    for name, types in pairs(options) do
      local declared = annotated[name]:match("^(%S+)")
      for t in types:gmatch("[^|]+") do
        assert.truthy(declared:find(spelled[t]) or (t == "table" and declared:find("%[%]")),
          ("dcs.ClientOptions' %s (%s) lacks the type %s"):format(name, declared, t))
      end
    end
  end)

  it("fetch_run_logs and each_redislog: their classes and the README", function()
    local runlogs = require "dcs.runlogs"
    same_names(fields("/lua/dcs/runlogs.lua", "dcs.FetchOptions"), runlogs.FETCH_OPTIONS, "dcs.FetchOptions")
    same_names(fields("/lua/dcs/runlogs.lua", "dcs.PagingOptions"), runlogs.PAGING_OPTIONS, "dcs.PagingOptions")
    local paragraph = assert(readme:match("\n`client:fetch_run_logs%(instance_id%[, opts%]%)`(.-)\n\n"))
    for name in pairs(runlogs.FETCH_OPTIONS) do
      assert.truthy(paragraph:find("`" .. name .. "[` ]"), "README's fetch_run_logs lacks " .. name)
    end
  end)
end)
