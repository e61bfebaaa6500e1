--- Where AK/SK come from when dcs.client is not given them: the environment,
-- then the profile file, then the ECS metadata service (docs/api.md, "Credentials"),
-- like the official Go and Python SDKs.  A provider is an object with
-- :get() -> creds | nil, why, where creds = { ak, sk, security_token,
-- project, expires_at (epoch seconds, temporary credentials only) }.
local core = require "dcs.core"
local json = require "dcs.json"
local errors = require "dcs.errors"
local transports = require "dcs.transport"
local validate = require "dcs.validate"

local M = {}

M.METADATA_ENDPOINT = "http://169.254.169.254"
M.REFRESH_WINDOW = 40 * 60         -- refresh temporary credentials this long before expiry
M.METADATA_TIMEOUT = 3             -- seconds, as the official SDKs
local TOKEN_TTL = 21600
local TOKEN_RETRY = 24 * 3600      -- after a 404/405/503 token answer, try again after a day
M.MAX_PROFILE = 64 * 1024          -- a credentials file is a few lines

--- Checks credentials from any source before they go near a request:
-- the AK is an HTTP token of at most core.SIGN_MAX_AK bytes (it goes
-- inside Authorization, and dcs.sign refuses any other), the SK printable
-- ASCII without blanks (a key pasted with a trailing space or a Latin-1
-- byte signed every request wrong: 401s, repeated until the gateway locks
-- the AK), the token without control characters.  `names` says what to
-- call each key in the reason (the environment's variable names); by
-- default 'ak', 'sk' and 'security_token'.  Returns creds or nil, why.
function M.check(creds, names)
  local function name(k) return names and names[k] or ("'" .. k .. "'") end
  local _, why = validate.token(creds.ak)
  if why then return nil, name("ak") .. " " .. why end
  if #creds.ak > core.SIGN_MAX_AK then
    return nil, ("%s must be at most %d bytes (got %d)"):format(name("ak"), core.SIGN_MAX_AK, #creds.ak)
  end
  for _, k in ipairs { "sk", "security_token" } do
    local v = creds[k]
    if v ~= nil then
      if type(v) ~= "string" or v == "" then return nil, ("%s must be a non-empty string"):format(name(k)) end
      _, why = validate.text(v)
      if why then return nil, ("%s %s"):format(name(k), why) end
    end
  end
  if type(creds.sk) ~= "string" then return nil, name("sk") .. " is missing" end
  if not core.bytes_are(creds.sk, "visible") then
    return nil, name("sk") .. " must be printable ASCII without blanks (a space or a newline copied with it?)"
  end
  return creds
end

local function static(creds, name)
  return { name = name, get = function() return creds end }
end
M.static = static

-- The variable each key of the environment comes from, named in a refusal.
local ENV_NAMES = { ak = "HUAWEICLOUD_SDK_AK", sk = "HUAWEICLOUD_SDK_SK",
  security_token = "HUAWEICLOUD_SDK_SECURITY_TOKEN" }

function M.from_env(getenv)
  getenv = getenv or os.getenv
  local ak, sk = getenv("HUAWEICLOUD_SDK_AK"), getenv("HUAWEICLOUD_SDK_SK")
  if (ak or "") == "" and (sk or "") == "" then
    return nil, "environment: HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not both set"
  end
  -- one of the two: say which, and whether it is set but empty
  local name, v = "HUAWEICLOUD_SDK_SK", sk
  if (ak or "") == "" then name, v = "HUAWEICLOUD_SDK_AK", ak end
  if (v or "") == "" then return nil, ("environment: %s is %s"):format(name, v and "empty" or "not set") end
  local project, token = getenv("HUAWEICLOUD_SDK_PROJECT_ID"), getenv("HUAWEICLOUD_SDK_SECURITY_TOKEN")
  return { ak = ak, sk = sk, project = project ~= "" and project or nil,
           security_token = token ~= "" and token or nil, source = "environment" }
end

--- Minimal INI: [section], key = value, ';' and '#' comments.  A leading
-- UTF-8 byte order mark (Windows editors write one) is skipped, as the Go
-- SDK's INI reader does: else the first section would not be found.
local function parse_ini(text)
  local sections, current = {}, nil
  text = text:gsub("^\239\187\191", "")
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    local section = line:match("^%[%s*([^%]]-)%s*%]$")
    if section then
      current = {}
      sections[section:lower()] = current
    elseif current and line ~= "" and not line:find("^[;#]") then
      local k, v = line:match("^([^=]-)%s*=%s*(.*)$")
      if k then current[k:lower()] = v end
    end
  end
  return sections
end
M.parse_ini = parse_ini

function M.profile_path(explicit)
  if explicit then return explicit end
  local env = os.getenv("HUAWEICLOUD_SDK_CREDENTIALS_FILE")
  if env and env ~= "" then return env end
  local home = os.getenv("HOME")
  -- HOME="" is no home: "" .. "/.huaweicloud/credentials" read a profile in /
  return home and home ~= "" and (home .. "/.huaweicloud/credentials") or nil
end

-- Only a regular file of reasonable size is read: a FIFO would hang the
-- constructor and /dev/zero would never end.
function M.from_profile(path)
  if not path then return nil, "profile: no HOME and no HUAWEICLOUD_SDK_CREDENTIALS_FILE" end
  local text, why, code = core.read_file(path, M.MAX_PROFILE)
  if not text then
    return nil, code == "not_found" and ("profile: no file " .. path) or ("profile: " .. why)
  end
  local basic = parse_ini(text).basic
  if not basic then return nil, "profile: " .. path .. " has no [basic] section" end
  if not basic.ak or basic.ak == "" or not basic.sk or basic.sk == "" then
    return nil, "profile: [basic] in " .. path .. " lacks ak or sk"
  end
  return { ak = basic.ak, sk = basic.sk,
           project = basic.project_id ~= "" and basic.project_id or nil,
           security_token = basic.security_token ~= "" and basic.security_token or nil,
           iam_endpoint = basic.iam_endpoint ~= "" and basic.iam_endpoint or nil,
           source = "profile " .. path }
end

-- "2026-11-27T23:00:00.000000Z" -> epoch seconds (UTC), or nil (fields out
-- of range too: errors.epoch refuses them).
local function parse_utc(s)
  local y, mo, d, h, mi, sec = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  return errors.epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
end
M.parse_utc = parse_utc

-- ---- the ECS metadata provider ----
-- m = { endpoint, now, token, token_until, token_retry_at }

local function metadata_request(m, http, method, path, headers)
  local res, failure = http:request { method = method, url = m.endpoint .. path, headers = headers,
    timeout = M.METADATA_TIMEOUT }
  if not res then return nil, failure.message end
  return res
end

-- The IMDSv2-style token, when the service has one.  -> true | nil, why
local function metadata_token(m, http)
  if m.now() < m.token_retry_at then return true end
  local res, err = metadata_request(m, http, "PUT", "/meta-data/latest/api/token",
    { ["X-Metadata-Token-Ttl-Seconds"] = tostring(TOKEN_TTL) })
  if not res then return nil, err end
  if res.status == 200 and res.body ~= "" then
    if #res.body > 4096 or not validate.text(res.body) then return nil, "token answer is not a usable token" end
    m.token, m.token_until = res.body, m.now() + TOKEN_TTL - 60
    return true
  end
  if res.status == 404 or res.status == 405 or res.status == 503 then
    m.token, m.token_retry_at = nil, m.now() + TOKEN_RETRY     -- no IMDSv2 here: go without
    return true
  end
  return nil, ("token request answered HTTP %d"):format(res.status)
end

-- The credentials in a securitykey answer, checked.  -> creds | nil, why
-- An error answer is quoted without the session token sent with it.
local function decode_credential(res, token)
  if res.status ~= 200 then
    return nil, ("securitykey answered HTTP %d: %s"):format(res.status, errors.quote(res.body, { token }, 200))
  end
  local ok, body = pcall(json.decode, res.body)
  local c = ok and type(body) == "table" and body.credential
  if type(c) ~= "table" then return nil, "securitykey answer has no credential" end
  local fresh = { ak = c.access, sk = c.secret, security_token = c.securitytoken,
    expires_at = parse_utc(c.expires_at), source = "metadata" }
  local _, why = M.check(fresh)
  if why then return nil, "securitykey answer is not usable: " .. why end
  return fresh
end

-- Token, then securitykey; a 401 means the token went stale: a new one, once.
local function metadata_fetch(m, http)
  local res, err
  for try = 1, 2 do
    if not m.token or m.now() >= m.token_until then
      local ok
      ok, err = metadata_token(m, http)
      if not ok then return nil, err end
    end
    res, err = metadata_request(m, http, "GET", "/openstack/latest/securitykey", { ["X-Metadata-Token"] = m.token })
    if not res then return nil, err end
    if res.status ~= 401 or res.body:find("Please configure Cloud Service Agency first", 1, true) or try == 2 then
      break
    end
    m.token, m.token_until, m.token_retry_at = nil, 0, 0
  end
  return decode_credential(res, m.token)
end

--- The ECS metadata provider: token step, then securitykey; cached, and
-- refreshed REFRESH_WINDOW before expiry.  new_transport() gives the
-- transport to use (never through a proxy); now() the clock.
function M.metadata(opts)
  local self = { name = "metadata", endpoint = opts.endpoint or M.METADATA_ENDPOINT }
  local m = { endpoint = self.endpoint, now = opts.now or os.time, token_until = 0, token_retry_at = 0 }
  local creds, slot = nil, {}

  local function refresh()
    local http, err = opts.new_transport()
    local fresh
    if http then
      fresh, err = metadata_fetch(m, http)
      http:close()
    end
    if fresh then creds = fresh end
    return fresh, err
  end

  -- Metadata credentials are always temporary: an expiry that cannot be
  -- read keeps them for this call only, never for ever (they would go on
  -- being sent, and refused, long after they expired).  The tasks of a
  -- fan-out that need them at once share one refresh (transports.shared)
  -- instead of each sending its own token and securitykey requests.
  function self.get()
    if creds and creds.expires_at and creds.expires_at - m.now() > M.REFRESH_WINDOW then
      return creds
    end
    local fresh, err = transports.shared(slot, 5 * M.METADATA_TIMEOUT, refresh)
    if fresh then return fresh end
    -- A failed refresh keeps credentials that are still valid.
    if creds and creds.expires_at and creds.expires_at > m.now() then return creds end
    return nil, "metadata: " .. self.endpoint .. ": " .. tostring(err)
  end
  return self
end

--- The default chain.  Environment and profile are read now (no network);
-- the metadata service is only asked on the first call that needs it.
-- Returns a provider.
-- Credentials found but malformed are a configuration mistake: nil, why
-- (the constructor raises), never a silent move to the next provider.
function M.chain(opts)
  local reasons = {}
  for _, source in ipairs {
    { "environment", M.from_env },
    { "profile", function() return M.from_profile(M.profile_path(opts.credentials_file)) end },
  } do
    local creds, why = source[2]()
    if creds then
      local _, bad = M.check(creds, creds.source == "environment" and ENV_NAMES or nil)
      if bad then return nil, ("credentials from the %s: %s"):format(creds.source, bad) end
      return static(creds, source[1])
    end
    reasons[#reasons + 1] = why
  end
  local metadata = M.metadata(opts)
  return {
    name = "metadata",
    get = function()
      local c, err = metadata.get()
      if c then return c end
      return nil, "no credentials: " .. table.concat(reasons, "; ") .. "; " .. err
    end,
  }
end

return M
