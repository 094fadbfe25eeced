"""pytest suite of the pypos bindings: keys, signing interop with the C++ side, the leader draw
equal to the C++ one, the VRF and epoch nonces, votes, evidence and finality by votes, refusals
raised with codes, and a client round trip against a real node."""
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import pypos

# RFC 9381 Appendix B.3, example 16 (ECVRF-EDWARDS25519-SHA512-TAI, empty alpha).
RFC_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC_PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC_PI = ("8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f"
          "26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab12"
          "68a1b0db10836d9826a528ca76567805")
RFC_BETA = ("90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff"
            "66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae")

SOURCE = Path(os.environ.get("POS_SOURCE_DIR", Path(__file__).resolve().parents[3]))
KEYS = SOURCE / "keys"
ALICE = "aa99a150679f9de41f2ffb544d21d2a0befcfc5aa77f9f9ae01a0c810cd7fd98"
BOB = "4fe596fa15dd085bf8023a5b09dcc97037a4e5289c2ec3f54c8126df2bc2c3d6"


def protocol_example(name):
    """The key: value lines of a worked example in docs/protocol.md (computed by the C++ side)."""
    text = (SOURCE / "docs" / "protocol.md").read_text()
    block = text.split("```example " + name + "\n")[1].split("```")[0]
    return dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)


def test_keys_load_save_and_encrypt(tmp_path):
    alice = pypos.Wallet.load(str(KEYS / "alice.pem"))
    assert alice.address == ALICE
    assert alice.public_key == pypos.from_hex(ALICE)
    new = pypos.Wallet.generate()
    new.save(str(tmp_path / "plain.pem"))
    assert pypos.Wallet.load(str(tmp_path / "plain.pem")).address == new.address
    new.save(str(tmp_path / "enc.pem"), passphrase="pw")
    assert pypos.Wallet.load(str(tmp_path / "enc.pem"), passphrase="pw").address == new.address
    with pytest.raises(pypos.Error) as refused:
        pypos.Wallet.load(str(tmp_path / "enc.pem"), passphrase="nope")
    assert refused.value.code == "bad_key_file"
    with pytest.raises(pypos.Error) as missing:
        pypos.Wallet.load(str(tmp_path / "missing.pem"))
    assert missing.value.code == "io_error"


def test_transaction_matches_the_protocol_example():
    ex = protocol_example("transaction")
    # The example's key is RFC 8032's TEST 1 key, written here as a PKCS#8 file.
    with tempfile.TemporaryDirectory() as d:
        der = bytes.fromhex("302e020100300506032b657004220420" + ex["sender_seed"])
        import base64
        pem = "-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PRIVATE KEY-----\n"
        Path(d, "k.pem").write_text(pem)
        wallet = pypos.Wallet.load(str(Path(d, "k.pem")))
    tx = wallet.transaction(ex["type"], ex["chain_id"], ex["receiver"], int(ex["amount"]),
                            int(ex["fee"]), int(ex["nonce"]), int(ex["timestamp"]))
    assert tx.signing_bytes().hex() == ex["signing_bytes"]
    assert tx.id_hex == ex["id"]
    assert tx.signature.hex() == ex["signature"]
    assert tx.to_json(with_id=False) == ex["json"]
    assert tx.verify()


def test_signing_interop_with_pos_wallet(tmp_path):
    wallet_bin = os.environ.get("POS_WALLET")
    if not wallet_bin:
        pytest.skip("POS_WALLET is not set")
    alice = pypos.Wallet.load(str(KEYS / "alice.pem"))
    tx = alice.transaction("TRANSFER", "pos-demo", BOB, 3, 1, 7, 1767225601000)
    (tmp_path / "py.json").write_text(tx.to_json())
    # C++ verifies what Python signed ...
    subprocess.run([wallet_bin, "verify", str(tmp_path / "py.json"), "--chain-id", "pos-demo"],
                   check=True, capture_output=True)
    # ... and Python verifies what C++ signed.
    signed = subprocess.run([wallet_bin, "sign", "send", "--key", str(KEYS / "alice.pem"), "--to", BOB,
                             "--amount", "3", "--nonce", "7", "--chain-id", "pos-demo"],
                            check=True, capture_output=True, text=True).stdout
    cpp_tx = pypos.Transaction.from_json(signed, "pos-demo")
    assert cpp_tx.verify()
    assert cpp_tx.sender == alice.public_key
    assert pypos.Transaction.from_bytes(cpp_tx.to_bytes()).id == cpp_tx.id


