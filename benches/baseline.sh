#!/usr/bin/env bash
# Baseline: ringpin's `hello` beside a bare glommio + httparse loop (benches/peers/glommio-bare),
# each pinned to CPU 1 with wrk on CPU 0, plus the server's CPU time per request.
#
#   benches/baseline.sh                     # 3 repetitions, table in target/baseline.md
#   benches/baseline.sh --reps 5 --out /tmp/baseline.md
#   REPS=5 DURATION=30s benches/baseline.sh
#
# Per run: start the server fresh under `taskset -c 1`, wait until the route answers 200,
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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPS="${REPS:-3}"
OUT="${OUT:-$ROOT/target/baseline.md}"
DURATION="${DURATION:-10s}"
SKIP_BUILD=0
HELLO_PORT="${HELLO_PORT:-18080}"
BARE_PORT="${BARE_PORT:-18081}"
SERVER_CPU=1
CLIENT_CPU=0
CONNECTIONS=64
ROUTES=(/ /json)

while (($#)); do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "baseline.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "baseline.sh: --reps must be a positive integer" >&2; exit 2; }

HELLO_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/hello"
BARE_DIR="$ROOT/benches/peers/glommio-bare"
BARE_TARGET="$ROOT/benches/peers/target"
BARE_BIN="$BARE_TARGET/release/glommio-bare"
RAW="$(dirname "$OUT")/baseline-raw"
RUNS="$RAW/runs.tsv"

log() { printf '[baseline] %s\n' "$*" >&2; }

ensure_tools() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        local sudo=""
        ((EUID == 0)) || sudo="sudo"
        $sudo apt-get update && $sudo apt-get install -y wrk
    fi
    local tool
    for tool in curl taskset awk; do
        command -v "$tool" >/dev/null || { echo "baseline.sh: $tool is required" >&2; exit 1; }
    done
    local cpus
    cpus="$(nproc --all)"
    ((cpus > SERVER_CPU)) || { echo "baseline.sh: needs CPUs $CLIENT_CPU and $SERVER_CPU" >&2; exit 1; }
}

build() {
    log "building ringpin's hello example"
    (cd "$ROOT" && cargo build --release --example hello)
    log "building the bare glommio loop"
    (cd "$BARE_DIR" && CARGO_TARGET_DIR="$BARE_TARGET" cargo build --release)
}

# Nanoseconds on CPU, summed over every thread the process has now. A thread that exits
# mid-run takes its time with it; the thread counts in the runs table show whether any did.
cpu_ns() {
    awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$1"/task/*/schedstat 2>/dev/null || true
}
thread_count() { find /proc/"$1"/task -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

SERVER_PID=""
stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < 50)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT

# start_server NAME LOG: starts NAME pinned to SERVER_CPU, sets SERVER_PID and PORT.
start_server() {
    case "$1" in
        hello)
            PORT="$HELLO_PORT"
            RUST_LOG=warn taskset -c "$SERVER_CPU" "$HELLO_BIN" \
                --cores "$SERVER_CPU" --addr "127.0.0.1:$PORT" 2>"$2" &
            ;;
        bare)
            PORT="$BARE_PORT"
            taskset -c "$SERVER_CPU" "$BARE_BIN" --cpu "$SERVER_CPU" --addr "127.0.0.1:$PORT" 2>"$2" &
            ;;
    esac
    SERVER_PID=$!
}

# wait_ready ROUTE: until the route answers 200, for at most 10 s.
wait_ready() {
    local tries=0 code
    while ((tries < 100)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "baseline.sh: server exited on start" >&2; return 1; }
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT$1" || true)"
        [[ "$code" == 200 ]] && return 0
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "baseline.sh: no 200 from 127.0.0.1:$PORT$1 within 10 s (last: $code)" >&2
    return 1
}

# parse_wrk FILE: "requests req_per_s p50_ms p99_ms non_2xx socket_errors", latencies in ms.
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50% / { p50 = ms($2) }
        /^ +99% / { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
        END { printf "%d %.2f %.3f %.3f %d %d\n", requests, rps, p50, p99, non2xx, errors }
    ' "$1"
}

# run_once REP NAME ROUTE: one fresh server, one wrk run, one line in runs.tsv.
run_once() {
    local rep="$1" name="$2" route="$3" tag
    tag="$name-$(tr -c 'a-z0-9\n' _ <<<"${route#/}")-r$rep"
    tag="${tag/--/-root-}"
    start_server "$name" "$RAW/$tag.server.log"
    wait_ready "$route"
    local load threads_before cpu_before wall_before wall_after cpu_after threads_after
    load="$(cut -d' ' -f1 /proc/loadavg)"
    threads_before="$(thread_count "$SERVER_PID")"
    cpu_before="$(cpu_ns "$SERVER_PID")"
    wall_before="$(date +%s%N)"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
        "http://127.0.0.1:$PORT$route" >"$RAW/$tag.wrk.txt"
    wall_after="$(date +%s%N)"
    cpu_after="$(cpu_ns "$SERVER_PID")"
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "baseline.sh: $name died during the run" >&2; exit 1; }
    threads_after="$(thread_count "$SERVER_PID")"
    stop_server
    local requests rps p50 p99 non2xx errors cpu_delta
    read -r requests rps p50 p99 non2xx errors < <(parse_wrk "$RAW/$tag.wrk.txt")
    ((requests > 0)) || { echo "baseline.sh: wrk completed no requests ($RAW/$tag.wrk.txt)" >&2; exit 1; }
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
    local cpu_model kernel commit
    cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    kernel="$(uname -r)"
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    {
        echo "## Baseline: ringpin hello vs bare glommio + httparse"
        echo
        echo "\`wrk -t1 -c$CONNECTIONS -d$DURATION --latency\` on CPU $CLIENT_CPU; each server alone on CPU $SERVER_CPU" \
            "(\`taskset -c $SERVER_CPU\`, one executor). Median of $REPS interleaved repetitions, each column on its own;" \
            "server CPU from /proc/PID/task/*/schedstat. $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit" \
            "(working tree may hold uncommitted edits), $cpu_model, Linux $kernel."
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
    ensure_tools
    ((SKIP_BUILD)) || build
    [[ -x "$HELLO_BIN" && -x "$BARE_BIN" ]] || { echo "baseline.sh: binaries missing; drop --skip-build" >&2; exit 1; }
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
