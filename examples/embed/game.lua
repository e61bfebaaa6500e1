-- The script examples/embed/host.c runs at 60 Hz.  Each tick it starts a
-- few run-log tasks (PER_TICK) and advances every task in flight with
-- dcs.loop():step(0), which does what is ready and returns at once: the
-- tick never waits on the network.
--
--   game-host examples/embed/game.lua JOBS_FILE DEST_DIR
--
-- JOBS_FILE has one "INSTANCE_ID LOG_ID" a line: a download link is made
-- for each, and the first line's log is also downloaded, into
-- DEST_DIR/LOG_ID.log.  Credentials: HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK,
-- HUAWEICLOUD_SDK_PROJECT_ID; DCS_ENDPOINT (e.g. the local emulator) wins
-- over HUAWEICLOUD_SDK_REGION (default cn-north-4).
--
-- Prints a line a task as it finishes:
--   link INSTANCE_ID LOG_ID ok id=LOG_ID       (or: link ... failed MESSAGE)
--   download LOG_ID ok bytes=N sha256=HEX      (or: download ... failed MESSAGE)
-- then "tasks N, failed M" and tick returns true.
local dcs = require "dcs"

local PER_TICK = 8

local jobs_file, dest = arg[1], arg[2]
assert(jobs_file and dest, "usage: game-host examples/embed/game.lua JOBS_FILE DEST_DIR")

local jobs = {}
for line in assert(io.open(jobs_file)):lines() do
  local instance, log = line:match("^(%S+)%s+(%S+)")
  if instance then jobs[#jobs + 1] = { instance = instance, log = log } end
end
assert(#jobs > 0, "no jobs in " .. jobs_file)

local client = dcs.client {
  ak = os.getenv("HUAWEICLOUD_SDK_AK"),
  sk = os.getenv("HUAWEICLOUD_SDK_SK"),
  project = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID"),
  endpoint = os.getenv("DCS_ENDPOINT"),
  region = os.getenv("HUAWEICLOUD_SDK_REGION") or "cn-north-4",
}
local loop = dcs.loop()

-- The task bodies: they run inside the loop, each call suspends its task.
local function link(job)
  local res, err = client:create_redislog_download_link(job.instance, job.log)
  if not res then return ("link %s %s failed %s"):format(job.instance, job.log, tostring(err)) end
  return ("link %s %s ok id=%s"):format(job.instance, job.log, tostring(res.id)), true
end

local function download(job)
  local res, err = client:create_redislog_download_link(job.instance, job.log)
  if res then res, err = client:download(res.link, ("%s/%s.log"):format(dest, job.log)) end
  if not res then return ("download %s failed %s"):format(job.log, tostring(err)) end
  return ("download %s ok bytes=%d sha256=%s"):format(job.log, res.bytes, res.sha256), true
end

local queue = { { fn = download, job = jobs[1] } }
for _, job in ipairs(jobs) do queue[#queue + 1] = { fn = link, job = job } end
local next_job, in_flight, finished, failed = 1, {}, 0, 0

-- One tick: start up to PER_TICK tasks, step the loop once, report.
local function tick()
  for _ = 1, PER_TICK do
    local q = queue[next_job]
    if not q then break end
    next_job = next_job + 1
    in_flight[#in_flight + 1] = loop:spawn(q.fn, q.job)
  end
  loop:step(0)
  local still = {}
  for _, task in ipairs(in_flight) do
    if task:done() then
      local line, ok = task:result()
      print(line)
      finished, failed = finished + 1, failed + (ok and 0 or 1)
    else
      still[#still + 1] = task
    end
  end
  in_flight = still
  if next_job > #queue and #in_flight == 0 then
    print(("tasks %d, failed %d"):format(finished, failed))
    return true
  end
  return false
end

return { tick = tick }
