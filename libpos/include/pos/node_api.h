// NodeApi: what a running node offers the RPC server and other front ends (docs/rpc.md):
// submit transactions, read the node's status, and read the chain and pool. It names no
// transport: the RPC layer depends on this interface, not on the peer-to-peer layer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pos/blockchain.h"
#include "pos/crypto.h"
#include "pos/status.h"
#include "pos/storage.h"
#include "pos/transaction.h"
#include "pos/transaction_pool.h"
#include "pos/wire.h"

namespace pos {

// Counters since start, for /metrics.
struct NodeCounters {
  std::map<std::string, std::uint64_t> txs_accepted;  // by source: "rpc", "p2p"
  std::map<std::string, std::uint64_t> txs_refused;   // by reason code
  std::uint64_t blocks_forged = 0;
  std::uint64_t blocks_received = 0;
  std::uint64_t reorganisations = 0;
  std::uint64_t connections_dropped = 0;  // closed by this node, for any reason
  std::uint64_t votes_cast = 0;           // signed by this node's key
  std::uint64_t votes_received = 0;       // from peers, kept in the vote pool
  std::uint64_t evidence_found = 0;       // built by this node from blocks or votes it received
  std::uint64_t evidence_received = 0;    // from peers, kept pending
  // Transaction signatures checked, and those the verifier's cache already knew (a block's
  // transactions that came through the pool): checks over transactions seen show waste.
  std::uint64_t signatures_checked = 0;
  std::uint64_t signature_cache_hits = 0;
};

struct NodeStatus {
  std::uint64_t height = 0;
  Hash tip;
  Hash state_root;
  std::size_t pool_size = 0;
  std::vector<PeerInfo> peers;
  std::size_t banned = 0;
  std::size_t known_addresses = 0;   // in the peer address book
  std::optional<Hash> syncing_from;  // the peer blocks are being fetched from, if any
  std::uint64_t slot = 0;            // the clock's current slot
  // Blocks from peers held back in the last ten minutes because they were ahead of this node's
  // clock, and by how many slots at most: a sign that this node's clock is behind.
  std::uint64_t held_back_blocks = 0;
  std::uint64_t max_slots_ahead = 0;
  // What those say (GET /health's "clock_behind"): 3 or more, or one more than 5 slots ahead.
  bool clock_behind = false;
  // What the votes included in the best chain justify and finalize (docs/consensus.md,
  // "Votes and finality"): its highest justified block, and the highest block this node has
  // ever seen finalized on its best chain (never lower than before).
  std::uint64_t justified_height = 0;
  Hash justified_hash;
  std::uint64_t finalized_height = 0;
  Hash finalized_hash;
  std::size_t vote_pool_size = 0;    // votes held for inclusion
  std::size_t pending_evidence = 0;  // evidence held for inclusion
  // Peers' blocks are refused until a restart with a checkpoint (docs/consensus.md, "Weak
  // subjectivity and checkpoints"; ConsensusEngine::trust_checkpoint).
  bool checkpoint_required = false;
  std::size_t pool_bytes = 0;
  // The last slot whose turn the slot clock has decided (forged or not); 0 before the first.
  std::uint64_t forge_decided_slot = 0;
  // CPU time the event loop's thread has used since the node started: its rise over wall time is
  // how busy the one thread that runs consensus is (signature checks run on other threads).
  double event_loop_cpu_seconds = 0;
  NodeCounters counters;
};

// Writes go to the node's event loop and wait for its verdict; reads do not wait for it: the
// status is a snapshot the loop publishes, and the stored chain is read through the storage's
// read transactions, so that a busy loop (a long sync) never delays a GET. The consensus reads
// (validators, votes) are the exception: what they read only the loop holds.
class NodeApi {
 public:
  virtual ~NodeApi() = default;
  // Admits a transaction to the pool and gossips it.
  virtual Status submit(const TransactionPtr& tx) = 0;
  // The same for many, admitted together and gossiped together; one verdict each.
  virtual std::vector<Status> submit_batch(const std::vector<TransactionPtr>& txs) = 0;
  // The network's parameters and genesis: fixed for the node's life.
  virtual const ChainParams& params() const = 0;
  virtual const Hash& genesis_hash() const = 0;
  // The status as the loop last published it: after each change of the chain or the pool, and
  // at each tick of its slot clock (peers, counters).
  virtual NodeStatus status() const = 0;
  // The stored chain (blocks, main-chain index, accounts, stakers, transaction index, address
  // histories, pending evidence), read on the caller's thread.
  virtual const Storage& storage() const = 0;
  // The pending transactions, read on the caller's thread.
  virtual const TransactionPool& pool() const = 0;
  // The validator set that draws `epoch`'s slot leaders on the best chain, and nonce(epoch)
  // there; read on the loop. An epoch far past the tip's costs a hash per epoch on the loop,
  // so the caller bounds it (the RPC server: at most two epochs after the clock's).
  virtual ValidatorSetInfo validators(std::uint64_t epoch) const = 0;
  // The votes held in the vote pool for one target block, in its order; read on the loop.
  virtual std::vector<VotePtr> votes(const Hash& target) const = 0;
};

}  // namespace pos
