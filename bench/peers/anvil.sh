#!/usr/bin/env bash
# Side by side: one pos-node validator (pos-bench local --nodes 1) and anvil, Foundry's local
# Ethereum node, committing the same number of pre-signed transfers from as many senders, with 1 s
# blocks on both. Interleaved rounds, each on a fresh network, then medians. Opt-in, never in CI:
# it installs anvil from npm into a temp dir. See bench/peers/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/peers/anvil.sh [--txs N] [--senders M] [--rounds R] [--pos-bench PATH]
                            [--out FILE] [--keep]

  --txs N            pre-signed transfers a run (default 20000)
  --senders M        sender accounts, pos-bench's --accounts and anvil's dev accounts (default 200)
  --rounds R         interleaved rounds: pos-node, anvil (gas limit raised), anvil (its default
                     gas limit), each fresh (default 3)
  --pos-bench PATH   pos-bench, with pos-node beside it
                     (default build/test/apps/pos-bench/pos-bench)
  --out FILE         JSON summary (default anvil-compare.json in the current directory)
  --keep             keep the temp dir (anvil, logs, every round's report)
  --help

Run it under nice on a shared machine: nice -n 10 bench/peers/anvil.sh
EOF
}

die() { echo "anvil.sh: $*" >&2; exit 1; }
bad() { echo "anvil.sh: $*" >&2; usage >&2; exit 2; }

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/bench/peers"
txs=20000 senders=200 rounds=3 keep=0 out="anvil-compare.json"
pos_bench="$root/build/test/apps/pos-bench/pos-bench"
positive() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "$1 needs a positive whole number, got \"$2\""; }
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --keep) keep=1; shift; continue ;;
    --txs | --senders | --rounds | --pos-bench | --out)
      [ $# -ge 2 ] || bad "$1 needs a value" ;;
    *) bad "unknown argument \"$1\"" ;;
  esac
  case "$1" in
    --txs) positive "$1" "$2"; txs="$2" ;;
    --senders) positive "$1" "$2"; senders="$2" ;;
    --rounds) positive "$1" "$2"; rounds="$2" ;;
    --pos-bench) pos_bench="$2" ;;
    --out) out="$2" ;;
  esac
  shift 2
done

[ -x "$pos_bench" ] || die "no pos-bench at $pos_bench; build it with
  nice -n 10 cmake --build build/test -j1 --target pos-bench pos-node"
# Where pos-bench local looks for the pos-node it starts.
pos_node="$(dirname "$pos_bench")/pos-node"
[ -x "$pos_node" ] || pos_node="$(dirname "$pos_bench")/../pos-node/pos-node"
[ -x "$pos_node" ] || pos_node="$(command -v pos-node || true)"
[ -n "$pos_node" ] || die "no pos-node beside $pos_bench or on PATH; build the pos-node target"
command -v npm >/dev/null || die "npm is not installed (it fetches anvil)"
command -v python3 >/dev/null || die "python3 is not installed"
out="$(realpath -m "$out")"

# pos-bench runs several rounds on one network when it can; each of our rounds wants a fresh one.
pos_rounds=()
pos_help="$("$pos_bench" --help 2>&1 || true)"  # whole, not piped: grep -q would cut it short
[[ "$pos_help" == *--rounds* ]] && pos_rounds=(--rounds 1)

# A name of its own: on shared machines, sweeps of /tmp/tmp.* have removed a run's dir under it.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/anvil-compare.XXXXXX")"
anvil_pid=""
stop_anvil() {
  if [ -n "$anvil_pid" ]; then
    kill "$anvil_pid" 2>/dev/null || true
    wait "$anvil_pid" 2>/dev/null || true
    anvil_pid=""
  fi
}
cleanup() {
  stop_anvil
  if [ "$keep" = 1 ]; then echo "anvil.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "installing @foundry-rs/anvil-linux-amd64 from npm into $tmp" >&2
npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error @foundry-rs/anvil-linux-amd64 \
  >"$tmp/npm.log" 2>&1 || { cat "$tmp/npm.log" >&2; die "npm install failed"; }
anvil="$(find "$tmp/node_modules/@foundry-rs" -type f -name anvil -perm -u+x | head -n 1)"
[ -n "$anvil" ] || die "no anvil binary in the installed package (see $tmp/node_modules/@foundry-rs)"
anvil_version="$("$anvil" --version | head -n 1)" || die "$anvil does not run"
anvil_version="anvil ${anvil_version#anvil Version: }"
echo "$anvil_version" >&2

# pos's largest block is 10,000 transactions; 10,000 x 21,000 gas, with 10% on top so the gas
# limit is never what stops a block short of pos's size.
raised_gas=$((10000 * 21000 * 11 / 10))
# Each sender pays ceil(N/M) x 21,000 gas at anvil_load.py's 100 gwei, 0.0021 ETH a transfer:
# 0.01 ETH a transfer on top of anvil's default 10,000 ETH covers it.
balance=$(((txs + senders - 1) / senders / 100 + 10000))

# Starts anvil on a free port with the given extra flags; sets anvil_pid and anvil_url.
start_anvil() {
  local log="$1"
  shift
  [ -x "$anvil" ] || die "$anvil is gone: something removed the temp dir $tmp"
  "$anvil" --host 127.0.0.1 --port 0 --accounts "$senders" --balance "$balance" --block-time 1 \
    "$@" >"$log" 2>&1 &
  anvil_pid=$!
  local port=""
  for _ in $(seq 300); do
    port="$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" 2>/dev/null || true)"
    [ -n "$port" ] && break
    kill -0 "$anvil_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "anvil exited at start"; }
    sleep 0.1
  done
  [ -n "$port" ] || { tail -n 20 "$log" >&2; die "anvil did not listen within 30 s"; }
  anvil_url="http://127.0.0.1:$port"
}

