#include "pos/transaction_pool.h"

#include <algorithm>
#include <mutex>
#include <queue>
#include <unordered_set>

#include "pos_fmt.h"

namespace pos {

TransactionPool::TransactionPool(ChainParams params, PoolLimits limits)
    : params_(std::move(params)), limits_(limits) {}

bool TransactionPool::contains(const Hash& id) const {
  std::shared_lock lock(*mutex_);
  return by_id_.contains(id);
}

std::size_t TransactionPool::size() const {
  std::shared_lock lock(*mutex_);
  return by_id_.size();
}

std::size_t TransactionPool::bytes() const {
  std::shared_lock lock(*mutex_);
  return bytes_;
}

std::vector<TransactionPtr> TransactionPool::pending_from(const Address& sender) const {
  std::shared_lock lock(*mutex_);
  std::vector<TransactionPtr> out;
  auto it = by_sender_.find(sender);
  if (it == by_sender_.end()) return out;
  for (const auto& [nonce, id] : it->second) out.push_back(by_id_.at(id).tx);
  return out;
}

TransactionPtr TransactionPool::get(const Hash& id) const {
  std::shared_lock lock(*mutex_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.tx;
}

// Walks the sender's pending transactions below tx's nonce, then checks tx against what is left.
Status TransactionPool::check_against_state(const Transaction& tx,
                                            const AccountModel& state) const {
  Account account = state.get(tx.sender());
  if (tx.type() == TxType::kStake && account.slashed)
    return make_error(Reason::kSlashed, "the sender was slashed and can never stake again");
  if (tx.nonce() < account.nonce)
    return make_error(Reason::kStaleNonce,
                      fmt::format("nonce {} already used; the sender's next nonce is {}",
                                  tx.nonce(), account.nonce));
  if (tx.nonce() - account.nonce > limits_.max_nonce_gap)
    return make_error(Reason::kNonceGap,
                      fmt::format("nonce {} is more than {} ahead of the next nonce {}", tx.nonce(),
                                  limits_.max_nonce_gap, account.nonce));
  // What the sender's pending transactions before tx, and tx itself, need and add; saturating,
  // since a sum past 2^64-1 cannot be covered anyway.
  std::uint64_t balance_needed = 0;
  std::uint64_t stake_needed = 0;
  std::uint64_t stake_added = 0;
  auto add_sat = [](std::uint64_t& total, std::uint64_t v) {
    if (__builtin_add_overflow(total, v, &total)) total = ~std::uint64_t{0};
  };
  auto need = [&](const Transaction& t) {
    add_sat(balance_needed, t.fee());
    if (t.type() == TxType::kTransfer || t.type() == TxType::kStake)
      add_sat(balance_needed, t.amount());
    if (t.type() == TxType::kStake) add_sat(stake_added, t.amount());
    if (t.type() == TxType::kUnstake) add_sat(stake_needed, t.amount());
  };
  if (auto sender = by_sender_.find(tx.sender()); sender != by_sender_.end()) {
    for (auto it = sender->second.lower_bound(account.nonce);
         it != sender->second.end() && it->first < tx.nonce(); ++it)
      need(*by_id_.at(it->second).tx);
  }
  need(tx);
  std::uint64_t stake_available = account.stake;
  add_sat(stake_available, stake_added);
  if (stake_needed > stake_available)
    return make_error(Reason::kInsufficientStake,
                      fmt::format("stake {} (with pending transactions) does not cover {} "
                                  "to unstake",
                                  stake_available, stake_needed));
  if (balance_needed > account.balance)
    return make_error(Reason::kInsufficientFunds,
                      fmt::format("balance {} does not cover {} (this transaction and "
                                  "the sender's pending ones)",
                                  account.balance, balance_needed));
  return {};
}

Status TransactionPool::screen(const Transaction& tx, const AccountModel& state) const {
  if (by_id_.contains(tx.id()))
    return make_error(Reason::kDuplicate, "transaction " + tx.id().hex() + " is already pending");
  if (tx.chain_id() != params_.chain_id)
    return make_error(Reason::kWrongChain, "transaction for chain \"" + tx.chain_id() +
                                               "\", this chain is \"" + params_.chain_id + "\"");
  if (auto ok = tx.check_form(params_.exchange_authority); !ok.ok()) return ok;
  if (tx.fee() < limits_.min_fee)
    return make_error(Reason::kFeeTooLow,
                      fmt::format("fee {} is below the minimum {}", tx.fee(), limits_.min_fee));
  if (auto ok = check_against_state(tx, state); !ok.ok()) return ok;
  if (auto sender = by_sender_.find(tx.sender()); sender != by_sender_.end()) {
    if (auto same = sender->second.find(tx.nonce()); same != sender->second.end()) {
      const Transaction& pending = *by_id_.at(same->second).tx;
      if (tx.fee() <= pending.fee())
        return make_error(Reason::kReplacementUnderpriced,
                          fmt::format("a transaction with nonce {} is pending with fee {}; "
                                      "a replacement needs a higher fee",
                                      tx.nonce(), pending.fee()));
      return {};  // a replacement takes its predecessor's room
    }
    if (sender->second.size() >= limits_.max_per_sender)
      return make_error(
          Reason::kSenderLimit,
          fmt::format("the sender already has {} pending transactions", sender->second.size()));
  }
  if (!may_find_room(tx, state))
    return make_error(Reason::kPoolFull,
                      fmt::format("the pool is full and holds nothing that nonce {} with fee {} "
                                  "may push out",
                                  tx.nonce(), tx.fee()));
  return {};
}

// make_room()'s rules without evicting: a full pool's refusal costs no signature check. Its
// waiting entries are as last classified, a superset of those that wait now, so a transaction
// refused here would have been refused by add().
bool TransactionPool::may_find_room(const Transaction& tx, const AccountModel& state) const {
  if (by_id_.size() + 1 <= limits_.max_count && bytes_ + tx.encoded_size() <= limits_.max_bytes)
    return true;
  const bool can_mine = minable(tx, state);
  for (const auto& key : waiting_)
    if (by_id_.at(key.id).tx->sender() != tx.sender()) return can_mine || key.fee < tx.fee();
  if (!can_mine) return false;
  for (const auto& key : by_fee_) {
    if (key.fee >= tx.fee()) return false;
    if (by_id_.at(key.id).tx->sender() != tx.sender()) return true;
  }
  return false;
}

Status TransactionPool::add(const TransactionPtr& tx, const AccountModel& state,
                            std::uint64_t now_ms) {
  if (auto ok = screen(*tx, state); !ok.ok()) return ok;
  if (verifier_) (void)verifier_->verify(*tx);  // keeps the verdict on tx, caches a valid one
  if (auto ok = tx->check_signature(); !ok.ok()) return ok;

  const Entry* replaced = nullptr;
  if (auto sender = by_sender_.find(tx->sender()); sender != by_sender_.end())
    if (auto same = sender->second.find(tx->nonce()); same != sender->second.end())
      replaced = &by_id_.at(same->second);
  std::unique_lock lock(*mutex_);
  if (replaced != nullptr) {
    erase(replaced->tx->id());
  } else if (auto room = make_room(*tx, state); !room.ok()) {
    return room;
  }
  by_id_.emplace(tx->id(), Entry{tx, now_ms});
  by_sender_[tx->sender()][tx->nonce()] = tx->id();
  by_fee_.insert(FeeKey{tx->fee(), now_ms, tx->id()});
  bytes_ += tx->encoded_size();
  classify(tx->sender(), state.get(tx->sender()).nonce);
  return {};
}

TransactionPool::FeeKey TransactionPool::key_of(const Hash& id) const {
  const Entry& entry = by_id_.at(id);
  return FeeKey{entry.tx->fee(), entry.added_ms, id};
}

void TransactionPool::classify(const Address& sender, std::uint64_t next_nonce) {
  auto it = by_sender_.find(sender);
  if (it == by_sender_.end()) return;
  std::uint64_t expected = next_nonce;
  for (const auto& [nonce, id] : it->second) {
    if (nonce == expected) {
      waiting_.erase(key_of(id));
      ++expected;
    } else {
      waiting_.insert(key_of(id));
    }
  }
}

bool TransactionPool::minable(const Transaction& tx, const AccountModel& state) const {
  const std::uint64_t next = state.get(tx.sender()).nonce;
  if (tx.nonce() <= next) return tx.nonce() == next;
  auto it = by_sender_.find(tx.sender());
  if (it == by_sender_.end()) return false;
  const auto& nonces = it->second;
  const auto between = std::distance(nonces.lower_bound(next), nonces.lower_bound(tx.nonce()));
  return static_cast<std::uint64_t>(between) == tx.nonce() - next;
}

// A minable transaction beats any that waits, whatever their fees: a pool full of waiting ones
// (behind nonces it refused when full, or an attacker's, which cost nothing as they are never
// mined) otherwise refused every transaction, the missing nonces too, until they expired.
bool TransactionPool::evict_waiting(const Transaction& tx, const AccountModel& state,
                                    bool any_fee) {
  auto it = waiting_.begin();
  while (it != waiting_.end()) {
    const FeeKey key = *it;
    const Address sender = by_id_.at(key.id).tx->sender();
    if (sender == tx.sender()) {
      ++it;
      continue;
    }
    classify(sender, state.get(sender).nonce);
    if (!waiting_.contains(key)) {
      it = waiting_.upper_bound(key);  // minable by now: on to the next
      continue;
    }
    // The cheapest that waits: no other is cheaper.
    if (!any_fee && key.fee >= tx.fee()) return false;
    erase_from(sender, by_id_.at(key.id).tx->nonce());
    return true;
  }
  return false;
}

Status TransactionPool::make_room(const Transaction& tx, const AccountModel& state) {
  const bool can_mine = minable(tx, state);
  while (by_id_.size() + 1 > limits_.max_count || bytes_ + tx.encoded_size() > limits_.max_bytes) {
    if (evict_waiting(tx, state, can_mine)) continue;
    // A waiting transaction never pushes out one that can be mined (go-ethereum's pool refuses
    // that too): a flood of them could empty the pool of everything forgers can include.
    if (!can_mine)
      return make_error(Reason::kPoolFull,
                        fmt::format("the pool is full; nonce {} waits for an earlier one, and "
                                    "fee {} does not beat the lowest of those that wait",
                                    tx.nonce(), tx.fee()));
    auto cheapest = by_fee_.begin();
    if (cheapest == by_fee_.end() || cheapest->fee >= tx.fee())
      return make_error(
          Reason::kPoolFull,
          fmt::format("the pool is full and fee {} does not beat its lowest fee", tx.fee()));
    const Transaction& victim = *by_id_.at(cheapest->id).tx;
    if (victim.sender() == tx.sender())
      return make_error(Reason::kPoolFull,
                        "the pool is full and the sender's own pending "
                        "transaction is the cheapest");
    // The victim's later nonces could never be mined without it.
    erase_from(victim.sender(), victim.nonce());
  }
  return {};
}

void TransactionPool::erase(const Hash& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  const Transaction& tx = *it->second.tx;
  by_fee_.erase(FeeKey{tx.fee(), it->second.added_ms, id});
  waiting_.erase(FeeKey{tx.fee(), it->second.added_ms, id});
  auto sender = by_sender_.find(tx.sender());
  sender->second.erase(tx.nonce());
  if (sender->second.empty()) by_sender_.erase(sender);
  bytes_ -= tx.encoded_size();
  by_id_.erase(it);
}

void TransactionPool::erase_from(const Address& sender, std::uint64_t from) {
  auto it = by_sender_.find(sender);
  if (it == by_sender_.end()) return;
  std::vector<Hash> doomed;
  for (auto n = it->second.lower_bound(from); n != it->second.end(); ++n)
    doomed.push_back(n->second);
  for (const auto& id : doomed) erase(id);
}

std::vector<TransactionPtr> TransactionPool::ready(const AccountModel& state) const {
  std::shared_lock lock(*mutex_);
  return ready_unlocked([&](const Address& a) { return state.get(a).nonce; });
}

PoolListing TransactionPool::listing(const NonceLookup& next_nonce) const {
  std::shared_lock lock(*mutex_);
  PoolListing out{by_id_.size(), bytes_, ready_unlocked(next_nonce)};
  if (out.txs.size() < out.size) {
    std::unordered_set<Hash> listed;
    for (const auto& tx : out.txs) listed.insert(tx->id());
    for (const auto& [id, entry] : by_id_)
      if (!listed.contains(id)) out.txs.push_back(entry.tx);
  }
  return out;
}

std::vector<Address> TransactionPool::senders() const {
  std::shared_lock lock(*mutex_);
  std::vector<Address> out;
  out.reserve(by_sender_.size());
  for (const auto& [sender, nonces] : by_sender_) out.push_back(sender);
  return out;
}

std::vector<TransactionPtr> TransactionPool::ready_unlocked(const NonceLookup& next_nonce) const {
  struct Head {
    const Transaction* tx;
    std::map<std::uint64_t, Hash>::const_iterator next, end;
  };
  auto lower = [](const Head& a, const Head& b) {
    if (a.tx->fee() != b.tx->fee()) return a.tx->fee() < b.tx->fee();
    return a.tx->id() > b.tx->id();
  };
  std::priority_queue<Head, std::vector<Head>, decltype(lower)> heads(lower);
  for (const auto& [sender, nonces] : by_sender_) {
    auto it = nonces.find(next_nonce(sender));
    if (it == nonces.end()) continue;
    heads.push(Head{by_id_.at(it->second).tx.get(), std::next(it), nonces.end()});
  }
  std::vector<TransactionPtr> out;
  while (!heads.empty()) {
    Head head = heads.top();
    heads.pop();
    out.push_back(by_id_.at(head.tx->id()).tx);
    if (head.next != head.end && head.next->first == head.tx->nonce() + 1) {
      const Transaction* next = by_id_.at(head.next->second).tx.get();
      heads.push(Head{next, std::next(head.next), head.end});
    }
  }
  return out;
}

std::vector<TransactionPtr> TransactionPool::all() const {
  std::shared_lock lock(*mutex_);
  std::vector<TransactionPtr> out;
  out.reserve(by_id_.size());
  for (const auto& [id, entry] : by_id_) out.push_back(entry.tx);
  return out;
}

void TransactionPool::remove_included(const Block& block, const AccountModel& state) {
  std::unique_lock lock(*mutex_);
  std::vector<Address> senders;
  for (const auto& tx : block.transactions()) {
    erase(tx->id());
    senders.push_back(tx->sender());
  }
  std::sort(senders.begin(), senders.end());
  senders.erase(std::unique(senders.begin(), senders.end()), senders.end());
  for (const auto& sender : senders) {
    auto it = by_sender_.find(sender);
    if (it == by_sender_.end()) continue;
    std::uint64_t next = state.get(sender).nonce;
    std::vector<Hash> stale;
    for (auto n = it->second.begin(); n != it->second.end() && n->first < next; ++n)
      stale.push_back(n->second);
    for (const auto& id : stale) erase(id);
    // A nonce this pool never held may have come in the block: what waited for it is minable.
    classify(sender, next);
  }
}

void TransactionPool::readmit(const std::vector<TransactionPtr>& txs, const AccountModel& state,
                              std::uint64_t now_ms) {
  std::vector<TransactionPtr> ordered = txs;
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a->nonce() < b->nonce(); });
  for (const auto& tx : ordered) (void)add(tx, state, now_ms);
}

