"""Listening sockets on 127.0.0.1: an accept thread each, a daemon thread per connection."""

import socket
import sys
import threading
import time
import traceback

from .conn import Conn, PeerGone


class Listener:
    """Accepts connections and hands each to handle(state, conn) in its own thread.
    kind names the behaviour ("main", "silent", "close", "tls_silent"); with tls_ctx
    the handshake happens first, in the connection's thread."""

    def __init__(self, state, kind, handle, port=0, tls_ctx=None):
        self.state, self.kind, self.handle, self.tls_ctx = state, kind, handle, tls_ctx
        self.sock = socket.create_server(("127.0.0.1", port), backlog=128)
        self.scheme = "https" if tls_ctx is not None or kind == "tls_silent" else "http"
        self.conns = set()
        self.lock = threading.Lock()
        self.closed = False

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.sock.getsockname()[1])

    def start(self):
        threading.Thread(target=self.accept_loop, name="accept-" + self.kind, daemon=True).start()
        return self

    def accept_loop(self):
        while not self.closed:
            try:
                sock, _ = self.sock.accept()
            except OSError:
                if self.closed:
                    return
                time.sleep(0.05)         # e.g. out of file descriptors: try again
                continue
            threading.Thread(target=self.serve, args=(sock,), daemon=True).start()

    def serve(self, sock):
        """One connection's thread: counts it, runs the handler, always closes it."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock, self.state.conn_opened(), self.kind, on_end=self.state.conn_closed)
        with self.lock:
            self.conns.add(conn)
        try:
            if self.tls_ctx is None or conn.start_tls(self.tls_ctx):
                self.handle(self.state, conn)
        except (PeerGone, OSError):
            pass                         # the peer went away (OSError covers SSLError)
        except Exception:                # a bug must not take the server down
            traceback.print_exc(file=sys.stderr)
        finally:
            conn.close()                 # no-op if the handler already ended it
            with self.lock:
                self.conns.discard(conn)

    def abort_connections(self, keep=None):
        """Ends every connection of this listener but `keep` (it stays usable)."""
        with self.lock:
            conns = [c for c in self.conns if c is not keep]
        for conn in conns:
            conn.abort()

    def close(self):
        """Stops accepting and ends this listener's connections."""
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)     # wakes up accept() on Linux
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            conn.abort()
