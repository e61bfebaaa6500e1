"""Shared state: scripts, served files, the request log, statistics, extra listeners.

Everything here is guarded by State.lock; connection threads and the control
API only go through these methods.
"""

import base64
import sys
import threading
import time


class State:
    def __init__(self, quiet=True):
        self.lock = threading.Lock()
        self.quiet = quiet
        self.started = time.monotonic()
        self.base = ""               # the main listener's URL, once bound
        self.open_listener = None    # kind -> Listener, set by server.make_server
        self.main = None             # the main Listener, set by server.make_server
        self.conn_seq = 0
        self.open_ids = set()        # open connections that count in stats
        self.in_flight = 0
        self.listeners = []          # extra listeners, newest last
        self.clear()

    def clear(self):
        """Forgets scripts, files, the log and the counters (not the live ones)."""
        self.scripts, self.script_seq = [], 0
        self.files = {}
        self.log, self.log_seq = [], 0
        self.seen_ids = set()        # connections counted since the last reset
        self.requests = 0
        self.peak_in_flight = self.in_flight

    def reset(self, close_connections=False, keep=None):
        """POST /_hostile/reset: clear() and close the extra listeners; with
        close_connections also end every main-listener connection but `keep`
        (the one carrying the reset), so no client's kept-alive connection
        carries one test's state into the next."""
        with self.lock:
            self.clear()
            listeners, self.listeners = self.listeners, []
        for listener in listeners:
            listener.close()
        if close_connections and self.main is not None:
            self.main.abort_connections(keep)

    # -- connections and statistics ---------------------------------------------

    def conn_opened(self):
        """A new connection was accepted: its id (counted until it proves to be control)."""
        with self.lock:
            self.conn_seq += 1
            self.open_ids.add(self.conn_seq)
            self.seen_ids.add(self.conn_seq)
            return self.conn_seq

    def conn_closed(self, conn):
        with self.lock:
            self.open_ids.discard(conn.id)

    def conn_used(self, conn, control):
        """Connections whose first request is a control request leave the stats
        (the test's admin client); one that later carries a normal request returns."""
        with self.lock:
            if not control:
                conn.normal = True
                if not conn.closed:
                    self.open_ids.add(conn.id)
                self.seen_ids.add(conn.id)
            elif not conn.normal:
                self.open_ids.discard(conn.id)
                self.seen_ids.discard(conn.id)

    def begin_request(self, conn, req, in_flight=True):
        """Logs a received (non-control) request; counts it in flight until end_request."""
        entry = {"conn": conn.id, "listener": conn.listener, "tls": conn.tls,
                 "time": round(time.monotonic() - self.started, 3),
                 "method": req.method, "target": req.target, "version": req.version,
                 "headers": req.headers, "body_b64": base64.b64encode(req.body).decode(),
                 "raw_b64": base64.b64encode(req.raw).decode(), "error": req.error}
        if not self.quiet:
            sys.stderr.write("[conn %d %s] %r %r%s\n" % (conn.id, conn.listener, req.method,
                                                       req.target, " (%s)" % req.error if req.error else ""))
        with self.lock:
            self.log_seq += 1
            entry["seq"] = self.log_seq
            self.log.append(entry)
            self.requests += 1
            if in_flight:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def end_request(self):
        with self.lock:
            self.in_flight -= 1

    def stats(self):
        with self.lock:
            return {"connections": len(self.seen_ids), "open_connections": len(self.open_ids),
                    "in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight,
                    "requests": self.requests}

    # -- scripts and files ----------------------------------------------------------

    def add_script(self, script):
        with self.lock:
            self.script_seq += 1
            script["id"], script["used"] = self.script_seq, 0
            self.scripts.append(script)
            return self.script_seq

    def take_script(self, req):
        """The first matching script with uses left (-1 = unlimited); uses one."""
        with self.lock:
            for s in self.scripts:
                if s["times"] != 0 and script_matches(s["match"], req):
                    if s["times"] > 0:
                        s["times"] -= 1
                    s["used"] += 1
                    return s
        return None

    def add_file(self, served):
        with self.lock:
            self.files[served.path] = served

    def find_file(self, path):
        with self.lock:
            return self.files.get(path)

    # -- listeners and templates ------------------------------------------------------

    def add_listener(self, listener):
        with self.lock:
            self.listeners.append(listener)

    def templates(self):
        """Placeholder -> URL: {{base}}, and the newest {{silent}}, {{tls_silent}}, {{close}}."""
        with self.lock:
            subs = {"{{base}}": self.base}
            for listener in self.listeners:
                subs["{{%s}}" % listener.kind] = listener.url
        return subs


def script_matches(match, req):
    """method: exact (upper-cased); path_prefix / path_contains: on the request
    target as sent (path and query)."""
    if match.get("method") and match["method"].upper() != req.method:
        return False
    if match.get("path_prefix") and not req.target.startswith(match["path_prefix"]):
        return False
    return not (match.get("path_contains") and match["path_contains"] not in req.target)
