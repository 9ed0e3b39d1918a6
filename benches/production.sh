#!/usr/bin/env bash
# Production-behaviour figures of docs/operations.md, side by side in one run:
#  1. p50/p99 of real clients (ringpin-load, open loop) with and without 1,000 connections
#     trickling a head byte a second;
#  2. a 2x overload of a CPU-bound route with load shedding on and off.
# Server pinned to CPU 1, load on CPU 0; loopback only; about 2 minutes.
#   benches/production.sh [--rate 5000] [--seconds 10] [--only slow|overload] [--pairs N] [--rt]
# --pairs N: the slow-client comparison N times, interleaved (without/with, then with/without,
#   ...), with the median p99 of each side at the end: one pair is not evidence on a noisy VM.
# --rt: server and generator run SCHED_FIFO (priority 20), so other work on the machine
#   (builds, other benchmarks) cannot delay them; the slow clients then run at normal
#   priority (the generator preempts them anyway, and SCHED_IDLE would starve them behind
#   that other work).
set -euo pipefail
cd "$(dirname "$0")/.."
rate=5000
seconds=10
only=all
pairs=1
rt=()
slow_sched=(chrt --idle 0)
while (($#)); do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --rt) rt=(chrt -f 20); slow_sched=(); shift ;;
    *) echo "usage: $0 [--rate N] [--seconds S] [--only slow|overload] [--pairs N] [--rt]" >&2; exit 2 ;;
  esac
done
cargo build --release --quiet --example hello --example overload --bin ringpin-load
load=target/release/ringpin-load
# A free port chosen now, so two runs on one machine cannot collide.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

start() { # name, extra env...
  local name=$1; shift
  env RUST_LOG=warn "$@" taskset -c 1 "${rt[@]}" "target/release/examples/$name" --addr "127.0.0.1:$port" --cores 1 &
  server=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null && return; sleep 0.1; done
  echo "server $name did not start" >&2; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }
measure() { # url rate -> "p50 p99 p99.9 ok_p99 non2xx achieved"
  taskset -c 0 "${rt[@]}" "$load" --url "$1" --rate "$2" --connections 64 --cores 0 \
    --duration "$seconds" --warmup 2 --json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]; o=r["ok_latency_us"]
print(l["p50"], l["p99"], l["p99_9"], o["p99"], r["non_2xx"], round(r["achieved_rate"]))'
}

echo "| scenario | p50 us | p99 us | p99.9 us | 2xx p99 us | non-2xx | achieved req/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
if [ "$only" != overload ]; then
start hello
rows=$(mktemp)
for pair in $(seq "$pairs"); do
  # Alternate which side goes first, so a drift over the run favours neither.
  if ((pair % 2)); then order="without with"; else order="with without"; fi
  for side in $order; do
    if [ "$side" = with ]; then
      # SCHED_IDLE: the slow clients share CPU 0 with the generator, and must not delay its
      # sends (a control run against a listener that never accepts showed that they
      # otherwise do).
      taskset -c 0 "${slow_sched[@]}" python3 benches/slow_clients.py "127.0.0.1:$port" 1000 $((seconds + 6)) > /tmp/slow_clients.txt &
      slow=$!
      sleep 3
    fi
    read -r a b c d e f < <(measure "http://127.0.0.1:$port/" "$rate")
    label="hello at $rate req/s"
    [ "$side" = with ] && label="$label + 1,000 slow clients"
    [ "$pairs" -gt 1 ] && label="$label (pair $pair)"
    echo "| $label | $a | $b | $c | $d | $e | $f |"
    echo "$side $b" >> "$rows"
    if [ "$side" = with ]; then wait "$slow"; echo "<!-- $(cat /tmp/slow_clients.txt) -->"; fi
  done
done
stop
if [ "$pairs" -gt 1 ]; then
  python3 - "$rows" <<'PY'
import statistics, sys
by = {"without": [], "with": []}
for line in open(sys.argv[1]):
    side, p99 = line.split()
    by[side].append(float(p99))
for side, values in by.items():
    print(f"<!-- {side} slow clients: p99 us {sorted(values)}, median {statistics.median(values):.0f} -->")
PY
fi
rm -f "$rows"
fi
[ "$only" = slow ] && exit 0

for shed in 5 0; do
  start overload RINGPIN_SHED_TARGET_MS=$shed
  read -r a b c d e f < <(measure "http://127.0.0.1:$port/work?us=200" 10000)
  label=$([ "$shed" = 0 ] && echo off || echo "on (5 ms)")
  echo "| 200 us work at 10,000 req/s (2x), shedding $label | $a | $b | $c | $d | $e | $f |"
  stop
done
