#!/usr/bin/env bash
# Side by side: ringpin's `hello` and its peer servers, each alone on CPU 1 with the load
# generator on CPU 0, plaintext (/) and JSON (/json). See docs/benchmarks.md.
#
#   benches/harness/run.sh --quick            # ~2 minutes after builds: ringpin, glommio-bare, nginx
#   benches/harness/run.sh                    # full: every server, 3 repetitions of 10 s runs
#   benches/harness/run.sh --out /tmp/bench --servers ringpin,hyper,go
#
# Phase 1, for each repetition, route and server (the server order rotates every
# repetition): start the server fresh under `taskset -c 1`, wait for a 200, then
#   closed loop   taskset -c 0 wrk -t1 -c64 -d$DURATION                       req/s, CPU ns/req
#   pipelined     the same with pipeline.lua, 16 requests per write            responses/s
#   idle          ringpin-bench idle: 10,000 keep-alive connections, one      KiB of VmRSS
#                 request each, held while the server's VmRSS is read          per connection
# Phase 2: the best median closed-loop req/s of any server on each route is that route's
# peak; every server then gets ringpin-load at the same fixed fractions of it (open loop,
# 64 connections, latency from the intended send time): p50/p99/p99.9.
# Server CPU is the sum of field 1 of /proc/PID/task/*/schedstat (nginx: its worker).
# Every run is one JSON line in OUT/runs.jsonl; `ringpin-bench report` takes the medians and
# writes OUT/report.md (the table) and OUT/latency.svg (the plot).
#
# Exits non-zero if a server does not start or dies, a generator fails, or any run gets a
# non-2xx answer (open-loop runs above the server's own peak excepted: shedding is allowed
# there) -- after writing the report.
#
# Options (or the environment variable in brackets):
#   --quick            REPS=1, DURATION=2, WARMUP=1, SERVERS=ringpin,glommio-bare,nginx
#   --out DIR          results directory [OUT, default target/bench/full or target/bench/quick]
#   --reps N           repetitions [REPS, default 3]
#   --duration S       seconds per measured run [DURATION, default 10]
#   --warmup S         ringpin-load's unrecorded warmup, seconds [WARMUP, default 1]
#   --servers LIST     comma-separated, from: ringpin glommio-bare monoio-bare uring-bare actix
#                      hyper axum may-minihttp go nginx [SERVERS, default all]
#   --fractions LIST   open-loop rates as fractions of the best peak [FRACTIONS, default 0.25,0.5]
#   --idle N           idle connections [IDLE_CONNECTIONS, default 10000]
#   --skip-build       use the binaries already built
#   --report-only      rewrite OUT/report.md and OUT/latency.svg from OUT/runs.jsonl
# RINGPIN_LOAD=/path/to/ringpin-load overrides where the open-loop generator is found, and
# RINGPIN_HELLO=/path/to/hello the ringpin server (default: this tree's, built here). Both are
# copied into OUT/bin before the first run, so a rebuild during the run changes nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HARNESS="$ROOT/benches/harness"
PEERS="$ROOT/benches/peers"
PEERS_TARGET="$PEERS/target"
MAIN_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ALL_SERVERS="ringpin,glommio-bare,monoio-bare,actix,hyper,axum,may-minihttp,go,nginx,uring-bare"
SERVER_CPU=1
CLIENT_CPU=0
CONNECTIONS=64
PIPELINE_DEPTH=16
ROUTES=(/ /json)
BASE_PORT="${BASE_PORT:-18100}"
MODE=full
SKIP_BUILD=0
REPORT_ONLY=0
REPS="${REPS:-}"
DURATION="${DURATION:-}"
WARMUP="${WARMUP:-}"
SERVERS="${SERVERS:-}"
FRACTIONS="${FRACTIONS:-0.25,0.5}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
OUT="${OUT:-}"

while (($#)); do
    case "$1" in
        --quick) MODE=quick; shift ;;
        --out) OUT="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --warmup) WARMUP="$2"; shift 2 ;;
        --servers) SERVERS="$2"; shift 2 ;;
        --fractions) FRACTIONS="$2"; shift 2 ;;
        --idle) IDLE_CONNECTIONS="$2"; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --report-only) REPORT_ONLY=1; shift ;;
        -h | --help) sed -n '2,40p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [[ "$MODE" == quick ]]; then
    REPS="${REPS:-1}" DURATION="${DURATION:-2}" WARMUP="${WARMUP:-1}"
    SERVERS="${SERVERS:-ringpin,glommio-bare,nginx}"
