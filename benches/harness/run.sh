#!/usr/bin/env bash
# Side by side: ringpin's `hello` and its peer servers, each alone on CPU 1 with the load
# generator on CPU 0, plaintext (/) and JSON (/json). See docs/benchmarks.md.
#
#   benches/run.sh compare --quick            # ~2 minutes after builds: ringpin, glommio-bare, nginx
#   benches/run.sh compare                    # full: every server, 3 repetitions of 10 s runs
#   benches/run.sh compare --out /tmp/bench --servers ringpin,hyper,go
#
# (benches/run.sh compare runs this file, benches/harness/run.sh, with the same arguments.)
#
# Phase 1, for each repetition, route and server (the server order rotates every
# repetition): start the server fresh under `taskset -c 1` on a free port (below), wait for
# a 200, then
#   closed loop   taskset -c 0 wrk -t1 -c64 -d$DURATION                       req/s, CPU ns/req
#   pipelined     the same with pipeline.lua, 16 requests per write            responses/s
#   sequential    taskset -c 0 ringpin-bench sequential: one keep-alive        p50/p99/max µs
#                 connection (TCP_NODELAY), 2,000 requests one at a time, each
#                 sent 1 ms after the previous answer, so that every request finds
#                 the server idle (a server that sleeps through its wake-up answers
#                 on a timer tick: ringpin once took ~16 ms per request here); at
#                 most 5 s, after 20 unrecorded requests; fails on a non-2xx answer
#                 or a closed connection
#   idle          ringpin-bench idle: 10,000 keep-alive connections, one      KiB of VmRSS
#                 request each, held while the server's VmRSS is read          per connection
# Phase 2, latency against load: each server's own median closed-loop req/s on a route is
# its peak there; it then gets ringpin-load (open loop, 64 connections, latency from the
# intended send time) at fractions of that peak (default 10/25/50/75/90 %) and at fixed
# rates, the same for every server (default 10k and 30k req/s): p50/p99/p99.9, and the
# generator's send lag p99 beside each (a point gets a verdict only under 100 µs).
# Server CPU is the sum of field 1 of /proc/PID/task/*/schedstat (nginx: its worker).
# The Go servers (go: net/http; go-fasthttp: fasthttp from Debian's
# golang-github-valyala-fasthttp-dev, built in GOPATH mode) run with GOMAXPROCS=$GO_GOMAXPROCS
# and GOGC=$GO_GOGC in their environment (default 1 and 100) and log the settings their
# runtime took at start; each start's line goes into runs.jsonl and the report lists them
# under its table (docs/benchmarks.md, "The Go rows").
# Every run is one JSON line in OUT/runs.jsonl; `ringpin-bench report` takes the medians and
# writes OUT/report.md (the table) and OUT/latency.svg (the plot).
#
# Ports: every server start draws a fresh port at random from PORT_RANGE (default: 20000 up
# to the start of the kernel's ephemeral range, so never a port that bind(:0) or an outgoing
# connection could be holding), skips it if any socket uses it, and reserves it with a
# flock(1) on /tmp/ringpin-harness-ports/PORT.lock for as long as the server lives, so two
# harness runs on one machine never share a port (benches/lib.sh). The server must then be the only process
# listening there (ringpin and glommio set SO_REUSEPORT, so a second listener would not
# fail, it would split the load); if another process holds the port, the harness retries on
# a new one; after every measurement it checks again.
#
# Exits non-zero, printing the server's stderr where a server is to blame, if a server does
# not start or dies, a generator fails (the sequential client does at its first non-2xx
# answer or closed connection), any run gets a non-2xx answer (open-loop runs above the
# server's own peak excepted: shedding is allowed there), or any row of the table lacks a
# figure -- after writing the report.
#
# Options (or the environment variable in brackets):
#   --quick            REPS=1, DURATION=2, WARMUP=1, SERVERS=ringpin,glommio-bare,nginx,
#                      FRACTIONS=0.1,0.5,0.9, RATES=10000
#   --out DIR          results directory [OUT, default target/bench/full or target/bench/quick]
#   --reps N           repetitions [REPS, default 3]
#   --duration S       seconds per measured run [DURATION, default 10]
#   --warmup S         ringpin-load's unrecorded warmup, seconds [WARMUP, default 1]
#   --spin-us N        ringpin-load polls instead of sleeping for the last N µs before a
#                      due send [SPIN_US, default 100; 0 sleeps]. The generator has a core
#                      of its own, so its spinning takes nothing from the server; on a 2
#                      vCPU VM it brought the send lag p99 from 116-138 µs to ~25 µs at
#                      14k-34k req/s, which is what gives a point its verdict
#   --servers LIST     comma-separated, from: ringpin glommio-bare monoio-bare uring-bare actix
#                      hyper axum may-minihttp go go-fasthttp nginx [SERVERS, default all]
#   --fractions LIST   open-loop rates as fractions of each server's own peak
#                      [FRACTIONS, default 0.1,0.25,0.5,0.75,0.9]
#   --rates LIST       open-loop fixed rates, req/s, the same for every server
#                      [RATES, default 10000,30000; empty for none]
#   --idle N           idle connections [IDLE_CONNECTIONS, default 10000]
#   --skip-build       use the binaries already built
#   --report-only      rewrite OUT/report.md and OUT/latency.svg from OUT/runs.jsonl
# PORT_RANGE=LOW-HIGH overrides the ports servers are started on (see Ports above).
# GO_GOMAXPROCS and GO_GOGC (default 1 and 100) set the Go servers' GOMAXPROCS and GOGC.
# RINGPIN_LOAD=/path/to/ringpin-load overrides where the open-loop generator is found, and
# RINGPIN_HELLO=/path/to/hello the ringpin server (default: this tree's, built here). Both are
# copied into OUT/bin before the first run, so a rebuild during the run changes nothing.
set -euo pipefail
BENCH_NAME=bench
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ALL_SERVERS="ringpin,glommio-bare,monoio-bare,actix,hyper,axum,may-minihttp,go,go-fasthttp,nginx,uring-bare"
# The Go servers' runtime settings, passed in their environment (each logs what it took).
GO_GOMAXPROCS="${GO_GOMAXPROCS:-1}"
GO_GOGC="${GO_GOGC:-100}"
# Where Debian's Go libraries are (GOPATH mode), and fasthttp's package there.
GO_LIBRARIES=/usr/share/gocode
FASTHTTP_PACKAGE=golang-github-valyala-fasthttp-dev
CONNECTIONS="$WRK_CONNECTIONS"
# The sequential phase: round trips recorded, the pause before each request (long enough
# for the server to go back to waiting), and the bound on the whole run.
SEQUENTIAL_REQUESTS=2000
SEQUENTIAL_PAUSE_US=1000
SEQUENTIAL_DEADLINE_S=5
ROUTES=(/ /json)
# Server starts that may lose their port to another process before the harness gives up.
PORT_ATTEMPTS=5
MODE=full
SKIP_BUILD=0
REPORT_ONLY=0
REPS="${REPS:-}"
DURATION="${DURATION:-}"
WARMUP="${WARMUP:-}"
SPIN_US="${SPIN_US:-100}"
SERVERS="${SERVERS:-}"
FRACTIONS="${FRACTIONS:-}"
RATES="${RATES-unset}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
OUT="${OUT:-}"

