#!/usr/bin/env bash
# Installs the built library into a temporary prefix, then builds and runs a consumer with
# find_package(pos) and another with pkg-config: a broken install fails here.
set -euo pipefail
build_dir="$1"
source_dir="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
cmake -S "$source_dir/consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
"$tmp/cmake/consumer" | grep -Eq '^[0-9a-f]{64}$'
libdir="$(find "$tmp/prefix" -name pos.pc -printf '%h\n' | head -n1)"
export PKG_CONFIG_PATH="$libdir"
g++ -o "$tmp/pkgconfig-consumer" "$source_dir/consumer/main.cpp" \
  $(pkg-config --cflags pos) $(pkg-config --libs --static pos)
"$tmp/pkgconfig-consumer" | grep -Eq '^[0-9a-f]{64}$'
echo "install consumer: find_package and pkg-config builds both ran"