else
    REPS="${REPS:-3}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-1}"
    SERVERS="${SERVERS:-$ALL_SERVERS}"
fi
OUT="${OUT:-$ROOT/target/bench/$MODE}"
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
IFS=, read -r -a FRACTION_LIST <<<"$FRACTIONS"
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --reps must be a positive integer" >&2; exit 2; }
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --duration must be whole seconds" >&2; exit 2; }
for server in "${SERVER_LIST[@]}"; do
    [[ ",$ALL_SERVERS," == *",$server,"* ]] || { echo "run.sh: unknown server $server" >&2; exit 2; }
done

RAW="$OUT/raw"
RUNS="$OUT/runs.jsonl"
BENCH="$PEERS_TARGET/release/ringpin-bench"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
wants() { [[ ",$SERVERS," == *",$1,"* ]]; }

apt_install() {
    ((EUID == 0)) || die "missing $*; install it (apt-get install $*) or run as root"
    log "installing $* from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_tools() {
    local cpus
    cpus="$(nproc --all)"
    ((cpus > SERVER_CPU)) || die "needs CPUs $CLIENT_CPU and $SERVER_CPU"
    command -v wrk >/dev/null || apt_install wrk
    command -v curl >/dev/null || apt_install curl
    if wants nginx; then
        NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
        [[ -x "$NGINX" ]] || { apt_install nginx-light; NGINX=/usr/sbin/nginx; }
    fi
    if wants go && ((SKIP_BUILD == 0)); then
        command -v go >/dev/null || apt_install golang-go
    fi
    # 10,000 idle connections need more descriptors than the usual 1024, in the servers
    # (started from this shell) and in the client.
    local want=$((IDLE_CONNECTIONS + 1024))
    if (($(ulimit -n) < want)); then
        ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    fi
    (($(ulimit -n) >= want)) || die "RLIMIT_NOFILE is $(ulimit -n), below the $want that --idle $IDLE_CONNECTIONS needs"
}

rust_peer() {
    case "$1" in
        glommio-bare | monoio-bare | uring-bare) echo "$1" ;;
        actix | hyper | axum | may-minihttp) echo "$1-peer" ;;
        *) echo "" ;;
    esac
}

build() {
    if wants ringpin && [[ -z "${RINGPIN_HELLO:-}" ]]; then
        log "building ringpin's hello example"
        (cd "$ROOT" && cargo build --release --example hello)
    fi
    local packages=(-p ringpin-bench) server peer
    for server in "${SERVER_LIST[@]}"; do
        peer="$(rust_peer "$server")"
        [[ -z "$peer" ]] || packages+=(-p "$peer")
    done
    log "building ${packages[*]} (benches/peers workspace)"
    CARGO_TARGET_DIR="$PEERS_TARGET" cargo build --release \
        --manifest-path "$PEERS/Cargo.toml" "${packages[@]}"
    if wants go; then
        log "building the Go peer with $(go version)"
        (cd "$PEERS/go" && GOFLAGS='' GOPROXY=off go build -o "$PEERS_TARGET/release/go-nethttp" .)
    fi
}

# The open-loop generator: RINGPIN_LOAD, else the project's own `ringpin-load` bin (built
# here), else an already built one under target/release, else /work/ringpin-load's build.
find_load() {
    if [[ -n "${RINGPIN_LOAD:-}" ]]; then
        LOAD_BIN="$RINGPIN_LOAD"
    else
        LOAD_BIN="$MAIN_TARGET/release/ringpin-load"
        if ((SKIP_BUILD == 0)) &&
            cargo metadata --no-deps --format-version 1 --manifest-path "$ROOT/Cargo.toml" 2>/dev/null |
            grep -q '"kind":\["bin"\][^}]*"name":"ringpin-load"\|"name":"ringpin-load"[^}]*"kind":\["bin"\]'; then
            log "building ringpin-load"
            (cd "$ROOT" && cargo build --release --bin ringpin-load)
        fi
        if [[ ! -x "$LOAD_BIN" && -x /work/ringpin-load/target/release/ringpin-load ]]; then
            LOAD_BIN=/work/ringpin-load/target/release/ringpin-load
            log "no ringpin-load bin in this tree yet; using $LOAD_BIN"
        fi
    fi
    [[ -x "$LOAD_BIN" ]] || die "no ringpin-load (looked at $MAIN_TARGET/release/ringpin-load; set RINGPIN_LOAD)"
}

