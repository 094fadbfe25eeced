"""The teaching project's Interaction flow, written with pypos against a running node:
the exchange gives alice 100 and bob 100 and 10; alice stakes 25; alice sends bob 1, twice.

usage: python3 interaction.py [NODE_URL] [KEYS_DIR]   (defaults http://127.0.0.1:5001, keys)
"""
import sys
import time

import pypos


def wait_included(client, tx_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.transaction_status(tx_id)
        if status["status"] == "included":
            return status["height"]
        time.sleep(0.2)
    raise TimeoutError(f"{tx_id} not included within {timeout} s")


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5001"
    keys = sys.argv[2] if len(sys.argv) > 2 else "keys"
    client = pypos.Client(url)
    chain_id = client.info()["chain_id"]
    exchange = pypos.Wallet.load(f"{keys}/validator1.pem")
    alice = pypos.Wallet.load(f"{keys}/alice.pem")
    bob = pypos.Wallet.load(f"{keys}/bob.pem")
    nonces = {}

    def send(wallet, kind, receiver, amount, label):
        nonce = nonces.setdefault(wallet.address, client.account(wallet.address)["nonce"])
        nonces[wallet.address] = nonce + 1
        tx = wallet.transaction(kind, chain_id, receiver, amount, 0, nonce, int(time.time() * 1000))
        tx_id = client.submit(tx)
        print(f"{label:28} {tx_id}  height {wait_included(client, tx_id)}")

    send(exchange, "EXCHANGE", alice.address, 100, "exchange gives alice 100")
    send(exchange, "EXCHANGE", bob.address, 100, "exchange gives bob 100")
    send(exchange, "EXCHANGE", bob.address, 10, "exchange gives bob 10")
    send(alice, "STAKE", None, 25, "alice stakes 25")
    send(alice, "TRANSFER", bob.address, 1, "alice sends bob 1")
    send(alice, "TRANSFER", bob.address, 1, "alice sends bob 1 again")
    for name, wallet in (("alice", alice), ("bob", bob)):
        account = client.account(wallet.address)
        print(f"{name:6} balance {account['balance']}  stake {account['stake']}")


if __name__ == "__main__":
    main()
