# shellcheck shell=bash
# shellcheck disable=SC2034 # its variables are read by the scripts that source it
# The benchmark scripts' shared functions, sourced by the subcommands of benches/run.sh
# (benches/cmd/*.sh and the harness, benches/harness/run.sh); not a command of its own.
#
# What every benchmark here does the same way: build the release binaries, start a server
# pinned to SERVER_CPU on a port reserved for it and wait for its 200, drive it with wrk
# pinned to CLIENT_CPU, read the server's CPU time from /proc, stop it, and clean up on exit.
# A script sets BENCH_NAME (its name in messages) before sourcing this file.
#
# Variables it sets: BENCHES (this folder), ROOT (the repository), MAIN_TARGET, PEERS,
# PEERS_TARGET, PIPELINE_LUA; SERVER_CPU=1 and CLIENT_CPU=0 unless already set.
# While a server runs: SERVER_PID (what was started), MEASURE_PID (whose CPU time is read:
# the server, or a worker the script names), PORT (its reserved port).

BENCHES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCHES/.." && pwd)"
MAIN_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PEERS="$BENCHES/peers"
PEERS_TARGET="$PEERS/target"
PIPELINE_LUA="$BENCHES/harness/pipeline.lua"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
BENCH_NAME="${BENCH_NAME:-bench}"

# ---- messages ----------------------------------------------------------------------------

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
# usage_error, show_help, positive_int and parse_args: the command line.
# shellcheck source=benches/args.sh
source "$BENCHES/args.sh"

# ---- tools -------------------------------------------------------------------------------

