#!/usr/bin/env bash
# Production-behaviour figures of docs/operations.md, side by side in one run:
#  1. p50/p99 of real clients (ringpin-load, open loop) with and without 1,000 connections
#     trickling a head byte a second (benches/slow_clients.py);
#  2. a 2x overload of a CPU-bound route with load shedding on and off.
# Server pinned to CPU 1, load on CPU 0; loopback only; about 2 minutes.
#
#   benches/run.sh production [--rate 5000] [--seconds 10] [--only slow|overload] [--pairs N] [--rt]
#
# --pairs N: the slow-client comparison N times, interleaved (without/with, then with/without,
#   ...), with the median p99 of each side at the end: one pair is not evidence on a noisy VM.
# --rt: server and generator run SCHED_FIFO (priority 20), so other work on the machine
#   (builds, other benchmarks) cannot delay them; the slow clients then run at normal
#   priority (the generator preempts them anyway, and SCHED_IDLE would starve them behind
#   that other work).
# --skip-build: use the release binaries already built.
set -euo pipefail
BENCH_NAME=production
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

rate=5000
seconds=10
only=all
pairs=1
rt=()
slow_sched=(chrt --idle 0)
skip_build=0
while (($#)); do
  case $1 in
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --rt) rt=(chrt -f 20); slow_sched=(); shift ;;
    --skip-build) skip_build=1; shift ;;
    -h | --help) show_help "${BASH_SOURCE[0]}"; exit 0 ;;
    *) usage_error "unknown argument $1" ;;
  esac
done
positive_int --rate "$rate"
positive_int --seconds "$seconds"
positive_int --pairs "$pairs"
[[ "$only" =~ ^(all|slow|overload)$ ]] || usage_error "--only takes slow or overload"
need_cpus
need curl
need python3
if ((skip_build == 0)); then
  build_examples hello overload
  build_load
fi
load="$LOAD_BIN_BUILT"
scratch="$(mktemp -d)"
at_exit "rm -rf $(printf %q "$scratch")"

start() { # name, extra env...
  local name=$1; shift
  reserve_port
  start_pinned "$scratch/$name.log" env RUST_LOG=warn "$@" "${rt[@]}" "$(example_bin "$name")" \
    --addr "127.0.0.1:$PORT" --cores "$SERVER_CPU"
  await_200 "http://127.0.0.1:$PORT/" "$scratch/$name.log"
}
measure() { # url rate -> "p50 p99 p99.9 ok_p99 non2xx achieved"
  taskset -c "$CLIENT_CPU" "${rt[@]}" "$load" --url "$1" --rate "$2" --connections 64 --cores "$CLIENT_CPU" \
    --duration "$seconds" --warmup 2 --json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_us"]; o=r["ok_latency_us"]
print(l["p50"], l["p99"], l["p99_9"], o["p99"], r["non_2xx"], round(r["achieved_rate"]))'
}

echo "| scenario | p50 us | p99 us | p99.9 us | 2xx p99 us | non-2xx | achieved req/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
if [ "$only" != overload ]; then
  start hello
  rows="$scratch/rows"
  : >"$rows"
  for pair in $(seq "$pairs"); do
    # Alternate which side goes first, so a drift over the run favours neither.
    if ((pair % 2)); then order="without with"; else order="with without"; fi
    for side in $order; do
      if [ "$side" = with ]; then
        # SCHED_IDLE: the slow clients share CPU 0 with the generator, and must not delay its
        # sends (a control run against a listener that never accepts showed that they
        # otherwise do).
        taskset -c "$CLIENT_CPU" "${slow_sched[@]}" python3 "$BENCHES/slow_clients.py" "127.0.0.1:$PORT" 1000 $((seconds + 6)) >"$scratch/slow_clients.txt" &
        slow=$!
        at_exit "kill $slow 2>/dev/null"
        sleep 3
      fi
      read -r a b c d e f < <(measure "http://127.0.0.1:$PORT/" "$rate")
      label="hello at $rate req/s"
      [ "$side" = with ] && label="$label + 1,000 slow clients"
      [ "$pairs" -gt 1 ] && label="$label (pair $pair)"
      echo "| $label | $a | $b | $c | $d | $e | $f |"
      echo "$side $b" >>"$rows"
      if [ "$side" = with ]; then wait "$slow"; echo "<!-- $(cat "$scratch/slow_clients.txt") -->"; fi
    done
  done
  stop_server
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
fi
if [ "$only" != slow ]; then
  for shed in 5 0; do
    start overload RINGPIN_SHED_TARGET_MS=$shed
    read -r a b c d e f < <(measure "http://127.0.0.1:$PORT/work?us=200" 10000)
    label=$([ "$shed" = 0 ] && echo off || echo "on (5 ms)")
    echo "| 200 us work at 10,000 req/s (2x), shedding $label | $a | $b | $c | $d | $e | $f |"
    stop_server
  done
fi
echo "<!-- host: $(host_line) -->"
