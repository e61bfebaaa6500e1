--- lua-dcs: Huawei Cloud DCS run-log SDK.
--   local dcs = require "dcs"
--   local client = dcs.client{ ak =, sk =, project =, region = }
--   local res, err = client:create_redislog_download_link(instance_id, log_id)
local core = require "dcs.core"
local client = require "dcs.client"
local errors = require "dcs.errors"

return {
  _VERSION = client.VERSION,
  client = client.new,
  sign = core.sign,          -- dcs.sign{ method, url, query, headers, body, ak, sk }
  is_error = errors.is,
  operations = require "dcs.operations",
}
