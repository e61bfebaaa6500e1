"""Robust HTTP/1.x request reader: records whatever arrives, malformed or not.

A request head ends at the first empty line, whatever the line endings (CRLF,
bare LF or a mix); empty lines before the request line are skipped (and kept
in the raw bytes). Header lines are split at the first colon: the name is kept
exactly, the value loses surrounding spaces and tabs; a line without a colon
becomes [line, None]. The body is read by `Transfer-Encoding: chunked` (when
any Transfer-Encoding names chunked) or else by Content-Length. Whatever is
left in the buffer is the start of the next (pipelined) request.

Problems never raise: they go in Request.error, and Request.framing_lost says
the connection cannot be read any further (the handler then closes it).
"""

import re
import socket
import ssl

MAX_HEAD = 1024 * 1024           # a request head larger than this is cut off (431)
MAX_BODY = 256 * 1024 * 1024     # bodies larger than this are refused
RECV = 65536
END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
READ_ERRORS = (OSError, ssl.SSLError, ValueError)


class Request:
    """One request as received; `raw` holds its exact bytes."""

    def __init__(self):
        self.method, self.target, self.version = "", "", ""
        self.headers = []            # [[name, value or None]], in order, latin-1 text
        self.body = b""
        self.raw = b""
        self.error = None            # what was wrong with it ("; "-separated), if anything
        self.framing_lost = False    # True: the stream cannot be parsed any further
        self.head_too_large = False  # no end of head within MAX_HEAD bytes

    def values(self, name):
        """All values of a header, in order. The name must match exactly but for case:
        "Content-Length :" (space before the colon) is not a Content-Length."""
        name = name.lower()
        return [v for n, v in self.headers if v is not None and n.lower() == name]

    @property
    def path(self):
        """The target up to '?'."""
        return self.target.partition("?")[0]

    def wants_close(self):
        """True when the client asked for the connection to end after this exchange."""
        tokens = ",".join(self.values("Connection")).lower()
        if "close" in tokens:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in tokens

    def note(self, error, lost=False):
        """Records a problem; lost (the stream cannot be read further) sticks."""
        self.error = error if self.error is None else self.error + "; " + error
        self.framing_lost = self.framing_lost or lost


class Reader:
    """Buffered reader over one connection's socket."""

    def __init__(self, sock, on_expect=None):
        self.sock = sock
        self.buf = bytearray()
        self.raw = bytearray()       # bytes consumed by the request being read
        self.eof = False
        self.on_expect = on_expect   # called for `Expect: 100-continue` before the body

    def fill(self):
        """Reads more bytes into the buffer; False at end of stream (or on error)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(RECV)
        except READ_ERRORS:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def take(self, n):
        """Removes n buffered bytes (they must be there) and counts them as raw."""
        data = bytes(self.buf[:n])
        del self.buf[:n]
        self.raw += data
        return data

    def read_exact(self, n):
        """Up to n bytes: fewer only at end of stream."""
        while len(self.buf) < n and self.fill():
            pass
        return self.take(min(n, len(self.buf)))

    def read_line(self, limit=65536):
        """One line with its LF; b"" at end of stream; None when longer than limit."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                return self.take(i + 1) if i < limit else None
            if len(self.buf) > limit:
                return None
            if not self.fill():
                return self.take(len(self.buf))

    def read_request(self):
        """The next Request, or None when the peer closed without sending anything."""
        self.raw = bytearray()
        req = Request()
        head = self.read_head(req)
        if head is None:
            return None
        parse_head(req, head)
        if not req.framing_lost:
            self.read_body(req)
        req.raw = bytes(self.raw)
        return req

    def read_head(self, req):
        """The head bytes (without the blank line); None at a clean end of stream."""
        while True:
            while self.buf[:1] in (b"\r", b"\n"):
                self.take(1)         # empty lines before a request line are ignored
            m = END_OF_HEAD.search(self.buf, 0, MAX_HEAD + 4)
            if m:
                return self.take(m.end())[:m.start()]
            if len(self.buf) > MAX_HEAD:
                req.note("head larger than %d bytes" % MAX_HEAD, lost=True)
                req.head_too_large = True
                return self.take(MAX_HEAD)
            if not self.fill():
                if not self.buf:
                    return None      # nothing (or only blank lines) before the close
                req.note("connection closed inside the head", lost=True)
                return self.take(len(self.buf))

    def read_body(self, req):
        """Reads the body by Transfer-Encoding: chunked or Content-Length."""
        chunked = "chunked" in ",".join(req.values("Transfer-Encoding")).lower()
        lengths = req.values("Content-Length")
        if chunked and lengths:
            req.note("both Transfer-Encoding: chunked and Content-Length")
        if chunked:
            self.expect_continue(req)
            return self.read_chunked(req)
        if not lengths:
            return
        if len(set(lengths)) != 1 or not re.fullmatch(r"[0-9]{1,12}", lengths[0]):
            return req.note("bad Content-Length %r" % lengths, lost=True)
        n = int(lengths[0])
        if n > MAX_BODY:
            return req.note("Content-Length above %d" % MAX_BODY, lost=True)
        if n > len(self.buf):
            self.expect_continue(req)
        req.body = self.read_exact(n)
        if len(req.body) < n:
            req.note("connection closed inside the body", lost=True)

    def read_chunked(self, req):
        """Decodes a chunked body into req.body, skipping trailers."""
        body = bytearray()
        while True:
            line = self.read_line(4096)
            size = parse_chunk_size(line)
            if size is None:
                return req.note("bad chunk size line %r" % (line or b"")[:40], lost=True)
            if len(body) + size > MAX_BODY:
                return req.note("chunked body above %d" % MAX_BODY, lost=True)
            if size == 0:
                break
            data = self.read_exact(size)
            body += data
            if len(data) < size or self.read_line(16) not in (b"\r\n", b"\n"):
                req.body = bytes(body)
                return req.note("bad or cut chunk data", lost=True)
        while (line := self.read_line()) not in (b"\r\n", b"\n"):
            if not line:
                req.note("connection closed inside the trailers", lost=True)
                break
        req.body = bytes(body)

    def expect_continue(self, req):
        """Answers `Expect: 100-continue` (once) when a hook is set."""
        if self.on_expect and "100-continue" in ",".join(req.values("Expect")).lower():
            self.on_expect()


def parse_chunk_size(line):
    """The size of a chunk-size line (extensions ignored), or None if it is not one."""
    if not line or not line.endswith(b"\n"):
        return None
    text = line.split(b";", 1)[0].strip()
    if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", text):
        return None
    return int(text, 16)


def parse_head(req, head):
    """Fills method, target, version and headers from the head bytes."""
    lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in head.split(b"\n")]
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        req.note("malformed request line")
        parts = lines[0].decode("latin-1").split(None, 2)
    req.method, req.target, req.version = (parts + ["", "", ""])[:3]
    for line in lines[1:]:
        text = line.decode("latin-1")
        name, colon, value = text.partition(":")
        if not colon:
            req.note("header line without a colon")
            req.headers.append([text, None])
        else:
            req.headers.append([name, value.strip(" \t")])
    if b"\0" in head:
        req.note("NUL byte in the head")


def peer_closed(sock, timeout):
    """Waits up to timeout seconds for the peer to close; True if it did."""
    try:
        sock.settimeout(timeout)
        while sock.recv(RECV):
            pass
        return True
    except (socket.timeout, *READ_ERRORS):
        return False
