"""pytest suite of the pypos bindings: keys, signing interop with the C++ side, the leader draw
equal to the C++ one, refusals raised with codes, and a client round trip against a real node."""
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import pypos

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
        # The node's data dir, read-only, while the node runs.
        genesis = pypos.Genesis.load(str(KEYS / "genesis.json"))
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
