-- client:download: streaming to a temporary file, Content-Length, resume,
-- expiry, and nothing left behind on failure.
local core = require "dcs.core"
local E = require "support.emulator"
local files = require "support.files"

local tmpdir, entries, read = files.tmpdir, files.entries, files.read

describe("client:download", function()
  local emu, client, dir, expected
  lazy_setup(function()
    emu = E.start()
    client = emu:client()
    dir = tmpdir()
    -- the reference bytes, fetched with a plain GET through the raw transport
    local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
    local http = core.http()
    expected = assert(http:request { url = link }).body
    http:close()
  end)
  lazy_teardown(function()
    client:close()
    emu:stop()
    os.execute("rm -rf " .. dir)
  end)
  before_each(function()
    emu:reset()
    os.execute("rm -f " .. dir .. "/*")
  end)

  local function link_for(id)
    return assert(client:create_redislog_download_link(E.INSTANCE, id or E.LOG_ID)).link
  end

  it("writes the file and returns path, bytes and sha256", function()
    local link = link_for()
    local calls, last_done, last_total = 0, 0, nil
    local res = assert(client:download(link, dir .. "/a.log", { progress = function(done, total)
      calls = calls + 1
      assert.is_true(done > last_done)
      last_done, last_total = done, total
    end }))
    assert.are.equal(dir .. "/a.log", res.path)
    assert.are.equal(#expected, res.bytes)
    assert.are.equal(core.sha256_hex(expected), res.sha256)
    assert.are.equal(expected, read(res.path))
    assert.are.equal(0, res.resumes)
    assert.are.equal(#expected, last_done)
    assert.are.equal(#expected, last_total)
    assert.is_true(calls >= 1)                   -- at most one call per 256 KiB, and one at the end
    assert.is_true(math.type == nil or math.type(last_done) == "integer")
    assert.are.same({ "a.log" }, entries(dir))
  end)

  it("skips the checksum when asked", function()
    local res = assert(client:download(link_for(), dir .. "/n.log", { checksum = false }))
    assert.is_nil(res.sha256)
    assert.are.equal(expected, read(res.path))
  end)

  it("does not sign the pre-signed link", function()
    assert(client:download(link_for(), dir .. "/a.log"))
    local r = emu:last_request()
    assert.matches("^/_obs/", r.path)
    assert.is_nil(r.headers.Authorization)
    assert.is_nil(r.headers["X-Sdk-Date"])
    assert.is_nil(r.headers["X-Project-Id"])
  end)

  it("resumes with a Range request after a dropped connection", function()
    emu:fault { match = { path_prefix = "/_obs/" }, times = 2, action = { drop_after_bytes = 40000 } }
    local res = assert(client:download(link_for(), dir .. "/b.log"))
    assert.are.equal(2, res.resumes)
    assert.are.equal(expected, read(res.path))
    assert.are.equal(core.sha256_hex(expected), res.sha256)
    local reqs = emu:requests()
    local ranges = {}
    for _, r in ipairs(reqs) do
      if r.path:find("^/_obs/") then ranges[#ranges + 1] = r.headers.Range or "none" end
    end
    assert.are.same({ "none", "bytes=40000-", "bytes=80000-" }, ranges)
    assert.are.equal(206, reqs[#reqs].status)
    assert.are.same({ "b.log" }, entries(dir))
  end)

  it("starts over when the server answers the Range request with the whole file", function()
    emu:fault { match = { path_prefix = "/_obs/" }, times = 1, action = { drop_after_bytes = 40000 } }
    emu:fault { match = { path_prefix = "/_obs/" }, times = 1, action = { respond = {
      status = 200, headers = { ["Content-Type"] = "text/plain" }, body = expected } } }
    local res = assert(client:download(link_for(), dir .. "/r.log"))
    assert.are.equal(1, res.resumes)
    assert.are.equal(#expected, res.bytes)
    assert.are.equal(expected, read(res.path))
    assert.are.equal("bytes=40000-", emu:last_request().headers.Range)
    assert.are.equal(200, emu:last_request().status)
  end)

  it("gives up after max_resumes, keeping only the partial file a later call resumes", function()
    emu:fault { match = { path_prefix = "/_obs/" }, times = 3, action = { drop_after_bytes = 1000 } }
    local res, err = client:download(link_for(), dir .. "/c.log", { max_resumes = 2 })
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.are.equal("download", err.operation)
    assert.matches("3000 of 98304 bytes received", err.message)
    assert.are.same({ "c.log.part", "c.log.part.meta" }, entries(dir))
    -- the next call (say, the next run of a script) proves the file unchanged and resumes
    emu:admin("DELETE", "/_emulator/requests")
    local totals = {}
    res = assert(client:download(link_for(), dir .. "/c.log", { progress = function(done, total)
      totals[#totals + 1] = tostring(done) .. "/" .. tostring(total)
    end }))
    -- integer bytes, as in a fresh download: the sidecar's JSON number is
    -- not handed on as 98304.0 (lua-cjson's floats on Lua 5.3 and 5.4)
    assert.are.same({ "98304/98304" }, totals)
    assert.are.equal(expected, read(res.path))
    assert.are.equal(core.sha256_hex(expected), res.sha256)
    assert.are.same({ "c.log" }, entries(dir))
    local get = emu:requests()[2]
    assert.are.equal("bytes=3000-", get.headers.Range)
    assert.truthy(get.headers["If-Range"])
  end)

  it("does not resume when resume = false", function()
    emu:fault { match = { path_prefix = "/_obs/" }, times = 1, action = { drop_after_bytes = 1000 } }
    local res, err = client:download(link_for(), dir .. "/d.log", { resume = false })
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.are.same({}, entries(dir))
  end)

  it("reports an expired link as the OBS 403 error", function()
    emu:config { link_ttl = -1 }
    local res, err = client:download(link_for(), dir .. "/e.log")
    assert.is_nil(res)
    assert.are.equal("api", err.kind)
    assert.are.equal(403, err.status)
    assert.are.equal("AccessDenied", err.code)
    assert.are.equal("Request has expired", err.message)
    assert.is_string(err.request_id)
    assert.are.same({}, entries(dir))
  end)

  it("reports a tampered link as 403 SignatureDoesNotMatch", function()
    local link = link_for():gsub("Signature=[^&]+", "Signature=forged")
    local _, err = client:download(link, dir .. "/f.log")
    assert.are.equal(403, err.status)
    assert.are.equal("SignatureDoesNotMatch", err.code)
    assert.are.same({}, entries(dir))
  end)

  it("detects a body shorter than its Content-Length", function()
    -- a lying server: says 100 bytes, sends 10, closes
    emu:fault { match = { path_prefix = "/_obs/" }, times = -1, action = { respond = {
      status = 200, headers = { ["Content-Length"] = "100", Connection = "close" }, body = "0123456789" } } }
    local res, err = client:download(link_for(), dir .. "/g.log", { max_resumes = 0 })
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.are.same({}, entries(dir))
  end)

  it("leaves an existing file at path untouched on failure", function()
    local f = assert(io.open(dir .. "/keep.log", "wb"))
    f:write("old contents")
    f:close()
    emu:config { link_ttl = -1 }
    assert.is_nil(client:download(link_for(), dir .. "/keep.log"))
    assert.are.equal("old contents", read(dir .. "/keep.log"))
    assert.are.same({ "keep.log" }, entries(dir))
  end)

  it("stops and cleans up when progress returns false or raises", function()
    local res, err = client:download(link_for(), dir .. "/h.log", { progress = function() return false end })
    assert.is_nil(res)
    assert.are.equal("cancelled", err.kind)
    res, err = client:download(link_for(), dir .. "/h.log", { progress = function() error("boom") end })
    assert.is_nil(res)
    assert.are.equal("callback", err.kind)
    assert.matches("boom", err.message)
    assert.are.same({}, entries(dir))
  end)

  it("validates its arguments before any I/O", function()
    local cases = {
      { nil, dir .. "/x" }, { "ftp://host/x", dir .. "/x" }, { "not a url", dir .. "/x" },
      { "http://127.0.0.1:1/x", nil }, { "http://127.0.0.1:1/x", "" }, { "http://127.0.0.1:1/x", dir .. "/" },
    }
    for _, c in ipairs(cases) do
      local res, err = client:download(c[1], c[2])
      assert.is_nil(res)
      assert.are.equal("invalid_argument", err.kind)
    end
    local _, err = client:download("http://127.0.0.1:1/x", dir .. "/x", { progress = 1 })
    assert.are.equal("invalid_argument", err.kind)
    assert.are.equal(0, #emu:requests())
  end)

  it("says what is wrong with a number option, timeout included", function()
    for k, v in pairs { timeout = 0 / 0, stall_timeout = 0, min_speed = 1.5, max_bytes = -1, max_resumes = 101 } do
      local res, err = client:download(link_for(), dir .. "/x", { [k] = v })
      assert.is_nil(res)
      assert.are.equal("invalid_argument", err.kind)
      assert.matches("^" .. k .. " must be a.* from .* to .* %(got .*%)$", err.message)
    end
    local _, err = client:download(link_for(), dir .. "/x", { timeout = 1e300 })
    assert.are.equal("timeout must be a number of seconds from 0.001 to 1e+06 (got 1e+300)", err.message)
    assert.are.same({}, entries(dir))
  end)

  it("never renames the file onto a FIFO, a device or a directory at path", function()
    -- as root, -o /dev/null replaced the device node with the log file (a
    -- FIFO here: a regression must not break the machine it runs on)
    assert(os.execute("mkfifo " .. dir .. "/fifo && mkdir " .. dir .. "/sub"))
    local link = link_for()
    emu:admin("DELETE", "/_emulator/requests")
    for _, path in ipairs { dir .. "/fifo", dir .. "/sub" } do
      local res, err = client:download(link, path)
      assert.is_nil(res)
      assert.are.equal("invalid_argument", err.kind)
      assert.are.equal("path " .. path .. " exists and is not a regular file (a device, a FIFO or a directory)",
        err.message)
    end
    local still = os.execute("test -p " .. dir .. "/fifo")
    assert.is_true(still == true or still == 0)                   -- Lua 5.2+ or 5.1
    assert.are.same({ "fifo", "sub" }, entries(dir))
    assert.are.equal(0, #emu:requests())
    os.execute("rm -rf " .. dir .. "/sub")
  end)

  it("reports a directory that does not exist as an i/o error", function()
    local _, err = client:download(link_for(), dir .. "/missing/sub/x.log")
    assert.are.equal("io", err.kind)
    assert.matches("cannot create .*x%.log%.part: No such file or directory", err.message)
  end)

  it("returns a 'closed' error after close", function()
    local c = emu:client()
    local link = assert(c:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
    c:close()
    local _, err = c:download(link, dir .. "/x.log")
    assert.are.equal("closed", err.kind)
  end)

  it("uses constant memory for a large file", function()
    local id = emu:admin("POST", "/_emulator/instances/" .. E.INSTANCE .. "/logs", { size = 8 * 1024 * 1024 }).id
    collectgarbage()
    local before = collectgarbage("count")
    local res = assert(client:download(link_for(id), dir .. "/big.log"))
    local grown = collectgarbage("count") - before
    assert.are.equal(8 * 1024 * 1024, res.bytes)
    assert.is_true(grown < 1024, ("Lua heap grew by %.0f KiB"):format(grown))   -- the body never reaches Lua
  end)
end)
