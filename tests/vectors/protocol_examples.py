"""Recomputes every worked example of docs/protocol.md from the inputs written there, outside C++:
hashlib, PyNaCl (Ed25519 signing) and the pure-Python ECVRF of vrf_reference.py, written from the
doc's text (and RFC 9381), not from libpos. tests/unit/protocol_doc_test.cpp does the same with
libpos; the two agreeing on the doc is the cross-check.

usage: python3 tests/vectors/protocol_examples.py          checks; prints "N examples, M values
                                                            ok", exits 1 on any mismatch
       python3 tests/vectors/protocol_examples.py --show   prints every computed value
"""
import hashlib
import json
import os
import sys

import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vrf_reference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "protocol.md")
GENESIS = os.path.join(ROOT, "keys", "genesis.json")


# Encoding (docs/protocol.md, "Encoding").
def u8(n):
    return n.to_bytes(1, "big")


def u16(n):
    return n.to_bytes(2, "big")


def u32(n):
    return n.to_bytes(4, "big")


def u64(n):
    return n.to_bytes(8, "big")


def string(s):
    b = s.encode("utf-8")
    return u16(len(b)) + b


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def h(x):
    return bytes.fromhex(x)


def seed_key(seed_hex):
    key = nacl.signing.SigningKey(h(seed_hex))
    return key, bytes(key.verify_key)


# Transactions.
TX_TYPES = {"TRANSFER": 1, "STAKE": 2, "UNSTAKE": 3, "EXCHANGE": 4}


def tx_signing_bytes(chain_id, type_name, sender, receiver, amount, fee, nonce, timestamp):
    return (b"pos/tx/v1" + string(chain_id) + u8(TX_TYPES[type_name]) + sender + receiver
            + u64(amount) + u64(fee) + u64(nonce) + u64(timestamp))


# Votes and evidence.
def vote_signing_bytes(chain_id, source_hash, source_height, target_hash, target_height):
    return (b"pos/vote/v1" + string(chain_id) + source_hash + u64(source_height) + target_hash
            + u64(target_height))


EVIDENCE_KINDS = {"double_block": 1, "double_vote": 2, "surround_vote": 3}


def evidence_bytes(kind_name, offender, a, sig_a, b, sig_b):
    return (b"pos/evidence/v1" + u8(EVIDENCE_KINDS[kind_name]) + offender + u32(len(a)) + a
            + sig_a + u32(len(b)) + b + sig_b)


# Merkle (RFC 6962).
def merkle_root(ids):
    if not ids:
        return sha256(b"")
    if len(ids) == 1:
        return sha256(b"\x00", ids[0])
    k = 1
    while k * 2 < len(ids):
        k *= 2
    return sha256(b"\x01", merkle_root(ids[:k]), merkle_root(ids[k:]))


EMPTY = sha256(b"")


# Blocks.
def header_bytes(chain_id, height, parent, slot, timestamp, forger, vrf_proof, tx_root, vote_root,
                 evidence_root, state_root, tx_count, vote_count, evidence_count):
    assert len(vrf_proof) == 80
    return (b"pos/block/v2" + string(chain_id) + u64(height) + parent + u64(slot) + u64(timestamp)
            + forger + vrf_proof + tx_root + vote_root + evidence_root + state_root
            + u32(tx_count) + u32(vote_count) + u32(evidence_count))


# Epochs, nonces, VRF input, leader.
def initial_nonce(genesis_hash):
    return sha256(b"pos/nonce/v1", genesis_hash)


def next_nonce(previous, outputs):
    """nonce(e) from nonce(e-1) and the VRF outputs of epoch e-2's blocks, in height order."""
    return sha256(b"pos/nonce/v1", previous, sha256(*outputs))


def vrf_input(chain_id, nonce, slot):
    return b"pos/vrf/v1" + string(chain_id) + nonce + u64(slot)


def vrf(seed, alpha):
    """(public key, proof, output); the proof is checked with the reference verifier too."""
    _, pk = seed_key(seed.hex())
    x, _ = vrf_reference.secret_scalar(seed)
    assert vrf_reference.encode(vrf_reference.mul(x, vrf_reference.B)) == pk
    proof = vrf_reference.prove(seed, alpha)
    output = vrf_reference.proof_to_hash(proof)
    assert vrf_reference.verify(pk, alpha, proof) == output, "the proof does not verify"
    return pk, proof, output


