-- Get the download link of one Redis run log.
--
--   lua5.4 examples/download_link.lua INSTANCE_ID LOG_ID
--
-- Credentials come from HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK and
-- HUAWEICLOUD_SDK_PROJECT_ID; DCS_ENDPOINT (e.g. the local emulator) wins
-- over HUAWEICLOUD_SDK_REGION (default cn-north-4).
local dcs = require "dcs"

local instance_id, log_id = arg[1], arg[2]
if not (instance_id and log_id) then
  io.stderr:write("usage: lua5.4 examples/download_link.lua INSTANCE_ID LOG_ID\n")
  os.exit(2)
end

local client = dcs.client {
  ak = os.getenv("HUAWEICLOUD_SDK_AK"),
  sk = os.getenv("HUAWEICLOUD_SDK_SK"),
  project = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID"),
  endpoint = os.getenv("DCS_ENDPOINT"),
  region = os.getenv("HUAWEICLOUD_SDK_REGION") or "cn-north-4",
}

local res, err = client:create_redislog_download_link(instance_id, log_id)
client:close()
if not res then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print("log id:    " .. res.id)
print("backup id: " .. res.backup_id)
print("link:      " .. res.link)
