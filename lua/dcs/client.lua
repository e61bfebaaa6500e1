--- dcs.client: the client class.  Options are checked by dcs.config;
-- every operation of dcs.operations has a method that runs the request
-- pipeline (dcs.request); dcs/init.lua adds the run-log workflow.
-- @module dcs.client
local config = require "dcs.config"
local operations = require "dcs.operations"
local request = require "dcs.request"
local transports = require "dcs.transport"

local M = {}

--- The options of dcs.client (README, "Client options").
---@class dcs.ClientOptions
---@field ak? string access key (default: the credentials chain)
---@field sk? string secret key, with ak
---@field security_token? string for temporary credentials
---@field project? string project id (default: the credentials chain, else an IAM lookup by region)
---@field region? string e.g. "cn-north-4"
---@field endpoint? string instead of the region's
---@field endpoints? string[] tried in turn
---@field iam_endpoint? string for the project lookup
---@field credentials_file? string the profile file
---@field metadata_endpoint? string the ECS metadata service
---@field retries? table|false { max = 3, base = 0.2, cap = 20 }, or false for none
---@field timeout? number seconds for a whole request (default 120)
---@field connect_timeout? number seconds (default 60)
---@field ca_file? string PEM bundle to verify the server with
---@field insecure? boolean no TLS verification (test rigs only)
---@field proxy? string HTTP proxy URL; "" for none
---@field no_proxy? string comma-separated hosts that bypass the proxy
---@field user_agent? string appended to the User-Agent
---@field rate_limit? number requests per second, for every task of the client
---@field on_request? fun(info: table) hook before each attempt (README, "Hooks")
---@field on_response? fun(info: table) hook after each attempt
---@field transport? string|fun(req: table): (integer?, table|string?, string?) "curl", "ngx" or a function

--- A listing page (list_redislogs).
---@class dcs.Listing
---@field total_num integer how many files the instance has
---@field file_list dcs.LogFile[] this page's

--- A collected run-log file.
---@class dcs.LogFile
---@field id string the log id
---@field file_name? string
---@field status? string "succeed" once ready
---@field time? string the day
---@field group_name? string the shard
---@field replication_ip? string the replica
---@field backup_id? string

--- A download link (create_redislog_download_link), valid for 24 hours.
---@class dcs.DownloadLink
---@field link string the pre-signed URL: anyone who has it can download the file
---@field id? string
---@field backup_id? string

--- Options every API call takes as its last argument.
---@class dcs.CallOptions
---@field timeout? number seconds for this call
---@field retries? table|false as in dcs.client, for this call

--- The options of collect_redislog.
---@class dcs.CollectOptions: dcs.CallOptions
---@field query_time? integer 0 (today), 1, 3 or 7 days
---@field replication_id? string the replica (master/standby and cluster instances)

--- The options of list_redislogs.
---@class dcs.ListOptions: dcs.CallOptions
---@field offset? integer skip this many files
---@field limit? integer at most this many, 1 to 1000

--- A client: the API operations, the run-log workflow, downloads.
--- Runtime failures return nil, dcs.Error; only bad options raise.
---@class dcs.Client
---@field endpoint string the first endpoint
---@field project? string the project id, when known
---@field region? string
local Client = {}
Client.__index = Client

--- Makes a client: `dcs.client{ ak =, sk =, project =, region = | endpoint(s) =, ... }`
--- or `dcs.client(ak, sk, project[, opts])`.  Sends nothing; raises on bad options.
---@param ak_or_opts string|dcs.ClientOptions the options, or the access key
---@param sk? string the secret key (after an access key)
---@param project_id? string the project id (after an access key)
---@param opts? dcs.ClientOptions the other options (after an access key)
---@return dcs.Client
function M.new(ak_or_opts, sk, project_id, opts)
  local o
  if type(ak_or_opts) == "table" then
    o = ak_or_opts
  else
    if opts ~= nil and type(opts) ~= "table" then error("dcs.client: options must be a table", 2) end
    o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.ak, o.sk, o.project = ak_or_opts, sk, project_id
  end
  local c = config.resolve(o, transports.select)
  local self = setmetatable({
    endpoints = c.endpoints,
    endpoint = c.endpoints[1],
    iam_endpoint = c.iam_endpoint,
    project = c.project,
    region = c.region,
    retries = c.retries,
    timeout = c.timeout,
    connect_timeout = c.connect_timeout,
    user_agent = c.user_agent,
    on_request = c.on_request,
    on_response = c.on_response,
    rate_limit = c.rate_limit,
  }, Client)
  -- The libcurl handle is made on first use, so a client built inside nginx
  -- that only ever uses cosockets never holds one.
  request.attach(self, { provider = c.provider, selector = c.selector, redact = c.redact })
  return self
end

--- The transport for a call of this client, or nil and an error object.
Client.transport = request.transport

--- Values to redact from anything a server says (see dcs.request).
Client.secret_values = request.secret_values

--- Closes the client: its calls in flight end with errors of kind
--- "closed" (inside nginx a request already on its cosocket runs to its
--- end; nothing is sent after it).  Idempotent; also __close and __gc.
---@return true
function Client:close()
  if not self.closed then
    self.closed = true
    request.close(self)
  end
  return true
end
Client.__close = Client.close
Client.__gc = Client.close

function Client:__tostring()
  return ("dcs.client(endpoint=%s, project=%s%s)"):format(self.endpoint, tostring(self.project),
    self.closed and ", closed" or "")
end

--- client.sleep(seconds): ngx.sleep inside nginx, a yield inside a task,
--- else a blocking sleep; a host with its own scheduler may set it (and
--- monotime) on a client.
Client.sleep = transports.sleep

--- client.monotime(): seconds on a monotonic clock (CLOCK_MONOTONIC, inside nginx too).
Client.monotime = transports.monotime

-- The operations of dcs.operations, a method each (written out, so that
-- editors and the reference know their arguments); `...` keeps extra
-- arguments, which the request pipeline refuses.

--- Asks for the download link of a collected log file (CreateRedislogDownloadLink).
---@param instance_id string
---@param log_id string the file's id (client:list_redislogs)
---@param opts? dcs.CallOptions
---@param ... nil more arguments are refused (an error of kind "invalid_argument")
---@return dcs.DownloadLink? link
---@return dcs.Error? err
function Client:create_redislog_download_link(instance_id, log_id, opts, ...)
  local name = "create_redislog_download_link"
  return request.call(self, name, operations[name], instance_id, log_id, opts, ...)
end

--- Starts collecting the instance's run logs (CreateRedislog); the files
--- appear in the listing when ready (or use client:fetch_run_logs).
---@param instance_id string
---@param opts? dcs.CollectOptions
---@param ... nil more arguments are refused
---@return true? ok
---@return dcs.Error? err
function Client:collect_redislog(instance_id, opts, ...)
  return request.call(self, "collect_redislog", operations.collect_redislog, instance_id, opts, ...)
end

--- One page of the collected log files (ListRedislog); client:each_redislog walks them all.
---@param instance_id string
---@param opts? dcs.ListOptions
---@param ... nil more arguments are refused
---@return dcs.Listing? page
---@return dcs.Error? err
function Client:list_redislogs(instance_id, opts, ...)
  return request.call(self, "list_redislogs", operations.list_redislogs, instance_id, opts, ...)
end

for name, op in pairs(operations) do
  assert(op.internal or Client[name], "dcs.client: operation " .. name .. " has no method")
end

M.Client = Client
return M
