#!/usr/bin/env bash
# Opt-in: the multi-node tests (in-process peer networks, real pos-node processes) built with
# ThreadSanitizer. Reports of data races fail the run (tests/tsan.supp lists what is not ours).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/tsan}"
bash "$root/scripts/install-deps.sh"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1 -fsanitize=thread" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DPOS_BUILD_PYTHON=OFF -DPOS_BUILD_BENCH=OFF \
  -DPOS_BUILD_TESTS=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target pos_tests pos_functional_tests pos-node pos-wallet \
  pos-interact
# The fault scenarios are left out: four TSan-slowed nodes on a small machine miss their
# 300 ms slots, which tests the machine, not the code.
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp" \
  ctest --test-dir "$build" --output-on-failure -j "$(nproc)" \
  -R "p2p|three nodes|leader|SIGKILL|hostile|adversar|partition" -E "corpus|faults"