declare -A FLAGS=([--quick]=MODE=quick [--out]=OUT [--reps]=REPS [--duration]=DURATION
    [--warmup]=WARMUP [--spin-us]=SPIN_US [--servers]=SERVERS [--fractions]=FRACTIONS [--rates]=RATES
    [--idle]=IDLE_CONNECTIONS [--skip-build]=SKIP_BUILD=1 [--report-only]=REPORT_ONLY=1)
parse_args "$@"
if [[ "$MODE" == quick ]]; then
    REPS="${REPS:-1}" DURATION="${DURATION:-2}" WARMUP="${WARMUP:-1}"
    SERVERS="${SERVERS:-ringpin,glommio-bare,nginx}"
    FRACTIONS="${FRACTIONS:-0.1,0.5,0.9}"
    [[ "$RATES" != unset ]] || RATES=10000
else
    REPS="${REPS:-3}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-1}"
    SERVERS="${SERVERS:-$ALL_SERVERS}"
    FRACTIONS="${FRACTIONS:-0.1,0.25,0.5,0.75,0.9}"
    [[ "$RATES" != unset ]] || RATES=10000,30000
fi
OUT="${OUT:-$ROOT/target/bench/$MODE}"
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
IFS=, read -r -a FRACTION_LIST <<<"$FRACTIONS"
IFS=, read -r -a RATE_LIST <<<"$RATES"
for fraction in "${FRACTION_LIST[@]}"; do
    [[ "$fraction" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || { echo "run.sh: --fractions takes numbers in (0, 1], not $fraction" >&2; exit 2; }
done
for rate in "${RATE_LIST[@]}"; do
    [[ "$rate" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rates takes whole req/s, not $rate" >&2; exit 2; }
done
positive_int --reps "$REPS"
positive_int --duration "$DURATION"
[[ "$SPIN_US" =~ ^[0-9]+$ ]] || usage_error "--spin-us must be a whole number, not '$SPIN_US'"
for server in "${SERVER_LIST[@]}"; do
    [[ ",$ALL_SERVERS," == *",$server,"* ]] || usage_error "unknown server $server"
done

RAW="$OUT/raw"
RUNS="$OUT/runs.jsonl"
BENCH="$PEERS_TARGET/release/ringpin-bench"

wants() { [[ ",$SERVERS," == *",$1,"* ]]; }

ensure_tools() {
    need_cpus
    need wrk
    need curl
    need pgrep procps
    if wants nginx; then
        NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
        [[ -x "$NGINX" ]] || { apt_install nginx; NGINX=/usr/sbin/nginx; }
    fi
    if { wants go || wants go-fasthttp; } && ((SKIP_BUILD == 0)); then
        command -v go >/dev/null || apt_install golang-go
    fi
    if wants go-fasthttp && ((SKIP_BUILD == 0)); then
        [[ -d "$GO_LIBRARIES/src/github.com/valyala/fasthttp" ]] || apt_install "$FASTHTTP_PACKAGE"
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
        build_examples hello
    fi
    local packages=(ringpin-bench) server peer
    for server in "${SERVER_LIST[@]}"; do
        peer="$(rust_peer "$server")"
        [[ -z "$peer" ]] || packages+=("$peer")
    done
    build_peers "${packages[@]}"
    if wants go; then
        log "building the Go peer with $(go version)"
        (cd "$PEERS/go" && GOFLAGS='' GOPROXY=off go build -o "$PEERS_TARGET/release/go-nethttp" .)
    fi
    if wants go-fasthttp; then
        local fasthttp
        fasthttp="$(dpkg-query -W -f='${Version}' "$FASTHTTP_PACKAGE" 2>/dev/null || echo unknown)"
        log "building the fasthttp peer with $(go version), $FASTHTTP_PACKAGE $fasthttp"
        (cd "$PEERS/fasthttp" && GO111MODULE=off GOPATH="$GO_LIBRARIES" GOFLAGS='' GOPROXY=off \
            go build -ldflags "-X main.fasthttpDebian=$fasthttp" -o "$PEERS_TARGET/release/go-fasthttp" .)
    fi
}

# The open-loop generator: RINGPIN_LOAD, else the project's own `ringpin-load` bin (built
# here), else an already built one under target/release, else /work/ringpin-load's build.
find_load() {
    if [[ -n "${RINGPIN_LOAD:-}" ]]; then
        LOAD_BIN="$RINGPIN_LOAD"
    else
        LOAD_BIN="$LOAD_BIN_BUILT"
        if ((SKIP_BUILD == 0)) &&
            cargo metadata --no-deps --format-version 1 --manifest-path "$ROOT/Cargo.toml" 2>/dev/null |
            grep -q '"kind":\["bin"\][^}]*"name":"ringpin-load"\|"name":"ringpin-load"[^}]*"kind":\["bin"\]'; then
            build_load
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

SERVER_LOG=""   # the current server's output

# die_server MESSAGE: fail, showing the current server's stderr.
die_server() {
    log "FAILED: $*"
    show_tail "$SERVER_LOG" "the server's stderr"
    exit 1
}

# die_generator OUTPUT MESSAGE: fail, showing the generator's output and the server's stderr.
die_generator() {
    local output="$1"
    shift
    log "FAILED: $*"
    show_tail "$output" "the generator's output"
    show_tail "$SERVER_LOG" "the server's stderr"
    exit 1
}

# check_server NAME WHAT: after a measurement, the server is alive and still alone on its port.
check_server() {
    kill -0 "$SERVER_PID" 2>/dev/null || die_server "$1 died during the $2"
    local held=0
    port_held_by "$SERVER_PID" "$PORT" || held=$?
    case "$held" in
        0) ;;
        1) die_server "$1 stopped listening on port $PORT during the $2" ;;
        *) die_server "another process listened on $1's port $PORT during the $2, so its figures are not $1's alone" ;;
    esac
}

# launch_server NAME: starts NAME on 127.0.0.1:PORT, pinned to SERVER_CPU, stderr to SERVER_LOG.
launch_server() {
    local name="$1" addr="127.0.0.1:$PORT"
    case "$name" in
        ringpin)
            start_pinned "$SERVER_LOG" env RUST_LOG=warn "$HELLO_BIN" --addr "$addr" --cores "$SERVER_CPU"
            ;;
        go | go-fasthttp)
            local bin=go-nethttp
            [[ "$name" == go ]] || bin="$name"
            start_pinned "$SERVER_LOG" env GOMAXPROCS="$GO_GOMAXPROCS" GOGC="$GO_GOGC" \
                "$PEERS_TARGET/release/$bin" --addr "$addr"
            ;;
        nginx)
            local prefix="$RAW/nginx-prefix"
            mkdir -p "$prefix"
            sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN@|$addr|g" \
                "$PEERS/nginx/nginx.conf.template" >"$prefix/nginx.conf"
            start_pinned "$SERVER_LOG" "$NGINX" -p "$prefix" -e stderr -c "$prefix/nginx.conf"
            ;;
        *)
            start_pinned "$SERVER_LOG" "$PEERS_TARGET/release/$(rust_peer "$name")" --addr "$addr"
            ;;
    esac
}

