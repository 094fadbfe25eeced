// The pure state-transition rules of docs/consensus.md: how one transaction, and the start of a
// block, change the AccountModel. Every change is recorded in an UndoLog first.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_set>

#include "pos/account_model.h"
#include "pos/consensus.h"
#include "pos/evidence.h"
#include "pos/status.h"
#include "pos/transaction.h"

namespace pos {

// Records each touched account's value before its first change in a block.
class UndoLog {
 public:
  void record(const Address& address, const Account& prior);
  // Restores every recorded account, leaving the state as before the first record.
  void revert(AccountModel& state) const;
  UndoRecord take() &&;
  bool empty() const { return record_.prior.empty(); }

 private:
  UndoRecord record_;
  std::unordered_set<Address> seen_;
};

// Checks tx against the state and applies it: fees go to the forger. On refusal nothing changed.
// Assumes tx.check_stateless passed.
Status apply_transaction(AccountModel& state, const Transaction& tx, const PublicKey& forger,
                         std::uint64_t height, UndoLog& undo);

// Whether the offender has anything left to slash: stake or an unbonding amount, and not slashed
// already (kSlashed, or kBadEvidence for nothing to burn). Evidence that fails this is stale.
Status check_slashable(const AccountModel& state, const PublicKey& offender);

// Slashes the evidence's offender (docs/consensus.md, "Evidence and slashing"): its stake and
// unbonding amount are burned and the account is marked slashed. Refused as check_slashable
// refuses; assumes evidence.check passed.
Status apply_evidence(AccountModel& state, const Evidence& evidence, UndoLog& undo);

// Jails the validators that downtime names at the start of a block (docs/consensus.md,
// "Downtime"): each that still has stake, is not slashed and is not jailed already.
void jail_validators(AccountModel& state, std::span<const PublicKey> validators, UndoLog& undo);

// Moves the unbonding amounts of UNSTAKEs at or below height `matured` into balances (start of
// each block; the chain gives `matured`, docs/consensus.md "Unbonding").
void release_unbonding(AccountModel& state, std::uint64_t matured, UndoLog& undo);

// Restores the accounts of an UndoRecord.
void undo_block(AccountModel& state, const UndoRecord& undo);

}  // namespace pos
