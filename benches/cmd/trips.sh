#!/usr/bin/env bash
# Kernel trips per request: system calls and io_uring operations a server makes per response,
# counted with perf's tracepoints (no strace slowdown) while wrk drives it.
#
#   flock /tmp/ringpin-bench.lock benches/run.sh trips --duration 5 \
#       ringpin='target/release/examples/hello --addr {addr} --cores 1' \
#       uring-bare='benches/peers/target/release/uring-bare --addr {addr}'
#
# Each NAME='COMMAND' runs under `taskset -c 1` on a port reserved for it ({addr}), wrk on
# CPU 0 (64 connections; closed loop, then 16-deep pipelining). Prints one table row per
# server and mode: events per response. Needs perf with tracepoint access (root).
#
# Options: --duration S (5) --route PATH (/)
set -euo pipefail
BENCH_NAME=trips
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DURATION=5 ROUTE=/
declare -A FLAGS=([--duration]=DURATION [--route]=ROUTE)
OPERAND=named_command_arg parse_args "$@"
((${#NAMES[@]})) || usage_error "give at least one NAME='COMMAND'"
positive_int --duration "$DURATION"
need_cpus
need wrk
need curl
command -v perf >/dev/null || die "needs perf (Debian: linux-perf)"
EVENTS=(raw_syscalls:sys_enter syscalls:sys_enter_io_uring_enter syscalls:sys_enter_recvfrom
    syscalls:sys_enter_sendto syscalls:sys_enter_membarrier io_uring:io_uring_submit_req
    io_uring:io_uring_complete io_uring:io_uring_poll_arm)
LABELS=("syscalls" "io_uring_enter" "recvfrom" "sendto" "membarrier" "SQEs" "CQEs" "poll arms")
OUT="$(mktemp -d)"
at_exit "rm -rf $(printf %q "$OUT")"

header="$(IFS='|'; echo "${LABELS[*]}")"
printf '| server | mode | %s |\n' "${header//|/ | }"
printf '| --- | --- |%s\n' "$(printf ' ---: |%.0s' "${LABELS[@]}")"
for i in "${!NAMES[@]}"; do
    reserve_port
    addr="127.0.0.1:$PORT"
    start_named "$i" "$addr" "$OUT/server.log"
    await_200 "http://$addr$ROUTE" "$OUT/server.log"
    for mode in closed pipelined; do
        perf stat -x, -e "$(IFS=,; echo "${EVENTS[*]}")" -p "$SERVER_PID" -o "$OUT/perf.csv" -- sleep "$DURATION" &
        perf_pid=$!
        run_wrk "$mode" "http://$addr$ROUTE" "${DURATION}s" "$OUT/wrk.txt" || die "wrk failed on ${NAMES[$i]}"
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
    stop_server
    sleep 0.5
done
echo
echo "Host: $(host_line)."