# await_server NAME ROUTE: 0 once the server alone listens on PORT and answers ROUTE with a
# 200; 1 if another process has the port (the caller retries on another); fails the run
# otherwise.
await_server() {
    local name="$1" route="$2" tries held code=""
    for ((tries = 0; tries < 100; tries++)); do
        if grep -qi 'address already in use' "$SERVER_LOG" 2>/dev/null; then
            return 1
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            local status=0
            wait "$SERVER_PID" || status=$?
            SERVER_PID=""
            die_server "$name exited on start (exit status $status)"
        fi
        held=0
        port_held_by "$SERVER_PID" "$PORT" || held=$?
        ((held != 2)) || return 1
        if ((held == 0)); then
            code="$(http_code "http://127.0.0.1:$PORT$route")"
            [[ "$code" == 200 ]] && return 0
        fi
        sleep 0.1
    done
    die_server "$name: no 200 from http://127.0.0.1:$PORT$route within 10 s (last answer: ${code:-none})"
}

# start_server NAME ROUTE LOG: fresh, pinned to SERVER_CPU, on a port of its own, answering
# ROUTE with a 200. Sets PORT, URL, SERVER_PID and MEASURE_PID.
start_server() {
    local name="$1" route="$2" attempt
    SERVER_LOG="$3"
    for ((attempt = 1; attempt <= PORT_ATTEMPTS; attempt++)); do
        reserve_port
        launch_server "$name"
        if await_server "$name" "$route"; then
            if [[ "$name" == nginx ]]; then
                MEASURE_PID="$(pgrep -P "$SERVER_PID" | head -n1)"
                [[ -n "$MEASURE_PID" ]] || die_server "nginx: no worker process under master $SERVER_PID"
            fi
            URL="http://127.0.0.1:$PORT$route"
            log "$name is up on port $PORT"
            return 0
        fi
        log "$name: another process holds port $PORT; starting it again on another port"
        cp "$SERVER_LOG" "$SERVER_LOG.port-$PORT" 2>/dev/null || true
        stop_server
    done
    die_server "$name: lost its port to another process $PORT_ATTEMPTS times in a row (earlier stderr in $SERVER_LOG.port-*)"
}

