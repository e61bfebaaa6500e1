"""Command line and process life: arguments, the startup line, exit with the parent."""

import argparse
import os
import signal
import sys
import threading
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="hostile-server",
                                description="HTTP(S) server that misbehaves on demand (loopback only)")
    p.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate")
    p.add_argument("--tls-key", metavar="FILE", help="private key (PEM) for --tls-cert")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the parent process goes away")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but real errors")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return args


def _watch_parent(ppid):
    while True:
        time.sleep(0.3)
        if os.getppid() != ppid:
            os._exit(0)                # the harness died: do not linger as an orphan


def _exit_signal(signum, frame):
    raise SystemExit(0)


def main(argv=None):
    sys.dont_write_bytecode = True
    args = parse_args(argv)
    from .server import make_server
    listener = make_server(args)
    signal.signal(signal.SIGTERM, _exit_signal)
    signal.signal(signal.SIGINT, _exit_signal)
    print("hostile-server listening on %s pid=%d" % (listener.url, os.getpid()), flush=True)
    if args.exit_with_parent:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        while True:
            time.sleep(3600)           # connection threads are daemons; signals end this
    except SystemExit:
        pass
    listener.close()
    return 0
