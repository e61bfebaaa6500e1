-- Choosing a transport: the user's own function, and the errors for
-- transports that cannot work here.
local dcs = require "dcs"
local core = require "dcs.core"
local E = require "support.emulator"

describe("transport option", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  -- A host program's own HTTP stack would go here; this one happens to use
  -- a libcurl handle of its own.
  local function host_transport(log)
    local http = core.http()
    return function(req)
      log[#log + 1] = req
      local res, failure = http:request(req)
      if not res then return nil, failure.message end
      return res.status, res.headers, res.body
    end
  end

  it("sends every request through a user function", function()
    local log = {}
    local c = emu:client { transport = host_transport(log) }
    local res = assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert.are.equal(E.LOG_ID, res.id)
    local list = assert(c:list_redislogs(E.INSTANCE))
    assert.are.equal(3, list.total_num)
    local dir = os.tmpname()
    os.remove(dir)
    local saved = assert(c:download(res.link, dir))
    assert.are.equal(98304, saved.bytes)
    assert.are.equal(core.sha256_file(dir), saved.sha256)
    os.remove(dir)
    c:close()
    assert.are.equal(3, #log)
    assert.are.equal("POST", log[1].method)
    assert.matches("/links$", log[1].url)
    assert.matches("^SDK%-HMAC%-SHA256 ", log[1].headers.Authorization)
    assert.are.equal("", log[1].body)
    assert.matches("log_type=run", log[2].url)
  end)

  it("turns a failing function into a network error", function()
    local c = emu:client { retries = false, transport = function() return nil, "host loop is down" end }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("network", err.kind)
    assert.matches("host loop is down", err.message)
    c = emu:client { retries = false, transport = function() error("crashed") end }
    _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("network", err.kind)
    assert.matches("crashed", err.message)
  end)

  it("refuses the ngx transport outside nginx with a clear error", function()
    local c = emu:client { transport = "ngx" }
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("unsupported_phase", err.kind)
    assert.matches("needs OpenResty/nginx", err.message)
    assert.are.equal(0, #emu:requests())
  end)

  it("rejects an unknown transport name", function()
    assert.error_matches(function() emu:client { transport = "socket" } end,
      "option 'transport' must be \"curl\", \"ngx\" or a function")
    assert.error_matches(function() emu:client { transport = 42 } end, "must be a string or function")
  end)

  it("uses libcurl outside nginx by default, made on first use", function()
    local c = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = emu.url }
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    c:close()
    assert.matches("libcurl/", emu:last_request().headers["User-Agent"])
  end)
end)