def test_leader_draw_equals_the_cpp_one():
    ex = protocol_example("leader")
    pos = pypos.ProofOfStake({ex["validator0"]: int(ex["weight0"]),
                              ex["validator1"]: int(ex["weight1"]),
                              ex["validator2"]: int(ex["weight2"])})
    nonce = bytes.fromhex(ex["nonce"])
    assert pypos.ProofOfStake.seed(nonce, int(ex["slot"])).hex() == ex["seed"]
    assert pos.total_stake == int(ex["total_weight"])
    assert pos.leader(nonce, int(ex["slot"])).hex() == ex["leader"]
    assert [lot.stake for lot in pos.lots] == sorted([100, 200, 700], key=lambda s: {100: ex["validator0"], 200: ex["validator1"], 700: ex["validator2"]}[s])
    assert pypos.ProofOfStake({}).leader(nonce, 1) is None


def check_leaders(genesis, blocks):
    """Follows the chain `blocks` (heights 0, 1, ... in order) from its genesis the way the node
    does, and checks each block's forger and VRF proof against what pypos computes: the leader
    of the slot for nonce(epoch(slot)), and the proof of the slot's VRF input."""
    validators = pypos.ProofOfStake(genesis.stakers)
    assert blocks[0].height == 0 and blocks[0].hash == genesis.hash
    assert blocks[0].vrf_proof == bytes(80) and blocks[0].vrf_output == bytes(64)
    epochs = pypos.EpochState.genesis(genesis.hash)
    for block in blocks[1:]:
        epoch = genesis.epoch_of(block.slot)
        nonce = epochs.nonce_of(epoch)
        assert validators.leader(nonce, block.slot) == block.forger, f"block {block.height}"
        alpha = pypos.vrf_input(genesis.chain_id, nonce, block.slot)
        assert pypos.Vrf.verify(block.forger, alpha, block.vrf_proof) == block.vrf_output
        epochs = epochs.child(epoch, block.vrf_output)
    return epochs


def test_vrf_matches_rfc_9381():
    wallet = pypos.Wallet.from_seed(bytes.fromhex(RFC_SEED))
    assert wallet.address == RFC_PUBLIC_KEY
    proof = pypos.Vrf.prove(wallet, b"")
    assert proof.hex() == RFC_PI
    assert pypos.Vrf.verify(wallet.public_key, b"", proof).hex() == RFC_BETA
    assert pypos.Vrf.verify(RFC_PUBLIC_KEY, b"", proof).hex() == RFC_BETA  # a hex key too
    assert pypos.Vrf.proof_to_hash(proof).hex() == RFC_BETA


def test_vrf_verify_refuses_what_does_not_hold():
    wallet = pypos.Wallet.from_seed(bytes.fromhex(RFC_SEED))
    proof = bytes.fromhex(RFC_PI)
    for byte in (0, 40, 79):  # Gamma, c, s
        flipped = bytearray(proof)
        flipped[byte] ^= 0x01
        with pytest.raises(pypos.Error) as bit:
            pypos.Vrf.verify(wallet.public_key, b"", bytes(flipped))
        assert bit.value.code == "bad_vrf_proof"
    with pytest.raises(pypos.Error) as alpha:
        pypos.Vrf.verify(wallet.public_key, b"\x72", proof)
    assert alpha.value.code == "bad_vrf_proof"
    with pytest.raises(pypos.Error) as key:
        pypos.Vrf.verify(pypos.Wallet.generate().public_key, b"", proof)
    assert key.value.code == "bad_vrf_proof"
    # Wrong lengths are refused like a wrong-length nonce or address elsewhere in pypos.
    for wrong in (proof[:79], proof + b"\x00", b""):
        with pytest.raises(pypos.Error) as length:
            pypos.Vrf.verify(wallet.public_key, b"", wrong)
        assert length.value.code == "invalid_argument"
        with pytest.raises(pypos.Error) as hashed:
            pypos.Vrf.proof_to_hash(wrong)
        assert hashed.value.code == "invalid_argument"
    with pytest.raises(pypos.Error) as short_key:
        pypos.Vrf.verify(wallet.public_key[:31], b"", proof)
    assert short_key.value.code == "invalid_argument"
    with pytest.raises(pypos.Error) as seed:
        pypos.Wallet.from_seed(bytes(31))
    assert seed.value.code == "invalid_argument"
    # s not below the group order: the proof does not decode.
    with pytest.raises(pypos.Error) as undecodable:
        pypos.Vrf.proof_to_hash(proof[:48] + b"\xff" * 32)
    assert undecodable.value.code == "bad_vrf_proof"
    # A fresh key proves and verifies a slot's input.
    other = pypos.Wallet.generate()
    alpha_bytes = pypos.vrf_input("pos-demo", bytes(32), 7)
    assert pypos.Vrf.verify(other.address, alpha_bytes, pypos.Vrf.prove(other, alpha_bytes)) == \
        pypos.Vrf.proof_to_hash(pypos.Vrf.prove(other, alpha_bytes))


