#!/usr/bin/env bash
# The test command: installs what the tests need on a bare machine, then runs every test.
#   tests/run.sh            # all of them
#   tests/run.sh --test api # any cargo test arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."

# tests/proxy.rs puts Debian's haproxy in front of two servers; it fails (never skips)
# without it.
if ! command -v haproxy >/dev/null && ! [ -x /usr/sbin/haproxy ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  else
    echo "tests/run.sh: haproxy is missing; install it (apt-get install haproxy) or run as root" >&2
    exit 1
  fi
fi

cargo test "$@"
