--- The options of dcs.client, checked once, in the constructor: a wrong
-- type, a control character, an implausible id, an endpoint with
-- credentials or an out-of-range number raises here, naming the option,
-- so nothing bad reaches a request later.
local core = require "dcs.core"
local credentials = require "dcs.credentials"
local regions = require "dcs.regions"
local retry = require "dcs.retry"
local validate = require "dcs.validate"
local version = require "dcs.version"

local M = {}

local OPTIONS = {
  ak = "string", sk = "string", project = "string", region = "string", endpoint = "string",
  endpoints = "table", iam_endpoint = "string", metadata_endpoint = "string",
  credentials_file = "string", security_token = "string", retries = "table|false",
  timeout = "number", connect_timeout = "number", ca_file = "string", insecure = "boolean",
  proxy = "string", no_proxy = "string", user_agent = "string",
  on_request = "function", on_response = "function", transport = "string|function",
  rate_limit = "number",
}
M.OPTIONS = OPTIONS      -- each has a row in the README's "Client options" (spec/docs_spec.lua)

-- Options that end up in headers, URLs or file names: no control bytes.
local TEXT = { "ak", "sk", "project", "region", "security_token", "user_agent", "proxy", "no_proxy",
  "ca_file", "credentials_file" }

local function fail(fmt, ...)
  error("dcs.client: " .. fmt:format(...), 4)
end

local function check_types(o)
  for k, v in pairs(o) do
    local want = OPTIONS[k]
    if not want then fail("unknown option '%s'", tostring(k)) end
    local a, b = want:match("^(%a+)|(%a+)$")
    local ok = type(v) == want or (a and (type(v) == a or type(v) == b or (b == "false" and v == false)))
    if not ok then fail("option '%s' must be a %s", k, (want:gsub("|", " or "))) end
  end
  for _, k in ipairs(TEXT) do
    if o[k] then
      local _, why = validate.text(o[k])
      if why then fail("option '%s' %s", k, why) end
    end
  end
  if type(o.transport) == "string" and o.transport ~= "curl" and o.transport ~= "ngx" then
    fail("option 'transport' must be \"curl\", \"ngx\" or a function")
  end
  for _, k in ipairs { "timeout", "connect_timeout" } do
    if o[k] then
      local _, why = validate.seconds(o[k])
      if why then fail("option '%s' %s", k, why) end
    end
  end
  if o.region and not o.region:find("^[a-z][a-z0-9-]*[a-z0-9]$") then
    fail("option 'region' is not a region id (got %q)", o.region)
  end
  if o.project then
    local _, why = validate.id(o.project)
    if why then fail("option 'project' %s", why) end
  end
  -- checked even when 'ak' and 'sk' make it unused
  if o.metadata_endpoint and o.metadata_endpoint ~= "" then
    local _, why = regions.normalize(o.metadata_endpoint)
    if why then fail("option 'metadata_endpoint' %s", why) end
  end
  if o.rate_limit then
    local _, why = validate.seconds(o.rate_limit, 0.001, 100000)
    if why then fail("option 'rate_limit' (requests per second) %s", (why:gsub(" of seconds", ""))) end
  end
end

