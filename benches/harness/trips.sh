#!/usr/bin/env bash
# Kernel trips per request: system calls and io_uring operations a server makes per response,
# counted with perf's tracepoints (no strace slowdown) while wrk drives it.
#
#   flock /tmp/ringpin-bench.lock benches/harness/trips.sh --duration 5 \
#       ringpin='target/release/examples/hello --addr {addr} --cores 1' \
#       uring-bare='benches/peers/target/release/uring-bare --addr {addr}'
#
# Each NAME='COMMAND' runs under `taskset -c 1`, wrk on CPU 0 (64 connections; closed loop,
# then 16-deep pipelining). Prints one table row per server and mode: events per response.
# Needs perf with tracepoint access (root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DURATION=5 ROUTE=/ PORT=18400
NAMES=() COMMANDS=()
while (($#)); do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --route) ROUTE="$2"; shift 2 ;;
        -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *=*) NAMES+=("${1%%=*}"); COMMANDS+=("${1#*=}"); shift ;;
        *) echo "trips.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
EVENTS=(raw_syscalls:sys_enter syscalls:sys_enter_io_uring_enter syscalls:sys_enter_recvfrom
    syscalls:sys_enter_sendto syscalls:sys_enter_membarrier io_uring:io_uring_submit_req
    io_uring:io_uring_complete io_uring:io_uring_poll_arm)
LABELS=("syscalls" "io_uring_enter" "recvfrom" "sendto" "membarrier" "SQEs" "CQEs" "poll arms")
OUT="$(mktemp -d)"
PID=""
trap '[[ -z "$PID" ]] || kill "$PID" 2>/dev/null || true; rm -rf "$OUT"' EXIT

header="$(IFS='|'; echo "${LABELS[*]}")"
printf '| server | mode | %s |\n' "${header//|/ | }"
printf '| --- | --- |%s\n' "$(printf ' ---: |%.0s' "${LABELS[@]}")"
for i in "${!NAMES[@]}"; do
    addr="127.0.0.1:$((PORT + i))"
    # shellcheck disable=SC2086 # the command is word-split on purpose
    taskset -c 1 ${COMMANDS[$i]//\{addr\}/$addr} >"$OUT/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$addr$ROUTE" || true)" == 200 ]] && break
        sleep 0.1
    done
    for mode in closed pipelined; do
        script=()
        [[ "$mode" == pipelined ]] && script=(-s "$ROOT/benches/harness/pipeline.lua")
        perf stat -x, -e "$(IFS=,; echo "${EVENTS[*]}")" -p "$PID" -o "$OUT/perf.csv" -- sleep "$DURATION" &
        perf_pid=$!
        taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${script[@]}" "http://$addr$ROUTE" ${script:+-- 16} >"$OUT/wrk.txt"
        wait "$perf_pid" || true
        responses="$(awk '/requests in/ { print $1 }' "$OUT/wrk.txt")"
        row="| ${NAMES[$i]} | $mode |"
        for event in "${EVENTS[@]}"; do
            count="$(awk -F, -v e="$event" '$3 == e { print $1 }' "$OUT/perf.csv")"
            row+="$(awk -v c="${count:-0}" -v r="$responses" 'BEGIN { printf " %.2f |", (r > 0 ? c / r : 0) }')"
        done
        echo "$row"
        sleep 0.5
    done
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    sleep 0.5
done