# Copies the generator and ringpin's server into OUT/bin: other work may rebuild them in
# target/ while the run goes on, and every repetition must measure the same binaries.
snapshot_binaries() {
    mkdir -p "$OUT/bin"
    cp "$LOAD_BIN" "$OUT/bin/ringpin-load"
    LOAD_SOURCE="$LOAD_BIN"
    LOAD_BIN="$OUT/bin/ringpin-load"
    if wants ringpin; then
        HELLO_SOURCE="${RINGPIN_HELLO:-$MAIN_TARGET/release/examples/hello}"
        [[ -x "$HELLO_SOURCE" ]] || die "no ringpin server at $HELLO_SOURCE; drop --skip-build"
        cp "$HELLO_SOURCE" "$OUT/bin/hello"
        HELLO_BIN="$OUT/bin/hello"
    fi
}

port_of() {
    local i
    for i in "${!ALL_LIST[@]}"; do
        [[ "${ALL_LIST[$i]}" == "$1" ]] && { echo $((BASE_PORT + i)); return; }
    done
}
IFS=, read -r -a ALL_LIST <<<"$ALL_SERVERS"

# ns on CPU, summed over the process's threads now.
cpu_ns() { awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$1"/task/*/schedstat 2>/dev/null || echo 0; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
# "busy total" jiffies of CPU N since boot, from /proc/stat (steal counts as busy: the
# hypervisor gave the time to someone else).
cpu_jiffies() {
    awk -v cpu="cpu$1" '$1 == cpu { for (i = 2; i <= 9; i++) total += $i; print total - $5 - $6, total }' /proc/stat
}
# others_pct BUSY0 TOTAL0 BUSY1 TOTAL1 SERVER_NS WALL_NS: how much of the server's core
# something other than the server used over the run, in percent. It includes the part of
# the kernel's loopback work that is not charged to the server's threads.
others_pct() {
    awk -v b="$(($3 - $1))" -v t="$(($4 - $2))" -v s="$5" -v w="$6" 'BEGIN {
        busy = t > 0 ? b / t : 0; own = w > 0 ? s / w : 0; o = 100 * (busy - own)
        printf "%.1f\n", (o > 0 ? o : 0) }'
}

SERVER_PID=""   # what we started and stop
MEASURE_PID=""  # whose CPU and memory we read: the server, or nginx's worker
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
    SERVER_PID="" MEASURE_PID=""
}
trap stop_server EXIT

# start_server NAME ROUTE LOG: fresh, pinned to SERVER_CPU, answering ROUTE with a 200.
start_server() {
    local name="$1" route="$2" log_file="$3" bin
    PORT="$(port_of "$name")"
    local addr="127.0.0.1:$PORT"
    case "$name" in
        ringpin)
            RUST_LOG=warn taskset -c "$SERVER_CPU" "$HELLO_BIN" \
                --addr "$addr" --cores "$SERVER_CPU" 2>"$log_file" &
            ;;
        go)
            GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$PEERS_TARGET/release/go-nethttp" \
                --addr "$addr" 2>"$log_file" &
            ;;
        nginx)
            local prefix="$RAW/nginx-prefix"
            mkdir -p "$prefix"
            sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|$addr|g" \
                "$PEERS/nginx/nginx.conf.template" >"$prefix/nginx.conf"
            taskset -c "$SERVER_CPU" "$NGINX" -p "$prefix" -e stderr -c "$prefix/nginx.conf" 2>"$log_file" &
            ;;
        *)
            bin="$PEERS_TARGET/release/$(rust_peer "$name")"
            taskset -c "$SERVER_CPU" "$bin" --addr "$addr" 2>"$log_file" &
            ;;
    esac
    SERVER_PID=$!
    MEASURE_PID=$SERVER_PID
    local tries=0 code=""
    while ((tries < 100)); do
        kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited on start (log: $log_file)"
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$addr$route" || true)"
        [[ "$code" == 200 ]] && break
        sleep 0.1
        tries=$((tries + 1))
    done
    [[ "$code" == 200 ]] || die "$name: no 200 from http://$addr$route within 10 s (last: $code; log: $log_file)"
    if [[ "$name" == nginx ]]; then
        MEASURE_PID="$(pgrep -P "$SERVER_PID" | head -n1)"
        [[ -n "$MEASURE_PID" ]] || die "nginx: no worker process under master $SERVER_PID"
    fi
    URL="http://$addr$route"
}

# "requests req_per_s non_2xx socket_errors" from wrk's output.
parse_wrk() {
    awk '
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
        END { printf "%d %.2f %d %d\n", requests, rps, non2xx, errors }
    ' "$1"
}

