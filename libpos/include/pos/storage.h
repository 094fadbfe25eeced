// What the Blockchain keeps: an interface with an in-memory implementation here and an LMDB one
// in pos::store. A StorageBatch is committed atomically: all of it or none of it.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "pos/account_model.h"
#include "pos/block.h"
#include "pos/evidence.h"
#include "pos/finality.h"
#include "pos/status.h"
#include "pos/validator_sets.h"

namespace pos {

struct TxLocation {
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  Hash block;
};

// Where a transaction sits on the main chain, as a cursor that orders an address's history.
struct TxPosition {
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  auto operator<=>(const TxPosition&) const = default;
};

// A main-chain transaction that an address sent or received.
struct AddressTx {
  TxPosition position;
  Hash tx_id;
};

// A block's epoch and the nonces of that epoch and the next on its chain (pos/epoch.h): stored
// with every block, so that a restart resumes the nonces without reading the chain from genesis.
struct EpochNonces {
  std::uint64_t epoch = 0;
  Hash nonce;
  Hash next;
  bool operator==(const EpochNonces&) const = default;
};

struct ChainMeta {
  std::string chain_id;
  Hash genesis_hash;
  Hash tip;
  std::uint64_t height = 0;
  // The node's finalized block (pos/blockchain.h): the best chain's own votes may finalize
  // less after a reorganisation, so it is kept, not recomputed. Genesis when absent.
  std::optional<Checkpoint> finalized;
};

struct StorageBatch {
  std::vector<BlockPtr> blocks;
  std::vector<std::pair<Hash, EpochNonces>> epoch_put;
  std::vector<std::pair<Hash, UndoRecord>> undo_put;
  std::vector<std::pair<std::uint64_t, Hash>> main_put;
  std::vector<std::uint64_t> main_erase;
  std::vector<std::pair<Hash, TxLocation>> tx_put;
  std::vector<Hash> tx_erase;
  std::vector<std::pair<Address, AddressTx>> address_put;
  std::vector<std::pair<Address, TxPosition>> address_erase;
  // Final account values; an empty Account erases.
  std::map<Address, Account> accounts;
  // Evidence this node holds that is not on its main chain yet (pending), by id.
  std::vector<EvidencePtr> evidence_put;
  std::vector<Hash> evidence_erase;
  std::optional<ChainMeta> meta;
  // A new consensus snapshot (Storage::consensus_snapshot) replacing the old one, and the past
  // validator sets it adds, by epoch.
  std::optional<Bytes> snapshot;
  std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> sets_put;
  // Stored blocks off the main chain, by height and hash (Storage::side_blocks): those stored
  // there or disconnected by a reorganisation are put; those connected are erased.
  std::vector<std::pair<std::uint64_t, Hash>> side_put;
  std::vector<std::pair<std::uint64_t, Hash>> side_erase;
  // Side blocks deleted: the block, its undo and epoch records and its side entry.
  std::vector<std::pair<std::uint64_t, Hash>> blocks_erase;
};

// A read that found the stored data damaged or the store failing: not a refusal of anybody's
// input, so it is thrown; Blockchain turns it into a kStorage error and rolls back.
class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads may run on any thread, beside commit() on the writer's: the RPC server reads through
// them while the node's event loop writes.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual BlockPtr block(const Hash& hash) const = 0;  // nullptr when absent
  virtual std::optional<Hash> main_chain_hash(std::uint64_t height) const = 0;
  virtual std::optional<UndoRecord> undo(const Hash& block_hash) const = 0;
  virtual std::optional<EpochNonces> epoch_nonces(const Hash& block_hash) const = 0;
  virtual std::optional<TxLocation> tx_location(const Hash& tx_id) const = 0;
  virtual std::optional<Account> account(const Address& address) const = 0;
  virtual void for_each_account(
      const std::function<void(const Address&, const Account&)>& fn) const = 0;
  // Addresses with stake > 0 and their stakes, in address order.
  virtual std::vector<std::pair<Address, std::uint64_t>> stakers() const = 0;
  // The evidence put and not erased (StorageBatch), in id order.
  virtual std::vector<EvidencePtr> pending_evidence() const = 0;
  virtual std::optional<ChainMeta> meta() const = 0;
  // The chain's consensus state at a finalized block, as the Blockchain encoded it
  // (docs/storage.md, "The consensus snapshot"): opening replays only the blocks above it.
  virtual std::optional<Bytes> consensus_snapshot() const = 0;
  // validators(e) of the epochs up to the snapshot's, from each epoch whose set changed, in
  // epoch order.
  virtual std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> past_validator_sets() const = 0;
  // Stored blocks off the main chain below `height`, lowest first, at most `limit`: the side
  // branches that finality has left behind, for deletion.
  virtual std::vector<std::pair<std::uint64_t, Hash>> side_blocks(std::uint64_t height,
                                                                  std::size_t limit) const = 0;
  virtual Status commit(const StorageBatch& batch) = 0;
  // The address's main-chain transactions, newest first, strictly before `before` when given;
  // at most `limit` of them.
  virtual std::vector<AddressTx> address_history(const Address& address,
                                                 std::optional<TxPosition> before,
                                                 std::size_t limit) const = 0;

