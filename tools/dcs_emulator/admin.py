"""Admin API: /_emulator/..., no auth, JSON in and out.

  GET    /_emulator/health                      {"ok": true}
  POST   /_emulator/reset                       seed state, CLI config; clears faults, log, lockouts
  GET    /_emulator/stats                       {"in_flight", "peak_in_flight" (since reset), "requests"}
  GET    /_emulator/requests                    {"requests": [{seq, conn, method, path, query,
                                                               headers, body, status}]}
  DELETE /_emulator/requests                    clear the request log
  GET|POST /_emulator/config                    {collect_delay, link_ttl, clock_skew, latency,
                                                 metadata_ttl, metadata_token, metadata_agency}
  GET|POST /_emulator/projects                  {"id", "name"}: add (or rename) a project
  POST   /_emulator/instances                   {"id", "type", "replications": [{id, ip, group}]}
  POST   /_emulator/instances/<id>/logs         {"file_name"?, "status"?, "time"?, "size"?} -> {"id"}
  POST   /_emulator/logs/<id>/status            {"status": "..."}
  GET|POST|DELETE /_emulator/faults             {"match": {method?, path_contains?, path_prefix?},
                                                 "times": 1 | N | -1, "action": see faults.py}
  POST   /_emulator/shutdown                    exit
"""

import json
import re
import threading
import uuid
from datetime import datetime
from urllib.parse import unquote

from .common import DEFAULT_LOG_SIZE, TOKEN_MODES, AdminError
from .state import LogFile

NUMERIC_CONFIG = ("collect_delay", "link_ttl", "clock_skew", "latency", "metadata_ttl")


