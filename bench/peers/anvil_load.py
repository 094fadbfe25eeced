#!/usr/bin/env python3
"""Load generator for anvil, the counterpart of `pos-bench local --nodes 1`.

Starts nothing itself: given the URL of a running anvil whose first M dev accounts are unlocked
and funded, it pre-signs N value transfers (21,000 gas each, round-robin over the M senders, each
to the next sender, 1 wei, like pos-bench's) with eth_signTransaction BEFORE timing, then submits
them with eth_sendRawTransaction in JSON-RPC batches of 200 (pos-bench's batch size) as fast as
they are accepted, following the blocks between batches the way pos-bench does, until every one
is in a block. Prints one JSON line on stdout; progress goes to stderr.

Exit codes: 0 all committed, 1 refusals or a timeout, 2 bad arguments, 3 anvil unreachable.
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse

GAS = 21_000


class RpcError(Exception):
    pass


class Rpc:
    """JSON-RPC over one kept-alive HTTP connection (a new one per request would time connects)."""

    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"needs an http:// URL, got {url!r}")
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path or "/"
        self.timeout = timeout
        self.conn = None
        self.next_id = 0

    def _post(self, body):
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RpcError(f"HTTP {resp.status}: {data[:300]!r}")
                return json.loads(data)
            except (http.client.HTTPException, ConnectionError, OSError):
                # The server may close an idle kept-alive connection; reconnect once.
                self.conn = None
                if attempt:
                    raise

    def call(self, method, *params):
        self.next_id += 1
        r = self._post(json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                   "params": list(params)}))
        if "error" in r:
            raise RpcError(f"{method}: {r['error']}")
        return r["result"]

    def batch(self, calls):
        """[(method, params)] -> [(result, error)] in order; one HTTP request."""
        first = self.next_id + 1
        self.next_id += len(calls)
        body = json.dumps([{"jsonrpc": "2.0", "id": first + k, "method": m, "params": p}
                           for k, (m, p) in enumerate(calls)])
        r = self._post(body)
        if not isinstance(r, list):
            raise RpcError(f"a batch was answered with {str(r)[:300]}")
        by_id = {x.get("id"): x for x in r}
        out = []
        for k in range(len(calls)):
            x = by_id.get(first + k)
            if x is None:
                out.append((None, "no answer in the batch"))
            else:
                out.append((x.get("result"), x.get("error")))
        return out


def percentile(sorted_values, p):
    # pos-bench's definition, so the two latency columns mean the same thing.
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def verdict(submit_done, commit_done, cpu, blocks_after):
    if cpu > 0.5 * commit_done:
        return (f"generator-bound: this client used {cpu:.1f} s of CPU in {commit_done:.1f} s; "
                "anvil may be faster than measured")
    # Once all were posted, the next block takes whatever is pending unless the gas limit
    # stops it; a backlog that needed two or more blocks more means blocks set the pace.
    if blocks_after >= 2:
        return (f"block-bound: all posted after {submit_done:.1f} s, then {blocks_after} more "
                f"blocks until {commit_done:.1f} s (client CPU {cpu:.1f} s)")
    if submit_done < 0.5 * commit_done:
        return (f"interval-bound: all posted after {submit_done:.1f} s, then the wait for the "
                f"next block until {commit_done:.1f} s; a longer run measures more than the "
                f"block interval (client CPU {cpu:.1f} s)")
    return (f"submission-bound: posting took {submit_done:.1f} s of {commit_done:.1f} s, "
            f"mostly waiting on anvil's answers (client CPU {cpu:.1f} s)")


def presign(rpc, senders, count, gas_price, sign_batch):
    nonces = [int(r, 16) for r, _ in
              rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in senders])]
    calls = []
    m = len(senders)
    for i in range(count):
        s = i % m
        calls.append(("eth_signTransaction", [{
            "from": senders[s], "to": senders[(s + 1) % m], "value": "0x1", "gas": hex(GAS),
            "gasPrice": hex(gas_price), "nonce": hex(nonces[s] + i // m)}]))
    raws = []
    for k in range(0, count, sign_batch):
        for result, error in rpc.batch(calls[k:k + sign_batch]):
            if error is not None:
                raise RpcError(f"eth_signTransaction: {error}")
            raws.append(result)
    return raws


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="anvil's JSON-RPC URL, e.g. http://127.0.0.1:8545")
    ap.add_argument("--txs", type=int, default=20_000, help="transfers (default 20000)")
    ap.add_argument("--senders", type=int, default=200, help="sender dev accounts (default 200)")
    ap.add_argument("--batch", type=int, default=200, help="transfers a request (default 200)")
    ap.add_argument("--sign-batch", type=int, default=500,
                    help="eth_signTransaction calls a request, before timing (default 500)")
    ap.add_argument("--gas-price", type=int, default=100 * 10**9,
                    help="wei; far above the base fee, which full blocks raise 12.5%% a block "
                         "(default 100 gwei)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds until giving up (600)")
    a = ap.parse_args()
    if min(a.txs, a.senders, a.batch, a.sign_batch, a.gas_price) <= 0:
        ap.error("--txs, --senders, --batch, --sign-batch and --gas-price must be positive")

    try:
        rpc = Rpc(a.url, timeout=60)
        accounts = rpc.call("eth_accounts")
        version = rpc.call("web3_clientVersion")
        gas_limit = int(rpc.call("eth_getBlockByNumber", "latest", False)["gasLimit"], 16)
    except (OSError, RpcError, ValueError) as e:
        print(f"anvil_load: anvil at {a.url} is unreachable: {e}", file=sys.stderr)
        return 3
    if len(accounts) < a.senders:
        print(f"anvil_load: anvil has {len(accounts)} dev accounts, {a.senders} needed "
              f"(start it with --accounts {a.senders})", file=sys.stderr)
        return 2
    senders = accounts[:a.senders]

    t0 = time.monotonic()
    try:
        raws = presign(rpc, senders, a.txs, a.gas_price, a.sign_batch)
    except RpcError as e:
        print(f"anvil_load: pre-signing failed: {e}", file=sys.stderr)
        return 1
    sign_seconds = time.monotonic() - t0
    print(f"anvil_load: pre-signed {len(raws)} transfers in {sign_seconds:.1f} s", file=sys.stderr)

    height = int(rpc.call("eth_blockNumber"), 16)
    n = len(raws)
    submitted = [-1.0] * n
    tx_hash = [None] * n
    # hash -> seconds when its block was read; any hash, since a block may be read before the
    # answer to the send that carried it
    seen = {}
    block_txs = []  # (seconds read, transactions) per block, to show how full blocks were
    mine = {}  # hash -> index, of the accepted ones
    refused = []
    nxt = 0
    post_seconds = 0.0  # wall time inside the eth_sendRawTransaction requests
    follow_seconds = 0.0  # and inside following blocks
    submit_done = 0.0
    cpu0 = time.process_time()
    start = time.monotonic()
    last_print = start

    def since():
        return time.monotonic() - start

    def send(ids):
        nonlocal post_seconds, included
        t = time.monotonic()
        answers = rpc.batch([("eth_sendRawTransaction", [raws[i]]) for i in ids])
        post_seconds += time.monotonic() - t
        now = since()
        for i, (result, error) in zip(ids, answers):
            submitted[i] = now
            if error is None:
                tx_hash[i] = result
                mine[result] = i
                included += result in seen
            else:
                # anvil's pool has no size limit to wait on: a refusal is final (and reported).
                refused.append(error)

    included = 0
    while True:
        if nxt < n:
            ids = list(range(nxt, min(nxt + a.batch, n)))
            nxt = ids[-1] + 1
            send(ids)
        else:
            time.sleep(0.02)
        if submit_done == 0 and nxt == n:
            submit_done = since()
        t = time.monotonic()
        tip = int(rpc.call("eth_blockNumber"), 16)
        while height < tip:
            block = rpc.call("eth_getBlockByNumber", hex(height + 1), False)
            if block is None:
                break  # read again on the next turn
            height += 1
            now = since()
            for h in block["transactions"]:
                if h not in seen:
                    seen[h] = now
                    included += h in mine
            block_txs.append((now, len(block["transactions"])))
        follow_seconds += time.monotonic() - t
        if time.monotonic() - last_print >= 1:
            last_print = time.monotonic()
            print(f"\r{since():6.1f} s  submitted {nxt}/{n}  committed {included}   ",
                  end="", file=sys.stderr)
        if included + len(refused) >= n and nxt == n:
            break
        if since() > a.timeout:
            print(f"\nanvil_load: not all transfers were committed within {a.timeout:.0f} s",
                  file=sys.stderr)
            break
    commit_done = since()
    cpu = time.process_time() - cpu0
    print("", file=sys.stderr)

    lat = sorted((seen[tx_hash[i]] - submitted[i]) * 1000 for i in range(n)
                 if tx_hash[i] is not None and tx_hash[i] in seen)
    nonempty = [c for _, c in block_txs if c]
    blocks_after = sum(1 for t, c in block_txs if c and t > submit_done)
    report = {
        "system": "anvil",
        "client_version": version,
        "block_gas_limit": gas_limit,
        "transactions": n,
        "senders": a.senders,
        "accepted": len(mine),
        "refused": len(refused),
        "refusals": [str(e)[:200] for e in refused[:5]],
        "committed": included,
        "accepted_tx_per_s": len(mine) / max(submit_done, 1e-9),
        "committed_tx_per_s": included / max(commit_done, 1e-9),
        "latency_ms": {"p50": percentile(lat, 0.5), "p90": percentile(lat, 0.9),
                       "p99": percentile(lat, 0.99)},
        "seconds": {"sign": sign_seconds, "submit": submit_done, "commit": commit_done,
                    "in_posts": post_seconds, "in_following": follow_seconds,
                    "generator_cpu": cpu},
        "blocks_with_transfers": len(nonempty),
        "max_block_transfers": max(nonempty, default=0),
        # Is this client the bottleneck? posting_share near 1: submitting (anvil's answers and
        # this client) set the pace; well below 1: block production did. generator_cpu_share:
        # this client's own CPU over the run's wall time (it shares the cores with anvil).
        "post_tx_per_s": len(mine) / max(post_seconds, 1e-9),
        "posting_share": submit_done / max(commit_done, 1e-9),
        "generator_cpu_share": cpu / max(commit_done, 1e-9),
        "blocks_after_submit": blocks_after,
        "verdict": verdict(submit_done, commit_done, cpu, blocks_after),
        "pre_signed": True,
    }
    print(json.dumps(report))
    return 0 if included == n else 1


if __name__ == "__main__":
    sys.exit(main())
