#!/usr/bin/env python3
"""A loopback listener whose accept queue is full, so new connections hang
in SYN_SENT: a real way to make a client's connect timeout fire.  Prints its
port, then exits after the given number of seconds (default 10)."""
import socket
import sys
import time

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(0)
port = server.getsockname()[1]
held = []
for _ in range(3):                 # fill the queue; never accept
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    held.append(c)
time.sleep(0.2)
print(port, flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 10)
