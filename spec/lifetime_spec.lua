-- Client and transport lifetime, keep-alive.
local core = require "dcs.core"
local E = require "support.emulator"

describe("lifetime", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() emu:reset() end)

  it("close is idempotent and later calls return a 'closed' error", function()
    local c = emu:client()
    assert.is_true(c:close())
    assert.is_true(c:close())
    for _, call in ipairs {
      function() return c:create_redislog_download_link(E.INSTANCE, E.LOG_ID) end,
      function() return c:list_redislogs(E.INSTANCE) end,
      function() return c:collect_redislog(E.INSTANCE) end,
    } do
      local res, err = call()
      assert.is_nil(res)
      assert.are.equal("closed", err.kind)
      assert.is_false(err.retryable)
    end
    assert.matches("closed", tostring(c))
    assert.are.equal(0, #emu:requests())
  end)

  it("closes through <close> on Lua 5.4", function()
    if not _VERSION:find("5%.4") then return pending("Lua 5.4 only") end
    local chunk = assert(load([[
      local emu = ...
      local c <close> = emu:client()
      assert(c:create_redislog_download_link("]] .. E.INSTANCE .. [[", "]] .. E.LOG_ID .. [["))
      return c
    ]]))
    local c = chunk(emu)
    assert.is_true(c.closed)
    local _, err = c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    assert.are.equal("closed", err.kind)
  end)

  it("survives garbage collection of open, closed and used clients", function()
    for i = 1, 50 do
      local c = emu:client()
      if i % 3 == 0 then assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)) end
      if i % 2 == 0 then c:close() end
      if i % 10 == 0 then collectgarbage() end
    end
    collectgarbage()
    collectgarbage()
  end)

  it("raw transport: close, __gc and __close share one idempotent destroy", function()
    local t = core.http()
    assert.matches("^dcs.core.http %(open%)", tostring(t))
    assert.is_true(t:close())
    assert.is_true(t:close())
    assert.matches("^dcs.core.http %(closed%)", tostring(t))
    local res, failure = t:request { url = emu.url .. "/_emulator/health" }
    assert.is_nil(res)
    assert.are.equal("closed", failure.kind)
    getmetatable(t).__gc(t)            -- what the collector would do after close
    getmetatable(t).__close(t)
    assert.has_error(function() t.request(nil, {}) end)
    assert.has_error(function() core.http { timeout = "x" } end)
    local h = core.http()
    assert.error_matches(function()
      h:request { method = "GET /x HTTP/1.1\r\nX-Injected: 1\r\n", url = "http://127.0.0.1:1/" }
    end, "method must be upper%-case letters")
    h:close()
  end)

  -- A log big enough for several progress calls (one per 256 KiB at most).
  local function big_link()
    local id = emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { size = 1024 * 1024 }).id
    local c = emu:client()
    local link = assert(c:create_redislog_download_link(E.INSTANCE, id)).link
    c:close()
    return link
  end

  local function temp_file()
    local path = os.tmpname()
    os.remove(path)
    return path, assert(core.open_file(path, "new"))
  end

  it("defers a close asked for inside a sink callback", function()
    local link = big_link()
    local t = core.http()
    local path, file = temp_file()
    local calls, heads = 0, 0
    local res = assert(t:request { url = link, sink = { file = file,
      head = function()
        heads = heads + 1
        t:close()                    -- must not free libcurl under its own feet
        return true
      end,
      progress = function()
        calls = calls + 1
        t:close()
      end } })
    file:close()
    os.remove(path)
    assert.are.equal(200, res.status)
    assert.are.equal(1, heads)
    assert.is_true(calls > 1)        -- during the transfer, not only at its end
    assert.matches("closed", tostring(t))
    local again, failure = t:request { url = link }
    assert.is_nil(again)
    assert.are.equal("closed", failure.kind)
  end)

  it("refuses a request from inside a sink callback", function()
    local link = big_link()
    for _, where in ipairs { "head", "progress" } do
      local t = core.http()
      local path, file = temp_file()
      local sink = { file = file, head = function() return true end }
      sink[where] = function()
        t:request { url = link }
        return true
      end
      local res, failure = t:request { url = link, sink = sink }
      file:close()
      os.remove(path)
      t:close()
      assert.is_nil(res)
      assert.are.equal("aborted", failure.kind)
      assert.are.equal("callback", failure.reason)
      assert.matches("while a request is running", failure.message)
    end
  end)

  it("fails the next write cleanly when the file is closed inside progress", function()
    local link = big_link()
    local t = core.http()
    local path, file = temp_file()
    local res, failure = t:request { url = link, sink = { file = file, head = function() return true end,
      progress = function() file:close() end } }
    t:close()
    os.remove(path)
    assert.is_nil(res)
    assert.are.equal("aborted", failure.kind)
    assert.are.equal("write", failure.reason)
    assert.matches("the file is closed %(ebadf%)", failure.message)
    assert.are.equal(200, failure.status)
    assert.is_table(failure.headers)
  end)

  it("survives garbage collection of files and handles used by a request", function()
    local link = big_link()
    for i = 1, 10 do
      local t = core.http()
      local path, file = temp_file()
      assert(t:request { url = link, sink = { file = file, progress = function()
        collectgarbage()             -- nothing the transfer uses may go away
      end } })
      os.remove(path)
      if i % 2 == 0 then file:close() end
      if i % 3 == 0 then t:close() end
    end
    collectgarbage()
    collectgarbage()
  end)
end)

describe("keep-alive", function()
  local emu
  lazy_setup(function() emu = E.start() end)
  lazy_teardown(function() emu:stop() end)

  it("sends several calls of one client over one connection", function()
    emu:reset()
    local c = emu:client()
    for _ = 1, 5 do
      assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    end
    assert(c:list_redislogs(E.INSTANCE))
    c:close()
    local reqs = emu:requests()
    assert.are.equal(6, #reqs)
    for _, r in ipairs(reqs) do assert.are.equal(reqs[1].conn, r.conn) end
  end)

  it("shares the loop's connection cache between clients", function()
    emu:reset()
    local a, b = emu:client(), emu:client()
    assert(a:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    assert(b:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    a:close()
    b:close()
    local reqs = emu:requests()
    assert.are.equal(reqs[1].conn, reqs[2].conn)
  end)

  -- The emulator must not hide keep-alive behind delayed ACKs: a reused
  -- connection answers quickly (a generous bound: loopback calls take a
  -- few ms; a Nagle stall is about 40).
  it("answers calls on a reused connection without a delayed-ACK stall", function()
    local c = emu:client()
    assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
    local times = {}
    for i = 1, 10 do
      local t0 = core.monotime()
      assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID))
      times[i] = core.monotime() - t0
    end
    c:close()
    table.sort(times)
    local median = (times[5] + times[6]) / 2
    assert.is_true(median < 0.020, ("median %.1f ms"):format(median * 1000))
  end)

  it("reports new_connections from the transport", function()
    local t = core.http()
    local first = assert(t:request { url = emu.url .. "/_emulator/health" })
    local second = assert(t:request { url = emu.url .. "/_emulator/health" })
    t:close()
    assert.are.equal(1, first.new_connections)
    assert.are.equal(0, second.new_connections)
  end)
end)
