#include "pos/validator_sets.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "pos/evidence.h"
#include "pos/transaction.h"

namespace pos {

StakeTablePtr stakes_after(const StakeTablePtr& before, const Block& block,
                           std::span<const PublicKey> jailed) {
  std::shared_ptr<StakeTable> changed;
  auto table = [&]() -> StakeTable& {
    if (!changed) changed = std::make_shared<StakeTable>(*before);
    return *changed;
  };
  for (const PublicKey& key : jailed)
    if (auto it = before->find(key); it != before->end() && !it->second.jailed)
      table()[key].jailed = true;
  // Like apply_transaction, which this table must agree with: every STAKE clears a jail (a zero
  // amount never gets here: check_stateless refuses it).
  for (const auto& tx : block.transactions()) {
    if (tx->type() == TxType::kStake) {
      Staker& staker = table()[tx->sender()];
      if (__builtin_add_overflow(staker.stake, tx->amount(), &staker.stake))
        staker.stake = ~std::uint64_t{0};
      staker.jailed = false;
    } else if (tx->type() == TxType::kUnstake) {
      auto it = table().find(tx->sender());
      if (it == table().end()) continue;
      if (it->second.stake <= tx->amount())
        table().erase(it);
      else
        it->second.stake -= tx->amount();
    }
  }
  for (const auto& evidence : block.evidence())
    if ((changed ? *changed : *before).contains(evidence->offender()))
      table().erase(evidence->offender());
  if (!changed) return before;
  return changed;
}

ValidatorSetPtr next_validator_set(const ValidatorSetPtr& previous, const StakeTable& finalized,
                                   bool count_jailed) {
  const std::uint64_t total = previous->total_stake();
  const std::uint64_t cap = total / 4 + (total % 4 != 0);  // (total + 3) / 4 without overflow
  auto eligible = [&](const Staker& s) { return count_jailed || !s.jailed; };
  Weights weights;
  for (const auto& [address, staker] : finalized)
    if (std::uint64_t kept = std::min(staker.stake, previous->weight(address));
        kept > 0 && eligible(staker))
      weights[address] = kept;
  std::uint64_t entered = 0;
  for (const auto& [address, staker] : finalized) {
    if (entered == cap) break;
    if (!eligible(staker)) continue;
    auto it = weights.find(address);
    std::uint64_t kept = it == weights.end() ? 0 : it->second;
    std::uint64_t more = std::min(staker.stake - kept, cap - entered);
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

IncludedVotes IncludedVotes::after_block(std::uint64_t epoch, std::span<const CountedVote> votes,
                                         const ChainParams& params) const {
  IncludedVotes out = *this;
  std::map<std::uint64_t, std::shared_ptr<std::set<PublicKey>>> grown;
  for (const CountedVote& vote : votes) {
    std::uint64_t target_epoch = params.epoch_of(vote.target.slot);
    if (has_vote(vote.validator, target_epoch)) continue;
    auto& set = grown[target_epoch];
    if (!set) {
      auto it = by_epoch_.find(target_epoch);
      set = it == by_epoch_.end() ? std::make_shared<std::set<PublicKey>>()
                                  : std::make_shared<std::set<PublicKey>>(*it->second);
    }
    set->insert(vote.validator);
  }
  for (auto& [target_epoch, set] : grown) out.by_epoch_[target_epoch] = std::move(set);
  if (epoch >= 2) out.by_epoch_.erase(out.by_epoch_.begin(), out.by_epoch_.lower_bound(epoch - 2));
  return out;
}

bool IncludedVotes::has_vote(const PublicKey& validator, std::uint64_t target_epoch) const {
  auto it = by_epoch_.find(target_epoch);
  return it != by_epoch_.end() && it->second->contains(validator);
}

ValidatorSchedule ValidatorSchedule::genesis(const StakeSnapshot& genesis, std::size_t history) {
  ValidatorSchedule s;
  s.finalized_ = genesis;
  s.ends_ = std::make_shared<const std::vector<StakeSnapshot>>(std::max<std::size_t>(history, 5),
                                                               genesis);
  Weights weights;
  for (const auto& [address, staker] : *genesis.stakes) weights[address] = staker.stake;
  s.genesis_set_ = std::make_shared<const ProofOfStake>(weights);
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
    // While finality is stalled (F(x) = F(x-2)) jail flags are ignored, so that returning
    // validators can restart it.
    const auto& ends_now = *s.ends_;
    ValidatorSetPtr next =
        x < 3 ? genesis_set_
              : next_validator_set(s.sets_[0], *ends_now[2].stakes,
                                   ends_now[2].block.hash == ends_now[4].block.hash);
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

std::vector<PublicKey> ValidatorSchedule::downtime(const IncludedVotes& votes,
                                                   std::uint64_t child_epoch) const {
  // Epoch e is judged at the chain's first block above epoch e + 1: for a child of this block,
  // e is this block's epoch or the one before, if the child is that far on. Finality rose
  // during e when G(e + 1), what the chain had finalized by e's end, is above G(e).
  auto finalized_before = [&](std::uint64_t x) -> const Checkpoint& {
    return x == epoch_ + 1 ? finalized_.block : (*ends_)[epoch_ - x].block;
  };
  std::set<PublicKey> jailed;
  for (std::uint64_t e = epoch_ > 0 ? epoch_ - 1 : 0; e <= epoch_ && e + 2 <= child_epoch; ++e) {
    if (finalized_before(e + 1).height <= finalized_before(e).height) continue;
    for (const Lot& lot : set(e).lots())
      if (!votes.has_vote(lot.staker, e) && (e == 0 || !votes.has_vote(lot.staker, e - 1)))
        jailed.insert(lot.staker);
  }
  return {jailed.begin(), jailed.end()};
}

const ProofOfStake& ValidatorSchedule::set(std::uint64_t e) const {
  return *set_ptr(e);
}

// A set that did not change between epochs is one object: searched once.
bool ValidatorSchedule::in_any_set(const PublicKey& key) const {
  return sets_[0]->contains(key) || (sets_[1] != sets_[0] && sets_[1]->contains(key)) ||
         (sets_[2] != sets_[1] && sets_[2] != sets_[0] && sets_[2]->contains(key));
}

// Asked for every block applied and forged: the three sets are most often one set, and a set's
// lots are its stakers' in key order, each once, so no tree of keys is built.
std::size_t ValidatorSchedule::distinct_validators() const {
  if (sets_[0] == sets_[1] && sets_[1] == sets_[2]) return sets_[0]->size();
  std::vector<PublicKey> keys;
  for (const auto& set : sets_)
    for (const Lot& lot : set->lots()) keys.push_back(lot.staker);
  std::sort(keys.begin(), keys.end());
  return static_cast<std::size_t>(std::unique(keys.begin(), keys.end()) - keys.begin());
}

}  // namespace pos
