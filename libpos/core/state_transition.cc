// Amounts never overflow once the EXCHANGE rule holds: the total supply (all balances, stakes
// and unbonding amounts) fits in u64, so any sum of parts of it does too. Only amount + fee of a
// transaction and the supply growth of a mint need explicit checks.
#include "pos/state_transition.h"

#include <string>

#include "pos_fmt.h"

namespace pos {
namespace {

bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}

Error insufficient(const char* what, std::uint64_t have, std::uint64_t need) {
  return make_error(
      std::string(what) == "stake" ? Reason::kInsufficientStake : Reason::kInsufficientFunds,
      fmt::format("{} {} does not cover {}", what, have, need));
}

void put(AccountModel& state, UndoLog& undo, const Address& address, const Account& account) {
  undo.record(address, state.get(address));
  state.put(address, account);
}

}  // namespace

void UndoLog::record(const Address& address, const Account& prior) {
  if (seen_.insert(address).second) record_.prior.emplace_back(address, prior);
}

void UndoLog::revert(AccountModel& state) const {
  undo_block(state, record_);
}

UndoRecord UndoLog::take() && {
  return std::move(record_);
}

void undo_block(AccountModel& state, const UndoRecord& undo) {
  for (auto it = undo.prior.rbegin(); it != undo.prior.rend(); ++it)
    state.put(it->first, it->second);
}

Status apply_transaction(AccountModel& state, const Transaction& tx, const PublicKey& forger,
                         std::uint64_t height, UndoLog& undo) {
  Account sender = state.get(tx.sender());
  if (tx.nonce() < sender.nonce)
    return make_error(Reason::kStaleNonce,
                      fmt::format("nonce {} already used; the sender's next nonce is {}",
                                  tx.nonce(), sender.nonce));
  if (tx.nonce() > sender.nonce)
    return make_error(
        Reason::kNonceGap,
        fmt::format("nonce {} is ahead of the sender's next nonce {}", tx.nonce(), sender.nonce));
  if (tx.type() == TxType::kStake && sender.slashed)
    return make_error(Reason::kSlashed, "the sender was slashed and can never stake again");
  std::uint64_t cost = 0;
  switch (tx.type()) {
    case TxType::kTransfer:
    case TxType::kStake:
      if (!checked_add(tx.amount(), tx.fee(), cost))
        return make_error(Reason::kOverflow, "amount + fee exceeds 2^64-1");
      if (sender.balance < cost) return insufficient("balance", sender.balance, cost);
      break;
    case TxType::kUnstake:
      if (sender.stake < tx.amount()) return insufficient("stake", sender.stake, tx.amount());
      // Slashed accounts hold no stake, so this is the unslashed stake of the whole chain.
      if (state.total_stake() == tx.amount())
        return make_error(Reason::kInsufficientStake,
                          "the UNSTAKE would leave no stake on the chain, so no validator");
      cost = tx.fee();
      if (sender.balance < cost) return insufficient("balance", sender.balance, cost);
      break;
    case TxType::kExchange: {
      cost = tx.fee();
      if (sender.balance < cost) return insufficient("balance", sender.balance, cost);
      std::uint64_t supply;
      if (!checked_add(state.total_supply(), tx.amount(), supply))
        return make_error(Reason::kOverflow, "the mint would take the total supply past 2^64-1");
      break;
    }
    default:
      return make_error(Reason::kUnknownType, "unknown transaction type");
  }

  sender.balance -= cost;
  sender.nonce += 1;
  if (tx.type() == TxType::kStake) {
    sender.stake += tx.amount();
    sender.jailed = false;  // any STAKE rejoins
  }
  if (tx.type() == TxType::kUnstake) {
    sender.stake -= tx.amount();
    // One amount per account: a later UNSTAKE joins it and restarts its wait, which never
    // releases stake earlier than its own rule would.
    sender.unbonding += tx.amount();
    sender.unbonding_height = height;
  }
  put(state, undo, tx.sender(), sender);
  if (tx.type() == TxType::kTransfer || tx.type() == TxType::kExchange) {
    Account receiver = state.get(tx.receiver());
    receiver.balance += tx.amount();
    put(state, undo, tx.receiver(), receiver);
  }
  if (tx.fee() > 0) {
    Account f = state.get(forger);
    f.balance += tx.fee();
    put(state, undo, forger, f);
  }
  return {};
}

Status check_slashable(const AccountModel& state, const PublicKey& offender) {
  Account account = state.get(offender);
  if (account.slashed) return make_error(Reason::kSlashed, offender.hex() + " is slashed already");
  if (account.stake == 0 && account.unbonding == 0)
    return make_error(Reason::kBadEvidence,
                      offender.hex() + " has no stake and nothing unbonding to slash");
  return {};
}

Status apply_evidence(AccountModel& state, const Evidence& evidence, UndoLog& undo) {
  if (auto ok = check_slashable(state, evidence.offender()); !ok.ok()) return ok;
  Account account = state.get(evidence.offender());
  account.stake = 0;
  account.unbonding = 0;
  account.unbonding_height = 0;
  account.slashed = true;
  put(state, undo, evidence.offender(), account);
  return {};
}

void jail_validators(AccountModel& state, std::span<const PublicKey> validators, UndoLog& undo) {
  for (const PublicKey& key : validators) {
    Account a = state.get(key);
    if (a.stake == 0 || a.slashed || a.jailed) continue;
    a.jailed = true;
    put(state, undo, key, a);
  }
}

void release_unbonding(AccountModel& state, std::uint64_t matured, UndoLog& undo) {
  for (const Address& address : state.unbonding_up_to(matured)) {
    Account a = state.get(address);
    a.balance += a.unbonding;
    a.unbonding = 0;
    a.unbonding_height = 0;
    put(state, undo, address, a);
  }
}

}  // namespace pos
