--- Runs bin/dcs-logs as a real process, in a chosen directory and
-- environment: to completion (run), in the background to be signalled
-- (start), or on a pseudo-terminal made by script(1) (tty).
local core = require "dcs.core"
local sub = require "support.subprocess"

local M = {}

--- The servers of a command spec, made once for a describe block and
-- reset before each test: a hostile server (hs), the emulator (emu, whose
-- collect job takes 0.2 s) and a scratch directory (dir).  In a describe:
--   local s = cli.servers()
--   lazy_setup(s.start); lazy_teardown(s.stop); before_each(s.reset)
function M.servers()
  local E = require "support.emulator"
  local s = {}
  function s.start()
    s.hs = E.start_hostile()
    s.emu = E.start("--collect-delay 0.2")
    s.dir = require("support.files").tmpdir()
  end
  function s.stop()
    s.hs:stop()
    s.emu:stop()
    os.execute("rm -rf " .. s.dir)
  end
  function s.reset()
    s.hs:reset()
    s.emu:reset()
    os.execute("rm -rf " .. s.dir .. "/*")
  end
  return s
end

local quote = sub.quote

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end
M.read_all = read_all

-- "env -u LD_PRELOAD ENV LUA_PATH=... LUA_CPATH=... lua bin/dcs-logs ARGS"
local function command_line(env, args)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = quote(a) end
  return ("env -u LD_PRELOAD %s LUA_PATH=%s LUA_CPATH=%s %s %s/bin/dcs-logs %s"):format(env,
    quote(sub.LUA_PATH), quote(sub.LUA_CPATH), sub.LUA, sub.ROOT, table.concat(quoted, " "))
end
M.command_line = command_line

--- env: a string of NAME=value words for env(1), already quoted.
-- -> exit status, stdout, stderr
function M.run(dir, env, ...)
  local err_file = os.tmpname()
  local cmd = ("cd %s && %s 2>%s"):format(quote(dir), command_line(env, { ... }), err_file)
  local status, out = sub.shell(cmd)
  local err = read_all(err_file)
  os.remove(err_file)
  return status, out, err
end

local Background = {}
Background.__index = Background

--- Starts the command in the background -> handle with .pid (the command's
-- own process), :signal(name), :wait(bound).  SIGINT and SIGTERM are reset
-- to their default first: a shell starts background jobs with them ignored.
function M.start(dir, env, ...)
  local base = os.tmpname()
  local h = setmetatable({ pidfile = base .. ".pid", rcfile = base .. ".rc", outfile = base .. ".out",
    errfile = base .. ".err", base = base }, Background)
  local cmd = ("cd %s && ( env --default-signal=INT,TERM sh -c 'echo $$ > %s; exec \"$@\"' sh %s >%s 2>%s;"
    .. " echo $? > %s.tmp; mv %s.tmp %s ) </dev/null >/dev/null 2>&1 &"):format(quote(dir), h.pidfile,
    command_line(env, { ... }), h.outfile, h.errfile, h.rcfile, h.rcfile, h.rcfile)
  os.execute(cmd)
  for _ = 1, 200 do
    local pid = tonumber(read_all(h.pidfile) or "")
    if pid then
      h.pid = pid
      return h
    end
    core.sleep(0.05)
  end
  error("the command did not start: " .. cmd)
end

function Background:signal(name)
  os.execute(("kill -%s %d"):format(name, self.pid))
end

--- Waits at most `bound` seconds -> exit status, stdout, stderr (nil on timeout).
function Background:wait(bound)
  local deadline = core.monotime() + bound
  while core.monotime() < deadline do
    local rc = tonumber(read_all(self.rcfile) or "")
    if rc then
      local out, err = read_all(self.outfile), read_all(self.errfile)
      for _, f in ipairs { self.pidfile, self.rcfile, self.outfile, self.errfile, self.base } do os.remove(f) end
      return rc, out, err
    end
    core.sleep(0.05)
  end
  self:signal("KILL")
  return nil
end

--- Runs the command on a pseudo-terminal of `cols` columns; shell_tail is
-- appended to the command line as is (e.g. a redirection of stdout).
-- -> everything the terminal showed
function M.tty(dir, env, args, shell_tail, cols)
  local inner = ("stty cols %d; cd %s && %s %s"):format(cols or 100, quote(dir), command_line(env, args),
    shell_tail or "")
  local p = io.popen("env -u LD_PRELOAD script -qec " .. quote(inner) .. " /dev/null")
  local shown = p:read("*a")
  p:close()
  return shown
end

--- The environment that points the command at an emulator.
function M.env_for(emu, E)
  return ("DCS_ENDPOINT=%s HUAWEICLOUD_SDK_AK=%s HUAWEICLOUD_SDK_SK=%s HUAWEICLOUD_SDK_PROJECT_ID=%s")
    :format(emu.url, E.AK, E.SK, E.PROJECT)
end

return M
