-- The hostile suite: every public function against hostile inputs from a
-- caller, and every client path (DCS endpoint, IAM, ECS metadata, download
-- link) against a server that misbehaves on demand (tools/hostile-server).
-- The cases are data, in spec/support/hostile_cases.lua.
--
-- Each input case runs through libcurl and must give its outcome with
-- nothing on the wire (the server saw no connection).  Each server fault
-- runs through libcurl here and through cosockets inside one nginx (a
-- location runs the case named in the request and answers with its
-- verdict); both must give the case's outcome, never a raise, never a
-- secret, with the requests, the files left behind, the time (generous
-- bounds) and, for large or endless bodies, the Lua memory it names.
--
-- At the end it prints "hostile suite: N inputs tried, M server faults
-- tried, all handled" to stderr (M counts distinct faults; each runs on
-- both transports when nginx is there) and, after a run of every case,
-- writes the same numbers to build/hostile-counts.json.
--
-- Inside a sanitizer or valgrind run (an LD_PRELOAD of theirs) the nginx
-- half is left out: nginx runs its own uninstrumented LuaJIT.
-- DCS_HOSTILE_NGINX=0 / 1 forces it off / on (tools/check runs it once, in
-- its busted stage).  DCS_HOSTILE_VERBOSE=1 prints the memory figures.
local core = require "dcs.core"
local cjson = require "cjson"
local dcs = require "dcs"
local E = require "support.emulator"
local H = require "support.hostile_cases"
local files = require "support.files"
local N = require "support.nginx"

local SLACK = 0.005        -- clock granularity when checking that a timeout did not fire early

local function nginx_wanted()
  local forced = os.getenv("DCS_HOSTILE_NGINX")
  if forced == "0" then return false, "DCS_HOSTILE_NGINX=0" end
  if not N.available() then return false, "nginx-light and libnginx-mod-http-lua are not installed" end
  local preload = os.getenv("LD_PRELOAD") or ""
  if forced ~= "1" and (preload:find("asan", 1, true) or preload:find("vgpreload", 1, true)) then
    return false, "a sanitizer or valgrind run (nginx's LuaJIT is not instrumented)"
  end
  return true
end

local clean_env = os.getenv("HUAWEICLOUD_SDK_AK") == nil and os.getenv("HUAWEICLOUD_SDK_SK") == nil

local function one_of(v, want)
  if type(want) ~= "table" then return v == want end
  for _, w in ipairs(want) do
    if v == w then return true end
  end
  return false
end

local function sorted(list)
  local t = {}
  for i, v in ipairs(list or {}) do t[i] = v end
  table.sort(t)
  return t
end

local function secret_in(text)
  for _, s in ipairs(H.SECRETS) do
    if type(text) == "string" and text:find(s, 1, true) then return s end
  end
end

local tally = { inputs = 0, inputs_handled = 0, faults = {}, runs = { curl = 0, ngx = 0 },
  handled = { curl = 0, ngx = 0 } }
local tally_faults = 0

local NGINX_HTTP = [[
  init_by_lua_block { package.path = "%s/spec/?.lua;" .. package.path }
  client_body_buffer_size 1m;
  client_max_body_size 1m;
]]

local NGINX_SERVER = [[
    location = /hostile {
      content_by_lua_block {
        local cjson = require "cjson"
        local H = require "support.hostile_cases"
        ngx.req.read_body()
        local req = cjson.decode(ngx.req.get_body_data())
        local case = H.fault(req.name)
        local verdict = case and H.run_fault(case, req.ctx) or { raised = true, error = "no case " .. req.name }
        ngx.header["Content-Type"] = "application/json"
        ngx.say(cjson.encode(verdict))
      }
    }
]]

