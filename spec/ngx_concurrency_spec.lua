-- Fan-outs inside Debian's nginx (LuaJIT, lua-nginx-module) where light
-- threads meet nginx's own rules: phases without coroutines, requests
-- the downstream client aborts, a fan-out whose light threads raise.
local core = require "dcs.core"
local E = require "support.emulator"
local N = require "support.nginx"

-- PROBE(phase[, transport]): one dcs.gather of two link calls, what each
-- item got (or what raised) kept in a shared dict under "phase transport".
local HTTP = [[
  lua_shared_dict probe 1m;
  lua_check_client_abort on;
  init_by_lua_block {
    local dcs = require "dcs"
    local function client(transport)
      return dcs.client { ak = %q, sk = %q, project = %q, endpoint = os.getenv("DCS_ENDPOINT"),
        retries = false, transport = transport }
    end
    local function summary(ok, results, failed)
      if not ok then return "raised: " .. tostring(results) end
      local parts = {}
      for i, r in ipairs(results) do parts[i] = r.ok and "ok" or r.err.kind end
      return table.concat(parts, " ") .. " failed " .. tostring(failed)
    end
    function PROBE(phase, transport)
      local c = client(transport)
      local out = summary(pcall(dcs.gather, { 1, 2 }, function()
        return c:create_redislog_download_link(%q, %q)
      end))
      c:close()
      ngx.shared.probe:set(phase .. " " .. (transport or "default"), out)
    end
    function PROBE_FETCH(phase, dest)
      local c = client("curl")
      local ok, written, failed = pcall(c.fetch_run_logs, c, %q, { days = 1, dest = dest, poll_interval = 0.1,
        timeout = 10 })
      c:close()
      ngx.shared.probe:set(phase .. " fetch", not ok and ("raised: " .. tostring(written))
        or written and (#written .. " written, " .. #failed .. " failed") or ("error " .. tostring(failed)))
    end
  }
  init_worker_by_lua_block { PROBE("init_worker") PROBE("init_worker", "curl") }
]]

local SERVER = [[
    server_rewrite_by_lua_block { if ngx.var.uri == "/phases" then PROBE("server_rewrite") end }
    location = /phases {
      set_by_lua_block $probed { PROBE("set") PROBE("set", "curl") return "1" }
      header_filter_by_lua_block { PROBE("header_filter") PROBE("header_filter", "curl") }
      log_by_lua_block {
        PROBE("log") PROBE("log", "curl")
        if ngx.var.arg_dest then PROBE_FETCH("log", ngx.var.arg_dest) end
      }
      content_by_lua_block { ngx.say("probed") }
    }
    location = /slow {
      content_by_lua_block {
        ngx.header["Content-Length"] = 100000
        ngx.header["ETag"] = '"v1"'
        for _ = 1, 10 do
          ngx.print(string.rep("x", 10000))
          ngx.flush(true)
          ngx.sleep(tonumber(ngx.var.arg_pause))
        end
      }
    }
    location = /download {
      content_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { ak = "EXAMPLEAK0000000000A", sk = "s", project = "p1",
          endpoint = "http://127.0.0.1:9" }
        local link = "http://127.0.0.1:" .. ngx.var.server_port .. "/slow?pause=" .. ngx.var.arg_pause
        local results = dcs.gather({ 1, 2 }, function(i)
          return client:download(link, ngx.var.arg_path .. "-" .. i)
        end)
        client:close()
        for i, r in ipairs(results) do ngx.say(i, " ", r.ok and r.value.bytes or tostring(r.err)) end
      }
    }
    location = /stop-raises {
      content_by_lua_block {
        local dcs = require "dcs"
        local ok, results = pcall(dcs.gather, { 1, 2, 3 }, function() return nil, { kind = "api" } end,
          { concurrency = 2, stop = function() error("the stop rule raised") end })
        ngx.say(tostring(ok), " ", ok and #results or tostring(results))
      }
    }
    location = /loop {
      content_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { ak = %q, sk = %q, project = %q, endpoint = os.getenv("DCS_ENDPOINT") }
        local loop = dcs.loop()
        local task = loop:spawn(function() return client:list_redislogs(%q) end)
        if ngx.var.arg_leave then return ngx.say("left") end       -- the task, never run
        loop:run()
        local list, err = task:result()
        ngx.say(list and list.total_num or tostring(err))
      }
    }
    location = /fetch {
      content_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { ak = %q, sk = %q, project = %q, endpoint = os.getenv("DCS_ENDPOINT") }
        local written, failed = client:fetch_run_logs(%q, { days = 3, dest = ngx.var.arg_dest,
          poll_interval = 0.1, concurrency = 1 })
        client:close()
        if not written then return ngx.say("error ", tostring(failed)) end
        local kinds = {}
        for i, f in ipairs(failed) do kinds[i] = f.error.kind end
        ngx.say(#written, " written, failed: ", table.concat(kinds, " "))
      }
    }
    location = /jitter {
      content_by_lua_block {
        local retry = require "dcs.retry"
        ngx.say(retry.delay({ max = 5, base = 1, cap = 20 }, 3, { retryable = true }))
      }
    }
    location = /paced {
      content_by_lua_block {
        local dcs = require "dcs"
        local client = dcs.client { ak = %q, sk = %q, project = %q, endpoint = os.getenv("DCS_ENDPOINT"),
          rate_limit = 5000 }
        local _, failed = dcs.gather({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, function()
          return client:create_redislog_download_link(%q, %q)
        end, { concurrency = 16 })
        client:close()
        ngx.say("failed ", failed)
      }
    }
    location = /probe {
      content_by_lua_block { ngx.say(ngx.shared.probe:get(ngx.unescape_uri(ngx.var.arg_key)) or "none") }
    }
]]

describe("fan-outs inside nginx", function()
  if not N.available() then
    it("needs nginx-light and libnginx-mod-http-lua", function() pending("nginx is not installed") end)
    return
  end

  local emu, nginx
  lazy_setup(function()
    assert(os.execute("make -s LUA=luajit >/dev/null"))
    emu = E.start("--collect-delay 0.1")
    nginx = N.start {
      env = { DCS_ENDPOINT = emu.url },
      http = HTTP:format(E.AK, E.SK, E.PROJECT, E.INSTANCE, E.LOG_ID, E.INSTANCE),
      server = SERVER:format(E.AK, E.SK, E.PROJECT, E.INSTANCE, E.AK, E.SK, E.PROJECT, E.INSTANCE,
        E.AK, E.SK, E.PROJECT, E.INSTANCE, E.LOG_ID),
    }
  end)
  local hung = false
  lazy_teardown(function()
    -- a worker stuck in a loop never takes the QUIT: it is killed first
    if hung then os.execute("pkill -KILL -P $(cat " .. nginx.pid_file .. ")") end
    if nginx then nginx:stop() end
    emu:stop()
  end)
  before_each(function() emu:reset() end)

  -- What a phase's probe kept, once it ran (log_by_lua runs after the answer).
  local function probe(key)
    local body
    for _ = 1, 100 do
      body = assert(nginx:get("/probe?key=" .. key:gsub(" ", "%%20"))).body
      if body ~= "none\n" then return body end
      core.sleep(0.05)
    end
    return body
  end

  it("runs dcs.gather in the phases without coroutines, one item at a time, never raising", function()
    assert.are.equal("probed\n", assert(nginx:get("/phases")).body)
    for _, phase in ipairs { "init_worker", "set", "header_filter", "log" } do
      -- cosockets: each item says so; the blocking transport, chosen on purpose, works
      assert.are.equal("unsupported_phase unsupported_phase failed 2\n", probe(phase .. " default"), phase)
      assert.are.equal("ok ok failed 0\n", probe(phase .. " curl"), phase)
    end
  end)

  it("calls through cosockets in server_rewrite_by_lua, as in rewrite_by_lua", function()
    assert.are.equal("probed\n", assert(nginx:get("/phases")).body)
    assert.are.equal("ok ok failed 0\n", probe("server_rewrite default"))
  end)

  it("runs fetch_run_logs with the blocking transport in log_by_lua", function()
    local dest = nginx.dir .. "/fetched"
    os.execute("mkdir -p " .. dest)
    assert.are.equal("probed\n", assert(nginx:get("/phases?dest=" .. dest)).body)
    assert.are.equal("1 written, 0 failed\n", probe("log fetch"))
  end)

  it("lets a later download have a partial file whose request the downstream client aborted", function()
    -- the aborted request's light threads are killed in the middle of
    -- their downloads: nothing of theirs runs again to close the files
    local path = nginx.dir .. "/aborted"
    assert.is_nil(nginx:get("/download?pause=0.2&path=" .. path, 0.5))
    core.sleep(0.3)
    local res = assert(nginx:get("/download?pause=0.001&path=" .. path, 10))
    assert.are.equal("1 100000\n2 100000\n", res.body)
  end)

  it("raises what a fan-out's light thread raised, as outside nginx, instead of results with holes", function()
    local res = assert(nginx:get("/stop-raises"))
    assert.matches("^false .*the stop rule raised\n$", res.body)
  end)

  it("gives each request its own dcs.loop(), and lets other light threads' tasks run while it waits", function()
    -- a task another request left behind is not this request's to resume
    assert.are.equal("left\n", assert(nginx:get("/loop?leave=1")).body)
    assert.are.equal("3\n", assert(nginx:get("/loop", 5)).body)
    -- two requests in loop:run() at once (one worker): each waits in nginx
    -- while the other's task waits on its cosocket, never spinning
    emu:fault { match = { path_contains = "/redislog" }, times = 1, action = { delay = 1 } }
    local out = nginx.dir .. "/loop.out"
    os.execute(("env -u LD_PRELOAD curl -s -m 5 -o %s '%s/loop' </dev/null >/dev/null 2>&1 &"):format(out, nginx.url))
    core.sleep(0.3)
    local res = nginx:get("/loop", 5)
    hung = res == nil
    assert.are.equal("3\n", res and res.body)
    local f
    for _ = 1, 50 do
      f = io.open(out)
      if f and f:read("*a") == "3\n" then break end
      if f then f:close() f = nil end
      core.sleep(0.1)
    end
    assert.truthy(f, "the first request did not answer")
    f:close()
  end)

  it("stops fetch_run_logs' downloads at a gateway 401 to a link request", function()
    local dest = nginx.dir .. "/fetch-401"
    os.execute("mkdir -p " .. dest)
    emu:fault { match = { path_contains = "/links" }, times = 3, action = { respond = { status = 401,
      json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
    local res = assert(nginx:get("/fetch?dest=" .. dest, 30))
    assert.are.equal("0 written, failed: api aborted aborted\n", res.body)
    local links = 0
    for _, r in ipairs(emu:requests()) do
      if r.path:find("/links", 1, true) then links = links + 1 end
    end
    assert.are.equal(1, links)            -- one failed signature, not one per file
  end)

  it("draws back-off waits that differ from one nginx to another", function()
    -- nginx forks its workers from one Lua state, and LuaJIT's math.random
    -- starts from one fixed seed: each worker (each nginx) would wait the
    -- same times after the same failures, retrying in step
    local other = N.start { server = "location = /jitter { content_by_lua_block { "
      .. "ngx.say(require('dcs.retry').delay({ max = 5, base = 1, cap = 20 }, 3, { retryable = true })) } }" }
    local theirs = assert(other:get("/jitter")).body
    other:stop()
    assert.are_not.equal(theirs, assert(nginx:get("/jitter")).body)
  end)

  it("paces a fast rate_limit without sleeps under nginx's millisecond, which it warns about", function()
    assert.are.equal("failed 0\n", assert(nginx:get("/paced", 10)).body)
    local _, warnings = nginx:error_log():gsub("ngx%.sleep%(0%) called", "")
    assert.are.equal(0, warnings)
  end)
end)