run_anvil() {  # name round [anvil flags...]
  local name="$1" round="$2"
  shift 2
  local base="$tmp/$name-$round"
  start_anvil "$base.anvil.log" "$@"
  python3 "$here/anvil_load.py" --url "$anvil_url" --txs "$txs" --senders "$senders" \
    >"$base.json" 2>"$base.load.log" ||
    { tail -n 5 "$base.load.log" >&2; cat "$base.json" >&2; die "$name round $round failed"; }
  stop_anvil
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %-16s committed %6.0f tx/s  p50 %5.0f ms  p99 %5.0f ms  biggest block %d  %s" % (sys.argv[2], r["committed_tx_per_s"], r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["max_block_transfers"], r["verdict"]))' \
    "$base.json" "$name" >&2
}

run_pos() {  # round
  local base="$tmp/pos-$1"
  "$pos_bench" local --nodes 1 --slot-ms 1000 --accounts "$senders" --txs "$txs" \
    "${pos_rounds[@]}" --out "$base" >"$base.log" 2>&1 ||
    { tail -n 20 "$base.log" >&2; die "pos-bench round $1 failed"; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  %-16s committed %6.0f tx/s  p50 %5.0f ms  p99 %5.0f ms  finalized %6.0f tx/s" % ("pos-node", r["committed_tx_per_s"], r["latency_ms"]["p50"], r["latency_ms"]["p99"], r.get("finalized_tx_per_s", 0)))' \
    "$base/report.json" >&2
}

pos_version="$("$pos_node" --version 2>/dev/null | head -n 1 || true), $(git -C "$root" describe --always --dirty 2>/dev/null || echo "no git")"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds: $txs transfers from $senders senders, 1 s blocks" >&2
  run_pos "$round"
  run_anvil anvil-raised "$round" --gas-limit "$raised_gas"
  run_anvil anvil-default "$round"
done

python3 - "$tmp" "$rounds" "$out" "$txs" "$senders" "$anvil_version" "$pos_version" \
  "$raised_gas" <<'EOF'
import json, statistics, sys

tmp, rounds, out, txs, senders, anvil_version, pos_version, raised_gas = sys.argv[1:]
rounds = int(rounds)

def load(path):
    with open(path) as f:
        return json.load(f)

def num(report, key, *sub):
    # Read defensively: pos-bench's report gains fields while it changes.
    v = report.get(key)
    for k in sub:
        v = v.get(k) if isinstance(v, dict) else None
    return float(v) if isinstance(v, (int, float)) else None

runs = {"pos-node": [], "anvil-raised": [], "anvil-default": []}
for r in range(1, rounds + 1):
    runs["pos-node"].append(load(f"{tmp}/pos-{r}/report.json"))
    runs["anvil-raised"].append(load(f"{tmp}/anvil-raised-{r}.json"))
    runs["anvil-default"].append(load(f"{tmp}/anvil-default-{r}.json"))

def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "low": min(values), "high": max(values),
            "per_round": values}

labels = {"pos-node": "pos-node (1 validator, 1 s slots)",
          "anvil-raised": f"anvil (1 s blocks, gas limit {int(raised_gas):,})",
          "anvil-default": "anvil (1 s blocks, default gas limit)"}
summary = {"transactions": int(txs), "senders": int(senders), "rounds": rounds,
           "anvil_version": anvil_version, "pos_version": pos_version, "systems": {}, "ratios": {}}
print(f"\n{txs} pre-signed transfers from {senders} senders, {rounds} interleaved "
      f"round{'s' if rounds > 1 else ''}; median (lowest-highest); {anvil_version}, {pos_version}")
print(f"{'system':<42} {'committed tx/s':>22} {'latency p50 ms':>15} {'p99 ms':>7}")
def cell(sp):
    return f"{sp['median']:.0f} ({sp['low']:.0f}-{sp['high']:.0f})" if sp else "-"
def med(sp):
    return f"{sp['median']:.0f}" if sp else "-"
for name, reports in runs.items():
    s = {"committed_tx_per_s": spread([num(x, "committed_tx_per_s") for x in reports]),
         "latency_p50_ms": spread([num(x, "latency_ms", "p50") for x in reports]),
         "latency_p99_ms": spread([num(x, "latency_ms", "p99") for x in reports])}
    if name == "pos-node":
        s["finalized_tx_per_s"] = spread([num(x, "finalized_tx_per_s") for x in reports])
    else:
        s["max_block_transfers"] = [x.get("max_block_transfers") for x in reports]
        s["verdicts"] = [x.get("verdict") for x in reports]
    summary["systems"][name] = s
    print(f"{labels[name]:<42} {cell(s['committed_tx_per_s']):>22} "
          f"{med(s['latency_p50_ms']):>15} {med(s['latency_p99_ms']):>7}")
f = summary["systems"]["pos-node"].get("finalized_tx_per_s")
if f:
    print(f"{'pos-node, finalized tx/s':<42} {cell(f):>22}")
print()
for name, what in (("anvil-raised", "gas limit raised"), ("anvil-default", "its defaults")):
    ratios = [num(p, "committed_tx_per_s") / num(a, "committed_tx_per_s")
              for p, a in zip(runs["pos-node"], runs[name])]
    r = spread(ratios)
    summary["ratios"][f"pos-node over {name}"] = r
    print(f"pos-node over anvil ({what}): {r['median']:.1f} x "
          f"({r['low']:.1f}-{r['high']:.1f}, {rounds} round{'s' if rounds > 1 else ''})")
with open(out, "w") as f:
    json.dump(summary, f, indent=1)
print(f"\nsummary: {out}")
EOF
