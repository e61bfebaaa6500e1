"""Local emulator of the Huawei Cloud DCS run-log APIs, for lua-dcs tests and demos.

Serves on loopback the three DCS v2 run-log APIs behind SDK-HMAC-SHA256 (APIGW)
verification, OBS-like pre-signed downloads of the log files, the IAM project
lookup (GET /v3/projects), the ECS metadata credential service, fault injection
and an unauthenticated JSON admin API under /_emulator/. Standard library only.
`--self-test VECTORS.json` checks the verifier against the signing vectors.
"""

import argparse
import os
import signal
import threading
import time

from .common import DEFAULT_AK, DEFAULT_PROJECT, DEFAULT_PROJECT_NAME, DEFAULT_SK
from .signing import self_test


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="dcs-emulator", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    p.add_argument("--cred", action="append", metavar="AK:SK",
                   help="accepted credential; repeatable; replaces the default example AK/SK")
    p.add_argument("--project", action="append", metavar="PID[:NAME]",
                   help="known project id, optionally with its name (the region id the IAM "
                        "lookup matches); repeatable; the seed instances go in the first")
    p.add_argument("--collect-delay", type=float, default=1.0,
                   help="seconds a collected log stays 'creating' (default 1.0)")
    p.add_argument("--link-ttl", type=float, default=86400,
                   help="download link lifetime in seconds (default 86400)")
    p.add_argument("--latency", type=float, default=0.0,
                   help="seconds every non-admin request waits before handling (default 0)")
    p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate")
    p.add_argument("--tls-key", metavar="FILE", help="private key (PEM) for --tls-cert")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the parent process goes away")
    p.add_argument("--quiet", action="store_true", help="no per-request access log on stderr")
    p.add_argument("--self-test", metavar="VECTORS.json",
                   help="check the verifier against a signing-vectors file and exit")
    args = p.parse_args(argv)
    creds = {}
    for c in args.cred or []:
        ak, sep, sk = c.partition(":")
        if not (sep and ak and sk):
            p.error("--cred wants AK:SK, got %r" % c)
        creds[ak] = sk
    args.creds = creds or {DEFAULT_AK: DEFAULT_SK}
    projects = []
    for spec in args.project or [DEFAULT_PROJECT]:
        pid, sep, name = spec.partition(":")
        if not pid:
            p.error("--project wants ID or ID:NAME, got %r" % spec)
        if not sep:
            name = DEFAULT_PROJECT_NAME if pid == DEFAULT_PROJECT else ""
        projects.append((pid, name))
    args.projects = projects                 # [(id, name)], in command-line order
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return args


def _watch_parent(ppid):
    while True:
        time.sleep(0.3)
        if os.getppid() != ppid:
            os._exit(0)                # the harness died: do not linger as an orphan


def _exit_signal(signum, frame):
    raise SystemExit(0)                # unwinds serve_forever in the main thread


def main(argv=None):
    args = parse_args(argv)
    if args.self_test:
        return self_test(args.self_test)
    from .server import make_server     # not needed (nor imported) by --self-test
    server = make_server(args)
    signal.signal(signal.SIGTERM, _exit_signal)
    signal.signal(signal.SIGINT, _exit_signal)
    print("DCS emulator listening on %s pid=%d" % (server.base_url(), os.getpid()),
          flush=True)
    if args.exit_with_parent:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except SystemExit:
        pass
    finally:
        server.server_close()
    return 0
