// Transactions: immutable values with their id computed once, built from TxFields.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {

enum class TxType : std::uint8_t { kTransfer = 1, kStake = 2, kUnstake = 3, kExchange = 4 };

std::string_view tx_type_name(TxType type);  // "TRANSFER", ...
std::optional<TxType> parse_tx_type(std::string_view name);

// The unsigned content of a transaction: what a wallet fills in before signing.
struct TxFields {
  std::string chain_id;
  TxType type = TxType::kTransfer;
  Address sender;
  Address receiver;
  std::uint64_t amount = 0;
  std::uint64_t fee = 0;
  std::uint64_t nonce = 0;
  std::uint64_t timestamp_ms = 0;

  // "pos/tx/v1" || str(chain_id) || u8(type) || sender || receiver || u64 amount, fee, nonce,
  // timestamp_ms (docs/protocol.md).
  Bytes signing_bytes() const;
  Hash id() const { return sha256(signing_bytes()); }
};

class Transaction;
class SignatureVerifier;
using TransactionPtr = std::shared_ptr<const Transaction>;

class Transaction {
 public:
  Transaction(TxFields fields, const Signature& signature);
  static TransactionPtr make(TxFields fields, const Signature& signature);
  static TransactionPtr sign(TxFields fields, const SecretKey& key);

  const TxFields& fields() const { return fields_; }
  const std::string& chain_id() const { return fields_.chain_id; }
  TxType type() const { return fields_.type; }
  const Address& sender() const { return fields_.sender; }
  const Address& receiver() const { return fields_.receiver; }
  // The addresses whose history lists it: the sender and, when another, the receiver.
  std::vector<Address> parties() const {
    if (fields_.receiver == fields_.sender) return {fields_.sender};
    return {fields_.sender, fields_.receiver};
  }
  std::uint64_t amount() const { return fields_.amount; }
  std::uint64_t fee() const { return fields_.fee; }
  std::uint64_t nonce() const { return fields_.nonce; }
  std::uint64_t timestamp_ms() const { return fields_.timestamp_ms; }
  const Signature& signature() const { return signature_; }
  const Hash& id() const { return id_; }
  // Bytes the transaction occupies in a block: its signing bytes and its signature.
  std::size_t encoded_size() const { return encoded_size_; }

  // Ed25519 check of the signature over the signing bytes; the verdict is computed once.
  Status check_signature() const;
  // The rules that need neither account state nor the signature: type-specific shape, authority.
  // Cheap, so a peer's transactions meet them before any signature is checked.
  Status check_form(const Address& exchange_authority) const;
  // Every rule that needs no account state: check_form, then the signature.
  Status check_stateless(const Address& exchange_authority) const;

 private:
  friend class SignatureVerifier;  // reads verdicts, and records those its cache already knows
  void record_signature_verdict(bool valid) const {
    signature_verdict_.store(valid ? 1 : -1, std::memory_order_relaxed);
  }

  TxFields fields_;
  Signature signature_;
  Hash id_;
  std::size_t encoded_size_;
  mutable std::atomic<std::int8_t> signature_verdict_{0};  // 0 unknown, 1 valid, -1 invalid
};

// JSON (docs/protocol.md): {"type", "sender", "receiver", "amount", "fee", "nonce",
// "timestamp", "signature"} plus "id" when with_id.
std::string to_json(const Transaction& tx, bool with_id = true);
// Strict: unknown or duplicate fields, wrong types, non-integers, negatives, numbers over u64,
// bad hex and wrong lengths are refused, never rounded. An "id" field must match; a "chain_id"
// field, when present, must equal chain_id.
Result<TransactionPtr> transaction_from_json(std::string_view json, std::string_view chain_id);
// A JSON array of transactions, parsed once: each element's transaction or its refusal, in
// order. Refused as a whole: text that is not JSON or not an array (kMalformed), more than
// max_items elements (kPayloadTooLarge).
Result<std::vector<Result<TransactionPtr>>> transactions_from_json_array(std::string_view json,
                                                                         std::string_view chain_id,
                                                                         std::size_t max_items);

}  // namespace pos
