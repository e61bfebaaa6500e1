-- Leaves work in flight for spec/embed/lifetime.c's lua_close: a download
-- that received STALL bytes and waits for more (its .part file open, its
-- hashing threads running; the server, tools/hostile-server with the
-- stall_after trick, holds the rest), link calls the server holds (the
-- spec delays every request for SLOW_INSTANCE), and a task waiting on one
-- of them.  Returns a line saying what is in flight.
--   lifetime spec/embed/lifetime.lua DEST FILE_URL STALL SLOW_INSTANCE SLOW_LOG
local dest, file_url, stall, slow_instance, slow_log = ...
stall = tonumber(stall)
local dcs = require "dcs"

local client = dcs.client {
  ak = os.getenv("HUAWEICLOUD_SDK_AK"), sk = os.getenv("HUAWEICLOUD_SDK_SK"),
  project = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID"), endpoint = os.getenv("DCS_ENDPOINT"),
}
local loop = dcs.loop()

local received = 0
local download = loop:spawn(function()
  return client:download(file_url, dest .. "/big.log", { progress = function(done) received = done end })
end)
-- Until every byte the server sends before it stalls is in: a state, not a time.
while received < stall and not download:done() do loop:step(0.05) end
if download:done() then error("the download ended before lua_close: " .. tostring(select(2, download:result()))) end

local links = {}
for i = 1, 8 do
  links[i] = loop:spawn(function() return client:create_redislog_download_link(slow_instance, slow_log) end)
end
local joiner = loop:spawn(function() return links[1]:wait() end)
loop:step(0)
loop:step(0)
assert(not links[1]:done() and not joiner:done() and not download:done(), "a task ended")
return ("in flight: a download at %d bytes, %d link calls, %d tasks alive"):format(received, #links, loop:step(0))
