#!/usr/bin/env bash
# Benchmarks: export, ingest and watch against this machine's own file-system rates.
# Usage: scripts/bench.sh [--quick] [--out bench/results.json] [--work DIR]
#        [--only vdir,csv,ingest,watch,idle,reconcile,pst,peer]
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
# The peer, vdirsyncer, runs from the interop virtualenv (built as scripts/interop.sh builds
# it, pinned by scripts/interop/requirements.txt; reused while those are unchanged).
if [ ${#only[@]} -eq 0 ] || [[ ",${only[1]}," == *,peer,* ]]; then
  venv=${SMSYNC_VENV:-.venv-interop}
  req=scripts/interop/requirements.txt
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.requirements"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.requirements"
  fi
  only+=(--venv "$venv")
fi
cargo build --release --quiet --bin smsync --example fs_baseline --example ingest_limit
# Where cargo put them: CARGO_TARGET_DIR when it is set, else ./target.
bin=${CARGO_TARGET_DIR:-target}/release
python3 scripts/bench/run.py "$bin/smsync" "$bin/examples/fs_baseline" "$work" "$out" $quick ${only[@]+"${only[@]}"}
rm -rf "$work"
