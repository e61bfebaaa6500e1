--- The request pipeline every operation goes through:
--   build (validate the arguments) -> credentials and project -> sign (C)
--   -> send (the transport, endpoint failover) -> decode,
-- in a retry loop, with hooks around each attempt.  It also keeps what a
-- client must not show: the credentials provider (and with it the SK and
-- the security token) and the transports, in a table keyed weakly by
-- client, unreachable through the client table (pairs, inspect, dumps).
local core = require "dcs.core"
local errors = require "dcs.errors"
local gather = require "dcs.gather"
local json = require "dcs.json"
local operations = require "dcs.operations"
local retry = require "dcs.retry"
local tasks = require "dcs.tasks"
local transports = require "dcs.transport"
local validate = require "dcs.validate"

local M = {}

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

local private = setmetatable({}, { __mode = "k" })

-- Project ids found through IAM, per AK and region, for the whole process;
-- at most PROJECT_CACHE_MAX, emptied when full: temporary credentials
-- bring a new AK at every refresh, and a host running for weeks (or
-- serving many accounts) would otherwise keep one entry per AK for ever.
local project_cache, project_count = {}, 0
M.PROJECT_CACHE_MAX = 256

--- Gives a client its private parts: { provider, selector, redact }.
function M.attach(client, parts)
  parts.asleep = setmetatable({}, { __mode = "k" })       -- the tasks in a wait (see wait)
  parts.alarms = setmetatable({}, { __mode = "k" })       -- the light threads in one
  private[client] = parts
end

--- The transport for a call (client:transport): "curl" outside nginx,
--- cosockets inside, or nil and an error object in a phase without them.
---@param client dcs.Client
---@param operation string the call it is for, named in the error
---@return table? transport
---@return dcs.Error? err
function M.transport(client, operation)
  local t, why = private[client].selector.get()
  if not t then
    return nil, errors.new { kind = "unsupported_phase", operation = operation, message = why,
                             retryable = false }
  end
  return t
end

