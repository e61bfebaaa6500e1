--- HTTP/1.1 over nginx cosockets (ngx.socket.tcp), for OpenResty: network
-- I/O yields to nginx's event loop instead of blocking the worker.  Follows
-- the transport contract of dcs.transport (body sinks included), and an
-- HTTP proxy (absolute-form requests; CONNECT tunnels for https).
-- Connections go back to nginx's keep-alive pool (setkeepalive), one pool
-- per scheme, host, port, TLS verification setting and proxy.
local wire = require "dcs.transport.ngx_wire"

local monotime = require("dcs.core").monotime     -- ngx.now() is the wall clock

local M = {}

local Transport = {}
Transport.__index = Transport

function M.new(opts)
  opts = opts or {}
  return setmetatable({
    timeout = (opts.timeout or 120) * 1000,
    connect_timeout = (opts.connect_timeout or 60) * 1000,
    verify = not opts.insecure,
    proxy = opts.proxy ~= "" and opts.proxy or nil,
    no_proxy = opts.no_proxy,
    max_body = opts.max_body,            -- buffered bodies; nil: ngx_wire's default
    keepalive_timeout = (opts.keepalive_timeout or 60) * 1000,
    pool_size = opts.pool_size or 32,
  }, Transport)
end

local function split_url(url)
  local scheme, authority, rest = url:match("^(%a[%w+.-]*)://([^/?#]+)(.*)$")
  if not scheme then return nil end
  scheme = scheme:lower()
  local host, port = authority:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = authority:match("^(.-):(%d+)$") end
  host = host or authority:match("^%[(.+)%]$") or authority
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  rest = rest:gsub("#.*", "")         -- a fragment is the client's alone: never sent
  if rest == "" or rest:sub(1, 1) == "?" then rest = "/" .. rest end
  return scheme, host, port, authority, rest
end

