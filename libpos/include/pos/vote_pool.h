// VotePool: the votes a node holds outside its chain (docs/consensus.md, "Votes and finality"):
// those it gossips and includes when it leads, and whose latest ones fork choice weighs. A vote
// enters only after the node's checks (signature, validator, heights); the pool bounds what one
// validator can make it hold and keeps the first of two votes by one validator at one target
// height (the second is evidence, not a vote to count). Single-threaded: the node's loop owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pos/crypto.h"
#include "pos/status.h"
#include "pos/vote.h"

namespace pos {

struct VotePoolLimits {
  // Per validator, its highest targets are kept. An honest validator signs one vote per target
  // height, so this covers more than two epochs of 1-second slots at the default epoch length
  // while finality is stalled; beyond it a validator can only replace its own lowest targets.
  std::size_t max_per_validator = 64;
};

// A held vote that makes a slashable pair with another: a double vote (same target height) or
// a surround vote.
struct SlashablePair {
  VotePtr other;  // none: no pair
  bool double_vote = false;
};

class VotePool {
 public:
  explicit VotePool(VotePoolLimits limits = {});
  ~VotePool();
  VotePool(const VotePool&) = delete;
  VotePool& operator=(const VotePool&) = delete;

  // Holds a vote that passed the node's checks. kAlreadyKnown when the same vote is held;
  // kDuplicate when the validator already has another vote at that target height here (see
  // conflicting()); kPoolFull when the validator's quota is taken by higher targets.
  Status add(const VotePtr& vote);

  bool contains(const Hash& id) const;
  std::size_t size() const;
  // The held vote by the same validator at the same target height that is not `vote`, if any.
  VotePtr conflicting(const Vote& vote) const;
  // A held vote by the same validator that surrounds `vote` or that `vote` surrounds
  // (docs/consensus.md: source and target both strictly inside the other's), if any; in
  // O(log n), exact while the validator's held votes hold no surround pair (vote_pool.cc).
  VotePtr surrounding(const Vote& vote) const;
  // conflicting() if it finds one, else surrounding(), with one look-up of the validator.
  SlashablePair slashable_with(const Vote& vote) const;
  // Every held vote, highest target height first, then lowest id: the order in which a leader
  // includes them. Sorted when asked (once a slot, by the leader), not kept sorted: keeping a
  // tree of every vote cost each vote received an allocation and a rebalancing.
  std::vector<VotePtr> by_priority() const;
  // The held votes for one target block, in the same order.
  std::vector<VotePtr> for_target(const Hash& target) const;
  // Forgets the votes whose target is at or below `height`: once that height is finalized they
  // can no longer change what the chain justifies.
  void drop_targets_through(std::uint64_t height);

 private:
  // The held votes by id and by validator (vote_pool.cc: open-addressing tables, since a
  // simulated network's hundred pools of thousands of votes spent most look-ups in cache
  // misses of node-based ones).
  struct Index;

  VotePoolLimits limits_;
  std::unique_ptr<Index> index_;
};

}  // namespace pos
