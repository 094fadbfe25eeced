#!/usr/bin/env bash
# Installs the built project into a temporary prefix, then, against that install only:
# builds and runs a consumer with find_package(pos) and with pkg-config, builds and runs each
# example of examples/ (one of them following the installed pos-node), and runs the Python
# example with the installed pypos module. A broken install fails here.
set -euo pipefail
build_dir="$1"
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
node_pid=""
# Each check that passes says so; the last line counts them, and a failure is counted too.
passed=0
skipped=0
ok() {
  passed=$((passed + 1))
  echo "install: ok $passed - $1"
}
cleanup() {
  local status=$?
  [ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  rm -rf "$tmp"
  if [ "$status" -eq 0 ]; then
    echo "install: $passed passed, 0 failed, $skipped skipped"
  else
    echo "install: $passed passed, 1 failed, $skipped skipped"
  fi
}
trap cleanup EXIT
prefix="$tmp/prefix"
cmake --install "$build_dir" --prefix "$prefix" >/dev/null

consumer="$source_dir/tests/install/consumer"
cmake -S "$consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
"$tmp/cmake/consumer" | grep -E '^[0-9a-f]{64}$' >/dev/null
ok "a find_package(pos) consumer builds and runs"
libdir="$(find "$prefix" -name pos.pc -printf '%h\n' | head -n1)"
export PKG_CONFIG_PATH="$libdir"
g++ -o "$tmp/pkgconfig-consumer" "$consumer/main.cpp" \
  $(pkg-config --cflags pos) $(pkg-config --libs --static pos)
"$tmp/pkgconfig-consumer" | grep -E '^[0-9a-f]{64}$' >/dev/null
ok "a pkg-config consumer builds and runs"

for example in sign_transaction simulate_validators follow_node; do
  cmake -S "$source_dir/examples/$example" -B "$tmp/$example" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
  cmake --build "$tmp/$example" >/dev/null
done
"$tmp/sign_transaction/sign_transaction" | grep "verified   yes; for another chain: refused" >/dev/null
ok "examples/sign_transaction"
"$tmp/simulate_validators/simulate_validators" 3000 | grep "3000 slots, chain height 3000" >/dev/null
ok "examples/simulate_validators"
# The examples of docs/library.md ("```cpp compile" blocks), compiled and run.
python3 - "$source_dir/docs/library.md" "$tmp/library" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
os.makedirs(sys.argv[2], exist_ok=True)
for i, code in enumerate(re.findall(r"```cpp compile\n(.*?)```", text, re.S)):
    open(os.path.join(sys.argv[2], f"snippet{i}.cpp"), "w").write(code)
PY
snippets=0
for snippet in "$tmp"/library/snippet*.cpp; do
  g++ -o "${snippet%.cpp}" "$snippet" $(pkg-config --cflags pos) $(pkg-config --libs --static pos)
  "${snippet%.cpp}" >/dev/null
  snippets=$((snippets + 1))
  ok "docs/library.md example $snippets"
done
[ "$snippets" -ge 3 ] || { echo "docs/library.md: expected 3 compiled examples, found $snippets" >&2; exit 1; }
if "$tmp/follow_node/follow_node" http://127.0.0.1:1 1 2>/dev/null; then
  echo "follow_node should fail on an unreachable node" >&2
  exit 1
fi
ok "examples/follow_node fails on an unreachable node"

# The installed pos-node, followed by follow_node and driven by the Python example.
# Ports 0: the node binds what the system gives and writes it to the ports file.
"$prefix/bin/pos-node" --p2p 127.0.0.1:0 --rpc 127.0.0.1:0 --ports-file "$tmp/ports.json" \
  --genesis "$source_dir/keys/genesis.json" --key "$source_dir/keys/validator1.pem" \
  --data-dir "$tmp/data" >"$tmp/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/ports.json" ] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$tmp/node.log" >&2; exit 1; }
  sleep 0.1
done
rpc="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rpc"])' "$tmp/ports.json")"
timeout 60 "$tmp/follow_node/follow_node" "http://127.0.0.1:$rpc" 1 | grep "^block " >/dev/null
ok "examples/follow_node follows the installed pos-node"
site="$(find "$prefix" -name 'pypos*.so' -printf '%h\n' | head -n1)"
if [ -n "$site" ]; then
  PYTHONPATH="$site" timeout 120 /usr/bin/python3 "$source_dir/examples/python/interaction.py" \
    "http://127.0.0.1:$rpc" "$source_dir/keys" | grep "alice  balance 73  stake 25" >/dev/null
  ok "examples/python/interaction.py with the installed pypos"
else
  skipped=$((skipped + 1))
  echo "install: skip - no pypos installed (configured without POS_BUILD_PYTHON)"
fi
