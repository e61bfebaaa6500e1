--- Retry policy: exponential backoff with full jitter.  Retries network
-- errors, timeouts, 429 (waiting Retry-After when the server says), 502,
-- 503 and 504 (errors.lua marks them retryable); never another 4xx, and
-- never 401: the gateway locks an AK after five failed signatures.
local core = require "dcs.core"
local validate = require "dcs.validate"

local M = {}

-- The longest base or cap a policy may set: longer waits are the caller's.
M.MAX_WAIT = 3600

M.DEFAULT = { max = 3, base = 0.2, cap = 20 }

--- Validates a `retries` option: a table, false, or nil (= fallback).
-- Returns the policy (false = no retries) or nil, message.
function M.policy(value, fallback)
  if value == nil then return fallback end
  if value == false then return false end
  if type(value) ~= "table" then return nil, "must be a table or false" end
  local p = {}
  for k, v in pairs(value) do
    if k ~= "max" and k ~= "base" and k ~= "cap" then
      return nil, ("unknown field '%s'"):format(tostring(k))
    end
    if type(v) ~= "number" then return nil, ("%s must be a number"):format(k) end
  end
  p.max = value.max or M.DEFAULT.max
  p.base = value.base or M.DEFAULT.base
  p.cap = value.cap or M.DEFAULT.cap
  local _, why = validate.integer(p.max, 0, 10)
  if why then return nil, "max " .. why end
  for _, k in ipairs { "base", "cap" } do
    _, why = validate.seconds(p[k], validate.MIN_SECONDS, M.MAX_WAIT)
    if why then return nil, k .. " " .. why end
  end
  return p
end

--- Seconds to wait before attempt number `attempt + 1`, or nil to stop.
function M.delay(policy, attempt, err, random)
  if not policy or attempt > policy.max or not err.retryable or err.status == 401 then
    return nil
  end
  if err.retry_after then
    -- Honour the server (errors.retry_after accepted only a valid,
    -- non-negative delay); a wait longer than cap is left to the caller.
    if err.retry_after > policy.cap then return nil end
    return err.retry_after
  end
  local ceiling = math.min(policy.cap, policy.base * 2 ^ (attempt - 1))
  -- the system's randomness, not math.random's: its seed is fixed in LuaJIT
  -- and Lua 5.3, so processes (nginx's workers) would retry in step
  return (random or core.random)() * ceiling
end

--- Seconds a 429's Retry-After pauses every task of the client, or nil:
--- never longer than the policy's cap (the default's when retries are
--- off), so that no answer can put a client to sleep for good; a longer
--- wait is left to the caller, as in M.delay.
function M.pause(policy, err)
  if err.status ~= 429 or not err.retry_after then return nil end
  return math.min(err.retry_after, (policy or M.DEFAULT).cap)
end

return M
