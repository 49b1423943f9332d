#!/usr/bin/env bash
# The JSON Schemas (schemas/*.schema.json, `wirecheck schema`) against real files, read as
# YAML 1.2 the way editors read them: every corpus scenario and every target file must
# validate, and the malformed fixtures whose defect a schema can express must not (so the
# schema has teeth). `tests/docs.rs` keeps the schema files equal to what the vocabulary
# generates. Sets up its own venv (pinned). Called by ci/check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CARGO_TARGET_DIR:-target}/schema-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check jsonschema==4.23.0 ruamel.yaml==0.18.6
fi
py="$venv/bin/python"
# Defects of fixtures/malformed/ that are a matter of shape (a schema can reject them); the
# rest (unknown hosts, ids used before they are defined, ...) only the loader can judge.
shape_defects=(
  bad-duration duplicate-host duplicate-rule-in-expect-violations duration-without-unit
  empty-hosts first-one-host host-action-without-host jitter-out-of-range jsonrpc-batch-call-timeout
  jsonrpc-empty-batch jsonrpc-unknown-protocol missing-required-field partition-one-host
  proxy-bad-probability proxy-nth-zero proxy-reorder-window-too-small proxy-unknown-action
  proxy-unknown-corruption step-with-two-keys type-mismatch unknown-action
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
