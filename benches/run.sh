#!/usr/bin/env bash
# The benchmarks' one entry point: benches/run.sh SUBCOMMAND [ARGS...].
#
#   compare      ringpin's hello beside its peer servers: closed loop, pipelined, one
#                connection, idle memory, open loop (the harness; docs/benchmarks.md)
#   ab           an interleaved A/B of server commands: closed loop and pipelined,
#                CPU ns per response (docs/performance.md)
#   trips        system calls and io_uring operations per response, from perf's tracepoints
#   production   p50/p99 beside 1,000 slow clients, and a 2x overload with and without
#                load shedding (docs/operations.md)
#   idle         memory per idle keep-alive connection, from the server's VmRSS
#   baseline     hello beside a bare glommio + httparse loop: req/s, p50/p99, CPU per request
#   static-files the static_files example beside nginx (sendfile on), 1 KiB / 64 KiB / 4 MiB
#                files: responses/s and CPU per response (docs/static-files.md)
#   services     the fastjson_api and cache_server examples beside actix-web and axum
#                versions of them, route by route, and connection churn (docs/benchmarks.md)
#
# `benches/run.sh SUBCOMMAND --help` gives each one's options. Every subcommand pins the
# server to CPU 1 and the load to CPU 0 (so it needs two CPUs), builds in release mode what
# it runs unless told --skip-build (where it has it), and shares benches/lib.sh. Wrap a run in
# `flock /tmp/ringpin-bench.lock` on a machine where other benchmarks may run.
set -euo pipefail
BENCHES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | sed '/^[^#]/d; s/^# \{0,1\}//'; }

subcommand="${1:-}"
case "$subcommand" in
    compare) shift; exec "$BENCHES/harness/run.sh" "$@" ;;
    ab | trips | production | idle | baseline) shift; exec "$BENCHES/cmd/$subcommand.sh" "$@" ;;
    static-files) shift; exec "$BENCHES/cmd/static_files.sh" "$@" ;;
    services) shift; exec "$BENCHES/cmd/services.sh" "$@" ;;
    -h | --help | help) usage; exit 0 ;;
    "") usage >&2; exit 2 ;;
    *) echo "benches/run.sh: unknown subcommand '$subcommand' (compare, ab, trips, production, idle, baseline, static-files, services)" >&2; exit 2 ;;
esac
