--- lua-dcs: Huawei Cloud DCS run-log SDK.
--   local dcs = require "dcs"
--   local client = dcs.client{ ak =, sk =, project =, region = }
--   local res, err = client:create_redislog_download_link(instance_id, log_id)
-- This module assembles the client class from its parts: the API
-- operations (dcs.client) and the run-log workflow on top (dcs.runlogs).
-- @module dcs
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

--- What dcs.sign takes: the request to sign and the keys.
---@class dcs.SignRequest
---@field method string e.g. "GET"
---@field url string scheme://authority/path, the path as it goes on the wire
---@field query? table<string, string|number|boolean|table> raw values; sorted and encoded here
---@field headers? table<string, string> every one is signed (but names with "_"), plus host
---@field body? string the payload (its SHA-256 is signed)
---@field ak string the access key
---@field sk string the secret key

--- The module: `local dcs = require "dcs"`.
---@class dcs
---@field _VERSION string the version of lua-dcs, e.g. "0.2.0"
---@field sign fun(req: dcs.SignRequest): table<string, string>, string, string the headers, canonical request, query
---@field operations table<string, table> the run-log API, described once (dcs.operations)
local dcs = {
  _VERSION = version,
  client = client.new,       -- dcs.client{ ak =, sk =, project =, region = } -> client
  sign = core.sign,          -- dcs.sign{ method, url, query, headers, body, ak, sk }; raises on bad input
  is_error = errors.is,
  gather = gather.gather,    -- dcs.gather(items, fn, { concurrency = }) -> results, failed
  loop = tasks.loop,         -- dcs.loop():spawn(fn), :step(timeout), :run(), :fds(), :timeout()
  operations = require "dcs.operations",
}

return dcs