# record_settings REP NAME ROUTE: a Go server's settings line (`...; settings: go1.19.8,
# GOMAXPROCS=1, GOGC=100`, what its runtime took, logged before it listens) as one line in
# runs.jsonl; fails the run if it logged none. Other servers log no settings.
record_settings() {
    local rep="$1" name="$2" route="$3" settings
    [[ "$name" == go || "$name" == go-fasthttp ]] || return 0
    settings="$(sed -n 's/.*; settings: //p' "$SERVER_LOG" | head -n1 | tr -d '\042\134')"
    [[ -n "$settings" ]] || die_server "$name logged no 'settings:' line at start (a binary from before it did? drop --skip-build)"
    printf '{"kind":"settings","rep":%d,"server":"%s","route":"%s","settings":"%s"}\n' \
        "$rep" "$name" "$route" "$settings" >>"$RUNS"
    log "$name runs with $settings"
}

# wrk_run KIND REP NAME ROUTE TAG: one wrk run (KIND closed or pipelined), one line in runs.jsonl.
wrk_run() {
    local kind="$1" rep="$2" name="$3" route="$4" tag="$5"
    local load cpu_before cpu_after requests rps p50 p99 non2xx errors jiffies_before jiffies_after
    local wall_before wall_after others
    load="$(loadavg)"
    jiffies_before="$(cpu_jiffies "$SERVER_CPU")"
    wall_before="$(date +%s%N)"
    cpu_before="$(cpu_ns "$MEASURE_PID")"
    run_wrk "$kind" "$URL" "${DURATION}s" "$RAW/$tag.$kind.txt" || die_generator "$RAW/$tag.$kind.txt" "wrk failed on $name"
    cpu_after="$(cpu_ns "$MEASURE_PID")"
    wall_after="$(date +%s%N)"
    jiffies_after="$(cpu_jiffies "$SERVER_CPU")"
    # shellcheck disable=SC2086 # two numbers each
    others="$(others_pct $jiffies_before $jiffies_after $((cpu_after - cpu_before)) $((wall_after - wall_before)))"
    check_server "$name" "$kind run"
    # shellcheck disable=SC2034 # p50 and p99 are wrk's, not recorded here
    read -r requests rps p50 p99 non2xx errors < <(parse_wrk "$RAW/$tag.$kind.txt")
    printf '{"kind":"%s","rep":%d,"server":"%s","route":"%s","responses":%d,"rps":%s,"cpu_ns":%d,"non_2xx":%d,"errors":%d,"load":%s,"others_pct":%s}\n' \
        "$kind" "$rep" "$name" "$route" "$requests" "$rps" $((cpu_after - cpu_before)) \
        "$non2xx" "$errors" "$load" "$others" >>"$RUNS"
    log "rep $rep $name $route $kind: $rps resp/s, $(((cpu_after - cpu_before) / (requests > 0 ? requests : 1))) ns CPU/resp, non-2xx $non2xx, errors $errors, load $load, others on CPU $SERVER_CPU $others %"
}

