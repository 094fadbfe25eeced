// ConsensusEngine: the node's consensus on its event loop. It owns nothing but decisions: which
// transactions enter the pool, which blocks the chain takes (and which are held back until their
// slot), when this node forges, and what goes out to the network. It takes its inputs as calls
// (a peer's message, a submission, a tick of the slot clock) and sends through a Transport, so
// the same engine runs over TCP and in a test without sockets. No I/O of its own; time comes
// from the injected Clock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pos/blockchain.h"
#include "pos/clock.h"
#include "pos/keys.h"
#include "pos/log.h"
#include "pos/node_api.h"
#include "pos/transaction_pool.h"
#include "pos/transport.h"
#include "pos/vote_pool.h"

namespace pos {

// What the slot clock does with a forging key.
struct ForgingOptions {
  // Forge only with at least this many ready peers (0: forge alone). A validator cut off from
  // the others that forges builds a branch that is never justified without them, so it loses
  // to the voted chain on rejoining; this only saves the wasted blocks.
  std::size_t min_peers = 0;
  // Called with the slot before a block for it leaves the process; a refusal stops the block.
  // The node records the slot durably here so that it never signs twice for one slot.
  std::function<Status(std::uint64_t slot)> before_sign;
  // Called with a vote's source and target heights before the vote leaves the process; a
  // refusal stops the vote. The node checks there, durably, that the vote is neither a double
  // nor a surround vote of one it signed before (docs/consensus.md, "Honest voting").
  std::function<Status(std::uint64_t source_height, std::uint64_t target_height)> before_vote;
};

class ConsensusEngine final : public NetworkHandler {
 public:
  ConsensusEngine(Blockchain& chain, TransactionPool& pool, const Clock& clock, Logger log);
  ConsensusEngine(const ConsensusEngine&) = delete;
  ConsensusEngine& operator=(const ConsensusEngine&) = delete;

  // Where blocks and transactions go out; none: nowhere (a node alone).
  void set_transport(Transport* transport) { transport_ = transport; }
  // Called after anything that may change the status: an admission, a block, a tick.
  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }

  // Transactions from RPC (or another local source): admitted to the pool, the admitted ones
  // broadcast together; one verdict each.
  std::vector<Status> submit(const std::vector<TransactionPtr>& txs);
  // Forges the block for `slot` with `key` (which must lead it), applies and broadcasts it.
  Result<BlockPtr> forge(const SecretKey& key, std::uint64_t slot);
  // From now on the slot clock forges with `key` in every slot it leads, with or without
  // pending transactions (an empty block still carries the VRF output the epoch nonce needs),
  // and the key votes for each new head (docs/consensus.md, "Honest voting").
  void start_forging(SecretKey key, ForgingOptions options);
  void stop_forging();
  // The slot clock's tick: held-back blocks whose slot came, this node's turn to forge, pool
  // expiry. Called often (every 100 ms on the node's loop); cheap when there is nothing to do.
  void on_tick();

  // Weak subjectivity (docs/consensus.md): once this node's finalized block is older than the
  // period (unbonding_epochs epochs) with no peer's block joining its best chain within the
  // period, keys that have since unbonded could show it a false history, so from then on it
  // refuses peers' blocks (kCheckpointRequired, no penalty) and drops their votes, until a
  // restart or until its own votes finalize a block. A node that keeps taking its peers' blocks
  // through a network-wide stall of finality is never refused, so the network can resume.
  //
  // --checkpoint: the start counts as a peer's block taken, if the checkpoint is above this
  // node's finalized block (one at or below it tells the node nothing new).
  void trust_checkpoint(const TrustedBlock& checkpoint);
  // --sync-without-checkpoint: peers' blocks are never refused (a test or demo network).
  void trust_peers_always();

  // The chain's and the pool's part of the node's status.
  NodeStatus status() const;

  // NetworkHandler
  std::uint64_t tip_height() const override;
  Hash tip_hash() const override;
  std::vector<Hash> locator() const override;
  std::vector<BlockPtr> blocks_after(const std::vector<Hash>& locator, std::size_t max_blocks,
                                     std::size_t max_bytes) const override;
  bool has_transaction(const Hash& id) const override;
  std::vector<Status> screen_transactions(const std::vector<TransactionPtr>& txs) override;
  std::vector<Status> receive_transactions(PeerId from,
                                           const std::vector<TransactionPtr>& txs) override;
  bool screen_block(const BlockPtr& block) const override;
  Status receive_block(PeerId from, const BlockPtr& block, BlockSource source) override;
  bool takes_peer_blocks() const override;
  bool has_vote(const Hash& id) const override;
  std::vector<Result<bool>> screen_votes(const std::vector<VotePtr>& votes) override;
  std::vector<Status> receive_votes(PeerId from, const std::vector<VotePtr>& votes) override;
  bool has_evidence(const Hash& id) const override;
  std::vector<Status> receive_evidence(PeerId from,
                                       const std::vector<EvidencePtr>& evidence) override;

  const VotePool& votes() const { return votes_; }

