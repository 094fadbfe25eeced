#!/usr/bin/env bash
# Fails when a C++ source differs from what clang-format (with the repo's .clang-format) writes.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check-format: clang-format not installed" >&2
  exit 1
fi
git ls-files '*.h' '*.cc' '*.cpp' | xargs clang-format --dry-run -Werror
echo "check-format: all sources formatted"
