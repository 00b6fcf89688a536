#!/usr/bin/env bash
# Runs every test of smsync: formatting, lints, the Rust unit and integration tests, and
# (when present) the interop suite against real third-party clients.
# Usage: scripts/test.sh        (from anywhere; CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if cargo fmt --version >/dev/null 2>&1; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
else
  echo "note: rustfmt is not installed; formatting not checked"
fi

if cargo clippy --version >/dev/null 2>&1; then
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --all-targets --quiet -- -D warnings
else
  echo "note: clippy is not installed; lints not checked"
fi

# The HTML report's test loads the report in a real browser (tests/report.rs).
if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (headless browser for the report test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

step "cargo test"
cargo test --all-targets

if [ -x scripts/interop.sh ]; then
  step "interop suite"
  scripts/interop.sh
fi