 private:
  std::vector<Status> admit(const std::vector<TransactionPtr>& txs, PeerId from,
                            const char* source);
  Result<ApplyResult> apply(const BlockPtr& block, PeerId from);
  void hold_back(const BlockPtr& block);
  void retry_held();
  // Ok when `block`, a further header of its forger's slot, may be tried: not from gossip, and
  // within the sender's bound for this epoch.
  Status count_extra_header(PeerId from, BlockSource source, const Block& block);

  void maybe_forge();
  // Warns of the slots this key led that passed between two looks of the slot clock.
  void note_skipped_slots(std::uint64_t slot);
  std::int64_t ms_into_slot(std::uint64_t slot, std::uint64_t at_ms) const;
  // Fork choice again after votes were noted; a reorganisation updates the pool.
  void follow_votes();
  // Drops held votes whose target is at or below the finalized height.
  void forget_finalized_votes();
  // Signs a vote for the head if the honest voting rule allows one now.
  void maybe_vote();
  // A vote from a peer: the cheap checks, then the signature; kept in the pool when it passes.
  // True when the vote is new here and kept.
  Result<bool> receive_vote(const VotePtr& vote);
  // receive_vote's checks before the signature: true when the vote goes on to it.
  Result<bool> screen_vote(const Vote& vote) const;
  // Votes kept for a target not known here are relayed only once the target arrives and they
  // pass the checks against it: a node relays only what it checked, so a peer that relays a
  // vote whose heights do not match its blocks is at fault, not the validator alone.
  void hold_unrelayed(const VotePtr& vote);
  void release_unrelayed(const Hash& target);
  // Evidence this node built from what it received: kept pending and sent to every peer.
  void report_evidence(Result<EvidencePtr> evidence);
  // Keeps a vote this node has seen (checked, or in a block it applied) in recorded_votes_.
  void record_vote(const VotePtr& vote);
  void record_chain_votes();
  // A vote to count and include: into the pool (its verdict) and the record.
  Status hold_vote(const VotePtr& vote);
  // Evidence when `vote` and a recorded vote of its validator are a double or surround pair.
  // False when the pair's evidence failed its checks (a forged signature).
  bool find_offence(const VotePtr& vote);
  // A block whose chain conflicts with the finalized block: remembered, so that its descendants
  // are refused as such too, and its votes are checked against the recorded ones. This is how
  // conflicting finalized chains get slashed (accountable safety): their votes meet here.
  void note_conflicting(const Block& block);
  // The chain's own findings (double blocks), relayed.
  void relay_found_evidence();
  // Sends the pending evidence to every peer again, once an epoch.
  void announce_evidence();
  // The weak-subjectivity condition now: the finalized block and the last peer's block taken are
  // both older than the period.
  bool out_of_date() const;
  bool older_than_period(std::uint64_t slot) const;
  // Latches the refusal once out_of_date(), saying so in the log with what the operator can do.
  void update_refusal();
  // A peer's block joined the best chain now.
  void note_peer_block(const ApplyResult& result);
  // The slot the clock is in now.
  std::uint64_t clock_slot() const;
  void changed() const;

  Blockchain& chain_;
  TransactionPool& pool_;
  const Clock& clock_;
  Logger log_;
  Transport* transport_ = nullptr;
  std::function<void()> on_change_;
  NodeCounters counters_;
  std::optional<SecretKey> forger_;
  ForgingOptions forging_;
  std::uint64_t last_forge_slot_ = 0;
  std::uint64_t looked_slot_ = 0;  // the slot of the slot clock's latest look
  VotePool votes_;
  // Every vote seen here (gossiped, this node's own, in an applied block), each validator's
  // latest targets, kept after they are final: what a late vote, or a vote in a block of a
  // conflicting chain, is checked against for double and surround votes (a slasher's record).
  VotePool recorded_votes_;
  // Blocks refused because their chain conflicts with the finalized block (the latest few).
  std::unordered_set<Hash> conflicting_;
  std::deque<Hash> conflicting_order_;
  std::unordered_map<Hash, std::vector<VotePtr>> unrelayed_;  // by target
  std::size_t unrelayed_count_ = 0;
  // The highest target and source this engine has signed (the durable record is before_vote's).
  std::uint64_t voted_target_ = 0;
  std::uint64_t voted_source_ = 0;
  std::uint64_t last_expiry_ms_ = 0;
  std::uint64_t last_evidence_announce_slot_ = 0;
  // The slot in which a peer's block last joined the best chain (or the start was trusted);
  // none: never.
  std::optional<std::uint64_t> peer_block_slot_;
  bool refusing_ = false;
  bool trust_always_ = false;
  std::multimap<std::uint64_t, BlockPtr> held_;  // by slot, all from peers
  // Further headers each peer's sync batches stored in epoch extra_headers_epoch_ of the clock.
  std::map<PeerId, std::size_t> extra_headers_;
  std::uint64_t extra_headers_epoch_ = 0;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> held_log_;  // (when, slots ahead)
  std::optional<std::uint64_t> clock_warned_ms_;  // the last "clock is late" warning
};

}  // namespace pos
