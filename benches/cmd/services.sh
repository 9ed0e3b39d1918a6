#!/usr/bin/env bash
# The seeds' services beside actix-web and axum versions of them (issue #17, item 5):
# ringpin's examples/fastjson_api and examples/cache_server, and benches/peers'
# actix-services and axum-services, route for route, each server alone on CPU 1 with wrk
# on CPU 0.
#
#   benches/run.sh services --quick              # 2 s per row, ~1 minute after the builds (CI)
#   benches/run.sh services                      # 10 s per row, 3 repetitions
#   benches/run.sh services --servers ringpin,axum --reps 1 --out /tmp/svc
#
# Rows, each on a freshly started server (after seeding it: SEED_USERS users, or one
# VALUE_BYTES-byte value under /kv/hit):
#   users  list     GET  /users             200, the SEED_USERS users as a JSON array
#   users  lookup   GET  /users/1           200, user 1
#   users  create   POST /users             201, the new user (body.lua; the store grows)
#   users  churn    GET  /users/1, `Connection: close`: one request per connection
#   cache  hit      GET  /kv/hit            200, the value
#   cache  miss     GET  /kv/miss           404, {"error":"no such key"} (every answer non-2xx)
#   cache  put      PUT  /kv/put            204 (replaced; the first PUT, in the check, 201)
#   cache  churn    GET  /kv/hit, `Connection: close`
# Before each load, the route's answer is checked once with curl (status, body, and
# Content-Type where there is a body), and a server that answers anything else fails the
# run: a fast error path is never reported. The load is `taskset -c 0 wrk -t1 -c64 -dD
# --latency` (body.lua for POST and PUT); a run fails on a socket error, or on any non-2xx
# answer (all non-2xx on the miss row). Figures: req/s (on churn rows: new connections/s),
# the server's CPU µs per request (per connection) from /proc/PID/task/*/schedstat over
# every thread, and wrk's p50 / p99 (closed loop: wrk's latencies understate a queue).
# The table gives the median over the repetitions (the server order rotates each one);
# every run is a line of OUT/runs.tsv, wrk's output and the server logs are in OUT/raw.
#
# The servers, one worker each: ringpin's examples with `--cores 1`, defaults otherwise;
# actix-web 4 `workers(1)` and axum 0.8 on tokio's current-thread runtime, stores in
# `Mutex`es as their documentation shares state (benches/peers/services has the stores).
#
# Options (or the environment variable in brackets):
#   --quick          REPS=1, DURATION=2s
#   --reps N         repetitions [REPS, default 3]
#   --duration D     wrk duration per row [DURATION, default 10s]
#   --servers LIST   from ringpin,actix,axum [SERVERS, default all three]
#   --out DIR        results [OUT, default target/bench/services or services-quick]
#   --skip-build     use the binaries already built
set -euo pipefail
BENCH_NAME=services
# shellcheck source=benches/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

ALL_SERVERS=ringpin,actix,axum
BODY_LUA="$BENCHES/harness/body.lua"
# The state each row starts from: users in the store before list/lookup/create, and the
# size of the value under /kv/hit, in bytes.
SEED_USERS="${SEED_USERS:-16}"
VALUE_BYTES="${VALUE_BYTES:-64}"
NEW_USER='{"name":"Ada","email":"ada@example.com"}'
ROWS=(users:list users:lookup users:create users:churn cache:hit cache:miss cache:put cache:churn)
MODE=full
REPS="${REPS:-}"
DURATION="${DURATION:-}"
SERVERS="${SERVERS:-$ALL_SERVERS}"
OUT="${OUT:-}"
SKIP_BUILD=0

declare -A FLAGS=([--quick]=MODE=quick [--reps]=REPS [--duration]=DURATION [--servers]=SERVERS
    [--out]=OUT [--skip-build]=SKIP_BUILD=1)
parse_args "$@"
if [[ "$MODE" == quick ]]; then
    REPS="${REPS:-1}" DURATION="${DURATION:-2s}"
    OUT="${OUT:-$ROOT/target/bench/services-quick}"
