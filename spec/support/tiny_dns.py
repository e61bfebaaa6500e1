"""A DNS server for the nginx specs (nginx's resolver is the only way cosockets
resolve a name): answers every A query with 127.0.0.1 and any other with no
record.  Binds a free UDP port on 127.0.0.1, prints it and its pid, and exits
with its parent."""
import os
import socket
import struct
import threading
import time


def answer(query):
    ident, _flags, qdcount = struct.unpack("!HHH", query[:6])
    end = 12
    while query[end] != 0:
        end += query[end] + 1
    question = query[12:end + 5]
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
    records = b""
    if qtype == 1 and qdcount == 1:
        records = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
    head = struct.pack("!HHHHHH", ident, 0x8180, 1, 1 if records else 0, 0, 0)
    return head + question + records


def watch_parent(ppid):
    while os.getppid() == ppid:
        time.sleep(0.3)
    os._exit(0)


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], os.getpid(), flush=True)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    while True:
        data, peer = sock.recvfrom(512)
        try:
            sock.sendto(answer(data), peer)
        except (IndexError, struct.error):
            pass


if __name__ == "__main__":
    main()
