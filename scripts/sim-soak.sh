#!/usr/bin/env bash
# Opt-in simulator soak: N random seeds (default 100) of each scenario in examples/sim (but the
# 200-validator one, which is a figure, not a soak), starting from a random seed. Prints each
# failing seed with its scenario: `pos-sim --scenario FILE --seed S` replays it exactly, trace
# included. Exit 1 if any seed failed. Uses the test build (scripts/test.sh builds it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/test}"
sim="$build/apps/pos-sim/pos-sim"
if [ ! -x "$sim" ]; then
  bash "$root/scripts/install-deps.sh" >/dev/null
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOS_BUILD_TESTS=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" --target pos-sim
fi
seeds="${1:-100}"
start="${SIM_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}"
failed=0
for scenario in "$root"/examples/sim/*.json; do
  case "$scenario" in *wan-200.json) continue ;; esac
  code=0
  out="$("$sim" --scenario "$scenario" --seed "$start" --seeds "$seeds" 2>&1)" || code=$?
  echo "$(basename "$scenario"): $(printf '%s\n' "$out" | tail -n 1) (exit $code)"
  if [ "$code" -ne 0 ]; then
    failed=1
    printf '%s\n' "$out" | grep -A3 'VIOLATION' | head -40
  fi
done
exit "$failed"
