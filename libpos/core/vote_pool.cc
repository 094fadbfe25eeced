#include "pos/vote_pool.h"

#include <algorithm>
#include <limits>

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
  // No held vote's target is below this (it may be lower than the lowest held): lets
  // drop_targets_through return at once when there is nothing to drop, as at most ticks.
  std::uint64_t min_target = std::numeric_limits<std::uint64_t>::max();
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
  // held in the end (refused below, or an allocation failed on the way: the vector's insert is
  // all or nothing).
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
    by_id.erase(mine.front().vote->id());
    mine.erase(mine.begin());
  }
  mine.insert(at_target(mine, target), Index::Held{target, vote->source_height(), vote});
  index_->min_target = std::min(index_->min_target, target);
  undo.held = true;
  return {};
}

namespace {

template <typename Held>
VotePtr conflicting_in(const Held& mine, const Vote& vote) {
  auto at = at_target(mine, vote.target_height());
  if (at == mine.end() || at->target != vote.target_height() || at->vote->id() == vote.id())
    return nullptr;
  return at->vote;
}

// In a validator's votes without a surround pair, sources never fall as targets rise (a lower
// source for a higher target surrounds), so only the held votes just above and just below the
// vote's target can surround it or lie inside it: a vote inside any is inside the one just
// above, and one inside the vote holds the one just below inside too. Once a pair is held, its
// validator has evidence against it and is not looked up again.
template <typename Held>
VotePtr surrounding_in(const Held& mine, const Vote& vote) {
  auto at = at_target(mine, vote.target_height());
  auto above = at;
  if (above != mine.end() && above->target == vote.target_height()) ++above;
  if (above != mine.end() && above->source < vote.source_height()) return above->vote;
  if (at != mine.begin() && std::prev(at)->source > vote.source_height())
    return std::prev(at)->vote;
  return nullptr;
}

}  // namespace

VotePtr VotePool::conflicting(const Vote& vote) const {
  auto it = index_->by_validator.find(vote.validator());
  return it == index_->by_validator.end() ? nullptr : conflicting_in(it->second, vote);
}

VotePtr VotePool::surrounding(const Vote& vote) const {
  auto it = index_->by_validator.find(vote.validator());
  return it == index_->by_validator.end() ? nullptr : surrounding_in(it->second, vote);
}

SlashablePair VotePool::slashable_with(const Vote& vote) const {
  auto it = index_->by_validator.find(vote.validator());
  if (it == index_->by_validator.end()) return {};
  if (VotePtr other = conflicting_in(it->second, vote)) return {other, true};
  return {surrounding_in(it->second, vote), false};
}

namespace {

// Highest target height first, then lowest id: a total order, so the result does not depend on
// the order in which the hash table is walked.
void sort_by_priority(std::vector<VotePtr>& votes) {
  std::sort(votes.begin(), votes.end(), [](const VotePtr& a, const VotePtr& b) {
    if (a->target_height() != b->target_height()) return a->target_height() > b->target_height();
    return a->id() < b->id();
  });
}

}  // namespace

std::vector<VotePtr> VotePool::by_priority() const {
  std::vector<VotePtr> out;
  out.reserve(index_->by_id.size());
  for (const auto& [id, vote] : index_->by_id) out.push_back(vote);
  sort_by_priority(out);
  return out;
}

std::vector<VotePtr> VotePool::for_target(const Hash& target) const {
  std::vector<VotePtr> out;
  for (const auto& [id, vote] : index_->by_id)
    if (vote->target_hash() == target) out.push_back(vote);
  sort_by_priority(out);
  return out;
}

// Each validator's votes are in target order: the droppable ones are a prefix of each.
void VotePool::drop_targets_through(std::uint64_t height) {
  if (height < index_->min_target) return;
  auto& by_validator = index_->by_validator;
  index_->min_target = std::numeric_limits<std::uint64_t>::max();
  for (auto it = by_validator.begin(); it != by_validator.end();) {
    auto& mine = it->second;
    auto kept = std::find_if(mine.begin(), mine.end(),
                             [&](const Index::Held& held) { return held.target > height; });
    for (auto held = mine.begin(); held != kept; ++held) index_->by_id.erase(held->vote->id());
    mine.erase(mine.begin(), kept);
    if (mine.empty()) {
      by_validator.erase(it++);  // erasing leaves the other iterators valid
    } else {
      index_->min_target = std::min(index_->min_target, mine.front().target);
      ++it;
    }
  }
}

}  // namespace pos
