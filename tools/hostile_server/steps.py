"""Scripts: validation of POST /_hostile/script and running their steps on a connection.

Each step is an object with one step key (and that step's options):
  {"respond": {status, reason, headers, body | body_repeat, chunked, chunk_size, content_length}}
  {"send": "latin-1 text"}   {"send_b64": "..."}   {"sleep": s}
  {"drip": "text", "interval": s, "count": N}   {"hang": true}   {"close": true}   {"reset": true}
Strings are turned into bytes as latin-1 (one character, one byte) after the
placeholders {{base}}, {{silent}}, {{tls_silent}} and {{close}} are replaced.
"""

import base64
import binascii
import time

from .replies import head_bytes

STEP_OPTIONS = {"respond": set(), "send": set(), "send_b64": set(), "sleep": set(),
                "drip": {"interval", "count"}, "hang": set(), "close": set(), "reset": set()}
RESPOND_KEYS = {"status", "reason", "headers", "body", "body_repeat", "chunked", "chunk_size",
                "content_length"}
MATCH_KEYS = {"method", "path_prefix", "path_contains"}
PIECE = 65536


class ScriptError(ValueError):
    """A script that cannot be run as written (the control API answers 400)."""


def need(ok, message):
    if not ok:
        raise ScriptError(message)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def is_latin1(v):
    try:
        return isinstance(v, str) and v.encode("latin-1") is not None
    except UnicodeEncodeError:
        return False


def check_script(spec):
    """{"match", "times", "steps"} from a POST /_hostile/script body; ScriptError if wrong."""
    match, times, steps = spec.get("match") or {}, spec.get("times", 1), spec.get("steps")
    need(isinstance(match, dict) and set(match) <= MATCH_KEYS and
         all(isinstance(v, str) for v in match.values()),
         "match must be an object of strings with keys among %s" % sorted(MATCH_KEYS))
    need(is_int(times) and times >= -1, "times must be an integer >= -1")
    need(isinstance(steps, list) and steps, "steps must be a non-empty list")
    for i, step in enumerate(steps):
        try:
            check_step(step)
        except ScriptError as e:
            raise ScriptError("step %d: %s" % (i + 1, e)) from None
    return {"match": match, "times": times, "steps": steps}


def check_step(step):
    need(isinstance(step, dict), "a step must be an object")
    kinds = [k for k in step if k in STEP_OPTIONS]
    need(len(kinds) == 1, "a step needs exactly one of %s" % sorted(STEP_OPTIONS))
    kind = kinds[0]
    need(set(step) - {kind} <= STEP_OPTIONS[kind], "unknown options %s" % sorted(set(step) - {kind}))
    value = step[kind]
    if kind == "respond":
        check_respond(value)
    elif kind in ("send", "drip"):
        need(is_latin1(value), "%s must be a string of characters U+0000..U+00FF" % kind)
        need(is_number(step.get("interval", 0)), "interval must be a number >= 0")
        need(is_int(step.get("count", 1)) and step.get("count", 1) >= 0, "count must be an integer")
    elif kind == "send_b64":
        need(isinstance(value, str), "send_b64 must be a string")
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ScriptError("send_b64 is not valid base64") from None
    elif kind == "sleep":
        need(is_number(value), "sleep must be a number of seconds")
    else:
        need(value is True, "%s must be true" % kind)


def check_respond(r):
    need(isinstance(r, dict) and set(r) <= RESPOND_KEYS,
         "respond must be an object with keys among %s" % sorted(RESPOND_KEYS))
    need(is_int(r.get("status", 200)) and 0 <= r.get("status", 200) <= 999, "status must be 0..999")
    need(is_latin1(r.get("reason", "")), "reason must be a latin-1 string")
    need(all(is_latin1(n) and is_latin1(v) for n, v in header_pairs(r.get("headers"))),
         "headers must be [[name, value], ...] or {name: value} of latin-1 strings")
    need(not ("body" in r and "body_repeat" in r), "body and body_repeat exclude each other")
    need(is_latin1(r.get("body", "")), "body must be a latin-1 string")
    rep = r.get("body_repeat", {"text": "", "count": 0})
    need(isinstance(rep, dict) and is_latin1(rep.get("text")) and is_int(rep.get("count"))
         and rep["count"] >= 0, "body_repeat must be {\"text\": string, \"count\": integer}")
    need(is_int(r.get("chunk_size", 1)) and r.get("chunk_size", 1) > 0, "chunk_size must be > 0")
    cl = r.get("content_length", "auto")
    need(cl is None or is_int(cl) or is_latin1(cl), "content_length must be \"auto\", an integer, "
         "a string or null")


