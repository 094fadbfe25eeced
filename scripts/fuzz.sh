#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default 60)
# from the committed corpus (tests/fuzz/corpus/TARGET) plus fresh seeds of valid inputs. The
# test command runs it for 10 s a target in CI; `bash scripts/fuzz.sh 600` is the long run.
# Crashes, with the input that caused them, are written to build/fuzz/artifacts/ and fail the
# script; once fixed, the input goes into tests/fuzz/corpus/TARGET/, where the replay tests of
# every build run it from then on.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
build="$root/build/fuzz"
[ "${POS_SKIP_DEPS:-}" = 1 ] || bash "$root/scripts/install-deps.sh"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_FLAGS="-O1 -g1" -DPOS_FUZZ=ON -DPOS_BUILD_APPS=OFF -DPOS_BUILD_TESTS=OFF \
  -DPOS_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
UBSAN_OPTIONS="suppressions=$root/fuzz/ubsan.supp" "$build/fuzz/make_corpus" "$build/corpus" >/dev/null
mkdir -p "$build/artifacts"
export UBSAN_OPTIONS="suppressions=$root/fuzz/ubsan.supp:print_stacktrace=1"
status=0
for target in fuzz_p2p_frame fuzz_tx_json fuzz_block_json fuzz_pem fuzz_genesis fuzz_block_apply; do
  mkdir -p "$build/corpus/$target"
  cp -n "$root/tests/fuzz/corpus/$target/"* "$build/corpus/$target/"
  echo "== $target ($seconds s)"
  if ! "$build/fuzz/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix="$build/artifacts/$target-" -print_final_stats=1 "$build/corpus/$target" \
      2>"$build/$target.log"; then
    echo "   FAILED: see $build/$target.log and $build/artifacts/; after the fix, copy the" \
      "input into tests/fuzz/corpus/$target/ so that it stays a regression test" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$target.log" | sed 's/^/   /'
done
exit $status
