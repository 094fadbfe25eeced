// Finality by votes (Casper FFG with every block a checkpoint, docs/consensus.md "Finality"):
// what one chain has justified and finalized, counting the votes included in its blocks. The
// state after a block is derived from its parent's and that block's votes alone, so a block
// costs in proportion to its votes and to the tallies of the open vote window (two epochs of
// targets), never to the chain; states of sibling blocks share the justified heights.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {
namespace detail {
struct SnapshotCodec;
}

struct Checkpoint {
  Hash hash;
  std::uint64_t height = 0;
  std::uint64_t slot = 0;

  bool operator==(const Checkpoint&) const = default;
};

// A block the operator trusts to be on the network's chain (pos-node --checkpoint HEIGHT:HASH;
// docs/consensus.md, "Weak subjectivity").
struct TrustedBlock {
  std::uint64_t height = 0;
  Hash hash;
  // "HEIGHT:HASH", the height in decimal and the hash as 64 hex characters.
  static Result<TrustedBlock> parse(std::string_view text);
  bool operator==(const TrustedBlock&) const = default;
};

// One vote as it counts on a chain: already found valid there (signature, source and target
// blocks of the chain below the including block, heights, expiry, one vote per validator and
// target height), with its signer's weights in the two validator sets that justify its target.
struct CountedVote {
  PublicKey validator;
  Checkpoint source;
  Checkpoint target;
  std::uint64_t weight = 0;           // in validators(epoch(target.slot)); 0 if not a member
  std::uint64_t previous_weight = 0;  // in validators(epoch(target.slot) - 1)
  std::uint64_t total = 0;            // the total weight of validators(epoch(target.slot))
  std::uint64_t previous_total = 0;   // and of validators(epoch(target.slot) - 1)
};

// Whether `votes` of `total` weight are more than two thirds: 3 * votes > 2 * total, exactly.
bool is_supermajority(std::uint64_t votes, std::uint64_t total);

class FinalityState {
 public:
  // Genesis is justified and finalized.
  static FinalityState genesis(const Hash& genesis_hash);

  // The state after a child block `block` of this state's chain carrying `votes`, in
  // `epoch_slots`-slot epochs. Each vote's target is a block of the chain up to and including
  // this state's block, as the vote rules require. The result does not depend on the votes'
  // order, in this block or across blocks: a link whose source is justified later counts then.
  FinalityState child(const Checkpoint& block, std::span<const CountedVote> votes,
                      std::uint64_t epoch_slots) const;

  // The highest justified block of the chain, and the highest finalized one (never lower than
  // the parent's).
  const Checkpoint& justified() const;
  const Checkpoint& finalized() const;
  // Whether the chain's block at `height` is justified (heights beyond the block: false).
  bool is_justified(std::uint64_t height) const;
  // The chain's last block so far.
  const Checkpoint& block() const;
  // Whether the chain already counts a vote by `validator` with this target height (a second
  // one, different or not, is not valid in a later block). Known while the target's votes may
  // still come; after that no vote for it is valid anyway.
  bool has_vote(const PublicKey& validator, std::uint64_t target_height) const;

  // A placeholder until assigned; not a state of any chain.
  FinalityState() = default;

 private:
  friend struct detail::SnapshotCodec;  // a data dir's consensus snapshot holds the state
  struct Impl;
  explicit FinalityState(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace pos
