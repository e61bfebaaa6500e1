--- dcs.gather: one function over a list, concurrently, with a cap.
--
--   local results = dcs.gather(jobs, function(job)
--     return client:create_redislog_download_link(job.instance, job.log)
--   end, { concurrency = 64 })
--   for i, r in ipairs(results) do
--     if r.ok then print(r.value.link) else print(tostring(r.err)) end
--   end
--
-- Outside nginx the items run as tasks of the loop (dcs.tasks) over the
-- libcurl multi engine; inside nginx the same code runs on light threads
-- over cosockets.  `concurrency` workers pull items in order, so the work
-- in flight (and the Lua heap, results aside) is proportional to the cap,
-- not to the list.  A failing item never stops the others, except that a
-- 401 from the gateway stops the fan-out: the gateway locks an AK after a
-- few failed signatures, so hundreds more would only make it worse.
-- @module dcs.gather
local errors = require "dcs.errors"
local tasks = require "dcs.tasks"
local transports = require "dcs.transport"

local M = {}

M.DEFAULT_CONCURRENCY = 16

-- An item's outcome from what fn returned (or raised).
local function outcome(ok, value, err)
  if not ok then
    return { ok = false, err = errors.is(value) and value or errors.new { kind = "error", retryable = false,
      message = "the function raised: " .. tostring(value) } }
  end
  if value == nil and err ~= nil then return { ok = false, err = err } end
  return { ok = true, value = value }
end

--- The default stop rule: a 401 from the gateway (a bad signature, an AK
--- about to be locked); not one from a download link's server, which
--- signs nothing with the AK.
---@param err dcs.Error
---@return string? why the rest must not run, or nil
function M.stop_on_401(err)
  if type(err) == "table" and err.kind == "api" and err.status == 401 and err.operation ~= "download" then
    return ("an earlier item got HTTP 401 %s from the gateway (%s); the rest of the fan-out was "
      .. "not sent, since the gateway locks an AK after repeated failed signatures")
      :format(tostring(err.code), tostring(err.message))
  end
end

local function check_args(items, fn, opts)
  assert(type(items) == "table", "dcs.gather: items must be a list")
  assert(type(fn) == "function", "dcs.gather: fn must be a function")
  assert(opts == nil or type(opts) == "table", "dcs.gather: opts must be a table")
  opts = opts or {}
  local cap = opts.concurrency or M.DEFAULT_CONCURRENCY
  assert(type(cap) == "number" and cap >= 1 and cap == math.floor(cap) and cap <= 10000,
    "dcs.gather: concurrency must be an integer from 1 to 10000")
  assert(opts.progress == nil or type(opts.progress) == "function", "dcs.gather: progress must be a function")
  assert(opts.stop == nil or opts.stop == false or type(opts.stop) == "function",
    "dcs.gather: stop must be a function or false")
  return cap, opts
end

-- The fan-out each worker runs for, by the worker's coroutine.
local running = setmetatable({}, { __mode = "k" })

--- Why the fan-out that runs the calling code was stopped, or nil: the
--- pipeline asks before each request it sends, so that the items already
--- started (asleep in a back-off, a 429's pause or a rate_limit slot) send
--- nothing more after the stop either.  A fan-out run by an item of
--- another (fetch_run_logs in a dcs.gather) is stopped with it.
---@return string? why
function M.stopped()
  local co = coroutine.running()
  local run = co and running[co]
  while run and not run.stopped do run = run.parent end
  return run and run.stopped
end

-- The shared state of one fan-out and the worker every task/thread runs.
local function new_run(items, fn, opts)
  local run = { items = items, results = {}, next = 1, done = 0, failed = 0, total = #items }
  local caller = coroutine.running()
  run.parent = caller and running[caller]     -- the fan-out whose item runs this one
  run.stop = opts.stop == nil and M.stop_on_401 or opts.stop or function() return nil end
  local function record(i, result)
    run.results[i] = result
    run.done = run.done + 1
    if not result.ok then
      run.failed = run.failed + 1
      -- the fan-outs this one runs in are asked too: an item's own result
      -- (fetch_run_logs' files written and failed) may not show the error
      local r = run
      while r do
        r.stopped = r.stopped or r.stop(result.err)
        r = r.parent
      end
    end
    if opts.progress then pcall(opts.progress, run.done, run.total, i, result) end
  end
  function run.worker()
    local co = coroutine.running()
    local outer = co and running[co]          -- a fan-out run blocking from an item of another
    if co then running[co] = run end
    while run.next <= run.total do
      local i = run.next
      run.next = i + 1
      if run.stopped then
        record(i, { ok = false, err = errors.new { kind = "aborted", retryable = false, message = run.stopped } })
      else
        record(i, outcome(pcall(fn, items[i], i)))
      end
    end
    if co then running[co] = outer end
  end
  return run
end

-- A worker that raised (a `stop` function did) raises here once every
-- worker ended, as task:wait() re-raises outside nginx: never results
-- with holes.
local function gather_ngx(run, cap)
  local threads, failed, failure = {}, false, nil
  for w = 1, math.min(cap, run.total) do threads[w] = ngx.thread.spawn(run.worker) end
  for _, th in ipairs(threads) do
    local ok, err = ngx.thread.wait(th)
    if not ok and not failed then failed, failure = true, err end
  end
  if failed then error(failure, 0) end
end

local function gather_tasks(run, cap)
  local loop, workers = tasks.loop(), {}
  -- from a sink callback (a step is under way) nothing can yield nor step
  -- the loop, and in some nginx phases no coroutine can be made: the items
  -- run one at a time, blocking (or failing with unsupported_phase)
  if loop:stepping() or not transports.coroutines() then return run.worker() end
  for w = 1, math.min(cap, run.total) do workers[w] = loop:spawn(run.worker) end
  -- a task running the fan-out that is cancelled ends its workers too
  local release = tasks.on_cancel(function()
    for _, task in ipairs(workers) do task:cancel() end
  end)
  -- a worker that raised (a `stop` function did) raises here once every
  -- worker ended, as inside nginx: none left running, the hook released
  local raised
  for _, task in ipairs(workers) do
    local ok, err = pcall(task.wait, task)
    if not ok and not raised then raised = { err } end
  end
  release()
  if raised then error(raised[1], 0) end
end

--- The options of dcs.gather.
---@class dcs.GatherOptions
---@field concurrency? integer how many items run at once, 1 to 10000 (default 16)
---@field progress? fun(done: integer, total: integer, index: integer, result: dcs.GatherResult)
---@field stop? (fun(err: dcs.Error): string?)|false why the rest must not run (default: a gateway 401)

--- One item's outcome: { ok = true, value = v } or { ok = false, err = e }.
---@class dcs.GatherResult
---@field ok boolean
---@field value any what fn returned, when ok
---@field err? dcs.Error why not, when not ok

--- dcs.gather(items, fn[, opts]): fn(item, index) over the list, at most
--- `concurrency` at once; fn returns value | nil, err like every client
--- call, and a raise becomes an error too.  A 401 from the gateway stops
--- the rest (errors of kind "aborted"), unless `stop` says otherwise.
---@param items any[] the list
---@param fn fun(item: any, index: integer): any, dcs.Error?
---@param opts? dcs.GatherOptions
---@return dcs.GatherResult[] results in the order of items
---@return integer failed how many failed
function M.gather(items, fn, opts)
  local cap
  cap, opts = check_args(items, fn, opts)
  local run = new_run(items, fn, opts)
  if transports.cosockets() then gather_ngx(run, cap) else gather_tasks(run, cap) end
  return run.results, run.failed
end

return M