def test_epoch_nonces_follow_the_protocol():
    tag = b"pos/nonce/v1"
    ex = protocol_example("nonce")
    genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
    assert genesis.hash_hex == ex["genesis_hash"]
    assert (genesis.epoch_slots, genesis.max_block_txs) == (32, 10000)
    assert [genesis.epoch_of(s) for s in (0, 31, 32, 63, 64)] == [0, 0, 1, 1, 2]
    h = genesis.hash
    first = pypos.initial_nonce(h)
    assert first == hashlib.sha256(tag + h).digest()
    state = pypos.EpochState.genesis(h)
    assert (state.epoch, state.nonce, state.next_nonce) == (0, first, first)
    assert state.nonce_of(0) == state.nonce_of(1) == first
    assert first.hex() == ex["nonce0"] == ex["nonce1"]
    empty = hashlib.sha256(b"").digest()
    assert pypos.next_nonce(first, empty) == hashlib.sha256(tag + first + empty).digest()
    assert state.nonce_of(2) == pypos.next_nonce(first, empty)
    assert state.nonce_of(3) == pypos.next_nonce(state.nonce_of(2), empty)
    # The example: two blocks in epoch 0, none in epoch 1.
    out0, out1 = bytes.fromhex(ex["epoch0_output0"]), bytes.fromhex(ex["epoch0_output1"])
    after = state.child(0, out0).child(0, out1)
    digest = hashlib.sha256(out0 + out1).digest()
    assert digest.hex() == ex["epoch0_digest"]
    assert after.nonce_of(1) == first
    assert after.nonce_of(2).hex() == ex["nonce2"] == hashlib.sha256(tag + first + digest).hexdigest()
    assert after.nonce_of(3).hex() == ex["nonce3"]
    assert pypos.EpochState.resume(0, first, first, [out0, out1]).nonce_of(3) == after.nonce_of(3)
    # A block of epoch e counts in nonce(e + 2), not in nonce(e + 1), which was fixed already.
    for epoch in (0, 5):
        parent = state.child(epoch, out0) if epoch else state
        child = parent.child(epoch, out1)
        assert child.epoch == epoch
        assert child.nonce_of(epoch) == parent.nonce_of(epoch)
        assert child.nonce_of(epoch + 1) == parent.nonce_of(epoch + 1)
        assert child.nonce_of(epoch + 2) != parent.nonce_of(epoch + 2)
        assert child.nonce_of(epoch + 3) != parent.nonce_of(epoch + 3)
    # A block in the next epoch: its parent's epoch's outputs go into nonce(epoch + 1).
    later = state.child(0, out0).child(1, out1)
    assert (later.epoch, later.nonce) == (1, first)
    assert later.next_nonce == pypos.next_nonce(first, hashlib.sha256(out0).digest())
    assert later.nonce_of(3) == pypos.next_nonce(later.next_nonce, hashlib.sha256(out1).digest())
    # The VRF input: "pos/vrf/v1" || str(chain_id) || nonce || u64(slot), big-endian.
    assert pypos.vrf_input("pos-demo", first, 5) == \
        b"pos/vrf/v1" + (8).to_bytes(2, "big") + b"pos-demo" + first + (5).to_bytes(8, "big")
    with pytest.raises(pypos.Error) as earlier:
        later.nonce_of(0)
    assert earlier.value.code == "invalid_argument"
    with pytest.raises(pypos.Error) as back:
        later.child(0, out0)
    assert back.value.code == "invalid_argument"
    for call in (lambda: state.child(0, out0[:63]), lambda: pypos.EpochState.genesis(h[:31]),
                 lambda: pypos.initial_nonce(h + b"\x00"), lambda: pypos.next_nonce(first, b""),
                 lambda: pypos.vrf_input("pos-demo", b"", 1),
                 lambda: pypos.EpochState.resume(0, first, first, [out0[:1]])):
        with pytest.raises(pypos.Error) as wrong:
            call()
        assert wrong.value.code == "invalid_argument"


