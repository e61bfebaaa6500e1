--- HTTP/1.1 over nginx cosockets (ngx.socket.tcp), for OpenResty: network
-- I/O yields to nginx's event loop instead of blocking the worker.  Same
-- contract as the libcurl handle: transport:request(req) -> res | nil, failure
-- (see csrc/lhttp.c), including file downloads with progress and resume, and
-- an HTTP proxy (absolute-form requests; CONNECT tunnels for https).
-- Connections go back to nginx's keep-alive pool (setkeepalive), one pool
-- per scheme, host, port, TLS verification setting and proxy.
local M = {}

local Transport = {}
Transport.__index = Transport

local MAX_BODY = 64 * 1024 * 1024
local CHUNK = 65536

function M.new(opts)
  opts = opts or {}
  return setmetatable({
    timeout = (opts.timeout or 120) * 1000,
    connect_timeout = (opts.connect_timeout or 60) * 1000,
    verify = not opts.insecure,
    proxy = opts.proxy ~= "" and opts.proxy or nil,
    no_proxy = opts.no_proxy,
    keepalive_timeout = (opts.keepalive_timeout or 60) * 1000,
    pool_size = opts.pool_size or 32,
  }, Transport)
end

local function failure(kind, reason, message, res)
  local f = { kind = kind, reason = reason, message = message, bytes = 0, restarted = false }
  if res then
    f.status, f.headers, f.bytes, f.restarted = res.status, res.headers, res.bytes, res.restarted
  end
  return f
end

local function io_failure(err, what, res)
  if err == "timeout" then return failure("timeout", "timeout", what .. ": timed out", res) end
  return failure("network", what, what .. ": " .. tostring(err), res)
end