  // Main-chain blocks from `from` upwards: at most max_count blocks and, past the first, at most
  // max_bytes of Block::encoded_size(); for pagination and sync.
  virtual std::vector<BlockPtr> main_chain_blocks(std::uint64_t from, std::size_t max_count,
                                                  std::size_t max_bytes) const;
};

// A Storage that hands every call to another (LevelDB's EnvWrapper): a subclass overrides only
// what it changes, as a test's view of a store or the simulator's crashing store does.
class StorageWrapper : public Storage {
 public:
  explicit StorageWrapper(Storage& inner) : inner_(inner) {}
  BlockPtr block(const Hash& hash) const override { return inner_.block(hash); }
  std::optional<Hash> main_chain_hash(std::uint64_t height) const override {
    return inner_.main_chain_hash(height);
  }
  std::optional<UndoRecord> undo(const Hash& hash) const override { return inner_.undo(hash); }
  std::optional<EpochNonces> epoch_nonces(const Hash& hash) const override {
    return inner_.epoch_nonces(hash);
  }
  std::optional<TxLocation> tx_location(const Hash& id) const override {
    return inner_.tx_location(id);
  }
  std::optional<Account> account(const Address& address) const override {
    return inner_.account(address);
  }
  void for_each_account(
      const std::function<void(const Address&, const Account&)>& fn) const override {
    inner_.for_each_account(fn);
  }
  std::vector<std::pair<Address, std::uint64_t>> stakers() const override {
    return inner_.stakers();
  }
  std::vector<EvidencePtr> pending_evidence() const override { return inner_.pending_evidence(); }
  std::optional<ChainMeta> meta() const override { return inner_.meta(); }
  std::optional<Bytes> consensus_snapshot() const override { return inner_.consensus_snapshot(); }
  std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> past_validator_sets() const override {
    return inner_.past_validator_sets();
  }
  std::vector<std::pair<std::uint64_t, Hash>> side_blocks(std::uint64_t height,
                                                          std::size_t limit) const override {
    return inner_.side_blocks(height, limit);
  }
  Status commit(const StorageBatch& batch) override { return inner_.commit(batch); }
  std::vector<AddressTx> address_history(const Address& address, std::optional<TxPosition> before,
                                         std::size_t limit) const override {
    return inner_.address_history(address, before, limit);
  }
  std::vector<BlockPtr> main_chain_blocks(std::uint64_t from, std::size_t max_count,
                                          std::size_t max_bytes) const override {
    return inner_.main_chain_blocks(from, max_count, max_bytes);
  }

 protected:
  Storage& inner_;
};

class MemoryStorage final : public Storage {
 public:
  BlockPtr block(const Hash& hash) const override;
  std::optional<Hash> main_chain_hash(std::uint64_t height) const override;
  std::optional<UndoRecord> undo(const Hash& block_hash) const override;
  std::optional<EpochNonces> epoch_nonces(const Hash& block_hash) const override;
  std::optional<TxLocation> tx_location(const Hash& tx_id) const override;
  std::optional<Account> account(const Address& address) const override;
  void for_each_account(
      const std::function<void(const Address&, const Account&)>& fn) const override;
  std::vector<std::pair<Address, std::uint64_t>> stakers() const override;
  std::vector<EvidencePtr> pending_evidence() const override;
  std::optional<ChainMeta> meta() const override {
    std::shared_lock lock(mutex_);
    return meta_;
  }
  std::optional<Bytes> consensus_snapshot() const override {
    std::shared_lock lock(mutex_);
    return snapshot_;
  }
  std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> past_validator_sets() const override {
    std::shared_lock lock(mutex_);
    return {sets_.begin(), sets_.end()};
  }
  std::vector<std::pair<std::uint64_t, Hash>> side_blocks(std::uint64_t height,
                                                          std::size_t limit) const override;
  Status commit(const StorageBatch& batch) override;
  std::vector<AddressTx> address_history(const Address& address, std::optional<TxPosition> before,
                                         std::size_t limit) const override;

  std::size_t block_count() const {
    std::shared_lock lock(mutex_);
    return blocks_.size();
  }

 private:
  std::unordered_map<Hash, BlockPtr> blocks_;
  std::unordered_map<Hash, UndoRecord> undo_;
  std::unordered_map<Hash, EpochNonces> epochs_;
  std::unordered_map<std::uint64_t, Hash> main_;  // by height, looked up one at a time
  std::unordered_map<Hash, TxLocation> txs_;
  std::map<Address, Account> accounts_;
  std::map<std::pair<Address, TxPosition>, Hash> history_;
  std::map<Hash, EvidencePtr> evidence_;
  std::optional<ChainMeta> meta_;
  std::optional<Bytes> snapshot_;
  std::map<std::uint64_t, ValidatorSetPtr> sets_;
  std::set<std::pair<std::uint64_t, Hash>> side_;
  mutable std::shared_mutex mutex_;  // reads on any thread beside commit(), as LmdbStorage
};

}  // namespace pos
