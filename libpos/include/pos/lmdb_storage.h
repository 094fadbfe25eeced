// The Blockchain's Storage on LMDB (target pos::store): one environment per data dir, every
// StorageBatch one write transaction, readers on read transactions that never block the writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "pos/status.h"
#include "pos/storage.h"

namespace pos {

struct LmdbOptions {
  std::size_t initial_map_size = std::size_t{64} << 20;
  // The map doubles when full, up to this; then a commit fails with a clear kStorage error.
  std::size_t max_map_size = std::size_t{256} << 30;
  // fsync on every commit. Only benchmarks turn it off: without it a crash can lose commits.
  bool sync = true;
  // Read only, beside a running node (LMDB readers never block its writer): no LOCK taken,
  // nothing written, every commit refused. The data dir must exist.
  bool read_only = false;
};

class LmdbStorage final : public Storage {
 public:
  static constexpr std::uint32_t kSchemaVersion = 8;

  // Opens or creates the data dir; a schema-6 or 7 dir opened to write becomes schema 8 at its
  // first commit (it gains the sets and side tables it lacks, and lists its side blocks).
  // Refused, with nothing in the dir changed: a dir in use by another process, one written by
  // another schema (1 and 2 hold protocol v1 blocks, 3 to 5 earlier protocol v2 networks, which
  // this libpos does not read; a newer one), a damaged or foreign data file.
  static Result<std::unique_ptr<LmdbStorage>> open(const std::filesystem::path& dir,
                                                   LmdbOptions options = {});
  ~LmdbStorage() override;
  LmdbStorage(const LmdbStorage&) = delete;
  LmdbStorage& operator=(const LmdbStorage&) = delete;

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
  std::optional<ChainMeta> meta() const override;
  std::optional<Bytes> consensus_snapshot() const override;
  std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> past_validator_sets() const override;
  std::vector<std::pair<std::uint64_t, Hash>> side_blocks(std::uint64_t height,
                                                          std::size_t limit) const override;
  Status commit(const StorageBatch& batch) override;
  std::vector<BlockPtr> main_chain_blocks(std::uint64_t from, std::size_t max_count,
                                          std::size_t max_bytes) const override;
  std::vector<AddressTx> address_history(const Address& address, std::optional<TxPosition> before,
                                         std::size_t limit) const override;

  std::size_t map_size() const;
  const std::filesystem::path& dir() const;

 private:
  struct Impl;
  explicit LmdbStorage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pos
