// Blocks: an immutable header, its transactions and the forger's signature over the header.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/crypto.h"
#include "pos/status.h"
#include "pos/transaction.h"
#include "pos/vrf.h"

namespace pos {

struct BlockHeader {
  std::string chain_id;
  std::uint64_t height = 0;
  Hash parent;
  std::uint64_t slot = 0;
  std::uint64_t timestamp_ms = 0;
  PublicKey forger;
  VrfProof vrf_proof;
  Hash tx_root;
  Hash vote_root;
  Hash evidence_root;
  Hash state_root;
  std::uint32_t tx_count = 0;
  std::uint32_t vote_count = 0;
  std::uint32_t evidence_count = 0;

  // "pos/block/v2" || str(chain_id) || u64 height || parent || u64 slot || u64 timestamp_ms
  // || forger || vrf_proof || tx_root || vote_root || evidence_root || state_root
  // || u32 tx_count || u32 vote_count || u32 evidence_count (docs/protocol.md).
  Bytes signing_bytes() const;
  Hash hash() const { return sha256(signing_bytes()); }
};

class Block;
using BlockPtr = std::shared_ptr<const Block>;
// pos/vote.h and pos/evidence.h (which needs BlockHeader) define them.
class Vote;
using VotePtr = std::shared_ptr<const Vote>;
class Evidence;
using EvidencePtr = std::shared_ptr<const Evidence>;

class Block {
 public:
  Block(BlockHeader header, const Signature& signature, std::vector<TransactionPtr> transactions,
        std::vector<VotePtr> votes = {}, std::vector<EvidencePtr> evidence = {});
  static BlockPtr make(BlockHeader header, const Signature& signature,
                       std::vector<TransactionPtr> transactions, std::vector<VotePtr> votes = {},
                       std::vector<EvidencePtr> evidence = {});
  // Fills in the roots and counts from the body, then signs the header.
  static BlockPtr sign(BlockHeader header, std::vector<TransactionPtr> transactions,
                       const SecretKey& forger_key, std::vector<VotePtr> votes = {},
                       std::vector<EvidencePtr> evidence = {});

  const BlockHeader& header() const { return header_; }
  std::uint64_t height() const { return header_.height; }
  std::uint64_t slot() const { return header_.slot; }
  const Hash& parent() const { return header_.parent; }
  const PublicKey& forger() const { return header_.forger; }
  const Hash& hash() const { return hash_; }
  const Signature& signature() const { return signature_; }
  const std::vector<TransactionPtr>& transactions() const { return transactions_; }
  const std::vector<VotePtr>& votes() const { return votes_; }
  const std::vector<EvidencePtr>& evidence() const { return evidence_; }
  // Header bytes + signature + the encoded size of every transaction, vote and evidence; the
  // limit is kMaxBlockBytes.
  std::size_t encoded_size() const { return encoded_size_; }

  // ECVRF_proof_to_hash of the header's proof; all zero for genesis, which has no proof.
  Result<VrfOutput> vrf_output() const;

  // The header's own signature, which needs neither the parent nor the state. The verdict is
  // computed once per block object.
  Status check_signature() const;
  // The header's VRF proof for `alpha` under the forger's key (vrf_verify), computed once per
  // block object and input: the screen before a body's checks and the apply after it, or many
  // simulated nodes sharing one block, pay for one verification.
  Result<VrfOutput> verify_vrf(ByteView alpha) const;
  // The body against the header, needing neither the parent nor the state: counts, size, roots,
  // every transaction's and vote's chain id, every vote's signature and heights, every
  // evidence's check() (a bad evidence signature is under the evidence root, so it condemns the
  // block; a bad vote signature is not, since the vote id leaves it out).
  Status check_body() const;
  // check_body() but the votes' signatures and the evidence's checks: what binds the body to the
  // header, before any signature in it is worth checking. A pass is kept per block object: the
  // screen before the signatures and the apply after them, or many simulated nodes sharing one
  // block, hash the body's roots once.
  Status check_form() const;
  // The rest of check_body(): the votes' signatures and the evidence's checks.
  Status check_body_signatures() const;

 private:
  // check_form() without the kept pass.
  Status compute_form() const;

  BlockHeader header_;
  Signature signature_;
  std::vector<TransactionPtr> transactions_;
  std::vector<VotePtr> votes_;
  std::vector<EvidencePtr> evidence_;
  Hash hash_;
  std::size_t encoded_size_;
  mutable std::atomic<std::int8_t> signature_verdict_{0};  // 0 unknown, 1 valid, -1 invalid
  mutable std::atomic<bool> form_passed_{false};
  mutable std::mutex vrf_mutex_;
  mutable std::optional<std::pair<Hash, Result<VrfOutput>>> vrf_verdict_;  // alpha's hash, output
};

// RFC 6962 Merkle tree hash over transaction ids: leaf = SHA-256(0x00 || id),
// node = SHA-256(0x01 || left || right), empty = SHA-256("").
Hash merkle_root(std::span<const Hash> ids);
Hash transactions_root(const std::vector<TransactionPtr>& transactions);
Hash votes_root(const std::vector<VotePtr>& votes);
Hash evidence_root(const std::vector<EvidencePtr>& evidence);

// kHeader leaves out "transactions" (tx_count still tells how many): for lists of blocks.
enum class BlockJson { kFull, kHeader };
std::string to_json(const Block& block, BlockJson form = BlockJson::kFull);
// Strict like transaction_from_json; a "hash" field must match the recomputed hash.
Result<BlockPtr> block_from_json(std::string_view json, std::string_view chain_id);

}  // namespace pos
