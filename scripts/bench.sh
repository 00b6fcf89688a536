#!/usr/bin/env bash
# Benchmarks: export, ingest and watch against this machine's own file-system rates.
# Usage: scripts/bench.sh [--quick] [--out bench/results.json] [--work DIR] [--only vdir,csv,ingest,watch]
# --quick runs a tenth of the sizes (under 3 minutes); --only runs some parts. Prints a table;
# writes JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
only=()
out=bench/results.json
work=${SMSYNC_BENCH_DIR:-$(mktemp -d)}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=--quick ;;
    --out) out=$2; shift ;;
    --work) work=$2; shift ;;
    --only) only=(--only "$2"); shift ;;
    *) echo "usage: scripts/bench.sh [--quick] [--out FILE] [--work DIR] [--only PARTS]" >&2; exit 2 ;;
  esac
  shift
done
cargo build --release --quiet --bin smsync --example fs_baseline --example ingest_limit
# Where cargo put them: CARGO_TARGET_DIR when it is set, else ./target.
bin=${CARGO_TARGET_DIR:-target}/release
python3 scripts/bench/run.py "$bin/smsync" "$bin/examples/fs_baseline" "$work" "$out" $quick "${only[@]}"
rm -rf "$work"
