--- Tasks: coroutines that lua-dcs runs concurrently.
--
-- One loop per Lua state (inside nginx, one per request or timer, the
-- loops sharing one engine) drives one libcurl multi engine (dcs.core.engine):
-- a call made inside a task starts its transfer on the engine and yields;
-- the loop steps the engine and resumes each task whose transfer finished
-- or whose sleep ended.  A call made outside any task steps the engine
-- itself until its own transfer is done (a blocking call, as before).
-- C never resumes or yields a coroutine: every resume and yield is here,
-- in Lua.
--
--   local loop = dcs.loop()
--   local task = loop:spawn(function() return client:list_redislogs(id) end)
--   loop:run()                      -- or, in a host loop: loop:step(0) each tick
--   local res, err = task:result()
-- @module dcs.tasks
local core = require "dcs.core"

local M = {}

M.MAX_CONNECTIONS = 64      -- the engine's cap on connections in flight

-- Seconds of work one step does at most, resuming tasks and then handing
-- ready sockets to libcurl (at least one of each when there are any): a
-- host loop's tick stays short however many answers arrive at once; what
-- is left over is done first by the next step.
M.STEP_BUDGET = 0.0003

--- The loop of a Lua state, or inside nginx of a request or timer
--- (dcs.loop()): runs tasks over the libcurl multi engine.
---@class dcs.Loop
local Loop = {}
Loop.__index = Loop

--- A task: a function running as a coroutine of the loop (loop:spawn).
---@class dcs.Task
local Task = {}
Task.__index = Task

local WAIT = {}             -- what a task yields: WAIT, kind, value

local unpack = table.unpack or unpack

local function pack(...) return { n = select("#", ...), ... } end

-- The task that runs a coroutine (weak: a finished task's coroutine goes).
local task_of = setmetatable({}, { __mode = "k" })

--- The task running now, or nil in the main thread (or a coroutine that is
--- not a task).
---@return dcs.Task?
function M.current()
  local co = coroutine.running()
  return co and task_of[co] or nil
end

local function new_loop()
  return setmetatable({ ready = {}, sleeping = {}, waiting = {}, live = 0, spawned = 0,
                        depth = 0, nested = {} }, Loop)
end

local default
local LOOP = {}             -- the key of a request's loop in its ngx.ctx: dies with it

local function get_ctx() return ngx.ctx end

-- Inside nginx, the request's (or timer's) ngx.ctx; nil elsewhere, and in
-- nginx's init phase, which has no request.
local function request_ctx()
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return nil end
  local ok, ctx = pcall(get_ctx)
  return ok and type(ctx) == "table" and ctx or nil
end

--- The loop of this Lua state (made on first use): dcs.loop().  Inside
--- nginx, the loop of the request (or timer) running: nginx ties every
--- coroutine to the request that made it, so a task one request left
--- behind can be resumed by no other, nor hold up its loop:run().
---@return dcs.Loop
function M.loop()
  local ctx = request_ctx()
  if ctx then
    ctx[LOOP] = ctx[LOOP] or new_loop()
    return ctx[LOOP]
  end
  default = default or new_loop()
  return default
end

-- A new engine, or e when it is not closed.
local function open_engine(e)
  if e and not e:closed() then return e end
  return core.engine { max_connections = M.MAX_CONNECTIONS }
end

local state_engine          -- the loops' engine: one per Lua state

--- The engine for a call made now: the loops' own (dcs.core.engine), one
--- per Lua state (the loops of nginx's requests share it, and its
--- connections), made on first use and again once closed.  While one of
--- the loop's engines steps (a call from a sink callback of one of its
--- transfers), an engine of that depth's own: an engine cannot step
--- inside its own step.  Those are closed once the loop's own has nothing
--- running (step_engine).
---@return userdata
function Loop:engine()
  if self.depth > 0 then
    self.nested[self.depth] = open_engine(self.nested[self.depth])
    return self.nested[self.depth]
  end
  state_engine = open_engine(state_engine)
  return state_engine
end

