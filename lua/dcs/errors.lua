--- Error objects returned as the second value of every failed call.
-- Fields: kind, operation, status, code, message, request_id, reason,
-- retryable; retry_after and clock_skew when the server's answer tells
-- them.  tostring(err) is one line; secrets never get in (see redact).
-- @module dcs.errors
local M = {}

--- The error object: the second value of every failed call.  A table,
--- so every field can be read; tostring(err) is one line.
---@class dcs.Error
---@field kind string what failed: "api", "network", "timeout", "invalid_argument", "decode", ... (README)
---@field message string the server's error_msg (or the raw body), or what went wrong
---@field operation? string the call, e.g. "create_redislog_download_link"
---@field status? integer the HTTP status, for "api" and "decode"
---@field code? string DCS.xxxx or APIGW.xxxx from the body, or the status as a string
---@field request_id? string the X-Request-Id of the response
---@field reason? string network: dns, connect, tls, ...; timeout: timeout, stall; decode: json, shape, ...
---@field retryable boolean true for network errors, timeouts, 429, 502, 503, 504
---@field attempts? integer how many attempts were made
---@field retry_after? number seconds, from a Retry-After header
---@field clock_skew? number seconds, the server's clock minus the local one (a 401 for the date)
local Error = {}
Error.__index = Error

-- Kinds: api, network, timeout, invalid_argument, decode, closed, credentials,
-- unsupported_phase; for downloads also io, cancelled, callback.
-- Messages quote at most this much of a server's body (after redaction).
M.MAX_QUOTE = 512
local RETRYABLE_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }

local REASON_PHRASE = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
  [413] = "Payload Too Large", [416] = "Range Not Satisfiable", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout",
}

local LABEL = {
  network = "network error", timeout = "timeout", invalid_argument = "invalid argument",
  decode = "decode error", closed = "client closed", io = "i/o error", cancelled = "cancelled",
  credentials = "credentials error", unsupported_phase = "unsupported phase",
}

function Error.__tostring(e)
  local head
  if e.kind == "api" then
    head = "HTTP " .. tostring(e.status) .. (e.code and (" " .. e.code) or "")
  else
    head = LABEL[e.kind] or (e.kind .. " error")
    if e.reason and e.reason ~= e.kind then head = head .. " (" .. e.reason .. ")" end
  end
  local line = "dcs: " .. (e.operation and (e.operation .. ": ") or "") .. head .. ": "
    .. tostring(e.message)
  if e.attempts and e.attempts > 1 then line = line .. " (after " .. e.attempts .. " attempts)" end
  if e.request_id then line = line .. " [request_id " .. e.request_id .. "]" end
  return (line:gsub("[\r\n]+", " "))
end

function M.new(fields)
  assert(type(fields.kind) == "string", "error kind required")
  fields.message = fields.message or fields.kind
  if fields.retryable == nil then
    fields.retryable = fields.kind == "network" or fields.kind == "timeout"
      or (fields.kind == "api" and RETRYABLE_STATUS[fields.status] == true)
  end
  return setmetatable(fields, Error)
end

--- Tells an error object of lua-dcs from any other value (dcs.is_error).
---@param value any
---@return boolean
function M.is(value)
  return getmetatable(value) == Error
end

