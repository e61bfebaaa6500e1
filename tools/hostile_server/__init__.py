"""hostile-server: a loopback HTTP(S) server that misbehaves on demand, for lua-dcs tests.

tools/hostile-server is the launcher. Standard library only; binds 127.0.0.1.

  python3 tools/hostile-server --port 0 --exit-with-parent --quiet [--tls-cert F --tls-key F]

prints one line, "hostile-server listening on http://127.0.0.1:PORT pid=PID"
(https with TLS), and serves until killed or (with --exit-with-parent) orphaned.

Modules: cli (arguments, process life), listeners (sockets, a thread per
connection), conn (sending; FIN, RST, hang), reader (robust request parser),
server (what each listener kind does; dispatch), control (/_hostile/ API),
steps (scripts), files (deterministic files, ranges, tricks), replies
(response heads, JSON answers), state (shared state and statistics).

Control API (JSON in and out; never scripted, never logged, not in stats):
  GET    /_hostile/health        {"ok": true}
  POST   /_hostile/reset         clears scripts, files, the log and the counters; closes
                                 the extra listeners (and their connections); with
                                 {"close_connections": true} also ends every other
                                 connection of the main listener (clients' kept-alive ones)
  POST   /_hostile/script        {"match": {"method"?, "path_prefix"?, "path_contains"?},
                                  "times": 1 | N | -1, "steps": [STEP, ...]} -> {"id": n}
  GET    /_hostile/script        {"scripts": [{"id", "match", "times" (left), "used"}]}
  DELETE /_hostile/script        forgets every script
  POST   /_hostile/file          {"path", "size", "seed"?: 1, "etag"?, "last_modified"?,
                                  "tricks"?} -> as file-sha256 below (sha256 null over
                                  256 MiB: hashing 2^34 bytes takes minutes)
  GET    /_hostile/file-sha256?path=P
                                 {"path", "size", "seed", "requests", "sha256"} of the content
                                 the next request of P would get
  GET    /_hostile/log           {"requests": [{"seq", "conn", "listener", "tls", "time",
                                  "method", "target", "version", "headers": [[name, value]],
                                  "body_b64", "raw_b64", "error"}]}
  DELETE /_hostile/log           clears it
  GET    /_hostile/stats         {"connections", "open_connections", "in_flight",
                                  "peak_in_flight", "requests"}
  POST   /_hostile/listener      {"kind": "silent" | "close" | "tls_silent"} -> {"kind", "url"}

A request is handled by the first script whose match fits and has uses left,
else by the served file at its path (GET, HEAD), else 404 with a JSON body.
Steps are described in steps.py, files and their tricks in files.py, how
requests are parsed and logged in reader.py. Match: method exact, path_prefix
and path_contains on the request target as sent (path and query). A request
with `Expect: 100-continue` gets "HTTP/1.1 100 Continue" before its body is read.
After a request, the connection closes when the client sent `Connection: close`
(or spoke HTTP/1.0 without keep-alive) or its framing was lost.

Control bodies are read as latin-1, so each character of a script string is one
byte on the wire (a Lua string goes through cjson byte for byte). In the log,
names and values are latin-1 text (non-ASCII bytes come back JSON-escaped);
body_b64 and raw_b64 are exact; "error" is null or what was wrong with the
request ("; "-separated); "listener" is "main" or "silent"; "time" is seconds
since the server started.

Stats (since the last reset, except the live counts): connections accepted on
any listener, minus those whose first request was a control request (the
test's admin client); open_connections, live, ends when the server ends a
connection (FIN or RST sent) or the peer closes it; in_flight, live, main
listener requests being handled (a hanging one stays in flight until the peer
closes); requests: non-control requests received on any listener.
"""

from .cli import main

__all__ = ["main"]