else
    REPS="${REPS:-3}" DURATION="${DURATION:-10s}"
    OUT="${OUT:-$ROOT/target/bench/services}"
fi
positive_int --reps "$REPS"
positive_int SEED_USERS "$SEED_USERS"
positive_int VALUE_BYTES "$VALUE_BYTES"
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
for server in "${SERVER_LIST[@]}"; do
    [[ ",$ALL_SERVERS," == *",$server,"* ]] || usage_error "unknown server $server"
done
RAW="$OUT/raw"
RUNS="$OUT/runs.tsv"
VALUE="$(printf '%*s' "$VALUE_BYTES" '' | tr ' ' v)"

# server_bin NAME SERVICE: the binary that serves SERVICE (users or cache) for NAME.
server_bin() {
    local example
    [[ "$2" == users ]] && example=fastjson_api || example=cache_server
    case "$1" in
        ringpin) example_bin "$example" ;;
        *) echo "$PEERS_TARGET/release/$1-${example//_/-}" ;;
    esac
}

# start_service NAME SERVICE LOG: fresh, pinned, on a reserved port, answering 200.
start_service() {
    local bin ready
    bin="$(server_bin "$1" "$2")"
    reserve_port
    case "$1" in
        ringpin) start_pinned "$3" env RUST_LOG=warn "$bin" --cores "$SERVER_CPU" --addr "127.0.0.1:$PORT" ;;
        *) start_pinned "$3" "$bin" --addr "127.0.0.1:$PORT" ;;
    esac
    [[ "$2" == users ]] && ready=/users || ready=/stats
    await_200 "http://127.0.0.1:$PORT$ready" "$3"
}

# expect WHAT STATUS CONTENT_TYPE BODY CURL_ARGS...: one curl request; fails the run unless
# it is answered with STATUS, BODY and (unless empty) a Content-Type starting CONTENT_TYPE.
expect() {
    local what="$1" status="$2" type="$3" body="$4" got got_body got_status got_type
    shift 4
    got="$(curl -s --max-time 2 -w '\n%{http_code} %{content_type}' "$@" || true)"
    got_body="$(sed '$d' <<<"$got")"
    read -r got_status got_type < <(tail -n1 <<<"$got")
    if [[ "$got_status" != "$status" || "$got_body" != "$body" || (-n "$type" && "$got_type" != "$type"*) ]]; then
        show_tail "$SERVER_LOG_FILE" "the server's output"
        die "$CURRENT: $what answered $got_status (${got_type:-no Content-Type}) '$got_body'; expected $status ${type:+($type) }'$body'"
    fi
}

user_json() { printf '{"id":%d,"name":"user%d","email":"user%d@example.com"}' "$1" "$1" "$1"; }

# seed_and_check SERVICE ROW: puts the row's starting state in the store, then checks once
# the answer that the load will get.
seed_and_check() {
    local base="http://127.0.0.1:$PORT" i list="["
    case "$1" in
        users)
            for ((i = 0; i < SEED_USERS; i++)); do
                expect "seeding POST /users" 201 application/json "$(user_json "$i")" \
                    -H 'Content-Type: application/json' -d "{\"name\":\"user$i\",\"email\":\"user$i@example.com\"}" "$base/users"
                list+="$( ((i == 0)) || printf ,)$(user_json "$i")"
            done
            case "$2" in
                list) expect "GET /users" 200 application/json "$list]" "$base/users" ;;
                lookup) expect "GET /users/1" 200 application/json "$(user_json 1)" "$base/users/1" ;;
                create) expect "POST /users" 201 application/json "{\"id\":$SEED_USERS,${NEW_USER#\{}" \
                    -H 'Content-Type: application/json' -d "$NEW_USER" "$base/users" ;;
                churn) expect "GET /users/1 (Connection: close)" 200 application/json "$(user_json 1)" \
                    -H 'Connection: close' "$base/users/1" ;;
            esac
            expect "GET /users/$((SEED_USERS + 9))" 404 application/json '{"error":"user not found"}' "$base/users/$((SEED_USERS + 9))"
            ;;
        cache)
            expect "seeding PUT /kv/hit" 201 "" "" -X PUT --data-binary "$VALUE" "$base/kv/hit"
            case "$2" in
                hit) expect "GET /kv/hit" 200 application/octet-stream "$VALUE" "$base/kv/hit" ;;
                miss) expect "GET /kv/miss" 404 application/json '{"error":"no such key"}' "$base/kv/miss" ;;
                put)
                    expect "PUT /kv/put (new)" 201 "" "" -X PUT --data-binary "$VALUE" "$base/kv/put"
                    expect "PUT /kv/put (replaced)" 204 "" "" -X PUT --data-binary "$VALUE" "$base/kv/put"
                    ;;
                churn) expect "GET /kv/hit (Connection: close)" 200 application/octet-stream "$VALUE" \
                    -H 'Connection: close' "$base/kv/hit" ;;
            esac
            ;;
    esac
}

