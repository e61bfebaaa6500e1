--- The libcurl transport: every request is a transfer on the loop's multi
-- engine (dcs.tasks, dcs.core.engine), with this client's network options.
-- Inside a task the call yields while the transfer runs; outside any task
-- it steps the engine until its transfer is done (a blocking call; from a
-- sink callback, on an engine of its own: see dcs.tasks's Loop:engine).
-- Follows the contract of dcs.transport.
local tasks = require "dcs.tasks"

local M = {}

local Transport = {}
Transport.__index = Transport

--- opts: what core.engine's start takes as network options (timeout,
-- connect_timeout, ca_file, insecure, proxy, no_proxy, user_agent, max_body).
function M.new(opts)
  return setmetatable({ opts = opts, in_flight = setmetatable({}, { __mode = "k" }) }, Transport)
end

function Transport:request(req)
  if self.closed then
    return nil, { kind = "closed", reason = "closed", message = "the transport is closed" }
  end
  local engine = tasks.loop():engine()
  local transfer = engine:start(req, self.opts)
  self.in_flight[transfer] = true
  local waited, why = pcall(tasks.wait_transfer, transfer, engine)
  self.in_flight[transfer] = nil
  if not waited then
    -- whatever raised (a host stepping an engine from its own callback),
    -- the transfer must not stay behind and run later, unseen
    transfer:cancel()
    return nil, { kind = "invalid_argument", reason = "reentrant", message = tostring(why) }
  end
  return transfer:result()
end

--- Ends the transfers in flight (their calls get kind "closed"); later
-- requests fail the same way.  Idempotent.
function Transport:close()
  self.closed = true
  for transfer in pairs(self.in_flight) do transfer:cancel() end
  return true
end

return M
