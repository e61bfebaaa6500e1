--- dcs.client: configuration, and the request pipeline every operation
-- goes through: validate -> build -> sign (C) -> send (transport) -> decode,
-- with credentials, project lookup, retries, endpoint failover and hooks
-- around it.  The transport is any object with :request(req) -> res | nil,
-- failure, so a cosocket or host-loop transport can replace libcurl without
-- C ever calling back into Lua code that might yield.
local core = require "dcs.core"
local cjson = require "cjson"
local errors = require "dcs.errors"
local operations = require "dcs.operations"
local regions = require "dcs.regions"
local credentials = require "dcs.credentials"
local retry = require "dcs.retry"
local transports = require "dcs.transport"

local VERSION = "0.1.0"

local json = cjson.new()
if json.decode_array_with_array_mt then json.decode_array_with_array_mt(true) end

-- lua-cjson decodes every number as a float on Lua 5.3+; give integral
-- values back as integers so total_num prints as 3, not 3.0.
local integers = math.tointeger and function(self, t)
  for k, v in pairs(t) do
    if type(v) == "number" then
      t[k] = math.tointeger(v) or v
    elseif type(v) == "table" then
      self(self, v)
    end
  end
  return t
end or function(_, t) return t end

-- The credentials provider (and with it SK and security token) lives here,
-- keyed weakly by client, so it is not reachable through the client table
-- (pairs, inspect, debug dumps).
local secrets = setmetatable({}, { __mode = "k" })

-- Project ids found through IAM, per AK and region, for the whole process.
local project_cache = {}

local Client = {}
Client.__index = Client

local OPTIONS = {
  ak = "string", sk = "string", project = "string", region = "string", endpoint = "string",
  endpoints = "table", iam_endpoint = "string", metadata_endpoint = "string",
  credentials_file = "string", security_token = "string", retries = "table|false",
  timeout = "number", connect_timeout = "number", ca_file = "string", insecure = "boolean",
  proxy = "string", no_proxy = "string", user_agent = "string",
  on_request = "function", on_response = "function", transport = "string|function",
}

local function user_agent(extra)
  local lua = _VERSION
  if type(jit) == "table" and jit.version then lua = jit.version end
  local ua = ("lua-dcs/%s (%s; libcurl/%s)"):format(VERSION, lua, core.curl_version())
  if extra and extra ~= "" then ua = ua .. " " .. extra end
  return ua
end

local function check_types(o)
  for k, v in pairs(o) do
    local want = OPTIONS[k]
    if not want then error(("dcs.client: unknown option '%s'"):format(tostring(k)), 3) end
    local a, b = want:match("^(%a+)|(%a+)$")
    local ok = type(v) == want or (a and (type(v) == a or type(v) == b or (b == "false" and v == false)))
    if not ok then
      error(("dcs.client: option '%s' must be a %s"):format(k, (want:gsub("|", " or "))), 3)
    end
  end
end

