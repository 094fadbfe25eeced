#include "pos/vote_pool.h"

namespace pos {

Status VotePool::add(const VotePtr& vote) {
  if (by_id_.contains(vote->id())) return make_error(Reason::kAlreadyKnown, "vote already held");
  auto& mine = by_validator_[vote->validator()];
  if (mine.contains(vote->target_height()))
    return make_error(Reason::kDuplicate,
                      "the validator already has another vote here for "
                      "target height " +
                          std::to_string(vote->target_height()));
  if (mine.size() >= limits_.max_per_validator) {
    if (vote->target_height() < mine.begin()->first)
      return make_error(Reason::kPoolFull,
                        "the validator's quota of votes is taken by higher targets");
    erase(mine.begin()->second);
  }
  mine.emplace(vote->target_height(), vote);
  by_id_.emplace(vote->id(), vote);
  ordered_.insert(vote);
  return {};
}

void VotePool::erase(const VotePtr& vote) {
  VotePtr keep = vote;  // the references below may be the map's own
  ordered_.erase(keep);
  by_id_.erase(keep->id());
  auto it = by_validator_.find(keep->validator());
  it->second.erase(keep->target_height());
  if (it->second.empty()) by_validator_.erase(it);
}

VotePtr VotePool::conflicting(const Vote& vote) const {
  auto it = by_validator_.find(vote.validator());
  if (it == by_validator_.end()) return nullptr;
  auto at = it->second.find(vote.target_height());
  if (at == it->second.end() || at->second->id() == vote.id()) return nullptr;
  return at->second;
}

VotePtr VotePool::surrounding(const Vote& vote) const {
  auto it = by_validator_.find(vote.validator());
  if (it == by_validator_.end()) return nullptr;
  auto inside = [](const Vote& inner, const Vote& outer) {
    return outer.source_height() < inner.source_height() &&
           inner.target_height() < outer.target_height();
  };
  for (const auto& [target, held] : it->second)
    if (inside(vote, *held) || inside(*held, vote)) return held;
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
