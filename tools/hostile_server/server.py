"""What each kind of listener does with a connection, and the server's assembly."""

import ssl
import sys

from . import control, files, steps
from .listeners import Listener
from .reader import Reader
from .replies import head_bytes, not_found
from .state import State

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def serve_main(state, conn):
    """The main listener: control requests, then scripts, then files, else 404."""
    reader = Reader(conn.sock, on_expect=lambda: conn.send(CONTINUE))
    while not conn.closed:
        req = reader.read_request()
        if req is None:
            return
        if control.is_control(req):
            state.conn_used(conn, control=True)
            keep = control.handle(state, conn, req)
        else:
            keep = handle_request(state, conn, req, reader.eof)
        if not keep or req.framing_lost or req.wants_close():
            return


def handle_request(state, conn, req, at_eof):
    """Logs a request and answers it; True when the connection may go on."""
    state.conn_used(conn, control=False)
    state.begin_request(conn, req)
    try:
        if req.framing_lost and at_eof:
            return False                 # cut short by the peer: nobody to answer
        if req.head_too_large:
            conn.send(head_bytes(431, [["Content-Length", "0"], ["Connection", "close"]]))
            return False
        return dispatch(state, conn, req)
    finally:
        state.end_request()


def dispatch(state, conn, req):
    """First matching script, else a served file (GET/HEAD), else 404."""
    script = state.take_script(req)
    if script is not None:
        return steps.run(conn, req, script["steps"], state.templates())
    served = state.find_file(req.path)
    if served is not None and req.method in ("GET", "HEAD"):
        return files.serve(conn, req, served)
    not_found(conn, req)
    return True


def serve_silent(state, conn):
    """Never sends a byte; logs the requests that arrive, then discards the rest."""
    reader = Reader(conn.sock)
    while True:
        req = reader.read_request()
        if req is None:
            return
        state.conn_used(conn, control=False)
        state.begin_request(conn, req, in_flight=False)
        if req.framing_lost:
            break
    conn.hang()


def serve_tls_silent(state, conn):
    """Reads and discards (a TLS client's handshake never completes)."""
    conn.hang()


def serve_close(state, conn):
    """Closes at once (FIN)."""
    conn.close()


HANDLERS = {"main": serve_main, "silent": serve_silent, "tls_silent": serve_tls_silent,
            "close": serve_close}


def tls_context(cert_file, key_file):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as e:
        raise SystemExit("hostile-server: cannot load --tls-cert/--tls-key: %s" % e) from None
    return ctx


def make_server(args):
    """The started main listener; its state is listener.state."""
    state = State(quiet=args.quiet)
    ctx = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    main = Listener(state, "main", serve_main, port=args.port, tls_ctx=ctx)
    state.base = main.url
    state.main = main
    state.open_listener = lambda kind: Listener(state, kind, HANDLERS[kind]).start()
    if not args.quiet:
        sys.stderr.write("hostile-server: main listener %s\n" % main.url)
    return main.start()
