#!/usr/bin/env bash
# The test command: installs what the tests need on a bare machine, then runs every test.
#   tests/run.sh            # all of them, then the live tests again on glommio's sockets
#   tests/run.sh --test api # any cargo test arguments pass through (one pass, RINGPIN_IO
#                           # as set: auto, ring or glommio)
set -euo pipefail
cd "$(dirname "$0")/.."

# tests/proxy.rs puts Debian's haproxy and nginx in front of ringpin; tests/tls.rs talks
# to it with curl and openssl s_client. They fail (never skip) without them.
test_packages=()
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || test_packages+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || test_packages+=(nginx)
command -v curl >/dev/null || test_packages+=(curl)
command -v openssl >/dev/null || test_packages+=(openssl)
if ((${#test_packages[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${test_packages[@]}" >/dev/null
  else
    echo "tests/run.sh: ${test_packages[*]} missing; install (apt-get install ${test_packages[*]}) or run as root" >&2
    exit 1
  fi
fi

cargo test "$@"

# The tracing layer is behind its feature (tests/trace.rs compiles to nothing without it).
if [ "$#" -eq 0 ]; then
  cargo test --features tracing --test trace
fi

# The first pass ran connections on the shard's own io_uring (RINGPIN_IO=auto); the
# integration tests run once more on glommio's sockets, the fallback path, so both stay
# tested (about a minute: only the test binaries run again, nothing is rebuilt).
if [ "$#" -eq 0 ]; then
  RINGPIN_IO=glommio cargo test --tests
fi
