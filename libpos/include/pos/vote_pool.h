// VotePool: the votes a node holds outside its chain (docs/consensus.md, "Votes and finality"):
// those it gossips and includes when it leads, and whose latest ones fork choice weighs. A vote
// enters only after the node's checks (signature, validator, heights); the pool bounds what one
// validator can make it hold and keeps the first of two votes by one validator at one target
// height (the second is evidence, not a vote to count). Single-threaded: the node's loop owns it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <unordered_map>
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

class VotePool {
 public:
  explicit VotePool(VotePoolLimits limits = {}) : limits_(limits) {}

  // Holds a vote that passed the node's checks. kAlreadyKnown when the same vote is held;
  // kDuplicate when the validator already has another vote at that target height here (see
  // conflicting()); kPoolFull when the validator's quota is taken by higher targets.
  Status add(const VotePtr& vote);

  bool contains(const Hash& id) const { return by_id_.contains(id); }
  std::size_t size() const { return by_id_.size(); }
  // The held vote by the same validator at the same target height that is not `vote`, if any.
  VotePtr conflicting(const Vote& vote) const;
  // A held vote by the same validator that surrounds `vote` or that `vote` surrounds
  // (docs/consensus.md: source and target both strictly inside the other's), if any.
  VotePtr surrounding(const Vote& vote) const;
  // Every held vote, highest target height first, then lowest id: the order in which a leader
  // includes them.
  std::vector<VotePtr> by_priority() const;
  // The held votes for one target block.
  std::vector<VotePtr> for_target(const Hash& target) const;
  // Forgets the votes whose target is at or below `height`: once that height is finalized they
  // can no longer change what the chain justifies.
  void drop_targets_through(std::uint64_t height);

 private:
  struct Order {
    bool operator()(const VotePtr& a, const VotePtr& b) const {
      if (a->target_height() != b->target_height()) return a->target_height() > b->target_height();
      return a->id() < b->id();
    }
  };
  void erase(const VotePtr& vote);

  VotePoolLimits limits_;
  std::unordered_map<Hash, VotePtr> by_id_;
  std::map<PublicKey, std::map<std::uint64_t, VotePtr>> by_validator_;  // by target height
  std::set<VotePtr, Order> ordered_;
};

}  // namespace pos