def test_leaders_and_vrf_proofs_of_a_chain_across_epochs():
    genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
    wallets = {w.public_key: w for w in
               (pypos.Wallet.load(str(KEYS / f"validator{i}.pem")) for i in (1, 2, 3))}
    assert set(genesis.stakers) == {k.hex() for k in wallets}
    chain = pypos.Blockchain(genesis, now_ms=genesis.genesis_time)
    pool = pypos.TransactionPool(genesis)
    # Blocks in epochs 0, 1, 2, 3 and 5 (4 left empty), so that nonces fold in earlier outputs.
    for slot in (1, 2, 30, 33, 40, 64, 70, 100, 170, 190):
        chain.set_time(genesis.genesis_time + slot * genesis.slot_ms)
        leader = chain.leader(slot)
        block = chain.forge(wallets[leader], slot, pool)
        assert chain.apply(block) == "extended"
    blocks = [chain.block_at(h) for h in range(chain.height + 1)]
    epochs = check_leaders(genesis, blocks)
    # The next slots' leaders, as the chain draws them, from the state after its tip.
    validators = pypos.ProofOfStake(genesis.stakers)
    for slot in (191, 200, 260, 300):
        assert chain.leader(slot) == validators.leader(epochs.nonce_of(genesis.epoch_of(slot)), slot)
    # Nobody staked or unstaked: every epoch's set is the genesis stakes.
    for epoch in (0, 3, 5, 9):
        assert chain.validators(epoch) == genesis.stakers


def test_a_required_block_refuses_other_chains():
    genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
    wallets = {w.public_key: w for w in
               (pypos.Wallet.load(str(KEYS / f"validator{i}.pem")) for i in (1, 2, 3))}
    chain = pypos.Blockchain(genesis, now_ms=genesis.genesis_time)
    pool = pypos.TransactionPool(genesis)

    def forge(slot):
        chain.set_time(genesis.genesis_time + slot * genesis.slot_ms)
        return chain.forge(wallets[chain.leader(slot)], slot, pool)

    for slot in (1, 2, 3):
        assert chain.apply(forge(slot)) == "extended"
    other = "ab" * 32
    with pytest.raises(pypos.Error) as stored:
        chain.require_block(2, other)
    assert stored.value.code == "conflicts_finalized"
    chain.require_block(2, chain.block_at(2).hash)
    # A height not reached yet: the chain's own next block there is not that block.
    chain.require_block(4, other)
    with pytest.raises(pypos.Error) as refused:
        chain.apply(forge(4))
    assert refused.value.code == "conflicts_finalized"
    assert chain.height == 3


def test_refusals_raise_error_with_codes():
    with pytest.raises(pypos.Error) as bad_json:
        pypos.Transaction.from_json('{"type": 1}', "pos-demo")
    assert bad_json.value.code == "malformed"
    genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
    chain = pypos.Blockchain(genesis, now_ms=genesis.genesis_time + 10_000)
    pool = pypos.TransactionPool(genesis)
    exchange = pypos.Wallet.load(str(KEYS / "validator1.pem"))
    alice = pypos.Wallet.load(str(KEYS / "alice.pem"))
    with pytest.raises(pypos.Error) as broke:
        pool.add(alice.transaction("TRANSFER", genesis.chain_id, BOB, 1), chain.state)
    assert broke.value.code == "insufficient_funds"
    with pytest.raises(pypos.Error) as minted:
        pool.add(alice.transaction("EXCHANGE", genesis.chain_id, BOB, 1), chain.state)
    assert minted.value.code == "unauthorized_exchange"
    mint = exchange.transaction("EXCHANGE", genesis.chain_id, ALICE, 50)
    pool.add(mint, chain.state)
    with pytest.raises(pypos.Error) as again:
        pool.add(mint, chain.state)
    assert again.value.code == "duplicate"
    # Forge the next block whose leader is validator1, apply it: alice has 50.
    validators = {pypos.Wallet.load(str(KEYS / f"validator{i}.pem")).public_key: i for i in (1, 2, 3)}
    slot = chain.tip_slot + 1
    while chain.leader(slot) != exchange.public_key:
        slot += 1
    chain.set_time(genesis.genesis_time + slot * genesis.slot_ms)
    block = chain.forge(exchange, slot, pool)
    assert chain.apply(block) == "extended"
    assert chain.state.get(ALICE)["balance"] == 50
    with pytest.raises(pypos.Error) as known:
        chain.apply(block)
    assert known.value.code == "already_known"
    assert pypos.Block.from_bytes(block.to_bytes()).hash == block.hash
    assert len(validators) == 3


