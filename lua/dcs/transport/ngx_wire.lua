--- The HTTP/1.1 wire protocol over one connected cosocket: the request
-- head, the response head, and bodies (Content-Length, chunked, until
-- close) into a buffer or a sink.  Connections (connect, TLS, proxy,
-- pool) are dcs.transport.ngx's.  Nothing a server sends is trusted: heads
-- are bounded and parsed strictly (as csrc/dcs_headers.c does for
-- libcurl), lengths must be well-formed, and every read is bounded by the
-- request's deadline as well as by the stall timeout.

-- deadlines on CLOCK_MONOTONIC: ngx.now() is the wall clock
local monotime = require("dcs.core").monotime

local M = {}

M.MAX_BODY = 64 * 1024 * 1024      -- buffered bodies by default; streamed ones are the sink's business
M.MAX_HEAD_BYTES = 64 * 1024       -- as DCS_HEADERS_MAX_BYTES
M.MAX_HEAD_FIELDS = 200            -- as DCS_HEADERS_MAX_FIELDS
M.MAX_TRAILER_LINE = 4094         -- bytes before a trailer line's LF: libcurl 7.88's own limit
M.MAX_INTERIM = 10                 -- 1xx answers before the final one, as DCS_HTTP_MAX_INTERIM
M.MAX_LENGTH_DIGITS = 15           -- as DCS_HTTP_MAX_LENGTH_DIGITS
local CHUNK = 65536
local PROGRESS_EVERY = 256 * 1024

function M.failure(kind, reason, message, res)
  local f = { kind = kind, reason = reason, message = message }
  if res then f.status, f.headers = res.status, res.headers end
  return f
end
local failure = M.failure

function M.io_failure(err, what, res)
  if err == "timeout" then return failure("timeout", "timeout", what .. ": timed out", res) end
  if err == "stall" then return failure("timeout", "stall", what .. ": no head within the stall timeout", res) end
  return failure("network", what, what .. ": " .. tostring(err), res)
end
local io_failure = M.io_failure

--- A connection's I/O state: the socket, the absolute deadline (monotime()
-- seconds) and the longest wait for any byte (ms).
function M.new_io(sock, deadline, read_timeout_ms, connect_timeout_ms)
  return { sock = sock, deadline = deadline, read_timeout = read_timeout_ms, connect_timeout = connect_timeout_ms }
end

-- Sets the socket's timeouts so that no wait outlives the deadline, nor
-- ends before it: nginx counts whole milliseconds from a truncated clock,
-- so the time left is rounded up, plus one (a timeout a fraction early let
-- a download start a resume with a millisecond to go).
function M.ms_left(deadline)
  local left = (deadline - monotime()) * 1000
  if left <= 0 then return 0 end
  return math.ceil(left) + 1
end

local function arm(io)
  local left = M.ms_left(io.deadline)
  if left < 1 then return nil end
  io.sock:settimeouts(io.connect_timeout, left, math.min(io.read_timeout, left))
  return true
end

function M.send(io, data)
  if not arm(io) then return nil, "timeout" end
  return io.sock:send(data)
end

-- Whatever is available, up to max bytes.
local function receive_any(io, max)
  if not arm(io) then return nil, "timeout" end
  return io.sock:receiveany(max)
end

local function receive_exact(io, n)
  if not arm(io) then return nil, "timeout" end
  return io.sock:receive(n)
end