-- endpoint / endpoints / region -> list of endpoints.
local function resolve_endpoints(o)
  if o.endpoint and o.endpoints then fail("give 'endpoint' or 'endpoints', not both") end
  local given = o.endpoints or (o.endpoint and { o.endpoint })
  if not given then
    if not o.region then fail("option 'region' or 'endpoint' is required") end
    local list, why = regions.endpoints(o.region)
    if not list then fail("option 'region': %s", why) end
    return list
  end
  local list = {}
  for i, e in ipairs(given) do
    local norm, why = regions.normalize(e)
    if not norm then fail("option '%s' %s", o.endpoints and ("endpoints[" .. i .. "]") or "endpoint", why) end
    list[#list + 1] = norm
  end
  if #list == 0 then fail("option 'endpoints' is empty") end
  return list
end

local function resolve_iam_endpoint(o)
  if o.iam_endpoint then
    local norm, why = regions.normalize(o.iam_endpoint)
    if not norm then fail("option 'iam_endpoint' %s", why) end
    return norm
  end
  if o.region then
    local norm, why = regions.iam_endpoint(o.region)
    if not norm then fail("HUAWEICLOUD_SDK_IAM_ENDPOINT %s", why) end
    return norm
  end
end

local function resolve_metadata_endpoint(o)
  local given = o.metadata_endpoint or os.getenv("HUAWEICLOUD_SDK_METADATA_ENDPOINT")
  if not given or given == "" then return nil end
  local norm, why = regions.normalize(given)
  if not norm then fail("%s %s", o.metadata_endpoint and "option 'metadata_endpoint'"
    or "HUAWEICLOUD_SDK_METADATA_ENDPOINT", why) end
  return norm
end

-- The provider: the given keys, else the chain (environment and profile
-- read now, the metadata service at the first call, through an isolated
-- transport of the client's kind: short timeouts, never a proxy).
local function resolve_provider(o, selector)
  if o.ak or o.sk then
    for _, k in ipairs { "ak", "sk" } do
      if not o[k] or o[k] == "" then fail("option '%s' is required", k) end
    end
    local creds = { ak = o.ak, sk = o.sk, security_token = o.security_token }
    local _, why = credentials.check(creds)
    if why then fail("option %s", why) end
    return credentials.static(creds, "options")
  end
  if o.security_token then fail("option 'security_token' needs 'ak' and 'sk'") end
  local provider, why = credentials.chain {
    credentials_file = o.credentials_file,
    endpoint = resolve_metadata_endpoint(o),
    new_transport = function()
      return selector.isolated { timeout = credentials.METADATA_TIMEOUT,
        connect_timeout = credentials.METADATA_TIMEOUT, proxy = "" }
    end,
  }
  if not provider then fail("%s", why) end
  return provider
end

-- The project: given; with the chain, HUAWEICLOUD_SDK_PROJECT_ID or the
-- profile's; else nil (looked up in IAM by region at the first call).
local function resolve_project(o, provider)
  if o.project or o.ak or o.sk then return o.project end
  local env = os.getenv("HUAWEICLOUD_SDK_PROJECT_ID")
  local creds = provider.name ~= "metadata" and provider.get()
  local project, source = env, "HUAWEICLOUD_SDK_PROJECT_ID"
  if not env or env == "" then
    project, source = creds and creds.project or nil, "project_id of the " .. tostring(creds and creds.source)
  end
  if project then
    local _, why = validate.id(project)
    if why then fail("%s %s", source, why) end           -- named where it was read
  end
  return project
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  return ((s:gsub(".", function(c)
    local b, bits = c:byte(), ""
    for i = 8, 1, -1 do bits = bits .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return B64:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

-- Where libcurl finds a proxy when the client gives none.
local PROXY_ENV = { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }

--- What a proxy URL's credentials look like in any message: user:password,
-- the password alone, and the Basic value, raw and percent-decoded.  The
-- scheme is optional (libcurl takes "user:pw@host:3128" as http), and
-- without a proxy option the environment's proxies are the ones used.
local function proxy_secrets(proxy)
  local list = {}
  for _, url in ipairs(proxy and { proxy } or PROXY_ENV) do
    url = proxy and url or os.getenv(url)
    local userinfo = type(url) == "string" and (url:gsub("^%a[%w+.-]*://", "", 1)):match("^([^/]*)@")
    for _, u in ipairs(userinfo and { userinfo, core.decode(userinfo) } or {}) do
      list[#list + 1] = u
      list[#list + 1] = u:match(":(.*)$")
      list[#list + 1] = base64(u)
    end
  end
  return list
end

function M.user_agent(extra)
  local lua = _VERSION
  if type(jit) == "table" and jit.version then lua = jit.version end
  local ua = ("lua-dcs/%s (%s; libcurl/%s)"):format(version, lua, core.curl_version())
  if extra and extra ~= "" then ua = ua .. " " .. extra end
  return ua
end

--- Checks the options and resolves what follows from them.  Raises on a
-- bad option.  select_transports(mode, network_opts) makes the client's
-- transport selector (dcs.transport.select).
function M.resolve(o, select_transports)
  check_types(o)
  local retries, why = retry.policy(o.retries, retry.DEFAULT)
  if retries == nil then fail("option 'retries': %s", why) end
  local endpoints = resolve_endpoints(o)
  local network = {
    timeout = o.timeout or 120,          -- Go SDK default; Python uses (60, 120)
    connect_timeout = o.connect_timeout or 60,
    ca_file = o.ca_file, insecure = o.insecure, proxy = o.proxy, no_proxy = o.no_proxy,
  }
  local selector = select_transports(o.transport, network)
  local provider = resolve_provider(o, selector)
  local project = resolve_project(o, provider)
  if not project and not o.region then
    fail("option 'project' is required (or 'region', to look it up)")
  end
  return {
    endpoints = endpoints,
    iam_endpoint = resolve_iam_endpoint(o),
    project = project,
    region = o.region,
    retries = retries,
    timeout = network.timeout,
    connect_timeout = network.connect_timeout,
    user_agent = M.user_agent(o.user_agent),
    on_request = o.on_request,
    on_response = o.on_response,
    rate_limit = o.rate_limit,
    provider = provider,
    selector = selector,
    redact = proxy_secrets(o.proxy),
  }
end

return M