--- Values to redact from anything a server or transport says: the SK,
--- the security token, proxy credentials, and more given by the caller
--- (client:secret_values).
---@param client dcs.Client
---@param creds? table the credentials in use: { sk =, security_token = };
--- default the last the client signed with (a download signs nothing)
---@param ... string more values to redact
---@return string[]
function M.secret_values(client, creds, ...)
  creds = creds or private[client].creds
  local list = { creds and creds.sk, creds and creds.security_token }
  for _, v in ipairs(private[client].redact) do list[#list + 1] = v end
  for i = 1, select("#", ...) do list[#list + 1] = select(i, ...) end
  return list
end

function M.close(client)
  private[client].selector.close()
  -- the tasks and light threads asleep in one of the client's waits:
  -- their calls end now
  for task in pairs(private[client].asleep) do task.loop:wake(task) end
  for alarm in pairs(private[client].alarms) do alarm:post(1) end
end

-- Sleeps through the client's sleep; a task (or, inside nginx, a light
-- thread) asleep here is woken when the client closes (M.close), so that a
-- call waiting out a pause, a rate_limit slot or a back-off ends at once
-- (kind "closed") instead of sleeping on.  A sleep a host set on the
-- client is its own: it cannot be woken.
local function wait(self, seconds)
  local task, parts = tasks.current(), private[self]
  local alarm = not task and self.sleep == transports.sleep and transports.alarm()
  if alarm then
    parts.alarms[alarm] = true
    -- a phase that has cosockets but no semaphores sleeps as before
    local waited = pcall(alarm.wait, alarm, seconds)
    parts.alarms[alarm] = nil
    if waited then return end
  end
  if task then parts.asleep[task] = true end
  self.sleep(seconds)
  if task then parts.asleep[task] = nil end
end
M.wait = wait                     -- fetch_run_logs sleeps between its listings in it too

-- An enum's values are of its type: one of them is all a value needs to be
-- (the type's own message would give a range most of which is refused).
local function check_query_value(name, spec, v)
  if spec.enum then
    for _, e in ipairs(spec.enum) do if e == v then return nil end end
    local list = {}
    for i, e in ipairs(spec.enum) do list[i] = tostring(e) end
    return ("%s must be one of %s (got %s)"):format(name, table.concat(list, ", "), tostring(v))
  end
  local _, why
  if spec.type == "integer" then
    _, why = validate.integer(v, spec.min, spec.max)
  elseif spec.type == "id" then
    _, why = validate.id(v)
  end
  if why then return name .. " " .. why end
  return nil
end

-- Per-call options that are not query parameters.
local function call_option(name, req, k, v)
  if k == "timeout" then
    local _, why = validate.seconds(v)
    if why then return errors.invalid(name, "timeout " .. why) end
    req.timeout = v
  elseif k == "retries" then
    local policy, why = retry.policy(v)
    if policy == nil then return errors.invalid(name, "retries: " .. why) end
    req.retries = policy
  end
end

-- An operation's path template cut once into its pieces: p.head, the text
-- before {project_id} (nil without one), then the literal text around each
-- argument after it, in argument order.
local path_pieces = setmetatable({}, { __mode = "k" })

local PROJECT = "{project_id}"

local function pieces_of(op)
  local p = path_pieces[op]
  if p then return p end
  local ps, pe = op.path:find(PROJECT, 1, true)
  p = { ps and op.path:sub(pe + 1) or op.path, head = ps and op.path:sub(1, ps - 1) }
  for i, arg_name in ipairs(op.args) do
    local marker = "{" .. arg_name .. "}"
    for j = 1, #p, 2 do
      local s, e = p[j]:find(marker, 1, true)
      if s then
        table.insert(p, j + 1, i)
        table.insert(p, j + 2, p[j]:sub(e + 1))
        p[j] = p[j]:sub(1, s - 1)
        break
      end
    end
  end
  path_pieces[op] = p
  return p
end

-- The path after {project_id} with each argument in its place.  The
-- arguments passed validate.id, whose bytes (letters, digits, '.', '_',
-- '-') are all RFC 3986 unreserved: percent-encoding (core.encode) would
-- give each back unchanged, so it is not called.
local function fill_path(op, ...)
  local p = pieces_of(op)
  if #p == 1 then return p[1] end
  if #p == 3 then return p[1] .. (select(p[2], ...)) .. p[3] end
  if #p == 5 then return p[1] .. (select(p[2], ...)) .. p[3] .. (select(p[4], ...)) .. p[5] end
  local out = { p[1] }
  for j = 2, #p, 2 do
    out[j] = (select(p[j], ...))
    out[j + 1] = p[j + 1]
  end
  return table.concat(out)
end

-- The query parameters an operation always sends (fixed values).
local fixed_of = setmetatable({}, { __mode = "k" })

local function fixed_query(op)
  local f = fixed_of[op]
  if f then return f end
  f = {}
  for k, spec in pairs(op.query or {}) do
    if spec.fixed then f[#f + 1] = k end
  end
  fixed_of[op] = f
  return f
end

-- The query of a call without query parameters; never written to (set_query).
local NO_QUERY = {}

local function set_query(req, k, v)
  if req.query == NO_QUERY then req.query = {} end
  req.query[k] = v
end

-- The options table of a call into req (query, timeout, retries), or an error object.
local function apply_options(name, op, req, opts)
  for k, v in pairs(opts) do
    local spec = op.query and op.query[k]
    if k == "timeout" or k == "retries" then
      local err = call_option(name, req, k, v)
      if err then return err end
    elseif not spec or spec.fixed then
      return errors.invalid(name, ("unknown option '%s'"):format(tostring(k)))
    else
      local problem = check_query_value(k, spec, v)
      if problem then return errors.invalid(name, problem) end
      set_query(req, k, v)
    end
  end
end

-- Validates the arguments of one call: the request without endpoint,
-- project and credentials, or nil and an error object.
local function build(name, op, n, ...)
  local nargs = #op.args
  for i = 1, nargs do
    local _, why = validate.id((select(i, ...)))
    if why then return nil, errors.invalid(name, op.args[i] .. " " .. why) end
  end
  local opts = (select(nargs + 1, ...))
  if n > nargs + 1 then
    return nil, errors.invalid(name, ("too many arguments (%s takes %d and an options table)")
      :format(name, nargs))
  end
  if opts ~= nil and type(opts) ~= "table" then
    return nil, errors.invalid(name, "options must be a table")
  end
  -- path: what follows the operation's {project_id} (filled in per attempt)
  local req = { method = op.method, path = fill_path(op, ...), query = NO_QUERY, body = "" }
  if opts then
    local err = apply_options(name, op, req, opts)
    if err then return nil, err end
  end
  local fixed = fixed_query(op)
  for i = 1, #fixed do set_query(req, fixed[i], op.query[fixed[i]].fixed) end
  return req
end

-- The body as JSON, an error object for an error status, or the
-- operation's result; nothing a server sends raises, and every quote of
-- its body is redacted first.  A success body must be a JSON object (a
-- top-level array decodes to a table too); a 2xx the operation does not
-- define is not the API's answer either: both are "decode" errors.
-- The redaction list (M.secret_values) is built only when an error quotes
-- the server, from the client, its credentials and the Authorization sent.
local function decode(name, op, res, client, creds, auth)
  local decoded, object
  if res.body ~= "" then
    local ok, value = pcall(json.decode, res.body)
    if ok and type(value) == "table" then
      decoded = integers(integers, value)
      object = res.body:find("^[ \t\r\n]*{") ~= nil
    end
  end
  if not op.success[res.status] then
    if res.status >= 200 and res.status < 300 then
      return nil, errors.decode(name, res, "status", ("unexpected HTTP %d to %s"):format(res.status, name),
        M.secret_values(client, creds, auth))
    end
    return nil, errors.from_response(name, res, decoded, M.secret_values(client, creds, auth))
  end
  if res.body ~= "" and not object then
    local secrets = M.secret_values(client, creds, auth)
    return nil, errors.decode(name, res, "json",
      "response body is not a JSON object: " .. errors.quote(res.body, secrets, 200), secrets)
  end
  if op.result then
    local value, why = op.result(res.status, decoded)
    if value == nil then
      return nil, errors.decode(name, res, "shape", why, M.secret_values(client, creds, auth))
    end
    return value
  end
  if decoded == nil then
    return nil, errors.decode(name, res, "json", "empty response body", M.secret_values(client, creds, auth))
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

-- The ids of several IAM projects, for a message: each a plausible id or
-- "?", the list redacted and cut, as any quote of a server (an id is the
-- server's text: it may be huge, hold escape sequences or echo the token).
local function project_ids(self, creds, projects)
  local ids = {}
  for i, p in ipairs(projects) do
    local id = type(p) == "table" and p.id
    ids[i] = validate.id(id) and id or "?"
  end
  return errors.quote(table.concat(ids, ", "), M.secret_values(self, creds))
end

-- The one project id in an IAM answer, or nil and an error object.
local function project_from_iam(self, creds, res)
  local projects = type(res) == "table" and res.projects
  if type(projects) ~= "table" then
    return nil, errors.decode("iam_list_projects", nil, "shape", "IAM answer has no 'projects' list")
  end
  if #projects ~= 1 then
    return nil, errors.new { kind = "invalid_argument", operation = "iam_list_projects", retryable = false,
      message = #projects == 0
        and ("no IAM project named '%s': confirm that it exists, or set 'project'"):format(self.region)
        or ("%d IAM projects named '%s' (%s): set 'project'"):format(#projects, self.region,
          project_ids(self, creds, projects)) }
  end
  local id = type(projects[1]) == "table" and projects[1].id
  local _, why = validate.id(id)
  if why then return nil, errors.decode("iam_list_projects", nil, "shape", "IAM project id " .. why) end
  return id
end

-- The IAM lookup of one client: the id, cached per AK and region, or nil
-- and an error object.
local function lookup_project(self, creds, key)
  if project_cache[key] then return project_cache[key] end
  local res, err = call(self, "iam_list_projects", operations.iam_list_projects, { name = self.region })
  local id
  if res then id, err = project_from_iam(self, creds, res) end
  if id then
    if project_count >= M.PROJECT_CACHE_MAX then project_cache, project_count = {}, 0 end
    project_cache[key], project_count = id, project_count + 1
  end
  return id, err
end

-- The project id: given, from the credentials, or looked up in IAM once
-- per AK and region.  The tasks of a fan-out that start without it share
-- one lookup (transports.shared), each with its own copy of an error.
local function project_for(self, creds)
  if self.project then return self.project end
  if creds.project and validate.id(creds.project) then
    self.project = creds.project
    return self.project
  end
  local key = creds.ak .. "\0" .. tostring(self.region)
  local parts = private[self]
  parts.project_lookup = parts.project_lookup or {}
  local id, err = transports.shared(parts.project_lookup, self.timeout, function()
    return lookup_project(self, creds, key)
  end)
  if not id then
    local copy = {}
    for k, v in pairs(err) do copy[k] = v end
    copy.message = "project id lookup in IAM failed: " .. err.message
    return nil, errors.new(copy)
  end
  self.project = id
  return id
end

-- Network failures after which the request surely did not reach the
-- server, so another endpoint may be tried at once.
local FAILOVER = { dns = true, connect = true, tls = true }

-- core.sign_request's argument and its headers, reused from call to call.
-- The C signer yields to nothing, but an allocation inside it may run a
-- finalizer that makes a call of its own (another client's, say): that call
-- finds them in use and signs with fresh ones, so it can never put its
-- project or security token into the request being signed.  The
-- credentials in them are cleared before signed returns or raises.
local sign_args, sign_headers, signing = {}, {}, false

-- Signs the request for one endpoint: url and headers to send.
local function signed(self, req, url, creds, project)
  local a, h = sign_args, sign_headers
  if signing then a, h = {}, {} else signing = true end
  h["Content-Type"] = "application/json"
  h["X-Project-Id"] = project
  h["X-Security-Token"] = creds.security_token
  a.method, a.url, a.query, a.body, a.ak, a.sk, a.headers = req.method, url, req.query, req.body, creds.ak,
    creds.sk, h
  local ok, headers, query = pcall(core.sign_request, a)
  a.url, a.query, a.body, a.ak, a.sk = nil, nil, nil, nil, nil
  h["X-Project-Id"], h["X-Security-Token"] = nil, nil
  if a == sign_args then signing = false end
  if not ok then error(headers, 0) end
  -- Sent but not signed, as the Node SDK does: proxies may rewrite these.
  headers["User-Agent"] = self.user_agent
  headers["Accept"] = "application/json"
  if query ~= "" then url = url .. "?" .. query end
  return url, headers
end

-- Sends to one endpoint: the decoded result or nil, err; and what
-- happened: "answered" (a response came back), "unsent" (failed before
-- the request could reach the server) or "failed".
local function exchange(self, name, op, req, number, transport, url, headers, creds)
  if self.on_request then
    run_hook(self.on_request, { operation = name, method = req.method, url = url, attempt = number }, headers)
  end
  local started = self.on_response and self.monotime()
  local res, failure = transport:request { method = req.method, url = url, headers = headers,
    body = req.body, timeout = req.timeout }
  -- what to redact, when something may quote the transport
  local secret_values = (self.on_response or not res) and M.secret_values(self, creds, headers.Authorization)
  if self.on_response then
    local request_id = res and res.headers["x-request-id"]      -- the server's text: may echo the token
    run_hook(self.on_response, { operation = name, method = req.method, url = url, attempt = number,
      status = res and res.status, duration = self.monotime() - started,
      request_id = type(request_id) == "string" and errors.quote(request_id, secret_values, 128) or nil,
      error = failure and errors.quote(tostring(failure.message), secret_values) })
  end
  if res then
    local value, err = decode(name, op, res, self, creds, headers.Authorization)
    return value, err, "answered"
  end
  local err = errors.from_transport(name, failure, secret_values)
  return nil, err, FAILOVER[failure.reason] and "unsent" or "failed"
end

-- Waits, shared by every task of the client, for a pause a 429 asked for
-- (Retry-After) and for the next slot of the client's rate_limit.
local function throttle(self)
  if not (self.paused_until or self.rate_limit) then return end     -- nothing to wait for
  local paused, now = self.paused_until, self.monotime()
  if paused and paused > now then
    wait(self, paused - now)
    if self.closed then return end
    now = self.monotime()
  end
  if self.rate_limit then
    local slot = math.max(now, self.next_slot or now)
    self.next_slot = slot + 1 / self.rate_limit
    if slot > now then wait(self, slot - now) end
    if self.closed then return end
  end
  -- a 429 that came while this task slept (for its slot, or for a shorter
  -- pause) holds it too, with a new slot after it; not when that pause
  -- ended before this slot came: the slot stands (else it would go idle)
  if self.paused_until ~= paused and self.paused_until > self.monotime() then return throttle(self) end
end

-- A 429 with Retry-After pauses the whole client, not only this call (for
-- at most the policy's cap: retry.pause).
local function note_throttling(self, policy, err)
  local pause = retry.pause(policy, err)
  if pause then
    self.paused_until = math.max(self.paused_until or 0, self.monotime() + pause)
  end
end

-- Project ids percent-encoded, kept: a process uses few of them (the
-- cache is emptied should it ever hold many).
local encoded_projects, encoded_count = {}, 0

local function encoded_project(project)
  local e = encoded_projects[project]
  if e then return e end
  if encoded_count >= 64 then encoded_projects, encoded_count = {}, 0 end
  e = core.encode(project)
  encoded_projects[project], encoded_count = e, encoded_count + 1
  return e
end

-- One attempt: credentials, project, then each endpoint in turn while
-- they fail before sending.
local function attempt(self, name, op, req, number)
  local creds, why = private[self].provider.get()
  if not creds then
    return nil, errors.new { kind = "credentials", operation = name, message = why, retryable = false }
  end
  private[self].creds = creds             -- for secret_values without credentials (downloads)
  local project
  if op.project ~= false then
    local err
    project, err = project_for(self, creds)
    if not project then return nil, err end
  end
  local transport, terr = M.transport(self, name)
  if not transport then return nil, terr end
  local head, path = pieces_of(op).head, req.path
  local middle = head and (project and encoded_project(project) or PROJECT)
  local endpoints = op.service == "iam" and { self.iam_endpoint } or self.endpoints
  local first = op.service == "iam" and 1 or (self.endpoint_index or 1)
  local failures
  for i = 0, #endpoints - 1 do
    local index = (first - 1 + i) % #endpoints + 1
    throttle(self)
    if self.closed then return nil, errors.closed(name) end
    local stopped = gather.stopped()           -- a fan-out stopped while this call slept
    if stopped then
      return nil, errors.new { kind = "aborted", operation = name, message = stopped, retryable = false }
    end
    local url, headers = signed(self, req, head and endpoints[index] .. head .. middle .. path
      or endpoints[index] .. path, creds, project)
    local res, err, outcome = exchange(self, name, op, req, number, transport, url, headers, creds)
    if outcome == "answered" and op.service ~= "iam" then
      self.endpoint_index, self.endpoint = index, endpoints[index]    -- stay on the one that answers
    end
    if outcome == "answered" then return res, err end
    failures = failures or {}
    failures[#failures + 1] = endpoints[index] .. ": " .. err.message
    if outcome ~= "unsent" or i == #endpoints - 1 then
      if #failures > 1 then err.message = table.concat(failures, "; ") end
      return nil, err
    end
  end
end

--- Runs one operation for a client: the method body of every operation.
-- -> result | nil, err
call = function(self, name, op, ...)
  if self.closed then return nil, errors.closed(name) end
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
    note_throttling(self, policy, err)
    local delay = retry.delay(policy, number, err)
    if not delay then return nil, err end
    -- a 429's Retry-After paused the whole client: the next attempt's
    -- throttle waits it out, with every other task of the client
    if not (err.status == 429 and err.retry_after) then wait(self, delay) end
    if self.closed then return nil, errors.closed(name) end
  end
end

M.call = call

return M
