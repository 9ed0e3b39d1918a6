#!/usr/bin/env bash
# A/B of server binaries, interleaved: phase 1 of run.sh (closed loop and 16-deep pipelining,
# CPU ns per response from schedstat) for any commands, without the idle and open-loop
# phases. For comparing two builds of ringpin, or a lever against its baseline.
#
#   benches/harness/ab.sh --reps 3 --duration 5 \
#       base='/tmp/hello-base --addr {addr} --cores 1' \
#       spin='/tmp/hello-spin --addr {addr} --cores 1'
#
# Each NAME='COMMAND' is started fresh per route and repetition under `taskset -c 1`
# ({addr} becomes 127.0.0.1:PORT); wrk runs on CPU 0. The order of the servers rotates every
# repetition. Prints a table of medians (and each server's ratio to the first); every run is a
# JSON line in OUT/runs.jsonl, wrk's output in OUT/raw. Wrap it in
# `flock /tmp/ringpin-bench.lock` on a shared machine.
#
# Options: --reps N (3) --duration S (5) --routes LIST (/,/json) --out DIR (target/bench/ab)
#          --port BASE (18300)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PIPELINE_LUA="$ROOT/benches/harness/pipeline.lua"
SERVER_CPU=1 CLIENT_CPU=0 CONNECTIONS=64 DEPTH=16
REPS=3 DURATION=5 ROUTES=/,/json OUT="$ROOT/target/bench/ab" BASE_PORT=18300
NAMES=() COMMANDS=()
while (($#)); do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --routes) ROUTES="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --port) BASE_PORT="$2"; shift 2 ;;
        -h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *=*) NAMES+=("${1%%=*}"); COMMANDS+=("${1#*=}"); shift ;;
        *) echo "ab.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
((${#NAMES[@]})) || { echo "ab.sh: give at least one NAME='COMMAND'" >&2; exit 2; }
IFS=, read -r -a ROUTE_LIST <<<"$ROUTES"
mkdir -p "$OUT/raw"
RUNS="$OUT/runs.jsonl"
: >"$RUNS"

log() { printf '[ab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cpu_ns() { awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$1"/task/*/schedstat 2>/dev/null || echo 0; }
cpu_busy() { awk -v cpu="cpu$1" '$1 == cpu { for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

PID=""
stop() {
    [[ -n "$PID" ]] || return 0
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}
trap stop EXIT

run_one() {
    local rep="$1" i="$2" route="$3" name="${NAMES[$2]}" port=$((BASE_PORT + $2)) kind tag
    local addr="127.0.0.1:$port" cmd
    cmd="${COMMANDS[$i]//\{addr\}/$addr}"
    tag="$name-$(tr -c 'a-z0-9\n' _ <<<"${route#/}")-r$rep"
    # shellcheck disable=SC2086 # the command is word-split on purpose
    taskset -c "$SERVER_CPU" $cmd >"$OUT/raw/$tag.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$addr$route" || true)" == 200 ]] && break
        kill -0 "$PID" 2>/dev/null || { log "$name exited on start"; cat "$OUT/raw/$tag.log" >&2; exit 1; }
        sleep 0.1
    done
    for kind in closed pipelined; do
        local script=() before after b0 b1 t0 t1 w0 w1 requests rps others
        [[ "$kind" == pipelined ]] && script=(-s "$PIPELINE_LUA")
        read -r b0 t0 < <(cpu_busy "$SERVER_CPU")
        w0="$(date +%s%N)"
        before="$(cpu_ns "$PID")"
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${script[@]}" \
            "http://$addr$route" ${script:+-- $DEPTH} >"$OUT/raw/$tag.$kind.txt" 2>&1
        after="$(cpu_ns "$PID")"
        w1="$(date +%s%N)"
        read -r b1 t1 < <(cpu_busy "$SERVER_CPU")
        kill -0 "$PID" 2>/dev/null || { log "$name died during $kind"; exit 1; }
        read -r requests rps < <(awk '/requests in/ { r = $1 } /^Requests\/sec:/ { s = $2 }
            /Non-2xx/ { bad = 1 } END { if (bad) s = -1; printf "%d %.1f\n", r, s }' "$OUT/raw/$tag.$kind.txt")
        [[ "$rps" != -1 ]] || { log "$name: non-2xx answers ($OUT/raw/$tag.$kind.txt)"; exit 1; }
        others="$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v s=$((after - before)) -v w=$((w1 - w0)) \
            'BEGIN { o = 100 * ((t > 0 ? b / t : 0) - (w > 0 ? s / w : 0)); printf "%.1f", (o > 0 ? o : 0) }')"
        printf '{"rep":%d,"server":"%s","route":"%s","kind":"%s","responses":%d,"rps":%s,"cpu_ns":%d,"others_pct":%s}\n' \
            "$rep" "$name" "$route" "$kind" "$requests" "$rps" $((after - before)) "$others" >>"$RUNS"
        log "rep $rep $name $route $kind: $rps resp/s, $(((after - before) / (requests > 0 ? requests : 1))) ns CPU/resp, others $others %"
        sleep 0.5
    done
    stop
    sleep 0.5
}

log "${NAMES[*]}; $REPS rep(s) of ${DURATION} s; routes $ROUTES; load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((rep = 1; rep <= REPS; rep++)); do
    for route in "${ROUTE_LIST[@]}"; do
        for ((k = 0; k < ${#NAMES[@]}; k++)); do
            run_one "$rep" $(((k + rep - 1) % ${#NAMES[@]})) "$route"
        done
    done
done

python3 - "$RUNS" "${NAMES[@]}" <<'EOF' | tee "$OUT/table.md"
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
names = sys.argv[2:]
def med(name, route, kind, key):
    xs = [r[key] / (r["responses"] if key == "cpu_ns" else 1) for r in runs
          if r["server"] == name and r["route"] == route and r["kind"] == kind and r["responses"] > 0]
    return statistics.median(xs) if xs else None
routes = list(dict.fromkeys(r["route"] for r in runs))
reps = len({r["rep"] for r in runs})
print(f"Medians of {reps} interleaved repetition(s); ratio = this server / {names[0]}.\n")
print("| server | route | req/s | CPU ns/req | pipelined resp/s | pipelined CPU ns/resp | CPU ratio | pipelined ratio |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for route in routes:
    base_cpu = med(names[0], route, "closed", "cpu_ns")
    base_pipe = med(names[0], route, "pipelined", "rps")
    for name in names:
        c_rps, c_cpu = med(name, route, "closed", "rps"), med(name, route, "closed", "cpu_ns")
        p_rps, p_cpu = med(name, route, "pipelined", "rps"), med(name, route, "pipelined", "cpu_ns")
        f = lambda x: "–" if x is None else f"{x:,.0f}"
        r = lambda a, b: "–" if not a or not b else f"{a / b:.2f}"
        print(f"| {name} | `{route}` | {f(c_rps)} | {f(c_cpu)} | {f(p_rps)} | {f(p_cpu)} | {r(c_cpu, base_cpu)} | {r(p_rps, base_pipe)} |")
others = sorted(r["others_pct"] for r in runs)
print(f"\nOther work on the server's CPU during the runs: median {statistics.median(others):.0f} %, max {others[-1]:.0f} %.")
EOF
