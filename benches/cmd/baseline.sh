#!/usr/bin/env bash
# Baseline: ringpin's `hello` beside a bare glommio + httparse loop (benches/peers/glommio-bare),
# each pinned to CPU 1 with wrk on CPU 0, plus the server's CPU time per request.
#
#   benches/run.sh baseline                     # 3 repetitions, table in target/baseline.md
#   benches/run.sh baseline --reps 5 --out /tmp/baseline.md
#   REPS=5 DURATION=30s benches/run.sh baseline
#
# Per run: start the server fresh under `taskset -c 1` on a port reserved for it, wait until the route answers 200,
# read its CPU time, run `taskset -c 0 wrk -t1 -c64 -d$DURATION --latency`, read the CPU
# time again, stop the server. CPU time is the sum of the first field of
# /proc/PID/task/*/schedstat (ns on CPU) over all of the server's threads; CPU per request
# is its delta divided by the requests wrk completed. Servers alternate order every
# repetition (hello,bare then bare,hello) so a slow spell of a shared machine lands on both;
# the table shows the median of each column over the repetitions, the runs follow it.
#
# Options (or the environment variable in brackets):
#   --reps N         repetitions per server and route [REPS, default 3]
#   --out FILE       markdown table [OUT, default target/baseline.md]; raw wrk output and
#                    server logs go to FILE's directory under baseline-raw/
#   --duration D     wrk duration [DURATION, default 10s]
#   --skip-build     use the binaries already built
set -euo pipefail
BENCH_NAME=baseline
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

REPS="${REPS:-3}"
OUT="${OUT:-$ROOT/target/baseline.md}"
DURATION="${DURATION:-10s}"
SKIP_BUILD=0
ROUTES=(/ /json)

declare -A FLAGS=([--reps]=REPS [--out]=OUT [--duration]=DURATION [--skip-build]=SKIP_BUILD=1)
parse_args "$@"
positive_int --reps "$REPS"

HELLO_BIN="$(example_bin hello)"
BARE_BIN="$PEERS_TARGET/release/glommio-bare"
RAW="$(dirname "$OUT")/baseline-raw"
RUNS="$RAW/runs.tsv"

# start_server NAME ROUTE LOG: NAME fresh on a reserved port, pinned, answering ROUTE.
start_server() {
    reserve_port
    case "$1" in
        hello) start_pinned "$3" env RUST_LOG=warn "$HELLO_BIN" --cores "$SERVER_CPU" --addr "127.0.0.1:$PORT" ;;
        bare) start_pinned "$3" "$BARE_BIN" --cpu "$SERVER_CPU" --addr "127.0.0.1:$PORT" ;;
    esac
    await_200 "http://127.0.0.1:$PORT$2" "$3"
}

# run_once REP NAME ROUTE: one fresh server, one wrk run, one line in runs.tsv.
run_once() {
    local rep="$1" name="$2" route="$3" tag
    tag="$(run_tag "$rep" "$name" "$route")"
    start_server "$name" "$route" "$RAW/$tag.server.log"
    local load threads_before cpu_before wall_before wall_after cpu_after threads_after
    load="$(loadavg)"
    threads_before="$(thread_count "$SERVER_PID")"
    cpu_before="$(cpu_ns "$SERVER_PID")"
    wall_before="$(date +%s%N)"
    run_wrk closed "http://127.0.0.1:$PORT$route" "$DURATION" "$RAW/$tag.wrk.txt" --latency ||
        die "wrk failed on $name ($RAW/$tag.wrk.txt)"
    wall_after="$(date +%s%N)"
    cpu_after="$(cpu_ns "$SERVER_PID")"
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during the run"
    threads_after="$(thread_count "$SERVER_PID")"
    stop_server
    local requests rps p50 p99 non2xx errors cpu_delta
    read -r requests rps p50 p99 non2xx errors < <(parse_wrk "$RAW/$tag.wrk.txt")
    ((requests > 0)) || die "wrk completed no requests ($RAW/$tag.wrk.txt)"
    cpu_delta=$((cpu_after - cpu_before))
    awk -v rep="$rep" -v name="$name" -v route="$route" -v rps="$rps" -v p50="$p50" -v p99="$p99" \
        -v requests="$requests" -v cpu="$cpu_delta" -v wall=$((wall_after - wall_before)) \
        -v non2xx="$non2xx" -v errors="$errors" -v load="$load" \
        -v threads="$threads_before/$threads_after" 'BEGIN {
            OFS = "\t"
            print rep, name, route, rps, p50, p99, cpu / requests, 100 * cpu / wall, requests,
                  non2xx, errors, load, threads
        }' >>"$RUNS"
    log "$(tail -n1 "$RUNS" | awk -F'\t' '{ printf "rep %s %-5s %-5s %10.0f req/s  p50 %s ms  p99 %s ms  %.0f ns CPU/req  CPU %.0f%%  non-2xx %s  errors %s  load %s",
        $1, $2, $3, $4, $5, $6, $7, $8, $10, $11, $12 }')"
}