def lot_seed(nonce, slot):
    return sha256(b"pos/lot/v2", nonce, u64(slot))


def draw(seed, total):
    limit = 2**64 - 2**64 % total
    c = 0
    while True:
        r = int.from_bytes(sha256(seed, u32(c))[:8], "big")
        if r < limit:
            return r % total
        c += 1


def leader(weights, r):
    lo = 0
    for key in sorted(weights):
        if weights[key] > 0 and lo <= r < lo + weights[key]:
            return key
        lo += weights[key]
    raise AssertionError("r beyond the total")


# State root: the crit-bit Merkle tree, built from the set of accounts (not incrementally).
def bit(address, i):
    return address[i // 8] >> (7 - i % 8) & 1


def trie_root(accounts):
    """accounts: {address: (balance, stake, nonce, unbonding, unbonding_height, slashed,
    jailed)}."""
    def node(addresses):
        if len(addresses) == 1:
            a = addresses[0]
            *amounts, slashed, jailed = accounts[a]
            flags = (1 if slashed else 0) | (2 if jailed else 0)
            return sha256(b"\x00", a, *(u64(v) for v in amounts), u8(flags))
        crit = next(i for i in range(256) if len({bit(a, i) for a in addresses}) == 2)
        left = [a for a in addresses if bit(a, crit) == 0]
        right = [a for a in addresses if bit(a, crit) == 1]
        return sha256(b"\x01", u8(crit), node(left), node(right))
    live = sorted(a for a, v in accounts.items() if any(v[:4]) or v[5] or v[6])
    return node(live) if live else sha256(b"")


def params_hash(chain_id, genesis_time, slot_ms, unbonding_epochs, epoch_slots, max_block_txs,
                exchange_authority):
    return sha256(b"pos/params/v4", string(chain_id), u64(genesis_time), u64(slot_ms),
                  u64(unbonding_epochs), u64(epoch_slots), u64(max_block_txs), exchange_authority)


def state_root(p_hash, accounts):
    return sha256(b"pos/state/v2", p_hash, trie_root(accounts))


# The examples: each takes the example's key: value pairs and returns the values it computes.
def ex_transaction(e):
    key, sender = seed_key(e["sender_seed"])
    fields = (e["chain_id"], e["type"], sender, h(e["receiver"]), int(e["amount"]), int(e["fee"]),
              int(e["nonce"]), int(e["timestamp"]))
    sb = tx_signing_bytes(*fields)
    sig = key.sign(sb).signature
    tx_json = ('{"type":"%s","sender":"%s","receiver":"%s","amount":%d,"fee":%d,"nonce":%d,'
               '"timestamp":%d,"signature":"%s"}') % (
                   e["type"], sender.hex(), e["receiver"], fields[4], fields[5], fields[6],
                   fields[7], sig.hex())
    return dict(sender=sender.hex(), signing_bytes=sb.hex(), id=sha256(sb).hex(),
                signature=sig.hex(), json=tx_json)


def ex_block(e):
    key, forger = seed_key(e["forger_seed"])
    slot = int(e["slot"])
    alpha = vrf_input(e["chain_id"], h(e["nonce"]), slot)
    _, proof, output = vrf(h(e["forger_seed"]), alpha)
    vote_root = evidence_root = merkle_root([])
    hb = header_bytes(e["chain_id"], int(e["height"]), h(e["parent"]), slot, int(e["timestamp"]),
                      forger, proof, h(e["tx_root"]), vote_root, evidence_root,
                      h(e["state_root"]), int(e["tx_count"]), int(e["vote_count"]),
                      int(e["evidence_count"]))
    return dict(forger=forger.hex(), vrf_input=alpha.hex(), vrf_proof=proof.hex(),
                vrf_output=output.hex(), vote_root=vote_root.hex(),
                evidence_root=evidence_root.hex(), header_bytes=hb.hex(), hash=sha256(hb).hex(),
                signature=key.sign(hb).signature.hex())


def ex_vote(e):
    key, validator = seed_key(e["validator_seed"])
    sb = vote_signing_bytes(e["chain_id"], h(e["source_hash"]), int(e["source_height"]),
                            h(e["target_hash"]), int(e["target_height"]))
    vote_id = sha256(sb, validator)
    sig = key.sign(sb).signature
    vote_json = ('{"validator":"%s","source_hash":"%s","source_height":%d,"target_hash":"%s",'
                 '"target_height":%d,"signature":"%s","id":"%s"}') % (
                     validator.hex(), e["source_hash"], int(e["source_height"]),
                     e["target_hash"], int(e["target_height"]), sig.hex(), vote_id.hex())
    return dict(validator=validator.hex(), signing_bytes=sb.hex(), id=vote_id.hex(),
                signature=sig.hex(), encoded=(sb + validator + sig).hex(), json=vote_json)


def ex_evidence(e):
    assert e["kind"] == "double_vote"
    key, offender = seed_key(e["offender_seed"])
    votes = []
    for v in ("vote1", "vote2"):
        votes.append(vote_signing_bytes(e["chain_id"], h(e[v + "_source_hash"]),
                                        int(e[v + "_source_height"]), h(e[v + "_target_hash"]),
                                        int(e[v + "_target_height"])))
    assert int(e["vote1_target_height"]) == int(e["vote2_target_height"]) and votes[0] != votes[1]
    a, b = sorted(votes)  # kinds 1 and 2: a < b bytewise
    sig_a, sig_b = key.sign(a).signature, key.sign(b).signature
    eb = evidence_bytes(e["kind"], offender, a, sig_a, b, sig_b)
    ev_json = ('{"kind":"%s","offender":"%s","a":"%s","sig_a":"%s","b":"%s","sig_b":"%s",'
               '"id":"%s"}') % (e["kind"], offender.hex(), a.hex(), sig_a.hex(), b.hex(),
                                sig_b.hex(), sha256(eb).hex())
    return dict(offender=offender.hex(), a=a.hex(), sig_a=sig_a.hex(), b=b.hex(),
                sig_b=sig_b.hex(), evidence_bytes=eb.hex(), id=sha256(eb).hex(), json=ev_json)


def ex_tx_root(e):
    ids = [h(e["id%d" % i]) for i in range(3)]
    return {"root_of_%d" % n: merkle_root(ids[:n]).hex() for n in range(4)}


def ex_vrf(e):
    alpha = vrf_input(e["chain_id"], h(e["nonce"]), int(e["slot"]))
    pk, proof, output = vrf(h(e["seed"]), alpha)
    return dict(public_key=pk.hex(), alpha=alpha.hex(), proof=proof.hex(), output=output.hex())


def ex_nonce(e):
    nonce0 = initial_nonce(h(e["genesis_hash"]))
    nonce1 = nonce0
    outputs = [h(e["epoch0_output0"]), h(e["epoch0_output1"])]
    assert all(len(o) == 64 for o in outputs)
    nonce2 = next_nonce(nonce1, outputs)
    nonce3 = next_nonce(nonce2, [])
    return dict(nonce0=nonce0.hex(), nonce1=nonce1.hex(), epoch0_digest=sha256(*outputs).hex(),
                nonce2=nonce2.hex(), epoch1_digest=sha256(b"").hex(), nonce3=nonce3.hex())


def ex_leader(e):
    weights = {h(e["validator%d" % i]): int(e["weight%d" % i]) for i in range(3)}
    total = sum(weights.values())
    seed = lot_seed(h(e["nonce"]), int(e["slot"]))
    r = draw(seed, total)
    return dict(seed=seed.hex(), total_weight=str(total), r_mod_total=str(r),
                leader=leader(weights, r).hex())


def ex_state_root(e):
    p = params_hash(e["chain_id"], int(e["genesis_time"]), int(e["slot_ms"]),
                    int(e["unbonding_epochs"]), int(e["epoch_slots"]), int(e["max_block_txs"]),
                    h(e["exchange_authority"]))
    out = dict(params_hash=p.hex(), empty_state_root=state_root(p, {}).hex())
    accounts = {}
    for i in range(3):
        accounts[h(e["account%d" % i])] = tuple(
            int(e.get("%s%d" % (f, i), "0"))
            for f in ("balance", "stake", "nonce", "unbonding", "unbonding_height", "slashed",
                      "jailed"))
        out["state_root_%d" % (i + 1)] = state_root(p, accounts).hex()
    return out


def ex_genesis(e):
    with open(GENESIS) as f:
        g = json.load(f)
    p = params_hash(g["chain_id"], g["genesis_time"], g["slot_ms"], g["unbonding_epochs"], g.get("epoch_slots", 32), g.get("max_block_txs", 10000),
                    h(g["exchange_authority"]))
    accounts = {h(a["address"]): (a["balance"], a["stake"], 0, 0, 0, 0, 0) for a in g["allocations"]}
    root = state_root(p, accounts)
    zero = bytes(32)
    hb = header_bytes(g["chain_id"], 0, zero, 0, g["genesis_time"], zero, bytes(80), EMPTY, EMPTY,
                      EMPTY, root, 0, 0, 0)
    return dict(params_hash=p.hex(), state_root=root.hex(), header_bytes=hb.hex(),
                genesis_hash=sha256(hb).hex())


EXAMPLES = {
    "transaction": (ex_transaction, {"sender_seed", "receiver", "chain_id", "type", "amount",
                                     "fee", "nonce", "timestamp"}),
    "block": (ex_block, {"forger_seed", "chain_id", "height", "parent", "slot", "timestamp",
                         "nonce", "tx_root", "state_root", "tx_count", "vote_count",
                         "evidence_count"}),
    "tx_root": (ex_tx_root, {"id0", "id1", "id2"}),
    "vote": (ex_vote, {"validator_seed", "chain_id", "source_hash", "source_height",
                       "target_hash", "target_height"}),
    "evidence": (ex_evidence, {"offender_seed", "chain_id", "kind"}
                 | {"vote%d_%s" % (i, f) for i in (1, 2)
                    for f in ("source_hash", "source_height", "target_hash", "target_height")}),
    "vrf": (ex_vrf, {"seed", "chain_id", "nonce", "slot"}),
    "nonce": (ex_nonce, {"genesis_hash", "epoch0_output0", "epoch0_output1"}),
    "leader": (ex_leader, {"nonce", "slot", "validator0", "weight0", "validator1", "weight1",
                           "validator2", "weight2"}),
    "state_root": (ex_state_root, {"chain_id", "genesis_time", "slot_ms", "unbonding_epochs", "epoch_slots", "max_block_txs",
                                   "exchange_authority"}
                   | {"%s%d" % (f, i) for i in range(3)
                      for f in ("account", "balance", "stake", "nonce", "unbonding",
                                "unbonding_height", "slashed", "jailed")}),
    "genesis": (ex_genesis, set()),
}


def read_examples(path):
    """The fenced blocks "```example NAME" of key: value lines, as in protocol_doc_test.cpp."""
    out, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line.startswith("```example "):
                current = line[len("```example "):]
                if current in out:
                    raise SystemExit("docs/protocol.md: example %s appears twice" % current)
                out[current] = {}
            elif line.startswith("```"):
                current = None
            elif current is not None and ": " in line:
                key, value = line.split(": ", 1)
                if key in out[current]:
                    raise SystemExit("example %s: %s appears twice" % (current, key))
                out[current][key] = value
    return out


def main():
    show = sys.argv[1:] == ["--show"]
    examples = read_examples(DOC)
    errors, values = [], 0
    for name in sorted(set(examples) | set(EXAMPLES)):
        if name not in EXAMPLES:
            errors.append("example %s: this script does not know it" % name)
            continue
        if name not in examples:
            errors.append("example %s: missing from docs/protocol.md" % name)
            continue
        compute, inputs = EXAMPLES[name]
        e = examples[name]
        computed = compute(e)
        if show:
            print("```example " + name)
            for key in e:
                if key in inputs:
                    print("%s: %s" % (key, e[key]))
            for key, value in computed.items():
                print("%s: %s" % (key, value))
            print("```")
        for key in e:
            if key not in inputs and key not in computed:
                errors.append("example %s: %s is neither an input nor computed" % (name, key))
        for key, value in computed.items():
            if key in inputs:
                continue
            if e.get(key) != value:
                errors.append("example %s: %s is %s in the doc, computed %s"
                              % (name, key, e.get(key), value))
            else:
                values += 1
    # The nonce example starts from the demo chain's genesis hash.
    if examples.get("nonce", {}).get("genesis_hash") != examples.get("genesis", {}).get(
            "genesis_hash"):
        errors.append("example nonce: genesis_hash is not the genesis example's")
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        return 1
    print("%d examples, %d values ok" % (len(examples), values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
