#!/usr/bin/env bash
# The one-command demo: installs what is needed, builds, starts the demo network's three
# validators, replays the teaching project's flow (pos-interact demo), starts a fourth node that
# syncs everything, and shows every node agreeing. Logs and data dirs: demo-run/ (printed).
# Ctrl-C stops every node cleanly. DEMO_EXIT=1 exits after the agreement table instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
run="$root/demo-run"

say() { printf '\n==> %s\n' "$*"; }

say "installing Debian packages (if any are missing)"
bash "$root/scripts/install-deps.sh"

say "building pos-node, pos-interact and pos-wallet in $build (a few minutes the first time)"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# The nodes refuse a key file others can read (keys/README.md); cmake's configure does this too.
chmod 600 "$root"/keys/*.pem
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPOS_BUILD_TESTS=OFF \
  -DPOS_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target pos-node pos-interact pos-wallet
node="$build/apps/pos-node/pos-node"
interact="$build/apps/pos-interact/pos-interact"

rm -rf "$run"
mkdir -p "$run"
say "logs and data dirs: $run"
pids=()
stop() {
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap 'say "stopping every node"; stop; exit 0' INT TERM
trap stop EXIT

start_node() {  # name p2p rpc [more flags]
  local name=$1 p2p=$2 rpc=$3
  shift 3
  "$node" --p2p "127.0.0.1:$p2p" --rpc "127.0.0.1:$rpc" --genesis "$root/keys/genesis.json" \
    --data-dir "$run/$name" --sync-without-checkpoint "$@" >"$run/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$rpc/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "node $name did not start; see $run/$name.log" >&2
  exit 1
}

say "starting validators 1-3 (p2p 7001-7003, RPC http://127.0.0.1:5001-5003)"
start_node validator1 7001 5001 --key "$root/keys/validator1.pem"
start_node validator2 7002 5002 --key "$root/keys/validator2.pem" --peer 127.0.0.1:7001
start_node validator3 7003 5003 --key "$root/keys/validator3.pem" --peer 127.0.0.1:7001
sleep 1

say "the teaching project's flow (pos-interact demo)"
"$interact" demo --node http://127.0.0.1:5001 --keys "$root/keys"

say "starting a fourth node (no key) that syncs the chain from validator1"
start_node observer 7004 5004 --peer 127.0.0.1:7001
target=$(curl -fs http://127.0.0.1:5001/info | sed 's/.*"height":\([0-9]*\).*/\1/')
for _ in $(seq 1 300); do
  h=$(curl -fs http://127.0.0.1:5004/info | sed 's/.*"height":\([0-9]*\).*/\1/')
  [ "$h" -ge "$target" ] && break
  sleep 0.1
done

say "every node agrees"
alice=aa99a150679f9de41f2ffb544d21d2a0befcfc5aa77f9f9ae01a0c810cd7fd98
bob=4fe596fa15dd085bf8023a5b09dcc97037a4e5289c2ec3f54c8126df2bc2c3d6
field() { sed "s/.*\"$1\":\"\{0,1\}\([0-9a-f]*\).*/\1/"; }
printf '%-11s %7s  %-18s %14s %12s %12s\n' node height tip "alice balance" "alice stake" "bob balance"
for n in 1 2 3 4; do
  info=$(curl -fs "http://127.0.0.1:500$n/info")
  a=$(curl -fs "http://127.0.0.1:500$n/accounts/$alice")
  b=$(curl -fs "http://127.0.0.1:500$n/accounts/$bob")
  name=validator$n
  [ "$n" = 4 ] && name=observer
  printf '%-11s %7s  %-18s %14s %12s %12s\n' "$name" "$(echo "$info" | field height)" \
    "$(echo "$info" | field tip | cut -c1-16)" "$(echo "$a" | field balance)" \
    "$(echo "$a" | field stake)" "$(echo "$b" | field balance)"
done

if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
say "the network keeps running: open http://127.0.0.1:5001/ (the block explorer), or curl -s localhost:5001/info    (Ctrl-C stops it)"
wait