apt_install() {
    ((EUID == 0)) || die "missing $*; install it (apt-get install $*) or run as root"
    log "installing $* from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# need COMMAND [PACKAGE]: COMMAND on PATH, installed from Debian's PACKAGE (default: the
# command's name) when it is not.
need() { command -v "$1" >/dev/null || apt_install "${2:-$1}"; }

# need_cpus: the two CPUs the server and the client are pinned to.
need_cpus() {
    local cpus
    cpus="$(nproc --all)"
    ((cpus > SERVER_CPU && cpus > CLIENT_CPU)) || die "needs CPUs $CLIENT_CPU and $SERVER_CPU"
}

# ---- builds ------------------------------------------------------------------------------

# example_bin NAME: where `cargo build --release --example NAME` puts the binary.
example_bin() { echo "$MAIN_TARGET/release/examples/$1"; }
LOAD_BIN_BUILT="$MAIN_TARGET/release/ringpin-load"

# build_examples NAME...: ringpin's examples, release.
build_examples() {
    local args=() name
    for name in "$@"; do args+=(--example "$name"); done
    log "building ringpin's $* example(s)"
    (cd "$ROOT" && cargo build --release --quiet "${args[@]}")
}

# build_load: the ringpin-load generator, release (its feature named, so that it builds
# whether or not the feature is among the crate's defaults).
build_load() {
    log "building ringpin-load"
    (cd "$ROOT" && cargo build --release --quiet --features load-generator --bin ringpin-load)
}

# build_peers PACKAGE...: packages of the benches/peers workspace, release.
build_peers() {
    local args=() package
    for package in "$@"; do args+=(-p "$package"); done
    log "building $* (benches/peers workspace)"
    CARGO_TARGET_DIR="$PEERS_TARGET" cargo build --release --quiet \
        --manifest-path "$PEERS/Cargo.toml" "${args[@]}"
}

# ---- ports -------------------------------------------------------------------------------
#
# Every server start draws a fresh port at random from PORT_RANGE (default: 20000 up to the
# start of the kernel's ephemeral range, so never a port that bind(:0) or an outgoing
# connection could be holding), skips it if any socket uses it, and reserves it with a
# flock(1) on /tmp/ringpin-harness-ports/PORT.lock for as long as the server lives, so two
# benchmark runs on one machine never share a port.

PORT_RANGE="${PORT_RANGE:-}"
PORT_LOCK_DIR=/tmp/ringpin-harness-ports
PORT=""          # the port the current server was started on
PORT_LOCK_FD=""  # the descriptor holding PORT_LOCK_DIR/PORT.lock; servers inherit it

# port_range: PORT_LOW and PORT_HIGH from PORT_RANGE, or below the kernel's ephemeral range:
# the kernel hands ports from that range to bind(:0) and to every outgoing connection, so a
# port picked there could be taken before the server binds it.
port_range() {
    local ephemeral_low ephemeral_high
    read -r ephemeral_low ephemeral_high </proc/sys/net/ipv4/ip_local_port_range
    if [[ -z "$PORT_RANGE" ]]; then
        if ((ephemeral_low > 21024)); then
            PORT_RANGE="20000-$((ephemeral_low - 1))"
        elif ((ephemeral_high < 64511)); then
            PORT_RANGE="$((ephemeral_high + 1))-65535"
        else
            die "the ephemeral range $ephemeral_low-$ephemeral_high leaves no room; set PORT_RANGE=LOW-HIGH"
        fi
    fi
    [[ "$PORT_RANGE" =~ ^([0-9]+)-([0-9]+)$ ]] || die "PORT_RANGE must be LOW-HIGH, not $PORT_RANGE"
    PORT_LOW="${BASH_REMATCH[1]}" PORT_HIGH="${BASH_REMATCH[2]}"
    ((1024 <= PORT_LOW && PORT_LOW < PORT_HIGH && PORT_HIGH <= 65535)) || die "PORT_RANGE $PORT_RANGE is not within 1024-65535"
}

# The kernel's socket tables, as lines of "local-address:PORT state inode" (hex, as /proc has them).
socket_table() {
    local table
    for table in /proc/net/tcp /proc/net/tcp6; do
        [[ -r "$table" ]] && awk 'FNR > 1 { print $2, $4, $10 }' "$table"
    done
    return 0
}

# port_in_use PORT: any TCP socket, in any state (TIME_WAIT too), has PORT as its local port.
port_in_use() {
    local hex
    hex="$(printf '%04X' "$1")"
    socket_table | awk -v port=":$hex" 'substr($1, length($1) - 4) == port { found = 1 } END { exit !found }'
}

# port_held_by PID PORT: 0 if PID is the only process listening on PORT, 1 if nothing listens
# there yet, 2 if some other process listens there too (or instead).
port_held_by() {
    local pid="$1" hex inodes inode mine
    hex="$(printf '%04X' "$2")"
    inodes="$(socket_table | awk -v port=":$hex" '$2 == "0A" && substr($1, length($1) - 4) == port { print $3 }')"
    [[ -n "$inodes" ]] || return 1
    mine="$(find /proc/"$pid"/fd -maxdepth 1 -lname 'socket:*' -printf '%l\n' 2>/dev/null || true)"
    for inode in $inodes; do
        grep -qxF "socket:[$inode]" <<<"$mine" || return 2
    done
    return 0
}

# reserve_port: draws a free port and reserves it: sets PORT and PORT_LOCK_FD. The lock files
# stay (removing one while another run waits on it would break the lock); they are empty,
# one per port used.
reserve_port() {
    [[ -n "${PORT_LOW:-}" ]] || port_range
    local draw port lock
    for ((draw = 0; draw < 200; draw++)); do
        port=$((PORT_LOW + (RANDOM * 32768 + RANDOM) % (PORT_HIGH - PORT_LOW + 1)))
        port_in_use "$port" && continue
        lock="$PORT_LOCK_DIR/$port.lock"
        # World-writable, and opened read-only (flock needs no more), so that runs by other
        # users share the reservations.
        (umask 0 && mkdir -p "$PORT_LOCK_DIR" && { [[ -e "$lock" ]] || : >>"$lock"; }) 2>/dev/null || true
        exec {PORT_LOCK_FD}<"$lock" || die "cannot open $lock"
        # Checked again under the lock: another run may have just stopped a server there.
        if flock -n "$PORT_LOCK_FD" && ! port_in_use "$port"; then
            PORT="$port"
            return 0
        fi
        exec {PORT_LOCK_FD}<&-
    done
    PORT_LOCK_FD=""
    die "no free port in $PORT_RANGE after 200 draws"
}
release_port() {
    [[ -z "$PORT_LOCK_FD" ]] || exec {PORT_LOCK_FD}<&-
    PORT_LOCK_FD="" PORT=""
}

# ---- servers -----------------------------------------------------------------------------

SERVER_PID=""   # what we started and stop
MEASURE_PID=""  # whose CPU time we read

# start_pinned LOG COMMAND...: COMMAND in the background under `taskset -c SERVER_CPU`, its
# output to LOG; sets SERVER_PID and MEASURE_PID. The caller has reserved PORT if it needs one.
start_pinned() {
    local log_file="$1"
    shift
    taskset -c "$SERVER_CPU" "$@" >"$log_file" 2>&1 &
    SERVER_PID=$!
    MEASURE_PID=$SERVER_PID
}

# http_code URL: the status URL answers with now, or 000.
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true; }

