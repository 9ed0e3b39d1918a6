#!/usr/bin/env bash
# Static files: ringpin's static_files example beside nginx (`sendfile on`), each on one
# core, files of 1 KiB, 64 KiB and 4 MiB: responses/s and server CPU per response.
#
#   benches/run.sh static-files                      # 10 s per case, table in target/static_files.md
#   DURATION=2s benches/run.sh static-files --skip-build
#   benches/run.sh static-files --duration 1s --out /tmp/sf.md   # a smoke run
#
# Per case: start the server fresh under `taskset -c 1` (ringpin: one shard, `--cores 1`;
# nginx: one worker), wait until the file answers 200 with its full length, read the
# server's CPU time, run `taskset -c 0 wrk -t1 -c$CONNECTIONS -d$DURATION`, read it again,
# stop the server. CPU time is the sum of the first field of /proc/PID/task/*/schedstat
# (ns on CPU) over the server's threads (nginx: the master and its worker); CPU per
# response is its delta over the responses wrk completed. One run per case: on a shared
# machine, run it twice and compare before quoting a figure.
#
# nginx is Debian's (apt-get install nginx if absent) with `sendfile on`, `tcp_nopush on`
# and an open_file_cache like ringpin's (1,000 entries, revalidated every second), no
# access log. ringpin runs on the I/O path RINGPIN_IO names (auto: the own io_uring), with
# files up to RINGPIN_INLINE_MAX_BYTES (default 8192) sent from memory, longer with sendfile.
#
# Options (or the environment variable in brackets):
#   --duration D     wrk duration per case [DURATION, default 10s]
#   --connections N  wrk connections [CONNECTIONS, default 64]
#   --out FILE       markdown table [OUT, default target/static_files.md]
#   --skip-build     use the example binary already built
#   SIZES="16384 32768"  other file sizes, in bytes (default "1024 65536 4194304")
set -euo pipefail
BENCH_NAME=static_files.sh
# shellcheck source=benches/args.sh
source "$(dirname "${BASH_SOURCE[0]}")/../args.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
OUT="${OUT:-$ROOT/target/static_files.md}"
SKIP_BUILD=0
RINGPIN_PORT="${RINGPIN_PORT:-18090}"
NGINX_PORT="${NGINX_PORT:-18091}"
SERVER_CPU=1
CLIENT_CPU=0
read -r -a SIZES <<<"${SIZES:-1024 65536 4194304}"

declare -A FLAGS=([--duration]=DURATION [--connections]=CONNECTIONS [--out]=OUT [--skip-build]=SKIP_BUILD=1)
parse_args "$@"

BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/static_files"
WORK="$(dirname "$OUT")/static_files-raw"
SITE="$WORK/site"
RUNS="$WORK/runs.tsv"

log() { printf '[static_files] %s\n' "$*" >&2; }

ensure_tools() {
    local sudo=""
    ((EUID == 0)) || sudo="sudo"
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    local tool
    for tool in curl taskset awk head; do
        command -v "$tool" >/dev/null || { echo "static_files.sh: $tool is required" >&2; exit 1; }
    done
    (($(nproc --all) > SERVER_CPU)) || { echo "static_files.sh: needs CPUs $CLIENT_CPU and $SERVER_CPU" >&2; exit 1; }
}
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

make_site() {
    mkdir -p "$SITE"
    local size
    for size in "${SIZES[@]}"; do
        [[ -f "$SITE/$size.bin" ]] || head -c "$size" /dev/urandom >"$SITE/$size.bin"
    done
}

write_nginx_conf() {
    local prefix="$WORK/nginx"
    mkdir -p "$prefix"
    cat >"$prefix/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 100000000;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 1s;
    default_type application/octet-stream;
    client_body_temp_path $prefix/client_body;
    proxy_temp_path $prefix/proxy;
    fastcgi_temp_path $prefix/fastcgi;
    uwsgi_temp_path $prefix/uwsgi;
    scgi_temp_path $prefix/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $SITE;
    }
}
CONF
}

# Busy time of every CPU, ns (user+nice+system+irq+softirq+steal from /proc/stat's "cpu"
# line, in USER_HZ ticks): the server's, the client's and the kernel's work together. On
# loopback the kernel does part of one side's TCP work in the other's context (an ACK that
# arrives while the sender's socket is free is processed, and more data sent, on the
# receiver's CPU), so this is the figure no shift of work between them can flatter.
system_busy_ns() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz; exit }' /proc/stat
}

