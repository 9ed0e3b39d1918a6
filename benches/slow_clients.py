#!/usr/bin/env python3
"""Holds N connections that trickle a request head one byte a second (slowloris).

    python3 benches/slow_clients.py 127.0.0.1:8080 1000 30   # 1,000 connections for 30 s

Loopback only; stops by itself after the given seconds. A connection the server closes (it
answers 408 at the header deadline) is replaced, so N stay open. Prints how many 408s and
closes it saw.
"""
import socket
import sys
import time

HEAD = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"a" * 4096


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    count, seconds = int(sys.argv[2]), float(sys.argv[3])
    conns = {}
    closed = timeouts = 0
    end = time.monotonic() + seconds
    tick = 0
    while time.monotonic() < end:
        for i in range(count):
            if i not in conns:
                try:
                    s = socket.create_connection((host, int(port)), timeout=1)
                    s.setblocking(False)
                    conns[i] = [s, 0]
                except OSError:
                    continue
            s, sent = conns[i]
            try:
                s.send(HEAD[sent % len(HEAD):sent % len(HEAD) + 1])
                conns[i][1] += 1
                try:
                    data = s.recv(4096)
                    if data.startswith(b"HTTP/1.1 408"):
                        timeouts += 1
                    if data == b"" or data:
                        raise OSError("answered or closed")
                except BlockingIOError:
                    pass
            except OSError:
                closed += 1
                s.close()
                del conns[i]
        tick += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() % 1.0)))
    for s, _ in conns.values():
        s.close()
    print(f"slow_clients: {count} connections, {tick} bytes each at most, "
          f"{timeouts} answered 408, {closed} closed and replaced")


if __name__ == "__main__":
    main()
