// The two sides of the line between the node (which decides consensus) and the network (which
// moves messages). The node implements NetworkHandler and calls a Transport; TCP (PeerNetwork,
// libpos/p2p) is one Transport, and the deterministic simulator is meant to be another. Both
// sides run on the node's event-loop thread. No KJ, Cap'n Proto or socket type appears here.
#pragma once

#include <cstdint>
#include <vector>

#include "pos/block.h"
#include "pos/crypto.h"
#include "pos/evidence.h"
#include "pos/status.h"
#include "pos/transaction.h"
#include "pos/vote.h"

namespace pos {

// A connection as the node sees it; 0 means none (this node itself, RPC, a file).
using PeerId = std::uint64_t;

// Where a block came from: gossip may be early and is held back until its slot; a block of a
// sync batch is the answer to our request and is judged as it is.
enum class BlockSource { kGossip, kSync };

// What the network hands to the node.
class NetworkHandler {
 public:
  virtual ~NetworkHandler() = default;
  // The best chain's tip, for Hello and for choosing whom to sync from.
  virtual std::uint64_t tip_height() const = 0;
  virtual Hash tip_hash() const = 0;
  // Block locator of the best chain (docs/p2p.md) and the blocks that follow it.
  virtual std::vector<Hash> locator() const = 0;
  virtual std::vector<BlockPtr> blocks_after(const std::vector<Hash>& locator,
                                             std::size_t max_blocks,
                                             std::size_t max_bytes) const = 0;
  virtual bool has_transaction(const Hash& id) const = 0;
  // The cheap checks of a peer's transactions (everything but the signature, changing nothing):
  // one verdict each. The network checks the signatures of those that pass (in parallel, off the
  // event loop) and then hands them to receive_transactions; it punishes the sender for each
  // refusal here as it would there.
  virtual std::vector<Status> screen_transactions(const std::vector<TransactionPtr>& txs) = 0;
  // A peer's transactions: one verdict each. The node relays what it admits; the network
  // punishes the sender for each refusal (the reason's penalty, docs/consensus.md).
  virtual std::vector<Status> receive_transactions(PeerId from,
                                                   const std::vector<TransactionPtr>& txs) = 0;
  virtual bool has_vote(const Hash& id) const = 0;
  // The cheap checks of a peer's votes (everything but the signature, changing nothing), one
  // verdict each: an error (the sender pays), false (dropped unjudged: what honest peers send in
  // races), or true: the network checks its signature (in parallel, off the event loop) and then
  // hands it to receive_votes.
  virtual std::vector<Result<bool>> screen_votes(const std::vector<VotePtr>& votes) = 0;
  // A peer's votes: one verdict each. The node relays what it keeps. A refusal whose reason
  // carries a penalty (a bad signature, a validator outside the set, heights that are not their
  // blocks') costs the sender; votes for blocks unknown here or on another branch are what honest
  // peers send during forks, so the node keeps or drops them with an ok verdict.
  virtual std::vector<Status> receive_votes(PeerId from, const std::vector<VotePtr>& votes) = 0;
  virtual bool has_evidence(const Hash& id) const = 0;
  // A peer's evidence: one verdict each. The node relays what it keeps. Evidence that fails
  // Evidence::check (another chain's layouts, a bad signature, a pair that does not conflict) is
  // refused with its reason and costs the sender; evidence that is stale here (the offender
  // already slashed, or holding nothing to slash) is what honest peers send during forks, so it
  // is dropped with an ok verdict.
  virtual std::vector<Status> receive_evidence(PeerId from,
                                               const std::vector<EvidencePtr>& evidence) = 0;
  // Whether a peer's block is worth checking the signatures of its body before receive_block:
  // it has transactions or votes, and passes every check its parent here decides that comes
  // before them (leader, VRF, signature; the body's roots and limits), so that only a leader's
  // block with the body its header names costs those checks. The network
  // then checks them off the event loop and hands the block to receive_block; otherwise it
  // hands the block over at once, and receive_block gives the verdict.
  virtual bool screen_block(const BlockPtr& block) const = 0;
  // A peer's block. Ok when applied or held back; kUnknownParent makes the network sync from
  // that peer; any other refusal but kAlreadyKnown costs the peer its penalty.
  virtual Status receive_block(PeerId from, const BlockPtr& block, BlockSource source) = 0;
  // False while the node refuses every peer's block (a node that needs a checkpoint): the
  // network then asks no peer for blocks and hands it none.
  virtual bool takes_peer_blocks() const = 0;
};

// What the node asks of the network.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void broadcast_block(const BlockPtr& block, PeerId except) = 0;
  virtual void broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) = 0;
  virtual void broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) = 0;
  virtual void broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) = 0;
  // Peers that completed the handshake.
  virtual std::size_t ready_peers() const = 0;
  // Whether a ready peer says its best chain is higher than ours.
  virtual bool peer_ahead() const = 0;
};

}  // namespace pos