idle_run() {
    local rep="$1" name="$2" route="$3" load result
    load="$(loadavg)"
    result="$(taskset -c "$CLIENT_CPU" "$BENCH" idle --addr "127.0.0.1:$PORT" --path "$route" \
        --connections "$IDLE_CONNECTIONS" --pid "$MEASURE_PID")" || die_server "ringpin-bench idle failed on $name"
    check_server "$name" "idle run"
    printf '{"kind":"idle","rep":%d,"server":"%s","route":"%s","load":%s,"idle":%s}\n' \
        "$rep" "$name" "$route" "$load" "$result" >>"$RUNS"
    log "rep $rep $name $route idle: $result"
}

# sequential_run REP NAME ROUTE: one `ringpin-bench sequential` run, one line in runs.jsonl.
sequential_run() {
    local rep="$1" name="$2" route="$3" load result
    load="$(loadavg)"
    result="$(taskset -c "$CLIENT_CPU" "$BENCH" sequential --addr "127.0.0.1:$PORT" --path "$route" \
        --requests "$SEQUENTIAL_REQUESTS" --pause-us "$SEQUENTIAL_PAUSE_US" \
        --deadline-s "$SEQUENTIAL_DEADLINE_S")" || die_server "ringpin-bench sequential failed on $name"
    check_server "$name" "sequential run"
    printf '{"kind":"sequential","rep":%d,"server":"%s","route":"%s","load":%s,"sequential":%s}\n' \
        "$rep" "$name" "$route" "$load" "$result" >>"$RUNS"
    log "rep $rep $name $route 1-conn sequential: $result"
}

