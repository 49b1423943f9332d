#!/usr/bin/env bash
# The JSON-RPC 2.0 profile against real libraries (called by ci/check.sh):
# 1. each adapter's own loopback tests (pytest, node --test, cargo test of the jsonrpsee
#    workspace), which pin what each library does;
# 2. the matrix: every target × scenarios/jsonrpc (the rows of versions public reports were
#    filed against only on the scenarios of their reports: FILED_SAMPLE in jsonrpc-env.sh;
#    `bash ci/jsonrpc-matrix.sh` runs every cell). The reference client and server must
#    pass every applicable scenario; no cell may be ERROR (a broken adapter or target);
#    the libraries' FAILED cells are findings, compared with docs/jsonrpc-matrix.md and
#    reported (a changed verdict is printed, not fatal: library behaviour under real time
#    is what the matrix measures, see docs/jsonrpc-matrix.md for its flakiness figures).
source "$(dirname "$0")/jsonrpc-env.sh"

step "JSON-RPC adapters' own tests: Python (pytest)"
(cd fixtures/targets/jsonrpc/python && .venv/bin/python -m pytest -q -p no:cacheprovider test_adapters.py test_web3_6_and_mcp.py)

step "JSON-RPC adapters' own tests: Node (node --test)"
(cd fixtures/targets/jsonrpc/node && npm test --silent)

step "JSON-RPC adapters' own tests: Rust (jsonrpsee workspace)"
cargo test --release --locked -q --manifest-path fixtures/targets/jsonrpc/rust/Cargo.toml \
  --target-dir "${JSONRPSEE_TARGET_DIR:-fixtures/targets/jsonrpc/rust/target}"

step "the JSON-RPC matrix ($(( ${#TARGETS[@]} - ${#FILED_TARGETS[@]} )) targets × scenarios/jsonrpc; ${#FILED_TARGETS[@]} filed-version targets × their reports' scenarios)"
out="$(mktemp -d)"
set +e
"$WC" run scenarios/jsonrpc "${CURRENT_TARGET_ARGS[@]}" --jobs 2 >"$out/run.txt" 2>"$out/explain.txt"
"$WC" run scenarios/jsonrpc "${FILED_TARGET_ARGS[@]}" "${FILED_SAMPLE[@]}" --jobs 2 >>"$out/run.txt" 2>>"$out/explain.txt"
set -e
# (the matrix's own "N passed, N failed" line is left out: its FAILED cells are findings, not CI failures)
grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$out/run.txt"
# The reference client and server pass every applicable scenario.
if grep -E '^jsonrpc/\S+\s+(refclient-jsonrpc|refserver)\s' "$out/run.txt" | grep -vE '\s(OK|N/A)\s'; then
  echo "the reference JSON-RPC client or server failed a scenario (above); details:" >&2
  cat "$out/explain.txt" >&2
  exit 1
fi
if grep -E '^jsonrpc/\S+\s+\S+\s+ERROR' "$out/run.txt"; then
  echo "an adapter or target is broken (ERROR above); details:" >&2
  cat "$out/explain.txt" >&2
  exit 1
fi
# Verdicts against the committed matrix: changes are printed for review.
awk '$1 ~ /^jsonrpc\// {print $1, $2, $3}' "$out/run.txt" | sort > "$out/now.txt"
[ -f docs/jsonrpc-matrix.md ] || { echo "no docs/jsonrpc-matrix.md yet: bash ci/jsonrpc-matrix.sh writes it"; exit 0; }
python3 - "$out/now.txt" docs/jsonrpc-matrix.md <<'PY'
import sys, re
now = {}
for line in open(sys.argv[1]):
    s, t, v = line.split()
    now[(s, t)] = v
doc = open(sys.argv[2]).read().splitlines()
head = next((l for l in doc if l.startswith("| scenario |")), None)
if head is None:
    print("docs/jsonrpc-matrix.md has no matrix; regenerate it with bash ci/jsonrpc-matrix.sh")
    sys.exit(0)
targets = [c.strip() for c in head.strip("|").split("|")][1:]
changed = 0
for l in doc:
    m = re.match(r"\| `(jsonrpc/[^`]+)` \|(.*)\|$", l)
    if not m:
        continue
    cells = [c.strip().split(" ")[0] for c in m.group(2).split("|")]
    for t, c in zip(targets, cells):
        v = now.get((m.group(1), t))
        if v is not None and c != v:
            changed += 1
            print(f"changed since docs/jsonrpc-matrix.md: {m.group(1)} × {t}: {c} -> {v}")
print(f"{changed} verdict(s) differ from docs/jsonrpc-matrix.md")
PY
