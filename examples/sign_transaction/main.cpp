// Make, sign, serialise and verify a transaction with libpos.
#include <pos/pos.h>

#include <cstdio>

int main() {
  if (!pos::init().ok()) return 1;
  pos::Wallet alice = pos::Wallet::generate();
  pos::Wallet bob = pos::Wallet::generate();

  // A TRANSFER of 25 from alice to bob on chain "pos-demo", alice's first (nonce 0).
  auto tx = alice.transfer("pos-demo", bob.public_key(), 25, 1, 0, 1767225601000);
  std::printf("id         %s\n", tx->id().hex().c_str());
  std::printf("signature  %s\n", tx->signature().hex().c_str());

  // Serialise as JSON (what the RPC takes) and as bytes (what peers exchange).
  std::string json = pos::to_json(*tx);
  pos::Bytes bytes = pos::encode(*tx);
  std::printf("json       %s\n", json.c_str());
  std::printf("bytes      %zu\n", bytes.size());

  // Parse both back and verify the signature.
  auto from_json = pos::transaction_from_json(json, "pos-demo");
  auto from_bytes = pos::decode_transaction(bytes);
  if (!from_json.ok() || !from_bytes.ok()) return 1;
  bool valid = (*from_json)->check_signature().ok() && (*from_bytes)->id() == tx->id();
  // The same transaction claimed for another chain does not verify: the chain id is signed.
  auto elsewhere = pos::transaction_from_json(pos::to_json(*tx, false), "pos-other");
  bool refused = elsewhere.ok() && !(*elsewhere)->check_signature().ok();
  std::printf("verified   %s; for another chain: %s\n", valid ? "yes" : "NO",
              refused ? "refused" : "ACCEPTED");
  return valid && refused ? 0 : 1;
}