# wrk_args SERVICE ROW: the row's wrk arguments after the common ones.
wrk_args() {
    local base="http://127.0.0.1:$PORT"
    case "$1:$2" in
        users:list) echo "$base/users" ;;
        users:lookup) echo "$base/users/1" ;;
        users:create) printf '%s\n' -s "$BODY_LUA" "$base/users" -- POST application/json "$NEW_USER" ;;
        users:churn) printf '%s\n' -H 'Connection: close' "$base/users/1" ;;
        cache:hit) echo "$base/kv/hit" ;;
        cache:miss) echo "$base/kv/miss" ;;
        cache:put) printf '%s\n' -s "$BODY_LUA" "$base/kv/put" -- PUT "" "$VALUE" ;;
        cache:churn) printf '%s\n' -H 'Connection: close' "$base/kv/hit" ;;
    esac
}

# run_row REP NAME SERVICE:ROW: one fresh server, the check, one wrk run, one line in RUNS.
run_row() {
    local rep="$1" name="$2" service="${3%%:*}" row="${3#*:}" tag args=()
    tag="$name-$service-$row-r$rep"
    CURRENT="$name $service $row"
    SERVER_LOG_FILE="$RAW/$tag.server.log"
    start_service "$name" "$service" "$SERVER_LOG_FILE"
    seed_and_check "$service" "$row"
    mapfile -t args < <(wrk_args "$service" "$row")
    local load cpu_before cpu_after b0 t0 b1 t1 w0 w1 others
    load="$(loadavg)"
    read -r b0 t0 < <(cpu_jiffies "$SERVER_CPU")
    w0="$(date +%s%N)"
    cpu_before="$(cpu_ns "$MEASURE_PID")"
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$WRK_CONNECTIONS" -d"$DURATION" --latency "${args[@]}" \
        >"$RAW/$tag.wrk.txt" 2>&1 || die "wrk failed on $CURRENT ($RAW/$tag.wrk.txt)"
    cpu_after="$(cpu_ns "$MEASURE_PID")"
    w1="$(date +%s%N)"
    read -r b1 t1 < <(cpu_jiffies "$SERVER_CPU")
    kill -0 "$SERVER_PID" 2>/dev/null || { show_tail "$SERVER_LOG_FILE" "the server's output"; die "$CURRENT: the server died under load"; }
    stop_server
    local requests rps p50 p99 non2xx errors expected_bad=0
    read -r requests rps p50 p99 non2xx errors < <(parse_wrk "$RAW/$tag.wrk.txt")
    ((requests > 0)) || die "$CURRENT: wrk completed no requests ($RAW/$tag.wrk.txt)"
    [[ "$row" == miss ]] && expected_bad="$requests"
    ((non2xx == expected_bad)) || die "$CURRENT: $non2xx non-2xx answers of $requests, expected $expected_bad ($RAW/$tag.wrk.txt)"
    ((errors == 0)) || die "$CURRENT: $errors socket errors ($RAW/$tag.wrk.txt)"
    others="$(others_pct "$b0" "$t0" "$b1" "$t1" $((cpu_after - cpu_before)) $((w1 - w0)))"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$name" "$service" "$row" "$rps" \
        "$(awk -v c=$((cpu_after - cpu_before)) -v r="$requests" 'BEGIN { printf "%.2f", c / r / 1000 }')" \
        "$p50" "$p99" "$requests" "$load" "$others" >>"$RUNS"
    log "rep $rep $CURRENT: $rps req/s, $(cut -f6 < <(tail -n1 "$RUNS")) µs CPU/req, p50 $p50 ms, p99 $p99 ms, load $load, others on CPU $SERVER_CPU $others %"
    sleep 0.5
}

