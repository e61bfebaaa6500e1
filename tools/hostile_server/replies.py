"""Well-formed response heads and the server's own small JSON answers."""

import http
import json

SERVER = "hostile-server/1.0"


def reason_phrase(status):
    """The standard reason phrase of a status, or "" for unknown ones."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def head_bytes(status, headers, reason=None):
    """Status line and header lines, in the given order, then the empty line (latin-1)."""
    lines = ["HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status) if reason is None else reason)]
    lines += ["%s: %s\r\n" % (name, value) for name, value in headers]
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def send_json(conn, req, status, obj):
    """A complete JSON answer; adds Connection: close when the client asked for it."""
    body = json.dumps(obj).encode("utf-8")
    headers = [["Server", SERVER], ["Content-Type", "application/json"],
               ["Content-Length", str(len(body))]]
    if req.wants_close():
        headers.append(["Connection", "close"])
    conn.send(head_bytes(status, headers) + (b"" if req.method == "HEAD" else body))


def not_found(conn, req):
    """The answer when no script and no file matches."""
    send_json(conn, req, 404, {"error": "no script or file matches",
                               "method": req.method, "target": req.target})