def test_vote_matches_the_protocol_example():
    ex = protocol_example("vote")
    wallet = pypos.Wallet.from_seed(bytes.fromhex(ex["validator_seed"]))
    vote = wallet.vote(ex["chain_id"], ex["source_hash"], int(ex["source_height"]),
                       bytes.fromhex(ex["target_hash"]), int(ex["target_height"]))
    assert vote.validator.hex() == ex["validator"] == wallet.address
    assert vote.chain_id == ex["chain_id"]
    assert (vote.source_hash.hex(), vote.source_height) == (ex["source_hash"], 0)
    assert (vote.target_hash.hex(), vote.target_height) == (ex["target_hash"], 1)
    assert vote.signing_bytes().hex() == ex["signing_bytes"]
    assert vote.signature.hex() == ex["signature"]
    assert vote.id_hex == ex["id"] == vote.id.hex()
    # id = SHA-256(signing bytes || validator): two validators' identical votes differ.
    assert vote.id == hashlib.sha256(vote.signing_bytes() + vote.validator).digest()
    assert vote.signing_bytes() == (b"pos/vote/v1" + (8).to_bytes(2, "big") + b"pos-demo"
                                    + vote.source_hash + (0).to_bytes(8, "big")
                                    + vote.target_hash + (1).to_bytes(8, "big"))
    assert wallet.sign(vote.signing_bytes()) == vote.signature
    assert vote.to_bytes().hex() == ex["encoded"]
    assert vote.to_json() == ex["json"]
    assert vote.verify()
    vote.check()
    # Round trips: JSON (with and without the id) and bytes.
    for text in (vote.to_json(), vote.to_json(with_id=False)):
        again = pypos.Vote.from_json(text, ex["chain_id"])
        assert (again.id, again.signature, again.chain_id) == (vote.id, vote.signature, "pos-demo")
    assert pypos.Vote.from_bytes(vote.to_bytes()).to_json() == vote.to_json()


def test_vote_refusals_raise_error_with_codes():
    ex = protocol_example("vote")
    wallet = pypos.Wallet.from_seed(bytes.fromhex(ex["validator_seed"]))
    vote = pypos.Vote.from_bytes(bytes.fromhex(ex["encoded"]))
    # A flipped signature bit: it parses, but does not hold.
    flipped = bytearray(vote.to_bytes())
    flipped[-1] ^= 0x01
    forged = pypos.Vote.from_bytes(bytes(flipped))
    assert not forged.verify()
    with pytest.raises(pypos.Error) as signature:
        forged.check()
    assert signature.value.code == "bad_signature"
    # Another validator's signature on the same vote.
    other = json.loads(vote.to_json(with_id=False))
    other["validator"] = pypos.Wallet.generate().address
    with pytest.raises(pypos.Error) as stolen:
        pypos.Vote.from_json(json.dumps(other), "pos-demo").check()
    assert stolen.value.code == "bad_signature"
    # The source not below the target.
    for source, target in ((1, 1), (2, 1)):
        backwards = wallet.vote("pos-demo", ex["source_hash"], source, ex["target_hash"], target)
        assert backwards.verify()
        with pytest.raises(pypos.Error) as bad:
            backwards.check()
        assert bad.value.code == "bad_vote"
    # Parsing is strict.
    with pytest.raises(pypos.Error) as wrong_id:
        pypos.Vote.from_json(vote.to_json().replace(ex["id"], "00" * 32), "pos-demo")
    assert wrong_id.value.code == "id_mismatch"
    for data in (vote.to_bytes()[:-1], vote.to_bytes() + b"\x00", b""):
        with pytest.raises(pypos.Error) as truncated:
            pypos.Vote.from_bytes(data)
        assert truncated.value.code == "malformed"
    with pytest.raises(pypos.Error) as unknown:
        pypos.Vote.from_json('{"validator": 1}', "pos-demo")
    assert unknown.value.code == "malformed"
    # Hashes of the wrong length.
    h = bytes.fromhex(ex["source_hash"])
    for call in (lambda: wallet.vote("pos-demo", h[:31], 0, h, 1),
                 lambda: wallet.vote("pos-demo", h, 0, h + b"\x00", 1),
                 lambda: pypos.Blockchain(pypos.Genesis.load(str(KEYS / "genesis.json")))
                 .vote_finality.has_vote(h[:31], 1)):
        with pytest.raises(pypos.Error) as length:
            call()
        assert length.value.code == "invalid_argument"
    with pytest.raises(pypos.Error) as short_hex:
        wallet.vote("pos-demo", ex["source_hash"][:62], 0, h, 1)
    assert short_hex.value.code == "malformed"


