// PeerNode: a chain, its transaction pool, the consensus engine and the peer network, run by one
// event-loop thread (the only writer of chain and pool, docs/architecture.md). Other threads talk
// to it through the methods below, which run on that thread and wait for the answer. pos::Node
// (node.h) puts one on LMDB storage with the RPC server in front; tests and benchmarks run it
// on MemoryStorage with a clock they drive.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pos/blockchain.h"
#include "pos/clock.h"
#include "pos/consensus_engine.h"
#include "pos/genesis.h"
#include "pos/log.h"
#include "pos/node_api.h"
#include "pos/peer_network.h"
#include "pos/status.h"
#include "pos/storage.h"
#include "pos/transaction_pool.h"

namespace pos {

struct PeerNodeConfig {
  PeerNetworkConfig network;
  PoolLimits pool_limits = {};
  // Blockchain::require_block at the start: the node refuses every chain without this block.
  std::optional<TrustedBlock> checkpoint;
  // Never refuse peers' blocks for a finalized block older than the weak-subjectivity period
  // (ConsensusEngine::trust_peers_always); a checkpoint above the finalized block lifts the
  // refusal for this start (trust_checkpoint).
  bool sync_without_checkpoint = false;
  // Where the node's components log (their names: consensus, p2p, store); nothing by default.
  Logger log;
  // Warns (component store) while the file system holding `disk_path` has less than
  // `min_free_disk_bytes` available, checked every minute; no check when the path is empty.
  std::filesystem::path disk_path;
  std::uint64_t min_free_disk_bytes = 1ull << 30;
};

class PeerNode final : public NodeApi {
 public:
  // Starts the event loop, opens the chain on storage and binds the listener, all on the loop.
  static Result<std::unique_ptr<PeerNode>> start(const Genesis& genesis,
                                                 std::unique_ptr<Storage> storage,
                                                 PeerNodeConfig config, const Clock& clock);
  // Closes every connection, then the chain and its storage, then stops the loop.
  ~PeerNode() override;
  PeerNode(const PeerNode&) = delete;
  PeerNode& operator=(const PeerNode&) = delete;

  std::uint16_t port() const { return port_; }
  const Hash& node_id() const { return node_id_; }

  // NodeApi
  Status submit(const TransactionPtr& tx) override;
  std::vector<Status> submit_batch(const std::vector<TransactionPtr>& txs) override;
  const ChainParams& params() const override { return params_; }
  const Hash& genesis_hash() const override { return genesis_hash_; }
  NodeStatus status() const override;
  const Storage& storage() const override { return *storage_; }
  const TransactionPool& pool() const override;
  ValidatorSetInfo validators(std::uint64_t epoch) const override;
  std::vector<VotePtr> votes(const Hash& target) const override;

  // Runs fn on the loop with the chain and the pool; fn must not keep references.
  void inspect(const std::function<void(const Blockchain&, const TransactionPool&)>& fn) const;

  // Forges the block for `slot` with `key` (which must lead it), applies and gossips it.
  Result<BlockPtr> forge(const SecretKey& key, std::uint64_t slot);
  // From now on the slot clock forges with `key` in every slot it leads, with or without
  // pending transactions.
  void start_forging(SecretKey key, ForgingOptions options);
  // Stops forging; a block being forged is finished first (it runs on the loop thread).
  void stop_forging();
  // Dials a peer now ("host:port"), as a seed would be.
  void connect(const std::string& address);
  // Closes every connection and forgets every address: the node is alone until told otherwise.
  void isolate();

 private:
  struct Parts;
  PeerNode() = default;
  // On the loop: the status as it stands now, for readers on any thread.
  void publish_status();

  ChainParams params_;
  Hash genesis_hash_;
  const Storage* storage_ = nullptr;  // owned by parts_; reads are thread-safe
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Parts> parts_;  // lives on the loop thread
  std::uint16_t port_ = 0;
  Hash node_id_;
  mutable std::mutex status_mutex_;
  std::shared_ptr<const NodeStatus> status_;  // guarded by status_mutex_
};

}  // namespace pos
