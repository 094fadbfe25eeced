#!/usr/bin/env bash
# Four pos-node validators on four "hosts": network namespaces with their own IP addresses
# (10.77.0.1-4), joined by two bridges (site A: nodes 1 and 2; site B: nodes 3 and 4) and one
# link between the sites. Latency and loss with tc netem where the kernel has it. Scenarios:
# steady transfers; a partition of the sites (the inter-site link down) and its healing; a host
# whose link goes down and comes back. Checks: both sites keep forging while apart, every
# transaction sent is in a block on every node, and all four end on one tip and state root.
# Usage: run.sh POS_NODE POS_WALLET. Exit 77 (skipped) where the machine refuses namespaces.
# Also the way to rehearse a deployment across machines (docs/operations.md).
set -euo pipefail
node_bin="$1"
wallet_bin="$2"
id="pos$$"
work="$(mktemp -d)"
netem_args=(delay 15ms 5ms loss 0.5%)

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip command (Debian's iproute2)"
ip netns add "$id-probe" 2>/dev/null || skip "this machine refuses network namespaces"
ip netns del "$id-probe"

ns() { echo "$id-n$1"; }
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
  wait 2>/dev/null || true
  for i in 1 2 3 4; do ip netns del "$(ns "$i")" 2>/dev/null || true; done
  ip link del "$id-ba" 2>/dev/null || true
  ip link del "$id-bb" 2>/dev/null || true
  ip link del "$id-xa" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the hosts ----
ip link add "$id-ba" type bridge && ip link set "$id-ba" up
ip link add "$id-bb" type bridge && ip link set "$id-bb" up
ip link add "$id-xa" type veth peer name "$id-xb"  # the inter-site link
ip link set "$id-xa" master "$id-ba" up
ip link set "$id-xb" master "$id-bb" up
netem=1
for i in 1 2 3 4; do
  ip netns add "$(ns "$i")"
  ip link add "$id-h$i" type veth peer name eth0 netns "$(ns "$i")"
  bridge="$id-ba"
  [ "$i" -gt 2 ] && bridge="$id-bb"
  ip link set "$id-h$i" master "$bridge" up
  ip netns exec "$(ns "$i")" ip addr add "10.77.0.$i/24" dev eth0
  ip netns exec "$(ns "$i")" ip link set eth0 up
  ip netns exec "$(ns "$i")" ip link set lo up
  if [ "$netem" = 1 ] && ! ip netns exec "$(ns "$i")" tc qdisc add dev eth0 root netem \
    "${netem_args[@]}" 2>/dev/null; then
    netem=0
    echo "note: this kernel has no netem qdisc (sch_netem): running without added latency and loss"
  fi
done
[ "$netem" = 1 ] && echo "netem on every host: ${netem_args[*]}"

# ---- keys and genesis ----
addresses=()
for i in 1 2 3 4 5 6; do
  "$wallet_bin" keygen --out "$work/k$i.pem" >/dev/null
  addresses+=("$("$wallet_bin" address --key "$work/k$i.pem")")
done
now_ms=$(($(date +%s%3N) - 5000))
{
  echo "{\"chain_id\": \"pos-netns\", \"genesis_time\": $now_ms, \"slot_ms\": 500,"
  echo " \"unbonding_epochs\": 5, \"exchange_authority\": \"${addresses[0]}\","
  echo " \"allocations\": ["
  for i in 0 1 2 3; do echo "  {\"address\": \"${addresses[$i]}\", \"balance\": 1000000, \"stake\": 100},"; done
  echo "  {\"address\": \"${addresses[4]}\", \"balance\": 100000, \"stake\": 0},"
  echo "  {\"address\": \"${addresses[5]}\", \"balance\": 100000, \"stake\": 0}]}"
} >"$work/genesis.json"

# ---- the nodes: each dials every other host by its address ----
for i in 1 2 3 4; do
  peers=()
  for j in 1 2 3 4; do [ "$j" != "$i" ] && peers+=(--peer "10.77.0.$j:7000"); done
  ip netns exec "$(ns "$i")" "$node_bin" --p2p "10.77.0.$i:7000" --rpc "10.77.0.$i:5000" \
    --key "$work/k$i.pem" --genesis "$work/genesis.json" --data-dir "$work/data$i" \
    "${peers[@]}" >"$work/node$i.log" 2>&1 &
  pids+=($!)
done

info() { ip netns exec "$(ns "$1")" curl -fs --max-time 2 "http://10.77.0.$1:5000/info" || true; }
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
height() { info "$1" | field height; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" && return 0
    sleep 0.2
  done
  echo "FAILED: $what" >&2
  echo "netns: $passed passed, 1 failed"
  for i in 1 2 3 4; do echo "--- node $i: $(info "$i")" >&2; tail -5 "$work/node$i.log" >&2; done
  exit 1
}
peers_of() { info "$1" | field peers; }
all_connected() {
  for i in 1 2 3 4; do [ "$(peers_of "$i")" = 3 ] || return 1; done
}
one_tip() {
  local first
  first="$(info 1 | field tip)"
  [ -n "$first" ] || return 1
  for i in 2 3 4; do [ "$(info "$i" | field tip)" = "$first" ] || return 1; done
  local root
  root="$(info 1 | field state_root)"
  for i in 2 3 4; do [ "$(info "$i" | field state_root)" = "$root" ] || return 1; done
}
height_at_least() { [ "$(height "$1")" -ge "$2" ] 2>/dev/null; }
grows() {  # grows NODE BLOCKS SECONDS
  local from
  from="$(height "$1")"
  wait_for "$3" "node $1 grows by $2 blocks" height_at_least "$1" $((from + $2))
}

# Each scenario that completes is counted; the last line says how many passed.
passed=0
ok() {
  passed=$((passed + 1))
  echo "  ok $passed - $1"
}

wait_for 30 "all four hosts connected" all_connected
ok "four hosts up and connected"

# Transfers from the two users, sent to a node of each site, waited for.
sent=()
send() {  # send NODE KEY
  local out
  out="$(ip netns exec "$(ns "$1")" "$wallet_bin" --node "http://10.77.0.$1:5000" --json send \
    --key "$work/$2.pem" --to "${addresses[3]}" --amount 1 --fee 1)"
  sent+=("$(echo "$out" | field id)")
}
included_on() {  # included_on NODE TX
  ip netns exec "$(ns "$1")" curl -fs --max-time 2 "http://10.77.0.$1:5000/transactions/$2" |
    grep -q '"status": *"included"'
}
included_on_each_side() {
  included_on 2 "${sent[-2]}" && included_on 4 "${sent[-1]}"
}
included_everywhere() {
  local tx
  for tx in "${sent[@]}"; do
    for i in 1 2 3 4; do
      ip netns exec "$(ns "$i")" curl -fs --max-time 2 "http://10.77.0.$i:5000/transactions/$tx" |
        grep -q '"status": *"included"' || return 1
    done
  done
}

send 1 k5
send 3 k6
wait_for 30 "the first transfers in a block on every host" included_everywhere
ok "the first transfers are in a block on every host"

echo "scenario: the sites partition (inter-site link down) and heal"
ip link set "$id-xa" down
grows 1 3 20
grows 3 3 20
[ "$(info 1 | field tip)" != "$(info 3 | field tip)" ] || { echo "FAILED: the sites did not diverge" >&2; exit 1; }
send 2 k5  # one transfer on each side of the partition
send 4 k6
wait_for 30 "each side's transfer in a block on its side" included_on_each_side
ip link set "$id-xa" up
wait_for 60 "one tip and state root after healing" one_tip
wait_for 60 "every transfer in a block on every host" included_everywhere
ok "healed: one tip, one state root, every transfer included"

echo "scenario: host 4's link goes down and comes back"
ip link set "$id-h4" down
grows 1 3 20
send 1 k5
ip link set "$id-h4" up
wait_for 60 "host 4 caught up" one_tip
wait_for 60 "every transfer in a block on every host" included_everywhere
ok "host 4 caught up"

echo "netns: ${#sent[@]} transfers; final height $(height 1)"
echo "netns: $passed passed, 0 failed"