def test_evidence_matches_the_protocol_example():
    ex = protocol_example("evidence")
    offender = pypos.Wallet.from_seed(bytes.fromhex(ex["offender_seed"]))
    assert offender.address == ex["offender"]
    vote1, vote2 = (offender.vote(ex["chain_id"], ex[f"vote{i}_source_hash"],
                                  int(ex[f"vote{i}_source_height"]), ex[f"vote{i}_target_hash"],
                                  int(ex[f"vote{i}_target_height"])) for i in (1, 2))
    for pair in ((vote1, vote2), (vote2, vote1)):  # either order gives the one layout
        evidence = pypos.Evidence.double_vote(*pair)
        assert evidence.kind == ex["kind"] == "double_vote"
        assert evidence.offender.hex() == ex["offender"]
        assert evidence.a.hex() == ex["a"] and evidence.a == vote2.signing_bytes()
        assert evidence.sig_a.hex() == ex["sig_a"] and evidence.sig_a == vote2.signature
        assert evidence.b.hex() == ex["b"] and evidence.b == vote1.signing_bytes()
        assert evidence.sig_b.hex() == ex["sig_b"]
        assert evidence.bytes.hex() == ex["evidence_bytes"] == evidence.to_bytes().hex()
        assert evidence.id_hex == ex["id"]
        assert evidence.id == hashlib.sha256(evidence.bytes).digest()
        assert evidence.to_json() == ex["json"]
    evidence.check(ex["chain_id"])
    a, b = evidence.a, evidence.b
    assert evidence.bytes == (b"pos/evidence/v1" + b"\x02" + evidence.offender
                              + len(a).to_bytes(4, "big") + a + evidence.sig_a
                              + len(b).to_bytes(4, "big") + b + evidence.sig_b)
    # Round trips.
    for text in (evidence.to_json(), evidence.to_json(with_id=False)):
        assert pypos.Evidence.from_json(text).id == evidence.id
    assert pypos.Evidence.from_bytes(evidence.to_bytes()).to_json() == evidence.to_json()
    with pytest.raises(pypos.Error) as other_chain:
        evidence.check("pos-other")
    assert other_chain.value.code == "wrong_chain"


def test_evidence_of_surround_votes_and_double_blocks_and_its_refusals():
    genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
    chain_id = genesis.chain_id
    wallet = pypos.Wallet.load(str(KEYS / "validator1.pem"))
    g, x, y = genesis.hash, b"\x11" * 32, b"\x22" * 32
    outer = wallet.vote(chain_id, g, 0, x, 3)
    inner = wallet.vote(chain_id, y, 1, y, 2)
    for pair in ((outer, inner), (inner, outer)):
        surround = pypos.Evidence.surround_vote(*pair)
        assert surround.kind == "surround_vote"
        assert (surround.a, surround.b) == (outer.signing_bytes(), inner.signing_bytes())
        assert surround.offender == wallet.public_key
        surround.check(chain_id)
    assert pypos.Evidence.from_json(surround.to_json()).id == surround.id
    # Pairs that do not conflict.
    stranger = pypos.Wallet.generate()
    for call in (lambda: pypos.Evidence.double_vote(outer, outer),
                 lambda: pypos.Evidence.double_vote(outer, inner),  # target heights differ
                 lambda: pypos.Evidence.surround_vote(outer, outer),
                 lambda: pypos.Evidence.surround_vote(inner, wallet.vote(chain_id, g, 0, x, 2)),
                 lambda: pypos.Evidence.double_vote(outer, stranger.vote(chain_id, g, 0, y, 3)),
                 lambda: pypos.Evidence.surround_vote(outer, stranger.vote(chain_id, y, 1, y, 2))):
        with pytest.raises(pypos.Error) as refused:
            call()
        assert refused.value.code == "bad_evidence"
    # Evidence with a broken signature parses, and check() refuses it.
    broken = json.loads(surround.to_json(with_id=False))
    broken["sig_b"] = broken["sig_a"]
    with pytest.raises(pypos.Error) as bad_sig:
        pypos.Evidence.from_json(json.dumps(broken)).check(chain_id)
    assert bad_sig.value.code == "bad_evidence"
    with pytest.raises(pypos.Error) as truncated:
        pypos.Evidence.from_bytes(surround.to_bytes()[:-1])
    assert truncated.value.code == "malformed"
    # Two blocks of one forger for one slot: one plain, one carrying a vote.
    chain = pypos.Blockchain(genesis, now_ms=genesis.genesis_time)
    pool = pypos.TransactionPool(genesis)
    wallets = {w.public_key: w for w in
               (pypos.Wallet.load(str(KEYS / f"validator{i}.pem")) for i in (1, 2, 3))}
    chain.set_time(genesis.genesis_time + genesis.slot_ms)
    leader = wallets[chain.leader(1)]
    plain = chain.forge(leader, 1, pool)
    voting = chain.forge(leader, 1, pool, votes=[outer])
    assert (plain.votes, plain.evidence) == ([], [])
    assert [v.id for v in voting.votes] == [outer.id]
    assert plain.slot == voting.slot and plain.hash != voting.hash
    double = pypos.Evidence.double_block(voting, plain)
    assert double.kind == "double_block" and double.offender == leader.public_key
    assert sorted([double.a, double.b]) == [double.a, double.b]
    double.check(chain_id)
    with pytest.raises(pypos.Error) as same:
        pypos.Evidence.double_block(plain, plain)
    assert same.value.code == "bad_evidence"
    # Evidence waits pending, one piece per offender, and the next block carries it.
    assert chain.add_evidence(double) is True
    assert chain.add_evidence(double) is False  # held already
    assert chain.add_evidence(surround) == (surround.offender != double.offender)
    pending = sorted(e.id for e in chain.pending_evidence)
    carrying = chain.forge(leader, 1, pool, votes=[outer, inner])
    again = pypos.Block.from_bytes(carrying.to_bytes())
    assert [v.id for v in again.votes] == [outer.id, inner.id]
    assert sorted(e.id for e in again.evidence) == pending
    # Applied, it burns the offenders' stake and marks them slashed.
    slashing = chain.forge(leader, 1, pool)
    assert chain.apply(slashing) == "extended"
    for offender in {double.offender, surround.offender}:
        account = chain.state.get(offender)
        assert account["slashed"] and account["stake"] == 0 and account["jailed"] is False
    assert chain.pending_evidence == []
    # The other block of the slot is valid too: a double block is evidence, never a refusal.
    assert chain.apply(plain) in ("reorganized", "side_branch")


