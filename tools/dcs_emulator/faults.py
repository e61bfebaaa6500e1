"""Fault injection: canned answers, delays, dropped/reset connections, mid-body cuts.

Actions (POST /_emulator/faults {"match": ..., "times": ..., "action": ...}):
  {"respond": {"status": 429, "headers": {"Retry-After": "1"}, "body": "..." | "json": {...}}}
  {"delay": seconds}            then handle normally ("latency" is an alias)
  {"drop": true}                close without answering
  {"reset": true}               close with a TCP RST
  {"drop_after_bytes": N}       send the headers and N body bytes, then close
  {"raw": "HTTP/1.1 ..."}       send these bytes (latin-1) as the whole answer, then close:
                                interim 1xx answers, malformed header blocks
"""

import json
import socket
import struct
import time


class Faults:
    """Mixin for Handler: faults fire before normal handling of non-admin requests."""

    def take_fault(self, raw_path):
        """First matching fault with times left (-1 = unlimited); consumes one use."""
        emu = self.server.emu
        with emu.lock:
            for f in emu.faults:
                m = f["match"]
                if (f["times"] == 0 or (m.get("method") and m["method"].upper() != self.command)
                        or (m.get("path_contains") and m["path_contains"] not in raw_path)
                        or (m.get("path_prefix") and not raw_path.startswith(m["path_prefix"]))):
                    continue
                if f["times"] > 0:
                    f["times"] -= 1
                return f["action"]
        return None

    def apply_fault(self, action):
        """Returns True when the fault fully handled (or killed) the request."""
        delay = action.get("delay", action.get("latency"))
        if delay is not None:
            time.sleep(float(delay))
        if action.get("drop"):
            self.close_connection = True             # no response at all, then FIN
            return True
        if action.get("reset"):
            # SO_LINGER 0 makes the close send an RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return True
        if action.get("raw") is not None:
            self.headers_sent = True
            self.close_connection = True
            self.wfile.write(str(action["raw"]).encode("latin-1"))
            self.wfile.flush()
            return True
        if action.get("drop_after_bytes") is not None:
            self.drop_after = int(action["drop_after_bytes"])   # enforced in send()
        r = action.get("respond")
        if r is None:
            return False
        if "json" in r:
            body, ctype = json.dumps(r["json"]).encode("utf-8"), "application/json"
        else:
            body, ctype = str(r.get("body", "")).encode("utf-8"), "text/plain; charset=utf-8"
        self.send(int(r.get("status", 500)), body, ctype, r.get("headers"))
        return True