--- Replace every occurrence of each secret in s with "***".
-- The secrets worth hiding (strings of 4 bytes or more; a list may have
-- holes), longest first: one inside another (a password within the
-- token) must not leave the rest of the outer one showing.
local function longest_first(secrets)
  local list = {}
  for _, secret in pairs(secrets or {}) do
    if type(secret) == "string" and #secret >= 4 then list[#list + 1] = secret end
  end
  table.sort(list, function(a, b) return #a > #b end)
  return list
end

-- s with every occurrence of secret replaced, built from its pieces: a
-- new string per occurrence would copy the rest of s each time, and a
-- server echoing a secret all over a 2 MiB body would cost gigabytes.
local function replace_all(s, secret)
  local out, i = {}, 1
  while true do
    local a, b = s:find(secret, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = "***"
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

function M.redact(s, secrets)
  if type(s) ~= "string" then return s end
  for _, secret in ipairs(longest_first(secrets)) do s = replace_all(s, secret) end
  return s
end

function M.invalid(operation, message)
  return M.new { kind = "invalid_argument", operation = operation, message = message,
                 retryable = false }
end

function M.closed(operation)
  return M.new { kind = "closed", operation = operation, message = "the client is closed", retryable = false }
end

--- A server's answer that is not what the API defines.  reason: "json",
-- "shape", "paging", "limit", ...  The request id is the server's text:
-- redacted with `secrets` (it may echo the token) and cut.
function M.decode(operation, res, reason, message, secrets)
  local request_id = res and res.headers and res.headers["x-request-id"]
  return M.new { kind = "decode", operation = operation, reason = reason, message = message,
    status = res and res.status,
    request_id = type(request_id) == "string" and M.quote(request_id, secrets, 128) or nil,
    retryable = false }
end

--- Redacts the secrets out of s first, then cuts it to at most `max`
-- bytes: cutting first could leave half a secret that no longer matches.
function M.quote(s, secrets, max)
  s = M.redact(s, secrets)
  max = max or M.MAX_QUOTE
  if #s > max then s = s:sub(1, max) .. "..." end
  return s
end

-- s without the blanks around it, in time linear in #s: the usual
-- "^%s*(.-)%s*$" and gsub("%s+$", "") go back over a run of blanks once
-- for every byte before it, and a server's 2 MiB body of blanks between
-- two letters took hours.
local function trim(s)
  if not s:find("%S") then return "" end
  return s:match("^%s*(.*%S)")
end

--- Retry-After as seconds to wait, or nil when absent or not a valid
-- delay: delta-seconds (a non-negative integer) or an HTTP date.
-- `now` is the epoch time the date is measured from.
function M.retry_after(value, now)
  if type(value) ~= "string" then return nil end
  value = trim(value)
  if value:find("^%d+$") then
    return #value <= 9 and tonumber(value) or nil
  end
  local at = M.http_date(value)
  if not at then return nil end
  return math.max(0, at - (now or os.time()))
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
  Oct = 10, Nov = 11, Dec = 12 }

--- Seconds since 1970 of an HTTP date (IMF-fixdate: "Sun, 06 Nov 1994
-- 08:49:37 GMT"), or nil.
function M.http_date(value)
  if type(value) ~= "string" then return nil end
  local d, mon, y, h, mi, sec = value:match("^%s*%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT%s*$")
  if not (d and MONTHS[mon]) then return nil end
  return M.epoch(tonumber(y), MONTHS[mon], tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
end

--- Seconds since 1970 of a UTC calendar time (days from civil, without
-- os.time's local-time interpretation), or nil when a field is out of
-- range: the arithmetic would carry day 32 or hour 24 into a later date.
function M.epoch(y, mo, d, h, mi, sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  local floor = math.floor                 -- no // : the same code runs on LuaJIT
  if mo <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return (era * 146097 + doe - 719468) * 86400 + h * 3600 + mi * 60 + sec
end

-- Finds a code and message the way the official SDKs do: error_code/error_msg,
-- errorCode/errorMsg, code/message, then inside nested objects.
local function find_code_message(body, depth)
  if type(body) ~= "table" or depth > 4 then return nil end
  local function str(v) return (type(v) == "string" or type(v) == "number") and tostring(v) or nil end
  local code = str(body.error_code) or str(body.errorCode) or str(body.code)
  local msg = str(body.error_msg) or str(body.errorMsg) or str(body.message)
  if code or msg then return code, msg end
  for _, v in pairs(body) do
    if type(v) == "table" then
      code, msg = find_code_message(v, depth + 1)
      if code or msg then return code, msg end
    end
  end
  return nil
end

-- ---- clock skew ----

-- X-Sdk-Date's form, "20261128T043000Z", as seconds since 1970.
local function sdk_date(value)
  local y, mo, d, h, mi, sec = (value or ""):match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not y then return nil end
  return M.epoch(tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
end

-- "20m 5s", "1h 2m", "45s", "3d 4h": an amount of time for a person.
local function duration(seconds)
  local units, parts = { { 86400, "d" }, { 3600, "h" }, { 60, "m" }, { 1, "s" } }, {}
  for _, u in ipairs(units) do
    if seconds >= u[1] and #parts < 2 then
      parts[#parts + 1] = math.floor(seconds / u[1]) .. u[2]
      seconds = seconds % u[1]
    elseif #parts == 1 then
      break
    end
  end
  return #parts > 0 and table.concat(parts, " ") or "0s"
end
M.duration = duration

--- The gateway refuses a signature whose X-Sdk-Date is more than 15 minutes
-- from its clock (401, "signature expired, signature time:...,server
-- time:...", docs/api.md "The 15-minute window").  Returns the skew in
-- seconds, server minus local (positive: the local clock is behind), when
-- res is that refusal and the skew can be told: from the gateway's own
-- comparison in the message, else from the response's Date header against
-- `now`; false when it is the refusal but neither says by how much; nil
-- when it is another answer.
function M.clock_skew(res, message, now)
  if res.status ~= 401 or type(message) ~= "string"
    or not message:lower():find("signature expired", 1, true) then
    return nil
  end
  local signed, seen = message:match("signature time:%s*(%w+)%s*,%s*server time:%s*(%w+)")
  signed, seen = sdk_date(signed), sdk_date(seen)
  if signed and seen then return seen - signed end
  local date = M.http_date(res.headers and res.headers.date)
  if date then return date - (now or os.time()) end
  return false
end

-- What a clock refusal's message gets appended: by how much, and what to do.
local function clock_advice(skew)
  local fix = "sync it (NTP, e.g. `timedatectl set-ntp true`) and try again"
  if not skew then return "; the local clock is probably off: " .. fix end
  local how = skew > 0 and "behind" or "ahead of"
  return ("; the local clock is %s %s the server's: %s"):format(duration(math.abs(skew)), how, fix)
end

--- Error for a non-success HTTP response.
-- decoded: the JSON body as a table, or nil when it was not JSON.
function M.from_response(operation, res, decoded, secrets)
  local code, msg = find_code_message(decoded, 0)
  if not code and not msg and res.body then
    -- OBS (the download links) answers in XML: <Error><Code>..</Code><Message>..</Message>
    code = res.body:match("<Code>([^<]*)</Code>")
    msg = res.body:match("<Message>([^<]*)</Message>")
    if not decoded then
      decoded = { request_id = res.body:match("<RequestId>([^<]*)</RequestId>") }
    end
  end
  if not msg then
    local text = res.body and trim(res.body) or ""
    msg = text ~= "" and text or (REASON_PHRASE[res.status] or "HTTP error")
  end
  local request_id = res.headers and res.headers["x-request-id"]
  if not request_id and type(decoded) == "table" and type(decoded.request_id) == "string" then
    request_id = decoded.request_id
  end
  local message = M.quote(msg, secrets)
  local skew = M.clock_skew(res, message)
  if skew ~= nil then message = message .. clock_advice(skew) end
  return M.new {
    kind = "api",
    operation = operation,
    status = res.status,
    code = code and M.quote(code, secrets, 64) or tostring(res.status),
    message = message,
    request_id = type(request_id) == "string" and M.quote(request_id, secrets, 128) or nil,
    retry_after = res.headers and M.retry_after(res.headers["retry-after"]),
    clock_skew = skew or nil,
  }
end

--- Error for a transport failure table { kind, reason, message, status }.
-- A body over the size cap would be as large on every attempt.
function M.from_transport(operation, failure, secrets)
  local err = M.new {
    kind = failure.kind or "network",
    reason = failure.reason,
    operation = operation,
    status = failure.status,
    message = M.quote(tostring(failure.message or "transport failure"), secrets),
  }
  if failure.reason == "too_large" then err.retryable = false end
  return err
end

return M
