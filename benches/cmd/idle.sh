#!/usr/bin/env bash
# Memory per idle keep-alive connection (issue #8's target: at most 2 KiB).
#
#   benches/run.sh idle [CONNECTIONS] [--skip-build]      # default 8000 connections
#
# Starts the release `hello` example on one shard (CPU 1), opens CONNECTIONS connections
# from Python, and reads the server's VmRSS from /proc:
#   1. after one warm-up request (the baseline),
#   2. with every connection open and never used,
#   3. after each connection sent one request, read its response and went idle for longer
#      than `idle_buffer_release` (its buffers released).
# Prints bytes per connection for 2 and 3 against 1. Needs python3; wrap it in
# `flock /tmp/ringpin-bench.lock` beside other benchmarks.
set -euo pipefail
BENCH_NAME=idle
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

conns=8000
skip_build=0
declare -A FLAGS=([--skip-build]=skip_build=1)
# conns_arg ARG: a number is the connection count (parse_args's OPERAND).
conns_arg() { [[ "$1" == [0-9]* ]] && conns="$1"; }
OPERAND=conns_arg parse_args "$@"
positive_int CONNECTIONS "$conns"
need_cpus
need python3
ulimit -n $((conns + 1024))
((skip_build)) || build_examples hello

reserve_port
log_file="$(mktemp)"
at_exit "rm -f $(printf %q "$log_file")"
start_pinned "$log_file" env RUST_LOG=warn RINGPIN_MAX_CONNECTIONS=$((conns + 100)) \
    "$(example_bin hello)" --addr "127.0.0.1:$PORT" --cores "$SERVER_CPU"

python3 - "$PORT" "$conns" "$SERVER_PID" <<'PY'
import socket, sys, time

port, conns, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmRSS")

def connect():
    for _ in range(100):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not accept")

def ask(s):
    s.sendall(REQUEST)
    got = b""
    while b"Hello, World!" not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed before the response")
        got += chunk

warm = connect()
ask(warm)
time.sleep(0.5)
base = rss()

socks = [connect() for _ in range(conns)]
time.sleep(1.0)
opened = rss()

for s in socks:
    ask(s)
time.sleep(1.0)  # past idle_buffer_release (100 ms): buffers freed
used = rss()

print(f"connections: {conns}")
print(f"baseline RSS: {base} bytes")
print(f"never sent a request: {(opened - base) / conns:.0f} bytes per connection")
print(f"idle after one request: {(used - base) / conns:.0f} bytes per connection")
for s in socks:
    s.close()
PY
echo "host: $(host_line)"
