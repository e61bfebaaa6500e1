-- Download speed: client:download against `curl -s -o` and against the
-- SHA-256 of the file alone, in the same run, from a local nginx serving a
-- static file (Debian's nginx, no Lua on the server side).  Each round runs
-- every variant once, in an order that rotates from round to round; the
-- table shows the medians.  Peak Lua heap (sampled from the progress
-- callback) and the process's peak RSS (VmHWM) show that memory stays
-- constant whatever the file's size.  CPU is user+sys of the Lua process
-- (every thread) or of curl.  The checksummed download keeps the MD5 too
-- (for a Content-MD5), on a second helper thread; the last row is the same
-- transfer through core.http with the SHA-256 only, to show what that costs.
--
--   make bench                                    (LUA=lua5.4 by default)
--   lua5.4 bench/download.lua [rounds] [MiB]      (with LUA_PATH/LUA_CPATH as in make bench)
local core = require "dcs.core"
local dcs = require "dcs"
local server = require "server"

local ROUNDS = tonumber(arg[1]) or 7
local MIB = tonumber(arg[2]) or 300
local DIR = os.getenv("PWD") .. "/build/bench"
local WWW = DIR .. "/www"
local SOURCE = WWW .. "/file.bin"
local OUT = DIR .. "/out"

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, "failed: " .. cmd)
end

local function vm_hwm_kib()
  local f = assert(io.open("/proc/self/status"))
  local kib = f:read("*a"):match("VmHWM:%s*(%d+)")
  f:close()
  return tonumber(kib)
end

-- CPU seconds used so far by this process (all its threads) and by its
-- waited-for children (curl), from /proc/self/stat.
local TICKS = tonumber(io.popen("getconf CLK_TCK"):read("*l")) or 100
local function cpu_seconds()
  local f = assert(io.open("/proc/self/stat"))
  local fields = {}
  for x in f:read("*a"):gsub("^.-%) ", ""):gmatch("%S+") do fields[#fields + 1] = x end
  f:close()
  return (fields[12] + fields[13] + fields[14] + fields[15]) / TICKS
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local n = f:seek("end")
  f:close()
  return n
end

-- The served file, MIB MiB of random bytes, made once and kept in build/.
local function make_source()
  sh("mkdir -p " .. WWW .. " " .. DIR .. "/tmp " .. OUT)
  if file_size(SOURCE) ~= MIB * 1024 * 1024 then
    io.stderr:write(("making %s (%d MiB)\n"):format(SOURCE, MIB))
    sh(("head -c %d /dev/urandom > %s"):format(MIB * 1024 * 1024, SOURCE))
  end
end

-- nginx serving WWW as static files (bench/server.lua's nginx).
local STATIC = [[
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:%d;
    root %s;
    location / { }
  }]]

local function start_nginx()
  local port = server.free_port()
  local stop = server.nginx(DIR, STATIC:format(port, WWW), { port }, function(http, url)
    local res = http:request { method = "HEAD", url = url .. "/file.bin" }
    return res and res.status == 200
  end)
  return ("http://127.0.0.1:%d"):format(port), stop
end

local function main()
  make_source()
  local load_before = server.loadavg()
  local expected = assert(core.sha256_file(SOURCE))
  local url, stop_nginx = start_nginx()
  local link = url .. "/file.bin"
  local client = dcs.client { ak = "BENCHAK0000000000000", sk = "bench", project = ("0"):rep(32),
    endpoint = url, proxy = "" }
  local heap_peak, heap_start = 0, collectgarbage("count")
  local function sample() heap_peak = math.max(heap_peak, collectgarbage("count")) end
  local http = core.http { proxy = "" }
  local hwm_start = vm_hwm_kib()

  local variants = {
    { name = "curl -s -o", run = function(path)
      sh(("curl -s --noproxy '*' -o %s %s"):format(path, link))
    end },
    { name = "client:download, checksum = false", run = function(path)
      local res = assert(client:download(link, path, { checksum = false, progress = sample }))
      assert(res.sha256 == nil)
    end },
    { name = "client:download (SHA-256)", run = function(path)
      local res = assert(client:download(link, path, { progress = sample }))
      assert(res.sha256 == expected, "wrong SHA-256")
    end },
    { name = "SHA-256 of the file alone", run = function()
      assert(core.sha256_file(SOURCE) == expected)
    end },
    -- what the MD5 costs: the same transfer as client:download's, without it
    { name = "core.http sink, SHA-256 only", run = function(path)
      local f = assert(core.open_file(path, "new", { sha256 = true }))
      assert(http:request { url = link, sink = { file = f, progress = sample } })
      assert(f:sha256() == expected, "wrong SHA-256")
      f:close()
    end },
  }
  local times, cpus = {}, {}
  for i = 1, #variants do times[i], cpus[i] = {}, {} end
  -- round 0 warms the page cache and nginx up, and is not counted
  for round = 0, ROUNDS do
    for k = 0, #variants - 1 do
      local i = (round + k) % #variants + 1
      local path = OUT .. "/" .. i .. ".bin"
      os.remove(path)
      local t0, c0 = core.monotime(), cpu_seconds()
      variants[i].run(path)
      if round > 0 then
        times[i][round], cpus[i][round] = core.monotime() - t0, cpu_seconds() - c0
      end
      if i ~= 4 then
        assert(file_size(path) == MIB * 1024 * 1024, variants[i].name .. ": wrong size")
        os.remove(path)
      end
    end
  end
  client:close()
  http:close()
  stop_nginx()

  local med = {}
  print(("download of %d MiB from a local nginx (%s, libcurl %s); medians of %d interleaved rounds")
    :format(MIB, type(jit) == "table" and jit.version or _VERSION, core.curl_version(), ROUNDS))
  print(("  %-36s %9s %9s %8s"):format("", "wall", "MiB/s", "CPU"))
  for i, v in ipairs(variants) do
    med[i] = server.median(times[i])
    print(("  %-36s %7.3f s %9.0f %6.2f s"):format(v.name, med[i], MIB / med[i], server.median(cpus[i])))
  end
  print(("  download / curl -o:                  %.2fx the time (%.2fx the speed; target >= 0.9x)")
    :format(med[2] / med[1], med[1] / med[2]))
  print(("  download+SHA-256 / SHA-256 alone:    %.2fx the time (target <= 1.2x)"):format(med[3] / med[4]))
  print(("  download+SHA-256 / curl -o:          %.2fx the time"):format(med[3] / med[1]))
  print(("  SHA-256 only (no MD5) / SHA-256 alone: %.2fx the time"):format(med[5] / med[4]))
  print(("  Lua heap: %.0f KiB at the start, peak %.0f KiB during the downloads")
    :format(heap_start, heap_peak))
  print(("  RSS (VmHWM): %.1f MiB before the first round, %.1f MiB after the last (file: %d MiB)")
    :format(hwm_start / 1024, vm_hwm_kib() / 1024, MIB))
  -- the machine's other work shows in the ratios: the checksummed download
  -- needs a second core for its helpers
  local load_after = server.loadavg()
  print(("  load average before: %s, after: %s (%s CPUs)"):format(load_before, load_after,
    io.popen("nproc"):read("*l") or "?"))
  -- for the closing table of make bench (bench/table.lua)
  server.record {
    { "download", ("%.3f %.3f"):format(med[1] / med[2], med[3] / med[4]) },
    { "download load", load_before .. " / " .. load_after },
  }
end

server.run(main)
