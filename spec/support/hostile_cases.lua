--- The hostile suite's cases, as data: what a caller may pass to each
-- public function (inputs), and what a server may do as the DCS endpoint,
-- the IAM endpoint, the metadata service or a download link (faults), each
-- with the outcome it must have.  spec/hostile_spec.lua runs them: the
-- inputs through libcurl, the faults through libcurl and, inside nginx,
-- through cosockets (this file is loaded there too, so nothing here needs
-- busted: checks get `assert` as an argument).  spec/docs_spec.lua counts
-- them (M.counts) against the README.
--
-- An input case:  { name, fn, call | options | request, expect, ... }
--   fn       the public function: "dcs.client", "dcs.sign" or a method name
--   expect   "raise" (a programmer error: dcs.client and dcs.sign), "ok", or
--            the error kind of `nil, err` ("invalid_argument", "closed", "io")
--   names    for "raise": a word the message must contain (the option)
--   setup    function(ctx) run first (files planted in ctx.dir)
-- Nothing may reach the server for any input case.
--
-- A fault case:  { name, target, scripts, files?, client?, call_opts?, expect, ... }
--   target     list | link | collect | each | fetch | iam | metadata | download | twice
--   scripts    tools/hostile-server scripts, tried before the target's defaults
--   files      served files (tools/hostile_server/files.py)
--   listener   "silent" | "close" | "tls_silent": an extra listener to open first
--   client     client options over the defaults; strings may hold {{base}},
--              {{silent}}, {{tls_silent}}, {{close}}, {{tls}}, {{dead}}
--   expect     "ok", or the error kind (a string or a list of acceptable kinds)
--   reason, status, retryable   more of the error, when given
--   requests   requests the server(s) must have received: n or { min, max } (default 1)
--   time       { min, max } seconds (default { 0, 15 }: generous, valgrind included)
--   left       for download and fetch: the names left in the case's directory
--   memory     { alloc_mib = n }: Lua allocation during the call (GC stopped), or
--              { peak_mib = n }: the Lua heap sampled by the download's progress
--   check      function(verdict, ctx, assert) for what the fields above cannot say
--   curl, ngx  fields that differ for one transport
local cjson = require "cjson"
local dcs = require "dcs"

local M = {}

M.AK = "HOSTILEAK0000000000A"
M.SK = "hostileSK-DO-NOT-LEAK-0000000000000000000"
M.PROJECT = "0123456789abcdef0123456789abcdef"
M.INSTANCE = "5560df16-cebf-4473-95c4-d1b573c16e79"
M.LOG_ID = "3ea6ce21-048e-447a-83c3-3fb004b88439"
M.TMP_AK = "HOSTILETMPAK00000000"
M.TMP_SECRET = "hostileTmpSecret-DO-NOT-LEAK-00000000000"
M.TMP_TOKEN = "hostileTmpToken-DO-NOT-LEAK-0000000000000000000000"
M.SECRETS = { M.SK, M.TMP_SECRET, M.TMP_TOKEN }
M.T = 0.3                      -- seconds: the timeout of the cases that time out
M.FILE_SIZE = 100000           -- the download file's size
M.BIG_FILE = 40 * 1024 * 1024  -- a download that must stream in constant memory
M.MIB = 1024 * 1024

local T, NAN, INF = M.T, 0 / 0, math.huge

-- ---------------------------------------------------------------------------
-- Inputs
-- ---------------------------------------------------------------------------

-- Values that are not ids.  { label, value } (value may be nil).
local BAD_IDS = {
  { "nil" }, { "an empty string", "" }, { "a number", 42 }, { "a float", 4.5 }, { "a boolean", true },
  { "a table", {} }, { "a function", print }, { "NaN", NAN }, { "inf", INF },
  { "'..'", ".." }, { "'.'", "." }, { "a slash", "a/b" }, { "a backslash", "a\\b" },
  { "a question mark", "a?b" }, { "a hash", "a#b" }, { "a percent-encoded slash", "a%2Fb" },
  { "a space", "a b" }, { "a tab", "a\tb" }, { "CRLF and a header", "a\r\nX-Injected: 1" },
  { "a LF", "a\nb" }, { "a NUL", "a\0b" }, { "an escape sequence", "\27[31mred" },
  { "129 characters", ("a"):rep(129) }, { "1 MiB", ("a"):rep(1024 * 1024) },
  { "non-ASCII", "caf\195\169" }, { "a leading dash", "-a" }, { "a leading dot", ".a" },
  { "a semicolon", "a;b" }, { "a query string", "a&b=c" }, { "'%00'", "%00" },
}

-- Values that are not a number of seconds.
local BAD_SECONDS = {
  { "NaN", NAN }, { "inf", INF }, { "-inf", -INF }, { "0", 0 }, { "-1", -1 }, { "0.0009", 0.0009 },
  { "1e300", 1e300 }, { "2^63", 2 ^ 63 }, { "a string", "1" }, { "true", true }, { "a table", {} },
}

local BAD_RETRIES = {
  { "a string", "x" }, { "a number", 1 }, { "true", true }, { "max -1", { max = -1 } },
  { "max NaN", { max = NAN } }, { "max 1.5", { max = 1.5 } }, { "max 11", { max = 11 } },
  { "base inf", { base = INF } }, { "base 0", { base = 0 } }, { "cap NaN", { cap = NAN } },
  { "cap 1e308", { base = 1e308, cap = 1e308 } }, { "an unknown field", { tries = 3 } },
  { "max a string", { max = "3" } },
}

local BAD_OPTS = { { "a string", "x" }, { "a number", 1 }, { "true", true }, { "a function", print } }

local inputs = {}

