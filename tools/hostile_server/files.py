"""Deterministic served files, with Range / If-Range and download-breaking tricks.

Content: byte i of a file with seed s is byte (i mod 4096) of block i div 4096,
where block k = SHAKE-256(b"hostile-server:%d:%d" % (s, k)) read to 4096 bytes.
In Python: hashlib.shake_256(b"hostile-server:%d:%d" % (s, i // 4096)).digest(4096)[i % 4096].
No period, so duplicated, shifted or missing bytes always change the SHA-256.

Every GET or HEAD of a file counts as one request of that file (1-based), the
number the tricks refer to. Once `change_after` n requests have been served,
the content uses seed + 1 and, unless keep_validator, the validators change:
the ETag gets "-changed" inside its quotes and Last-Modified moves one day on.
"""

import email.utils
import hashlib
import re
import threading
import time
from datetime import timedelta

from .replies import SERVER, head_bytes

BLOCK = 4096
MAX_SIZE = 1 << 34
DEFAULT_LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"
RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


def block(seed, k):
    return hashlib.shake_256(b"hostile-server:%d:%d" % (seed, k)).digest(BLOCK)


def content(seed, start, end):
    """Yields the bytes [start, end) of the file with this seed, a block at a time."""
    pos = start
    while pos < end:
        k = pos // BLOCK
        stop = min(end, (k + 1) * BLOCK)
        yield block(seed, k)[pos - k * BLOCK: stop - k * BLOCK]
        pos = stop


def sha256(seed, size):
    h = hashlib.sha256()
    for piece in content(seed, 0, size):
        h.update(piece)
    return h.hexdigest()


class ServedFile:
    """One file registered with POST /_hostile/file."""

    def __init__(self, spec):
        """Validates the JSON spec; ValueError with a message when it is wrong."""
        self.path, self.size, self.seed = spec.get("path"), spec.get("size"), spec.get("seed", 1)
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError("path must be a string starting with /")
        if not is_int(self.size) or not 0 <= self.size <= MAX_SIZE or not is_int(self.seed):
            raise ValueError("size (0..2^34) and seed must be integers")
        self.etag = spec.get("etag", '"hs-%d-%d"' % (self.seed, self.size))
        self.last_modified = spec.get("last_modified", DEFAULT_LAST_MODIFIED)
        if not all(v is None or isinstance(v, str) for v in (self.etag, self.last_modified)):
            raise ValueError("etag and last_modified must be strings or null")
        self.tricks = check_tricks(spec.get("tricks") or {})
        self.requests = 0
        self.lock = threading.Lock()

    def next_request(self):
        """Counts a request of this file; its 1-based number."""
        with self.lock:
            self.requests += 1
            return self.requests

    def version(self, n):
        """(seed, etag, last_modified) served to request number n."""
        after = self.tricks.get("change_after")
        if after is None or n <= after:
            return self.seed, self.etag, self.last_modified
        if self.tricks.get("keep_validator"):
            return self.seed + 1, self.etag, self.last_modified
        return self.seed + 1, changed_etag(self.etag), changed_date(self.last_modified)

    def describe(self, with_sha256=True):
        """GET /_hostile/file-sha256: what the next request would get (sha256 null
        when not asked for)."""
        with self.lock:
            n = self.requests
        seed = self.version(n + 1)[0]
        return {"path": self.path, "size": self.size, "seed": seed, "requests": n,
                "sha256": sha256(seed, self.size) if with_sha256 else None}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_tricks(tricks):
    """The tricks object if every key is known and well typed; else ValueError."""
    count = lambda v: is_int(v) and v >= 0                     # noqa: E731
    checks = {"ignore_range": lambda v: isinstance(v, bool),
              "keep_validator": lambda v: isinstance(v, bool),
              "range_start_offset": count, "change_after": count, "stall_after": count,
              "drip_interval": lambda v: isinstance(v, (int, float)) and v >= 0,
              "drop_after": lambda v: isinstance(v, list) and all(x is None or count(x) for x in v)}
    if not isinstance(tricks, dict):
        raise ValueError("tricks must be an object")
    for key, value in tricks.items():
        if key not in checks:
            raise ValueError("unknown trick %r (known: %s)" % (key, ", ".join(sorted(checks))))
        if value is not None and not checks[key](value):
            raise ValueError("bad value for trick %s: %r" % (key, value))
    return tricks


