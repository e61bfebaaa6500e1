"""State model: projects (with names), instances, log files, issued credentials."""

import hashlib
import math
import random
import secrets
import string
import threading
import time
from datetime import datetime, timedelta, timezone

from .common import (DEFAULT_LOG_SIZE, MAX_RECORDED, MAX_TEMP_CREDS, SEED_LOG_IDS)
from .signing import AuthMixin

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
# One BGSAVE + replica resync cycle; "M" lines come from the server, "C" from the child.
LOG_CYCLE = ["M * {n} changes in 300 seconds. Saving...",
             "M * Background saving started by pid {child}",
             "C * DB saved on disk",
             "C * RDB: {mb} MB of memory used by copy-on-write",
             "M * Background saving terminated with success",
             "M # Connection with replica {ip}:6379 lost.",
             "M * Replica {ip}:6379 asks for synchronization",
             "M * Partial resynchronization request from {ip}:6379 accepted. Sending {n} bytes "
             "of backlog starting from offset {off}."]
UPPER_ALNUM = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


def make_redis_log(seed, day, size, ip):
    """Deterministic, realistic Redis server log of exactly `size` bytes."""
    rng = random.Random(seed)
    pid, child, off = rng.randint(1000, 30000), 0, rng.randint(10 ** 6, 10 ** 8)
    t = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    out, total, i = [], 0, 0
    while total < size:
        tmpl = LOG_CYCLE[i % len(LOG_CYCLE)]
        i += 1 if i % len(LOG_CYCLE) < 4 or rng.random() < 0.7 else 3  # resyncs are rarer
        if "{child}" in tmpl:
            child = pid + rng.randint(1, 5000)
        t += timedelta(milliseconds=rng.randint(5, 90000))
        stamp = "%02d %s %d %s.%03d" % (t.day, MONTHS[t.month - 1], t.year,
                                        t.strftime("%H:%M:%S"), t.microsecond // 1000)
        off += rng.randint(100, 100000)
        line = "%d:%s %s %s\n" % (child if tmpl[0] == "C" else pid, tmpl[0], stamp, tmpl[2:].format(
            n=rng.randint(10, 99999), child=child, mb=rng.randint(0, 8), ip=ip, off=off))
        out.append(line)
        total += len(line)
    data = "".join(out).encode("ascii")[:size]
    return data[:-1] + b"\n" if data else data   # end on a newline even when cut


class LogFile:
    def __init__(self, fid, repl, day, status="succeed", size=DEFAULT_LOG_SIZE,
                 file_name=None, auto=False, created=None):
        self.id = self.backup_id = fid
        self.repl_id, self.ip, self.group = repl["id"], repl["ip"], repl["group"]
        self.day = day                      # datetime.date, UTC
        self.status = status
        self.auto = auto                    # True: 'creating' turns 'succeed' after collect_delay
        self.created = time.time() if created is None else created
        self.size = size
        self.file_name = file_name or "redis_%s_%s.log" % (self.ip, day.isoformat())
        self._data, self._lock = None, threading.Lock()

    def content(self):
        """(bytes, md5 hex, sha256 hex), built lazily: files are listed far more than fetched."""
        with self._lock:
            if self._data is None:
                data = make_redis_log(self.id, self.day, self.size, self.ip)
                self._data = (data, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
            return self._data


def _remember(table, key, value):
    table[key] = value
    while len(table) > MAX_TEMP_CREDS:          # dicts keep insertion order: drop the oldest
        del table[next(iter(table))]


class Emulator(AuthMixin):
    """All mutable state; self.lock (re-entrant) guards every field below."""

    def __init__(self, args):
        self.lock = threading.RLock()
        self.creds = dict(args.creds)
        self.cli_projects = [pid for pid, _ in args.projects]
        self.cli_project_names = dict(args.projects)
        self.cli_config = {"collect_delay": float(args.collect_delay),
                           "link_ttl": float(args.link_ttl), "clock_skew": 0.0,
                           "latency": float(args.latency),
                           "metadata_ttl": 3600.0, "metadata_token": "required",
                           "metadata_agency": True}
        self.link_key = secrets.token_bytes(32)   # private key that signs download links
        self.conn_seq = 0
        self.reset()

    def flight(self, delta):
        """One API request more (+1) or less (-1) in flight; keeps the peak since reset."""
        with self.lock:
            self.in_flight += delta
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def reset(self):
        with self.lock:
            self.in_flight = getattr(self, "in_flight", 0)
            self.peak_in_flight = self.in_flight
            self.config = dict(self.cli_config)
            self.projects = {p: {} for p in self.cli_projects}   # pid -> iid -> instance
            self.project_names = {p: self.cli_project_names[p] for p in self.cli_projects}
            self.tokens = {}          # download token -> LogFile (outlives replacement)
            self.faults, self.fault_seq = [], 0
            self.requests, self.req_seq = [], 0
            self.auth_fail = {}       # ak -> [consecutive failures, locked_until]
            self.metadata_tokens = {}  # metadata session token -> expiry (time.time())
            self.temp_creds = {}      # temporary AK -> {"sk", "token", "expires" (server time)}
            pid, today = self.cli_projects[0], self.today()
            single = self.add_instance(pid, "5560df16-cebf-4473-95c4-d1b573c16e79", "single", [
                {"id": "9e1f6b2a-0000-4000-8000-000000000001", "ip": "192.168.0.142",
                 "group": "group-0"}])
            for back, fid in enumerate(SEED_LOG_IDS):
                single["logs"].append(LogFile(fid, single["replications"][0],
                                              today - timedelta(days=back),
                                              created=time.time() - back * 86400))
            self.add_instance(pid, "7d3c0f5e-1b2a-4c3d-9e8f-0a1b2c3d4e5f", "master_standby", [
                {"id": "b1c2d3e4-0000-4000-8000-000000000001", "ip": "192.168.0.11", "group": "group-0"},
                {"id": "b1c2d3e4-0000-4000-8000-000000000002", "ip": "192.168.0.12", "group": "group-0"}])
            self.add_instance(pid, "00000000-0000-4000-8000-0000000000e0", "single", [
                {"id": "00000000-0000-4000-8000-0000000000e1", "ip": "192.168.0.200", "group": "group-0"}])

    @staticmethod
    def today():
        return datetime.now(timezone.utc).date()

    def next_conn_id(self):
        with self.lock:
            self.conn_seq += 1
            return self.conn_seq

    def add_project(self, pid, name):
        """Returns True when the project is new (an existing one is just renamed)."""
        with self.lock:
            new = pid not in self.projects
            self.projects.setdefault(pid, {})
            self.project_names[pid] = name
            return new

    def add_instance(self, project, iid, itype, replications):
        with self.lock:
            inst = {"id": iid, "type": itype, "replications": replications, "logs": []}
            self.projects.setdefault(project, {})[iid] = inst
            self.project_names.setdefault(project, "")
            return inst

    def find_instance(self, iid):
        return next((p[iid] for p in self.projects.values() if iid in p), None)

    def find_log(self, fid):
        return next((f for p in self.projects.values() for inst in p.values()
                     for f in inst["logs"] if f.id == fid), None)

    def status_of(self, f):
        # Lazy collection: the delay in force *now* decides, so config changes apply at once.
        if f.auto and f.status == "creating" and time.time() - f.created >= self.config["collect_delay"]:
            f.status = "succeed"
        return f.status

    def record(self, entry):
        with self.lock:
            self.req_seq += 1
            entry["seq"] = self.req_seq
            self.requests.append(entry)
            del self.requests[:-MAX_RECORDED]

    # -- ECS metadata service ------------------------------------------------

    def issue_metadata_token(self, ttl):
        token = secrets.token_urlsafe(32)
        with self.lock:
            _remember(self.metadata_tokens, token, time.time() + ttl)
        return token

    def metadata_token_valid(self, token):
        with self.lock:
            expiry = self.metadata_tokens.get(token)
        return expiry is not None and time.time() < expiry

    def issue_temp_credentials(self):
        """Fresh temporary AK/SK/security token, accepted by verify() until they expire.
        The expiry is rounded up to a whole second, so they last at least metadata_ttl."""
        ak = "TMP" + "".join(secrets.choice(UPPER_ALNUM) for _ in range(17))
        sk = "".join(secrets.choice(ALNUM) for _ in range(40))
        token = secrets.token_urlsafe(480)
        with self.lock:
            expires = math.ceil(time.time() + self.config["clock_skew"] +
                                self.config["metadata_ttl"])
            _remember(self.temp_creds, ak, {"sk": sk, "token": token, "expires": expires})
        return {"access": ak, "secret": sk, "securitytoken": token, "expires_at":
                datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")}
