#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short while, one after the other, from the h2o seeds
# and dictionary in ../shared/corpus/h2o-http1. A crash fails the script and leaves the input
# in fuzz/artifacts/TARGET/.
#
#   bash fuzz/smoke.sh            # each target ~20 s (FUZZ_SECONDS overrides)
#   FUZZ_SECONDS=300 bash fuzz/smoke.sh head
#
# Needs a nightly toolchain (cargo-fuzz builds with sanitizers) and installs cargo-fuzz
# from crates.io when it is missing. The corpora live in fuzz/corpus/TARGET (gitignored):
# the seeds are copied in at run time and never committed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
shared=../shared/corpus/h2o-http1
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(head chunked session)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz smoke: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
if [[ ! -d $shared/seeds ]]; then
  echo "fuzz smoke: $shared/seeds is missing" >&2
  exit 1
fi

echo "== building fuzz targets"
cargo +nightly fuzz build -O

for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  # -n: keep what earlier runs found; copy only seeds the corpus lacks.
  cp -n "$shared"/seeds/* "$corpus"/ 2>/dev/null || true
  echo "== fuzzing $target for ${seconds}s"
  log=fuzz/artifacts/$target.log
  mkdir -p fuzz/artifacts
  status=0
  cargo +nightly fuzz run -O "$target" "$corpus" -- \
    -max_total_time="$seconds" \
    -dict="$shared/http.dict" \
    -max_len=16384 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|Done [0-9]+ runs|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$log" || true
  if ((status != 0)); then
    tail -n 40 "$log" >&2
    echo "fuzz smoke: $target failed (exit $status); inputs in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz smoke: ${targets[*]}: no crash"
