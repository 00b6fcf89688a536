#!/usr/bin/env bash
# Interop suite: proves smsync's files work in real third-party clients (icalendar, vobject,
# khard, todoman; Radicale and vdirsyncer as they land). Installs them, pinned, into a
# virtualenv (.venv-interop, reused when its requirements are unchanged) and runs
# scripts/interop/suite.py against the smsync binary.
# Usage: scripts/interop.sh [path/to/smsync]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --quiet
  bin=target/debug/smsync
fi

venv=${SMSYNC_VENV:-.venv-interop}
req=scripts/interop/requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.requirements"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements"
fi

"$venv/bin/python" scripts/interop/suite.py "$(realpath "$bin")"
