#!/usr/bin/env bash
# RPC benchmark: requests/s of GET /accounts/{address} beside GET /health on one pos-node, under
# wrk with 64 connections, alternating the two routes three times and taking medians, so that
# the ratio comes from one run on one machine.
# Usage: bench/rpc_bench.sh POS_NODE_BINARY [SECONDS_PER_ROUND (5)] [CONNECTIONS (64)]
set -euo pipefail
node="$1"
seconds="${2:-5}"
connections="${3:-64}"
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v wrk >/dev/null || { echo "rpc_bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
dir="$(mktemp -d)"
# Ports 0: the node binds what the system gives and writes it to its --ports-file.
"$node" --p2p 127.0.0.1:0 --rpc 127.0.0.1:0 --ports-file "$dir/ports.json" \
  --genesis "$root/keys/genesis.json" --data-dir "$dir/data" >"$dir/node.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -s "$dir/ports.json" ] && break; sleep 0.1; done
port="$(sed -n 's/.*"rpc": *\([0-9]*\).*/\1/p' "$dir/ports.json")"
[ -n "$port" ] || { echo "rpc_bench: the node did not start:" >&2; cat "$dir/node.log" >&2; exit 1; }
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
# validator2 of the demo genesis: an account with a balance and a stake.
account="/accounts/9abb14c8eb13f9e94e0d911d4d724ccadcfc67d9b6f51031049dba3c85e61077"
rate() {
  wrk -t2 -c"$connections" -d"${seconds}s" "http://127.0.0.1:$port$1" |
    awk '/^Requests\/sec/ {print $2}'
}
health=() accounts=()
for round in 1 2 3; do
  health+=("$(rate /health)")
  accounts+=("$(rate "$account")")
  echo "round $round: /health ${health[-1]} req/s, /accounts/{address} ${accounts[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
h="$(median "${health[@]}")"
a="$(median "${accounts[@]}")"
echo "median: /health $h req/s, /accounts/{address} $a req/s"
awk -v a="$a" -v h="$h" 'BEGIN { printf "accounts / health = %.3f (target >= 0.7)\n", a / h }'
