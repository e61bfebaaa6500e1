-- One thread's work in spec/embed/threads.c: `calls` download links for
-- the emulator's seeded log.  Odd threads make them one after the other
-- (blocking calls), even ones through dcs.gather (four transfers in
-- flight at a time on the state's engine).  Then, with DCS_DEST set, each
-- thread downloads the log once into it (the file writer's hashing
-- threads, in every state at once).  Returns how many calls succeeded and
-- the first failure, if any.
local index, calls = ...
local dcs = require "dcs"

local instance, log = os.getenv("DCS_INSTANCE"), os.getenv("DCS_LOG_ID")
local client = dcs.client {
  ak = os.getenv("HUAWEICLOUD_SDK_AK"), sk = os.getenv("HUAWEICLOUD_SDK_SK"),
  project = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID"), endpoint = os.getenv("DCS_ENDPOINT"),
}

local ok, failure = 0, nil
local function check(res, err)
  if res and res.id == log and res.link:find("^https?://[^/]+/_obs/") then
    ok = ok + 1
  else
    failure = failure or tostring(err or "unexpected answer")
  end
end

local function link() return client:create_redislog_download_link(instance, log) end

if index % 2 == 1 then
  for _ = 1, calls do check(link()) end
else
  local items = {}
  for i = 1, calls do items[i] = i end
  local results = dcs.gather(items, link, { concurrency = 4 })
  for _, r in ipairs(results) do check(r.value, r.err) end
end
local dest = os.getenv("DCS_DEST")
if dest and ok > 0 then
  local res, err = link()
  if res then res, err = client:download(res.link, ("%s/thread-%d.log"):format(dest, index)) end
  if not (res and res.sha256 and #res.sha256 == 64) then
    failure = failure or ("download: " .. tostring(err))
  end
end
client:close()
return ok, failure