# await_200 URL [LOG]: until URL answers 200, for at most 10 s; fails (showing LOG) if the
# server exits first or never answers.
await_200() {
    local url="$1" log_file="${2:-}" tries code=""
    for ((tries = 0; tries < 100; tries++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { show_tail "$log_file" "the server's output"; die "the server exited on start"; }
        code="$(http_code "$url")"
        [[ "$code" == 200 ]] && return 0
        sleep 0.1
    done
    show_tail "$log_file" "the server's output"
    die "no 200 from $url within 10 s (last answer: ${code:-none})"
}

# stop_server: SIGTERM, up to 5 s for the drain, then SIGKILL; releases the port.
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local waited
        for ((waited = 0; waited < 50; waited++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID="" MEASURE_PID=""
    release_port
}

# show_tail FILE WHAT: the last 40 lines of FILE, indented, to stderr.
show_tail() {
    [[ -n "$1" ]] || return 0
    if [[ -s "$1" ]]; then
        log "$2, $1 (last 40 lines):"
        tail -n 40 "$1" | sed 's/^/    /' >&2
    else
        log "$2: nothing ($1 is empty)"
    fi
}

# ---- cleanup -----------------------------------------------------------------------------

# at_exit COMMAND: run COMMAND (a string, eval'd) when the script exits, after the server is
# stopped; in the order given.
EXIT_HOOKS=()
at_exit() { EXIT_HOOKS+=("$1"); }
run_exit_hooks() {
    local status=$? hook
    stop_server
    for hook in "${EXIT_HOOKS[@]}"; do eval "$hook" || true; done
    return "$status"
}
trap run_exit_hooks EXIT

# ---- measurements ------------------------------------------------------------------------

# cpu_ns PID: nanoseconds on CPU, summed over every thread the process has now (field 1 of
# /proc/PID/task/*/schedstat). A thread that exits mid-run takes its time with it.
cpu_ns() { awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$1"/task/*/schedstat 2>/dev/null || echo 0; }
thread_count() { find /proc/"$1"/task -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
# cpu_jiffies N: "busy total" jiffies of CPU N since boot, from /proc/stat (steal counts as
# busy: the hypervisor gave the time to someone else).
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

# run_wrk KIND URL DURATION OUT [WRK_ARGS...]: wrk on CLIENT_CPU, 64 connections, one thread;
# KIND closed (a request per round trip) or pipelined (pipeline.lua, 16 per write). DURATION
# as wrk takes it (10 or 10s). Output to OUT; non-zero if wrk fails.
WRK_CONNECTIONS=64
PIPELINE_DEPTH=16
run_wrk() {
    local kind="$1" url="$2" duration="$3" out="$4"
    shift 4
    local target=("$url")
    [[ "$kind" == pipelined ]] && target=(-s "$PIPELINE_LUA" "$url" -- "$PIPELINE_DEPTH")
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$WRK_CONNECTIONS" -d"$duration" "$@" "${target[@]}" >"$out" 2>&1
}

# parse_wrk FILE: "requests req_per_s p50_ms p99_ms non_2xx socket_errors" from wrk's output
# (the latencies with --latency only, else 0).
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

# run_tag REP NAME ROUTE: a file name for one run's output, e.g. ringpin-json-r2, bare-root-r1.
run_tag() {
    local t
    t="$2-$(tr -c 'a-z0-9\n' _ <<<"${3#/}")-r$1"
    echo "${t/--/-root-}"
}

# host_line: "CPU model; Linux kernel; commit", for the figures' provenance.
host_line() {
    local cpu_model commit
    cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "$cpu_model; Linux $(uname -r); commit $commit"
}

# ---- NAME='COMMAND' servers (ab, trips) ---------------------------------------------------

NAMES=() COMMANDS=()
# add_named_command NAME=COMMAND: one server to measure; {addr} in COMMAND becomes IP:PORT.
add_named_command() { NAMES+=("${1%%=*}"); COMMANDS+=("${1#*=}"); }
# named_command_arg ARG: add_named_command if ARG is NAME=COMMAND (parse_args's OPERAND).
named_command_arg() { [[ "$1" == *=* ]] && add_named_command "$1"; }
# start_named I ADDR LOG: the I-th command, pinned, on ADDR (word-split on purpose).
start_named() {
    local cmd="${COMMANDS[$1]//\{addr\}/$2}"
    # shellcheck disable=SC2086 # the command is word-split on purpose
    start_pinned "$3" $cmd
}
