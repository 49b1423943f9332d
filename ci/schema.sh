#!/usr/bin/env bash
# The JSON Schemas (schemas/*.schema.json, `wirecheck schema`) against real files, read as
# YAML 1.2 the way editors read them: every corpus scenario and every target file must
# validate, and the malformed fixtures whose defect a schema can express must not (so the
# schema has teeth). `tests/schema.rs` keeps the schema files equal to what the code
# generates. Then the report files of a real run: `--junit` against schemas/junit.xsd,
# `--json` against schemas/report-index.schema.json, each with broken copies that must be
# rejected. Sets up its own venv (pinned). Called by ci/check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-target}/schema-venv"
if ! "$venv/bin/python" -c "import jsonschema, ruamel.yaml, xmlschema" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check jsonschema==4.23.0 ruamel.yaml==0.18.6 xmlschema==4.3.2
fi
py="$venv/bin/python"
# Defects of fixtures/malformed/ that are a matter of shape (a schema can reject them); the
# rest (unknown hosts, ids used before they are defined, ...) only the loader can judge.
shape_defects=(
  bad-duration duplicate-host duplicate-rule-in-expect-violations duration-without-unit
  empty-hosts first-one-host host-action-without-host jitter-out-of-range jsonrpc-batch-call-timeout
  jsonrpc-empty-batch jsonrpc-unknown-protocol missing-required-field partition-one-host
  proxy-bad-probability proxy-nth-zero proxy-reorder-window-too-small proxy-unknown-action
  proxy-unknown-corruption relay-duplicate-backend relay-empty-backends
  relay-max-attempts-zero relay-unknown-field step-with-two-keys type-mismatch unknown-action
  unknown-fails-kind unknown-field-in-client unknown-field-in-host unknown-field-in-step
  unknown-global-step unknown-host-kind unknown-rule-in-expect-violations unknown-rule
  unknown-top-level-field nemesis-unknown-kind nemesis-messages-bad-rate
)
invalid=()
for d in "${shape_defects[@]}"; do invalid+=("fixtures/malformed/$d.yaml"); done
mapfile -t scenarios < <(find scenarios fixtures/cli -name '*.yaml' | sort)
mapfile -t targets < <(find fixtures/targets -name '*.yaml' -not -path '*/node_modules/*' | sort)
"$py" ci/schema_check.py schemas/scenario.schema.json --valid "${scenarios[@]}" --invalid "${invalid[@]}"
"$py" ci/schema_check.py schemas/target.schema.json --valid "${targets[@]}"

# The report files of a real run, with every kind of outcome: OK, FAILED and INVALID in
# simulation, N/A against a target (the reference broker binary on a scenario with no broker).
cargo build --release --locked -q -p wirecheck -p wirecheck-reference --bins
wc="${CARGO_TARGET_DIR:-target}/release/wirecheck"
rep="$(mktemp -d)"
trap 'rm -rf "$rep"' EXIT
mkdir -p "$rep/scenarios/mux"
cp fixtures/cli/scenarios/mux/duplicate-response.yaml "$rep/scenarios/mux/"
sed -e 's|^name: mux/duplicate-response|name: mux/fails-on-purpose|' -e 's/duplicates_dropped: 1/duplicates_dropped: 2/' \
  fixtures/cli/scenarios/mux/duplicate-response.yaml > "$rep/scenarios/mux/fails-on-purpose.yaml"
cp fixtures/malformed/unknown-field-in-step.yaml "$rep/scenarios/mux/invalid-on-purpose.yaml"
set +e
"$wc" run "$rep/scenarios" --junit "$rep/sim.xml" --json "$rep/sim.json" >"$rep/sim.txt" 2>&1
sim=$?
"$wc" run "$rep/scenarios/mux/duplicate-response.yaml" --target fixtures/targets/refbroker.yaml \
  --junit "$rep/target.xml" --json "$rep/target.json" >"$rep/target.txt" 2>&1
target=$?
set -e
if [ "$sim" != 2 ] || [ "$target" != 0 ]; then
  echo "expected exit codes 2 (an INVALID file) and 0 (N/A), got $sim and $target:" >&2
  cat "$rep/sim.txt" "$rep/target.txt" >&2
  exit 1
fi
for v in OK FAILED INVALID; do
  grep -q "\"$v\"" "$rep/sim.json" || { echo "no $v case in the simulation run:" >&2; cat "$rep/sim.txt" >&2; exit 1; }
done
grep -q '"N/A"' "$rep/target.json" || { echo "no N/A case in the target run:" >&2; cat "$rep/target.txt" >&2; exit 1; }
# A broken copy of the index (an unknown verdict) must be rejected.
"$py" -c 'import json, sys
index = json.load(open(sys.argv[1]))
case = next(iter(next(iter(index["targets"].values())).values()))
case["verdict"] = "MAYBE"
json.dump(index, open(sys.argv[2], "w"))' "$rep/sim.json" "$rep/broken.json"
"$py" ci/schema_check.py schemas/report-index.schema.json --valid "$rep/sim.json" "$rep/target.json" --invalid "$rep/broken.json"
"$py" ci/report_check.py schemas/junit.xsd "$rep/sim.xml" "$rep/target.xml"
