// Pending transactions: per-sender nonce order, fee priority across senders, bounded in count,
// bytes, per-sender entries, nonce gap and age. Every refusal is a Status with a reason.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include "pos/account_model.h"
#include "pos/block.h"
#include "pos/consensus.h"
#include "pos/status.h"
#include "pos/transaction.h"
#include "pos/verifier.h"

namespace pos {

struct PoolLimits {
  std::size_t max_count = 50'000;
  std::size_t max_bytes = 32 * 1024 * 1024;
  std::size_t max_per_sender = 256;
  std::uint64_t max_nonce_gap = 64;  // a nonce at most this far above the account's is held
  std::uint64_t max_age_ms = 3 * 60 * 60 * 1000;
  std::uint64_t min_fee = 0;
};

class TransactionPool {
 public:
  TransactionPool(ChainParams params, PoolLimits limits = {});
  // Admitted signatures then go through the verifier's cache, so that a block carrying them
  // does not check them again.
  void set_verifier(SignatureVerifier* verifier) { verifier_ = verifier; }

  // Admits tx if it is valid against `state` (and the sender's pending transactions before it).
  // A same-nonce transaction is replaced only by a higher fee; when full, the lowest-fee entry of
  // another sender is evicted only for a higher fee.
  Status add(const TransactionPtr& tx, const AccountModel& state, std::uint64_t now_ms);

  bool contains(const Hash& id) const { return by_id_.contains(id); }
  TransactionPtr get(const Hash& id) const;
  std::size_t size() const { return by_id_.size(); }
  std::size_t bytes() const { return bytes_; }
  const PoolLimits& limits() const { return limits_; }

  // Executable transactions in forging order: each sender's in nonce order from its account
  // nonce without gaps, senders interleaved by the fee of their next transaction.
  std::vector<TransactionPtr> ready(const AccountModel& state) const;
  std::vector<TransactionPtr> all() const;
  // The sender's pending transactions, in nonce order.
  std::vector<TransactionPtr> pending_from(const Address& sender) const;

  // After a block joined the chain: drops its transactions and what is now stale.
  void remove_included(const Block& block, const AccountModel& state);
  // After a reorganisation: offers the dropped branch's transactions again (refusals ignored).
  void readmit(const std::vector<TransactionPtr>& txs, const AccountModel& state,
               std::uint64_t now_ms);
  // After the chain changed (Blockchain::apply's connected and disconnected blocks): drops what
  // the new blocks included and readmits what only the dropped blocks had.
  void reconcile(const std::vector<BlockPtr>& connected, const std::vector<BlockPtr>& disconnected,
                 const AccountModel& state, std::uint64_t now_ms);
  // Drops entries older than max_age_ms.
  void expire(std::uint64_t now_ms);

 private:
  struct Entry {
    TransactionPtr tx;
    std::uint64_t added_ms;
  };
  struct FeeKey {
    std::uint64_t fee;
    std::uint64_t added_ms;
    Hash id;
    auto operator<=>(const FeeKey&) const = default;
  };
  void erase(const Hash& id);
  // Removes the sender's entries with nonce >= from.
  void erase_from(const Address& sender, std::uint64_t from);
  Status check_against_state(const Transaction& tx, const AccountModel& state) const;
  Status make_room(const Transaction& tx);

  ChainParams params_;
  PoolLimits limits_;
  std::unordered_map<Hash, Entry> by_id_;
  std::unordered_map<Address, std::map<std::uint64_t, Hash>> by_sender_;
  std::set<FeeKey> by_fee_;
  std::size_t bytes_ = 0;
  SignatureVerifier* verifier_ = nullptr;
};

}  // namespace pos
