#!/usr/bin/env bash
# Opt-in soak: 4 real validators under steady load for SECONDS (default 600) with a random
# perturbation every few seconds (SIGKILL and restart, SIGSTOP/SIGCONT, a partition, a restart
# without peers); prints throughput, the largest resident memory of any node, and every
# invariant's verdict. Uses the test build (scripts/test.sh builds it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/test}"
if [ ! -x "$build/tests/pos_functional_tests" ]; then
  bash "$root/scripts/install-deps.sh" >/dev/null
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOS_BUILD_TESTS=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" --target pos_functional_tests pos-node
fi
POS_SOAK_SECONDS="${1:-600}" "$build/tests/pos_functional_tests" "[.soak]" --durations yes
