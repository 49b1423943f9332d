#!/usr/bin/env bash
# Loom model checking of wirecheck-core's concurrent structures: the pending map
# (harness/core/tests/loom_pending.rs), the broker's assignment registry
# (harness/core/tests/loom_broker.rs) and the multiplexer core shared by the reader,
# API callers and the removal hook (harness/core/tests/loom_client.rs). Usable locally
# and in CI: `bash ci/loom.sh`.
#
# Builds in release into its own target dir (target/loom): `--cfg loom` applies to every
# crate of the build, so it must not share the normal target dir. Each model prints one
# line with its threads, preemption bound, interleavings explored and wall time; the
# summary at the end repeats them. Every model is exhaustive (see docs/loom.md);
# exporting LOOM_MAX_PREEMPTIONS bounds them all, for experiments.
# LOOM_TARGET_DIR, when set, replaces target/loom (e.g. a target dir shared by worktrees).
# About 2 minutes on a 2-core machine from a cold target dir, most of it the build; the
# models take about 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# The planted-race tests panic on purpose: keep their output short.
export RUST_BACKTRACE=0
unset LOOM_LOG LOOM_LOCATION LOOM_CHECKPOINT_FILE LOOM_MAX_PERMUTATIONS LOOM_MAX_DURATION

if [[ -n "${LOOM_MAX_PREEMPTIONS:-}" ]]; then
  echo "note: LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS} overrides every model's own bound"
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT

start=$(date +%s)
echo "=== loom: build + run (release, target/loom) ($(date -u +%H:%M:%S))"
# --test-threads=1: one model at a time, so each model's time is its own.
status=0
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}" \
  cargo test --locked -p wirecheck-core --release \
  --test loom_pending --test loom_broker --test loom_client \
  -- --nocapture --test-threads=1 2>&1 | tee "$out" || status=$?
end=$(date +%s)

echo
echo "=== loom summary (interleavings explored and wall time per model)"
grep -oE 'loom model .*' "$out" | sed 's/^loom model /  /' || true
echo "  (planted_race_* must stop on a failure: they are #[should_panic];"
echo "   the 'test result' lines above say whether every test, these included, passed)"
echo "  total wall time including the build: $((end - start))s"
if [[ $status -ne 0 ]]; then
  echo "loom: FAILED (cargo test exited $status)" >&2
  exit "$status"
fi
echo "loom: ok"
