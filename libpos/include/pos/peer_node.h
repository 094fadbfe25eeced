// A chain, its transaction pool and the peer-to-peer network, run by one event-loop thread (the
// only writer of chain and pool, DESIGN.md section 9). Other threads talk to it through the
// methods below, which run on that thread and wait for the answer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pos/blockchain.h"
#include "pos/clock.h"
#include "pos/genesis.h"
#include "pos/status.h"
#include "pos/storage.h"
#include "pos/transaction_pool.h"

namespace pos {

struct PeerNodeConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: the system picks; see PeerNode::port()
  bool listen = true;
  std::vector<std::string> seeds;  // "host:port", dialled and redialled with backoff
  // Dial the addresses peers tell about (peer exchange). Off: only the seeds are dialled.
  bool discovery = true;
  std::size_t max_inbound = 32;
  std::size_t max_outbound = 8;
  std::uint64_t handshake_timeout_ms = 5'000;
  std::uint64_t idle_timeout_ms = 60'000;
  std::uint64_t ping_interval_ms = 15'000;
  std::uint64_t ban_ms = 10 * 60'000;
  std::uint64_t redial_initial_ms = 250;
  std::uint64_t redial_max_ms = 30'000;
  std::uint32_t sync_batch_blocks = 200;
  std::size_t sync_batch_bytes = 8 * 1024 * 1024;
  std::uint32_t max_messages_per_second = 1'000;
  // Bans apply to the offender's IP address. Off for networks whose peers share one address
  // (several nodes on one machine); then only the offending connection and node id are banned.
  bool ban_by_ip = true;
  PoolLimits pool_limits = {};
  // Receives one line per notable event (connections, bans, sync); none when empty.
  std::function<void(const std::string&)> log;
};

struct PeerInfo {
  std::string address;  // the socket's remote "ip:port"
  std::string listen_address;
  Hash node_id;
  bool inbound = false;
  std::uint64_t best_height = 0;
  int misbehaviour = 0;
};

// Counters since start, for /metrics.
struct NodeCounters {
  std::map<std::string, std::uint64_t> txs_accepted;  // by source: "rpc", "p2p"
  std::map<std::string, std::uint64_t> txs_refused;   // by reason code
  std::uint64_t blocks_forged = 0;
  std::uint64_t blocks_received = 0;
  std::uint64_t reorganisations = 0;
  std::uint64_t connections_dropped = 0;  // closed by this node, for any reason
};

// What the slot clock does with a forging key.
struct ForgingOptions {
  bool allow_empty_blocks = false;  // forge in our slots even with nothing pending
  // Forge only with at least this many ready peers. A validator cut off from the others that
  // goes on forging builds a branch of its own, and after finality_depth blocks of it can never
  // rejoin; 1 keeps it from doing that (0: forge alone, for a single-node network).
  std::size_t min_peers = 0;
  // Called with the slot before a block for it leaves the process; a refusal stops the block.
  // The node records the slot durably here so that it never signs twice for one slot.
  std::function<Status(std::uint64_t slot)> before_sign;
};

struct NodeStatus {
  std::uint64_t height = 0;
  Hash tip;
  Hash state_root;
  std::size_t pool_size = 0;
  std::vector<PeerInfo> peers;
  std::size_t banned = 0;
  std::optional<Hash> syncing_from;  // the peer blocks are being fetched from, if any
  std::uint64_t slot = 0;            // the clock's current slot
  // Blocks from peers held back in the last ten minutes because they were ahead of this node's
  // clock, and by how many slots at most: a sign that this node's clock is behind.
  std::uint64_t held_back_blocks = 0;
  std::uint64_t max_slots_ahead = 0;
  std::uint64_t finalized_height = 0;
  std::size_t pool_bytes = 0;
  // The last slot whose turn the slot clock has decided (forged or not); 0 before the first.
  std::uint64_t forge_decided_slot = 0;
  NodeCounters counters;
};

class PeerNode {
 public:
  // Opens the chain on storage, binds the listener and starts the event loop thread.
  static Result<std::unique_ptr<PeerNode>> start(const Genesis& genesis,
                                                 std::unique_ptr<Storage> storage,
                                                 PeerNodeConfig config, const Clock& clock);
  // Stops the loop, closing every connection, then the chain and its storage.
  ~PeerNode();
  PeerNode(const PeerNode&) = delete;
  PeerNode& operator=(const PeerNode&) = delete;

  std::uint16_t port() const { return port_; }
  const Hash& node_id() const { return node_id_; }

  // Admits a transaction to the pool and gossips it.
  Status submit(const TransactionPtr& tx);
  // The same for many, in one call on the loop, gossiped together; one verdict each.
  std::vector<Status> submit_batch(const std::vector<TransactionPtr>& txs);
  // Forges the block for `slot` with `key` (which must lead it), applies and gossips it.
  Result<BlockPtr> forge(const SecretKey& key, std::uint64_t slot);
  // From now on the slot clock forges with `key` in every slot it leads, when something is
  // pending (or always, with allow_empty_blocks).
  void start_forging(SecretKey key, ForgingOptions options);
  // Stops forging; a block being forged is finished first (it runs on the loop thread).
  void stop_forging();
  // Applies a block from elsewhere (a file, a test) and gossips it.
  Result<ApplyResult> apply(const BlockPtr& block);
  NodeStatus status() const;
  bool pool_contains(const Hash& id) const;
  // Runs fn on the loop thread with the chain and pool, for reads and tests.
  void inspect(const std::function<void(const Blockchain&, const TransactionPool&)>& fn) const;
  // Dials a peer now ("host:port"), as a seed would be.
  void connect(const std::string& address);
  // Closes every connection and forgets every address: the node is alone until told otherwise.
  void isolate();

 private:
  struct Loop;
  PeerNode() = default;
  std::unique_ptr<Loop> loop_;
  std::uint16_t port_ = 0;
  Hash node_id_;
};

}  // namespace pos
