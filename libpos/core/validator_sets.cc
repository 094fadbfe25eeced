#include "pos/validator_sets.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "pos/evidence.h"
#include "pos/transaction.h"

namespace pos {

StakeTablePtr stakes_after(const StakeTablePtr& before, const Block& block) {
  std::shared_ptr<StakeTable> changed;
  auto table = [&]() -> StakeTable& {
    if (!changed) changed = std::make_shared<StakeTable>(*before);
    return *changed;
  };
  for (const auto& tx : block.transactions()) {
    if (tx->amount() == 0) continue;
    if (tx->type() == TxType::kStake) {
      std::uint64_t& stake = table()[tx->sender()];
      stake = __builtin_add_overflow(stake, tx->amount(), &stake) ? ~std::uint64_t{0} : stake;
    } else if (tx->type() == TxType::kUnstake) {
      auto it = table().find(tx->sender());
      if (it == table().end()) continue;
      if (it->second <= tx->amount())
        table().erase(it);
      else
        it->second -= tx->amount();
    }
  }
  for (const auto& evidence : block.evidence())
    if ((changed ? *changed : *before).contains(evidence->offender()))
      table().erase(evidence->offender());
  if (!changed) return before;
  return changed;
}

ValidatorSetPtr next_validator_set(const ValidatorSetPtr& previous, const StakeTable& finalized) {
  const std::uint64_t total = previous->total_stake();
  const std::uint64_t cap = total / 4 + (total % 4 != 0);  // (total + 3) / 4 without overflow
  StakeTable weights;
  for (const auto& [address, stake] : finalized)
    if (std::uint64_t kept = std::min(stake, previous->weight(address)); kept > 0)
      weights[address] = kept;
  std::uint64_t entered = 0;
  for (const auto& [address, stake] : finalized) {
    if (entered == cap) break;
    auto it = weights.find(address);
    std::uint64_t kept = it == weights.end() ? 0 : it->second;
    std::uint64_t more = std::min(stake - kept, cap - entered);
    if (more == 0) continue;
    weights[address] = kept + more;
    entered += more;
  }
  if (weights.empty()) return previous;
  const auto& lots = previous->lots();
  bool same = lots.size() == weights.size() &&
              std::equal(lots.begin(), lots.end(), weights.begin(), [](const Lot& lot, auto& w) {
                return lot.staker == w.first && lot.stake == w.second;
              });
  return same ? previous : std::make_shared<const ProofOfStake>(weights);
}

ValidatorSchedule ValidatorSchedule::genesis(const StakeSnapshot& genesis, std::size_t history) {
  ValidatorSchedule s;
  s.finalized_ = genesis;
  s.ends_ = std::make_shared<const std::vector<StakeSnapshot>>(std::max<std::size_t>(history, 3),
                                                               genesis);
  s.genesis_set_ = std::make_shared<const ProofOfStake>(*genesis.stakes);
  s.sets_.fill(s.genesis_set_);
  return s;
}

ValidatorSchedule ValidatorSchedule::at_epoch(std::uint64_t epoch) const {
  ValidatorSchedule s = *this;
  for (std::uint64_t x = epoch_ + 1; x <= epoch; ++x) {
    // The chain's last block before epoch x is this schedule's: what it finalized is G(x).
    auto ends = std::make_shared<std::vector<StakeSnapshot>>();
    ends->reserve(s.ends_->size());
    ends->push_back(finalized_);
    ends->insert(ends->end(), s.ends_->begin(), s.ends_->end() - 1);
    s.ends_ = std::move(ends);
    ValidatorSetPtr next =
        x < 3 ? genesis_set_ : next_validator_set(s.sets_[0], *(*s.ends_)[2].stakes);
    s.sets_ = {next, s.sets_[0], s.sets_[1]};
    s.epoch_ = x;
    // Every later epoch has this set too, so from epoch x + 1 on all three sets are this one.
    if (x < epoch && s.settled()) {
      s.sets_.fill(next);
      s.epoch_ = epoch;
      break;
    }
  }
  return s;
}

bool ValidatorSchedule::settled() const {
  return epoch_ >= 3 && sets_[0] == sets_[1] &&
         std::all_of(ends_->begin(), ends_->end(), [&](const StakeSnapshot& end) {
           return end.block.hash == finalized_.block.hash;
         });
}

ValidatorSchedule ValidatorSchedule::after_block(const StakeSnapshot& finalized) const {
  ValidatorSchedule s = *this;
  if (finalized.block.height > finalized_.block.height) s.finalized_ = finalized;
  return s;
}

const ValidatorSetPtr& ValidatorSchedule::set_ptr(std::uint64_t e) const {
  std::uint64_t back = e <= epoch_ ? epoch_ - e : 0;
  if (e > epoch_ || back > 2) throw std::logic_error("ValidatorSchedule: epoch out of range");
  return sets_[back];
}

const Checkpoint& ValidatorSchedule::finalized_by(std::uint64_t e) const {
  std::uint64_t back = e <= epoch_ ? epoch_ - e + 2 : 0;
  if (e > epoch_ || back >= ends_->size())
    throw std::logic_error("ValidatorSchedule: F(e) out of range");
  return (*ends_)[back].block;
}

const ProofOfStake& ValidatorSchedule::set(std::uint64_t e) const {
  return *set_ptr(e);
}

bool ValidatorSchedule::in_any_set(const PublicKey& key) const {
  return std::any_of(sets_.begin(), sets_.end(),
                     [&](const ValidatorSetPtr& set) { return set->contains(key); });
}

std::size_t ValidatorSchedule::distinct_validators() const {
  std::set<PublicKey> keys;
  for (const auto& set : sets_)
    for (const Lot& lot : set->lots()) keys.insert(lot.staker);
  return keys.size();
}

}  // namespace pos
