#!/usr/bin/env bash
# Benchmarks: export, ingest and watch against this machine's own file-system rates.
# Usage: scripts/bench.sh [--quick] [--out bench/results.json] [--work DIR]
#        [--only vdir,csv,ingest,watch,idle,reconcile,pst,peer] [--scale K]
#        [--db postgres://... [--stats]]
# --quick runs a tenth of the sizes (under 3 minutes; a twentieth with --db), --scale K a K-th;
# --only runs some parts. Prints a table; writes JSON. --db runs every part on SQLite and on
# PostgreSQL (a fresh database on that server for each part; the role must be allowed to create
# databases) and prints both side by side (default output bench/results-pg.json); --stats adds
# what pg_stat_statements saw.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
only=()
scale=()
out=""
dburl=""
stats=""
work=${SMSYNC_BENCH_DIR:-$(mktemp -d)}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=--quick ;;
    --scale) scale=(--scale "$2"); shift ;;
    --out) out=$2; shift ;;
    --work) work=$2; shift ;;
    --only) only=(--only "$2"); shift ;;
    --db) dburl=$2; shift ;;
    --stats) stats=--stats ;;
    *) echo "usage: scripts/bench.sh [--quick] [--out FILE] [--work DIR] [--only PARTS] [--scale K] [--db URL [--stats]]" >&2; exit 2 ;;
  esac
  shift
done
db=()
if [ -n "$dburl" ]; then
  # A server that cannot be used stops the run before anything is built.
  python3 scripts/bench/pgserver.py check "$dburl" || exit 1
  out=${out:-bench/results-pg.json}
  db=(--db "$dburl" $stats)
elif [ -n "$stats" ]; then
  echo "scripts/bench.sh: --stats goes with --db URL" >&2
  exit 2
fi
out=${out:-bench/results.json}
# The peer, vdirsyncer, runs from the interop virtualenv (built as scripts/interop.sh builds
# it, pinned by scripts/interop/requirements.txt; reused while those are unchanged). With
# --db only smsync's side of that step runs.
if [ ${#db[@]} -eq 0 ] && { [ ${#only[@]} -eq 0 ] || [[ ",${only[1]}," == *,peer,* ]]; }; then
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
python3 scripts/bench/run.py "$bin/smsync" "$bin/examples/fs_baseline" "$work" "$out" $quick \
  ${scale[@]+"${scale[@]}"} ${only[@]+"${only[@]}"} ${db[@]+"${db[@]}"}
rm -rf "$work"
