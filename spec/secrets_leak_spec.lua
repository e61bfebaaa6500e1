-- Secrets a hostile server echoes where the redaction did not look: each
-- test failed before its fix.
local E = require "support.emulator"
local files = require "support.files"

local TOKEN = "SecurityTokenValue0123456789abcdefSECRET"

-- Every field of an error object and tostring(err), in one string.
local function text_of(err)
  local parts = { tostring(err) }
  for k, v in pairs(err) do parts[#parts + 1] = tostring(k) .. "=" .. tostring(v) end
  return table.concat(parts, "\n")
end

describe("secrets a hostile server echoes", function()
  local emu, dir
  lazy_setup(function() emu = E.start("--collect-delay 0.2") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function()
    emu:reset()
    dir = files.tmpdir()
  end)
  after_each(function() files.remove_tree(dir) end)

  it("redacts an X-Request-Id echoing the token in a decode error", function()
    for _, respond in ipairs {
      { status = 200, body = "oops" },                -- not JSON
      { status = 200, body = "{}" },                  -- no link
      { status = 204, body = "" },                    -- a status the operation does not define
    } do
      respond.headers = { ["X-Request-Id"] = TOKEN }
      local client = emu:client { security_token = TOKEN, retries = false }
      emu:fault { match = { path_contains = "/links" }, times = 1, action = { respond = respond } }
      local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
      client:close()
      assert.are.equal("decode", err.kind)
      assert.is_string(err.request_id)
      assert.is_nil(text_of(err):find(TOKEN, 1, true), text_of(err))
    end
  end)

  it("redacts an X-Request-Id echoing the token in the on_response hook's info", function()
    local seen = {}
    local client = emu:client { security_token = TOKEN, retries = false,
      on_response = function(info) seen[#seen + 1] = info end }
    emu:fault { match = { path_contains = "/links" }, times = 1,
      action = { respond = { status = 500, body = "x", headers = { ["X-Request-Id"] = TOKEN } } } }
    local _, err = client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)
    client:close()
    assert.are.equal("api", err.kind)
    assert.are.equal(1, #seen)
    assert.is_string(seen[1].request_id)
    assert.is_nil(seen[1].request_id:find(TOKEN, 1, true))
  end)

  it("redacts the token and the SK from the XML error of a download link", function()
    local client = emu:client { security_token = TOKEN, retries = false }
    local link = assert(client:create_redislog_download_link(E.INSTANCE, E.LOG_ID)).link
    emu:fault { match = { path_contains = "/_obs/" }, times = 1, action = { respond = { status = 403,
      headers = { ["X-Request-Id"] = TOKEN },
      body = "<Error><Code>AccessDenied</Code><Message>token " .. TOKEN .. " sk " .. E.SK
        .. "</Message><RequestId>" .. TOKEN .. "</RequestId></Error>" } } }
    local _, err = client:download(link, dir .. "/x.log")
    client:close()
    assert.are.equal("api", err.kind)
    assert.are.equal("AccessDenied", err.code)
    local text = text_of(err)
    assert.is_nil(text:find(TOKEN, 1, true), text)
    assert.is_nil(text:find(E.SK, 1, true), text)
  end)
end)