void TransactionPool::reconcile(const std::vector<BlockPtr>& connected,
                                const std::vector<BlockPtr>& disconnected,
                                const AccountModel& state, std::uint64_t now_ms) {
  for (const auto& block : connected) remove_included(*block, state);
  std::vector<TransactionPtr> dropped;
  for (const auto& block : disconnected)
    dropped.insert(dropped.end(), block->transactions().begin(), block->transactions().end());
  // Those also in a connected block now have a stale nonce and are refused by add().
  readmit(dropped, state, now_ms);
  // Nonces the dropped blocks had used are free again: their senders' later entries may wait.
  std::unordered_set<Address> senders;
  for (const auto& tx : dropped)
    if (senders.insert(tx->sender()).second) classify(tx->sender(), state.get(tx->sender()).nonce);
}

void TransactionPool::expire(std::uint64_t now_ms) {
  std::vector<Hash> old;
  for (const auto& [id, entry] : by_id_)
    if (now_ms > entry.added_ms && now_ms - entry.added_ms > limits_.max_age_ms) old.push_back(id);
  std::unique_lock lock(*mutex_);
  for (const auto& id : old) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    const TransactionPtr tx = it->second.tx;
    erase(id);
    // Its sender's later entries wait for it now (no state here to tell: they are classified
    // again before any is evicted).
    if (auto sender = by_sender_.find(tx->sender()); sender != by_sender_.end())
      for (auto n = sender->second.upper_bound(tx->nonce()); n != sender->second.end(); ++n)
        waiting_.insert(key_of(n->second));
  }
}

}  // namespace pos