def test_votes_in_blocks_justify_and_finalize_the_chain():
    genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
    validators = [pypos.Wallet.load(str(KEYS / f"validator{i}.pem")) for i in (1, 2, 3)]
    wallets = {w.public_key: w for w in validators}
    chain = pypos.Blockchain(genesis, now_ms=genesis.genesis_time)
    pool = pypos.TransactionPool(genesis)
    start = chain.vote_finality
    assert start.justified == start.finalized == start.block
    assert (start.justified.height, start.justified.hash) == (0, genesis.hash)

    def extend(votes):
        slot = chain.tip_slot + 1
        chain.set_time(genesis.genesis_time + slot * genesis.slot_ms)
        block = chain.forge(wallets[chain.leader(slot)], slot, pool, votes=votes)
        assert chain.apply(block) == "extended"
        return block

    def votes_for_the_tip(voters):
        """Each voter's vote from the chain's highest justified block to its tip."""
        source = chain.vote_finality.justified
        return [w.vote(genesis.chain_id, source.hash, source.height, chain.tip, chain.height)
                for w in voters]

    extend([])
    for h in range(2, 13):
        votes = votes_for_the_tip(validators)
        block = extend(votes)
        assert [v.id for v in block.votes] == [v.id for v in votes]
        finality = chain.vote_finality
        assert finality.justified.height == h - 1
        assert finality.finalized.height == h - 2
        assert finality.block.height == h and finality.block.hash == chain.tip
        assert finality.justified.hash == chain.block_at(h - 1).hash
        assert finality.justified.slot == chain.block_at(h - 1).slot
        assert finality.finalized.hash_hex == chain.block_at(h - 2).hash_hex
        assert finality.is_justified(h - 1) and not finality.is_justified(h)
        assert all(finality.has_vote(w.address, h - 1) for w in validators)
    justified = chain.vote_finality.justified
    # Two of three validators are not more than two thirds: justification stops there.
    extend(votes_for_the_tip(validators[:2]))
    assert chain.vote_finality.justified == justified
    assert not chain.vote_finality.has_vote(validators[2].public_key, chain.height - 1)
    # A second vote by one validator for one target height is refused.
    slot = chain.tip_slot + 1
    chain.set_time(genesis.genesis_time + slot * genesis.slot_ms)
    again = chain.forge(wallets[chain.leader(slot)], slot, pool,
                        votes=[validators[0].vote(genesis.chain_id, genesis.hash, 0,
                                                  chain.block_at(chain.height - 1).hash,
                                                  chain.height - 1)])
    with pytest.raises(pypos.Error) as twice:
        chain.apply(again)
    assert twice.value.code == "bad_vote"


