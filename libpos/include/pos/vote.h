// Votes (FFG, DESIGN.md §5): a validator's signed link from a source block to a target block,
// immutable, with its id and signing bytes computed once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {

// The content of a vote: what a validator fills in before signing.
struct VoteFields {
  std::string chain_id;
  PublicKey validator;
  Hash source_hash;
  std::uint64_t source_height = 0;
  Hash target_hash;
  std::uint64_t target_height = 0;

  // "pos/vote/v1" || str(chain_id) || source_hash || u64(source_height) || target_hash
  // || u64(target_height) (docs/protocol.md). The validator is not in it: the signature is.
  Bytes signing_bytes() const;
  // SHA-256(signing bytes || validator): two validators' identical votes have distinct ids.
  Hash id() const;
};

class Vote;
using VotePtr = std::shared_ptr<const Vote>;

class Vote {
 public:
  Vote(VoteFields fields, const Signature& signature);
  static VotePtr make(VoteFields fields, const Signature& signature);
  // Signs as `key`: the vote's validator becomes key's public key, whatever fields said.
  static VotePtr sign(VoteFields fields, const SecretKey& key);

  const VoteFields& fields() const { return fields_; }
  const std::string& chain_id() const { return fields_.chain_id; }
  const PublicKey& validator() const { return fields_.validator; }
  const Hash& source_hash() const { return fields_.source_hash; }
  std::uint64_t source_height() const { return fields_.source_height; }
  const Hash& target_hash() const { return fields_.target_hash; }
  std::uint64_t target_height() const { return fields_.target_height; }
  const Signature& signature() const { return signature_; }
  const Bytes& signing_bytes() const { return signing_bytes_; }
  const Hash& id() const { return id_; }
  // Bytes of its binary form: signing bytes || validator || signature.
  std::size_t encoded_size() const {
    return signing_bytes_.size() + PublicKey::size() + Signature::size();
  }

  // Ed25519 check under the validator's key (kBadSignature); the verdict is computed once.
  Status check_signature() const;
  // Every rule that needs no chain: a chain id of 1 to kMaxChainIdLength bytes (kWrongChain),
  // source_height < target_height (kBadVote), then the signature.
  Status check() const;
  // check() but the signature.
  Status check_form() const;

 private:
  VoteFields fields_;
  Signature signature_;
  Bytes signing_bytes_;
  Hash id_;
  mutable std::atomic<std::int8_t> signature_verdict_{0};  // 0 unknown, 1 valid, -1 invalid
};

// JSON (docs/protocol.md): {"validator", "source_hash", "source_height", "target_hash",
// "target_height", "signature"} plus "id" when with_id. The chain id is not in it: it is the
// node's.
std::string to_json(const Vote& vote, bool with_id = true);
// Strict like transaction_from_json: unknown or duplicate fields, wrong types, non-integers,
// bad hex and wrong lengths are refused (kMalformed); an "id" field must match (kIdMismatch).
// Context-free validity is check()'s, not the parser's.
Result<VotePtr> vote_from_json(std::string_view json, std::string_view chain_id);

}  // namespace pos