class Admin:
    """Mixin for Handler. Every admin call runs under the state lock."""

    def handle_admin(self, path, body):
        emu, path = self.server.emu, path.rstrip("/") or "/"
        try:
            try:
                req = json.loads(body.decode("utf-8")) if body.strip() else {}
            except ValueError as e:
                raise AdminError(400, "invalid JSON body: %s" % e) from None
            if not isinstance(req, dict):
                raise AdminError(400, "JSON body must be an object")
            status, obj = self.admin_route(emu, path, req)
        except AdminError as e:
            status, obj = e.status, {"error": e.msg}
        self.send_json(status, obj)
        if path == "/shutdown" and status == 200:
            # From another thread: shutdown() waits for serve_forever to return.
            threading.Thread(target=self.server.shutdown, daemon=True).start()

    def admin_route(self, emu, path, req):
        ok = (200, {"ok": True})
        routes = [
            ("/health", {"GET": lambda: ok}),
            ("/reset", {"POST": lambda: (emu.reset(), ok)[1]}),
            ("/stats", {"GET": lambda: (200, {"in_flight": emu.in_flight,
                                               "peak_in_flight": emu.peak_in_flight,
                                               "requests": len(emu.requests)})}),
            ("/requests", {"GET": lambda: (200, {"requests": list(emu.requests)}),
                           "DELETE": lambda: (emu.requests.clear(), ok)[1]}),
            ("/config", {"GET": lambda: (200, dict(emu.config)),
                         "POST": lambda: self.admin_config(emu, req)}),
            ("/projects", {"GET": lambda: (200, {"projects": [
                              {"id": p, "name": n} for p, n in emu.project_names.items()]}),
                           "POST": lambda: self.admin_project(emu, req)}),
            ("/instances", {"POST": lambda: self.admin_instance(emu, req)}),
            ("/instances/([^/]+)/logs", {"POST": lambda i: self.admin_add_log(emu, unquote(i), req)}),
            ("/logs/([^/]+)/status", {"POST": lambda i: self.admin_log_status(emu, unquote(i), req)}),
            ("/faults", {"GET": lambda: (200, {"faults": [dict(f) for f in emu.faults]}),
                         "POST": lambda: self.admin_add_fault(emu, req),
                         "DELETE": lambda: (emu.faults.clear(), ok)[1]}),
            ("/shutdown", {"POST": lambda: ok}),
        ]
        for pattern, methods in routes:
            m = re.fullmatch(pattern, path)
            if m:
                if self.command not in methods:
                    raise AdminError(405, "method %s not allowed on /_emulator%s" % (self.command, path))
                with emu.lock:
                    return methods[self.command](*m.groups())
        raise AdminError(404, "unknown admin endpoint /_emulator%s" % path)

    @staticmethod
    def admin_config(emu, req):
        for key in NUMERIC_CONFIG:
            if key in req:
                try:
                    emu.config[key] = float(req[key])
                except (TypeError, ValueError):
                    raise AdminError(400, "%s must be a number" % key) from None
        if "metadata_token" in req:
            if req["metadata_token"] not in TOKEN_MODES:
                raise AdminError(400, "metadata_token must be required, optional or unsupported")
            emu.config["metadata_token"] = req["metadata_token"]
        if "metadata_agency" in req:
            if not isinstance(req["metadata_agency"], bool):
                raise AdminError(400, "metadata_agency must be a boolean")
            emu.config["metadata_agency"] = req["metadata_agency"]
        return 200, dict(emu.config)

    @staticmethod
    def admin_project(emu, req):
        pid, name = req.get("id"), req.get("name", "")
        if not isinstance(pid, str) or not pid:
            raise AdminError(400, "id (string) is required")
        if not isinstance(name, str):
            raise AdminError(400, "name must be a string")
        new = emu.add_project(pid, name)
        return (201 if new else 200), {"ok": True, "id": pid, "name": name}

    @staticmethod
    def admin_instance(emu, req):
        iid, itype = req.get("id"), req.get("type", "single")
        if not isinstance(iid, str) or not iid:
            raise AdminError(400, "id (string) is required")
        if itype not in ("single", "master_standby", "cluster"):
            raise AdminError(400, "type must be single, master_standby or cluster")
        try:
            reps = [{"id": str(r["id"]), "ip": str(r.get("ip", "192.168.0.100")),
                     "group": str(r.get("group", "group-0"))}
                    for r in req.get("replications") or [{"id": str(uuid.uuid4())}]]
        except (TypeError, KeyError, AttributeError):
            raise AdminError(400, "replications must be objects with at least an id") from None
        emu.add_instance(req.get("project") or emu.cli_projects[0], iid, itype, reps)
        return 201, {"ok": True}

    @staticmethod
    def admin_add_log(emu, iid, req):
        inst = emu.find_instance(iid)
        if inst is None:
            raise AdminError(404, "no instance %s" % iid)
        rid = req.get("replication_id") or inst["replications"][0]["id"]
        repl = next((r for r in inst["replications"] if r["id"] == rid), None)
        if repl is None:
            raise AdminError(400, "no replication %s on instance %s" % (rid, iid))
        try:
            day = datetime.strptime(req["time"], "%Y-%m-%d").date() if req.get("time") else emu.today()
            size = int(req.get("size", DEFAULT_LOG_SIZE))
            if size < 0:
                raise ValueError(size)
        except (ValueError, TypeError):
            raise AdminError(400, "time must be YYYY-MM-DD and size a non-negative integer") from None
        f = LogFile(str(uuid.uuid4()), repl, day, status=str(req.get("status", "succeed")),
                    size=size, file_name=req.get("file_name"))
        inst["logs"].append(f)
        return 201, {"id": f.id}

    @staticmethod
    def admin_log_status(emu, fid, req):
        f = emu.find_log(fid)
        if f is None:
            raise AdminError(404, "no log file %s" % fid)
        if not isinstance(req.get("status"), str):
            raise AdminError(400, "status (string) is required")
        f.status, f.auto = req["status"], False     # an explicit status sticks
        return 200, {"ok": True, "id": fid, "status": f.status}

    @staticmethod
    def admin_add_fault(emu, req):
        match, action = req.get("match") or {}, req.get("action")
        known = {"respond", "delay", "latency", "drop", "drop_after_bytes", "reset", "raw"}
        if not isinstance(match, dict) or not isinstance(action, dict) or not known & set(action):
            raise AdminError(400, "need match (object) and action with one of %s" % sorted(known))
        try:
            times = int(req.get("times", 1))
        except (TypeError, ValueError):
            raise AdminError(400, "times must be an integer") from None
        emu.fault_seq += 1
        emu.faults.append({"id": emu.fault_seq, "match": match, "times": times, "action": action})
        return 201, {"id": emu.fault_seq}
