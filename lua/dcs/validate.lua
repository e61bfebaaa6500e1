--- Checks of values that come from callers or servers, in one place.
-- Each check returns the value (possibly normalised) or nil and a reason
-- that completes a sentence naming the value ("timeout " .. reason).
-- request() is the one check every request passes before any transport
-- sees it: whatever a transport puts on the wire was validated here.
local core = require "dcs.core"

local bytes_are, bad_header = core.bytes_are, core.bad_header
local M = {}

-- Seconds accepted for any timeout or wait: under 1 ms would round to "no
-- timeout" in libcurl; over 1e6 s (11.5 days) is a mistake, and keeps every
-- value far from the integer limits of the C layer.
M.MIN_SECONDS = 0.001
M.MAX_SECONDS = 1e6

-- Largest integer a double holds exactly; query numbers stay below it.
M.MAX_INTEGER = 2 ^ 53

local function is_number(v)
  return type(v) == "number" and v == v and v > -math.huge and v < math.huge
end

function M.seconds(v, min, max)
  min, max = min or M.MIN_SECONDS, max or M.MAX_SECONDS
  if not is_number(v) or v < min or v > max then
    return nil, ("must be a number of seconds from %g to %g (got %s)"):format(min, max, tostring(v))
  end
  return v
end

-- Returns v as an integer on Lua 5.3+ (3.0 becomes 3: lua-cjson decodes
-- every number as a float), so that it prints and formats as one.
local tointeger = math.tointeger or function(v) return v end

function M.integer(v, min, max)
  min, max = min or -M.MAX_INTEGER, max or M.MAX_INTEGER
  if not is_number(v) or v ~= math.floor(v) or v < min or v > max then
    return nil, ("must be an integer from %d to %d (got %s)"):format(min, max, tostring(v))
  end
  return tointeger(v)
end

--- Text that goes into a header or a log line: no CR, LF, NUL or other
-- control bytes (horizontal tab allowed).
function M.text(v)
  if type(v) ~= "string" then return nil, "must be a string" end
  if not bytes_are(v, "text") then
    return nil, "must not contain control characters (CR, LF, NUL, ...)"
  end
  return v
end

-- RFC 9110 tchar
function M.token(v)
  if type(v) ~= "string" or not bytes_are(v, "token") then return nil, "must be an HTTP token" end
  return v
end

-- DCS instance, log, replication and project ids are UUIDs or hex strings;
-- anything else that could change the path ('.', '..', '/', '%', '?') is
-- refused before a request is built, so no id can point a signed request
-- elsewhere (repeated 401s lock the AK at the gateway).
M.MAX_ID = 128

function M.id(v)
  if type(v) ~= "string" or v == "" then
    return nil, ("must be a non-empty string (got %s)"):format(v == "" and "an empty string" or type(v))
  end
  if #v > M.MAX_ID or not bytes_are(v, "id") then
    return nil, ("is not a plausible id (letters, digits, '-', '_' and '.', starting with a letter or "
      .. "digit, at most %d characters)"):format(M.MAX_ID)
  end
  return v
end

--- host[:port] of a URL: a name or address, or an IPv6 address in
-- brackets, and a port from 1 to 65535 if any.  libcurl and nginx each
-- read anything else their own way (nginx took `h:abc` for an IPv6
-- address), so it is refused before either sees it.
function M.authority(v)
  local host, port = v:match("^(%[[^%]]*%])(.*)$")
  if not host then host, port = v:match("^([^:]*)(.*)$") end
  if host == "" or (host:find("^%[") and not host:find(":", 1, true)) then return nil, "has no host" end
  local n = tonumber(port:match("^:(%d+)$"))
  if port ~= "" and not (n and n >= 1 and n <= 65535) then
    return nil, "has a port that is not a number from 1 to 65535"
  end
  return v
end

-- The last URL that passed (nil before the first): calls to one endpoint
-- check equal URLs over and over, and the answer depends on the string
-- alone.
local last_url

--- An http(s) URL that is safe to put on a request line: printable ASCII
-- only, a host, and no user information (credentials never travel in a
-- URL, where they would reach logs and Host headers).
function M.url(v)
  if last_url and v == last_url then return v end
  if type(v) ~= "string" then return nil, "must be a string" end
  if not v:find("^[Hh][Tt][Tt][Pp][Ss]?://") then return nil, "must be an http:// or https:// URL" end
  if not bytes_are(v, "visible") then
    return nil, "must not contain spaces, control characters or non-ASCII bytes"
  end
  local authority = v:match("^%a+://([^/?#]*)")
  if authority == "" then return nil, "has no host" end
  if authority:find("@", 1, true) then return nil, "must not contain user information (user:password@)" end
  local _, why = M.authority(authority)
  if why then return nil, why end
  last_url = v
  return v
end

local METHOD = "^[A-Z]+$"

-- core.bad_header in Lua: nil, or "name" | "value" and the first bad key.
local function bad_header_lua(headers)
  for name, value in pairs(headers) do
    if not M.token(name) then return "name", name end
    if not M.text(value) then return "value", name end
  end
end

--- The request every transport gets: { method, url, headers, body, ... }.
-- Returns req or nil, reason.
function M.request(req)
  if type(req.method) ~= "string" or not req.method:find(METHOD) then
    return nil, "method must be upper-case letters"
  end
  local _, why = M.url(req.url)
  if why then return nil, "url " .. why end
  if req.headers ~= nil then
    -- M.token of every name, M.text of every value, in one C call (or in
    -- Lua for what is not a plain table: pairs says what is wrong with it)
    local what, name = (type(req.headers) == "table" and bad_header or bad_header_lua)(req.headers)
    if what == "name" then
      return nil, ("header name %q is not an HTTP token"):format(tostring(name))
    elseif what then
      return nil, ("header %s must be a string without control characters"):format(name)
    end
  end
  if req.body ~= nil and type(req.body) ~= "string" then return nil, "body must be a string" end
  return req
end

return M
