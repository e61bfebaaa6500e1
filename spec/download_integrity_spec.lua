-- What a download leaves on disk when the server or the caller does the
-- unexpected: never two versions of a file spliced together, never one
-- file landing on another's partial file, nothing left behind by a
-- cancelled task or by a call that could not run.  Real servers over
-- loopback (the emulator, the hostile server).
local core = require "dcs.core"
local names = require "dcs.names"
local E = require "support.emulator"
local files = require "support.files"

local tmpdir, entries, read = files.tmpdir, files.entries, files.read

-- n bytes that differ from seed to seed
local function bytes_of(seed, n)
  local t = {}
  for i = 1, n do t[i] = string.char((i * 7 + seed * 13) % 251) end
  return table.concat(t)
end

local function empty(dir) os.execute("rm -rf " .. dir .. "/* " .. dir .. "/.[!.]*") end

describe("a download's files", function()
  local SIZE = 100000
  local A, B = bytes_of(1, SIZE), bytes_of(2, SIZE)

  it("never take the name of a download's partial file or sidecar from a server", function()
    assert.are.equal("a.log.part_", names.from_server("a.log.part"))
    assert.are.equal("a.log.part.meta_", names.from_server("a.log.part.meta"))
    assert.are.equal("x.part_", names.from_link("https://h/p/x.part?sig=1"))
    assert.are.equal("a.log", names.from_server("a.log"))
    assert.are.equal("a.partial", names.from_server("a.partial"))
  end)

  it("are named uniquely in time in proportion to the files, however many share a name", function()
    -- a listing of max_files (10 000) files of one name: each name once,
    -- without trying every earlier suffix again (8 s of CPU, in one step)
    local used, seen = {}, {}
    assert.are.equal("b-2.log", names.unique("b.log", { ["b.log"] = true }))
    assert.are.equal("a-2.log", names.unique("a-2.log", used))
    local t0 = os.clock()
    for i = 1, 10000 do
      local name = names.unique("a.log", used)
      assert.is_nil(seen[name], name)
      seen[name] = true
      if i == 1 then assert.are.equal("a.log", name) end
      if i == 2 then assert.are.equal("a-3.log", name) end      -- a-2.log was taken first
    end
    assert.are.equal("a-2-2.log", names.unique("a-2.log", used))
    assert.is_true(os.clock() - t0 < 1, "took " .. (os.clock() - t0) .. " s")
  end)

  describe("against a hostile server", function()
    local hs, client, dir
    lazy_setup(function()
      hs = E.start_hostile()
      client = require("dcs").client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = hs.url }
      dir = tmpdir()
    end)
    lazy_teardown(function()
      client:close()
      hs:stop()
      files.remove_tree(dir)
    end)
    before_each(function()
      hs:reset { close_connections = true }
      empty(dir)
    end)

    -- attempt 1: a 200 with ETag "v1", cut after 30000 bytes
    local function cut_v1()
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: "v1"\r\n\r\n'):format(SIZE) .. A:sub(1, 30000) },
        { close = true } } }
    end

    it("are never two versions spliced: a 206 with another ETag starts over", function()
      cut_v1()
      -- the server ignores If-Range and sends the rest of another version
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = ('HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\nETag: "v2"\r\n'
          .. "Content-Range: bytes 30000-%d/%d\r\n\r\n"):format(SIZE - 30000, SIZE - 1, SIZE) .. B:sub(30001) } } }
      hs:script { match = { path_prefix = "/obs/" }, times = -1, steps = {
        { send = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: "v2"\r\n\r\n'):format(SIZE) .. B } } }
      local res, err = client:download(hs.url .. "/obs/f.log", dir .. "/x.log")
      assert(res, tostring(err))
      assert.is_true(read(dir .. "/x.log") == B, "a file spliced from two versions")
      assert.are.same({ "x.log" }, entries(dir))
    end)

    it("resume, and are refused over max_bytes at once, with the length given twice", function()
      -- equal Content-Length fields (or a list of one value) are one length (RFC 9110 8.6)
      local twice = ("Content-Length: %d\r\nContent-Length: %d\r\n"):format(SIZE, SIZE)
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = 'HTTP/1.1 200 OK\r\n' .. twice .. 'ETag: "v1"\r\n\r\n' .. A:sub(1, 30000) }, { close = true } } }
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = ('HTTP/1.1 206 Partial Content\r\nContent-Length: %d\r\nETag: "v1"\r\n'
          .. "Content-Range: bytes 30000-%d/%d\r\n\r\n"):format(SIZE - 30000, SIZE - 1, SIZE) .. A:sub(30001) } } }
      local totals = {}
      local res, err = client:download(hs.url .. "/obs/f.log", dir .. "/t.log", { progress = function(_, total)
        totals[#totals + 1] = total
      end })
      assert(res, tostring(err))
      assert.are.equal(1, res.resumes)
      assert.is_true(read(dir .. "/t.log") == A)
      assert.are.same({ SIZE }, totals)
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = 'HTTP/1.1 200 OK\r\n' .. twice .. '\r\n' .. A } } }
      res, err = client:download(hs.url .. "/obs/f.log", dir .. "/u.log", { max_bytes = 1000 })
      assert.is_nil(res)
      assert.matches("the file is 100000 bytes, more than max_bytes %(1000%)", err.message)
    end)

    it("are not kept when a 206 sends more than its Content-Range", function()
      cut_v1()
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = ('HTTP/1.1 206 Partial Content\r\nETag: "v1"\r\nConnection: close\r\n'
          .. "Content-Range: bytes 30000-%d/%d\r\n\r\n"):format(SIZE - 1, SIZE) .. A:sub(30001) .. "EXTRA" },
        { close = true } } }
      local res, err = client:download(hs.url .. "/obs/f.log", dir .. "/y.log")
      assert.is_nil(res)
      assert.are.equal("long", err.reason)
      assert.matches("100005 bytes of a 100000%-byte file", err.message)
      assert.are.same({}, entries(dir))
    end)

    it("go with a cancelled task when they cannot be resumed", function()
      -- no validator: nothing to resume; 1000 bytes, then the server hangs
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"):format(SIZE) .. A:sub(1, 1000) },
        { hang = true } } }
      local loop = require("dcs.tasks").loop()
      for _, resume in ipairs { false, true } do
        local task = loop:spawn(client.download, client, hs.url .. "/obs/f.log", dir .. "/t.log", { resume = resume })
        hs:clear_log()
        local t0 = core.monotime()
        while #hs:log() == 0 and core.monotime() - t0 < 10 do loop:step(0.05) end
        for _ = 1, 4 do loop:step(0.05) end
        assert.is_false(task:done())
        assert.is_true(task:cancel())
        local _, err = task:result()
        assert.are.equal("cancelled", err.kind)
        assert.are.same({}, entries(dir))
        hs:reset { close_connections = true }
        hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
          { send = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"):format(SIZE) .. A:sub(1, 1000) },
          { hang = true } } }
      end
    end)

    it("keep a partial file a cancelled task can resume", function()
      hs:script { match = { path_prefix = "/obs/" }, times = 1, steps = {
        { send = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: "v1"\r\n\r\n'):format(SIZE) .. A:sub(1, 1000) },
        { hang = true } } }
      local loop = require("dcs.tasks").loop()
      local task = loop:spawn(client.download, client, hs.url .. "/obs/f.log", dir .. "/r.log")
      local function has_sidecar()
        for _, name in ipairs(entries(dir)) do if name == "r.log.part.meta" then return true end end
      end
      local t0 = core.monotime()
      while not has_sidecar() and core.monotime() - t0 < 10 do loop:step(0.05) end
      for _ = 1, 4 do loop:step(0.05) end                 -- the 1000 bytes after the head
      assert.is_true(task:cancel())
      assert.are.same({ "r.log.part", "r.log.part.meta" }, entries(dir))
    end)

    it("are never taken over by a second download to the same path", function()
      -- the first download: 300000 bytes (past the 256 KiB write buffer, so
      -- on disk), a pause, the rest; the second, to the same path, would
      -- truncate or replace that partial file before the first renames it
      local big = bytes_of(3, 600000)
      local loop = require("dcs.tasks").loop()
      local function partial_size()
        local f = io.open(dir .. "/s.log.part", "rb")
        local n = f and f:seek("end") or 0
        if f then f:close() end
        return n
      end
      for _, case in ipairs { { etag = true }, { etag = true, resume = false }, { etag = false } } do
        local etag = case.etag and 'ETag: "s"\r\n' or ""
        hs:script { match = { path_prefix = "/obs/first" }, times = 1, steps = {
          { send = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n"):format(#big, etag) .. big:sub(1, 300000) },
          { sleep = 1 }, { send = big:sub(300001) } } }
        hs:script { match = { path_prefix = "/obs/second" }, times = -1, steps = {
          { send = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n"):format(#big, etag) .. big:sub(1, 1000) },
          { hang = true } } }
        local first = loop:spawn(client.download, client, hs.url .. "/obs/first", dir .. "/s.log")
        local t0 = core.monotime()
        while partial_size() < 262144 and core.monotime() - t0 < 10 do loop:step(0.05) end
        local second = loop:spawn(client.download, client, hs.url .. "/obs/second", dir .. "/s.log",
          { resume = case.resume })
        while not first:done() and core.monotime() - t0 < 20 do loop:step(0.05) end
        local res, err = first:result()
        assert(res, tostring(err))
        assert.is_true(read(dir .. "/s.log") == big, "the first download renamed a file it did not write")
        assert.are.equal(core.sha256_file(dir .. "/s.log"), res.sha256)
        assert.is_true(second:done())
        local _, err2 = second:result()
        assert.are.equal("in_use", err2.reason)
        assert.are.same({ "s.log" }, entries(dir))
        empty(dir)
        hs:reset { close_connections = true }
      end
    end)

    local JSON = { { "Content-Type", "application/json" } }

    -- An API whose listing offers files named file_names, file i's link at paths[i].
    local function api(file_names, paths)
      hs:script { match = { method = "GET", path_contains = "/redislog?" }, times = 1,
        steps = { { respond = { status = 200, headers = JSON, body = '{"total_num":0,"file_list":[]}' } } } }
      local list = {}
      for i, n in ipairs(file_names) do list[i] = ('{"id":"n%d","file_name":"%s","status":"succeed"}'):format(i, n) end
      local listing = ('{"total_num":%d,"file_list":[%s]}'):format(#list, table.concat(list, ","))
      hs:script { match = { method = "GET", path_contains = "/redislog?" }, times = -1,
        steps = { { respond = { status = 200, headers = JSON, body = listing } } } }
      hs:script { match = { method = "POST", path_contains = "/redislog?" }, times = -1,
        steps = { { respond = { status = 204 } } } }
      for i, path in ipairs(paths) do
        hs:script { match = { method = "POST", path_contains = "/redislog/n" .. i .. "/links" }, times = -1,
          steps = { { respond = { status = 200, headers = JSON,
            body = ('{"id":"n%d","backup_id":"b","link":"%s%s"}'):format(i, hs.url, path) } } } }
      end
    end

    it("never land on one another's partial file, whatever the server names them", function()
      local big, small = bytes_of(1, 2 * SIZE), bytes_of(2, 5000)
      api({ "a.log", "a.log.part" }, { "/obs/a", "/obs/b" })
      -- a.log: half, a pause, the rest; a.log.part at once, meanwhile
      hs:script { match = { path_prefix = "/obs/a" }, times = -1, steps = {
        { send = ('HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: "a"\r\n\r\n'):format(#big) .. big:sub(1, SIZE) },
        { sleep = 0.5 }, { send = big:sub(SIZE + 1) } } }
      hs:script { match = { path_prefix = "/obs/b" }, times = -1, steps = { { respond = { status = 200,
        headers = { { "ETag", '"b"' } }, body = small } } } }
      local written, failed = client:fetch_run_logs(E.INSTANCE, { dest = dir, poll_interval = 0.1, timeout = 5 })
      assert(written, tostring(failed))
      assert.are.same({}, failed)
      assert.are.same({ "a.log", "a.log.part_" }, entries(dir))
      assert.are.equal(big, read(dir .. "/a.log"))
      assert.are.equal(small, read(dir .. "/a.log.part_"))
      for _, w in ipairs(written) do assert.are.equal(w.sha256, core.sha256_file(w.path)) end
    end)
  end)

  describe("against the emulator", function()
    local emu, client, dir
    lazy_setup(function()
      emu = E.start()
      client = emu:client()
      dir = tmpdir()
    end)
    lazy_teardown(function()
      client:close()
      emu:stop()
      files.remove_tree(dir)
    end)
    before_each(function()
      emu:reset()
      empty(dir)
    end)

    local function link() return assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link end

    it("are written by a download the progress function makes, at once and only then", function()
      local outer_link, inner_link = link(), link()
      emu:admin("DELETE", "/_emulator/requests")
      local inner
      local res, err = client:download(outer_link, dir .. "/q.log", { progress = function()
        if not inner then inner = { client:download(inner_link, dir .. "/other.log") } end
      end })
      assert(res, tostring(err))
      assert(inner[1], tostring(inner[2]))                 -- on an engine of its own
      assert(client:list_redislogs(E.INSTANCE))          -- a later call sends nothing else
      local gets = 0
      for _, r in ipairs(emu:requests()) do if r.path:find("^/_obs/") then gets = gets + 1 end end
      assert.are.equal(2, gets)
      assert.are.same({ "other.log", "q.log" }, entries(dir))
      assert.are.equal(read(dir .. "/q.log"), read(dir .. "/other.log"))
    end)
  end)
end)