report() {
    {
        echo "## The seeds' services: ringpin beside actix-web and axum ($MODE mode)"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, $(host_line); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
        echo "Each server alone on CPU $SERVER_CPU, one worker; \`taskset -c $CLIENT_CPU wrk -t1 -c$WRK_CONNECTIONS -d$DURATION --latency\`;" \
            "median of $REPS repetition(s). Seeded with $SEED_USERS users / one $VALUE_BYTES-byte value." \
            "Command: \`benches/run.sh services$([[ $MODE == quick ]] && echo ' --quick') --servers $SERVERS --reps $REPS --duration $DURATION\`."
        echo
        python3 - "$RUNS" "${SERVER_LIST[@]}" <<'PY'
import statistics, sys
runs = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
servers = sys.argv[2:]
rows = list(dict.fromkeys((r[2], r[3]) for r in runs))
what = {("users", "list"): "GET /users", ("users", "lookup"): "GET /users/1",
        ("users", "create"): "POST /users", ("users", "churn"): "GET /users/1, Connection: close",
        ("cache", "hit"): "GET /kv/hit", ("cache", "miss"): "GET /kv/miss (404)",
        ("cache", "put"): "PUT /kv/put", ("cache", "churn"): "GET /kv/hit, Connection: close"}
print("| service | row | server | req/s (churn: conn/s) | CPU µs/req (churn: /conn) | p50 ms | p99 ms | others on CPU % |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
label = {"users": "fastjson_api", "cache": "cache_server"}
missing = 0
for service, row in rows:
    for server in servers:
        mine = [r for r in runs if r[1] == server and r[2] == service and r[3] == row]
        if not mine:
            missing += 1
            print(f"| {label[service]} | {row} | {server} | – | – | – | – | – |")
            continue
        med = lambda i: statistics.median(float(r[i]) for r in mine)
        print(f"| {label[service]} | `{what[(service, row)]}` | {server} | {med(4):,.0f} | {med(5):.2f} | {med(6):.3f} | {med(7):.3f} | {med(10):.0f} |")
sys.exit(1 if missing else 0)
PY
    } >"$OUT/report.md"
}

main() {
    need_cpus
    need wrk
    need curl
    if ((SKIP_BUILD == 0)); then
        wants_ringpin=0
        [[ ",$SERVERS," == *,ringpin,* ]] && wants_ringpin=1
        ((wants_ringpin == 0)) || build_examples fastjson_api cache_server
        build_peers actix-services axum-services
    fi
    local name service
    for name in "${SERVER_LIST[@]}"; do
        for service in users cache; do
            [[ -x "$(server_bin "$name" "$service")" ]] || die "$(server_bin "$name" "$service") missing; drop --skip-build"
        done
    done
    mkdir -p "$RAW"
    : >"$RUNS"
    log "$MODE mode: ${SERVER_LIST[*]}; $REPS rep(s) of $DURATION per row; load $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT"
    local rep row k n="${#SERVER_LIST[@]}" started=$SECONDS
    for ((rep = 1; rep <= REPS; rep++)); do
        for row in "${ROWS[@]}"; do
            for ((k = 0; k < n; k++)); do
                run_row "$rep" "${SERVER_LIST[$(((k + rep - 1) % n))]}" "$row"
            done
        done
    done
    local status=0
    report || status=$?
    cat "$OUT/report.md"
    log "done in $((SECONDS - started)) s: $OUT/report.md"
    ((status == 0)) || die "a row of the table lacks a figure"
}

main
