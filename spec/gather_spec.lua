-- dcs.gather and tasks: fan-out with a cap, results in order, failures
-- isolated, the 401 stop; inside nginx on light threads over cosockets.
local cjson = require "cjson"
local E = require "support.emulator"
local N = require "support.nginx"

describe("dcs.gather inside nginx", function()
  if not N.available() then
    it("needs nginx", function() pending("nginx is not installed") end)
    return
  end
  local emu, nginx
  lazy_setup(function()
    assert(os.execute("make -s LUA=luajit >/dev/null"))
    emu = E.start()
    nginx = N.start { env = { DCS_ENDPOINT = emu.url }, server = ([[
      location = /gather {
        content_by_lua_block {
          local cjson = require "cjson"
          local dcs = require "dcs"
          local args = cjson.decode(ngx.unescape_uri(ngx.var.arg_spec))
          local client = dcs.client { ak = %q, sk = %q, project = %q, endpoint = os.getenv("DCS_ENDPOINT"),
            retries = args.retries or false }
          local results, failed = dcs.gather(args.jobs, function(job)
            return client:create_redislog_download_link(job.instance, job.log)
          end, { concurrency = args.concurrency })
          client:close()
          local out = {}
          for i, r in ipairs(results) do
            out[i] = r.ok and r.value.id or (r.err.kind .. " " .. tostring(r.err.status))
          end
          ngx.say(cjson.encode { results = out, failed = failed })
        }
      }
      location = /close {
        content_by_lua_block {
          local cjson = require "cjson"
          local dcs = require "dcs"
          local endpoint = os.getenv("DCS_ENDPOINT")
          local function client(opts)
            opts.ak, opts.sk, opts.project, opts.endpoint = %q, %q, %q, endpoint
            return dcs.client(opts)
          end
          local retries = { max = 2, base = 0.01, cap = 10 }
          local paced = client { rate_limit = 0.1, retries = false }   -- a slot every 10 s
          local paused, backing_off = client { retries = retries }, client { retries = retries }
          local log = %q
          local calls = { { paced, log }, { paced, log }, { paused, "throttled-1" },
                          { backing_off, "busy-1" } }
          local threads = {}
          for i, c in ipairs(calls) do
            threads[i] = ngx.thread.spawn(function()
              local _, err = c[1]:create_redislog_download_link(%q, c[2])
              return err and err.kind or "ok"
            end)
          end
          ngx.sleep(1)
          local t0 = ngx.now()
          for _, c in ipairs { paced, paused, backing_off } do c:close() end
          local out = {}
          for i, t in ipairs(threads) do out[i] = select(2, ngx.thread.wait(t)) end
          ngx.update_time()
          ngx.say(cjson.encode { kinds = out, waited = ngx.now() - t0 })
        }
      }
    ]]):format(E.AK, E.SK, E.PROJECT, E.AK, E.SK, E.PROJECT, E.LOG_ID, E.INSTANCE) }
  end)
  lazy_teardown(function()
    if nginx then nginx:stop() end
    emu:stop()
  end)
  before_each(function() emu:reset() end)

  local function run(spec)
    local q = cjson.encode(spec):gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
    local res = assert(nginx:get("/gather?spec=" .. q, 60))
    assert.are.equal(200, res.status, nginx:error_log():sub(-2000))
    return cjson.decode(res.body)
  end

  it("runs the same script on light threads: in order, isolated failures, capped", function()
    emu:config { latency = 0.2 }
    local out = run { jobs = E.link_jobs(20, 5), concurrency = 5 }
    assert.are.equal(20, #out.results)
    assert.are.equal(4, out.failed)
    for i, r in ipairs(out.results) do
      if i % 5 == 0 then assert.are.equal("api 404", r) else assert.are.equal(E.LOG_ID, r) end
    end
    local stats = emu:admin("GET", "/_emulator/stats")
    assert.are.equal(5, stats.peak_in_flight)      -- concurrent, and never over the cap
  end)

  it("ends light threads asleep in a 429's pause, a rate_limit slot or a back-off on close", function()
    emu:later("throttled-1", 429)
    emu:later("busy-1", 503)              -- retried after exactly its Retry-After: a 5 s back-off
    local res = assert(nginx:get("/close", 30))
    assert.are.equal(200, res.status, nginx:error_log():sub(-2000))
    local out = cjson.decode(res.body)
    assert.are.same({ "ok", "closed", "closed", "closed" }, out.kinds)
    assert.is_true(out.waited < 1, "the light threads slept on for " .. out.waited .. " s after close")
    assert.are.equal(3, #emu:requests())
  end)

  it("stops the items already started too once a gateway 401 stops the fan-out", function()
    emu:fault { match = { path_contains = "/links" }, times = 3, action = { respond = { status = 503,
      headers = { ["Retry-After"] = "1" }, json = { error_code = "DCS.5003", error_msg = "busy" } } } }
    emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = { status = 401,
      json = { error_code = "APIGW.0301", error_msg = "Incorrect IAM authentication information" } } } }
    local out = run { jobs = E.link_jobs(6), concurrency = 4, retries = { max = 2, base = 0.01, cap = 2 } }
    assert.are.equal(6, out.failed)
    assert.are.equal(4, #emu:requests())
    table.sort(out.results)
    assert.are.same({ "aborted nil", "aborted nil", "aborted nil", "aborted nil", "aborted nil", "api 401" },
      out.results)
  end)
end)
