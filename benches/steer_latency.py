#!/usr/bin/env python3
# One-connection-at-a-time latency from a client pinned to a CPU (docs/performance.md,
# "Steering"): python3 benches/steer_latency.py PORT CPU, against hello on 127.0.0.1:PORT.
import socket, time, os, sys
os.sched_setaffinity(0, {int(sys.argv[2])})
port = int(sys.argv[1])
lat = []
for c in range(40):
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(100):
        time.sleep(0.0005)
        t = time.perf_counter(); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); d = b""
        while not d.endswith(b"Hello, World!"): d += s.recv(4096)
        lat.append((time.perf_counter() - t) * 1e6)
    s.close()
lat.sort(); n = len(lat)
print("n=%d p50=%.0f p90=%.0f p99=%.0f us" % (n, lat[n//2], lat[int(n*.9)], lat[int(n*.99)]))