# open_run REP NAME ROUTE FRACTION RATE TAG: one ringpin-load run at RATE req/s (FRACTION of
# NAME's own peak, or `null` for a fixed rate), one line in runs.jsonl.
open_run() {
    local rep="$1" name="$2" route="$3" fraction="$4" rate="$5" tag="$6" load cpu_before cpu_after wall_before wall_after
    local jiffies_before jiffies_after others point
    if [[ "$fraction" == null ]]; then point="rate$rate"; else point="$fraction"; fi
    load="$(loadavg)"
    jiffies_before="$(cpu_jiffies "$SERVER_CPU")"
    cpu_before="$(cpu_ns "$MEASURE_PID")"
    wall_before="$(date +%s%N)"
    taskset -c "$CLIENT_CPU" "$LOAD_BIN" --url "$URL" --rate "$rate" --connections "$CONNECTIONS" \
        --duration "$DURATION" --warmup "$WARMUP" --cores "$CLIENT_CPU" --spin-us "$SPIN_US" --json \
        >"$RAW/$tag.open-$point.json" 2>"$RAW/$tag.open-$point.err" ||
        die_generator "$RAW/$tag.open-$point.err" "ringpin-load failed on $name at $rate req/s"
    wall_after="$(date +%s%N)"
    cpu_after="$(cpu_ns "$MEASURE_PID")"
    jiffies_after="$(cpu_jiffies "$SERVER_CPU")"
    check_server "$name" "open-loop run"
    # shellcheck disable=SC2086 # two numbers each
    others="$(others_pct $jiffies_before $jiffies_after $((cpu_after - cpu_before)) $((wall_after - wall_before)))"
    printf '{"kind":"open","rep":%d,"server":"%s","route":"%s","fraction":%s,"rate":%s,"cpu_ns":%d,"wall_ns":%d,"load":%s,"others_pct":%s,"result":%s}\n' \
        "$rep" "$name" "$route" "$fraction" "$rate" $((cpu_after - cpu_before)) \
        $((wall_after - wall_before)) "$load" "$others" "$(tr -d '\n' <"$RAW/$tag.open-$point.json")" >>"$RUNS"
    log "rep $rep $name $route open $point ($rate req/s): $(grep -o '"latency_us":{[^}]*}' "$RAW/$tag.open-$point.json"), send lag $(grep -o '"send_lag_us":{[^}]*}' "$RAW/$tag.open-$point.json")"
}

# The servers in repetition REP's order: the list rotated by REP-1.
rotated() {
    local rep="$1" n="${#SERVER_LIST[@]}" i
    for ((i = 0; i < n; i++)); do echo "${SERVER_LIST[$(((i + rep - 1) % n))]}"; done
}

# The report's opening lines: when, where, what ran, how loaded the machine was.
write_header() {
    local cpu_model kernel commit dirty go_env=""
    if [[ "$GO_GOMAXPROCS/$GO_GOGC" != 1/100 ]] && { wants go || wants go-fasthttp; }; then
        go_env="GO_GOMAXPROCS=$GO_GOMAXPROCS GO_GOGC=$GO_GOGC "
    fi
    cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    kernel="$(uname -r)"
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    dirty=""
    if git --no-optional-locks -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??'; then
        dirty=", with uncommitted edits"
    fi
    {
        echo "## ringpin beside its peers ($MODE mode)"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit$dirty; $(nproc) CPUs ($cpu_model), Linux $kernel;" \
            "load average at the start $(cut -d' ' -f1-3 /proc/loadavg)."
        echo "Each server alone on CPU $SERVER_CPU (\`taskset -c $SERVER_CPU\`, one worker thread), the generator on CPU $CLIENT_CPU;" \
            "$REPS repetition(s), ${DURATION} s per run (open loop: after ${WARMUP} s of warmup). ringpin runs as users get it:" \
            "\`examples/hello --cores $SERVER_CPU\` (load shedding off, the example's default)${HELLO_SOURCE:+, built at $HELLO_SOURCE}. Generators: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), ringpin-load from $LOAD_SOURCE (\`--spin-us $SPIN_US\`)."
        echo "Command: \`${go_env}benches/run.sh compare$([[ $MODE == quick ]] && echo ' --quick') --servers $SERVERS --reps $REPS --duration $DURATION --fractions $FRACTIONS --rates $RATES\`."
        echo
    } >"$OUT/header.md"
}