def changed_etag(etag):
    if etag is None:
        return None
    return etag[:-1] + '-changed"' if etag.endswith('"') else etag + "-changed"


def changed_date(date):
    try:
        return email.utils.format_datetime(
            email.utils.parsedate_to_datetime(date) + timedelta(days=1), usegmt=True)
    except (TypeError, ValueError):
        return None if date is None else "Thu, 22 Oct 2026 07:28:00 GMT"


def if_range_ok(value, etag, last_modified):
    """If-Range: a strong ETag equal to the current one, or the exact Last-Modified date."""
    if value.startswith(('"', "W/")):
        return etag is not None and value == etag and not etag.startswith("W/")
    return last_modified is not None and value == last_modified


def choose_range(req, f, etag, last_modified):
    """(status, start, end) to serve: 200 whole file, 206 a range, 416 unsatisfiable."""
    size, whole = f.size, (200, 0, f.size)
    ranges = req.values("Range")
    m = RANGE.fullmatch(ranges[0].strip()) if len(ranges) == 1 else None
    if f.tricks.get("ignore_range") or req.method != "GET" or not m or m.groups() == ("", ""):
        return whole
    if_range = req.values("If-Range")
    if if_range and not if_range_ok(if_range[0], etag, last_modified):
        return whole
    first, last = m.groups()
    if first != "" and last != "" and int(last) < int(first):
        return whole                     # not a valid range: ignored, as RFC 9110 says
    if first == "":                      # suffix range: the last N bytes
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        return 416, 0, 0
    return 206, max(0, start - int(f.tricks.get("range_start_offset") or 0)), end


def serve(conn, req, f):
    """Answers a GET or HEAD of a served file; False when the connection was ended."""
    n = f.next_request()
    seed, etag, last_modified = f.version(n)
    status, start, end = choose_range(req, f, etag, last_modified)
    headers = [["Server", SERVER], ["Content-Type", "application/octet-stream"],
               ["Accept-Ranges", "bytes"], ["Content-Length", str(end - start)]]
    headers += [[k, v] for k, v in (("ETag", etag), ("Last-Modified", last_modified)) if v is not None]
    if status == 206:
        headers.append(["Content-Range", "bytes %d-%d/%d" % (start, end - 1, f.size)])
    elif status == 416:
        headers.append(["Content-Range", "bytes */%d" % f.size])
    if req.wants_close():
        headers.append(["Connection", "close"])
    conn.send(head_bytes(status, headers))
    if req.method == "HEAD":
        return True
    return send_body(conn, f.tricks, n, content(seed, start, end), end - start)


def send_body(conn, tricks, n, pieces, total):
    """Sends up to the drop_after / stall_after point, dripping if asked, then ends
    the connection as the trick says. True when the body went out whole."""
    drops = tricks.get("drop_after") or []
    cut = drops[n - 1] if n <= len(drops) else None
    stall = tricks.get("stall_after")
    limit, then = total, None
    if cut is not None and cut < limit:
        limit, then = cut, conn.close
    if stall is not None and stall < limit:
        limit, then = stall, conn.hang
    send_limited(conn, pieces, limit, float(tricks.get("drip_interval") or 0))
    if then is None:
        return True
    then()
    return False


def send_limited(conn, pieces, limit, interval):
    """Sends the first `limit` bytes of pieces; one byte per `interval` if it is > 0."""
    sent = 0
    for piece in pieces:
        piece = piece[: limit - sent]
        if not piece:
            return
        if interval <= 0:
            conn.send(piece)
        else:
            for i in range(len(piece)):
                if sent + i:
                    time.sleep(interval)
                conn.send(piece[i:i + 1])
        sent += len(piece)