cpu_ns() { awk '{ ns += $1 } END { printf "%.0f\n", ns }' /proc/"$1"/task/*/schedstat 2>/dev/null || echo 0; }
# The server's CPU time with its children's (nginx's worker is the master's child).
server_cpu_ns() {
    local total child
    total="$(cpu_ns "$1")"
    for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        total=$((total + $(cpu_ns "$child")))
    done
    echo "$total"
}

SERVER_PID=""
stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < 50)); do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT

# start_server NAME LOG: NAME pinned to SERVER_CPU; sets SERVER_PID and PORT.
start_server() {
    case "$1" in
        ringpin)
            PORT="$RINGPIN_PORT"
            RUST_LOG=warn taskset -c "$SERVER_CPU" "$BIN" --root "$SITE" \
                --cores "$SERVER_CPU" --addr "127.0.0.1:$PORT" 2>"$2" &
            ;;
        nginx)
            PORT="$NGINX_PORT"
            taskset -c "$SERVER_CPU" "$NGINX" -p "$WORK/nginx" -e stderr -c "$WORK/nginx/nginx.conf" 2>"$2" &
            ;;
    esac
    SERVER_PID=$!
}

# wait_ready PATH SIZE: until PATH answers 200 with SIZE bytes, for at most 10 s.
wait_ready() {
    local tries=0 got
    while ((tries < 100)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { echo "static_files.sh: server exited on start" >&2; return 1; }
        got="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 2 "http://127.0.0.1:$PORT$1" || true)"
        [[ "$got" == "200 $2" ]] && return 0
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "static_files.sh: no full 200 from 127.0.0.1:$PORT$1 within 10 s (last: $got)" >&2
    return 1
}

# run_once NAME SIZE: one fresh server, one wrk run, one line in runs.tsv.
run_once() {
    local name="$1" size="$2" path="/$2.bin"
    local tag="$name-$size"
    start_server "$name" "$WORK/$tag.server.log"
    wait_ready "$path" "$size"
    local cpu_before cpu_after wall_before wall_after busy_before busy_after
    cpu_before="$(server_cpu_ns "$SERVER_PID")"
    busy_before="$(system_busy_ns)"
    wall_before="$(date +%s%N)"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "http://127.0.0.1:$PORT$path" >"$WORK/$tag.wrk.txt"
    wall_after="$(date +%s%N)"
    busy_after="$(system_busy_ns)"
    cpu_after="$(server_cpu_ns "$SERVER_PID")"
    stop_server
    local requests rps non2xx errors
    read -r requests rps non2xx errors < <(awk '
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
        END { printf "%d %.2f %d %d\n", requests, rps, non2xx, errors }' "$WORK/$tag.wrk.txt")
    ((requests > 0)) || { echo "static_files.sh: wrk completed no requests ($WORK/$tag.wrk.txt)" >&2; exit 1; }
    local cpu=$((cpu_after - cpu_before))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$size" "$rps" "$((cpu / requests))" \
        "$((100 * cpu / (wall_after - wall_before)))" "$requests" "$non2xx" "$errors" \
        "$(((busy_after - busy_before) / requests))" >>"$RUNS"
    log "$(tail -n1 "$RUNS" | awk -F'\t' '{ printf "%-7s %8s B  %10.0f resp/s  %8d ns CPU/resp  system %8d ns/resp  CPU %d%%  non-2xx %s  errors %s", $1, $2, $3, $4, $9, $5, $7, $8 }')"
}

report() {
    {
        echo "## Static files: ringpin static_files vs nginx (sendfile on)"
        echo
        echo "\`wrk -t1 -c$CONNECTIONS -d$DURATION\` on CPU $CLIENT_CPU, each server alone on CPU $SERVER_CPU; one run per case;" \
            "server CPU from /proc/PID/task/*/schedstat. $(date -u '+%Y-%m-%d %H:%M UTC')," \
            "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
            "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r)," \
            "RINGPIN_IO=${RINGPIN_IO:-auto}. Command: \`benches/run.sh static-files --duration $DURATION\`."
        echo
        echo "| file | server | responses/s | server CPU ns/response | whole-system CPU ns/response | server CPU % | non-2xx | socket errors |"
        echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        awk -F'\t' '{ printf "| %s | %s | %.0f | %s | %s | %s | %s | %s |\n", $2, $1, $3, $4, $9, $5, $7, $8 }' "$RUNS"
    } >"$OUT"
    cat "$OUT"
}

main() {
    ensure_tools
    ((SKIP_BUILD)) || (cd "$ROOT" && cargo build --release --example static_files)
    [[ -x "$BIN" ]] || { echo "static_files.sh: $BIN missing; drop --skip-build" >&2; exit 1; }
    mkdir -p "$WORK"
    : >"$RUNS"
    make_site
    write_nginx_conf
    local size name
    for size in "${SIZES[@]}"; do
        for name in ringpin nginx; do
            run_once "$name" "$size"
        done
    done
    report
}

main
