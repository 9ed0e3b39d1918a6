#!/usr/bin/env bash
# ringpin-load beside an independent open-loop generator (oha with --latency-correction), on
# the same server at the same rates: achieved rate, p50 / p99 / p99.9, ringpin-load's send
# lag, and each generator's CPU per request against the server's over the same run.
# See docs/benchmarks.md, "ringpin-load: validation".
#
#   benches/harness/validate-load.sh                          # 5k, 20k, 40k req/s, 5 s each
#   RATES="5000 20000" DURATION=10 benches/harness/validate-load.sh
#   PRIO="chrt -f 50" benches/harness/validate-load.sh        # a shared machine: both run
#                                                             # SCHED_FIFO, ahead of builds
#
# The server is ringpin's release `hello --cores 1` on CPU 1, the generators on CPU 0, 64
# connections each. oha is taken from PATH or OHA (`cargo install oha` builds it); without it
# only ringpin-load runs. CPU time is perf's task-clock of the generator process, and the
# server's schedstat over the same span, both divided by the requests the generator sent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RATES="${RATES:-5000 20000 40000}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
PRIO="${PRIO:-}"
PORT="${PORT:-28190}"
OHA="${OHA:-$(command -v oha || true)}"
LOAD="${RINGPIN_LOAD:-$ROOT/target/release/ringpin-load}"
HELLO="${RINGPIN_HELLO:-$ROOT/target/release/examples/hello}"
OUT="$(mktemp -d)"

if [[ -z "${RINGPIN_LOAD:-}${SKIP_BUILD:-}" ]]; then
    (cd "$ROOT" && cargo build --release --quiet --features load-generator --bin ringpin-load --example hello)
fi
command -v perf >/dev/null || { echo "validate-load.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }

# shellcheck disable=SC2086 # PRIO is a command prefix, or nothing
RUST_LOG=warn $PRIO taskset -c 1 "$HELLO" --addr "127.0.0.1:$PORT" --cores 1 2>"$OUT/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
URL="http://127.0.0.1:$PORT/"

server_ns() { awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$SERVER"/task/*/schedstat; }
task_clock_ns() { awk -F, '/task-clock/ { printf "%.0f\n", $1 * 1e6 }' "$1"; }

echo "| generator | rate | achieved | p50 µs | p99 µs | p99.9 µs | send lag p50 / p99 µs | generator CPU ns/req | server CPU ns/req | ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for rate in $RATES; do
    before="$(server_ns)"
    # shellcheck disable=SC2086
    $PRIO taskset -c 0 perf stat -x, -e task-clock -o "$OUT/load.perf" -- "$LOAD" --url "$URL" \
        --rate "$rate" -c "$CONNECTIONS" --cores 0 -d "$DURATION" --warmup 1 --json >"$OUT/load.json"
    after="$(server_ns)"
    python3 - "$OUT/load.json" "$(task_clock_ns "$OUT/load.perf")" $((after - before)) "$rate" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); gen, srv, rate = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
n = d["generator"]["requests"]; l = d["latency_us"]; s = d["send_lag_us"]
print(f"| ringpin-load | {rate} | {d['achieved_rate']:.0f} | {l['p50']} | {l['p99']} | {l['p99_9']} | "
      f"{s['p50']} / {s['p99']} | {gen / n:.0f} | {srv / n:.0f} | {gen / srv:.2f} |")
EOF
    sleep 1
    [[ -n "$OHA" ]] || continue
    # oha sends for DURATION + 1 s (ringpin-load's warmup), all of it recorded.
    before="$(server_ns)"
    # shellcheck disable=SC2086
    $PRIO taskset -c 0 perf stat -x, -e task-clock -o "$OUT/oha.perf" -- "$OHA" --no-tui \
        --output-format json -q "$rate" --latency-correction -c "$CONNECTIONS" \
        -z "$((DURATION + 1))s" "$URL" >"$OUT/oha.json"
    after="$(server_ns)"
    python3 - "$OUT/oha.json" "$(task_clock_ns "$OUT/oha.perf")" $((after - before)) "$rate" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); gen, srv, rate = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = d["summary"]; p = d["latencyPercentiles"]
n = sum(d.get("statusCodeDistribution", {}).values()) or 1
us = lambda q: round(p[q] * 1e6, 1)
print(f"| oha --latency-correction | {rate} | {s['requestsPerSec']:.0f} | {us('p50')} | {us('p99')} | "
      f"{us('p99.9')} | – | {gen / n:.0f} | {srv / n:.0f} | {gen / srv:.2f} |")
EOF
    sleep 1
done