local function input(case)
  inputs[#inputs + 1] = case
  return case
end

local function for_values(list, fn)
  for _, v in ipairs(list) do fn(v[1], v[2]) end
end

-- Runs an iterator to its end: the files, or nil, err (and the loop must
-- end after its false, err).
local function drain(iter)
  local files = {}
  for _ = 1, 100000 do
    local f, err = iter()
    if f == nil then return files end
    if f == false then
      if iter() ~= nil then return nil, "the loop went on after false, err" end
      return nil, err
    end
    files[#files + 1] = f
  end
  return nil, "the loop never ended"
end
M.drain = drain

local LINK = M.INSTANCE
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack
local function link_call(...)
  local args = pack(...)
  return function(c) return c:create_redislog_download_link(unpack(args, 1, args.n)) end
end

-- create_redislog_download_link
for_values(BAD_IDS, function(label, v)
  input { name = "create_redislog_download_link: instance_id " .. label, fn = "create_redislog_download_link",
    call = function(c) return c:create_redislog_download_link(v, M.LOG_ID) end, expect = "invalid_argument" }
  input { name = "create_redislog_download_link: log_id " .. label, fn = "create_redislog_download_link",
    call = function(c) return c:create_redislog_download_link(LINK, v) end, expect = "invalid_argument" }
end)
for_values(BAD_OPTS, function(label, v)
  input { name = "create_redislog_download_link: options " .. label, fn = "create_redislog_download_link",
    call = link_call(LINK, M.LOG_ID, v), expect = "invalid_argument" }
end)
for_values(BAD_SECONDS, function(label, v)
  input { name = "create_redislog_download_link: timeout " .. label, fn = "create_redislog_download_link",
    call = link_call(LINK, M.LOG_ID, { timeout = v }), expect = "invalid_argument" }
end)
for_values(BAD_RETRIES, function(label, v)
  input { name = "create_redislog_download_link: retries " .. label, fn = "create_redislog_download_link",
    call = link_call(LINK, M.LOG_ID, { retries = v }), expect = "invalid_argument" }
end)
input { name = "create_redislog_download_link: an unknown option", fn = "create_redislog_download_link",
  call = link_call(LINK, M.LOG_ID, { log_type = "run" }), expect = "invalid_argument" }
input { name = "create_redislog_download_link: a key that is not a string", fn = "create_redislog_download_link",
  call = link_call(LINK, M.LOG_ID, { [1] = "x" }), expect = "invalid_argument" }
input { name = "create_redislog_download_link: too many arguments", fn = "create_redislog_download_link",
  call = link_call(LINK, M.LOG_ID, {}, "extra"), expect = "invalid_argument" }

-- collect_redislog
local function collect_call(...)
  local args = pack(...)
  return function(c) return c:collect_redislog(unpack(args, 1, args.n)) end
end
for_values(BAD_IDS, function(label, v)
  input { name = "collect_redislog: instance_id " .. label, fn = "collect_redislog",
    call = collect_call(v, { query_time = 1 }), expect = "invalid_argument" }
  input { name = "collect_redislog: replication_id " .. label, fn = "collect_redislog",
    call = collect_call(M.INSTANCE, { query_time = 1, replication_id = v }),
    expect = v == nil and "skip" or "invalid_argument" }
end)
for_values({ { "2", 2 }, { "-1", -1 }, { "NaN", NAN }, { "inf", INF }, { "a string", "1" }, { "1.5", 1.5 },
  { "2^63", 2 ^ 63 }, { "true", true }, { "a table", {} } }, function(label, v)
  input { name = "collect_redislog: query_time " .. label, fn = "collect_redislog",
    call = collect_call(M.INSTANCE, { query_time = v }), expect = "invalid_argument" }
end)
for_values(BAD_OPTS, function(label, v)
  input { name = "collect_redislog: options " .. label, fn = "collect_redislog",
    call = collect_call(M.INSTANCE, v), expect = "invalid_argument" }
end)
input { name = "collect_redislog: log_type (fixed by the SDK)", fn = "collect_redislog",
  call = collect_call(M.INSTANCE, { log_type = "slow" }), expect = "invalid_argument" }
input { name = "collect_redislog: an unknown option", fn = "collect_redislog",
  call = collect_call(M.INSTANCE, { days = 1 }), expect = "invalid_argument" }
input { name = "collect_redislog: timeout NaN", fn = "collect_redislog",
  call = collect_call(M.INSTANCE, { timeout = NAN }), expect = "invalid_argument" }
input { name = "collect_redislog: too many arguments", fn = "collect_redislog",
  call = collect_call(M.INSTANCE, {}, {}), expect = "invalid_argument" }

-- list_redislogs
local BAD_OFFSETS = { { "-1", -1 }, { "2^31", 2 ^ 31 }, { "NaN", NAN }, { "inf", INF }, { "-inf", -INF },
  { "1.5", 1.5 }, { "a string", "0" }, { "1e300", 1e300 }, { "true", true } }
local BAD_LIMITS = { { "0", 0 }, { "1001", 1001 }, { "NaN", NAN }, { "inf", INF }, { "1.5", 1.5 },
  { "a string", "10" }, { "-5", -5 } }
for_values(BAD_IDS, function(label, v)
  input { name = "list_redislogs: instance_id " .. label, fn = "list_redislogs",
    call = function(c) return c:list_redislogs(v) end, expect = "invalid_argument" }
end)
for_values(BAD_OFFSETS, function(label, v)
  input { name = "list_redislogs: offset " .. label, fn = "list_redislogs",
    call = function(c) return c:list_redislogs(M.INSTANCE, { offset = v }) end, expect = "invalid_argument" }
end)
for_values(BAD_LIMITS, function(label, v)
  input { name = "list_redislogs: limit " .. label, fn = "list_redislogs",
    call = function(c) return c:list_redislogs(M.INSTANCE, { limit = v }) end, expect = "invalid_argument" }
end)
for_values(BAD_OPTS, function(label, v)
  input { name = "list_redislogs: options " .. label, fn = "list_redislogs",
    call = function(c) return c:list_redislogs(M.INSTANCE, v) end, expect = "invalid_argument" }
end)
for_values(BAD_SECONDS, function(label, v)
  input { name = "list_redislogs: timeout " .. label, fn = "list_redislogs",
    call = function(c) return c:list_redislogs(M.INSTANCE, { timeout = v }) end, expect = "invalid_argument" }
end)
input { name = "list_redislogs: an unknown option", fn = "list_redislogs",
  call = function(c) return c:list_redislogs(M.INSTANCE, { page = 2 }) end, expect = "invalid_argument" }
input { name = "list_redislogs: log_type (fixed by the SDK)", fn = "list_redislogs",
  call = function(c) return c:list_redislogs(M.INSTANCE, { log_type = "slow" }) end, expect = "invalid_argument" }

-- each_redislog: the loop gets false, err once, then ends; nothing is sent
local function each_call(...)
  local a, b = ...
  return function(c) return drain(c:each_redislog(a, b)) end
end
for_values(BAD_IDS, function(label, v)
  input { name = "each_redislog: instance_id " .. label, fn = "each_redislog", call = each_call(v),
    expect = "invalid_argument" }
end)
for_values({ { "0", 0 }, { "1001", 1001 }, { "1.5", 1.5 }, { "NaN", NAN }, { "inf", INF }, { "a string", "10" } },
  function(label, v)
    input { name = "each_redislog: page_size " .. label, fn = "each_redislog",
      call = each_call(M.INSTANCE, { page_size = v }), expect = "invalid_argument" }
  end)
for_values({ { "0", 0 }, { "-1", -1 }, { "NaN", NAN }, { "inf", INF }, { "1.5", 1.5 }, { "a string", "10" } },
  function(label, v)
    input { name = "each_redislog: max_files " .. label, fn = "each_redislog",
      call = each_call(M.INSTANCE, { max_files = v }), expect = "invalid_argument" }
  end)
for_values(BAD_SECONDS, function(label, v)
  input { name = "each_redislog: timeout " .. label, fn = "each_redislog",
    call = each_call(M.INSTANCE, { timeout = v }), expect = "invalid_argument" }
end)
for_values(BAD_OPTS, function(label, v)
  input { name = "each_redislog: options " .. label, fn = "each_redislog", call = each_call(M.INSTANCE, v),
    expect = "invalid_argument" }
end)
input { name = "each_redislog: an unknown option", fn = "each_redislog",
  call = each_call(M.INSTANCE, { pagesize = 10 }), expect = "invalid_argument" }

-- download (GOOD: the served link, or ctx.dir/out.log)
local GOOD = {}
local function download_call(link, path, opts)
  return function(c, ctx)
    if path == GOOD then path = ctx.dir .. "/out.log" end
    if link == GOOD then link = ctx.base .. "/obs/f.log" end
    return c:download(link, path, opts)
  end
end
local BAD_LINKS = {
  { "nil" }, { "an empty string", "" }, { "a number", 42 }, { "a table", {} },
  { "ftp://", "ftp://127.0.0.1/x" }, { "file://", "file:///etc/passwd" }, { "no host", "http:///x" },
  { "no scheme", "//127.0.0.1/x" }, { "a bare path", "127.0.0.1/x" }, { "javascript:", "javascript:alert(1)" },
  { "user information", "http://user:pw@127.0.0.1/x" }, { "a space", "http://127.0.0.1/a b" },
  { "CRLF and a header", "http://127.0.0.1/x\r\nX-Injected: 1" }, { "a NUL", "http://127.0.0.1/x\0y" },
  { "a '..' segment", "http://127.0.0.1/a/../x" }, { "a '.' segment", "http://127.0.0.1/a/./x" },
  { "a trailing '..'", "http://127.0.0.1/a/.." }, { "an escape sequence", "http://127.0.0.1/\27[31m" },
  { "non-ASCII", "http://127.0.0.1/caf\195\169" }, { "a tab", "http://127.0.0.1/a\tb" },
}
for_values(BAD_LINKS, function(label, v)
  input { name = "download: link " .. label, fn = "download", call = download_call(v, GOOD),
    expect = "invalid_argument" }
end)
for_values({ { "nil" }, { "an empty string", "" }, { "a directory name", "dir/" }, { "a NUL", "out\0.log" },
  { "a number", 42 }, { "a table", {} }, { "true", true } }, function(label, v)
  input { name = "download: path " .. label, fn = "download", call = download_call(GOOD, v),
    expect = "invalid_argument" }
end)
for_values(BAD_OPTS, function(label, v)
  input { name = "download: options " .. label, fn = "download", call = download_call(GOOD, GOOD, v),
    expect = "invalid_argument" }
end)
for_values({
  { "progress a number", { progress = 1 } }, { "resume a string", { resume = "yes" } },
  { "max_resumes -1", { max_resumes = -1 } }, { "max_resumes 101", { max_resumes = 101 } },
  { "max_resumes 1.5", { max_resumes = 1.5 } }, { "max_resumes NaN", { max_resumes = NAN } },
  { "max_resumes a string", { max_resumes = "5" } }, { "timeout 0", { timeout = 0 } },
  { "timeout NaN", { timeout = NAN } }, { "timeout inf", { timeout = INF } }, { "timeout true", { timeout = true } },
  { "timeout a string", { timeout = "x" } }, { "stall_timeout 0.5", { stall_timeout = 0.5 } },
  { "stall_timeout NaN", { stall_timeout = NAN } }, { "stall_timeout 1e7", { stall_timeout = 1e7 } },
  { "min_speed 0", { min_speed = 0 } }, { "min_speed 1.5", { min_speed = 1.5 } },
  { "min_speed NaN", { min_speed = NAN } }, { "min_speed 1e10", { min_speed = 1e10 } },
  { "max_bytes -1", { max_bytes = -1 } }, { "max_bytes 1.5", { max_bytes = 1.5 } },
  { "max_bytes NaN", { max_bytes = NAN } }, { "max_bytes inf", { max_bytes = INF } },
  { "max_bytes 2^53 + 2", { max_bytes = 2 ^ 53 + 2 } }, { "an unknown option", { resumes = 3 } },
}, function(label, v)
  input { name = "download: " .. label, fn = "download", call = download_call(GOOD, GOOD, v),
    expect = "invalid_argument" }
end)
input { name = "download: a path in a directory that does not exist", fn = "download",
  call = function(c, ctx) return c:download(ctx.base .. "/obs/f.log", ctx.dir .. "/missing/out.log") end,
  expect = "io" }
input { name = "download: PATH.part is a directory", fn = "download", call = download_call(GOOD, GOOD),
  setup = function(ctx) assert(os.execute("mkdir " .. ctx.dir .. "/out.log.part")) end, expect = "io",
  left = { "out.log.part" } }
input { name = "download: PATH.part is a symlink to another file", fn = "download",
  call = download_call(GOOD, GOOD),
  setup = function(ctx)
    local f = assert(io.open(ctx.dir .. "/victim", "wb"))
    f:write("precious")
    f:close()
    assert(os.execute(("ln -s %s/victim %s/out.log.part"):format(ctx.dir, ctx.dir)))
  end,
  expect = "io", left = { "out.log.part", "victim" },
  check = function(_, ctx, assert)
    local f = assert(io.open(ctx.dir .. "/victim", "rb"))
    assert.are.equal("precious", f:read("*a"))
    f:close()
  end }

-- fetch_run_logs: every option is checked before the first request
local function fetch_call(a, b)
  return function(c, ctx)
    local opts = b
    if type(b) == "table" and b.dest == nil then
      opts = {}
      for k, v in pairs(b) do opts[k] = v end
      opts.dest = ctx.dir
    end
    return c:fetch_run_logs(a, opts)
  end
end
for_values(BAD_IDS, function(label, v)
  input { name = "fetch_run_logs: instance_id " .. label, fn = "fetch_run_logs", call = fetch_call(v, {}),
    expect = "invalid_argument" }
  input { name = "fetch_run_logs: replication_id " .. label, fn = "fetch_run_logs",
    call = fetch_call(M.INSTANCE, { replication_id = v }), expect = v == nil and "skip" or "invalid_argument" }
end)
for_values(BAD_OPTS, function(label, v)
  input { name = "fetch_run_logs: options " .. label, fn = "fetch_run_logs", call = fetch_call(M.INSTANCE, v),
    expect = "invalid_argument" }
end)
for_values({
  { "days 2", { days = 2 } }, { "days NaN", { days = NAN } }, { "days a string", { days = "1" } },
  { "days -1", { days = -1 } }, { "dest empty", { dest = "" } }, { "dest with a NUL", { dest = "a\0b" } },
  { "dest a number", { dest = 42 } }, { "timeout -1", { timeout = -1 } }, { "timeout NaN", { timeout = NAN } },
  { "timeout inf", { timeout = INF } }, { "timeout a string", { timeout = "300" } },
  { "poll_interval 0", { poll_interval = 0 } }, { "poll_interval NaN", { poll_interval = NAN } },
  { "poll_interval inf", { poll_interval = INF } }, { "progress a number", { progress = 1 } },
  { "request_timeout NaN", { request_timeout = NAN } }, { "request_timeout 0", { request_timeout = 0 } },
  { "request_timeout a string", { request_timeout = "5" } }, { "an unknown option", { day = 1 } },
}, function(label, v)
  input { name = "fetch_run_logs: " .. label, fn = "fetch_run_logs", call = fetch_call(M.INSTANCE, v),
    expect = "invalid_argument" }
end)

-- a closed client
for _, c in ipairs {
  { "create_redislog_download_link", function(cl) return cl:create_redislog_download_link(LINK, M.LOG_ID) end },
  { "collect_redislog", function(cl) return cl:collect_redislog(LINK) end },
  { "list_redislogs", function(cl) return cl:list_redislogs(LINK) end },
  { "each_redislog", function(cl) return drain(cl:each_redislog(LINK)) end },
  { "download", download_call(GOOD, GOOD) },
  { "fetch_run_logs", fetch_call(M.INSTANCE, {}) },
} do
  input { name = c[1] .. ": after close", fn = c[1], closed = true, call = c[2], expect = "closed" }
end

-- dcs.client: a programmer error raises, naming the option, before anything is sent
local function client_input(label, options, names)
  input { name = "dcs.client: " .. label, fn = "dcs.client", options = options, expect = "raise", names = names }
end
local function with(over)
  return function(ctx)
    local o = { ak = M.AK, sk = M.SK, project = M.PROJECT, endpoint = ctx.base }
    for k, v in pairs(over) do
      if v == "NIL" then o[k] = nil else o[k] = v end
    end
    return o
  end
end
client_input("an unknown option", with { bogus = 1 }, "bogus")
client_input("a key that is not a string", with { [1] = "x" }, "unknown option")
for _, field in ipairs { "ak", "sk", "security_token", "project", "region", "endpoint", "iam_endpoint",
  "metadata_endpoint", "credentials_file", "ca_file", "proxy", "no_proxy", "user_agent" } do
  client_input(field .. " a number", with { [field] = 42 }, field)
  client_input(field .. " with CRLF and a header", with { [field] = "a\r\nX-Injected: 1" }, field)
  client_input(field .. " with a NUL", with { [field] = "a\0b" }, field)
end
for _, field in ipairs { "ak", "project", "region", "endpoint", "iam_endpoint", "metadata_endpoint" } do
  client_input(field .. " with an escape sequence", with { [field] = "a\27[31m" }, field)
end
client_input("ak with a space", with { ak = "A K" }, "ak")
client_input("ak with a comma", with { ak = "A,K" }, "ak")
client_input("ak of 129 bytes", with { ak = ("A"):rep(129) }, "ak")
client_input("ak empty", with { ak = "" }, "ak")
client_input("sk empty", with { sk = "" }, "sk")
client_input("ak without sk", with { sk = "NIL" }, "sk")
client_input("sk without ak", with { ak = "NIL" }, "ak")
client_input("security_token without ak and sk", with { ak = "NIL", sk = "NIL", security_token = "t" },
  "security_token")
for_values(BAD_IDS, function(label, v)
  if v ~= nil then client_input("project " .. label, with { project = v }, "project") end
end)
client_input("region in capitals", with { region = "CN-NORTH-4" }, "region")
client_input("an unknown region", with { region = "nowhere-9", endpoint = "NIL" }, "region")
client_input("region empty", with { region = "" }, "region")
for_values({ { "ftp://", "ftp://127.0.0.1" }, { "with user information", "http://u:p@127.0.0.1" },
  { "with a path", "http://127.0.0.1/v2" }, { "with a query", "http://127.0.0.1?x=1" },
  { "with a space", "http://127.0.0.1 x" }, { "empty", "" }, { "javascript:", "javascript:alert(1)" } },
  function(label, v)
    client_input("endpoint " .. label, with { endpoint = v }, "endpoint")
    client_input("iam_endpoint " .. label, with { iam_endpoint = v }, "iam_endpoint")
    if v ~= "" then        -- "" is "not set", as for HUAWEICLOUD_SDK_METADATA_ENDPOINT
      client_input("metadata_endpoint " .. label, with { ak = "NIL", sk = "NIL", metadata_endpoint = v,
        credentials_file = "/nonexistent/hostile" }, "metadata_endpoint")
    end
  end)
client_input("endpoints empty", with { endpoint = "NIL", endpoints = {} }, "endpoints")
client_input("endpoints with a number", with { endpoint = "NIL", endpoints = { "http://127.0.0.1", 42 } }, "endpoints")
client_input("endpoints a string", with { endpoint = "NIL", endpoints = "http://127.0.0.1" }, "endpoints")
client_input("endpoint and endpoints", with { endpoints = { "http://127.0.0.1" } }, "endpoint")
client_input("no endpoint and no region", with { endpoint = "NIL" }, "region")
client_input("no project and no region", with { project = "NIL" }, "project")
for_values(BAD_SECONDS, function(label, v)
  client_input("timeout " .. label, with { timeout = v }, "timeout")
  client_input("connect_timeout " .. label, with { connect_timeout = v }, "connect_timeout")
end)
for_values(BAD_RETRIES, function(label, v)
  if v ~= false then client_input("retries " .. label, with { retries = v }, "retries") end
end)
client_input("transport an unknown name", with { transport = "libcurl" }, "transport")
client_input("transport a number", with { transport = 42 }, "transport")
client_input("on_request a string", with { on_request = "print" }, "on_request")
client_input("on_response a number", with { on_response = 42 }, "on_response")
client_input("insecure a string", with { insecure = "yes" }, "insecure")
input { name = "dcs.client: positional, sk missing", fn = "dcs.client", expect = "raise", names = "sk",
  positional = function(ctx) return M.AK, nil, M.PROJECT, { endpoint = ctx.base } end }
input { name = "dcs.client: positional, options a string", fn = "dcs.client", expect = "raise",
  positional = function() return M.AK, M.SK, M.PROJECT, "x" end }
input { name = "dcs.client: a number instead of options", fn = "dcs.client", expect = "raise", names = "ak",
  positional = function() return 42 end }

-- dcs.sign: bad arguments raise with a message that never quotes the SK;
-- odd but legal ones sign without the SK in anything returned
local function sign_input(label, over, expect)
  input { name = "dcs.sign: " .. label, fn = "dcs.sign", expect = expect or "raise",
    request = function()
      local r = { method = "GET", url = "https://127.0.0.1/v2/p", ak = M.AK, sk = M.SK }
      for k, v in pairs(over) do
        if v == "NIL" then r[k] = nil else r[k] = v end
      end
      return r
    end }
end
local function many(n, prefix)
  local t = {}
  for i = 1, n do t[prefix .. i] = "v" end
  return t
end
for _, field in ipairs { "method", "url", "ak", "sk" } do
  sign_input(field .. " missing", { [field] = "NIL" })
  sign_input(field .. " empty", { [field] = "" })
  sign_input(field .. " a table", { [field] = {} })
end
sign_input("method with a space", { method = "G ET" })
sign_input("method with CRLF", { method = "GET\r\nX: 1" })
sign_input("method with a NUL", { method = "G\0T" })
sign_input("url with CRLF", { url = "https://127.0.0.1/p\r\nX: 1" })
sign_input("url with a NUL", { url = "https://127.0.0.1/p\0x" })
sign_input("url with a space", { url = "https://127.0.0.1/a b" })
sign_input("url without a scheme", { url = "127.0.0.1/p" })
sign_input("url with a query", { url = "https://127.0.0.1/p?x=1" })
sign_input("url without a host", { url = "https:///p" })
sign_input("ak of 129 bytes", { ak = ("a"):rep(129) })
sign_input("ak with a space", { ak = "A K" })
sign_input("ak with a comma", { ak = "A,K" })
sign_input("ak with CRLF", { ak = "AK\r\nX: 1" })
sign_input("body a table", { body = {} })
sign_input("query a string", { query = "a=1" })
sign_input("query value NaN", { query = { a = NAN } })
sign_input("query value inf", { query = { a = INF } })
sign_input("query value 2^63", { query = { a = 2 ^ 63 } })
sign_input("query value a function", { query = { a = print } })
sign_input("query value a nested table", { query = { a = { {} } } })
sign_input("query key a table", { query = { [{}] = 1 } })
sign_input("query of 1025 pairs", { query = many(1025, "k") })
sign_input("headers a string", { headers = "X: 1" })
sign_input("header value with CRLF", { headers = { X = "a\r\nY: 1" } })
sign_input("header value with a NUL", { headers = { X = "a\0b" } })
sign_input("header value NaN", { headers = { X = NAN } })
sign_input("header value a table", { headers = { X = {} } })
sign_input("header name with a space", { headers = { ["X Y"] = "a" } })
sign_input("header name with a colon", { headers = { ["X:"] = "a" } })
sign_input("header name empty", { headers = { [""] = "a" } })
sign_input("header name a number", { headers = { [1] = "a" } })
sign_input("two header names equal but for case", { headers = { ["X-A"] = "a", ["x-a"] = "b" } })
sign_input("257 headers", { headers = many(257, "H") })
sign_input("Host with CRLF", { headers = { Host = "h\r\nX: 1" } })
sign_input("sk with CRLF and NUL", { sk = "sk\r\n\0" .. M.SK }, "ok")
sign_input("sk of 1 MiB", { sk = M.SK .. ("s"):rep(1024 * 1024) }, "ok")
sign_input("a body of 1 MiB", { body = ("b"):rep(1024 * 1024) }, "ok")
sign_input("X-Sdk-Date that is not a date", { headers = { ["X-Sdk-Date"] = "yesterday" } }, "ok")
input { name = "dcs.sign: a string instead of the table", fn = "dcs.sign", expect = "raise",
  request = function() return "GET https://127.0.0.1/" end }
input { name = "dcs.sign: no argument", fn = "dcs.sign", expect = "raise", request = function() return nil end }

-- "skip" marks combinations that are not bad inputs (an absent optional id)
do
  local kept = {}
  for _, c in ipairs(inputs) do
    if c.expect ~= "skip" then kept[#kept + 1] = c end
  end
  inputs = kept
end
M.inputs = inputs

-- ---------------------------------------------------------------------------
-- Server faults
-- ---------------------------------------------------------------------------

local P = "/v2/" .. M.PROJECT .. "/instances/" .. M.INSTANCE
M.PATHS = { list = P .. "/redislog?", links = "/links", iam = "/v3/projects", token = "/meta-data/latest/api/token",
  securitykey = "/openstack/latest/securitykey", obs = "/obs/" }
local LIST = { method = "GET", path_contains = "/redislog?" }
local COLLECT = { method = "POST", path_contains = "/redislog?" }
local LINKS = { method = "POST", path_contains = "/links" }
local IAM = { path_prefix = "/v3/projects" }
local TOKEN = { path_prefix = "/meta-data/latest/api/token" }
local SECKEY = { path_prefix = "/openstack/latest/securitykey" }
local OBS = { path_prefix = "/obs/" }
M.MATCH = { list = LIST, collect = COLLECT, link = LINKS, iam = IAM, token = TOKEN, securitykey = SECKEY,
  obs = OBS }

local JSON_TYPE = { "Content-Type", "application/json" }

local function respond(match, r, times)
  return { match = match, times = times or 1, steps = { { respond = r } } }
end
-- A JSON answer (body given as text, so every byte is as written).
local function answer(match, status, body, headers, times)
  local h = { JSON_TYPE }
  for _, pair in ipairs(headers or {}) do h[#h + 1] = pair end
  return respond(match, { status = status, body = body, headers = h }, times)
end
-- Bytes as the whole answer, then FIN.
local function raw(match, text, times)
  return { match = match, times = times or 1, steps = { { send = text }, { close = true } } }
end
local function steps(match, list, times)
  return { match = match, times = times or 1, steps = list }
end
M.script = { respond = respond, answer = answer, raw = raw, steps = steps }

local FILE1 = '{"id":"f1","file_name":"redis_1.log","group_name":"g","replication_ip":"10.0.0.1",'
  .. '"status":"succeed","time":"2026-01-01T00:00:00Z","backup_id":"b1"}'
local LIST_OK = '{"total_num":1,"file_list":[' .. FILE1 .. ']}'
local LINK_OK = '{"id":"' .. M.LOG_ID .. '","backup_id":"b1","link":"{{base}}/obs/f.log"}'
local IAM_OK = '{"projects":[{"id":"' .. M.PROJECT .. '","name":"cn-north-4"}]}'
local SECKEY_OK = '{"credential":{"access":"' .. M.TMP_AK .. '","secret":"' .. M.TMP_SECRET
  .. '","securitytoken":"' .. M.TMP_TOKEN .. '","expires_at":"2099-01-01T00:00:00.000000Z"}}'
M.BODIES = { file = FILE1, list = LIST_OK, link = LINK_OK, iam = IAM_OK, securitykey = SECKEY_OK }

-- What each target's server answers when no fault script matches.
local DEFAULTS = {
  list = { answer(LIST, 200, LIST_OK, nil, -1) },
  link = { answer(LINKS, 200, LINK_OK, nil, -1) },
  collect = { respond(COLLECT, { status = 204 }, -1) },
  iam = { answer(IAM, 200, IAM_OK, nil, -1), answer(LIST, 200, LIST_OK, nil, -1) },
  metadata = { respond(TOKEN, { status = 200, body = "hostile-metadata-token" }, -1),
    answer(SECKEY, 200, SECKEY_OK, nil, -1), answer(LIST, 200, LIST_OK, nil, -1) },
  download = {},
}
DEFAULTS.each, DEFAULTS.twice = DEFAULTS.list, DEFAULTS.list
DEFAULTS.fetch = { respond(COLLECT, { status = 204 }, -1), answer(LINKS, 200, LINK_OK, nil, -1) }
M.DEFAULTS = DEFAULTS

local faults = {}
local function fault(case)
  case.requests = case.requests or 1
  faults[#faults + 1] = case
  return case
end

local function net(reason) return { expect = "network", reason = reason } end
local function merge(a, b)
  local o = {}
  for k, v in pairs(a or {}) do o[k] = v end
  for k, v in pairs(b or {}) do o[k] = v end
  return o
end
local TIMED_OUT = { expect = "timeout", time = { T, T + 2 }, client = { timeout = T } }

local H200 = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
local function with_length(head, body) return head .. "Content-Length: " .. #body .. "\r\n\r\n" .. body end
local EMPTY_LIST = '{"total_num":0,"file_list":[]}'

-- ---- byte-level faults, on the DCS listing ----
local function wire(name, script, outcome)
  return fault(merge({ name = "dcs: " .. name, target = "list", scripts = { script } }, outcome))
end

wire("a status line without a code", raw(LIST, "HTTP/1.1 abc\r\n\r\n"), net "bad_response")
wire("not HTTP at all (HTTP/0.9)", raw(LIST, EMPTY_LIST), net "bad_response")
wire("binary garbage", raw(LIST, "\0\1\2\255\254\253\r\n\r\n"), net "bad_response")
wire("a four-digit status", raw(LIST, "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}"), net "bad_response")
wire("a status below 100", raw(LIST, "HTTP/1.1 099 X\r\nContent-Length: 2\r\n\r\n{}"), net "bad_response")
wire("a status line of 200 KB", raw(LIST, "HTTP/1.1 200 " .. ("a"):rep(200000) .. "\r\nContent-Length: 2\r\n\r\n{}"),
  net "bad_response")
wire("a NUL in a header value", raw(LIST, with_length(H200 .. "X-A: a\0b\r\n", "{}")), net "bad_response")
wire("a bare CR in a header value", raw(LIST, with_length(H200 .. "X-A: a\rb\r\n", "{}")), net "bad_response")
wire("an escape byte in a header value", raw(LIST, with_length(H200 .. "X-Request-Id: \27[31m\r\n", "{}")),
  net "bad_response")
wire("a header block over 64 KiB", raw(LIST, with_length(H200 .. "X-A: " .. ("a"):rep(70000) .. "\r\n", "{}")),
  net "bad_response")
wire("a header line over 100 KiB", raw(LIST, with_length(H200 .. "X-A: " .. ("a"):rep(300000) .. "\r\n", "{}")),
  net "bad_response")
wire("201 header fields", raw(LIST, with_length(H200 .. ("X-A: a\r\n"):rep(200), "{}")), net "bad_response")
wire("a header block that never ends",
  steps(LIST, { { send = H200 .. ("X-A: a\r\n"):rep(20000) }, { drip = "X-A: a\r\n", interval = 0.01, count = 1000 },
    { hang = true } }), net "bad_response")
wire("header fields that never end, one at a time",
  steps(LIST, { { send = H200 }, { drip = "X-A: a\r\n", interval = 0, count = 100000 }, { hang = true } }),
  net "bad_response")
-- blanks inside a value are kept; trimming them must not be quadratic
wire("a header value with 60 KB of inner blanks",
  raw(LIST, with_length(H200 .. "X-A: a" .. (" "):rep(60000) .. "b\r\n", EMPTY_LIST)),
  { expect = "ok", time = { 0, 3 } })
wire("a Content-Length list with 60 KB of blanks",
  raw(LIST, H200 .. "Content-Length: " .. #EMPTY_LIST .. (" "):rep(60000) .. ", " .. #EMPTY_LIST .. "\r\n\r\n"
    .. EMPTY_LIST), { expect = "ok", time = { 0, 3 } })
wire("a header line without a colon", raw(LIST, with_length(H200 .. "NoColon\r\n", "{}")), net "bad_response")
wire("obsolete line folding", raw(LIST, with_length(H200 .. "X-A: a\r\n  folded\r\n", "{}")), net "bad_response")
wire("a blank before the colon", raw(LIST, with_length(H200 .. "X-A : a\r\n", "{}")), net "bad_response")
wire("a head without its blank line, then FIN", raw(LIST, H200 .. "Content-Length: 2\r\n"),
  { expect = "network", reason = { "recv", "bad_response" } })
wire("Content-Length not a number", raw(LIST, H200 .. "Content-Length: abc\r\n\r\n{}"), net "bad_response")
wire("a negative Content-Length", raw(LIST, H200 .. "Content-Length: -1\r\n\r\n{}"), net "bad_response")
wire("two different Content-Length fields",
  raw(LIST, H200 .. "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} "), net "bad_response")
wire("a Content-Length list of two values", raw(LIST, H200 .. "Content-Length: 2, 3\r\n\r\n{} "),
  net "bad_response")
wire("a Content-Length of 23 digits",
  raw(LIST, H200 .. "Content-Length: 99999999999999999999999\r\n\r\n{}"), net "bad_response")
wire("Content-Length with chunked Transfer-Encoding",
  raw(LIST, H200 .. "Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
  net "bad_response")
wire("equal Content-Length fields", raw(LIST, H200 .. "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
  { expect = "ok" })
local CHUNKED = H200 .. "Transfer-Encoding: chunked\r\n\r\n"
wire("a chunk size that is not hex", raw(LIST, CHUNKED .. "zz\r\n{}\r\n0\r\n\r\n"),
  net "bad_response")
wire("a negative chunk size", raw(LIST, CHUNKED .. "-1\r\n{}\r\n0\r\n\r\n"),
  net "bad_response")
wire("a chunk size of 20 hex digits", raw(LIST, CHUNKED .. "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
  net "bad_response")
wire("a chunk without its CRLF", raw(LIST, CHUNKED .. "2\r\n{}XX0\r\n\r\n"),
  net "bad_response")
wire("a chunked body cut before the last chunk", raw(LIST, CHUNKED .. "2\r\n{}\r\n"), net "recv")
wire("a chunk longer than what follows", raw(LIST, CHUNKED .. "100\r\n{}"), net "recv")
wire("a body shorter than its Content-Length, then FIN", raw(LIST, H200 .. "Content-Length: 100\r\n\r\n{}"),
  net "recv")
wire("an RST in the middle of the body",
  steps(LIST, { { send = H200 .. "Content-Length: 100\r\n\r\n{\"total_num\":" }, { sleep = 0.05 }, { reset = true } }),
  net "recv")
wire("a FIN before any byte", steps(LIST, { { close = true } }), net "recv")
wire("an RST before any byte", steps(LIST, { { reset = true } }), net "recv")
-- the reset comes while the engine polls: a receive error all the same
wire("an RST before any byte, after a pause", steps(LIST, { { sleep = 0.1 }, { reset = true } }), net "recv")
wire("101 Switching Protocols",
  raw(LIST, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n{}"),
  net "bad_response")
wire("10 interim answers, then the answer",
  raw(LIST, ("HTTP/1.1 100 Continue\r\n\r\n"):rep(10) .. with_length(H200, EMPTY_LIST)), { expect = "ok" })
wire("11 interim answers", raw(LIST, ("HTTP/1.1 100 Continue\r\n\r\n"):rep(11) .. with_length(H200, EMPTY_LIST)),
  net "bad_response")
wire("interim answers that never end",
  steps(LIST, { { drip = "HTTP/1.1 102 Processing\r\n\r\n", interval = 0, count = 100000 }, { hang = true } }),
  net "bad_response")
wire("103 Early Hints with headers, then the answer",
  raw(LIST, "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" .. with_length(H200, EMPTY_LIST)),
  { expect = "ok" })
-- trailers after a chunked body are skipped, but bounded as a head is
local LAST_CHUNK = CHUNKED .. ("%x\r\n"):format(#EMPTY_LIST) .. EMPTY_LIST .. "\r\n0\r\n"
wire("200 trailer fields", raw(LIST, LAST_CHUNK .. ("X-T: a\r\n"):rep(200) .. "\r\n"), { expect = "ok" })
wire("201 trailer fields", raw(LIST, LAST_CHUNK .. ("X-T: a\r\n"):rep(201) .. "\r\n"), net "bad_response")
-- (libcurl refuses a trailer line over 4 KiB itself, and so does ngx_wire)
wire("a trailer line of 4093 bytes", raw(LIST, LAST_CHUNK .. "X-T: " .. ("a"):rep(4088) .. "\r\n\r\n"),
  { expect = "ok" })
wire("a trailer line of 4094 bytes", raw(LIST, LAST_CHUNK .. "X-T: " .. ("a"):rep(4089) .. "\r\n\r\n"),
  net "bad_response")
wire("trailers over 64 KiB", raw(LIST, LAST_CHUNK .. ("X-T: " .. ("a"):rep(4000) .. "\r\n"):rep(20) .. "\r\n"),
  net "bad_response")
wire("trailers that never end", steps(LIST, { { send = LAST_CHUNK .. ("X-T: a\r\n"):rep(20000) },
  { drip = "X-T: a\r\n", interval = 0.01, count = 1000 }, { hang = true } }), net "bad_response")
-- (served files have random bytes: LuaJIT interns every string, so a body
-- that repeats itself would cost nothing to keep)
fault { name = "dcs: a body of random bytes over the 2 MiB cap", target = "list", no_defaults = true,
  files = { { path = P .. "/redislog", size = 2 * M.MIB + 1 } },
  expect = "network", reason = "too_large", retryable = false, memory = { alloc_mib = 16 } }
fault { name = "dcs: a body of 16 GiB of random bytes", target = "list", no_defaults = true,
  files = { { path = P .. "/redislog", size = 2 ^ 34 } },
  expect = "network", reason = "too_large", retryable = false, memory = { alloc_mib = 16 } }
wire("a body of repeated bytes over the 2 MiB cap",
  respond(LIST, { body_repeat = { text = ("a"):rep(1024), count = 2049 } }),
  { expect = "network", reason = "too_large", retryable = false })
wire("an endless body delimited by the close",
  respond(LIST, { body_repeat = { text = ("a"):rep(1024), count = 1000000000 }, content_length = cjson.null }),
  { expect = "network", reason = "too_large" })
wire("an endless chunked body",
  respond(LIST, { body_repeat = { text = ("a"):rep(1024), count = 1000000000 }, chunked = true }),
  { expect = "network", reason = "too_large" })
-- (built when run: 2 MiB each)
local BOMB = 699000       -- "{}," times this is just under 2 MiB
local SLOW = { 0, 60 }     -- bounds for work that valgrind slows fifty-fold
fault { name = "dcs: a JSON bomb just under the cap (2 MiB of empty objects)", target = "list",
  scripts = function() return { answer(LIST, 200, "[" .. ("{},"):rep(BOMB) .. "{}]") } end,
  expect = "decode", memory = { alloc_mib = 128 }, time = SLOW }
fault { name = "dcs: a JSON bomb over the cap (8 MiB of empty objects)", target = "list",
  scripts = function() return { answer(LIST, 200, "[" .. ("{},"):rep(4 * BOMB) .. "{}]") } end,
  expect = "network", reason = "too_large", memory = { alloc_mib = 16 } }
fault { name = "dcs: a JSON bomb in file_list just under the cap", target = "list",
  scripts = function() return { answer(LIST, 200, '{"file_list":[' .. ("{},"):rep(BOMB) .. "{}]}") } end,
  expect = "decode", reason = "shape", memory = { alloc_mib = 128 }, time = SLOW }
wire("a 302 redirect to another path", respond(LIST, { status = 302, headers = { Location = "{{base}}/moved" } }),
  { expect = "api", status = 302,
    check = function(_, ctx, assert) assert.are.equal(0, ctx.count_target("/moved")) end })
fault { name = "dcs: a 301 redirect to the silent listener", target = "list", listener = "silent",
  scripts = { respond(LIST, { status = 301, headers = { Location = "{{silent}}/x" } }) },
  expect = "api", status = 301,
  check = function(_, ctx, assert) assert.are.equal(0, ctx.count_listener("silent")) end }
wire("a 307 redirect to https", respond(LIST, { status = 307, headers = { Location = "https://example.invalid/x" } }),
  { expect = "api", status = 307 })
wire("a 308 redirect without a Location", respond(LIST, { status = 308 }), { expect = "api", status = 308 })
for _, v in ipairs { "abc", "-1", "1.5", "0x10", "1e3", "99999999999", "Wed, 99 Foo 2026 00:00:00 GMT", "",
  "1 1", "\t" } do
  wire(("a 429 with Retry-After %q, then the answer"):format(v),
    answer(LIST, 429, '{"error_code":"APIGW.0308","error_msg":"throttled"}', { { "Retry-After", v } }),
    { expect = "ok", requests = 2, client = { retries = { max = 1, base = 0.01, cap = 0.05 } }, time = { 0, 2 } })
end
wire("a 429 with Retry-After: 86400",
  answer(LIST, 429, '{"error_code":"APIGW.0308","error_msg":"throttled"}', { { "Retry-After", "86400" } }),
  { expect = "api", status = 429, client = { retries = { max = 3, base = 0.01, cap = 1 } }, time = { 0, 2 },
    check = function(v, _, assert) assert.are.equal(86400, v.err.retry_after) end })
wire("a 429 with a Retry-After date in the past, then the answer",
  answer(LIST, 429, "{}", { { "Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT" } }),
  { expect = "ok", requests = 2, client = { retries = { max = 1, base = 0.01, cap = 0.05 } }, time = { 0, 2 } })
wire("a 503 every time", answer(LIST, 503, '{"error_code":"APIGW.0613","error_msg":"busy"}', nil, -1),
  { expect = "api", status = 503, retryable = true, requests = 4,
    client = { retries = { max = 3, base = 0.01, cap = 0.02 } }, time = { 0, 2 },
    check = function(v, _, assert) assert.are.equal(4, v.err.attempts) end })
wire("a slow drip of the whole answer", steps(LIST, { { drip = with_length(H200, EMPTY_LIST), interval = 0.004 },
  { close = true } }), { expect = "ok", time = { 0.3, 4 } })
wire("an endless drip", steps(LIST, { { send = H200 .. "Content-Length: 100000\r\n\r\n" },
  { drip = "a", interval = 0.05, count = 100000 } }), TIMED_OUT)
wire("a stall after the head", steps(LIST, { { send = H200 .. "Content-Length: 100\r\n\r\n" }, { hang = true } }),
  TIMED_OUT)
wire("a hang before any byte", steps(LIST, { { hang = true } }), TIMED_OUT)
fault(merge(TIMED_OUT, { name = "dcs: a silent listener (TCP)", target = "list", listener = "silent",
  client = { timeout = T, endpoint = "{{silent}}" },
  check = function(_, ctx, assert) assert.are.equal(1, ctx.count_listener("silent")) end }))
fault(merge(TIMED_OUT, { name = "dcs: a silent TLS listener", target = "list", listener = "tls_silent",
  client = { timeout = T, endpoint = "{{tls_silent}}" }, requests = 0 }))
fault { name = "dcs: TLS with an untrusted certificate", target = "list", server = "tls",
  client = { endpoint = "{{tls}}" }, expect = "network", reason = "tls", requests = 0 }
fault { name = "dcs: a listener that closes at once", target = "list", listener = "close",
  client = { endpoint = "{{close}}" }, expect = "network", reason = { "recv", "send" }, requests = 0 }
fault { name = "dcs: a port that refuses connections", target = "list", client = { endpoint = "{{dead}}" },
  expect = "network", reason = "connect", requests = 0 }
fault { name = "dcs: a second answer smuggled after the first", target = "twice",
  scripts = { steps(LIST, { { send = with_length(H200, EMPTY_LIST)
    .. with_length(H200, '{"total_num":666,"file_list":[]}') } }) },
  expect = "ok", requests = 2,
  check = function(v, _, assert)
    assert.are.equal(0, v.result.total_num)
    assert.are.equal(1, v.second.total_num)         -- the server's own second answer, not the smuggled one
  end }
-- the server had the second request and began its answer: not sent again
fault { name = "dcs: a head cut short on the kept-alive connection", target = "twice",
  scripts = { answer(LIST, 200, EMPTY_LIST), raw(LIST, H200) },
  expect = "network", reason = { "recv", "bad_response" }, requests = 2 }
wire("an X-Request-Id of 60 KB on an error",
  answer(LIST, 500, '{"error_code":"DCS.5000","error_msg":"boom"}', { { "X-Request-Id", ("r"):rep(60000) } }),
  { expect = "api", status = 500,
    check = function(v, _, assert)
      assert.is_true(#v.err.request_id <= 131)
      assert.is_true(#v.err.text <= 1024, #v.err.text)
    end })
wire("an error body of 1 MiB", respond(LIST, { status = 500, body_repeat = { text = "x", count = M.MIB } }),
  { expect = "api", status = 500,
    check = function(v, _, assert) assert.is_true(#v.err.message <= 515, #v.err.message) end })
-- trimming a body or a Retry-After must not be quadratic in their inner blanks
wire("an error body of 100 KB of blanks between two letters",
  respond(LIST, { status = 500, body = "x" .. (" "):rep(100000) .. "y" }),
  { expect = "api", status = 500, time = { 0, 5 } })
wire("a Retry-After with 60 KB of inner blanks",
  answer(LIST, 503, '{"error_code":"APIGW.0613","error_msg":"busy"}',
    { { "Retry-After", "1" .. (" "):rep(60000) .. "x" } }),
  { expect = "api", status = 503, time = { 0, 5 },
    check = function(v, _, assert) assert.is_nil(v.err.retry_after) end })
-- (redacting a secret a body repeats must not copy the body for each one)
wire("an error body echoing a short security token 200000 times",
  respond(LIST, { status = 500, body_repeat = { text = "tok4 ", count = 200000 } }),
  { expect = "api", status = 500, time = { 0, 3 }, client = { security_token = "tok4" },
    check = function(v, _, assert)
      assert.is_nil(v.err.text:find("tok4", 1, true))
      assert.matches("^%*%*%* %*%*%* ", v.err.message)
    end })
wire("an error_msg of 1 MiB", answer(LIST, 500, '{"error_code":"DCS.5000","error_msg":"' .. ("m"):rep(M.MIB) .. '"}'),
  { expect = "api", status = 500,
    check = function(v, _, assert)
      assert.are.equal("DCS.5000", v.err.code)
      assert.is_true(#v.err.message <= 515, #v.err.message)
    end })
wire("an error body nested 100000 deep", answer(LIST, 500, ("["):rep(100000) .. ("]"):rep(100000)),
  { expect = "api", status = 500, check = function(v, _, assert) assert.are.equal("500", v.err.code) end })
wire("an error body that quotes the SK", answer(LIST, 400, '{"error_code":"DCS.4000","error_msg":"your SK is '
  .. M.SK .. '"}'), { expect = "api", status = 400 })
wire("an error code with escape sequences and line breaks",
  answer(LIST, 400, '{"error_code":"\\u001b[31mDCS\\r\\nX: 1","error_msg":"a\\r\\nb\\u001b]0;pwned\\u0007"}'),
  { expect = "api", status = 400,
    check = function(v, _, assert) assert.is_nil(v.err.text:find("[\r\n]")) end })
wire("gzip-encoded garbage", raw(LIST, with_length(H200 .. "Content-Encoding: gzip\r\n", "\31\139\8\0garbage")),
  { expect = "decode" })
wire("an HTTP/1.0 answer delimited by the close", raw(LIST, "HTTP/1.0 200 OK\r\n\r\n" .. EMPTY_LIST),
  { expect = "ok" })
wire("bare LF line ends", raw(LIST, "HTTP/1.1 200 OK\nContent-Length: " .. #EMPTY_LIST .. "\n\n" .. EMPTY_LIST),
  { expect = "ok" })
wire("a 204 to a listing", respond(LIST, { status = 204 }),
  { expect = "ok", check = function(v, _, assert) assert.are.equal(0, v.result.total_num) end })
wire("a 206 to a listing", answer(LIST, 206, EMPTY_LIST), { expect = "decode", reason = "status" })
wire("a 200 with an empty body", respond(LIST, { status = 200, body = "" }), { expect = "decode" })

-- ---- hostile bodies on the DCS endpoint ----
local function body(target, match, label, text, outcome, status)
  return fault(merge({ name = target .. ": " .. label, target = target,
    scripts = { answer(match, status or 200, text) } }, outcome))
end
local NOT_JSON = {
  { "an HTML page", "<html><body>502 Bad Gateway</body></html>" }, { "an unterminated object", '{"total_num":' },
  { "the word nul", "nul" }, { "invalid UTF-8", "\255\254{}" }, { "a top-level array", "[]" },
  { "null", "null" }, { "a number", "123" }, { "a string", '"x"' }, { "true", "true" },
  { "arrays nested 100000 deep", ("["):rep(100000) .. ("]"):rep(100000) },
  { "objects nested 2000 deep", ('{"a":'):rep(2000) .. "1" .. ("}"):rep(2000) },
  { "a BOM before the object", "\239\187\191{}" },
}
for _, b in ipairs(NOT_JSON) do
  body("list", LIST, b[1], b[2], { expect = "decode" })
  body("link", LINKS, b[1], b[2], { expect = "decode" })
end
for _, b in ipairs {
  { "total_num NaN", '{"total_num":NaN,"file_list":[]}' },
  { "total_num Infinity", '{"total_num":Infinity,"file_list":[]}' },
  { "total_num -Infinity", '{"total_num":-Infinity,"file_list":[]}' },
  { "total_num 1e400", '{"total_num":1e400,"file_list":[]}' },
  { "total_num a string", '{"total_num":"5","file_list":[]}' }, { "total_num -1", '{"total_num":-1,"file_list":[]}' },
  { "total_num 1.5", '{"total_num":1.5,"file_list":[]}' }, { "total_num true", '{"total_num":true,"file_list":[]}' },
  { "total_num null", '{"total_num":null,"file_list":[]}' },
  { "total_num an object", '{"total_num":{},"file_list":[]}' },
  { "total_num 2^53 + 2", '{"total_num":9007199254740994,"file_list":[]}' },
  { "total_num 10^18", '{"total_num":1000000000000000000,"file_list":[]}' },
  { "file_list a string", '{"total_num":1,"file_list":"x"}' },
  { "file_list a number", '{"total_num":1,"file_list":5}' },
  { "file_list an object", '{"total_num":1,"file_list":{"a":1}}' },
  { "file_list of numbers", '{"total_num":2,"file_list":[1,2]}' },
  { "file_list of nulls", '{"total_num":1,"file_list":[null]}' },
  { "an id that is a number", '{"total_num":1,"file_list":[{"id":5}]}' },
  { "an id with '..'", '{"total_num":1,"file_list":[{"id":"../x"}]}' },
  { "an empty id", '{"total_num":1,"file_list":[{"id":""}]}' },
  { "an id with a NUL", '{"total_num":1,"file_list":[{"id":"a\\u0000b"}]}' },
  { "an id of 10000 characters", '{"total_num":1,"file_list":[{"id":"' .. ("a"):rep(10000) .. '"}]}' },
  { "no id", '{"total_num":1,"file_list":[{"file_name":"x.log"}]}' },
  { "file_name a number", '{"total_num":1,"file_list":[{"id":"a","file_name":5}]}' },
  { "status an object", '{"total_num":1,"file_list":[{"id":"a","status":{}}]}' },
  { "time a boolean", '{"total_num":1,"file_list":[{"id":"a","time":true}]}' },
  { "group_name an array", '{"total_num":1,"file_list":[{"id":"a","group_name":[]}]}' },
  { "replication_ip a number", '{"total_num":1,"file_list":[{"id":"a","replication_ip":1}]}' },
  { "backup_id an object", '{"total_num":1,"file_list":[{"id":"a","backup_id":{}}]}' },
  { "a key given twice", '{"total_num":1,"total_num":"x","file_list":[]}' },
} do
  body("list", LIST, b[1], b[2], { expect = "decode", reason = "shape" })
end
for _, b in ipairs {
  { "total_num as hex (cjson reads it)", '{"total_num":0x10,"file_list":[]}', 16 },
  { "no file_list", '{"total_num":3}', 3 },
  { "file_name null", '{"total_num":1,"file_list":[{"id":"a","file_name":null}]}', 1 },
  { "unknown fields everywhere", '{"x":{"y":[1]},"total_num":1,"file_list":[{"id":"a","z":[]}]}', 1 },
  { "hostile file names (returned as data)", '{"total_num":2,"file_list":[{"id":"a","file_name":"../../x"},'
    .. '{"id":"b","file_name":"\\u001b[31m\\r\\n"}]}', 2 },
} do
  body("list", LIST, b[1], b[2], { expect = "ok",
    check = function(v, _, assert) assert.are.equal(b[3], v.result.total_num) end })
end
do
  local many_files = {}
  for i = 1, 5000 do many_files[i] = ('{"id":"f%d","file_name":"redis_%d.log","status":"succeed"}'):format(i, i) end
  body("list", LIST, "5000 files in one page (about 300 KB)", '{"total_num":5000,"file_list":['
    .. table.concat(many_files, ",") .. "]}", { expect = "ok", memory = { alloc_mib = 64 },
    check = function(v, _, assert) assert.are.equal(5000, v.result.n_files) end })
end
for _, b in ipairs {
  { "no link", '{"id":"x"}' }, { "link a number", '{"link":5}' }, { "link an object", '{"link":{}}' },
  { "link null", '{"link":null}' }, { "link an array", '{"link":["http://x"]}' },
} do
  body("link", LINKS, b[1], b[2], { expect = "decode", reason = "shape" })
end
body("link", LINKS, "an empty body", "", { expect = "decode" })
body("link", LINKS, "a javascript: link (returned; download refuses it)", '{"link":"javascript:alert(1)"}',
  { expect = "ok" })
body("link", LINKS, "a link with CRLF (returned; download refuses it)", '{"link":"http://h/x\\r\\nX: 1"}',
  { expect = "ok" })
body("link", LINKS, "a 201 answer", LINK_OK, { expect = "decode", reason = "status" }, 201)
body("link", LINKS, "an OBS-style XML error", "<Error><Code>AccessDenied</Code><Message>no</Message></Error>",
  { expect = "api", status = 403, check = function(v, _, assert) assert.are.equal("AccessDenied", v.err.code) end },
  403)
fault { name = "collect: a 200 with a body", target = "collect", scripts = { answer(COLLECT, 200, "{}") },
  expect = "decode", reason = "status" }
fault { name = "collect: a 202", target = "collect", scripts = { respond(COLLECT, { status = 202 }) },
  expect = "decode", reason = "status" }
fault { name = "collect: a 204 with a body", target = "collect",
  scripts = { raw(COLLECT, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello") }, expect = "ok" }
fault { name = "collect: a 500 with HTML", target = "collect",
  scripts = { respond(COLLECT, { status = 500, body = "<html>oops</html>" }) }, expect = "api", status = 500 }
fault { name = "collect: a 400 for master/standby without replication_id", target = "collect",
  scripts = { answer(COLLECT, 400, '{"error_code":"DCS.4923","error_msg":"replication_id is required"}') },
  expect = "api", status = 400, check = function(v, _, assert) assert.are.equal("DCS.4923", v.err.code) end }

-- ---- paging ----
local function page(n, total, prefix)
  local files = {}
  for i = 1, n do files[i] = ('{"id":"%s%d","file_name":"f%d.log","status":"succeed"}'):format(prefix or "f", i, i) end
  return ('{"total_num":%s,"file_list":[%s]}'):format(total, table.concat(files, ","))
end
fault { name = "each: total_num 10^15 with one file", target = "each",
  scripts = { answer(LIST, 200, page(1, "1000000000000000"), nil, -1) }, expect = "decode", reason = "paging" }
fault { name = "each: full pages forever", target = "each", call_opts = { page_size = 2, max_files = 10 },
  scripts = { answer(LIST, 200, page(2, "1000000000"), nil, -1) }, expect = "decode", reason = "limit",
  requests = { 5, 6 } }
fault { name = "each: more files than the page size", target = "each", call_opts = { page_size = 2 },
  scripts = { answer(LIST, 200, page(3, "3"), nil, -1) }, expect = "decode", reason = "paging" }
fault { name = "each: a listing that ends before total_num", target = "each", call_opts = { page_size = 2 },
  scripts = { answer(LIST, 200, page(2, "3")), answer(LIST, 200, page(0, "3")) }, expect = "decode",
  reason = "paging", requests = 2 }
fault { name = "each: a second page that fails", target = "each", call_opts = { page_size = 2 },
  scripts = { answer(LIST, 200, page(2, "4")), respond(LIST, { status = 500, body = "down" }) },
  expect = "api", status = 500, requests = 2 }
fault { name = "each: a second page that is not JSON", target = "each", call_opts = { page_size = 2 },
  scripts = { answer(LIST, 200, page(2, "4")), answer(LIST, 200, "<html>") }, expect = "decode", requests = 2 }
fault { name = "each: two pages (control)", target = "each", call_opts = { page_size = 2 },
  scripts = { answer(LIST, 200, page(2, "3")), answer(LIST, 200, page(1, "3", "g")) }, expect = "ok", requests = 2,
  check = function(v, _, assert) assert.are.equal(3, #v.result) end }

-- ---- the IAM project lookup ----
local function iam(label, script, outcome)
  return fault(merge({ name = "iam: " .. label, target = "iam", scripts = { script } }, outcome))
end
iam("one project (control)", answer(IAM, 200, IAM_OK), { expect = "ok", requests = 2 })
for _, b in ipairs {
  { "projects a string", '{"projects":"x"}', "decode" },
  { "projects an object", '{"projects":{}}', "invalid_argument" },
  { "no project", '{"projects":[]}', "invalid_argument" },
  { "two projects", '{"projects":[{"id":"aaaa"},{"id":"bbbb"}]}', "invalid_argument" },
  { "a project that is a number", '{"projects":[1]}', "decode" },
  { "a project without an id", '{"projects":[{"name":"cn-north-4"}]}', "decode" },
  { "an id that is a number", '{"projects":[{"id":5}]}', "decode" },
  { "an id with '..'", '{"projects":[{"id":"../x"}]}', "decode" },
  { "an id with CRLF", '{"projects":[{"id":"a\\r\\nX: 1"}]}', "decode" },
  { "an id of 200 characters", '{"projects":[{"id":"' .. ("a"):rep(200) .. '"}]}', "decode" },
  { "an id null", '{"projects":[{"id":null}]}', "decode" }, { "no projects key", '{"links":{}}', "decode" },
  { "not JSON", "<html>", "decode" }, { "a top-level array", '[{"id":"x"}]', "decode" },
  { "nested 100000 deep", ("["):rep(100000) .. ("]"):rep(100000), "decode" },
  { "10000 projects", '{"projects":[' .. ('{"id":"p"},'):rep(9999) .. '{"id":"p"}]}', "invalid_argument" },
} do
  iam(b[1], answer(IAM, 200, b[2]), { expect = b[3] })
end
iam("a 401", answer(IAM, 401, '{"error":{"code":401,"message":"The request you have made requires authentication."}}'),
  { expect = "api", status = 401 })
iam("a 500 with HTML", respond(IAM, { status = 500, body = "<html>oops</html>" }), { expect = "api", status = 500 })
iam("a 302 redirect", respond(IAM, { status = 302, headers = { Location = "{{base}}/elsewhere" } }),
  { expect = "api", status = 302 })
fault { name = "iam: a body of random bytes over the cap", target = "iam", no_defaults = true,
  files = { { path = "/v3/projects", size = 4 * M.MIB } },
  expect = "network", reason = "too_large", memory = { alloc_mib = 16 } }
iam("a malformed status line", raw(IAM, "HTTP/1.1 abc\r\n\r\n"), net "bad_response")
iam("a stall after the head", steps(IAM, { { send = H200 .. "Content-Length: 100\r\n\r\n" }, { hang = true } }),
  TIMED_OUT)

-- ---- the ECS metadata service (every failure: kind "credentials") ----
local CRED = "credentials"
local function meta(label, scripts, outcome)
  return fault(merge({ name = "metadata: " .. label, target = "metadata", scripts = scripts }, outcome))
end
meta("token, securitykey, then the call (control)", {}, { expect = "ok", requests = 3,
  check = function(_, ctx, assert)
    local call = ctx.log()[3]
    assert.are.equal(M.TMP_TOKEN, call:header("X-Security-Token"))
    assert.matches("Access=" .. M.TMP_AK, call:header("Authorization"))
  end })
meta("a token of 5000 bytes", { respond(TOKEN, { body = ("t"):rep(5000) }) }, { expect = CRED })
meta("a token with CRLF", { respond(TOKEN, { body = "tok\r\nX-Injected: 1" }) }, { expect = CRED })
meta("a token with a NUL", { respond(TOKEN, { body = "tok\0en" }) }, { expect = CRED })
meta("a token answer of 500", { respond(TOKEN, { status = 500, body = "down" }) }, { expect = CRED })
meta("no token service (404): go on without", { respond(TOKEN, { status = 404, body = "Not Found" }) },
  { expect = "ok", requests = 3,
    check = function(_, ctx, assert) assert.is_nil(ctx.log()[2]:header("X-Metadata-Token")) end })
meta("a token answer over the cap", { respond(TOKEN, { body_repeat = { text = ("t"):rep(1024), count = 4096 } }) },
  { expect = CRED })
fault { name = "metadata: a silent metadata service", target = "metadata", listener = "silent",
  client = { metadata_endpoint = "{{silent}}" }, expect = CRED, requests = 1, time = { 3, 5 } }
for _, b in ipairs {
  { "securitykey not JSON", "<html>" }, { "securitykey {}", "{}" }, { "credential a string", '{"credential":"x"}' },
  { "access a number", '{"credential":{"access":5,"secret":"s"}}' },
  { "access with CRLF", '{"credential":{"access":"A\\r\\nX: 1","secret":"' .. M.TMP_SECRET .. '"}}' },
  { "access of 129 bytes", '{"credential":{"access":"' .. ("A"):rep(129) .. '","secret":"' .. M.TMP_SECRET .. '"}}' },
  { "access with a space", '{"credential":{"access":"A K","secret":"' .. M.TMP_SECRET .. '"}}' },
  { "no secret", '{"credential":{"access":"AK"}}' },
  { "an empty secret", '{"credential":{"access":"AK","secret":""}}' },
  { "a secret with a NUL", '{"credential":{"access":"AK","secret":"' .. M.TMP_SECRET .. '\\u0000"}}' },
  { "securitytoken an object", '{"credential":{"access":"AK","secret":"s","securitytoken":{}}}' },
  { "securitytoken with CRLF", '{"credential":{"access":"AK","secret":"s","securitytoken":"'
    .. M.TMP_TOKEN .. '\\r\\nX: 1"}}' },
  { "credential nested 100000 deep", ("["):rep(100000) .. ("]"):rep(100000) },
} do
  meta(b[1], { answer(SECKEY, 200, b[2]) }, { expect = CRED, requests = 2 })
end
meta("expires_at that is not a date", { answer(SECKEY, 200, '{"credential":{"access":"' .. M.TMP_AK
  .. '","secret":"' .. M.TMP_SECRET .. '","expires_at":"soon"}}') }, { expect = "ok", requests = 3 })
meta("expires_at in the past", { answer(SECKEY, 200, '{"credential":{"access":"' .. M.TMP_AK
  .. '","secret":"' .. M.TMP_SECRET .. '","expires_at":"2001-01-01T00:00:00Z"}}') }, { expect = "ok", requests = 3 })
meta("securitykey 401 every time", { respond(SECKEY, { status = 401, body = "Unauthorized" }, -1) },
  { expect = CRED, requests = 4 })
meta("securitykey 401: no agency", { respond(SECKEY, { status = 401,
  body = '{"error":"Please configure Cloud Service Agency first"}' }) }, { expect = CRED, requests = 2 })
meta("securitykey 404", { answer(SECKEY, 404, '{"error":"Please configure Cloud Service Agency first"}') },
  { expect = CRED, requests = 2 })
meta("securitykey 302", { respond(SECKEY, { status = 302, headers = { Location = "{{base}}/x" } }) },
  { expect = CRED, requests = 2 })
meta("securitykey with a malformed status line", { raw(SECKEY, "HTTP/1.1 abc\r\n\r\n") },
  { expect = CRED, requests = 2 })
meta("securitykey over the cap", { respond(SECKEY, { body_repeat = { text = ("a"):rep(1024), count = 4096 } }) },
  { expect = CRED, requests = 2 })
meta("securitykey cut in the middle", { steps(SECKEY, { { send = H200 .. "Content-Length: 500\r\n\r\n{\"cred" },
  { close = true } }) }, { expect = CRED, requests = 2 })

-- ---- the download link ----
local SIZE = M.FILE_SIZE
local function dl(label, outcome)
  local case = merge({ name = "download: " .. label, target = "download" }, outcome)
  case.files = case.files or { { path = "/obs/f.log", size = SIZE } }
  if case.left == nil then case.left = case.expect == "ok" and { "out.log" } or {} end
  return fault(case)
end
local function file(extra) return { merge({ path = "/obs/f.log", size = SIZE }, extra) } end
local function same_sha(v, ctx, assert)
  assert.are.equal(ctx.sha256_file(ctx.dir .. "/out.log"), v.result.sha256)
  assert.are.equal(ctx.served_sha256, v.result.sha256)
end
local PARTIAL = { "out.log.part", "out.log.part.meta" }

dl("a file (control)", { expect = "ok", check = same_sha })
dl("a 404 in OBS XML", { files = {}, scripts = { respond(OBS, { status = 404,
  body = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message>"
    .. "<RequestId>r1</RequestId></Error>" }) },
  expect = "api", status = 404, check = function(v, _, assert) assert.are.equal("NoSuchKey", v.err.code) end })
dl("a 403 in JSON", { files = {}, scripts = { answer(OBS, 403, '{"code":"AccessDenied","message":"expired"}') },
  expect = "api", status = 403 })
dl("a 302 redirect", { scripts = { respond(OBS, { status = 302, headers = { Location = "{{base}}/obs/other" } }) },
  expect = "api", status = 302 })
dl("a Content-Length over max_bytes", { call_opts = { max_bytes = 1000 }, expect = "network", reason = "too_large" })
dl("an endless body delimited by the close", { files = {}, call_opts = { max_bytes = M.MIB },
  scripts = { respond(OBS, { body_repeat = { text = ("a"):rep(1024), count = 1000000000 },
    content_length = cjson.null }) }, expect = "network", reason = "too_large" })
dl("an endless chunked body", { files = {}, call_opts = { max_bytes = M.MIB },
  scripts = { respond(OBS, { body_repeat = { text = ("a"):rep(1024), count = 1000000000 }, chunked = true }) },
  expect = "network", reason = "too_large" })
dl("40 MiB in constant memory", { files = file { size = M.BIG_FILE }, expect = "ok", memory = { peak_mib = 16 },
  time = { 0, 60 }, check = same_sha })
dl("a drop in the middle, strong ETag: resumed", { files = file { tricks = { drop_after = { 30000 } } },
  expect = "ok", requests = 2, check = function(v, ctx, assert)
    same_sha(v, ctx, assert)
    assert.are.equal(1, v.result.resumes)
    assert.are.equal("bytes=30000-", ctx.log()[2]:header("Range"))
  end })
dl("a drop in the middle, Last-Modified only: resumed", { files = file { etag = cjson.null,
  tricks = { drop_after = { 30000 } } }, expect = "ok", requests = 2, check = same_sha })
dl("a drop in the middle, no validator: not resumed", { files = file { etag = cjson.null, last_modified = cjson.null,
  tricks = { drop_after = { 30000 } } }, expect = "network", reason = "recv" })
dl("a drop in the middle, a weak ETag only: not resumed", { files = file { etag = 'W/"weak"',
  last_modified = cjson.null, tricks = { drop_after = { 30000 } } }, expect = "network", reason = "recv" })
dl("a drop, then a 200 to the Range", { files = file { tricks = { drop_after = { 30000 }, ignore_range = true } },
  expect = "ok", requests = 2, check = same_sha })
dl("a drop, then a Content-Range that does not continue", { files = file { tricks = { drop_after = { 30000 },
  range_start_offset = 100 } }, expect = "ok", requests = 3, check = same_sha })
dl("a drop, then new content with new validators", { files = file { tricks = { drop_after = { 30000 },
  change_after = 1 } }, expect = "ok", requests = 2, check = same_sha })
dl("a drop, then new content under the same validator (undetectable)", { files = file { tricks = {
  drop_after = { 30000 }, change_after = 1, keep_validator = true } }, expect = "ok", requests = 2,
  check = function(v, ctx, assert) assert.are.equal(ctx.sha256_file(ctx.dir .. "/out.log"), v.result.sha256) end })
dl("a drop on every request", { files = file { tricks = { drop_after = { 1000, 2000, 3000, 4000, 5000, 6000, 7000 } } },
  expect = "network", reason = "recv", requests = 6, left = PARTIAL })
dl("a drop before any body byte", { files = file { tricks = { drop_after = { 0, 0, 0 } } }, expect = "network",
  reason = "recv" })
dl("a stall after 1000 bytes", { files = file { tricks = { stall_after = 1000 } },
  call_opts = { stall_timeout = 1, max_resumes = 0 }, expect = "timeout", time = { 1, 4 }, left = PARTIAL })
-- libcurl counts body bytes only: the head must come within stall_timeout
dl("a head dripped within the download's timeout", { files = {}, scripts = { steps(OBS, {
  { drip = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" .. ("X-Pad: a\r\n"):rep(20), interval = 0.05 },
  { hang = true } }) }, call_opts = { stall_timeout = 1, max_resumes = 0 }, expect = "timeout", reason = "stall",
  time = { 1, 4 } })
-- and so must the trailers after a chunked body (libcurl: no body bytes, a stall)
dl("trailers dripped within the download's timeout", { files = {}, scripts = { steps(OBS, {
  { send = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"t1\"\r\n\r\na\r\n0123456789\r\n0\r\n" },
  { drip = "X-Pad: a\r\n", count = 100, interval = 0.05 }, { hang = true } }) },
  call_opts = { stall_timeout = 1, max_resumes = 0 }, expect = "timeout", reason = "stall", time = { 1, 4 } })
-- a fragment is the client's alone (RFC 9110 4.2.4): never on the request line
dl("a link with a fragment", { link = "{{base}}/obs/f.log#part-2", expect = "ok", check = function(v, ctx, assert)
  same_sha(v, ctx, assert)
  assert.are.equal("/obs/f.log", ctx.log()[1].target)
end })
dl("a drip slower than the download's timeout", { files = file { tricks = { drip_interval = 0.01 } },
  call_opts = { timeout = T }, expect = "timeout", time = { T, T + 2 }, left = PARTIAL })
dl("a 206 without a Range", { files = {}, scripts = { respond(OBS, { status = 206, body = "abc",
  headers = { ["Content-Range"] = "bytes 0-2/3" } }, -1) }, expect = "network", reason = "refused" })
dl("a 204", { files = {}, scripts = { respond(OBS, { status = 204 }, -1) }, expect = "network", reason = "refused" })
dl("a 416 to the first request", { files = {}, scripts = { respond(OBS, { status = 416,
  headers = { ["Content-Range"] = "bytes */0" } }) }, expect = "api", status = 416 })
dl("an earlier partial file, then a 416 to its resume", { scripts = { respond(OBS, { status = 416,
  headers = { ["Content-Range"] = "bytes */" .. SIZE } }) },
  partial = { bytes = 1000, validator = '"hs-1-' .. SIZE .. '"',
  total = SIZE }, expect = "ok", requests = 2, check = same_sha })
dl("an earlier partial file, resumed", { partial = { bytes = 1000, validator = '"hs-1-' .. SIZE .. '"', total = SIZE },
  expect = "ok", check = function(v, ctx, assert)
    same_sha(v, ctx, assert)
    assert.are.equal("bytes=1000-", ctx.log()[1]:header("Range"))
    assert.are.equal('"hs-1-' .. SIZE .. '"', ctx.log()[1]:header("If-Range"))
  end })
for _, s in ipairs {
  { "not JSON", "garbage" }, { "a validator with CRLF", '{"validator":"\\"v\\"\\r\\nX: 1","total":100000}' },
  { "total NaN", '{"validator":"\\"hs-1-100000\\"","total":NaN}' },
  { "total 10^30", '{"validator":"\\"hs-1-100000\\"","total":1e30}' },
  { "a validator of 5000 bytes", '{"validator":"\\"' .. ("v"):rep(5000) .. '\\"","total":100000}' },
  { "total smaller than the partial file", '{"validator":"\\"hs-1-100000\\"","total":10}' },
} do
  dl("an earlier partial file with a sidecar: " .. s[1], { partial = { bytes = 1000, sidecar = s[2] },
    expect = "ok", check = function(v, ctx, assert)
      same_sha(v, ctx, assert)
      assert.is_nil(ctx.log()[1]:header("Range"))
    end })
end
dl("an error body over the cap", { files = {}, scripts = { respond(OBS, { status = 500,
  body_repeat = { text = ("e"):rep(1024), count = 4096 } }) }, expect = "network", reason = "too_large" })
dl("a link to a silent listener", { files = {}, listener = "silent", link = "{{silent}}/obs/f.log",
  call_opts = { timeout = T }, expect = "timeout", time = { T, T + 2 },
  check = function(_, ctx, assert) assert.are.equal(1, ctx.count_listener("silent")) end })
dl("a link to a silent TLS listener", { files = {}, listener = "tls_silent", link = "{{tls_silent}}/obs/f.log",
  call_opts = { timeout = T }, expect = "timeout", time = { T, T + 2 }, requests = 0 })
dl("11 interim answers", { files = {}, scripts = { raw(OBS, ("HTTP/1.1 100 Continue\r\n\r\n"):rep(11)
  .. "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }, expect = "network", reason = "bad_response" })
dl("two different Content-Length fields", { files = {}, scripts = { raw(OBS,
  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\nETag: \"x\"\r\n\r\nok ") },
  expect = "network", reason = "bad_response" })
dl("an empty file", { files = file { size = 0 }, expect = "ok",
  check = function(v, _, assert) assert.are.equal(0, v.result.bytes) end })
local function boom() error("boom from the caller's function") end
dl("hooks and a progress function that raise", { files = file { size = M.MIB },
  client = { on_request = boom, on_response = boom }, call_opts = { progress = boom },
  expect = "callback", left = PARTIAL })
dl("a progress function that cancels", { files = file { size = M.MIB },
  call_opts = { progress = function() return false end }, expect = "cancelled", left = PARTIAL })
wire("hooks that raise (ignored)", answer(LIST, 200, EMPTY_LIST),
  { expect = "ok", client = { on_request = boom, on_response = boom } })

-- ---- fetch_run_logs: names chosen by the server ----
local HOSTILE_NAMES = { "../../escape.log", "/abs/path.log", ".hidden", "\\u001b[31mred\\u0007.log", "a\\u0000b.log",
  ("x"):rep(5000) .. ".log", "dup.log", "dup.log", "", "..", ".", "con", "a/b/c.log", "..\\\\windows\\\\x.log",
  "\\u65e5\\u672c.log", "\\r\\n.log", "-rf", "~", "$(reboot).log", "*" }
local function listing(names, status)
  local files = {}
  for i, n in ipairs(names) do
    files[i] = ('{"id":"n%d","file_name":"%s","status":"%s"}'):format(i, n, status or "succeed")
  end
  return ('{"total_num":%d,"file_list":[%s]}'):format(#names, table.concat(files, ","))
end
local function fetch(label, scripts, outcome)
  local case = merge({ name = "fetch: " .. label, target = "fetch", files = { { path = "/obs/f.log", size = 1000 } },
    scripts = scripts }, outcome)
  return fault(case)
end
fetch("hostile file names", { answer(LIST, 200, EMPTY_LIST), answer(LIST, 200, listing(HOSTILE_NAMES), nil, -1) },
  { expect = "ok", requests = { 3 + #HOSTILE_NAMES * 2, 3 + #HOSTILE_NAMES * 2 }, left = { "dest" },
    check = function(v, ctx, assert)
      assert.are.equal(#HOSTILE_NAMES, #v.result)
      assert.are.same({}, v.second)
      local seen = {}
      for _, w in ipairs(v.result) do
        local base = w.path:match("^.*/([^/]*)$")
        assert.are.equal(ctx.dir .. "/dest/" .. base, w.path)
        assert.matches("^[%w_+][%w._+-]*$", base)          -- no leading '.' or '-'; nothing else
        assert.is_true(#base <= 220, base)
        assert.is_nil(seen[base], base)
        seen[base] = true
      end
      assert.are.equal(#HOSTILE_NAMES, #ctx.entries(ctx.dir .. "/dest"))
    end })
-- the last segment of a long name is found without going over it again and again
fetch("a file name of 100 KB before its last '/'", { answer(LIST, 200, EMPTY_LIST),
  answer(LIST, 200, listing { ("a"):rep(100000) .. "/x.log" }, nil, -1) },
  { expect = "ok", requests = 5, left = { "dest" }, time = { 0, 5 }, check = function(v, ctx, assert)
    assert.are.equal(1, #v.result)
    assert.are.equal(ctx.dir .. "/dest/x.log", v.result[1].path)
  end })
fetch("a link that is not http(s)", { answer(LIST, 200, EMPTY_LIST), answer(LIST, 200, listing { "a.log" }, nil, -1),
  answer(LINKS, 200, '{"link":"javascript:alert(1)"}', nil, -1) }, { expect = "ok", requests = 4, left = { "dest" },
    check = function(v, _, assert)
      assert.are.same({}, v.result)
      assert.are.equal(1, #v.second)
      assert.are.equal("invalid_argument", v.second[1].error.kind)
    end })
fetch("a link that fails", { answer(LIST, 200, EMPTY_LIST), answer(LIST, 200, listing { "a.log", "b.log" }, nil, -1),
  respond(OBS, { status = 404, body = "<Error><Code>NoSuchKey</Code></Error>" }) },
  { expect = "ok", requests = 7, left = { "dest" }, check = function(v, _, assert)
    assert.are.equal(1, #v.result)
    assert.are.equal(1, #v.second)
    assert.are.equal("NoSuchKey", v.second[1].error.code)
  end })
fetch("files never ready", { answer(LIST, 200, EMPTY_LIST),
  answer(LIST, 200, listing({ "a.log" }, "creating"), nil, -1) },
  { expect = "ok", call_opts = { timeout = T }, time = { T, T + 2 }, requests = { 3, 200 }, left = { "dest" },
    check = function(v, _, assert)
      assert.are.equal(1, #v.second)
      assert.are.equal("timeout", v.second[1].error.kind)
    end })
fetch("no new file", { answer(LIST, 200, EMPTY_LIST, nil, -1) }, { expect = "timeout", call_opts = { timeout = T },
  time = { T, T + 2 }, requests = { 3, 200 }, left = { "dest" } })
-- the wait's timeout covers its listings (but one request's timeout): pages
-- answered slowly, full and never ready, may not hold it for max_files /
-- page_size requests
do
  local files = {}
  for i = 1, 100 do files[i] = ('{"id":"c%d","file_name":"c%d.log","status":"creating"}'):format(i, i) end
  local slow_page = steps(LIST, { { sleep = 0.1 }, { respond = { status = 200, headers = { JSON_TYPE },
    body = '{"total_num":10000,"file_list":[' .. table.concat(files, ",") .. "]}" } } }, -1)
  fetch("listings answered slowly, longer than the wait", { answer(LIST, 200, EMPTY_LIST), slow_page },
    { expect = "timeout", call_opts = { timeout = T, request_timeout = T }, time = { 2 * T, 2 * T + 2 },
      requests = { 3, 12 }, left = { "dest" } })
end
fetch("a listing after the collection that is garbage", { answer(LIST, 200, EMPTY_LIST), answer(LIST, 200, "<html>") },
  { expect = "decode", requests = 3, left = { "dest" } })
fetch("a collection that fails", { answer(LIST, 200, EMPTY_LIST),
  answer(COLLECT, 500, '{"error_code":"DCS.5000","error_msg":"x"}') },
  { expect = "api", status = 500, requests = 2, left = { "dest" } })
fetch("a listing that claims 10^15 files", { answer(LIST, 200, page(1, "1000000000000000"), nil, -1) },
  { expect = "decode", requests = 1, left = { "dest" } })

M.faults = faults

function M.counts()
  return { inputs = #M.inputs, faults = #M.faults }
end

function M.fault(name)
  for _, c in ipairs(faults) do
    if c.name == name then return c end
  end
end

-- ---------------------------------------------------------------------------
-- Running a case (in busted and inside nginx): a verdict, plain data
-- ---------------------------------------------------------------------------

local function clock()
  local nginx = rawget(_G, "ngx")
  if type(nginx) == "table" and nginx.now then
    nginx.update_time()
    return nginx.now()
  end
  return require("dcs.core").monotime()
end

local function fill(v, ctx)
  if type(v) ~= "string" then return v end
  return (v:gsub("{{([%w_]+)}}", function(k) return ctx[k] or ("{{" .. k .. "}}") end))
end

--- A JSON-safe copy: error objects summarised, numbers that JSON cannot
-- hold as strings, deep tables cut.
local function plain(v, depth)
  depth = depth or 0
  if dcs.is_error(v) then
    return { is_error = true, kind = v.kind, status = v.status, code = v.code, reason = v.reason,
      retryable = v.retryable, attempts = v.attempts, retry_after = plain(v.retry_after),
      request_id = v.request_id, message = v.message, operation = v.operation, text = tostring(v) }
  end
  local t = type(v)
  if t == "number" then
    if v ~= v then return "nan" end
    if v == INF or v == -INF then return v > 0 and "inf" or "-inf" end
    return v
  elseif t == "string" or t == "boolean" or t == "nil" then
    return v
  elseif t ~= "table" then
    return "<" .. t .. ">"
  end
  if depth > 6 then return "<deep>" end
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  local out = {}
  if n > 0 and n == count then
    for i = 1, n do out[i] = plain(v[i], depth + 1) end
    return out
  end
  for k, x in pairs(v) do out[tostring(k)] = plain(x, depth + 1) end
  if count == 0 then return {} end
  return out
end
M.plain = plain

local function leaks(value)
  local ok, text = pcall(cjson.encode, value)
  if not ok then return "cannot encode the verdict: " .. tostring(text) end
  for _, s in ipairs(M.SECRETS) do
    if text:find(s, 1, true) then return s:sub(1, 12) .. "..." end
  end
  return nil
end

local TARGET_CALLS = {
  list = function(c) return c:list_redislogs(M.INSTANCE) end,
  iam = function(c) return c:list_redislogs(M.INSTANCE) end,
  metadata = function(c) return c:list_redislogs(M.INSTANCE) end,
  link = function(c) return c:create_redislog_download_link(M.INSTANCE, M.LOG_ID) end,
  collect = function(c) return c:collect_redislog(M.INSTANCE, { query_time = 1 }) end,
  each = function(c, _, case) return drain(c:each_redislog(M.INSTANCE, case.call_opts)) end,
  twice = function(c)
    local a, err = c:list_redislogs(M.INSTANCE)
    if not a then return nil, err end
    local b, err2 = c:list_redislogs(M.INSTANCE)
    if not b then return nil, err2 end
    return a, b
  end,
  download = function(c, ctx, case, sample)
    local opts = merge(case.call_opts)
    if case.memory and case.memory.peak_mib then opts.progress = function() sample() end end
    return c:download(fill(case.link or "{{base}}/obs/f.log", ctx), ctx.dir .. "/out.log", opts)
  end,
  fetch = function(c, ctx, case)
    return c:fetch_run_logs(M.INSTANCE, merge({ dest = ctx.dir .. "/dest", poll_interval = 0.01, timeout = 2 },
      case.call_opts))
  end,
}

local function client_options(case, ctx)
  local o = { ak = M.AK, sk = M.SK, project = M.PROJECT, endpoint = ctx.base, retries = false, timeout = 5 }
  if case.target == "iam" then
    o.project, o.region, o.iam_endpoint, o.ak = nil, "cn-north-4", ctx.base, "HOSTILEIAM" .. ctx.seq
  elseif case.target == "metadata" then
    o.ak, o.sk = nil, nil
    o.metadata_endpoint, o.credentials_file = ctx.base, "/nonexistent/hostile/credentials"
  end
  for k, v in pairs(case.client or {}) do o[k] = fill(v, ctx) end
  return o
end

--- Runs fault `case` against the servers in ctx: { base, silent, tls_silent,
-- close, tls, dead, dir, seq }.  Never raises; the verdict says what happened.
function M.run_fault(case, ctx)
  local verdict = {}
  local ok_client, client = pcall(dcs.client, client_options(case, ctx))
  if not ok_client then return { raised = true, error = "dcs.client: " .. tostring(client) } end
  local memory = case.memory or {}
  collectgarbage("collect")
  collectgarbage("collect")
  local before = collectgarbage("count")
  local peak = before
  local function sample()
    local c = collectgarbage("count")
    if c > peak then peak = c end
  end
  if memory.alloc_mib then collectgarbage("stop") end
  local started = clock()
  local ok, res, second = pcall(TARGET_CALLS[case.target], client, ctx, case, sample)
  verdict.elapsed = clock() - started
  local after = collectgarbage("count")
  if memory.alloc_mib then collectgarbage("restart") end
  client:close()
  verdict.raised = not ok
  if not ok then
    verdict.error = tostring(res)
    return verdict
  end
  verdict.ok = res ~= nil
  verdict.result = plain(res)
  if res == nil then
    verdict.err = plain(second)
    verdict.err_is_error = dcs.is_error(second)
  else
    verdict.second = plain(second)
  end
  if type(res) == "table" and type(res.file_list) == "table" then verdict.result.n_files = #res.file_list end
  res, second = nil, nil           -- luacheck: ignore (dropped before the memory is measured)
  collectgarbage("collect")
  collectgarbage("collect")
  verdict.mem = { alloc_kib = after - before, peak_kib = math.max(peak, after) - before,
    retained_kib = collectgarbage("count") - before }
  verdict.leak = leaks { verdict.result, verdict.err, verdict.second }
  return verdict
end

--- Runs input `case` (busted only): { raised, error, res, err, outputs }.
function M.run_input(case, ctx)
  if case.setup then case.setup(ctx) end
  if case.fn == "dcs.client" then
    local ok, c
    if case.positional then
      ok, c = pcall(dcs.client, case.positional(ctx))
    else
      ok, c = pcall(dcs.client, case.options(ctx))
    end
    if ok then c:close() end
    return { raised = not ok, error = not ok and c or nil }
  elseif case.fn == "dcs.sign" then
    local out = { pcall(dcs.sign, case.request()) }
    return { raised = not out[1], error = not out[1] and out[2] or nil, outputs = { out[2], out[3], out[4] } }
  end
  local client = dcs.client { ak = M.AK, sk = M.SK, project = M.PROJECT, endpoint = ctx.base, retries = false,
    timeout = 5 }
  if case.closed then client:close() end
  local ok, res, err = pcall(case.call, client, ctx)
  client:close()
  return { raised = not ok, error = not ok and res or nil, res = ok and res or nil, err = ok and err or nil }
end

return M