# wrk_run KIND REP NAME ROUTE TAG: one wrk run (KIND closed or pipelined), one line in runs.jsonl.
wrk_run() {
    local kind="$1" rep="$2" name="$3" route="$4" tag="$5"
    local load cpu_before cpu_after requests rps non2xx errors script=() jiffies_before jiffies_after
    local wall_before wall_after others
    [[ "$kind" == pipelined ]] && script=(-s "$HARNESS/pipeline.lua" "$URL" -- "$PIPELINE_DEPTH")
    load="$(loadavg)"
    jiffies_before="$(cpu_jiffies "$SERVER_CPU")"
    wall_before="$(date +%s%N)"
    cpu_before="$(cpu_ns "$MEASURE_PID")"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${script[@]:-$URL}" \
        >"$RAW/$tag.$kind.txt" 2>&1 || die "wrk failed ($RAW/$tag.$kind.txt)"
    cpu_after="$(cpu_ns "$MEASURE_PID")"
    wall_after="$(date +%s%N)"
    jiffies_after="$(cpu_jiffies "$SERVER_CPU")"
    # shellcheck disable=SC2086 # two numbers each
    others="$(others_pct $jiffies_before $jiffies_after $((cpu_after - cpu_before)) $((wall_after - wall_before)))"
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during the $kind run"
    read -r requests rps non2xx errors < <(parse_wrk "$RAW/$tag.$kind.txt")
    printf '{"kind":"%s","rep":%d,"server":"%s","route":"%s","responses":%d,"rps":%s,"cpu_ns":%d,"non_2xx":%d,"errors":%d,"load":%s,"others_pct":%s}\n' \
        "$kind" "$rep" "$name" "$route" "$requests" "$rps" $((cpu_after - cpu_before)) \
        "$non2xx" "$errors" "$load" "$others" >>"$RUNS"
    log "rep $rep $name $route $kind: $rps resp/s, $(((cpu_after - cpu_before) / (requests > 0 ? requests : 1))) ns CPU/resp, non-2xx $non2xx, errors $errors, load $load, others on CPU $SERVER_CPU $others %"
}

idle_run() {
    local rep="$1" name="$2" route="$3" load result
    load="$(loadavg)"
    result="$(taskset -c "$CLIENT_CPU" "$BENCH" idle --addr "127.0.0.1:$PORT" --path "$route" \
        --connections "$IDLE_CONNECTIONS" --pid "$MEASURE_PID")" || die "ringpin-bench idle failed on $name"
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during the idle run"
    printf '{"kind":"idle","rep":%d,"server":"%s","route":"%s","load":%s,"idle":%s}\n' \
        "$rep" "$name" "$route" "$load" "$result" >>"$RUNS"
    log "rep $rep $name $route idle: $result"
}

open_run() {
    local rep="$1" name="$2" route="$3" fraction="$4" rate="$5" tag="$6" load cpu_before cpu_after wall_before wall_after
    local jiffies_before jiffies_after others
    load="$(loadavg)"
    jiffies_before="$(cpu_jiffies "$SERVER_CPU")"
    cpu_before="$(cpu_ns "$MEASURE_PID")"
    wall_before="$(date +%s%N)"
    taskset -c "$CLIENT_CPU" "$LOAD_BIN" --url "$URL" --rate "$rate" --connections "$CONNECTIONS" \
        --duration "$DURATION" --warmup "$WARMUP" --cores "$CLIENT_CPU" --json \
        >"$RAW/$tag.open-$fraction.json" 2>"$RAW/$tag.open-$fraction.err" ||
        die "ringpin-load failed on $name at $rate req/s ($RAW/$tag.open-$fraction.err)"
    wall_after="$(date +%s%N)"
    cpu_after="$(cpu_ns "$MEASURE_PID")"
    jiffies_after="$(cpu_jiffies "$SERVER_CPU")"
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during the open-loop run"
    # shellcheck disable=SC2086 # two numbers each
    others="$(others_pct $jiffies_before $jiffies_after $((cpu_after - cpu_before)) $((wall_after - wall_before)))"
    printf '{"kind":"open","rep":%d,"server":"%s","route":"%s","fraction":%s,"rate":%s,"cpu_ns":%d,"wall_ns":%d,"load":%s,"others_pct":%s,"result":%s}\n' \
        "$rep" "$name" "$route" "$fraction" "$rate" $((cpu_after - cpu_before)) \
        $((wall_after - wall_before)) "$load" "$others" "$(tr -d '\n' <"$RAW/$tag.open-$fraction.json")" >>"$RUNS"
    log "rep $rep $name $route open $fraction ($rate req/s): $(grep -o '"latency_us":{[^}]*}' "$RAW/$tag.open-$fraction.json")"
}

