--- dcs.client: the client class.  Options are checked by dcs.config;
-- every operation of dcs.operations becomes a method that runs the request
-- pipeline (dcs.request); dcs/init.lua adds the run-log workflow.
local config = require "dcs.config"
local operations = require "dcs.operations"
local request = require "dcs.request"
local transports = require "dcs.transport"

local Client = {}
Client.__index = Client

--- dcs.client{ ak =, sk =, project =, region = | endpoint(s) =, ... }
--- dcs.client(ak, sk, project[, opts])
local function new(ak_or_opts, sk, project_id, opts)
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

--- Idempotent; also __close and __gc.
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

-- ngx.sleep / ngx.now inside nginx, where they exist; a host with its own
-- scheduler may set both on a client.
Client.sleep = transports.sleep
Client.monotime = transports.monotime

for name, op in pairs(operations) do
  if not op.internal then
    Client[name] = function(self, ...) return request.call(self, name, op, ...) end
  end
end

return { new = new, Client = Client }
