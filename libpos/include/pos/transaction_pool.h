// Pending transactions: per-sender nonce order, fee priority across senders, bounded in count,
// bytes, per-sender entries, nonce gap and age. Every refusal is a Status with a reason.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
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

// What a reader sees of the pool at one instant.
struct PoolListing {
  std::size_t size = 0;
  std::size_t bytes = 0;
  // Every pending transaction: the executable ones in forging order, then those waiting for an
  // earlier nonce.
  std::vector<TransactionPtr> txs;
};

// An account's next nonce, as some view of the state has it.
using NonceLookup = std::function<std::uint64_t(const Address&)>;

// One thread at a time changes the pool (the node's event loop); reads are safe from any thread
// at any time, so that the RPC server reads it without waiting for the loop.
class TransactionPool {
 public:
  TransactionPool(ChainParams params, PoolLimits limits = {});
  // Admitted signatures then go through the verifier's cache, so that a block carrying them
  // does not check them again.
  void set_verifier(SignatureVerifier* verifier) { verifier_ = verifier; }

  // Admits tx if it is valid against `state` (and the sender's pending transactions before it).
  // A same-nonce transaction is replaced only by a higher fee. When full, a transaction that can
  // be mined next (its nonce follows the account's and the sender's pending ones) evicts another
  // sender's that waits for an earlier nonce, the cheapest, whatever the fees, then the
  // lowest-fee entry of another sender for a higher fee; a waiting one evicts only a waiting one
  // of a lower fee.
  // The checks run first, cheapest first, and the signature last: a transaction refused for its
  // chain, form, fee, nonce or funds costs no signature check.
  Status add(const TransactionPtr& tx, const AccountModel& state, std::uint64_t now_ms);
  // Every check of add() but the signature, changing nothing (the room in a full pool as far as
  // it can be told without evicting): what a peer's transactions meet before their signatures
  // are checked off the event loop.
  Status screen(const Transaction& tx, const AccountModel& state) const;

  bool contains(const Hash& id) const;
  TransactionPtr get(const Hash& id) const;
  std::size_t size() const;
  std::size_t bytes() const;
  const PoolLimits& limits() const { return limits_; }

  // Executable transactions in forging order: each sender's in nonce order from its account
  // nonce without gaps, senders interleaved by the fee of their next transaction.
  std::vector<TransactionPtr> ready(const AccountModel& state) const;
  std::vector<TransactionPtr> all() const;
  // The whole pool in one consistent look, ordered by `next_nonce` as ready() orders by a state.
  PoolListing listing(const NonceLookup& next_nonce) const;
  // The senders with pending transactions.
  std::vector<Address> senders() const;
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
  Status make_room(const Transaction& tx, const AccountModel& state);
  bool may_find_room(const Transaction& tx, const AccountModel& state) const;
  // Whether tx can be mined next: its nonce is the account's, or the sender's pending
  // transactions hold every nonce between.
  bool minable(const Transaction& tx, const AccountModel& state) const;
  // Evicts the cheapest entry of another sender than tx's that waits for an earlier nonce (and
  // the sender's later ones), checked against `state` first, if its fee is below tx's or
  // `any_fee`; false when there is none.
  bool evict_waiting(const Transaction& tx, const AccountModel& state, bool any_fee);
  // Sorts the sender's entries into waiting_ or out of it: those in an unbroken run from
  // `next_nonce` can be mined, the others wait.
  void classify(const Address& sender, std::uint64_t next_nonce);
  FeeKey key_of(const Hash& id) const;
  std::vector<TransactionPtr> ready_unlocked(const NonceLookup& next_nonce) const;

  ChainParams params_;
  PoolLimits limits_;
  std::unordered_map<Hash, Entry> by_id_;
  std::unordered_map<Address, std::map<std::uint64_t, Hash>> by_sender_;
  std::set<FeeKey> by_fee_;
  // The entries that wait for an earlier nonce, as last classified; an entry there may have
  // become minable since (the chain moved), and is classified again before it is evicted.
  std::set<FeeKey> waiting_;
  std::size_t bytes_ = 0;
  SignatureVerifier* verifier_ = nullptr;
  // Held shared by every public read, exclusively while the writer changes the maps. The writer's
  // own reads need no lock: it is the only thread that changes them. Held by pointer so that a
  // pool no thread reads yet can be moved.
  std::unique_ptr<std::shared_mutex> mutex_ = std::make_unique<std::shared_mutex>();
};

}  // namespace pos
