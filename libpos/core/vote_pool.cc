#include "pos/vote_pool.h"

#include <algorithm>

#include <absl/container/flat_hash_map.h>

#include "pos_fmt.h"

namespace pos {

namespace {

// Most votes looked up are a validator's newest, above every target held: those are answered
// from the last element, without a binary search's walk over the vector.
template <typename Held>
auto at_target(Held& mine, std::uint64_t target) {
  if (mine.empty() || mine.back().target < target) return mine.end();
  return std::lower_bound(mine.begin(), mine.end(), target,
                          [](const auto& held, std::uint64_t t) { return held.target < t; });
}

}  // namespace

struct VotePool::Index {
  // A validator's vote with the heights the pool's look-ups compare, kept beside it.
  struct Held {
    std::uint64_t target;
    std::uint64_t source;
    VotePtr vote;
  };
  // Ids and keys are uniformly distributed: std::hash's first eight bytes serve as the hash.
  absl::flat_hash_map<Hash, VotePtr, std::hash<Hash>> by_id;
  // Each validator's votes, in target height order (at most max_per_validator: a flat vector
  // is searched faster than a tree).
  absl::flat_hash_map<PublicKey, std::vector<Held>, std::hash<PublicKey>> by_validator;
};

VotePool::VotePool(VotePoolLimits limits) : limits_(limits), index_(std::make_unique<Index>()) {}
VotePool::~VotePool() = default;

bool VotePool::contains(const Hash& id) const {
  return index_->by_id.contains(id);
}

std::size_t VotePool::size() const {
  return index_->by_id.size();
}

Status VotePool::add(const VotePtr& vote) {
  auto& by_id = index_->by_id;
  auto& by_validator = index_->by_validator;
  // Entered at once (one probe of the table, not two), and taken out again unless the vote is
  // held in the end (refused below, or an allocation failed on the way).
  auto entered = by_id.try_emplace(vote->id(), vote);
  if (!entered.second) return make_error(Reason::kAlreadyKnown, "vote already held");
  struct Unless {
    decltype(by_id)& map;
    decltype(entered.first) entry;
    bool held = false;
    ~Unless() {
      if (!held) map.erase(entry);
    }
  } undo{by_id, entered.first};
  auto& mine = by_validator[vote->validator()];
  const std::uint64_t target = vote->target_height();
  if (auto at = at_target(mine, target); at != mine.end() && at->target == target)
    return make_error(Reason::kDuplicate,
                      fmt::format("the validator already has another vote here for "
                                  "target height {}",
                                  target));
  if (mine.size() >= limits_.max_per_validator) {
    if (mine.empty() || target < mine.front().target) {
      if (mine.empty()) by_validator.erase(vote->validator());  // a quota of none
      return make_error(Reason::kPoolFull,
                        "the validator's quota of votes is taken by higher targets");
    }
    forget(mine.front().vote);
    mine.erase(mine.begin());
  }
  auto placed =
      mine.insert(at_target(mine, target), Index::Held{target, vote->source_height(), vote});
  if (limits_.ordered) {
    try {
      ordered_.insert(vote);
    } catch (...) {
      mine.erase(placed);
      throw;
    }
  }
  undo.held = true;
  return {};
}

void VotePool::forget(const VotePtr& vote) {
  if (limits_.ordered) ordered_.erase(vote);
  index_->by_id.erase(vote->id());
}

void VotePool::erase(const VotePtr& vote) {
  VotePtr keep = vote;  // the references below may be the pool's own
  forget(keep);
  auto it = index_->by_validator.find(keep->validator());
  if (it == index_->by_validator.end()) return;
  auto& mine = it->second;
  if (auto at = at_target(mine, keep->target_height());
      at != mine.end() && at->target == keep->target_height())
    mine.erase(at);
  if (mine.empty()) index_->by_validator.erase(it);
}

VotePtr VotePool::conflicting(const Vote& vote) const {
  auto it = index_->by_validator.find(vote.validator());
  if (it == index_->by_validator.end()) return nullptr;
  auto at = at_target(it->second, vote.target_height());
  if (at == it->second.end() || at->target != vote.target_height() || at->vote->id() == vote.id())
    return nullptr;
  return at->vote;
}

// In a validator's votes without a surround pair, sources never fall as targets rise (a lower
// source for a higher target surrounds), so only the held votes just above and just below the
// vote's target can surround it or lie inside it: a vote inside any is inside the one just
// above, and one inside the vote holds the one just below inside too. Once a pair is held, its
// validator has evidence against it and is not looked up again.
VotePtr VotePool::surrounding(const Vote& vote) const {
  auto it = index_->by_validator.find(vote.validator());
  if (it == index_->by_validator.end()) return nullptr;
  const auto& mine = it->second;
  auto at = at_target(mine, vote.target_height());
  auto above = at;
  if (above != mine.end() && above->target == vote.target_height()) ++above;
  if (above != mine.end() && above->source < vote.source_height()) return above->vote;
  if (at != mine.begin() && std::prev(at)->source > vote.source_height())
    return std::prev(at)->vote;
  return nullptr;
}

std::vector<VotePtr> VotePool::by_priority() const {
  return {ordered_.begin(), ordered_.end()};
}

std::vector<VotePtr> VotePool::for_target(const Hash& target) const {
  std::vector<VotePtr> out;
  for (const auto& vote : ordered_)
    if (vote->target_hash() == target) out.push_back(vote);
  return out;
}

void VotePool::drop_targets_through(std::uint64_t height) {
  // ordered_ is highest target first: the droppable votes are at its end.
  while (!ordered_.empty() && (*std::prev(ordered_.end()))->target_height() <= height)
    erase(*std::prev(ordered_.end()));
}

}  // namespace pos