describe("hostile suite", function()
  local hs, tls, certs, root, nginx
  local seq = 0
  local use_nginx, why_not = nginx_wanted()

  lazy_setup(function()
    hs = E.start_hostile()
    certs = files.tmpdir()
    assert(os.execute(("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
      .. "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem 2>/dev/null"):format(certs, certs)))
    tls = E.start_hostile(("--tls-cert %s/cert.pem --tls-key %s/key.pem"):format(certs, certs))
    root = files.tmpdir()
  end)

  lazy_teardown(function()
    if nginx then nginx:stop() end
    if tls then tls:stop() end
    if hs then hs:stop() end
    os.execute("rm -rf " .. certs .. " " .. root)
    local tried = tally.inputs + tally_faults
    local handled = tally.inputs_handled + tally.handled.curl + tally.handled.ngx
    local runs = tally.inputs + tally.runs.curl + tally.runs.ngx
    local line = ("hostile suite: %d inputs tried, %d server faults tried, %s"):format(tally.inputs, tally_faults,
      handled == runs and "all handled" or ((runs - handled) .. " not handled"))
    io.stderr:write(line, "\n")
    -- only a run of every case speaks for the suite (a --filter run does not)
    if tally.inputs == #H.inputs and tally_faults == #H.faults then
      local transports = { "curl" }
      if tally.runs.ngx > 0 then transports[2] = "ngx" end
      os.execute("mkdir -p build")
      local f = io.open("build/hostile-counts.json", "w")
      if f then
        f:write(cjson.encode { inputs = tally.inputs, faults = tally_faults, transports = transports,
          fault_runs = tally.runs, all_handled = handled == runs and tried > 0 }, "\n")
        f:close()
      end
    end
  end)

  local function fresh_dir()
    seq = seq + 1
    local dir = ("%s/%d"):format(root, seq)
    assert(os.execute("mkdir -p " .. dir))
    return dir
  end

  -- ---- inputs ----

  local function check_input(case, v, ctx)
    if case.expect == "raise" then
      assert.is_true(v.raised, "did not raise")
      assert.is_string(v.error)
      assert.truthy(v.error:find(case.fn, 1, true) or v.error:find("bad argument", 1, true), v.error)
      if case.names then assert.truthy(v.error:find(case.names, 1, true), v.error) end
      assert.is_nil(secret_in(v.error), "the message quotes a secret")
    elseif case.expect == "ok" then
      assert.is_false(v.raised, tostring(v.error))
      local ok, text = pcall(cjson.encode, H.plain(v.outputs))
      assert.is_true(ok, text)
      assert.is_nil(secret_in(text), "a secret in what dcs.sign returned")
    else
      assert.is_false(v.raised, "raised: " .. tostring(v.error))
      assert.is_nil(v.res, "expected nil, err")
      assert.is_true(dcs.is_error(v.err), "not an error object: " .. tostring(v.err))
      assert.are.equal(case.expect, v.err.kind, tostring(v.err))
      assert.is_false(v.err.retryable)
      local text = tostring(v.err)
      assert.is_nil(text:find("[\r\n]"), "tostring(err) is not one line")
      assert.is_nil(secret_in(text), "the error quotes a secret")
    end
    assert.are.same(sorted(case.left), files.entries(ctx.dir))
    if case.check then case.check(v, ctx, assert) end
  end

  describe("inputs (libcurl; nothing may reach the server)", function()
    for _, case in ipairs(H.inputs) do
      it(case.name, function()
        tally.inputs = tally.inputs + 1
        hs:reset()
        local ctx = { base = hs.url, dir = fresh_dir() }
        local v = H.run_input(case, ctx)
        check_input(case, v, ctx)
        local st = hs:stats()
        assert.are.equal(0, st.connections, "a connection reached the server")
        assert.are.equal(0, st.requests, "a request reached the server")
        tally.inputs_handled = tally.inputs_handled + 1
      end)
    end
  end)

  -- ---- server faults ----

  local function plant_partial(p, ctx)
    local h = core.http { timeout = 10, proxy = "" }
    local res = assert(h:request { url = hs.url .. "/obs/f.log",
      headers = { Range = ("bytes=0-%d"):format(p.bytes - 1) } })
    h:close()
    assert.are.equal(206, res.status)
    local f = assert(io.open(ctx.dir .. "/out.log.part", "wb"))
    f:write(res.body)
    f:close()
    f = assert(io.open(ctx.dir .. "/out.log.part.meta", "wb"))
    f:write(p.sidecar or cjson.encode { validator = p.validator, total = p.total })
    f:close()
  end

  -- Sets the servers up for a case: { base, tls, dead, silent?, ..., dir, seq }.
  local function prepare(case, transport)
    hs:reset { close_connections = true }
    tls:reset { close_connections = true }
    local ctx = { base = hs.url, tls = tls.url, dead = "http://127.0.0.1:9", dir = fresh_dir(),
      seq = seq .. transport }
    if case.listener then ctx[case.listener] = hs:listener(case.listener) end
    for _, f in ipairs(case.files or {}) do hs:file(f) end
    if case.partial then plant_partial(case.partial, ctx) end
    local scripts = case.scripts
    if type(scripts) == "function" then scripts = scripts() end
    for _, s in ipairs(scripts or {}) do hs:script(s) end
    if not case.no_defaults then
      for _, s in ipairs(H.DEFAULTS[case.target] or {}) do hs:script(s) end
    end
    if case.target == "fetch" then assert(os.execute("mkdir -p " .. ctx.dir .. "/dest")) end
    hs:clear_log()
    return ctx
  end

  -- What checks may use besides the verdict.
  local function check_context(case, ctx)
    local log
    local c = setmetatable({}, { __index = function(_, k)
      if k == "served_sha256" then return hs:file_sha256(case.files[1].path).sha256 end   -- asked for
      return ctx[k]
    end })
    function c.log()
      log = log or hs:log()
      return log
    end
    function c.count_target(prefix)
      local n = 0
      for _, e in ipairs(c.log()) do
        if e.target:sub(1, #prefix) == prefix then n = n + 1 end
      end
      return n
    end
    function c.count_listener(kind)
      local n = 0
      for _, e in ipairs(c.log()) do
        if e.listener == kind then n = n + 1 end
      end
      return n
    end
    c.entries = files.entries
    c.sha256_file = core.sha256_file
    return c
  end

  local function expectation(case, transport)
    local e = {}
    for k, v in pairs(case) do e[k] = v end
    for k, v in pairs(case[transport] or {}) do e[k] = v end
    return e
  end

  local function describe_err(v)
    if v.err then return ("%s/%s: %s"):format(tostring(v.err.kind), tostring(v.err.reason), tostring(v.err.text)) end
    return cjson.encode(v.result)
  end

  local function check_fault(case, v, ctx, transport)
    local e = expectation(case, transport)
    assert.is_false(v.raised, "raised: " .. tostring(v.error))
    assert.is_nil(v.leak, "a secret in the outcome: " .. tostring(v.leak))
    if e.expect == "ok" then
      assert.is_true(v.ok, "expected a result, got " .. describe_err(v))
    else
      assert.is_false(v.ok, "expected an error, got a result: " .. describe_err(v))
      assert.is_true(v.err_is_error, "not an error object")
      assert.is_true(one_of(v.err.kind, e.expect), ("kind %s, expected %s"):format(describe_err(v),
        cjson.encode(e.expect)))
      if e.reason then
        assert.is_true(one_of(v.err.reason, e.reason), ("reason %s, expected %s"):format(describe_err(v),
          cjson.encode(e.reason)))
      end
      if e.status then assert.are.equal(e.status, v.err.status, describe_err(v)) end
      if e.retryable ~= nil then assert.are.equal(e.retryable, v.err.retryable) end
      assert.is_nil(v.err.text:find("[\r\n]"), "tostring(err) is not one line")
    end
    local t = e.time or { 0, 15 }
    assert.is_true(v.elapsed >= t[1] - SLACK and v.elapsed < t[2],
      ("took %.3f s, expected [%g, %g)"):format(v.elapsed, t[1], t[2]))
    local n = #ctx.log() + #tls:log()
    local want = type(e.requests) == "table" and e.requests or { e.requests, e.requests }
    assert.is_true(n >= want[1] and n <= want[2], ("%d requests reached the servers, expected %s"):format(n,
      want[1] == want[2] and want[1] or (want[1] .. " to " .. want[2])))
    if e.left then assert.are.same(sorted(e.left), files.entries(ctx.dir)) end
    if e.memory then
      if os.getenv("DCS_HOSTILE_VERBOSE") then
        io.stderr:write(("%s %s: alloc %.1f MiB, peak %.1f MiB, retained %.1f MiB, %.2f s\n"):format(transport,
          case.name, v.mem.alloc_kib / 1024, v.mem.peak_kib / 1024, v.mem.retained_kib / 1024, v.elapsed))
      end
      if e.memory.alloc_mib then
        assert.is_true(v.mem.alloc_kib <= e.memory.alloc_mib * 1024,
          ("allocated %.1f MiB, at most %d expected"):format(v.mem.alloc_kib / 1024, e.memory.alloc_mib))
      end
      if e.memory.peak_mib then
        assert.is_true(v.mem.peak_kib <= e.memory.peak_mib * 1024,
          ("the heap grew by %.1f MiB, at most %d expected"):format(v.mem.peak_kib / 1024, e.memory.peak_mib))
      end
      assert.is_true(v.mem.retained_kib <= 4096, ("%.1f MiB retained"):format(v.mem.retained_kib / 1024))
    end
    if e.check then e.check(v, ctx, assert) end
  end

  local function run_case(case, transport, run)
    it(case.name, function()
      if case.target == "metadata" and transport == "curl" and not clean_env then
        return pending("HUAWEICLOUD_SDK_AK/SK are set in this environment")
      end
      if not tally.faults[case.name] then
        tally.faults[case.name] = true
        tally_faults = tally_faults + 1
      end
      tally.runs[transport] = tally.runs[transport] + 1
      local ctx = prepare(case, transport)
      local wire = {}
      for k, v in pairs(ctx) do wire[k] = v end
      local v = run(case, wire)
      check_fault(case, v, check_context(case, ctx), transport)
      tally.handled[transport] = tally.handled[transport] + 1
    end)
  end

  describe("server faults through libcurl", function()
    for _, case in ipairs(H.faults) do
      run_case(case, "curl", function(c, ctx) return H.run_fault(c, ctx) end)
    end
  end)

  describe("server faults through nginx cosockets", function()
    if not use_nginx then
      it("runs inside nginx", function() pending(why_not) end)
      return
    end
    lazy_setup(function()
      assert(os.execute("make -s LUA=luajit >/dev/null"))
      nginx = N.start {
        http = NGINX_HTTP:format(require("support.subprocess").ROOT),
        server = NGINX_SERVER,
      }
    end)
    for _, case in ipairs(H.faults) do
      run_case(case, "ngx", function(c, ctx)
        local res, failure = nginx.http:request { method = "POST", url = nginx.url .. "/hostile",
          headers = { ["Content-Type"] = "application/json" }, body = cjson.encode { name = c.name, ctx = ctx },
          timeout = 60 }
        assert(res, failure and failure.message)
        assert.are.equal(200, res.status, res.body .. nginx:error_log():sub(-2000))
        return cjson.decode(res.body)
      end)
    end
  end)
end)