-- One line without its CRLF, read in bounded pieces: a line longer than
-- `limit` is an error, never a memory hog.  On an error the third value is
-- what came of the line.
local function read_line(io, limit)
  local reader = io.sock:receiveuntil("\n")
  local parts, size = {}, 0
  while true do
    if not arm(io) then return nil, "timeout" end
    local data, err, partial = reader(4096)
    if not data then
      if err then return nil, err, table.concat(parts) .. (partial or "") end
      break                                     -- the delimiter was found
    end
    size = size + #data
    if size > limit then return nil, "line too long" end
    parts[#parts + 1] = data
  end
  return (table.concat(parts):gsub("\r$", ""))
end

local TOKEN = "^[%w!#$%%&'*+%-.^_`|~]+$"
local CONTROL = "[%z\1-\8\10-\31\127]"      -- any control byte but HTAB, as dcs_headers.c

-- s without the blanks (SP, HTAB) around it, in time linear in #s:
-- "^[ \t]*(.-)[ \t]*$" goes back over a run of blanks once for every byte
-- before it, and one 64 KiB header line held the worker for seconds.
local function trim_blanks(s)
  if not s:find("[^ \t]") then return "" end
  return s:match("^[ \t]*(.*[^ \t])")
end

-- One header line -> name (lower-case), value; or nil when malformed.
local function parse_field(line)
  local name, value = line:match("^([^:]*):(.*)$")
  if not name or not name:find(TOKEN) or value:find(CONTROL) then return nil end
  return name:lower(), trim_blanks(value)
end

-- "HTTP/" DIGIT ["." DIGIT] SP 3DIGIT [SP reason] -> status (100..999),
-- version; or nil.  The grammar of csrc/dcs_headers.h.
local function parse_status_line(line)
  local version, status, rest = line:match("^HTTP/(%d%.%d) ([1-9]%d%d)(.*)$")
  if not version then version, status, rest = line:match("^HTTP/(%d) ([1-9]%d%d)(.*)$") end
  if not version or (rest ~= "" and (rest:sub(1, 1) ~= " " or rest:find(CONTROL))) then return nil end
  return tonumber(status), version
end

-- The status line and fields of one response head; on an error, the
-- third value is true when some of it had come.
local function read_one_head(io)
  local line, err, partial = read_line(io, M.MAX_HEAD_BYTES)
  if not line then
    local started = partial ~= nil and partial ~= ""
    -- bytes that end without a line end are no status line either (HTTP/0.9)
    if err == "closed" and started then return nil, "bad_response" end
    return nil, err, started
  end
  local status, version = parse_status_line(line)
  if not status then return nil, "bad_response" end
  local headers, bytes, fields = {}, #line, 0
  while true do
    local h, herr = read_line(io, M.MAX_HEAD_BYTES)
    if not h then return nil, herr, true end
    if h == "" then break end
    bytes, fields = bytes + #h, fields + 1
    if bytes > M.MAX_HEAD_BYTES or fields > M.MAX_HEAD_FIELDS then return nil, "bad_response" end
    local name, value = parse_field(h)
    if not name then return nil, "bad_response" end
    headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
  end
  return tonumber(status), headers, version
end

-- The status line and headers; up to MAX_INTERIM 1xx answers skipped.
local function read_heads(io)
  for i = 0, M.MAX_INTERIM do
    local status, headers, version = read_one_head(io)
    if not status then return nil, headers, version or i > 0 end
    if status == 101 then return nil, "bad_response" end
    if status >= 200 then return status, headers, version end
  end
  return nil, "bad_response"
end

-- fn(io, arg) with io's deadline brought forward to `window` seconds from
-- now (when given, and sooner): libcurl counts only body bytes toward
-- min_speed, so what comes without any (a head, trailers) must come
-- within the stall window.  -> whether the window was the sooner, then
-- fn's results.
local function windowed(io, window, fn, arg)
  local deadline = io.deadline
  if window then io.deadline = math.min(deadline, monotime() + window) end
  local a, b, c = fn(io, arg)
  local cut = io.deadline < deadline
  io.deadline = deadline
  return cut, a, b, c
end

--- Reads the status line and headers; skips up to MAX_INTERIM 1xx
-- answers.  A 101 is malformed: no request of ours asks to switch protocols.
-- With a stall window (seconds) the head must come within it, "stall"
-- otherwise: libcurl counts only body bytes toward min_speed, and a server
-- dripping its head would hold the call until the deadline.
-- -> status, headers, version | nil, err ("bad_response", "timeout",
-- "stall", ...), started (true when some of an answer had come)
function M.read_head(io, window)
  local cut, status, headers, extra = windowed(io, window, read_heads)
  if not status and headers == "timeout" and cut then headers = "stall" end
  return status, headers, extra
end

-- The consumer's answer to the head: its file, false (buffer), or nil, failure.
local function ask_head(consumer, res)
  local ok, take, why = pcall(consumer.head, res.status, res.headers)
  if not ok then return nil, failure("aborted", "callback", "sink.head failed: " .. tostring(take), res) end
  if take == true then return consumer.file end
  if take == false then return false end
  return nil, failure("aborted", "refused", tostring(why or "refused by the sink"), res)
end

-- Where a body goes: req.sink's file when its head says so (see the
-- contract in dcs.transport), else a buffer capped at max_body (MAX_BODY
-- when not given).  The transfer also fails when it runs under min_speed
-- for stall_timeout.
function M.new_sink(req, res, max_body)
  max_body = max_body or M.MAX_BODY
  local sink = { parts = {}, size = 0, streamed = 0, reported = 0, window = req.stall_timeout }
  local consumer = req.sink
  if consumer then
    local file, err = ask_head(consumer, res)
    if file == nil then return nil, err end
    sink.file = file or nil
  end
  local min_speed, window = req.min_speed or 1, req.stall_timeout
  local window_start, window_bytes = monotime(), 0

  local function report(final)
    if not (sink.file and consumer.progress) then return true end
    if not final and sink.streamed - sink.reported < PROGRESS_EVERY then return true end
    sink.reported = sink.streamed
    local ok, go_on = pcall(consumer.progress, sink.streamed)
    if not ok then return nil, failure("aborted", "callback", "sink.progress failed: " .. tostring(go_on), res) end
    if go_on == false then return nil, failure("aborted", "cancelled", "cancelled by the progress callback", res) end
    return true
  end

  local function too_slow(n)
    if not window then return false end
    ngx.update_time()
    window_bytes = window_bytes + n
    local elapsed = monotime() - window_start
    if elapsed < window then return false end
    if window_bytes / elapsed < min_speed then return true end
    window_start, window_bytes = monotime(), 0
    return false
  end

  function sink.write(data)
    if too_slow(#data) then
      return nil, failure("timeout", "stall", ("under %d bytes/s for %gs"):format(min_speed, window), res)
    end
    if sink.file then
      local ok, err = sink.file:write(data)
      if not ok then
        return nil, failure("aborted", "write", "cannot write the body to the file: " .. tostring(err), res)
      end
      sink.streamed = sink.streamed + #data
      return report(false)
    end
    sink.size = sink.size + #data
    if sink.size > max_body then
      return nil, failure("network", "too_large", "response body larger than " .. max_body .. " bytes", res)
    end
    sink.parts[#sink.parts + 1] = data
    return true
  end
  function sink.finish()
    local ok, err = report(true)
    if not ok then return nil, err end
    return table.concat(sink.parts)
  end
  return sink
end

-- Feeds up to `left` bytes (nil: until the connection closes) to the sink.
local function pump(io, res, sink, left)
  while left == nil or left > 0 do
    local data, err = receive_any(io, left and math.min(left, CHUNK) or CHUNK)
    if not data then
      if err == "closed" and left == nil then return true end
      return nil, io_failure(err, "recv", res)
    end
    local ok, ferr = sink.write(data)
    if not ok then return nil, ferr end
    if left then left = left - #data end
  end
  return true
end

-- The trailers after the last chunk: skipped, but bounded as a head is
-- (as csrc/dcs_transfer.c bounds them), or a server could send them for ever.
local function trailer_lines(io, res)
  local bytes, fields, why = 0, 0, nil
  while true do
    local line, err = read_line(io, M.MAX_TRAILER_LINE)
    if line == "" then return true end
    if line then bytes, fields = bytes + #line + 2, fields + 1 end
    if err == "line too long" then
      why = ("a trailer line longer than %d bytes"):format(M.MAX_TRAILER_LINE)
    elseif bytes > M.MAX_HEAD_BYTES then
      why = ("response trailers larger than %d bytes"):format(M.MAX_HEAD_BYTES)
    elseif not line then
      return nil, io_failure(err, "recv", res)
    elseif fields > M.MAX_HEAD_FIELDS then
      why = ("more than %d trailer fields"):format(M.MAX_HEAD_FIELDS)
    end
    if why then return nil, failure("network", "bad_response", why, res) end
  end
end

-- ... and within the stall window, as a head.
local function read_trailers(io, res, window)
  local cut, ok, f = windowed(io, window, trailer_lines, res)
  if not ok and f.reason == "timeout" and cut then
    f = failure("timeout", "stall", "recv: no end of the trailers within the stall timeout", res)
  end
  return ok, f
end

local function read_chunked(io, res, sink)
  while true do
    local line, err = read_line(io, 1024)
    if not line then return nil, io_failure(err, "recv", res) end
    local hex = line:match("^(%x+)[ \t]*;?") or line:match("^(%x+)$")
    if not hex or #hex > 12 then return nil, failure("network", "bad_response", "malformed chunk size", res) end
    local size = tonumber(hex, 16)
    if size == 0 then return read_trailers(io, res, sink.window) end
    local ok, perr = pump(io, res, sink, size)
    if not ok then return nil, perr end
    local crlf, cerr = receive_exact(io, 2)
    if crlf ~= "\r\n" then
      if not crlf then return nil, io_failure(cerr, "recv", res) end
      return nil, failure("network", "bad_response", "malformed chunk end", res)
    end
  end
end

-- Content-Length, when there is exactly one well-formed value (repeated
-- equal values allowed, as a list or in several fields); false when
-- malformed (the rule of csrc/dcs_http.c).
local function content_length(headers)
  local value = headers["content-length"]
  if not value then return nil end
  local first
  for item in (value .. ","):gmatch("([^,]*),") do
    item = trim_blanks(item)
    if not item:find("^%d+$") or #item > M.MAX_LENGTH_DIGITS or (first and item ~= first) then return false end
    first = item
  end
  return tonumber(first)
end

--- A failure when the head's framing is ambiguous, else nil: a malformed
-- or conflicting Content-Length, or one together with Transfer-Encoding
-- (RFC 9112 6.3: a sign of response splitting); the rules of
-- csrc/dcs_http.c.  Checked before any sink sees the head.
function M.framing_failure(res)
  local length = content_length(res.headers)
  if length == false then
    return failure("network", "bad_response", "malformed or conflicting Content-Length", res)
  end
  if length and res.headers["transfer-encoding"] then
    return failure("network", "bad_response",
      "both Content-Length and Transfer-Encoding (response splitting?)", res)
  end
end

--- The body of res (its framing checked) into sink.  -> true | nil, failure
function M.read_body(io, res, sink, method)
  local length = content_length(res.headers)
  if method == "HEAD" or res.status == 204 or res.status == 304 then return true end
  if (res.headers["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    return read_chunked(io, res, sink)
  end
  if length then return pump(io, res, sink, length) end
  res.until_close = true
  return pump(io, res, sink, nil)
end

--- Sends the request head and body.  headers: name -> value (validated
-- by dcs.validate.request before any transport sees them).
function M.send_request(io, method, target, headers, body, authority)
  local out = { method, " ", target, " HTTP/1.1\r\n" }
  local has_host = false
  for name, value in pairs(headers or {}) do
    if name:lower() == "host" then has_host = true end
    out[#out + 1] = name .. ": " .. value .. "\r\n"
  end
  if not has_host then out[#out + 1] = "Host: " .. authority .. "\r\n" end
  body = body or ""
  if #body > 0 or method == "POST" or method == "PUT" or method == "PATCH" then
    out[#out + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  out[#out + 1] = body
  return M.send(io, out)
end

return M
