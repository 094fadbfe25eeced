#!/usr/bin/env bash
# Builds pos-node (installing what it needs) and runs the demo network's three validators on this
# machine: p2p 127.0.0.1:7001-7003, RPC 127.0.0.1:5001-5003, data in pos-data/. Ctrl-C stops them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
bash "$root/scripts/install-deps.sh"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# The nodes refuse a key file others can read (keys/README.md); cmake's configure does this too.
chmod 600 "$root"/keys/*.pem
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPOS_BUILD_TESTS=OFF \
  -DPOS_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target pos-node
node="$build/apps/pos-node/pos-node"
cd "$root"
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for i in 1 2 3; do
  peers=()
  [ "$i" -gt 1 ] && peers=(--peer 127.0.0.1:7001)
  "$node" --p2p "127.0.0.1:700$i" --rpc "127.0.0.1:500$i" --key "keys/validator$i.pem" \
    --genesis keys/genesis.json --data-dir "pos-data/validator$i" --sync-without-checkpoint \
    "${peers[@]}" &
  pids+=($!)
done
echo "local network up: RPC on http://127.0.0.1:5001, :5002, :5003 (Ctrl-C stops it)"
wait
