// Validator sets that follow finalized state (docs/consensus.md, "Validator sets"): validators(e)
// comes from the stakes after F(e), the chain's highest block finalized as it stood at the end of
// epoch e-3, and at most a quarter of the previous set's weight enters per epoch (the entry cap).
// So stake counts only once finalized, two sides of a partition draw from one set until one of
// them finalizes, and a burst of new stake cannot take over a set faster than finality follows.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <vector>

#include "pos/block.h"
#include "pos/consensus.h"
#include "pos/finality.h"
#include "pos/proof_of_stake.h"

namespace pos {

// An account with stake > 0 after a block (a slashed account has none), and whether downtime
// jailed it (docs/consensus.md, "Downtime").
struct Staker {
  std::uint64_t stake = 0;
  bool jailed = false;
  bool operator==(const Staker&) const = default;
};
using StakeTable = std::map<Address, Staker>;
using StakeTablePtr = std::shared_ptr<const StakeTable>;
using ValidatorSetPtr = std::shared_ptr<const ProofOfStake>;
// Weights by address: what a validator set holds.
using Weights = std::map<Address, std::uint64_t>;

// The stake table after `block` from the one after its parent: the block's jailed validators
// first, then STAKE adds its amount and clears a jail, UNSTAKE takes its amount away, evidence
// empties its offender. The block is assumed valid (connecting it checks that); the result
// shares `before` when the block changes no stake.
StakeTablePtr stakes_after(const StakeTablePtr& before, const Block& block,
                           std::span<const PublicKey> jailed = {});

// validators(e) from validators(e-1) and the stakes after F(e), with the entry cap: each account
// (jailed ones only when `count_jailed`) keeps min(stake, previous weight); then, in ascending
// address order, each grows towards its stake while the growth so far stays within
// ceil(total(previous) / 4). `previous` itself when nothing changed, or when no account would
// be left.
ValidatorSetPtr next_validator_set(const ValidatorSetPtr& previous, const StakeTable& finalized,
                                   bool count_jailed = false);

// Who has a vote included on a chain, by the epoch of the vote's target: what downtime checks.
// Shares what a block leaves unchanged.
class IncludedVotes {
 public:
  // After a block of `epoch` that counted `votes` (targets of epochs before epoch - 2 are
  // forgotten: downtime never asks for them again).
  IncludedVotes after_block(std::uint64_t epoch, std::span<const CountedVote> votes,
                            const ChainParams& params) const;
  // Whether `validator` has an included vote whose target is in `target_epoch`.
  bool has_vote(const PublicKey& validator, std::uint64_t target_epoch) const;

 private:
  friend struct detail::SnapshotCodec;  // a data dir's consensus snapshot holds them
  std::map<std::uint64_t, std::shared_ptr<const std::set<PublicKey>>> by_epoch_;
};

// A block as validator sets use it: its place and the stakes after it.
struct StakeSnapshot {
  Checkpoint block;
  StakeTablePtr stakes;
};

// Where a chain stands in its validator sets after one of its blocks, in the block's epoch e:
// validators(e), validators(e-1), validators(e-2), F(x) for the last `history` - 2 epochs x up
// to e (unbonding looks that far back), and what fixes the later sets. O(1) to copy; crossing
// epochs costs a set computation and a copy of the history per epoch until nothing changes.
class ValidatorSchedule {
 public:
  // The schedule after genesis: validators(e) for e < 3 are the genesis stakes. `history` (at
  // least 5) bounds how far back finalized_by() answers.
  static ValidatorSchedule genesis(const StakeSnapshot& genesis, std::size_t history = 5);

  // The schedule for a child block in `epoch` (>= this one's), before the child's own effects:
  // the sets of `epoch` and the two before it, which the chain up to this block fixes.
  ValidatorSchedule at_epoch(std::uint64_t epoch) const;
  // The schedule after a block of this schedule's epoch whose chain has finalized `finalized`.
  ValidatorSchedule after_block(const StakeSnapshot& finalized) const;

  std::uint64_t epoch() const { return epoch_; }
  // Whether no later epoch's set differs from this epoch's unless a block finalizes more: F is
  // the same block over the whole history and the set reached its fixed point.
  bool settled() const;
  // validators(e) for e in [epoch() - 2, epoch()] (clamped at 0).
  const ProofOfStake& set(std::uint64_t e) const;
  const ValidatorSetPtr& set_ptr(std::uint64_t e) const;
  // Whether `key` is in validators(epoch() - 2 .. epoch()).
  bool in_any_set(const PublicKey& key) const;
  // How many distinct validators those three sets hold.
  std::size_t distinct_validators() const;
  // The chain's finalized block so far, with its stakes.
  const StakeSnapshot& finalized() const { return finalized_; }
  // F(e), for e in [epoch() + 3 - history, epoch()]: what the chain had finalized by the end of
  // epoch e - 3 (genesis for e < 3).
  const Checkpoint& finalized_by(std::uint64_t e) const;
  // The members this chain jails for downtime at a child block of this schedule's block in
  // `child_epoch` (docs/consensus.md, "Downtime"), given the votes the chain included up to
  // this block, in address order.
  std::vector<PublicKey> downtime(const IncludedVotes& votes, std::uint64_t child_epoch) const;

  ValidatorSchedule() = default;

 private:
  friend struct detail::SnapshotCodec;  // a data dir's consensus snapshot holds the schedule
  std::uint64_t epoch_ = 0;
  StakeSnapshot finalized_;
  // (*ends_)[i]: the chain's finalized block as it stood at the end of epoch epoch_-1-i, with
  // its stakes; so (*ends_)[2] is F(epoch_) and (*ends_)[4] F(epoch_ - 2). Shared by the
  // schedules of one epoch.
  std::shared_ptr<const std::vector<StakeSnapshot>> ends_;
  // sets_[i] = validators(epoch_ - i).
  std::array<ValidatorSetPtr, 3> sets_;
  ValidatorSetPtr genesis_set_;
};

}  // namespace pos
