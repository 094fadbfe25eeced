#!/usr/bin/env bash
# The README's test command: installs dependencies, then runs three stages:
#   main      configure, build and run every test (unit, functional, browser, Python, install)
# Before each stage's ctest run, scripts/audit-tests.py checks that ctest runs every Catch2 test
# case exactly once, by its own name (a test that is registered wrongly runs nothing).
#   sanitize  the unit and functional suites again, built with ASan + UBSan
#   fuzz      each libFuzzer target for 10 s (scripts/fuzz.sh 10)
# CI=true turns warnings into errors. POS_TEST_STAGES picks stages (default: all three);
# BUILD_DIR and JOBS may be overridden.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/test}"
jobs="${JOBS:-$(nproc)}"
stages="${POS_TEST_STAGES:-main sanitize fuzz}"

bash "$root/scripts/install-deps.sh"

werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
stage() { printf '\n==== test stage: %s\n' "$1"; }

for s in $stages; do
  case "$s" in
    main)
      stage "main build and every test"
      cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPOS_WERROR="$werror" -DPOS_BUILD_TESTS=ON -DPOS_BUILD_BENCH=ON \
        -DPOS_BUILD_PYTHON=ON -DPython3_EXECUTABLE=/usr/bin/python3 "${launcher[@]}"
      cmake --build "$build" -j "$jobs"
      python3 "$root/scripts/audit-tests.py" "$build"
      ctest --test-dir "$build" --output-on-failure -j "$jobs"
      ;;
    sanitize)
      stage "unit and functional suites under ASan + UBSan"
      asan="$build-asan"
      # -O1 -g1: quicker to build than -O2 -g, and still line numbers in every report.
      cmake -S "$root" -B "$asan" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" \
        -DPOS_SANITIZE=ON \
        -DPOS_WERROR="$werror" -DPOS_BUILD_TESTS=ON -DPOS_BUILD_BENCH=OFF -DPOS_BUILD_PYTHON=OFF \
        "${launcher[@]}"
      cmake --build "$asan" -j "$jobs"
      python3 "$root/scripts/audit-tests.py" "$asan"
      # The browser, install, format, docs and benchmark tests check nothing a sanitizer adds to.
      ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        ctest --test-dir "$asan" --output-on-failure -j "$jobs" \
        -E "^(clang_format|install_consumer|explorer_browser|test_registration_audit|doc_.*|pos_bench_.*)$"
      ;;
    fuzz)
      stage "each fuzz target for 10 s"
      POS_SKIP_DEPS=1 bash "$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-10}"
      ;;
    *)
      echo "test.sh: unknown stage \"$s\" (main, sanitize, fuzz)" >&2
      exit 2
      ;;
  esac
done
