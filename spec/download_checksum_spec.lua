-- client:download and Content-MD5: a download whose bytes do not match the
-- server's Content-MD5 fails with reason "checksum" and leaves nothing
-- behind; a matching one, or one with the checksum off, succeeds.  The MD5
-- is computed as the body streams, with the SHA-256.
local core = require "dcs.core"
local dcs = require "dcs"
local E = require "support.emulator"
local files = require "support.files"

local read, entries = files.read, files.entries

describe("client:download with Content-MD5", function()
  local hs, dir, client
  lazy_setup(function()
    hs = E.start_hostile()
    dir = files.tmpdir()
    client = dcs.client { ak = E.AK, sk = E.SK, project = E.PROJECT, endpoint = hs.url, proxy = "" }
  end)
  lazy_teardown(function()
    client:close()
    hs:stop()
    files.remove_tree(dir)
  end)
  before_each(function()
    hs:reset()
    os.execute("rm -f " .. dir .. "/*")
  end)

  -- 200 KiB of text no two pieces of which are alike.
  local numbers = {}
  for i = 1, 200 * 1024 / 8 do numbers[i] = ("%08d"):format(i) end
  local body = table.concat(numbers)

  -- The Content-MD5 of s: its MD5, base64, from the file writer itself.
  local function content_md5(s)
    local path = dir .. "/md5-scratch"
    local f = assert(core.open_file(path, "new", { md5 = true }))
    assert(f:write(s))
    local md5 = f:content_md5()
    f:close()
    os.remove(path)
    return md5
  end

  local function serve(md5, times)
    hs:script { match = { path_prefix = "/f.log" }, times = times or 1, steps = { { respond = {
      status = 200, headers = { ["Content-MD5"] = md5, ETag = '"v1"' }, body = body } } } }
    return hs.url .. "/f.log"
  end

  it("passes when the body matches", function()
    local md5 = content_md5(body)
    assert.are.equal(24, #md5)
    local res, err = client:download(serve(md5), dir .. "/f.log")
    assert.is_table(res, tostring(err))
    assert.are.equal(#body, res.bytes)
    assert.are.equal(core.sha256_hex(body), res.sha256)
    assert.are.equal(body, read(dir .. "/f.log"))
    assert.are.same({ "f.log" }, entries(dir))
  end)

  it("fails with reason checksum when it does not, leaving nothing behind", function()
    local res, err = client:download(serve(content_md5(body .. "x")), dir .. "/f.log")
    assert.is_nil(res)
    assert.are.equal("network", err.kind)
    assert.are.equal("checksum", err.reason)
    assert.are.equal("download", err.operation)
    assert.matches("Content%-MD5 does not match: the file is corrupt", err.message)
    assert.are.same({}, entries(dir))
  end)

  it("does not check with the checksum off", function()
    local res, err = client:download(serve("AAAAAAAAAAAAAAAAAAAAAA=="), dir .. "/f.log", { checksum = false })
    assert.is_table(res, tostring(err))
    assert.is_nil(res.sha256)
    assert.are.equal(body, read(dir .. "/f.log"))
  end)

  -- The 200 said what the whole file's MD5 is; the 206 that resumes it
  -- (If-Range proved it unchanged) carries none: the 200's still applies.
  local function drop_then_resume(md5)
    local head = ("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: \"v1\"\r\nContent-MD5: %s\r\n\r\n")
      :format(#body, md5)
    hs:script { match = { path_prefix = "/r.log" }, times = 1,
      steps = { { send = head .. body:sub(1, 100000) }, { close = true } } }
    hs:script { match = { path_prefix = "/r.log" }, times = 1, steps = { { respond = { status = 206,
      headers = { ["Content-Range"] = ("bytes 100000-%d/%d"):format(#body - 1, #body), ETag = '"v1"' },
      body = body:sub(100001) } } } }
    return client:download(hs.url .. "/r.log", dir .. "/r.log")
  end

  it("checks a resumed download against the first response's Content-MD5", function()
    local res, err = drop_then_resume(content_md5(body))
    assert.is_table(res, tostring(err))
    assert.are.equal(1, res.resumes)
    assert.are.equal(body, read(dir .. "/r.log"))
    res, err = drop_then_resume(content_md5("something else"))
    assert.is_nil(res)
    assert.are.equal("checksum", err.reason)
    assert.are.same({ "r.log" }, entries(dir))        -- the earlier download only
  end)
end)