-- proxy URL -> { host, port, authority, authorization } or nil, why.
-- Read as libcurl reads it, so that both transports use the same proxy:
-- the scheme may be left out (http), a path is ignored, and the port is
-- 1080 when none is given.
local function parse_proxy(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then scheme, rest = "http", url end
  if scheme:lower() ~= "http" then return nil, "proxy must be an http:// URL" end
  local authority = rest:match("^[^/?#]*")
  local userinfo, hostport = authority:match("^([^@]*)@(.*)$")
  hostport = hostport or authority
  -- a raw '@' in the password: which part is the host is anybody's guess
  -- (libcurl refuses such a URL too), and a guess would show part of it
  if hostport:find("@", 1, true) then return nil, "proxy URL holds more than one '@' (write it %40)" end
  local host, port = hostport:match("^(.-):(%d+)$")
  host = host or hostport
  if host == "" then return nil, "proxy URL has no host" end
  local p = { host = host, port = tonumber(port) or 1080, authority = hostport }
  if userinfo then
    p.authorization = "Basic " .. ngx.encode_base64(ngx.unescape_uri(userinfo))
  end
  return p
end

-- s as inet_pton(AF_INET) reads it (four decimal parts, 0 to 255, no
-- leading zeros) -> a number, or nil.
local function ipv4(s)
  if not s:find("^%d+%.%d+%.%d+%.%d+$") then return nil end
  local n = 0
  for part in s:gmatch("%d+") do
    if #part > 3 or (#part > 1 and part:find("^0")) or tonumber(part) > 255 then return nil end
    n = n * 256 + tonumber(part)
  end
  return n
end

-- An IPv4 host against an entry: an address, or a CIDR block.
local function ipv4_matches(address, entry)
  local net, bits = entry:match("^([^/]*)/?(.*)$")
  local check = ipv4(net)
  bits = tonumber(bits:match("^[+-]?%d+") or "0")
  if not check or bits < 0 or bits > 32 then return false end
  if bits == 0 or bits == 32 then return address == check end
  local block = 2 ^ (32 - bits)
  return math.floor(address / block) == math.floor(check / block)
end

-- A host name against an entry: the name or a domain it is in; one
-- leading and one trailing dot of either do not count.
local function name_matches(name, entry)
  entry = entry:gsub("%.$", "", 1):gsub("^%.", "", 1):lower()
  if #entry > #name then return false end
  return name:sub(#name - #entry + 1) == entry and (#entry == #name or name:sub(#name - #entry, #name - #entry) == ".")
end

-- no_proxy, with the rules of libcurl 7.88 (lib/noproxy.c), so that an
-- endpoint goes through the same proxy on both transports: "*" alone
-- matches all; entries are separated by commas, spaces or tabs; an IPv4
-- host matches an equal address or a CIDR block; any other host (an IPv6
-- one too, without brackets) matches by name.
local function bypass(no_proxy, host)
  no_proxy = no_proxy or ""
  if no_proxy == "*" then return true end
  local address = ipv4(host)
  local name = host:gsub("%.$", "", 1):lower()
  for entry in no_proxy:gmatch("[^, \t]+") do
    if address and ipv4_matches(address, entry) or not address and name_matches(name, entry) then return true end
  end
  return false
end

local failure, io_failure = wire.failure, wire.io_failure

-- CONNECT through the proxy, for an https target.
local function tunnel(io, proxy, authority)
  local out = { "CONNECT ", authority, " HTTP/1.1\r\nHost: ", authority, "\r\n" }
  if proxy.authorization then out[#out + 1] = "Proxy-Authorization: " .. proxy.authorization .. "\r\n" end
  out[#out + 1] = "\r\n"
  local sent, err = wire.send(io, out)
  if not sent then return nil, io_failure(err, "send") end
  local status, headers = wire.read_head(io)
  if not status then return nil, io_failure(headers, "recv") end
  if status ~= 200 then
    return nil, failure("network", "proxy", ("proxy %s answered %d to CONNECT %s"):format(proxy.authority,
      status, authority))
  end
  return true
end

-- One exchange on a connected socket.  The third value is true when the
-- failure came before any answer (a pooled connection the server closed):
-- not after some of one (the server has the request), nor on a timeout
-- (a slow server, not a closed connection), as libcurl decides.
local function exchange(io, req, target, authority, max_body)
  local method = req.method or "GET"
  local sent, serr = wire.send_request(io, method, target, req.headers, req.body, authority)
  if not sent then return nil, io_failure(serr, "send"), true end
  local status, headers, version = wire.read_head(io, req.stall_timeout)
  if not status then
    if headers == "bad_response" or headers == "line too long" then
      return nil, failure("network", "bad_response", "malformed response head")
    end
    local f, started = io_failure(headers, "recv"), version     -- on a failure: whether some had come
    return nil, f, f.kind == "network" and not started
  end
  local res = { status = status, headers = headers }
  local bad = wire.framing_failure(res)
  if bad then return nil, bad end
  local sink, ferr = wire.new_sink(req, res, max_body)
  if not sink then return nil, ferr end
  local ok, err = wire.read_body(io, res, sink, method)
  if not ok then return nil, err end
  res.body, err = sink.finish()
  if not res.body then return nil, err end
  res.keepalive = version == "1.1" and not res.until_close
    and (headers.connection or ""):lower() ~= "close"
  return res
end

-- The handshake's failure as resty.core reports it ("18: self-signed
-- certificate"), read back from the socket, or nil.
local function recorded_handshake_failure(sock)
  local found, ffi = pcall(require, "ffi")
  local based, base = pcall(require, "resty.core.base")
  if not (found and based and type(sock[1]) == "userdata") then return nil end
  local ok, msg = pcall(function()
    local errmsg, code = base.get_errmsg_ptr(), ffi.new("int[1]")
    local rc = ffi.C.ngx_http_lua_ffi_socket_tcp_get_sslhandshake_result(base.get_request(), sock[1],
      ffi.new("void *[1]"), errmsg, code)
    if rc ~= base.FFI_ERROR or errmsg[0] == nil then return nil end
    local text = ffi.string(errmsg[0])
    return code[0] ~= 0 and (code[0] .. ": " .. text) or text
  end)
  return ok and msg or nil
end

-- sock:sslhandshake(nil, host, verify) -> session | nil, err; never raises.
-- lua-nginx-module before 0.10.32 (0.10.23 in Debian 12; fixed upstream by
-- openresty/lua-nginx-module#2506) loses a verification failure when the
-- handshake completes within its first call (each server flight already
-- there when OpenSSL reads, as when the server thread preempts the worker
-- on one CPU): the call says FFI_OK with the failure recorded on the (now
-- closed) socket, and resty.core's sslhandshake dies on
-- `assert(rc == FFI_OK)`.  The failure is read back from the socket.
local function sslhandshake(sock, host, verify)
  local ok, session, err = pcall(sock.sslhandshake, sock, nil, host, verify)
  if ok then return session, err end
  return nil, recorded_handshake_failure(sock) or ("handshake failed: " .. tostring(session))
end

-- Connects (through the proxy, with TLS) to the request's destination.
-- -> sock, reused | nil, failure
local function connect(self, io, target)
  local sock, proxy = io.sock, target.proxy
  -- one pool per destination, TLS setting and proxy (its credentials by
  -- digest only: pool names can show up in nginx's debug log)
  local pool = target.scheme .. "://" .. target.authority .. (self.verify and "" or "#insecure")
    .. (proxy and ("@" .. proxy.authority .. "#" .. ngx.md5(proxy.authorization or "")) or "")
  -- nginx parses a bare IPv6 literal's last group as a port: brackets
  local host = target.host:find(":", 1, true) and ("[" .. target.host .. "]") or target.host
  local port, peer = target.port, target.authority
  if proxy then host, port, peer = proxy.host, proxy.port, "proxy " .. proxy.authority end
  local left = math.max(1, wire.ms_left(io.deadline))
  sock:settimeouts(math.max(1, math.min(self.connect_timeout, left)), left, math.min(io.read_timeout, left))
  local ok, err = sock:connect(host, port, { pool = pool })
  if not ok then
    if err == "timeout" then return nil, failure("timeout", "timeout", "connect to " .. peer .. ": timed out") end
    local reason = tostring(err):find("resolve", 1, true) and "dns" or "connect"
    return nil, failure("network", reason, "connect to " .. peer .. ": " .. tostring(err))
  end
  local reused = sock:getreusedtimes()
  if target.scheme == "https" and reused == 0 then
    if proxy then
      local tunnelled, terr = tunnel(io, proxy, target.authority)
      if not tunnelled then return nil, terr end
    end
    -- a trailing dot (example.com.) is the DNS root, not part of the name
    -- that SNI and the certificate carry: OpenSSL's check fails on it
    local session, herr = sslhandshake(sock, (target.host:gsub("%.$", "")), self.verify)
    if not session then
      if herr == "timeout" then
        return nil, failure("timeout", "timeout", "TLS handshake with " .. peer .. ": timed out")
      end
      return nil, failure("network", "tls", "TLS handshake with " .. target.authority .. ": " .. tostring(herr))
    end
  end
  return sock, reused
end

-- The request as it goes to this hop: absolute form and the proxy's
-- credentials for a plain-HTTP proxy hop.
local function for_hop(req, target)
  if not (target.proxy and target.scheme == "http") then return req, target.path end
  local request = req
  if target.proxy.authorization then
    local headers = { ["Proxy-Authorization"] = target.proxy.authorization }
    for k, v in pairs(req.headers or {}) do headers[k] = v end
    request = setmetatable({ headers = headers }, { __index = req })
  end
  return request, "http://" .. target.authority .. target.path
end

-- Where the request goes: scheme, host, port, authority, path, proxy.
local function resolve_target(self, url)
  local scheme, host, port, authority, path = split_url(url or "")
  if scheme ~= "http" and scheme ~= "https" then
    return nil, failure("network", "bad_request", "unsupported URL scheme")
  end
  local target = { scheme = scheme, host = host, port = port, authority = authority, path = path }
  if self.proxy and not bypass(self.no_proxy, host) then
    local why
    target.proxy, why = parse_proxy(self.proxy)
    if not target.proxy then return nil, failure("network", "proxy", why) end
  end
  return target
end

function Transport:request(req)
  local target, terr = resolve_target(self, req.url)
  if not target then return nil, terr end
  local total = self.timeout
  if req.timeout == false then total = 24 * 3600 * 1000 elseif req.timeout then total = req.timeout * 1000 end
  local started = monotime()
  local deadline = started + total / 1000
  local read_timeout = req.stall_timeout and req.stall_timeout * 1000 or total
  -- A pooled connection the server already closed fails before any answer:
  -- try once more on a fresh one, as libcurl does.
  for _ = 1, 2 do
    local io = wire.new_io(ngx.socket.tcp(), deadline, read_timeout, self.connect_timeout)
    local sock, reused = connect(self, io, target)
    if not sock then
      io.sock:close()
      return nil, reused
    end
    local request, request_target = for_hop(req, target)
    local res, ferr, before_answer = exchange(io, request, request_target, target.authority, self.max_body)
    if res then
      -- setkeepalive refuses a connection with unread bytes (a body longer
      -- than announced) and leaves it open until the handler ends: close it
      if not (res.keepalive and sock:setkeepalive(self.keepalive_timeout, self.pool_size)) then sock:close() end
      res.keepalive, res.until_close = nil, nil
      res.new_connections = reused == 0 and 1 or 0
      res.elapsed = monotime() - started
      return res
    end
    sock:close()
    if not (before_answer and reused > 0) then return nil, ferr end
  end
end

function Transport.close() return true end

return M