-- endpoint / endpoints / region -> list of endpoints (raises on bad input).
local function resolve_endpoints(o)
  local list = {}
  if o.endpoint and o.endpoints then error("dcs.client: give 'endpoint' or 'endpoints', not both", 3) end
  local given = o.endpoints or (o.endpoint and { o.endpoint })
  if given then
    for i, e in ipairs(given) do
      local norm, why = regions.normalize(e)
      if not norm then
        local name = o.endpoints and ("endpoints[" .. i .. "]") or "endpoint"
        error(("dcs.client: option '%s' %s"):format(name, why), 3)
      end
      list[#list + 1] = norm
    end
    if #list == 0 then error("dcs.client: option 'endpoints' is empty", 3) end
    return list
  end
  if not o.region then error("dcs.client: option 'region' or 'endpoint' is required", 3) end
  local why
  list, why = regions.endpoints(o.region)
  if not list then error("dcs.client: option 'region': " .. why, 3) end
  return list
end

local function resolve_provider(o)
  if o.ak or o.sk then
    for _, k in ipairs { "ak", "sk" } do
      if not o[k] or o[k] == "" then error(("dcs.client: option '%s' is required"):format(k), 3) end
    end
    return credentials.static({ ak = o.ak, sk = o.sk, security_token = o.security_token }, "options")
  end
  if o.security_token then error("dcs.client: option 'security_token' needs 'ak' and 'sk'", 3) end
  return credentials.chain {
    credentials_file = o.credentials_file,
    endpoint = o.metadata_endpoint or os.getenv("HUAWEICLOUD_SDK_METADATA_ENDPOINT"),
    -- never through a proxy: the metadata service is link-local
    new_transport = function()
      local opts = { timeout = credentials.METADATA_TIMEOUT,
        connect_timeout = credentials.METADATA_TIMEOUT, proxy = "" }
      if transports.cosockets() and o.transport ~= "curl" then
        opts.proxy = nil
        return require("dcs.transport.ngx").new(opts)
      end
      return core.http(opts)
    end,
  }
end

--- dcs.client{ ak =, sk =, project =, region = | endpoint(s) =, ... }
--- dcs.client(ak, sk, project[, opts])
local function new(ak_or_opts, sk, project_id, opts)
  local o
  if type(ak_or_opts) == "table" then
    o = ak_or_opts
  else
    o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.ak, o.sk, o.project = ak_or_opts, sk, project_id
  end
  check_types(o)
  if type(o.transport) == "string" and o.transport ~= "curl" and o.transport ~= "ngx" then
    error("dcs.client: option 'transport' must be \"curl\", \"ngx\" or a function", 2)
  end
  for _, k in ipairs { "timeout", "connect_timeout" } do
    if o[k] and (o[k] ~= o[k] or o[k] <= 0) then  -- NaN too
      error(("dcs.client: option '%s' must be > 0"):format(k), 2)
    end
  end
  local retries, why = retry.policy(o.retries, retry.DEFAULT)
  if retries == nil then error("dcs.client: option 'retries': " .. why, 2) end
  if o.region and not o.region:find("^[a-z][a-z0-9-]*[a-z0-9]$") then
    error(("dcs.client: option 'region' is not a region id (got %q)"):format(o.region), 2)
  end
  local endpoints = resolve_endpoints(o)
  local provider = resolve_provider(o)
  if o.project == "" then error("dcs.client: option 'project' is empty", 2) end
  local project = o.project
  if not project and not (o.ak or o.sk) then
    -- from the chain: HUAWEICLOUD_SDK_PROJECT_ID, else the profile's project_id
    local env = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID")
    local creds = provider.name ~= "metadata" and provider.get()
    project = (env ~= "" and env) or (creds and creds.project) or nil
  end
  if not project and not o.region then
    error("dcs.client: option 'project' is required (or 'region', to look it up)", 2)
  end
  local iam_endpoint
  if o.iam_endpoint then
    local norm, bad = regions.normalize(o.iam_endpoint)
    if not norm then error("dcs.client: option 'iam_endpoint' " .. bad, 2) end
    iam_endpoint = norm
  elseif o.region then
    local bad
    iam_endpoint, bad = regions.iam_endpoint(o.region)
    if not iam_endpoint then error("dcs.client: HUAWEICLOUD_SDK_IAM_ENDPOINT " .. bad, 2) end
  end

  local self = setmetatable({
    endpoints = endpoints,
    endpoint = endpoints[1],
    iam_endpoint = iam_endpoint,
    project = project,
    region = o.region,
    retries = retries,
    timeout = o.timeout or 120,          -- Go SDK default; Python uses (60, 120)
    connect_timeout = o.connect_timeout or 60,
    user_agent = user_agent(o.user_agent),
    on_request = o.on_request,
    on_response = o.on_response,
  }, Client)
  secrets[self] = { provider = provider }
  -- The libcurl handle is made on first use, so a client built inside nginx
  -- that only ever uses cosockets never holds one.
  self.choose_transport, self.transports = transports.chooser(o.transport, {
    timeout = self.timeout,
    connect_timeout = self.connect_timeout,
    ca_file = o.ca_file,
    insecure = o.insecure,
    proxy = o.proxy,
    no_proxy = o.no_proxy,
  })
  return self
end

--- The transport for this call, or nil and an error object.
function Client:transport(operation)
  local t, why = self.choose_transport()
  if not t then
    return nil, errors.new { kind = "unsupported_phase", operation = operation, message = why,
                             retryable = false }
  end
  return t
end

--- Idempotent; also __close and __gc.
function Client:close()
  if not self.closed then
    self.closed = true
    self.transports:close()
  end
  return true
end
Client.__close = Client.close
Client.__gc = Client.close

function Client:__tostring()
  return ("dcs.client(endpoint=%s, project=%s%s)"):format(self.endpoint, tostring(self.project),
    self.closed and ", closed" or "")
end

local function check_query_value(name, spec, v)
  if spec.type == "integer" then
    if type(v) ~= "number" or v ~= math.floor(v) then
      return ("%s must be an integer"):format(name)
    end
  elseif spec.type == "string" then
    if type(v) ~= "string" or v == "" then return ("%s must be a non-empty string"):format(name) end
  end
  if spec.enum then
    local ok = false
    for _, e in ipairs(spec.enum) do if e == v then ok = true end end
    if not ok then
      local list = {}
      for i, e in ipairs(spec.enum) do list[i] = tostring(e) end
      return ("%s must be one of %s (got %s)"):format(name, table.concat(list, ", "), tostring(v))
    end
  end
  if spec.min and v < spec.min then return ("%s must be >= %d"):format(name, spec.min) end
  if spec.max and v > spec.max then return ("%s must be <= %d"):format(name, spec.max) end
  return nil
end

-- Validates the arguments of one call: the request without endpoint,
-- project and credentials, or nil and an error object.
local function build(name, op, n, ...)
  local args = { ... }
  local path = op.path
  for i, arg_name in ipairs(op.args) do
    local v = args[i]
    if type(v) ~= "string" or v == "" then
      return nil, errors.invalid(name, ("%s must be a non-empty string (got %s)"):format(
        arg_name, v == "" and "an empty string" or type(v)))
    end
    path = path:gsub("{" .. arg_name .. "}", function() return core.encode(v) end)
  end
  local opts = args[#op.args + 1]
  if n > #op.args + 1 then
    return nil, errors.invalid(name, ("too many arguments (%s takes %d and an options table)")
      :format(name, #op.args))
  end
  if opts ~= nil and type(opts) ~= "table" then
    return nil, errors.invalid(name, "options must be a table")
  end
  local req = { method = op.method, path = path, query = {}, body = "" }
  for k, v in pairs(opts or {}) do
    local spec = op.query and op.query[k]
    if k == "timeout" then
      if type(v) ~= "number" or v ~= v or v <= 0 then
        return nil, errors.invalid(name, "timeout must be a positive number of seconds")
      end
      req.timeout = v
    elseif k == "retries" then
      local policy, why = retry.policy(v)
      if policy == nil then return nil, errors.invalid(name, "retries: " .. why) end
      req.retries = policy
    elseif not spec or spec.fixed then
      return nil, errors.invalid(name, ("unknown option '%s'"):format(tostring(k)))
    else
      local problem = check_query_value(k, spec, v)
      if problem then return nil, errors.invalid(name, problem) end
      req.query[k] = v
    end
  end
  for k, spec in pairs(op.query or {}) do
    if spec.fixed then req.query[k] = spec.fixed end
  end
  return req
end

local function decode(name, op, res, secret_values)
  local decoded
  if res.body ~= "" then
    local ok, value = pcall(json.decode, res.body)
    if ok and type(value) == "table" then decoded = integers(integers, value) end
  end
  if not op.success[res.status] then
    return nil, errors.from_response(name, res, decoded, secret_values)
  end
  if res.body ~= "" and decoded == nil then
    return nil, errors.new { kind = "decode", operation = name, status = res.status,
      request_id = res.headers["x-request-id"],
      message = "response body is not a JSON object: " .. res.body:sub(1, 200) }
  end
  if op.result then return op.result(res.status, decoded) end
  if decoded == nil then
    return nil, errors.new { kind = "decode", operation = name, status = res.status,
      request_id = res.headers["x-request-id"], message = "empty response body" }
  end
  return decoded
end

local REDACTED = { authorization = true, ["x-security-token"] = true }

-- Hooks see copies with Authorization and the security token redacted; an
-- error inside a hook is ignored so logging can never break a call.
local function run_hook(hook, info, headers)
  if not hook then return end
  if headers then
    info.headers = {}
    for k, v in pairs(headers) do info.headers[k] = REDACTED[k:lower()] and "***" or v end
  end
  pcall(hook, info)
end

local call

-- The project id: given, from the credentials, or looked up in IAM once
-- per AK and region.
local function project_for(self, creds)
  if self.project then return self.project end
  if creds.project then
    self.project = creds.project
    return self.project
  end
  local key = creds.ak .. "\0" .. tostring(self.region)
  if project_cache[key] then
    self.project = project_cache[key]
    return self.project
  end
  local res, err = call(self, "iam_list_projects", operations.iam_list_projects, { name = self.region })
  if not res then
    err.message = "project id lookup in IAM failed: " .. err.message
    return nil, err
  end
  local projects = type(res.projects) == "table" and res.projects or {}
  if #projects ~= 1 then
    local ids = {}
    for i, p in ipairs(projects) do ids[i] = tostring(p.id) end
    return nil, errors.new { kind = "invalid_argument", operation = "iam_list_projects", retryable = false,
      message = #projects == 0
        and ("no IAM project named '%s': confirm that it exists, or set 'project'"):format(self.region)
        or ("%d IAM projects named '%s' (%s): set 'project'"):format(#projects, self.region,
          table.concat(ids, ", ")) }
  end
  project_cache[key] = projects[1].id
  self.project = projects[1].id
  return self.project
end

-- Network failures after which the request surely did not reach the
-- server, so another endpoint may be tried at once.
local FAILOVER = { dns = true, connect = true, tls = true }

-- One attempt: credentials, project, then each endpoint in turn while
-- they fail before sending.
local function attempt(self, name, op, req, number)
  local provider = secrets[self].provider
  local creds, why = provider.get()
  if not creds then
    return nil, errors.new { kind = "credentials", operation = name, message = why, retryable = false }
  end
  local project
  if op.project ~= false then
    local err
    project, err = project_for(self, creds)
    if not project then return nil, err end
  end
  local transport, terr = self:transport(name)
  if not transport then return nil, terr end
  local secret_values = { creds.sk, creds.security_token }
  local path = project and req.path:gsub("{project_id}", function() return core.encode(project) end)
    or req.path
  local endpoints = op.service == "iam" and { self.iam_endpoint } or self.endpoints
  local first = op.service == "iam" and 1 or (self.endpoint_index or 1)
  local failures = {}
  for i = 0, #endpoints - 1 do
    local index = (first - 1 + i) % #endpoints + 1
    local url = endpoints[index] .. path
    local headers, _, query = core.sign {
      method = req.method, url = url, query = req.query, body = req.body, ak = creds.ak, sk = creds.sk,
      headers = {
        ["Content-Type"] = "application/json",
        ["X-Project-Id"] = project,
        ["X-Security-Token"] = creds.security_token,
      },
    }
    secret_values[3] = headers.Authorization
    -- Sent but not signed, as the Node SDK does: proxies may rewrite these.
    headers["User-Agent"] = self.user_agent
    headers["Accept"] = "application/json"
    if query ~= "" then url = url .. "?" .. query end
    run_hook(self.on_request, { operation = name, method = req.method, url = url, attempt = number }, headers)
    local started = self.monotime()
    local res, failure = transport:request { method = req.method, url = url, headers = headers,
      body = req.body, timeout = req.timeout }
    run_hook(self.on_response, { operation = name, method = req.method, url = url, attempt = number,
      status = res and res.status, duration = self.monotime() - started,
      request_id = res and res.headers["x-request-id"], error = failure and failure.message })
    if res then
      if op.service ~= "iam" then self.endpoint_index, self.endpoint = index, endpoints[index] end
      return decode(name, op, res, secret_values)
    end
    local err = errors.from_transport(name, failure, secret_values)
    if not FAILOVER[failure.reason] or i == #endpoints - 1 then
      if #failures > 0 then
        failures[#failures + 1] = endpoints[index] .. ": " .. err.message
        err.message = table.concat(failures, "; ")
      end
      return nil, err
    end
    failures[#failures + 1] = endpoints[index] .. ": " .. err.message
  end
end

call = function(self, name, op, ...)
  if self.closed then
    return nil, errors.new { kind = "closed", operation = name, message = "the client is closed",
                             retryable = false }
  end
  local req, err = build(name, op, select("#", ...), ...)
  if not req then return nil, err end
  local policy = req.retries == nil and self.retries or req.retries
  local number = 0
  while true do
    number = number + 1
    local res
    res, err = attempt(self, name, op, req, number)
    if res ~= nil then return res end
    err.attempts = number
    local wait = retry.delay(policy, number, err)
    if not wait then return nil, err end
    self.sleep(wait)
  end
end

for name, op in pairs(operations) do
  if not op.internal then
    Client[name] = function(self, ...) return call(self, name, op, ...) end
  end
end
require("dcs.runlogs").install(Client)

return { new = new, Client = Client, VERSION = VERSION, user_agent = user_agent }
