#include <mutex>

#include "pos/clock.h"
#include "pos/storage.h"
#include "pos_fmt.h"

namespace pos {

BlockPtr MemoryStorage::block(const Hash& hash) const {
  std::shared_lock lock(mutex_);
  auto it = blocks_.find(hash);
  return it == blocks_.end() ? nullptr : it->second;
}

std::optional<Hash> MemoryStorage::main_chain_hash(std::uint64_t height) const {
  std::shared_lock lock(mutex_);
  auto it = main_.find(height);
  if (it == main_.end()) return std::nullopt;
  return it->second;
}

std::optional<UndoRecord> MemoryStorage::undo(const Hash& block_hash) const {
  std::shared_lock lock(mutex_);
  auto it = undo_.find(block_hash);
  if (it == undo_.end()) return std::nullopt;
  return it->second;
}

std::optional<EpochNonces> MemoryStorage::epoch_nonces(const Hash& block_hash) const {
  std::shared_lock lock(mutex_);
  auto it = epochs_.find(block_hash);
  if (it == epochs_.end()) return std::nullopt;
  return it->second;
}

std::optional<TxLocation> MemoryStorage::tx_location(const Hash& tx_id) const {
  std::shared_lock lock(mutex_);
  auto it = txs_.find(tx_id);
  if (it == txs_.end()) return std::nullopt;
  return it->second;
}

std::vector<EvidencePtr> MemoryStorage::pending_evidence() const {
  std::shared_lock lock(mutex_);
  std::vector<EvidencePtr> out;
  for (const auto& [id, evidence] : evidence_) out.push_back(evidence);
  return out;
}

std::optional<Account> MemoryStorage::account(const Address& address) const {
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(address);
  if (it == accounts_.end()) return std::nullopt;
  return it->second;
}

void MemoryStorage::for_each_account(
    const std::function<void(const Address&, const Account&)>& fn) const {
  std::shared_lock lock(mutex_);
  for (const auto& [address, account] : accounts_) fn(address, account);
}

std::vector<std::pair<Address, std::uint64_t>> MemoryStorage::stakers() const {
  std::shared_lock lock(mutex_);
  std::vector<std::pair<Address, std::uint64_t>> out;
  for (const auto& [address, account] : accounts_)
    if (account.stake > 0) out.emplace_back(address, account.stake);
  return out;
}

std::vector<BlockPtr> Storage::main_chain_blocks(std::uint64_t from, std::size_t max_count,
                                                 std::size_t max_bytes) const {
  std::vector<BlockPtr> out;
  std::size_t bytes = 0;
  for (std::uint64_t h = from; out.size() < max_count; ++h) {
    auto hash = main_chain_hash(h);
    if (!hash) break;
    BlockPtr block = this->block(*hash);
    if (!block) throw StorageError(fmt::format("main chain height {} has no block", h));
    if (!out.empty() && bytes + block->encoded_size() > max_bytes) break;
    bytes += block->encoded_size();
    out.push_back(std::move(block));
  }
  return out;
}

std::vector<AddressTx> MemoryStorage::address_history(const Address& address,
                                                      std::optional<TxPosition> before,
                                                      std::size_t limit) const {
  std::shared_lock lock(mutex_);
  std::vector<AddressTx> out;
  auto it = before ? history_.lower_bound({address, *before})
                   : history_.upper_bound({address, TxPosition{UINT64_MAX, UINT32_MAX}});
  while (out.size() < limit && it != history_.begin()) {
    --it;
    if (it->first.first != address) break;
    out.push_back(AddressTx{it->first.second, it->second});
  }
  return out;
}

// Erasures go first so that a batch can erase and re-add the same key (a reorganisation).
Status MemoryStorage::commit(const StorageBatch& batch) {
  std::unique_lock lock(mutex_);
  for (const auto& block : batch.blocks) blocks_.emplace(block->hash(), block);
  for (const auto& [hash, nonces] : batch.epoch_put) epochs_[hash] = nonces;
  for (const auto& [hash, undo] : batch.undo_put) undo_[hash] = undo;
  for (auto height : batch.main_erase) main_.erase(height);
  for (const auto& [height, hash] : batch.main_put) main_[height] = hash;
  for (const auto& id : batch.tx_erase) txs_.erase(id);
  for (const auto& [id, location] : batch.tx_put) txs_[id] = location;
  for (const auto& [address, position] : batch.address_erase) history_.erase({address, position});
  for (const auto& [address, entry] : batch.address_put)
    history_[{address, entry.position}] = entry.tx_id;
  for (const auto& [address, account] : batch.accounts) {
    if (account.empty())
      accounts_.erase(address);
    else
      accounts_[address] = account;
  }
  for (const auto& id : batch.evidence_erase) evidence_.erase(id);
  for (const auto& evidence : batch.evidence_put) evidence_[evidence->id()] = evidence;
  if (batch.meta) meta_ = batch.meta;
  if (batch.snapshot) snapshot_ = batch.snapshot;
  for (const auto& [epoch, set] : batch.sets_put) sets_[epoch] = set;
  for (const auto& entry : batch.side_erase) side_.erase(entry);
  for (const auto& entry : batch.side_put) side_.insert(entry);
  for (const auto& [height, hash] : batch.blocks_erase) {
    blocks_.erase(hash);
    undo_.erase(hash);
    epochs_.erase(hash);
    side_.erase({height, hash});
  }
  return {};
}

std::vector<std::pair<std::uint64_t, Hash>> MemoryStorage::side_blocks(std::uint64_t height,
                                                                       std::size_t limit) const {
  std::shared_lock lock(mutex_);
  std::vector<std::pair<std::uint64_t, Hash>> out;
  for (auto it = side_.begin(); it != side_.end() && it->first < height && out.size() < limit; ++it)
    out.push_back(*it);
  return out;
}

}  // namespace pos
