#!/usr/bin/env bash
# The black-box fixtures in other languages (fixtures/targets/{python,node}), run as
# targets: each correct fixture must pass every applicable scenario of the catalog, and
# each of its flaws (WIRECHECK_FLAW) must be killed by some scenario (`wirecheck zoo
# --target`, which runs the correct target first). Sets up its own Python venv and npm
# packages (pinned: requirements.txt, package-lock.json). Called by ci/check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "fixture environments (python venv, npm ci)"
command -v python3 >/dev/null || { echo "python3 is needed for the Python fixtures" >&2; exit 1; }
if ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "node/npm missing: installing Debian's nodejs and npm"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  else
    echo "node and npm are needed for the Node fixture; on Debian: apt-get install -y nodejs npm" >&2
    exit 1
  fi
fi
python3 -m venv --help >/dev/null 2>&1 || {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  fi
}
bash fixtures/targets/python/setup.sh
bash fixtures/targets/node/setup.sh
fixtures/targets/python/.venv/bin/python -c 'import websockets; print("python websockets", websockets.__version__)'
node -e 'console.log("node ws", require("./fixtures/targets/node/node_modules/ws/package.json").version)'

step "the Node fixture's own loopback tests (npm test)"
(cd fixtures/targets/node && npm test --silent)

step "the Python client adapter's own tests (test_adapter.py, beside the reference adapter)"
cargo build --locked -q -p wirecheck-reference --bins
fixtures/targets/python/.venv/bin/python fixtures/targets/python/test_adapter.py

step "build wirecheck (release)"
cargo build --release --locked -p wirecheck
WC="${CARGO_TARGET_DIR:-target}/release/wirecheck"

targets=(
  fixtures/targets/python/broker.yaml
  fixtures/targets/node/broker.yaml
  fixtures/targets/python/client.yaml
)
for t in "${targets[@]}"; do
  step "kill matrix of $t (the correct target over the catalog, then each flaw)"
  "$WC" zoo --target "$t" --jobs 4 --retry-failed
done
