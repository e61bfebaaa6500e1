"""One accepted connection: sending bytes and the ways to end it (FIN, RST, hang)."""

import socket
import ssl
import struct

from .reader import READ_ERRORS, RECV, peer_closed

HANDSHAKE_TIMEOUT = 10     # seconds a TLS client gets to finish its handshake
LINGER = 2.0               # seconds a FIN-closed connection waits for the peer to close
PEER_ERRORS = (OSError, ssl.SSLError, ValueError)   # peer went away (ValueError: closed socket)


class PeerGone(Exception):
    """Sending failed: the peer closed or reset the connection."""


class Conn:
    """A connection's socket (TLS or not) and its bookkeeping."""

    def __init__(self, sock, conn_id, listener, on_end=None):
        self.sock = sock
        self.on_end = on_end         # called once, when the server ends the connection
        self.id = conn_id
        self.listener = listener     # kind of the listener that accepted it ("main", "silent", ...)
        self.tls = False
        self.closed = False
        self.normal = False          # has carried a non-control request (see State.conn_used)

    def start_tls(self, ctx):
        """Server-side TLS handshake; False (connection closed) when it fails."""
        try:
            self.sock = ctx.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            self.sock.settimeout(HANDSHAKE_TIMEOUT)
            self.sock.do_handshake()
            self.sock.settimeout(None)
        except PEER_ERRORS:
            self.reset()
            return False
        self.tls = True
        return True

    def send(self, data):
        """Sends all of data; PeerGone if the peer is not there any more."""
        if self.closed:
            raise PeerGone()
        try:
            self.sock.sendall(data)
        except PEER_ERRORS as e:
            raise PeerGone() from e

    def close(self, linger=LINGER):
        """Graceful end: TLS close_notify (best effort), FIN, then up to `linger`
        seconds for the peer to close before the socket is closed (so unread
        request bytes do not turn the FIN into an RST)."""
        if self.closed:
            return
        self.ended()                     # before the FIN: stats are right once the peer sees it
        sock = self.sock
        if self.tls:
            try:
                sock.settimeout(0.05)
                sock = sock.unwrap() or sock     # sends close_notify; the peer's is not awaited
            except (socket.timeout, *READ_ERRORS):
                pass
        try:
            sock.shutdown(socket.SHUT_WR)
            peer_closed(sock, linger)
        except PEER_ERRORS:
            pass
        sock.close()

    def reset(self):
        """Abortive end: SO_LINGER 0 makes close() send an RST instead of a FIN."""
        if self.closed:
            return
        self.ended()
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except PEER_ERRORS:
            pass
        self.sock.close()

    def hang(self):
        """Sends nothing more; reads and discards until the peer closes (or abort())."""
        try:
            self.sock.settimeout(None)
            while self.sock.recv(RECV):
                pass
        except PEER_ERRORS:
            pass
        self.ended()
        self.sock.close()

    def ended(self):
        """Marks the connection closed and runs on_end (once)."""
        self.closed = True
        if self.on_end is not None:
            on_end, self.on_end = self.on_end, None
            on_end(self)

    def abort(self):
        """From another thread: wakes up whatever the owner thread is blocked in."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except PEER_ERRORS:
            pass