def test_client_round_trip_against_a_real_node(tmp_path):
    node_bin = os.environ.get("POS_NODE")
    if not node_bin:
        pytest.skip("POS_NODE is not set")
    # Ports 0: the node binds what the system gives and writes the ports to its --ports-file.
    ports_file = tmp_path / "ports.json"
    node = subprocess.Popen([node_bin, "--p2p", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
                             "--ports-file", str(ports_file),
                             "--genesis", str(KEYS / "genesis.json"), "--data-dir", str(tmp_path / "data"),
                             "--key", str(KEYS / "validator1.pem")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if ports_file.exists() or node.poll() is not None:
                break
            time.sleep(0.05)
        assert ports_file.exists(), "pos-node did not write its ports file"
        rpc = json.loads(ports_file.read_text())["rpc"]
        client = pypos.Client(f"http://127.0.0.1:{rpc}")
        for _ in range(100):
            try:
                info = client.info()
                break
            except pypos.Error:
                time.sleep(0.1)
        assert info["chain_id"] == "pos-demo"
        # The finality fields of /info, and GET /finality. validator1 alone holds a third of the
        # demo stake: its votes finalize nothing, so both checkpoints stay at genesis.
        for key in ("justified_height", "finalized_height", "finalized_hash", "epoch", "syncing"):
            assert key in info, key
        assert info["justified_height"] >= info["finalized_height"]
        if "protocol_version" in info:
            assert info["protocol_version"] >= 1
        finality = client.finality()
        assert set(finality) == {"justified", "finalized"}
        for checkpoint in finality.values():
            assert set(checkpoint) == {"height", "hash"}
            assert isinstance(checkpoint["height"], int)
            assert len(checkpoint["hash"]) == 64 and checkpoint["hash"] == checkpoint["hash"].lower()
        assert finality["justified"]["height"] >= finality["finalized"]["height"]
        assert finality["finalized"] == {"height": 0, "hash": info["genesis_hash"]}
        assert info["finalized_hash"] == info["genesis_hash"]
        exchange = pypos.Wallet.load(str(KEYS / "validator1.pem"))
        nonce = client.account(exchange.address)["nonce"]
        tx = exchange.transaction("EXCHANGE", "pos-demo", BOB, 5, 0, nonce, int(time.time() * 1000))
        assert client.submit(tx) == tx.id_hex
        with pytest.raises(pypos.Error) as dup:
            client.submit(tx)
        assert dup.value.code == "duplicate"
        for _ in range(300):  # validator1 leads a third of the one-second slots
            status = client.transaction_status(tx.id_hex)
            if status["status"] == "included":
                break
            time.sleep(0.1)
        assert status["status"] == "included"
        block = client.block(status["height"])
        assert tx.id in [t.id for t in block.transactions]
        assert client.account(BOB)["balance"] >= 5
        # Every block the node forged: its forger is the leader pypos draws for its slot from
        # the genesis and the VRF outputs of the blocks before it, and its VRF proof holds.
        genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
        tip = client.info()["height"]
        blocks = [client.block(h) for h in range(tip + 1)]
        epochs = check_leaders(genesis, blocks)
        assert all(b.forger == exchange.public_key for b in blocks[1:])
        # GET /validators: the genesis stakes, and the nonces pypos computed from the blocks
        # (the tip's epoch and the next are fixed by the blocks up to the tip).
        stakers = [{"address": a, "stake": s} for a, s in sorted(genesis.stakers.items())]
        tip_epoch = genesis.epoch_of(blocks[-1].slot)
        for epoch, nonce in ((0, pypos.initial_nonce(genesis.hash)),
                             (tip_epoch, epochs.nonce_of(tip_epoch)),
                             (tip_epoch + 1, epochs.nonce_of(tip_epoch + 1))):
            assert client.validators(epoch) == {"epoch": epoch, "nonce": nonce.hex(),
                                                "total_stake": 300, "validators": stakers}
        current = client.validators()
        assert current["epoch"] >= info["epoch"] and current["validators"] == stakers
        with pytest.raises(pypos.Error) as ahead:
            client.validators(current["epoch"] + 1000)
        assert ahead.value.code == "invalid_argument"
        # GET /votes: the node voted for each block it forged as it became the head.
        votes = client.votes(block.hash_hex)
        assert votes["target"] == block.hash_hex
        mine = [v for v in votes["votes"] if v.validator == exchange.public_key]
        assert len(mine) == 1 and mine[0].target_hash == block.hash
        assert mine[0].target_height == block.height and mine[0].verify()
        assert client.votes("00" * 32) == {"target": "00" * 32, "votes": []}
        # The node's data dir, read-only, while the node runs.
        view = pypos.Blockchain.open_data_dir(genesis, str(tmp_path / "data"))
        assert view.height >= status["height"]
        assert view.block_at(status["height"]).hash_hex == block.hash_hex
        assert view.state.get(BOB)["balance"] >= 5
        with pytest.raises(pypos.Error) as readonly:
            view.apply(block)
        assert readonly.value.code in ("already_known", "storage")
        with pytest.raises(pypos.Error) as nothing:
            pypos.Blockchain.open_data_dir(genesis, str(tmp_path / "nothing"))
        assert nothing.value.code == "storage"
    finally:
        node.terminate()
        node.wait(timeout=30)
