#!/usr/bin/env bash
# Sourced by ci/jsonrpc.sh and ci/jsonrpc-matrix.sh: sets up every JSON-RPC target
# (fixtures/targets/jsonrpc: a Python venv, npm packages, the jsonrpsee workspace, the
# reference binaries) and lists the target files in TARGETS. Installs python3-venv,
# nodejs and npm from Debian when they are missing (CI runs as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

need_apt() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "missing: $*; on Debian: apt-get install -y $*" >&2
    exit 1
  fi
}

step "JSON-RPC target environments (python venv, npm ci, jsonrpsee build)"
command -v python3 >/dev/null || need_apt python3
python3 -m venv --help >/dev/null 2>&1 || need_apt python3-venv
{ command -v node >/dev/null && command -v npm >/dev/null; } || need_apt nodejs npm
bash fixtures/targets/jsonrpc/python/setup.sh
bash fixtures/targets/jsonrpc/node/setup.sh
bash fixtures/targets/jsonrpc/rust/build.sh -q
cargo build --release --locked -q -p wirecheck -p wirecheck-reference --bins
WC="${CARGO_TARGET_DIR:-target}/release/wirecheck"
export WIRECHECK_TARGET_DIR="$(cd "$(dirname "$WC")" && pwd)"

TARGETS=(
  fixtures/targets/jsonrpc/refclient.yaml
  fixtures/targets/jsonrpc/refserver.yaml
  fixtures/targets/jsonrpc/python/jsonrpc-websocket.yaml
  fixtures/targets/jsonrpc/python/web3.yaml
  fixtures/targets/jsonrpc/python/web3-v6.yaml
  fixtures/targets/jsonrpc/python/mcp.yaml
  fixtures/targets/jsonrpc/python/mcp-1.4.yaml
  fixtures/targets/jsonrpc/node/rpc-websockets.yaml
  fixtures/targets/jsonrpc/node/json-rpc-2.0.yaml
  fixtures/targets/jsonrpc/node/viem.yaml
  fixtures/targets/jsonrpc/node/ethers.yaml
  fixtures/targets/jsonrpc/node/mcp-sdk.yaml
  fixtures/targets/jsonrpc/rust/jsonrpsee-client.yaml
  fixtures/targets/jsonrpc/node/rpc-websockets-server.yaml
  fixtures/targets/jsonrpc/rust/jsonrpsee-server.yaml
)
TARGET_ARGS=()
for t in "${TARGETS[@]}"; do TARGET_ARGS+=(--target "$t"); done
# The rows of versions public reports were filed against (docs/jsonrpc-findings.md). The
# matrix runs them on every scenario; CI (ci/jsonrpc.sh) only on the scenarios that show
# their reports (FILED_SAMPLE), since the rest of their row costs minutes of timeouts
# (web3 6 closes its socket on every error, so calls wait out 30 s expectations).
FILED_TARGETS=(
  fixtures/targets/jsonrpc/python/web3-v6.yaml
  fixtures/targets/jsonrpc/python/mcp-1.4.yaml
)
FILED_SAMPLE=(--include 'jsonrpc/reverse-order' --include 'jsonrpc/unknown-id' --include 'jsonrpc/named-params-*')
CURRENT_TARGET_ARGS=()
for t in "${TARGETS[@]}"; do
  [[ " ${FILED_TARGETS[*]} " == *" $t "* ]] || CURRENT_TARGET_ARGS+=(--target "$t")
done
FILED_TARGET_ARGS=()
for t in "${FILED_TARGETS[@]}"; do FILED_TARGET_ARGS+=(--target "$t"); done
