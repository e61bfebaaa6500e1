-- The whole run-log job, step by step: collect today's log, wait until the
-- new file is ready, get its download link, download it.
--
--   lua5.4 examples/run_log_workflow.lua INSTANCE_ID [DEST_DIR]
--
-- Credentials: HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID;
-- DCS_ENDPOINT (e.g. the local emulator) wins over HUAWEICLOUD_SDK_REGION (default cn-north-4).
-- client:fetch_run_logs(instance_id, { dest = DEST_DIR }) does all of this in one call.
local dcs = require "dcs"

local instance_id, dest = arg[1], arg[2] or "."
if not instance_id then
  io.stderr:write("usage: lua5.4 examples/run_log_workflow.lua INSTANCE_ID [DEST_DIR]\n")
  os.exit(2)
end

local client = dcs.client {
  ak = os.getenv("HUAWEICLOUD_SDK_AK"),
  sk = os.getenv("HUAWEICLOUD_SDK_SK"),
  project = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID"),
  endpoint = os.getenv("DCS_ENDPOINT"),
  region = os.getenv("HUAWEICLOUD_SDK_REGION") or "cn-north-4",
}

local function check(ok, err)
  if ok == nil or ok == false then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
  return ok
end

-- Files already there, so the new one can be told apart.
local known = {}
for file, err in client:each_redislog(instance_id) do
  check(file, err)
  known[file.id] = true
end

print("1. collect: asking DCS for today's run log of " .. instance_id)
check(client:collect_redislog(instance_id, { query_time = 0 }))

print("2. list:    waiting for the new file to be ready")
local ready
for _ = 1, 60 do
  local list = check(client:list_redislogs(instance_id, { limit = 100 }))
  for _, file in ipairs(list.file_list) do
    if not known[file.id] then
      print(("           %s  %s"):format(file.file_name, file.status))
      if file.status == "succeed" then ready = file end
    end
  end
  if ready then break end
  client.sleep(1)
end
if not ready then check(nil, "the new log file did not become ready within 60 s") end

print("3. link:    getting the download link")
local link = check(client:create_redislog_download_link(instance_id, ready.id))
print("           " .. link.link)

print("4. download")
-- the server's file name, reduced to a safe base name (no "../", no "/"),
-- as fetch_run_logs does: a name a server chose is never trusted as a path
local name = require("dcs.names").from_server(ready.file_name, ready.id .. ".log")
local saved = check(client:download(link.link, dest .. "/" .. name))
print(("           saved %s (%d bytes, sha256 %s)"):format(saved.path, saved.bytes, saved.sha256))
client:close()
