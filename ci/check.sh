#!/usr/bin/env bash
# The whole CI job: formatting, lints, the test suite (README's command), the corpus run.
# Usable locally too: `bash ci/check.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "toolchain"
cargo --version
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (README's test command; CI=true makes insta fail on new or changed snapshots)"
CI=true cargo test --locked

step "loom model checks (target/loom, release)"
bash ci/loom.sh

step "scenario corpus (README's run command; its last line is the plain 'N passed, N failed')"
cargo run --release --locked -p wirecheck -- run scenarios

step "JSON Schemas against the corpus and the target files (ci/schema.sh)"
bash ci/schema.sh

step "HTML report in headless Chromium (ci/html-report.sh)"
bash ci/html-report.sh

step "black-box fixtures in Python and Node (ci/targets.sh)"
bash ci/targets.sh

step "JSON-RPC 2.0 libraries (ci/jsonrpc.sh)"
bash ci/jsonrpc.sh