# report [expect]: OUT/report.md from the header and runs.jsonl; non-zero if a run failed a
# check or a row of the table lacks a figure; with `expect`, also if one of SERVERS, ROUTES
# or FRACTIONS has no runs at all.
report() {
    local status=0 expect=() routes
    if [[ "${1:-}" == expect ]]; then
        routes="$(IFS=,; echo "${ROUTES[*]}")"
        expect=(--servers "$SERVERS" --routes "$routes" --fractions "$FRACTIONS" --rates "$RATES")
    fi
    "$BENCH" report --runs "$RUNS" --out-dir "$OUT" "${expect[@]}" || status=$?
    cat "$OUT/header.md" "$OUT/results.md" >"$OUT/report.md"
    sed -n '1,/^<details>/p' "$OUT/report.md" | sed '$d'
    return "$status"
}

# One run per OUT at a time: a second would delete and interleave the first one's files.
lock_out() {
    mkdir -p "$OUT"
    exec {OUT_LOCK_FD}>"$OUT/.lock"
    flock -n "$OUT_LOCK_FD" || die "another harness run is using $OUT; give this one its own --out"
}

main() {
    lock_out
    if ((REPORT_ONLY)); then
        [[ -s "$RUNS" && -s "$OUT/header.md" ]] || die "no runs in $OUT to report on"
        report || die "some runs failed their checks (above)"
        exit 0
    fi
    ensure_tools
    port_range
    ((SKIP_BUILD)) || build
    find_load
    [[ -x "$BENCH" ]] || die "$BENCH missing; drop --skip-build"
    rm -rf "$RAW"
    mkdir -p "$RAW"
    snapshot_binaries
    : >"$RUNS"
    write_header
    local started=$SECONDS rep route name tag fraction
    log "$MODE mode: ${SERVER_LIST[*]}; $REPS rep(s) of ${DURATION} s runs; load $(cut -d' ' -f1-3 /proc/loadavg); ports from $PORT_RANGE; output in $OUT"
    for ((rep = 1; rep <= REPS; rep++)); do
        for route in "${ROUTES[@]}"; do
            while read -r name; do
                tag="$(run_tag "$rep" "$name" "$route")"
                start_server "$name" "$route" "$RAW/$tag.server.log"
                record_settings "$rep" "$name" "$route"
                wrk_run closed "$rep" "$name" "$route" "$tag"
                sleep 0.5
                wrk_run pipelined "$rep" "$name" "$route" "$tag"
                sleep 0.5
                sequential_run "$rep" "$name" "$route"
                sleep 0.5
                idle_run "$rep" "$name" "$route"
                stop_server
                sleep 0.5
            done < <(rotated "$rep")
        done
    done
    for ((rep = 1; rep <= REPS; rep++)); do
        for route in "${ROUTES[@]}"; do
            while read -r name; do
                local peak rate
                read -r peak _ < <("$BENCH" peak --runs "$RUNS" --route "$route" --server "$name") ||
                    die "no closed-loop peak for $name on $route"
                tag="$(run_tag "$rep" "$name" "$route")"
                log "$name's own peak on $route: $peak req/s"
                start_server "$name" "$route" "$RAW/$tag.open.server.log"
                record_settings "$rep" "$name" "$route"
                for fraction in "${FRACTION_LIST[@]}"; do
                    rate="$(awk -v p="$peak" -v f="$fraction" 'BEGIN { printf "%.0f", p * f }')"
                    open_run "$rep" "$name" "$route" "$fraction" "$rate" "$tag"
                    sleep 0.5
                done
                for rate in "${RATE_LIST[@]}"; do
                    open_run "$rep" "$name" "$route" null "$rate" "$tag"
                    sleep 0.5
                done
                stop_server
                sleep 0.5
            done < <(rotated "$rep")
        done
    done
    local status=0
    report expect || status=$?
    log "done in $((SECONDS - started)) s: $OUT/report.md, $OUT/latency.svg"
    ((status == 0)) || die "some runs failed their checks (above)"
}

main
