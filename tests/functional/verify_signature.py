"""Verifies a signed transaction JSON file with an Ed25519 implementation independent of libpos
(PyNaCl), over signing bytes rebuilt from docs/protocol.md alone.
usage: verify_signature.py TX.json CHAIN_ID   (exit 0: valid, 1: invalid)"""
import hashlib
import json
import struct
import sys

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

TYPES = {"TRANSFER": 1, "STAKE": 2, "UNSTAKE": 3, "EXCHANGE": 4}


def signing_bytes(tx, chain_id):
    chain = chain_id.encode()
    return (b"pos/tx/v1" + struct.pack(">H", len(chain)) + chain + bytes([TYPES[tx["type"]]])
            + bytes.fromhex(tx["sender"]) + bytes.fromhex(tx["receiver"])
            + struct.pack(">QQQQ", tx["amount"], tx["fee"], tx["nonce"], tx["timestamp"]))


def main():
    with open(sys.argv[1]) as f:
        tx = json.load(f)
    message = signing_bytes(tx, sys.argv[2])
    if "id" in tx and hashlib.sha256(message).hexdigest() != tx["id"]:
        print("id differs from SHA-256 of the signing bytes")
        return 1
    try:
        VerifyKey(bytes.fromhex(tx["sender"])).verify(message, bytes.fromhex(tx["signature"]))
    except BadSignatureError:
        print("bad signature")
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
