"""The control API under /_hostile/: JSON in and out, never scripted, never logged.

Request bodies are read as latin-1 before JSON decoding, so a string in a
script stands for exactly the bytes a Lua (cjson) caller put in it, and
"\\u00XX" escapes give single bytes. Errors answer {"error": "..."} with 400
(bad input), 404 (unknown endpoint or file) or 405 (wrong method).
"""

import json
from urllib.parse import parse_qs

from .files import ServedFile
from .replies import send_json
from .steps import ScriptError, check_script

PREFIX = "/_hostile"
LISTENER_KINDS = ("silent", "close", "tls_silent")


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def is_control(req):
    """A well-framed request for /_hostile or below."""
    path = req.path
    return not req.framing_lost and (path == PREFIX or path.startswith(PREFIX + "/"))


def handle(state, conn, req):
    """Answers one control request; True (the connection stays usable)."""
    try:
        body = json.loads(req.body.decode("latin-1")) if req.body.strip() else {}
        if not isinstance(body, dict):
            raise ControlError(400, "the JSON body must be an object")
        status, obj = route(state, conn, req, body)
    except ValueError as e:               # JSON errors, ScriptError, bad file specs
        status, obj = 400, {"error": str(e)}
    except ControlError as e:
        status, obj = e.status, {"error": str(e)}
    send_json(conn, req, status, obj)
    return True


def route(state, conn, req, body):
    path = req.path[len(PREFIX):].rstrip("/") or "/"
    query = {k: v[-1] for k, v in parse_qs(req.target.partition("?")[2]).items()}
    ok = (200, {"ok": True})
    routes = {
        "/health": {"GET": lambda: ok},
        "/reset": {"POST": lambda: reset(state, conn, body)},
        "/script": {"POST": lambda: add_script(state, body),
                    "GET": lambda: (200, {"scripts": list_scripts(state)}),
                    "DELETE": lambda: (clear_scripts(state), ok)[1]},
        "/file": {"POST": lambda: add_file(state, body)},
        "/file-sha256": {"GET": lambda: file_sha256(state, query)},
        "/log": {"GET": lambda: (200, {"requests": list_log(state)}),
                 "DELETE": lambda: (clear_log(state), ok)[1]},
        "/stats": {"GET": lambda: (200, state.stats())},
        "/listener": {"POST": lambda: add_listener(state, body)},
    }
    methods = routes.get(path)
    if methods is None:
        raise ControlError(404, "unknown control endpoint %s%s" % (PREFIX, path))
    if req.method not in methods:
        raise ControlError(405, "%s %s%s: use %s" % (req.method, PREFIX, path, ", ".join(methods)))
    return methods[req.method]()


def reset(state, conn, body):
    close = body.get("close_connections", False)
    if not isinstance(close, bool):
        raise ControlError(400, "close_connections must be true or false")
    state.reset(close_connections=close, keep=conn)
    return 200, {"ok": True}


def add_script(state, body):
    try:
        return 200, {"id": state.add_script(check_script(body))}
    except ScriptError as e:
        raise ControlError(400, str(e)) from None


def list_scripts(state):
    with state.lock:
        return [{k: s[k] for k in ("id", "match", "times", "used")} for s in state.scripts]


def clear_scripts(state):
    with state.lock:
        state.scripts = []


SHA256_ON_ADD = 1 << 28                  # larger files: ask file-sha256 (hashing takes a while)


def add_file(state, body):
    served = ServedFile(body)            # ValueError -> 400
    state.add_file(served)
    return 200, served.describe(with_sha256=served.size <= SHA256_ON_ADD)


def file_sha256(state, query):
    served = state.find_file(query.get("path", ""))
    if served is None:
        raise ControlError(404, "no served file at %r" % query.get("path"))
    return 200, served.describe()


def list_log(state):
    with state.lock:
        return list(state.log)


def clear_log(state):
    with state.lock:
        state.log = []


def add_listener(state, body):
    kind = body.get("kind")
    if kind not in LISTENER_KINDS:
        raise ControlError(400, "kind must be one of %s" % ", ".join(LISTENER_KINDS))
    listener = state.open_listener(kind)
    state.add_listener(listener)
    return 200, {"kind": kind, "url": listener.url}
