// Evidence (DESIGN.md §5): two conflicting items signed by one key, immutable, with its id
// computed once. Proof enough to slash the offender: check() needs no chain state.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pos/block.h"
#include "pos/crypto.h"
#include "pos/status.h"
#include "pos/vote.h"

namespace pos {

enum class EvidenceKind : std::uint8_t { kDoubleBlock = 1, kDoubleVote = 2, kSurroundVote = 3 };

std::string_view evidence_kind_name(EvidenceKind kind);  // "double_block", ...
std::optional<EvidenceKind> parse_evidence_kind(std::string_view name);

// The longest item (a or b) evidence may carry. The longest header is 386 bytes and the longest
// vote 157 (a 64-byte chain id), so this refuses nothing valid and bounds what a decoder
// allocates.
inline constexpr std::size_t kMaxEvidenceItemBytes = 1024;

class Evidence;
using EvidencePtr = std::shared_ptr<const Evidence>;

class Evidence {
 public:
  Evidence(EvidenceKind kind, const PublicKey& offender, Bytes a, const Signature& sig_a, Bytes b,
           const Signature& sig_b);
  // No verification: check() does it.
  static EvidencePtr make(EvidenceKind kind, const PublicKey& offender, Bytes a,
                          const Signature& sig_a, Bytes b, const Signature& sig_b);
  // From two conflicting signed items, in either order: each puts them in the order the layout
  // wants and returns evidence that passes check(), or refuses the pair (kBadEvidence, or what
  // check() says: a bad signature is kBadEvidence, another chain kWrongChain).
  // Two headers of one forger for one slot.
  static Result<EvidencePtr> double_block(const BlockHeader& x, const Signature& sig_x,
                                          const BlockHeader& y, const Signature& sig_y);
  static Result<EvidencePtr> double_block(const BlockPtr& x, const BlockPtr& y);
  // Two different votes of one validator for one target height.
  static Result<EvidencePtr> double_vote(const VotePtr& x, const VotePtr& y);
  // Two votes of one validator, one surrounding the other (either may be x).
  static Result<EvidencePtr> surround_vote(const VotePtr& x, const VotePtr& y);

  EvidenceKind kind() const { return kind_; }
  const PublicKey& offender() const { return offender_; }
  const Bytes& a() const { return a_; }
  const Signature& sig_a() const { return sig_a_; }
  const Bytes& b() const { return b_; }
  const Signature& sig_b() const { return sig_b_; }
  // "pos/evidence/v1" || u8(kind) || offender || u32(len(a)) || a || sig_a || u32(len(b)) || b
  // || sig_b (docs/protocol.md): also its binary form.
  const Bytes& bytes() const { return bytes_; }
  // SHA-256(bytes()): it covers the signatures.
  const Hash& id() const { return id_; }

  // Everything that needs no chain state: a known kind; a and b parse exactly as chain_id's
  // layouts (kWrongChain for another chain's, kBadEvidence otherwise); the kind's condition and
  // order; both signatures under the offender's key. Every refusal but kWrongChain is
  // kBadEvidence.
  Status check(std::string_view chain_id) const;

 private:
  EvidenceKind kind_;
  PublicKey offender_;
  Bytes a_;
  Signature sig_a_;
  Bytes b_;
  Signature sig_b_;
  Bytes bytes_;
  Hash id_;
};

// JSON (docs/protocol.md): {"kind": "double_block" | "double_vote" | "surround_vote",
// "offender", "a", "sig_a", "b", "sig_b"} plus "id" when with_id; a and b in hex.
std::string to_json(const Evidence& evidence, bool with_id = true);
// Strict like vote_from_json; a and b longer than kMaxEvidenceItemBytes are refused before
// decoding. Validity is check()'s, not the parser's.
Result<EvidencePtr> evidence_from_json(std::string_view json);

}  // namespace pos
