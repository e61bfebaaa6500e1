--- lua-dcs: Huawei Cloud DCS run-log SDK.
--   local dcs = require "dcs"
--   local client = dcs.client{ ak =, sk =, project =, region = }
--   local res, err = client:create_redislog_download_link(instance_id, log_id)
-- This module assembles the client class from its parts: the API
-- operations (dcs.client) and the run-log workflow on top (dcs.runlogs).
local core = require "dcs.core"
local client = require "dcs.client"
local errors = require "dcs.errors"
local gather = require "dcs.gather"
local runlogs = require "dcs.runlogs"
local tasks = require "dcs.tasks"
local version = require "dcs.version"

if core._VERSION ~= version then
  error(("dcs: the C module dcs.core is version %s but the Lua layer is %s: rebuild dcs.core")
    :format(tostring(core._VERSION), version), 2)
end

runlogs.install(client.Client)

return {
  _VERSION = version,
  client = client.new,
  sign = core.sign,          -- dcs.sign{ method, url, query, headers, body, ak, sk }
  is_error = errors.is,
  gather = gather.gather,    -- dcs.gather(items, fn, { concurrency = }) -> results, failed
  loop = tasks.loop,         -- dcs.loop():spawn(fn), :step(timeout), :run(), :fds(), :timeout()
  operations = require "dcs.operations",
}
