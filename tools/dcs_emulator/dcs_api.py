"""DCS v2 run-log APIs (and the dispatch of every AK/SK-signed /v2/, /v3/ request)."""

import secrets
import time
import uuid
from datetime import timedelta
from urllib.parse import quote, unquote_to_bytes

from .common import NO_API, UUID_RE, DcsError, decode_query
from .obs import link_signature
from .state import LogFile


class DcsApi:
    """Mixin for Handler: /v2/ and /v3/ requests (signature first, then routing)."""

    def handle_dcs(self, raw_path, raw_query, body):
        emu = self.server.emu
        err = emu.verify(self.command, raw_path.encode("latin-1"), raw_query.encode("latin-1"),
                         self.headers, body)
        if err:
            return self.gw_error(401, "APIGW.0301", err)
        # Decode each segment on its own, so an encoded '/' stays inside its path parameter.
        segs = [unquote_to_bytes(s).decode("utf-8", "replace") for s in raw_path.split("/")[1:]]
        if len(segs) > 1 and segs[-1] == "":
            segs.pop()                               # tolerate one trailing slash
        if segs == ["v3", "projects"]:
            return self.handle_iam_projects(raw_query)   # IAM project lookup (iam.py)
        try:
            with emu.lock:
                status, obj = self.dcs_route(emu, segs, decode_query(raw_query))
        except DcsError as e:
            return (self.gw_error if e.gateway else self.dcs_error)(e.status, e.code, e.msg)
        if obj is None:
            return self.send(status)
        self.send_json(status, obj)

    def dcs_route(self, emu, segs, query):
        if len(segs) == 5 and segs[0] == "v2" and segs[2] == "instances" and segs[4] == "redislog":
            allowed = ("GET", "POST")
        elif len(segs) == 7 and segs[0] == "v2" and segs[2] == "instances" and segs[4:7:2] == [
                "redislog", "links"]:
            allowed = ("POST",)
        else:
            raise DcsError(404, "APIGW.0101", NO_API, gateway=True)
        if self.command not in allowed:
            raise DcsError(405, "DCS.5001", "Method not allowed.")
        pid, iid, header_pid = segs[1], segs[3], self.headers.get("X-Project-Id")
        if pid not in emu.projects:
            raise DcsError(404, "DCS.4001", "The requested URL does not exist.")
        if header_pid is not None and header_pid.strip() != pid:
            raise DcsError(401, "DCS.1004", "Project ID does not match the token.")
        if not UUID_RE.match(iid):
            raise DcsError(400, "DCS.4061", "Invalid instance ID format.")
        inst = emu.projects[pid].get(iid)
        if inst is None:
            raise DcsError(404, "DCS.3022", "This DCS instance does not exist.")
        if len(segs) == 7:
            return self.create_link(emu, inst, segs[5])
        if query.get("log_type") != "run":
            raise DcsError(400, "DCS.4800", "Invalid logType.")
        return (self.collect if self.command == "POST" else self.list_logs)(emu, inst, query)

    @staticmethod
    def collect(emu, inst, query):
        try:
            days = int(query.get("query_time", "0"))
        except ValueError:
            days = -1
        if days not in (0, 1, 3, 7):
            raise DcsError(400, "DCS.4800", "Invalid queryTime.")
        reps, rid = inst["replications"], query.get("replication_id")
        if rid is None and inst["type"] == "single" and len(reps) == 1:
            rid = reps[0]["id"]
        repl = next((r for r in reps if r["id"] == rid), None)
        if repl is None:
            raise DcsError(400, "DCS.4800", "Invalid replication_id in the request.")
        for back in range(max(1, days)):              # one file per day, day 0 = today
            day = emu.today() - timedelta(days=back)
            # One file per replica and day: a new collection replaces the older entry.
            inst["logs"] = [f for f in inst["logs"] if not (f.repl_id == rid and f.day == day)]
            inst["logs"].append(LogFile(str(uuid.uuid4()), repl, day, status="creating", auto=True))
        return 204, None

    @staticmethod
    def list_logs(emu, inst, query):
        def int_param(name, default, lo, hi):
            try:
                v = int(query.get(name, default))
            except ValueError:
                v = lo - 1
            if not lo <= v <= hi:
                raise DcsError(400, "DCS.4800", "Invalid %s." % name)
            return v
        offset, limit = int_param("offset", 0, 0, 2 ** 31 - 1), int_param("limit", 10, 1, 1000)
        logs = sorted(inst["logs"], key=lambda f: (f.day, f.created), reverse=True)
        if not logs:
            return 204, None                         # the real API's "no log" answer
        return 200, {"total_num": len(logs), "file_list": [
            {"id": f.id, "file_name": f.file_name, "group_name": f.group, "replication_ip": f.ip,
             "status": emu.status_of(f), "time": f.day.isoformat(), "backup_id": f.backup_id}
            for f in logs[offset:offset + limit]]}

    def create_link(self, emu, inst, fid):
        f = next((x for x in inst["logs"] if x.id == fid), None)
        if f is None:
            raise DcsError(404, "DCS.4001", "The log file does not exist.")
        if emu.status_of(f) != "succeed":
            raise DcsError(400, "DCS.4017", "This DCS instance job task is still running.")
        token = secrets.token_urlsafe(18)
        emu.tokens[token] = f
        expires = int(time.time() + emu.config["link_ttl"])
        return 200, {"id": f.id, "backup_id": f.backup_id, "link": (
            "%s/_obs/%s/%s?AWSAccessKeyId=EMULATORAK&Expires=%d&Signature=%s" % (
                self.server.base_url(), token, quote(f.file_name, safe=""), expires,
                link_signature(emu, token, expires)))}
