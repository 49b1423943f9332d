#!/usr/bin/env bash
# Mutation testing: how many deliberately broken versions of the code the test suite
# notices. Not part of .ci/run (a full run is ~2,400 mutants; at 1-2 minutes each on a
# 2-core machine that is days). Run a slice, or spread shards over machines:
#
#   bash ci/mutants.sh                                  # everything (very long)
#   bash ci/mutants.sh -f harness/wirecheck/src/checkers/input.rs
#   bash ci/mutants.sh --shard 3/16                     # one of 16 slices
#
# --test-workspace=true judges each mutant by the whole workspace's tests (by default
# cargo-mutants runs only the mutated package's tests, which misses e.g. the scenario
# corpus catching a mutant in wirecheck-core). Results land in mutants.out/ (caught.txt,
# missed.txt, timeout.txt, unviable.txt). The score is caught / (caught + missed).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
  cargo install cargo-mutants --locked
fi
cargo mutants --test-workspace=true --timeout-multiplier 3 "$@" || true
out=mutants.out
caught=$(wc -l < "$out/caught.txt" 2>/dev/null || echo 0)
missed=$(wc -l < "$out/missed.txt" 2>/dev/null || echo 0)
timeout=$(wc -l < "$out/timeout.txt" 2>/dev/null || echo 0)
unviable=$(wc -l < "$out/unviable.txt" 2>/dev/null || echo 0)
total=$((caught + missed))
echo
echo "mutants: caught $caught, missed $missed, timeout $timeout, unviable $unviable"
if [[ $total -gt 0 ]]; then
  echo "score: $((100 * caught / total))% of viable mutants caught"
fi
if [[ $missed -gt 0 ]]; then
  echo "missed (each is a change no test noticed):"
  sed 's/^/  /' "$out/missed.txt"
fi