local function split_url(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  scheme = scheme:lower()
  local host, port = authority:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = authority:match("^(.-):(%d+)$") end
  host = host or authority:match("^%[(.+)%]$") or authority
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if rest == "" or rest:sub(1, 1) == "?" then rest = "/" .. rest end
  return scheme, host, port, authority, rest
end

-- Reads the status line and headers; skips 1xx answers.
local function read_head(sock)
  while true do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local version, status = line:match("^HTTP/(%d%.%d) (%d%d%d)")
    if not status then return nil, "malformed status line" end
    local headers = {}
    while true do
      local h, herr = sock:receive("*l")
      if not h then return nil, herr end
      if h == "" then break end
      local name, value = h:match("^([^:]+):%s*(.-)%s*$")
      if name then
        name = name:lower()
        headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
      end
    end
    status = tonumber(status)
    if status >= 200 or status == 101 then return status, headers, version end
  end
end

-- Body sink: a file for 2xx downloads, else a buffer.
local function new_sink(req, res)
  local sink = { parts = {}, size = 0 }
  local to_file = req.file and res.status >= 200 and res.status < 300
  local length = tonumber(res.headers["content-length"]) or -1
  if to_file then
    -- Asked for a range and got the whole file: start the file over.
    local mode = req.file_mode or "wb"
    if mode == "ab" and res.status == 200 then
      mode, res.restarted = "wb", true
    end
    local fp, err = io.open(req.file, mode)
    if not fp then return nil, failure("io", "open", "cannot open " .. req.file .. ": " .. tostring(err)) end
    sink.fp = fp
  end
  function sink.write(data)
    if sink.fp then
      local ok, err = sink.fp:write(data)
      if not ok then return nil, failure("io", "write", "cannot write " .. req.file .. ": " .. tostring(err), res) end
      res.bytes = res.bytes + #data
      if req.progress then
        local pok, go_on = pcall(req.progress, res.bytes, length, res.status)
        if not pok then
          return nil, failure("callback", "callback", "progress callback failed: " .. tostring(go_on), res)
        end
        if go_on == false then
          return nil, failure("cancelled", "cancelled", "cancelled by the progress callback", res)
        end
      end
    else
      sink.size = sink.size + #data
      if sink.size > MAX_BODY then
        return nil, failure("network", "too_large", "response body larger than " .. MAX_BODY .. " bytes", res)
      end
      sink.parts[#sink.parts + 1] = data
    end
    return true
  end
  function sink.close()
    if sink.fp then
      sink.fp:close()
      sink.fp = nil
    end
    return table.concat(sink.parts)
  end
  return sink
end

local function read_body(sock, res, sink, method)
  local te = (res.headers["transfer-encoding"] or ""):lower()
  local length = tonumber(res.headers["content-length"])
  if method == "HEAD" or res.status == 204 or res.status == 304 then return true end
  if te:find("chunked", 1, true) then
    while true do
      local line, err = sock:receive("*l")
      if not line then return nil, io_failure(err, "recv", res) end
      local size = tonumber(line:match("^%x+"), 16)
      if not size then return nil, failure("network", "recv", "malformed chunk size", res) end
      if size == 0 then
        repeat line, err = sock:receive("*l") until not line or line == ""
        if not line then return nil, io_failure(err, "recv", res) end
        return true
      end
      while size > 0 do
        local data, rerr = sock:receive(math.min(size, CHUNK))
        if not data then return nil, io_failure(rerr, "recv", res) end
        local ok, ferr = sink.write(data)
        if not ok then return nil, ferr end
        size = size - #data
      end
      sock:receive(2)
    end
  elseif length then
    local left = length
    while left > 0 do
      local data, err, partial = sock:receive(math.min(left, CHUNK))
      data = data or partial
      if data and #data > 0 then
        local ok, ferr = sink.write(data)
        if not ok then return nil, ferr end
        left = left - #data
      end
      if err then return nil, io_failure(err, "recv", res) end
    end
    return true
  end
  res.until_close = true
  while true do
    local data, err, partial = sock:receive(CHUNK)
    data = data or partial
    if data and #data > 0 then
      local ok, ferr = sink.write(data)
      if not ok then return nil, ferr end
    end
    if err == "closed" then return true end
    if err then return nil, io_failure(err, "recv", res) end
  end
end

-- proxy URL -> { host, port, authority, authorization } or nil, why
local function parse_proxy(url)
  local scheme, userinfo, hostport = url:match("^(%a[%w+.-]*)://([^@/]*)@([^/]+)/?$")
  if not scheme then
    scheme, hostport = url:match("^(%a[%w+.-]*)://([^/]+)/?$")
  end
  if not scheme or scheme:lower() ~= "http" then
    return nil, "proxy must be an http:// URL (got " .. tostring(url) .. ")"
  end
  local host, port = hostport:match("^(.-):(%d+)$")
  local p = { host = host or hostport, port = tonumber(port) or 80, authority = hostport }
  if userinfo then
    p.authorization = "Basic " .. ngx.encode_base64(ngx.unescape_uri(userinfo))
  end
  return p
end

-- no_proxy: comma-separated host names or suffixes; "*" matches all.
local function bypass(no_proxy, host)
  for item in (no_proxy or ""):gmatch("[^,%s]+") do
    if item == "*" then return true end
    item = item:gsub("^%.", ""):lower()
    local h = host:lower()
    if h == item or h:sub(-#item - 1) == "." .. item then return true end
  end
  return false
end

-- CONNECT through the proxy, for an https target.
local function tunnel(sock, proxy, authority)
  local out = { "CONNECT ", authority, " HTTP/1.1\r\nHost: ", authority, "\r\n" }
  if proxy.authorization then out[#out + 1] = "Proxy-Authorization: " .. proxy.authorization .. "\r\n" end
  out[#out + 1] = "\r\n"
  local sent, err = sock:send(out)
  if not sent then return nil, io_failure(err, "send") end
  local status, headers = read_head(sock)
  if not status then return nil, io_failure(headers, "recv") end
  if status ~= 200 then
    return nil, failure("network", "proxy", ("proxy %s answered %d to CONNECT %s"):format(proxy.authority,
      status, authority))
  end
  return true
end

-- One exchange on a connected socket; `reused` says it came from the pool.
local function exchange(sock, req, target, authority)
  local method = req.method or "GET"
  local body = req.body or ""
  local out = { method, " ", target, " HTTP/1.1\r\n" }
  local has_host = false
  for name, value in pairs(req.headers or {}) do
    if name:lower() == "host" then has_host = true end
    out[#out + 1] = name .. ": " .. tostring(value) .. "\r\n"
  end
  if not has_host then out[#out + 1] = "Host: " .. authority .. "\r\n" end
  if #body > 0 or method == "POST" or method == "PUT" or method == "PATCH" then
    out[#out + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  out[#out + 1] = body
  local sent, serr = sock:send(out)
  if not sent then return nil, io_failure(serr, "send"), true end
  local status, headers, version = read_head(sock)
  if not status then return nil, io_failure(headers, "recv"), true end
  local res = { status = status, headers = headers, bytes = 0, restarted = false }
  local sink, ferr = new_sink(req, res)
  if not sink then return nil, ferr end
  local ok, err = read_body(sock, res, sink, method)
  res.body = sink.close()
  if not ok then return nil, err end
  res.keepalive = version == "1.1" and not res.until_close
    and (headers.connection or ""):lower() ~= "close"
  return res
end

function Transport:request(req)
  local scheme, host, port, authority, target = split_url(req.url or "")
  if scheme ~= "http" and scheme ~= "https" then
    return nil, failure("network", "bad_request", "unsupported URL: " .. tostring(req.url))
  end
  local proxy
  if self.proxy and not bypass(self.no_proxy, host) then
    local why
    proxy, why = parse_proxy(self.proxy)
    if not proxy then return nil, failure("network", "proxy", why) end
  end
  local total = self.timeout
  if req.timeout == false then total = 24 * 3600 * 1000 elseif req.timeout then total = req.timeout * 1000 end
  local read_timeout = req.stall_timeout and req.stall_timeout * 1000 or total
  ngx.update_time()
  local started = ngx.now()
  -- A pooled connection the server already closed fails before any answer:
  -- try once more on a fresh one, as libcurl does.
  for _ = 1, 2 do
    local sock = ngx.socket.tcp()
    sock:settimeouts(self.connect_timeout, total, read_timeout)
    -- one pool per destination, TLS setting and proxy (its credentials by
    -- digest only: pool names can show up in nginx's debug log)
    local pool = scheme .. "://" .. authority .. (self.verify and "" or "#insecure")
      .. (proxy and ("@" .. proxy.authority .. "#" .. ngx.md5(proxy.authorization or "")) or "")
    local peer_host, peer_port, peer = host, port, authority
    if proxy then peer_host, peer_port, peer = proxy.host, proxy.port, "proxy " .. proxy.authority end
    local ok, err = sock:connect(peer_host, peer_port, { pool = pool })
    if not ok then
      if err == "timeout" then
        return nil, failure("timeout", "timeout", "connect to " .. peer .. ": timed out")
      end
      local reason = tostring(err):find("resolve", 1, true) and "dns" or "connect"
      return nil, failure("network", reason, "connect to " .. peer .. ": " .. tostring(err))
    end
    local reused = sock:getreusedtimes()
    if scheme == "https" and reused == 0 then
      if proxy then
        local tunnelled, terr = tunnel(sock, proxy, authority)
        if not tunnelled then
          sock:close()
          return nil, terr
        end
      end
      local session, herr = sock:sslhandshake(nil, host, self.verify)
      if not session then
        sock:close()
        return nil, failure("network", "tls", "TLS handshake with " .. authority .. ": " .. tostring(herr))
      end
    end
    local request_target, request = target, req
    if proxy and scheme == "http" then
      -- absolute form, and the proxy's credentials, for a plain-HTTP proxy hop
      request_target = "http://" .. authority .. target
      if proxy.authorization then
        local headers = { ["Proxy-Authorization"] = proxy.authorization }
        for k, v in pairs(req.headers or {}) do headers[k] = v end
        request = setmetatable({ headers = headers }, { __index = req })
      end
    end
    local res, ferr, before_answer = exchange(sock, request, request_target, authority)
    if res then
      if res.keepalive then sock:setkeepalive(self.keepalive_timeout, self.pool_size) else sock:close() end
      ngx.update_time()
      res.keepalive = nil
      res.until_close = nil
      res.new_connections = reused == 0 and 1 or 0
      res.elapsed = ngx.now() - started
      return res
    end
    sock:close()
    if not (before_answer and reused > 0) then return nil, ferr end
  end
end

function Transport.close() return true end

return M
