"""HTTP(S) server: the request handler (framing, recording, dispatch) and the server."""

import json
import socket
import ssl
import sys
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .admin import Admin
from .common import CHUNK, MAX_BODY, NO_API
from .dcs_api import DcsApi
from .faults import Faults
from .iam import IamApi
from .metadata import METADATA_PATHS, Metadata
from .obs import Download
from .state import Emulator

HANDSHAKE_TIMEOUT = 10         # seconds a TLS client gets to finish its handshake
PEER_ERRORS = (ConnectionError, socket.timeout, ssl.SSLError)   # routine, not bugs


class Handler(DcsApi, IamApi, Metadata, Download, Admin, Faults, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"        # keep-alive
    server_version = "DCS-Emulator/1.0"
    # TCP_NODELAY: the head and the body go out in separate writes, and
    # Nagle's algorithm would hold the body until the client's delayed ACK
    # (about 40 ms on every call of a reused connection).
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.conn_id = self.server.emu.next_conn_id()

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("[conn %s] %s - %s\n" % (getattr(self, "conn_id", "?"),
                                                       self.address_string(), fmt % args))

    # Every method funnels into one dispatcher, so routing answers 404/405 itself.
    def do_GET(self):
        self.dispatch()
    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def send_error(self, code, message=None, explain=None):
        # Protocol-level errors raised by http.server itself (bad request line, 501, ...).
        self.request_id, self.drop_after, self.entry = uuid.uuid4().hex, None, None
        if not str(getattr(self, "request_version", "")).startswith("HTTP/1."):
            self.request_version = "HTTP/1.1"       # garbage in, still a real status line out
        self.close_connection = True
        self.gw_error(code, "APIGW.0201", message or self.responses.get(code, ("Error",))[0])

    def send(self, status, body=b"", ctype=None, headers=None):
        """The one writer: adds X-Request-Id, Content-Length, Content-Type, Connection: close."""
        headers = dict(headers or {})
        names = {k.lower() for k in headers}
        self.send_response(status)
        if "x-request-id" not in names:
            self.send_header("X-Request-Id", self.request_id)
        for k, v in headers.items():
            self.send_header(k, str(v))
        if body and ctype and "content-type" not in names:
            self.send_header("Content-Type", ctype)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        if self.entry is not None:
            self.entry["status"] = status            # before the bytes go out: no test race
        self.end_headers()
        self.headers_sent = True
        if self.command == "HEAD":
            return
        limit = len(body) if self.drop_after is None else min(self.drop_after, len(body))
        view = memoryview(body)
        for i in range(0, limit, CHUNK):
            self.wfile.write(view[i:min(i + CHUNK, limit)])
        if self.drop_after is not None:
            # drop_after_bytes: the peer gets a FIN before Content-Length is reached.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj).encode("utf-8"), "application/json")

    def gw_error(self, status, code, msg):
        self.send_json(status, {"error_code": code, "error_msg": msg, "request_id": self.request_id})

    def dcs_error(self, status, code, msg):
        self.send_json(status, {"error_code": code, "error_msg": msg, "error_ext_msg": None})

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass                         # skip trailers
                    return bytes(data)
                if len(data) + size > MAX_BODY:
                    raise ValueError("body too large")
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def dispatch(self):
        """Counts the API requests in flight (GET /_emulator/stats), then handles one."""
        admin = self.path == "/_emulator" or self.path.startswith("/_emulator/")
        if not admin:
            self.server.emu.flight(+1)
        try:
            self.handle_one()
        finally:
            if not admin:
                self.server.emu.flight(-1)

    def handle_one(self):
        emu = self.server.emu
        self.request_id = uuid.uuid4().hex
        self.headers_sent, self.drop_after, self.entry = False, None, None
        raw_path, _, raw_query = self.path.partition("?")
        admin = raw_path == "/_emulator" or raw_path.startswith("/_emulator/")
        try:
            try:
                body, bad_framing = self.read_body(), False
            except ValueError:
                body, bad_framing = b"", True
            if not admin:
                # Recorded on arrival; send() fills in the status (None if never answered).
                heads = {}
                for k, v in self.headers.items():    # repeated names are joined like HTTP does
                    heads[k] = heads[k] + ", " + v if k in heads else v
                self.entry = {"conn": self.conn_id, "method": self.command, "path": raw_path,
                              "query": raw_query, "headers": heads,
                              "body": body.decode("latin-1"), "status": None}
                emu.record(self.entry)
                with emu.lock:
                    latency = emu.config["latency"]
                if latency > 0:
                    time.sleep(latency)              # config/--latency: every non-admin request
            if bad_framing:
                self.close_connection = True         # framing is lost: cannot keep the connection
                return self.gw_error(400, "APIGW.0201", "API request error: bad body framing")
            if admin:
                return self.handle_admin(raw_path[len("/_emulator"):], body)
            action = self.take_fault(raw_path)
            if action is not None and self.apply_fault(action):
                return
            if raw_path.startswith("/_obs/"):
                return self.handle_obs(raw_path, raw_query)
            if raw_path in METADATA_PATHS:
                return self.handle_metadata(raw_path)
            if raw_path.startswith(("/v2/", "/v3/")):
                return self.handle_dcs(raw_path, raw_query, body)
            return self.gw_error(404, "APIGW.0101", NO_API)
        except PEER_ERRORS:
            self.close_connection = True
        except Exception:
            # One bad request must never take the server down.
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            if not self.headers_sent:
                try:
                    self.dcs_error(500, "DCS.5000", "Internal service error.")
                except OSError:
                    pass


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True          # never wait for idle keep-alive connections on exit
    request_queue_size = 64
    scheme = "http"
    quiet = False

    def base_url(self):
        """scheme://host:port of this server, as put in download and IAM links."""
        host, port = self.server_address[:2]
        host = "[%s]" % host if ":" in host else host
        return "%s://%s:%d" % (self.scheme, host, port)

    def enable_tls(self, cert_file, key_file):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        # The handshake runs in the connection's worker thread (finish_request), not in
        # accept(): a slow or broken client must not stall the accept loop.
        self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.scheme = "https"

    def finish_request(self, request, client_address):
        if self.scheme == "https":
            try:
                request.settimeout(HANDSHAKE_TIMEOUT)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ValueError) as e:       # shutdown_request() still closes it
                if not self.quiet:
                    sys.stderr.write("[tls] handshake with %s:%s failed: %s\n"
                                     % (client_address[0], client_address[1], e))
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        # Peers hanging up mid-request are routine in fault tests; only report real bugs.
        if not isinstance(sys.exc_info()[1], PEER_ERRORS):
            super().handle_error(request, client_address)


class EmulatorServer6(EmulatorServer):
    address_family = socket.AF_INET6


def make_server(args):
    kind = EmulatorServer6 if ":" in args.host else EmulatorServer
    server = kind((args.host, args.port), Handler)
    if args.tls_cert:
        try:
            server.enable_tls(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            server.server_close()
            raise SystemExit("dcs-emulator: cannot load --tls-cert/--tls-key: %s" % e) from None
    server.emu, server.quiet = Emulator(args), args.quiet
    return server