# The servers in repetition REP's order: the list rotated by REP-1.
rotated() {
    local rep="$1" n="${#SERVER_LIST[@]}" i
    for ((i = 0; i < n; i++)); do echo "${SERVER_LIST[$(((i + rep - 1) % n))]}"; done
}

tag_of() {
    local t
    t="$2-$(tr -c 'a-z0-9\n' _ <<<"${3#/}")-r$1"
    echo "${t/--/-root-}"
}

# The report's opening lines: when, where, what ran, how loaded the machine was.
write_header() {
    local cpu_model kernel commit dirty
    cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    kernel="$(uname -r)"
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    dirty="$(git --no-optional-locks -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo ", with uncommitted edits" || true)"
    {
        echo "## ringpin beside its peers ($MODE mode)"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit$dirty; $(nproc) CPUs ($cpu_model), Linux $kernel;" \
            "load average at the start $(cut -d' ' -f1-3 /proc/loadavg)."
        echo "Each server alone on CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`, one worker thread), the generator on CPU $CLIENT_CPU;" \
            "$REPS repetition(s), ${DURATION} s per run (open loop: after ${WARMUP} s of warmup). ringpin runs as users get it:" \
            "\`examples/hello --cores $SERVER_CPU\`, load shedding on (5 ms target)${HELLO_SOURCE:+, built at $HELLO_SOURCE}. Generators: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), ringpin-load from $LOAD_SOURCE."
        echo "Command: \`benches/harness/run.sh$([[ $MODE == quick ]] && echo ' --quick') --servers $SERVERS --reps $REPS --duration $DURATION\`."
        echo
    } >"$OUT/header.md"
}

# OUT/report.md from the header and runs.jsonl; non-zero if a run failed a check.
report() {
    local status=0
    "$BENCH" report --runs "$RUNS" --out-dir "$OUT" || status=$?
    cat "$OUT/header.md" "$OUT/results.md" >"$OUT/report.md"
    sed -n '1,/^<details>/p' "$OUT/report.md" | sed '$d'
    return "$status"
}

main() {
    if ((REPORT_ONLY)); then
        [[ -s "$RUNS" && -s "$OUT/header.md" ]] || die "no runs in $OUT to report on"
        report || die "some runs failed their checks (above)"
        exit 0
    fi
    ensure_tools
    ((SKIP_BUILD)) || build
    find_load
    [[ -x "$BENCH" ]] || die "$BENCH missing; drop --skip-build"
    rm -rf "$RAW"
    mkdir -p "$RAW"
    snapshot_binaries
    : >"$RUNS"
    write_header
    local started=$SECONDS rep route name tag fraction peak best rate
    log "$MODE mode: ${SERVER_LIST[*]}; $REPS rep(s) of ${DURATION} s runs; load $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT"
    for ((rep = 1; rep <= REPS; rep++)); do
        for route in "${ROUTES[@]}"; do
            while read -r name; do
                tag="$(tag_of "$rep" "$name" "$route")"
                start_server "$name" "$route" "$RAW/$tag.server.log"
                wrk_run closed "$rep" "$name" "$route" "$tag"
                sleep 0.5
                wrk_run pipelined "$rep" "$name" "$route" "$tag"
                sleep 0.5
                idle_run "$rep" "$name" "$route"
                stop_server
                sleep 0.5
            done < <(rotated "$rep")
        done
    done
    declare -A PEAK
    for route in "${ROUTES[@]}"; do
        read -r peak best < <("$BENCH" peak --runs "$RUNS" --route "$route")
        PEAK[$route]="$peak"
        log "peak on $route: $peak req/s ($best)"
    done
    for ((rep = 1; rep <= REPS; rep++)); do
        for route in "${ROUTES[@]}"; do
            while read -r name; do
                tag="$(tag_of "$rep" "$name" "$route")"
                start_server "$name" "$route" "$RAW/$tag.open.server.log"
                for fraction in "${FRACTION_LIST[@]}"; do
                    rate="$(awk -v p="${PEAK[$route]}" -v f="$fraction" 'BEGIN { printf "%.0f", p * f }')"
                    open_run "$rep" "$name" "$route" "$fraction" "$rate" "$tag"
                    sleep 0.5
                done
                stop_server
                sleep 0.5
            done < <(rotated "$rep")
        done
    done
    local status=0
    report || status=$?
    log "done in $((SECONDS - started)) s: $OUT/report.md, $OUT/latency.svg"
    ((status == 0)) || die "some runs failed their checks (above)"
}

main