def header_pairs(headers):
    """[[name, value], ...] from a list of pairs or an object; raises ScriptError if neither."""
    if headers is None:
        return []
    if isinstance(headers, dict):
        return [[k, v] for k, v in headers.items()]
    need(isinstance(headers, list) and all(isinstance(p, list) and len(p) == 2 for p in headers),
         "headers must be [[name, value], ...] or {name: value}")
    return [list(p) for p in headers]


def run(conn, req, steps, templates):
    """Runs the steps; True when the connection may carry another request."""
    def fill(text):
        for key, url in templates.items():
            text = text.replace(key, url)
        return text.encode("latin-1")

    keep = True
    for step in steps:
        kind = next(k for k in step if k in STEP_OPTIONS)
        if kind == "respond":
            keep = respond(conn, req, step["respond"], fill) and keep
        elif kind == "send":
            conn.send(fill(step["send"]))
        elif kind == "send_b64":
            conn.send(base64.b64decode(step["send_b64"]))
        elif kind == "sleep":
            time.sleep(step["sleep"])
        elif kind == "drip":
            drip(conn, fill(step["drip"]) * step.get("count", 1), step.get("interval", 0))
        else:
            getattr(conn, kind)()        # hang, close, reset: the connection is over
            return False
    return keep


def drip(conn, data, interval):
    """One byte at a time, `interval` seconds apart."""
    for i in range(len(data)):
        if i:
            time.sleep(interval)
        conn.send(data[i:i + 1])


def respond(conn, req, r, fill):
    """Sends a response built from its parts; False when it must end the connection
    (Connection: close, or a body that only the close delimits)."""
    status, chunked = r.get("status", 200), bool(r.get("chunked"))
    headers = [[fill(n).decode("latin-1"), fill(v).decode("latin-1")]
               for n, v in header_pairs(r.get("headers"))]
    length, pieces = body_source(r, fill)
    names = {n.lower() for n, _ in headers}
    cl = r.get("content_length", "auto")
    if cl == "auto":
        if not chunked and "content-length" not in names:
            headers.append(["Content-Length", str(length)])
    elif cl is not None:
        headers.append(["Content-Length", str(cl)])
    if chunked and "transfer-encoding" not in names:
        headers.append(["Transfer-Encoding", "chunked"])
    reason = r.get("reason")
    conn.send(head_bytes(status, headers, None if reason is None else fill(reason).decode("latin-1")))
    if req.method != "HEAD":
        send_body(conn, pieces, chunked, r.get("chunk_size"))
    names = {n.lower() for n, _ in headers}
    no_body = req.method == "HEAD" or status < 200 or status in (204, 304)
    delimited = chunked or "content-length" in names or no_body
    says_close = any(n.lower() == "connection" and "close" in v.lower() for n, v in headers)
    return delimited and not says_close


def body_source(r, fill):
    """(length, pieces): the body as byte pieces of at most PIECE bytes."""
    if "body_repeat" not in r:
        body = fill(r.get("body", ""))
        return len(body), [body[i:i + PIECE] for i in range(0, len(body), PIECE)]
    unit, count = fill(r["body_repeat"]["text"]), r["body_repeat"]["count"]
    if not unit or not count:
        return 0, []
    per = max(1, PIECE // len(unit))
    full, rest = divmod(count, per)
    return len(unit) * count, RepeatPieces(unit * per, full, unit * rest)


class RepeatPieces:
    """Lazily yields `block` `times` times, then `tail` (if any)."""

    def __init__(self, block, times, tail):
        self.block, self.times, self.tail = block, times, tail

    def __iter__(self):
        for _ in range(self.times):
            yield self.block
        if self.tail:
            yield self.tail


def send_body(conn, pieces, chunked, chunk_size):
    """Sends the pieces, in chunked encoding (chunk_size bytes per chunk) if asked."""
    for piece in pieces:
        if not chunked:
            conn.send(piece)
            continue
        step = chunk_size or len(piece)
        for i in range(0, len(piece), step):
            part = piece[i:i + step]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
    if chunked:
        conn.send(b"0\r\n\r\n")