--- Starts fn(...) as a task; it runs at the loop's next step.
---@param fn function
---@param ... any its arguments
---@return dcs.Task
function Loop:spawn(fn, ...)
  assert(type(fn) == "function", "dcs.loop:spawn: a function is required")
  local args = pack(...)
  local task = setmetatable({ loop = self, state = "ready" }, Task)
  task.co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  task_of[task.co] = task
  self.spawned = self.spawned + 1
  self.live = self.live + 1
  self.ready[#self.ready + 1] = task
  return task
end

local function finish(task, ok, ...)
  local loop = task.loop
  task.state = "done"
  task.co = nil
  loop.live = loop.live - 1
  if ok then
    task.values = { n = select("#", ...), ... }
  else
    -- failed, not failure ~= nil: error(nil) raised too
    task.failed, task.failure = true, ...
  end
  if task.joiners then
    for _, t in ipairs(task.joiners) do loop:wake(t) end
    task.joiners = nil
  end
end

-- Resumes one task until it yields a wait or ends.
local function resume(task)
  local loop = task.loop
  task.state = "running"
  local co = task.co
  local results = pack(coroutine.resume(co))
  if coroutine.status(co) == "dead" then
    return finish(task, unpack(results, 1, results.n))
  end
  local ok, marker, kind, value = results[1], results[2], results[3], results[4]
  if not ok or marker ~= WAIT then
    -- a plain coroutine.yield inside a task: treat as "run me again"
    task.state = "ready"
    loop.ready[#loop.ready + 1] = task
    return
  end
  task.state = "waiting"
  if kind == "transfer" then
    loop.waiting[value] = task
    task.transfer = value
  elseif kind == "sleep" then
    loop.sleeping[#loop.sleeping + 1] = task
    task.wake_at = value
  end
  -- kind "join": woken by the task it waits for
end

--- Makes a waiting task ready again.
---@param task dcs.Task
function Loop:wake(task)
  if task.state ~= "waiting" then return end
  if task.transfer then self.waiting[task.transfer] = nil end
  task.transfer, task.wake_at = nil, nil
  task.state = "ready"
  self.ready[#self.ready + 1] = task
end

-- Whether the task is asleep still: a task cancelled or woken early
-- (Loop:wake) leaves its entry in loop.sleeping behind, and may be waiting
-- on something else by now.
local function asleep(task)
  return task.state == "waiting" and task.wake_at ~= nil
end

-- Drops the entries of tasks no longer asleep, so that neither the next
-- timeout nor a step's wait counts a cancelled task's sleep.
local function prune_sleeping(loop)
  local list, n = loop.sleeping, 0
  for i = 1, #list do                   -- in place: every tick of a host loop asks
    if asleep(list[i]) then
      n = n + 1
      list[n] = list[i]
    end
  end
  for i = #list, n + 1, -1 do list[i] = nil end
end

-- Wakes the tasks whose transfer is done or whose sleep ended.
local function collect(loop)
  for transfer, task in pairs(loop.waiting) do
    if transfer:done() then loop:wake(task) end
  end
  if #loop.sleeping > 0 then
    local now = core.monotime()
    for _, task in ipairs(loop.sleeping) do
      if asleep(task) and task.wake_at <= now then loop:wake(task) end
    end
    prune_sleeping(loop)
  end
end

--- Seconds until the loop has something to do: 0 when a task is ready,
--- else the nearest of the engine's timeout and the next wake-up; nil when
--- there is nothing to wait for.
---@return number?
function Loop:timeout()
  if #self.ready > 0 then return 0 end
  local t
  if state_engine and not state_engine:closed() then t = state_engine:timeout() end
  prune_sleeping(self)
  if #self.sleeping > 0 then
    local now = core.monotime()
    for _, task in ipairs(self.sleeping) do
      local left = math.max(0, task.wake_at - now)
      t = t and math.min(t, left) or left
    end
  end
  return t
end

--- The descriptors the engine waits on, for a host's poll set.
---@return { fd: integer, read: boolean, write: boolean }[]
function Loop:fds() -- luacheck: no unused args (every loop shares the state's engine)
  if state_engine and not state_engine:closed() then return state_engine:fds() end
  return {}
end

--- Whether one of the loop's engines is stepping: code running now is a
--- sink callback of one of its transfers, where nothing can yield or step
--- the loop.
---@return boolean
function Loop:stepping() return self.depth > 0 end

-- Whether the running code may yield to the loop: it is a task, and no
-- step is under way.
local function may_yield()
  return not M.loop():stepping() and M.current() ~= nil
end
M.may_yield = may_yield           -- transports.shared: may a waiter wait without blocking

-- Closes the engines of nested calls (Loop:engine): made for calls from
-- the sink callbacks of a transfer, they are worth keeping (and their
-- connections) while transfers run, but a long-running host that once
-- made such a call would otherwise hold their sockets for ever.  No step
-- is under way, and a nested call blocks until its transfer ends: they
-- have nothing in flight.
local function close_nested(loop)
  for depth, engine in pairs(loop.nested) do
    engine:close()
    loop.nested[depth] = nil
  end
end

-- Steps engine, counting the steps under way (see Loop:engine).
local function step_engine(loop, engine, wait, budget)
  loop.depth = loop.depth + 1
  local ok, err = pcall(engine.step, engine, wait, budget)
  loop.depth = loop.depth - 1
  if loop.depth == 0 and next(loop.nested) and engine:running() == 0 then close_nested(loop) end
  if not ok then error(err, 0) end
end

-- The command (dcs-logs) catches SIGINT and SIGTERM itself (the library
-- never installs a handler): once it fired, every transfer in flight ends
-- (kind "closed"), so calls return at once and the command can exit.
local function interrupted()
  return core.interrupted ~= nil and core.interrupted()
end

local function cancel_all(loop)
  for transfer in pairs(loop.waiting) do transfer:cancel() end
end

-- Resumes the ready tasks in turn until the deadline; the rest go back to
-- the head of the ready list.
local function resume_ready(loop, deadline)
  local ready = loop.ready
  loop.ready = {}
  for i, task in ipairs(ready) do
    if task.state == "ready" then resume(task) end
    if i < #ready and core.monotime() >= deadline then
      local rest = {}
      for j = i + 1, #ready do rest[#rest + 1] = ready[j] end
      for _, t in ipairs(loop.ready) do rest[#rest + 1] = t end
      loop.ready = rest
      return
    end
  end
end

-- Inside nginx, the live tasks a step finds neither ready nor asleep wait
-- on a cosocket inside a resume that another light thread made: only
-- nginx's event loop moves them on, so the step waits in ngx.sleep
-- instead of returning at once to a caller that would spin (loop:run(),
-- task:wait()) and hang the worker.  Where nginx has no ngx.sleep, no
-- task can wait on a cosocket either.
local function yield_to_nginx(seconds)
  if type(ngx) == "table" and type(ngx.sleep) == "function" then pcall(ngx.sleep, seconds) end
end

--- Does whatever is ready, waiting at most `timeout` seconds (0: never
--- blocks) and working at most about `budget` seconds (the wait aside).
---@param timeout? number seconds (default 0)
---@param budget? number seconds of work (default dcs.tasks.STEP_BUDGET, 0.3 ms)
---@return integer live how many tasks are still alive
function Loop:step(timeout, budget)
  timeout = timeout or 0
  budget = budget or M.STEP_BUDGET
  assert(type(timeout) == "number" and timeout >= 0, "dcs.loop:step: timeout must be >= 0")
  assert(type(budget) == "number" and budget >= 0, "dcs.loop:step: budget must be >= 0")
  assert(not self:stepping(), "dcs.loop:step: called from a sink callback (a step of the loop is under way)")
  local deadline = core.monotime() + budget
  resume_ready(self, deadline)
  local wait = self:timeout()
  wait = math.min(timeout, wait or timeout)
  if state_engine and not state_engine:closed() and state_engine:running() > 0 then
    step_engine(self, state_engine, wait, math.min(1e6, math.max(0, deadline - core.monotime())))
  elseif wait > 0 and #self.sleeping > 0 then
    core.sleep(wait)
  elseif wait > 0 and self.live > 0 then
    yield_to_nginx(wait)
  end
  if interrupted() then cancel_all(self) end
  collect(self)
  return self.live
end

--- Runs until every task has finished.
function Loop:run()
  while self.live > 0 do
    self:step(self:timeout() or 0.01)
  end
end

--- Steps until the transfer is done: the blocking path of a call made
--- outside any task (other tasks' transfers progress meanwhile; tasks
--- themselves are not resumed).
---@param transfer userdata
---@param engine? userdata the engine it runs on (default: self:engine())
function Loop:drive(transfer, engine)
  engine = engine or self:engine()
  while not transfer:done() do
    -- the engine bounds the wait by libcurl's own timer (and a transfer
    -- just started is added first, then waited for in the same step)
    step_engine(self, engine, 0.05)
    if interrupted() then transfer:cancel() end
  end
end

-- ---- what the transports and the client call ----

--- Waits for a transfer: yields when inside a task (and no step of the
--- loop is under way, in whose callbacks nothing can yield), else steps
--- its engine until it is done.
---@param transfer userdata
---@param engine? userdata the engine it runs on (Loop:engine() when it started)
function M.wait_transfer(transfer, engine)
  if transfer:done() then return end
  if may_yield() then
    coroutine.yield(WAIT, "transfer", transfer)
  else
    M.loop():drive(transfer, engine)
  end
end

--- Registers fn to run if the running task is cancelled before the
--- returned function is called: what the task holds that its dropped
--- coroutine would never release (a download's partial file).  The
--- functions of a cancelled task run latest first, under pcall.  Outside
--- a task it does nothing.
---@param fn function
---@return function release
function M.on_cancel(fn)
  local task = M.current()
  if not task then return function() end end
  task.cleanups = task.cleanups or {}
  local list = task.cleanups
  list[#list + 1] = fn
  return function()
    for i = #list, 1, -1 do
      if list[i] == fn then table.remove(list, i) return end
    end
  end
end

--- Sleeps: yields when inside a task (and no step of the loop is under
--- way), else blocks the thread.
---@param seconds number
function M.sleep(seconds)
  if may_yield() then
    coroutine.yield(WAIT, "sleep", core.monotime() + seconds)
  else
    core.sleep(seconds)
  end
end

-- ---- tasks ----

--- Whether the task has finished (or was cancelled).
---@return boolean
function Task:done() return self.state == "done" or self.state == "cancelled" end

--- What the task's function returned; re-raises its error; raises when
--- the task has not finished.  A cancelled task gives nil and an error of
--- kind "cancelled".
---@return any ... the function's return values
function Task:result()
  assert(self:done(), "dcs task: result() before the task finished (see task:done())")
  if self.state == "cancelled" then
    return nil, require("dcs.errors").new { kind = "cancelled", message = "the task was cancelled",
                                            retryable = false }
  end
  if self.failed then error(self.failure, 0) end
  return unpack(self.values, 1, self.values.n)
end

-- Whether task is, or waits (through a chain of waits) for, other: a wait
-- that would close such a cycle would never end.
local function waits_for(task, other)
  while task do
    if task == other then return true end
    task = task.joining
  end
  return false
end

--- Waits for the task: yields when called from another task, else runs
--- the loop until it is done.
---@return any ... task:result()
function Task:wait()
  if not self:done() then
    assert(not self.loop:stepping(), "dcs task: wait() from a sink callback (a step of the loop is under way)")
    local me = M.current()
    if me then
      assert(not waits_for(self, me), "dcs task: wait() on a task that waits for this one (or on itself)")
      self.joiners = self.joiners or {}
      self.joiners[#self.joiners + 1] = me
      me.joining = self
      coroutine.yield(WAIT, "join")
      me.joining = nil
    else
      while not self:done() do self.loop:step(self.loop:timeout() or 0.01) end
    end
  end
  return self:result()
end

-- Takes a cancelled waiter off the list of the task it waited for: that
-- task may run for weeks, and a waiter cancelled (a wait given up on a
-- timeout) would stay on its list, held, until it ends.
local function leave(task, waiter)
  local list = task.joiners or {}
  for i = #list, 1, -1 do
    if list[i] == waiter then table.remove(list, i) return end
  end
end

--- Ends the task now; its transfer in flight ends with kind "closed", and
--- what it registered with on_cancel is released.
---@return boolean cancelled false when it had already finished, or is the
--- one running (it ends by returning)
function Task:cancel()
  if self:done() or self.state == "running" then return false end
  local loop = self.loop
  if self.transfer then
    loop.waiting[self.transfer] = nil
    self.transfer:cancel()
  end
  self.state = "cancelled"
  self.co = nil
  if self.joining then leave(self.joining, self) end
  self.joining = nil          -- it waits for nothing now: no false cycle in a later wait (waits_for)
  loop.live = loop.live - 1
  local cleanups = self.cleanups or {}
  self.cleanups = nil
  for i = #cleanups, 1, -1 do pcall(cleanups[i]) end
  if self.joiners then
    for _, t in ipairs(self.joiners) do loop:wake(t) end
    self.joiners = nil
  end
  return true
end

M.Loop, M.Task = Loop, Task
return M
