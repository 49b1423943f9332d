#!/usr/bin/env bash
# cargo-nextest lists the same scenario tests `cargo test` runs: the scenario files are
# libtest-mimic trials, and a CI matrix that spreads them with
# `cargo nextest run --partition count:K/N` must not lose any.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "nextest-list: installing cargo-nextest"
  cargo install cargo-nextest --locked >/dev/null
fi
libtest=$(cargo test -q -p wirecheck --test scenarios -- --list 2>/dev/null | sed -n 's/: test$//p' | sort)
nextest=$(cargo nextest list -p wirecheck --test scenarios --message-format oneline 2>/dev/null \
  | sed -n 's/^wirecheck::scenarios //p' | sort)
n_lib=$(printf '%s\n' "$libtest" | grep -c . || true)
n_next=$(printf '%s\n' "$nextest" | grep -c . || true)
if [ "$n_lib" -lt 100 ]; then
  echo "nextest-list: cargo test listed only $n_lib scenario tests" >&2
  exit 1
fi
if [ "$libtest" != "$nextest" ]; then
  echo "nextest-list: cargo test lists $n_lib scenario tests, nextest $n_next; they differ:" >&2
  diff <(printf '%s\n' "$libtest") <(printf '%s\n' "$nextest") | head -20 >&2
  exit 1
fi
echo "nextest-list: nextest and cargo test list the same $n_lib scenario tests"
