#!/usr/bin/env bash
# The README's test command: installs dependencies, configures, builds and runs every test.
# CI=true turns warnings into errors. BUILD_DIR and JOBS may be overridden.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/test}"
jobs="${JOBS:-$(nproc)}"

bash "$root/scripts/install-deps.sh"

werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPOS_WERROR="$werror" -DPOS_BUILD_TESTS=ON -DPOS_BUILD_BENCH=ON \
  -DPOS_BUILD_PYTHON=ON -DPython3_EXECUTABLE=/usr/bin/python3 "${launcher[@]}"
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