# Medians per server and route over the repetitions, then every run, as markdown.
report() {
    {
        echo "## Baseline: ringpin hello vs bare glommio + httparse"
        echo
        echo "\`wrk -t1 -c$WRK_CONNECTIONS -d$DURATION --latency\` on CPU $CLIENT_CPU; each server alone on CPU $SERVER_CPU" \
            "(\`taskset -c $SERVER_CPU\`, one executor). Median of $REPS interleaved repetitions, each column on its own;" \
            "server CPU from /proc/PID/task/*/schedstat. $(date -u '+%Y-%m-%d %H:%M UTC'); $(host_line)" \
            "(the working tree may hold uncommitted edits). Command: \`benches/run.sh baseline --reps $REPS --duration $DURATION\`."
        echo
        echo "| server | route | req/s | p50 ms | p99 ms | server CPU ns/req | server CPU % | all 200? |"
        echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
        awk -F'\t' '
            function median(list,    n, v, i, j, t) {
                n = split(list, v, " ")
                for (i = 2; i <= n; i++)
                    for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
                return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            }
            {
                key = $2 SUBSEP $3
                if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
                for (c = 4; c <= 8; c++) col[key, c] = col[key, c] " " $c
                requests[key] += $9; bad[key] += $10; errors[key] += $11
            }
            END {
                for (k = 1; k <= keys; k++) {
                    key = order[k]; split(key, part, SUBSEP)
                    ok = bad[key] == 0 ? "yes" : "NO: " bad[key] " non-2xx"
                    if (errors[key] > 0) ok = ok ", " errors[key] " socket errors"
                    printf "| %s | %s | %.0f | %.3f | %.3f | %.0f | %.0f | %s (%d requests) |\n",
                        part[1], part[2], median(col[key, 4]), median(col[key, 5]), median(col[key, 6]),
                        median(col[key, 7]), median(col[key, 8]), ok, requests[key]
                }
            }' < <(sort -t$'\t' -k3,3 -k2,2r "$RUNS")
        echo
        echo "<details><summary>All runs (in the order they ran; load = 1-min load average before the run, threads = server threads before/after)</summary>"
        echo
        echo "| rep | server | route | req/s | p50 ms | p99 ms | CPU ns/req | CPU % | requests | non-2xx | socket errors | load | threads |"
        echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s |\n",
            $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$RUNS"
        echo
        echo "</details>"
    } >"$OUT"
}

main() {
    need_cpus
    need wrk
    need curl
    if ((SKIP_BUILD == 0)); then
        build_examples hello
        build_peers glommio-bare
    fi
    [[ -x "$HELLO_BIN" && -x "$BARE_BIN" ]] || die "binaries missing; drop --skip-build"
    mkdir -p "$RAW"
    : >"$RUNS"
    log "load before: $(cut -d' ' -f1-3 /proc/loadavg); raw output in $RAW"
    local rep route name order
    for ((rep = 1; rep <= REPS; rep++)); do
        if ((rep % 2)); then order=(hello bare); else order=(bare hello); fi
        for route in "${ROUTES[@]}"; do
            for name in "${order[@]}"; do
                run_once "$rep" "$name" "$route"
                sleep 1 # let the client's sockets leave the stage before the next server
            done
        done
    done
    report
    cat "$OUT"
    log "written to $OUT"
}

main
