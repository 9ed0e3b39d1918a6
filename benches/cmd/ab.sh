#!/usr/bin/env bash
# A/B of server commands, interleaved: the harness's closed loop and 16-deep pipelining
# (wrk; CPU ns per response from schedstat) for any commands, without its other phases. For
# comparing two builds of ringpin, or a lever against its baseline.
#
#   benches/run.sh ab --reps 3 --duration 5 \
#       base='/tmp/hello-base --addr {addr} --cores 1' \
#       spin='/tmp/hello-spin --addr {addr} --cores 1'
#
# Each NAME='COMMAND' is started fresh per route and repetition under `taskset -c 1`
# ({addr} becomes 127.0.0.1:PORT, a port reserved for it); wrk runs on CPU 0. The order of
# the servers rotates every repetition. Prints a table of medians (and each server's ratio to
# the first); every run is a JSON line in OUT/runs.jsonl, wrk's output in OUT/raw. Wrap it in
# `flock /tmp/ringpin-bench.lock` on a shared machine.
#
# Options: --reps N (3) --duration S (5) --routes LIST (/,/json) --out DIR (target/bench/ab)
#          --port BASE (fixed ports BASE, BASE+1, ... instead of reserved ones)
set -euo pipefail
BENCH_NAME=ab
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

REPS=3 DURATION=5 ROUTES=/,/json OUT="$ROOT/target/bench/ab" BASE_PORT=""
declare -A FLAGS=([--reps]=REPS [--duration]=DURATION [--routes]=ROUTES [--out]=OUT [--port]=BASE_PORT)
OPERAND=named_command_arg parse_args "$@"
((${#NAMES[@]})) || usage_error "give at least one NAME='COMMAND'"
positive_int --reps "$REPS"
positive_int --duration "$DURATION"
need_cpus
need wrk
need curl
IFS=, read -r -a ROUTE_LIST <<<"$ROUTES"
mkdir -p "$OUT/raw"
RUNS="$OUT/runs.jsonl"
: >"$RUNS"

run_one() {
    local rep="$1" i="$2" route="$3" name="${NAMES[$2]}" kind tag addr
    if [[ -n "$BASE_PORT" ]]; then PORT=$((BASE_PORT + i)); else reserve_port; fi
    addr="127.0.0.1:$PORT"
    tag="$(run_tag "$rep" "$name" "$route")"
    start_named "$i" "$addr" "$OUT/raw/$tag.log"
    await_200 "http://$addr$route" "$OUT/raw/$tag.log"
    for kind in closed pipelined; do
        local before after b0 b1 t0 t1 w0 w1 requests rps p50 p99 non2xx errors others
        read -r b0 t0 < <(cpu_jiffies "$SERVER_CPU")
        w0="$(date +%s%N)"
        before="$(cpu_ns "$MEASURE_PID")"
        run_wrk "$kind" "http://$addr$route" "${DURATION}s" "$OUT/raw/$tag.$kind.txt" ||
            die "wrk failed on $name ($OUT/raw/$tag.$kind.txt)"
        after="$(cpu_ns "$MEASURE_PID")"
        w1="$(date +%s%N)"
        read -r b1 t1 < <(cpu_jiffies "$SERVER_CPU")
        kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during $kind"
        # shellcheck disable=SC2034 # p50 and p99 are not in this table
        read -r requests rps p50 p99 non2xx errors < <(parse_wrk "$OUT/raw/$tag.$kind.txt")
        ((non2xx == 0)) || die "$name: non-2xx answers ($OUT/raw/$tag.$kind.txt)"
        others="$(others_pct "$b0" "$t0" "$b1" "$t1" $((after - before)) $((w1 - w0)))"
        printf '{"rep":%d,"server":"%s","route":"%s","kind":"%s","responses":%d,"rps":%s,"cpu_ns":%d,"others_pct":%s}\n' \
            "$rep" "$name" "$route" "$kind" "$requests" "$rps" $((after - before)) "$others" >>"$RUNS"
        log "rep $rep $name $route $kind: $rps resp/s, $(((after - before) / (requests > 0 ? requests : 1))) ns CPU/resp, others $others %"
        sleep 0.5
    done
    stop_server
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

python3 - "$RUNS" "${NAMES[@]}" <<'PY' | tee "$OUT/table.md"
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
PY
echo "(host: $(host_line))" | tee -a "$OUT/table.md"
