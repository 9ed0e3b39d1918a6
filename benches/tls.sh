#!/usr/bin/env bash
# TLS figures of docs/deploy.md ("TLS"), three setups side by side in one run:
#  1. ringpin terminating TLS itself (hello --tls-cert/--tls-key, rustls);
#  2. nginx terminating TLS in front of a plain ringpin (upstream keep-alive);
#  3. nginx serving the same 13-byte response over TLS directly (`return 200`).
# For each: keep-alive req/s and server CPU per request, then full handshakes/s (a new
# connection per request, `Connection: close`) and server CPU per handshake. Servers are
# pinned to CPU 1 (nginx: one worker; setup 2 puts nginx and ringpin both on CPU 1, and
# its CPU is both processes' sum), the load (wrk, OpenSSL) to CPU 0; loopback only.
# Server CPU is utime+stime from /proc/PID/stat over the measured run, every process of
# the setup summed. The certificate is ECDSA P-256 (--rsa: RSA 2048), TLS 1.3 negotiated
# by both servers. About 6 x (seconds + 2) s.
#   benches/tls.sh [--seconds 10] [--connections 64] [--rsa]
# Needs wrk, nginx, openssl and curl (installed when missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
connections=64
key_kind=ec
while (($#)); do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --rsa) key_kind=rsa; shift ;;
    *) echo "usage: $0 [--seconds S] [--connections N] [--rsa]" >&2; exit 2 ;;
  esac
done

packages=()
command -v wrk >/dev/null || packages+=(wrk)
command -v curl >/dev/null || packages+=(curl)
command -v openssl >/dev/null || packages+=(openssl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || packages+=(nginx)
if ((${#packages[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: needs ${packages[*]} (apt-get install ${packages[*]})" >&2; exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet --example hello
dir=$(mktemp -d /tmp/ringpin-tls-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

if [ "$key_kind" = rsa ]; then
  key_args=(-newkey rsa:2048)
else
  key_args=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
fi
openssl req -x509 "${key_args[@]}" -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tls_port=$(free_port)
plain_port=$(free_port)

wait_for() { # url
  for _ in $(seq 100); do curl -fsk "$1" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$1 did not answer" >&2; exit 1
}

# Sum of utime+stime, in clock ticks, of the given processes and their children threads.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    # Fields 14 and 15 after the command name (which may hold spaces, inside parentheses).
    total=$((total + $(sed -E 's/^.*\) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# wrk against the TLS port; prints "requests per_second cpu_us_per_request".
measure() { # server_pids... -- wrk args...
  local servers=()
  while [ "$1" != -- ]; do servers+=("$1"); shift; done
  shift
  # A short warm-up (session caches, buffers, the CPU's frequency).
  taskset -c 0 wrk -t1 -c"$connections" -d2s "$@" "https://localhost:$tls_port/" >/dev/null
  local before after out requests rate
  before=$(cpu_ticks "${servers[@]}")
  out=$(taskset -c 0 wrk -t1 -c"$connections" -d"${seconds}s" "$@" "https://localhost:$tls_port/")
  after=$(cpu_ticks "${servers[@]}")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "<!-- wrk $*: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ') -->" >&2
  fi
  python3 -c "import os,sys; t=os.sysconf('SC_CLK_TCK'); r=int(sys.argv[1]); print(r, round(float(sys.argv[2])), round((int(sys.argv[4]) - int(sys.argv[3])) / t * 1e6 / max(r, 1), 1))" \
    "$requests" "$rate" "$before" "$after"
}

nginx_conf() { # location body
  cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  upstream ringpin { server 127.0.0.1:$plain_port; keepalive 64; }
  server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $dir/cert.pem;
    ssl_certificate_key $dir/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { $1 }
  }
}
EOF
}

# Children (the worker) of an nginx master.
nginx_pids() { echo "$1" $(pgrep -P "$1" || true); }

run_setup() { # label, then the server pids
  local label=$1; shift
  local cipher
  cipher=$(openssl s_client -connect "127.0.0.1:$tls_port" -servername localhost </dev/null 2>/dev/null |
    awk '/^New,/ {print $2 " " $5}')
  read -r ka_n ka_rate ka_cpu < <(measure "$@" --)
  read -r hs_n hs_rate hs_cpu < <(measure "$@" -- -H "Connection: close")
  echo "| $label | $cipher | $ka_rate | $ka_cpu | $hs_rate | $hs_cpu |"
}

echo "host: $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), kernel $(uname -r), key $key_kind, $connections connections, ${seconds}s per run"
echo
echo "| setup | TLS | keep-alive req/s | CPU us/req | handshakes/s | CPU us/handshake |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"

# 1. ringpin terminating TLS.
RUST_LOG=warn taskset -c 1 target/release/examples/hello --addr "127.0.0.1:$tls_port" --cores 1 \
  --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" --tls-max-handshakes 4096 &
ringpin=$!; pids+=("$ringpin")
wait_for "https://localhost:$tls_port/"
run_setup "ringpin (rustls)" "$ringpin"
kill "$ringpin"; wait "$ringpin" 2>/dev/null || true

# 2. nginx terminating TLS in front of a plain ringpin.
RUST_LOG=warn taskset -c 1 target/release/examples/hello --addr "127.0.0.1:$plain_port" --cores 1 &
ringpin=$!; pids+=("$ringpin")
nginx_conf 'proxy_pass http://ringpin; proxy_http_version 1.1; proxy_set_header Connection "";'
taskset -c 1 "$nginx" -c "$dir/nginx.conf" -p "$dir" &
master=$!; pids+=("$master")
wait_for "https://localhost:$tls_port/"
# shellcheck disable=SC2046
run_setup "nginx TLS -> ringpin" $(nginx_pids "$master") "$ringpin"
kill "$master" "$ringpin"; wait "$master" "$ringpin" 2>/dev/null || true

# 3. nginx serving directly.
nginx_conf 'return 200 "Hello, World!";'
taskset -c 1 "$nginx" -c "$dir/nginx.conf" -p "$dir" &
master=$!; pids+=("$master")
wait_for "https://localhost:$tls_port/"
# shellcheck disable=SC2046
run_setup "nginx direct (return 200)" $(nginx_pids "$master")
kill "$master"; wait "$master" 2>/dev/null || true
