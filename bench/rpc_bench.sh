#!/usr/bin/env bash
# RPC benchmark: requests/s of GET /accounts/{address} beside GET /health on one pos-node, under
# wrk with 64 connections, interleaved: /health, /accounts, /health, ... /health, each /accounts
# round over the mean of the /health rounds either side of it; the median of those ratios with
# the lowest and highest, so that the figure comes from one run on one machine.
# Usage: bench/rpc_bench.sh POS_NODE_BINARY [SECONDS_PER_ROUND (3)] [CONNECTIONS (64)] [ROUNDS (5)]
set -euo pipefail
node="$1"
seconds="${2:-3}"
connections="${3:-64}"
rounds="${4:-5}"
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
health=("$(rate /health)") accounts=() ratios=()
for round in $(seq "$rounds"); do
  accounts+=("$(rate "$account")")
  health+=("$(rate /health)")
  ratio="$(awk -v a="${accounts[-1]}" -v h1="${health[-2]}" -v h2="${health[-1]}" \
    'BEGIN { printf "%.3f", a / ((h1 + h2) / 2) }')"
  ratios+=("$ratio")
  echo "round $round: /accounts/{address} ${accounts[-1]} req/s between /health ${health[-2]} and ${health[-1]} req/s: $ratio"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
low="$(printf '%s\n' "${ratios[@]}" | sort -g | head -1)"
high="$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)"
echo "median: /health $(median "${health[@]}") req/s, /accounts/{address} $(median "${accounts[@]}") req/s"
echo "accounts / health = $(median "${ratios[@]}") ($low-$high, $rounds rounds; target >= 0.7)"
