#include "pos/consensus_engine.h"
#include "pos_fmt.h"

#include <algorithm>

namespace pos {
namespace {

constexpr std::size_t kMaxHeldBlocks = 64;
// A block further ahead of our clock than this is not clock skew but a lie.
constexpr std::uint64_t kMaxClockSkewMs = 60'000;
// How long a held-back block counts in the status (a sign that this node's clock is behind).
constexpr std::uint64_t kHeldLogMs = 10 * 60'000;
// GET /health's clock_behind: this many held-back blocks within kHeldLogMs, or one more than
// this many slots ahead.
constexpr std::size_t kClockBehindBlocks = 3;
constexpr std::uint64_t kClockBehindSlots = 5;

// The blocks held back within kHeldLogMs, by how many slots at most, and what they say.
struct HeldLag {
  std::uint64_t blocks = 0;
  std::uint64_t max_slots_ahead = 0;
  bool clock_behind = false;
};

HeldLag held_lag(const std::deque<std::pair<std::uint64_t, std::uint64_t>>& held_log) {
  HeldLag lag;
  lag.blocks = held_log.size();
  for (const auto& [when, ahead] : held_log)
    lag.max_slots_ahead = std::max(lag.max_slots_ahead, ahead);
  lag.clock_behind = lag.blocks >= kClockBehindBlocks || lag.max_slots_ahead > kClockBehindSlots;
  return lag;
}
constexpr std::uint64_t kPoolExpiryEveryMs = 10'000;
// Votes held back from relay until their target arrives (beyond this they are kept, not relayed).
constexpr std::size_t kMaxUnrelayedVotes = 4096;
// Further headers (a third or later block of one forger's slot) that one peer's sync batches may
// store in an epoch of the clock. An honest peer sends one only when its chain builds on it,
// after its leader signed three blocks for a slot: rare, and slashed. Without a bound, a leader
// could have a peer hand over endless variants of its slot, each stored until finality passes.
constexpr std::size_t kMaxExtraHeadersPerPeer = 8;
// Each validator's latest targets kept in the record of votes seen: an honest validator signs one
// vote a height, so this reaches two minutes back at 1-second slots; a key that signed on two
// conflicting chains pairs at the heights both have its votes for within that reach.
constexpr std::size_t kRecordedTargetsPerValidator = 128;
constexpr std::size_t kMaxConflictingBlocks = 1024;
// In each block of a conflicting chain: the votes compared with the record (a block holds at
// most 4 per validator of three epochs), and the pairs whose evidence may fail its checks
// (forged signatures) before the look ends.
constexpr std::size_t kMaxConflictingVotesLooked = 4096;
constexpr std::size_t kMaxFailedOffences = 4;
// A vote's target height is at most its slot, which is at most this many slots past the
// clock's (a minute of skew at 1-second slots): beyond, it targets no block that can exist.
constexpr std::uint64_t kMaxTargetSlotsAhead = 60;

}  // namespace

ConsensusEngine::ConsensusEngine(Blockchain& chain, TransactionPool& pool, const Clock& clock,
                                 Logger log)
    : chain_(chain),
      pool_(pool),
      clock_(clock),
      log_(std::move(log)),
      recorded_votes_(VotePoolLimits{kRecordedTargetsPerValidator}) {
  record_chain_votes();
}

// A restarted node's record starts from its stored chain: the votes its latest blocks include
// (a block includes votes for targets at most an epoch and a bit below it, so these cover
// every validator's latest recorded targets).
void ConsensusEngine::record_chain_votes() {
  const std::uint64_t height = chain_.height();
  const std::uint64_t span = 2 * kRecordedTargetsPerValidator;
  for (std::uint64_t h = height > span ? height - span : 1; h <= height; ++h)
    if (BlockPtr block = chain_.block_at(h))
      for (const auto& vote : block->votes()) record_vote(vote);
}

std::uint64_t ConsensusEngine::clock_slot() const {
  return chain_.params().slot_at(clock_.now_ms());
}

void ConsensusEngine::changed() const {
  if (on_change_) on_change_();
}

std::vector<Status> ConsensusEngine::submit(const std::vector<TransactionPtr>& txs) {
  return admit(txs, 0, "rpc");
}

std::vector<Status> ConsensusEngine::receive_transactions(PeerId from,
                                                          const std::vector<TransactionPtr>& txs) {
  return admit(txs, from, "p2p");
}

// A refusal here is counted as admit() counts one: the transaction goes no further.
std::vector<Status> ConsensusEngine::screen_transactions(const std::vector<TransactionPtr>& txs) {
  std::vector<Status> verdicts;
  verdicts.reserve(txs.size());
  for (const auto& tx : txs) {
    verdicts.push_back(pool_.screen(*tx, chain_.state()));
    if (!verdicts.back().ok())
      ++counters_.txs_refused[std::string(reason_code(verdicts.back().reason()))];
  }
  return verdicts;
}

// Admits each, then broadcasts the admitted ones together: one message per batch, not one each.
std::vector<Status> ConsensusEngine::admit(const std::vector<TransactionPtr>& txs, PeerId from,
                                           const char* source) {
  std::vector<Status> verdicts;
  std::vector<TransactionPtr> admitted;
  verdicts.reserve(txs.size());
  for (const auto& tx : txs) {
    auto verdict = pool_.add(tx, chain_.state(), clock_.now_ms());
    if (verdict.ok()) {
      ++counters_.txs_accepted[source];
      admitted.push_back(tx);
    } else {
      ++counters_.txs_refused[std::string(reason_code(verdict.reason()))];
    }
    verdicts.push_back(std::move(verdict));
  }
  if (transport_ && !admitted.empty()) transport_->broadcast_transactions(admitted, from);
  changed();
  return verdicts;
}

// How late in its slot a block was forged or arrived: the margin left before the next leader
// forges shows in logs (negative for a block from a clock a little ahead).
std::int64_t ConsensusEngine::ms_into_slot(std::uint64_t slot, std::uint64_t at_ms) const {
  return static_cast<std::int64_t>(at_ms) -
         static_cast<std::int64_t>(chain_.params().slot_start_ms(slot));
}

Result<BlockPtr> ConsensusEngine::forge(const SecretKey& key, std::uint64_t slot) {
  const std::uint64_t started = clock_.now_ms();
  auto block =
      chain_.forge(key, slot, pool_, started, chain_.select_votes(votes_.by_priority(), slot));
  if (!block.ok()) return block;
  auto applied = apply(*block, 0);
  if (!applied.ok()) return applied.error();
  ++counters_.blocks_forged;
  maybe_vote();
  log_.info("forged a block", {{"height", (*block)->height()},
                               {"hash", (*block)->hash()},
                               {"slot", slot},
                               {"transactions", (*block)->transactions().size()},
                               {"votes", (*block)->votes().size()},
                               {"evidence", (*block)->evidence().size()},
                               {"into_slot_ms", ms_into_slot(slot, started)},
                               {"took_ms", clock_.now_ms() - started}});
  return block;
}

// On success: the pool follows the chain and the block goes to every peer but its sender.
Result<ApplyResult> ConsensusEngine::apply(const BlockPtr& block, PeerId from) {
  auto result = chain_.apply(block);
  relay_found_evidence();
  if (!result.ok()) return result;
  for (const auto& vote : block->votes()) {
    if (recorded_votes_.contains(vote->id())) continue;  // gossiped before, and looked at then
    find_offence(vote);
    record_vote(vote);
  }
  release_unrelayed(block->hash());
  pool_.reconcile(result->connected, result->disconnected, chain_.state(), clock_.now_ms());
  if (transport_) transport_->broadcast_block(block, from);
  if (from != 0) ++counters_.blocks_received;
  if (result->kind == ApplyResult::Kind::kReorganized) {
    ++counters_.reorganisations;
    log_.info("reorganised", {{"height", chain_.height()},
                              {"hash", chain_.tip_hash()},
                              {"undone", result->disconnected.size()}});
  }
  forget_finalized_votes();
  changed();
  return result;
}

// A third header of a slot is refused by receive_block before its body is looked at.
bool ConsensusEngine::screen_block(const BlockPtr& block) const {
  if (block->transactions().empty() && block->votes().empty()) return false;
  return takes_peer_blocks() && !chain_.is_extra_header(*block) &&
         chain_.check_before_signatures(*block).ok();
}

Status ConsensusEngine::receive_block(PeerId from, const BlockPtr& block, BlockSource source) {
  update_refusal();
  if (!takes_peer_blocks())
    return make_error(Reason::kCheckpointRequired,
                      "this node's finalized block is older than the weak-subjectivity period: "
                      "it takes no peer's block without a checkpoint");
  // Two headers of a slot are evidence and a fork; more are a flood. A further one still joins
  // when it comes in a sync batch, as part of a chain a peer says it is on: a few per peer.
  const bool extra = chain_.is_extra_header(*block);
  if (extra) {
    if (auto ok = count_extra_header(from, source, *block); !ok.ok()) return ok;
  }
  const std::uint64_t started = clock_.now_ms();
  auto result = apply(block, from);
  if (result.ok()) {
    if (extra) ++extra_headers_[from];
    note_peer_block(*result);
    log_.debug("took a peer's block", {{"height", block->height()},
                                       {"hash", block->hash()},
                                       {"slot", block->slot()},
                                       {"transactions", block->transactions().size()},
                                       {"peer_id", from},
                                       {"into_slot_ms", ms_into_slot(block->slot(), started)},
                                       {"took_ms", clock_.now_ms() - started}});
    // A sync batch's blocks are not voted one by one: the tick votes for where the batch ends.
    if (source == BlockSource::kGossip) maybe_vote();
    return {};
  }
  if (result.reason() == Reason::kConflictsFinalized) note_conflicting(*block);
  if (result.reason() == Reason::kUnknownParent && conflicting_.contains(block->parent())) {
    note_conflicting(*block);
    return make_error(Reason::kConflictsFinalized,
                      fmt::format("block {} builds on {}, whose chain lacks the finalized block {}",
                                  block->hash(), block->parent(), chain_.finalized().hash));
  }
  if (source == BlockSource::kGossip && result.reason() == Reason::kSlotInFuture &&
      chain_.params().slot_start_ms(block->slot()) <= clock_.now_ms() + kMaxClockSkewMs) {
    hold_back(block);
    return {};
  }
  // Beyond any clock skew a block is not held (it would crowd out honest early blocks and make
  // /health blame our clock): the refusal stands, and the sender pays its penalty.
  return result.error();
}

Status ConsensusEngine::count_extra_header(PeerId from, BlockSource source, const Block& block) {
  auto refuse = [&](const std::string& why) {
    return make_error(Reason::kEquivocation,
                      fmt::format("forger {} signed more than two blocks for slot {}{}",
                                  block.forger(), block.slot(), why));
  };
  if (source == BlockSource::kGossip) return refuse("");
  std::uint64_t epoch = chain_.params().epoch_of(clock_slot());
  if (epoch != extra_headers_epoch_) {
    extra_headers_.clear();
    extra_headers_epoch_ = epoch;
  }
  if (extra_headers_[from] >= kMaxExtraHeadersPerPeer)
    return refuse(
        fmt::format("; this peer's sync batches brought {} such blocks this epoch already",
                    kMaxExtraHeadersPerPeer));
  return {};
}

// A block ahead of our clock is kept (a few of them) and tried again as the clock advances;
// many of them mean that this node's clock is behind, which the log says.
void ConsensusEngine::hold_back(const BlockPtr& block) {
  if (held_.size() >= kMaxHeldBlocks) held_.erase(std::prev(held_.end()));
  held_.emplace(block->slot(), block);
  std::uint64_t now_slot = clock_slot();
  const std::uint64_t now = clock_.now_ms();
  const std::uint64_t ahead = block->slot() > now_slot ? block->slot() - now_slot : 0;
  held_log_.emplace_back(now, ahead);
  log_.debug("holding back a block from a slot ahead of this node's clock",
             {{"hash", block->hash()}, {"slot", block->slot()}, {"clock_slot", now_slot}});
  // One block ahead is a peer's clock or a hurried leader; what GET /health calls clock_behind
  // is a warning, at most once in ten minutes: a peer sending such blocks must not flood the log.
  const HeldLag lag = held_lag(held_log_);
  if (lag.clock_behind && (!clock_warned_ms_ || now - *clock_warned_ms_ > kHeldLogMs)) {
    clock_warned_ms_ = now;
    log_.warn(
        "blocks keep arriving from slots ahead of this node's clock: the system clock is "
        "probably late; check NTP",
        {{"held_back_blocks", lag.blocks},
         {"max_slots_ahead", lag.max_slots_ahead},
         {"clock_slot", now_slot}});
  }
  changed();
}

void ConsensusEngine::retry_held() {
  std::uint64_t slot = clock_slot();
  while (!held_.empty() && held_.begin()->first <= slot + 1) {
    BlockPtr block = held_.begin()->second;
    held_.erase(held_.begin());
    if (auto result = apply(block, 0); result.ok()) note_peer_block(*result);
  }
}

void ConsensusEngine::start_forging(SecretKey key, ForgingOptions options) {
  forger_.emplace(std::move(key));
  forging_ = std::move(options);
}

void ConsensusEngine::stop_forging() {
  forger_.reset();
}

void ConsensusEngine::trust_checkpoint(const TrustedBlock& checkpoint) {
  if (checkpoint.height <= chain_.finalized_height()) {
    log_.warn(
        "the checkpoint is not above this node's finalized block: it does not count as a "
        "recent block from the network",
        {{"checkpoint_height", checkpoint.height},
         {"finalized_height", chain_.finalized_height()}});
    return;
  }
  peer_block_slot_ = clock_slot();
}

void ConsensusEngine::trust_peers_always() {
  trust_always_ = true;
}

bool ConsensusEngine::older_than_period(std::uint64_t slot) const {
  std::uint64_t now = clock_slot();
  return now > slot && now - slot > chain_.params().weak_subjectivity_slots();
}

bool ConsensusEngine::out_of_date() const {
  return older_than_period(chain_.finalized().slot) &&
         (!peer_block_slot_ || older_than_period(*peer_block_slot_));
}

bool ConsensusEngine::takes_peer_blocks() const {
  return trust_always_ || (!refusing_ && !out_of_date());
}

// Latched: no peer's block taken later lifts it. A block finalized by this node's own votes
// does (its key holds more than 2/3 of its chain's stake): peers' votes are dropped while it
// refuses, so keys that have unbonded cannot finalize its blocks for it.
void ConsensusEngine::update_refusal() {
  if (trust_always_) return;
  if (refusing_) {
    if (older_than_period(chain_.finalized().slot)) return;
    refusing_ = false;
    log_.info("taking peers' blocks again: this node's own votes finalized a block",
              {{"finalized_height", chain_.finalized_height()}});
    return;
  }
  if (!out_of_date()) return;
  refusing_ = true;
  held_.clear();
  const ChainParams& params = chain_.params();
  const Checkpoint& finalized = chain_.finalized();
  log_.error(
      "refusing peers' blocks: this node's finalized block is older than the weak-subjectivity "
      "period and no peer's block came within it, so keys that have unbonded since could show "
      "it a false history. Read a recent finalized block from a node you trust (GET /finality: "
      "finalized.height and finalized.hash) and restart with --checkpoint HEIGHT:HASH, or restart "
      "with --sync-without-checkpoint to trust the peers it has (docs/consensus.md, \"Weak "
      "subjectivity and checkpoints\")",
      {{"finalized_height", finalized.height},
       {"finalized_slot", finalized.slot},
       {"period_slots", params.weak_subjectivity_slots()}});
}

void ConsensusEngine::note_peer_block(const ApplyResult& result) {
  if (result.kind != ApplyResult::Kind::kSideBranch) peer_block_slot_ = clock_slot();
}

void ConsensusEngine::on_tick() {
  std::uint64_t now = clock_.now_ms();
  update_refusal();
  retry_held();
  // Kept while younger than kHeldLogMs; a clock set back keeps them (no underflow).
  while (!held_log_.empty() && now > held_log_.front().first &&
         now - held_log_.front().first > kHeldLogMs)
    held_log_.pop_front();
  if (chain_.latest_votes_moved()) follow_votes();
  maybe_forge();
  maybe_vote();
  announce_evidence();
  if (now < last_expiry_ms_ || now - last_expiry_ms_ > kPoolExpiryEveryMs) {
    last_expiry_ms_ = now;
    pool_.expire(now);
  }
  changed();
}

// The slot clock: forges once per slot that our key leads, empty or not (a skipped slot is a
// VRF output missing from the epoch nonce). A peer's claimed height never stops it (DESIGN §5):
// under fork choice by justification a taller branch can lose, and every node waiting for it
// halted the network.
void ConsensusEngine::maybe_forge() {
  if (!forger_) return;
  std::uint64_t slot = clock_slot();
  note_skipped_slots(slot);
  if (slot <= chain_.tip().slot || slot <= last_forge_slot_) return;
  last_forge_slot_ = slot;
  auto leader = chain_.leader(slot);
  if (!leader || *leader != forger_->public_key()) return;
  std::size_t ready = transport_ ? transport_->ready_peers() : 0;
  if (ready < forging_.min_peers) {
    log_.warn("missed a slot this node leads: too few peers (--forge-min-peers)",
              {{"slot", slot}, {"peers", ready}, {"min_peers", forging_.min_peers}});
    return;
  }
  if (forging_.before_sign) {
    auto ok = forging_.before_sign(slot);
    if (!ok.ok()) {
      log_.error("missed a slot this node leads: the signing record refused it",
                 {{"slot", slot}, {"reason", ok.reason()}, {"error", ok.error().message}});
      return;
    }
  }
  auto block = forge(*forger_, slot);
  if (!block.ok())
    log_.error("missed a slot this node leads: forging failed",
               {{"slot", slot}, {"reason", block.reason()}, {"error", block.error().message}});
}

// The slot clock looks ten times a slot: a slot that passed between two looks is one the event
// loop spent elsewhere (a long block, a stalled process), and if this key led it, it is missed.
// Only a gap of up to two epochs is searched: the leader draw is hashing, and a longer one is a
// stopped process, which the operator knows of.
void ConsensusEngine::note_skipped_slots(std::uint64_t slot) {
  const std::uint64_t last = looked_slot_;
  if (slot <= last) return;
  looked_slot_ = slot;
  if (last == 0 || slot - last > 2 * chain_.params().epoch_slots) return;
  std::uint64_t missed = 0;
  for (std::uint64_t s = last + 1; s < slot; ++s)
    if (chain_.leader(s) == forger_->public_key()) ++missed;
  if (missed > 0)
    log_.warn("missed slots this node leads: its event loop did not run in them (a stall)",
              {{"from_slot", last + 1}, {"to_slot", slot - 1}, {"missed", missed}});
}

// The honest voting rule (docs/consensus.md): the head as target, the highest block its chain
// justifies as source, a target above every target signed before and a source not below any
// source signed before; recorded durably (before_vote) before the vote leaves.
void ConsensusEngine::maybe_vote() {
  if (!forger_) return;
  const PublicKey& me = forger_->public_key();
  if (!chain_.is_voter(me)) return;
  const BlockHeader& head = chain_.tip();
  // A head an epoch old is a node still syncing: its vote could not count anywhere soon.
  if (clock_slot() > head.slot + chain_.params().epoch_slots) return;
  const Checkpoint& source = chain_.vote_finality().justified();
  if (head.height <= source.height || head.height <= voted_target_ || source.height < voted_source_)
    return;
  voted_target_ = head.height;  // one attempt per head height: another block there is a double
  if (forging_.before_vote) {
    auto ok = forging_.before_vote(source.height, head.height);
    if (!ok.ok()) {
      // After a restart the record is ahead of the first heads: expected, not a warning.
      log_.info("not voting: the signing record refused the vote",
                {{"height", head.height}, {"reason", ok.reason()}, {"error", ok.error().message}});
      return;
    }
  }
  voted_source_ = source.height;
  VotePtr vote = Vote::sign(VoteFields{chain_.params().chain_id, me, source.hash, source.height,
                                       chain_.tip_hash(), head.height},
                            *forger_);
  (void)hold_vote(vote);
  chain_.note_vote(*vote);
  ++counters_.votes_cast;
  log_.debug("voted", {{"source_height", source.height},
                       {"target_height", head.height},
                       {"target", chain_.tip_hash()}});
  if (transport_) transport_->broadcast_votes({vote}, 0);
}

bool ConsensusEngine::has_vote(const Hash& id) const {
  return votes_.contains(id);
}

std::vector<Status> ConsensusEngine::receive_votes(PeerId from, const std::vector<VotePtr>& votes) {
  // A node that needs a checkpoint follows nobody: peers' votes could finalize its own blocks
  // with keys that have unbonded, or move it onto a branch they chose. Dropped without blame.
  if (!takes_peer_blocks()) return std::vector<Status>(votes.size());
  std::vector<Status> verdicts;
  std::vector<VotePtr> kept;
  verdicts.reserve(votes.size());
  for (const auto& vote : votes) {
    auto verdict = receive_vote(vote);
    if (verdict.ok() && *verdict) {
      chain_.note_vote(*vote);
      if (chain_.is_indexed(vote->target_hash()))
        kept.push_back(vote);
      else
        hold_unrelayed(vote);
    }
    verdicts.push_back(verdict.ok() ? Status{} : Status(verdict.error()));
  }
  if (transport_ && !kept.empty()) transport_->broadcast_votes(kept, from);
  if (!kept.empty()) changed();
  return verdicts;
}

// Votes moved fork choice's second rule: the best branch may now be another. Run from the tick,
// so that a flood of votes costs one comparison of the branches per tick, not one per message.
void ConsensusEngine::follow_votes() {
  auto result = chain_.follow_votes();
  if (!result.ok()) {
    if (result.reason() != Reason::kAlreadyKnown)
      log_.error("following the votes failed",
                 {{"reason", result.reason()}, {"error", result.error().message}});
    return;
  }
  pool_.reconcile(result->connected, result->disconnected, chain_.state(), clock_.now_ms());
  ++counters_.reorganisations;
  log_.info("reorganised after votes", {{"height", chain_.height()},
                                        {"hash", chain_.tip_hash()},
                                        {"undone", result->disconnected.size()}});
  forget_finalized_votes();
  maybe_vote();
}

// Votes at or below the finalized height can no longer change what the chain justifies.
void ConsensusEngine::forget_finalized_votes() {
  votes_.drop_targets_through(chain_.finalized_height());
  std::erase_if(unrelayed_, [&](const auto& item) {
    bool stale = item.second.front()->target_height() <= chain_.finalized_height();
    if (stale) unrelayed_count_ -= item.second.size();
    return stale;
  });
}

void ConsensusEngine::hold_unrelayed(const VotePtr& vote) {
  if (unrelayed_count_ >= kMaxUnrelayedVotes) return;
  unrelayed_[vote->target_hash()].push_back(vote);
  ++unrelayed_count_;
}

void ConsensusEngine::release_unrelayed(const Hash& target) {
  auto it = unrelayed_.find(target);
  if (it == unrelayed_.end()) return;
  std::vector<VotePtr> checked;
  for (const auto& vote : it->second)
    if (votes_.contains(vote->id()) && chain_.check_vote_blocks(*vote).ok())
      checked.push_back(vote);
  unrelayed_count_ -= it->second.size();
  unrelayed_.erase(it);
  if (transport_ && !checked.empty()) transport_->broadcast_votes(checked, 0);
}

// Cheap checks first (chain, known, validator, heights against known blocks), the signature
// last. Votes that are merely stale or that lose to another vote held here are dropped without
// blame: honest peers relay them.
std::vector<Result<bool>> ConsensusEngine::screen_votes(const std::vector<VotePtr>& votes) {
  std::vector<Result<bool>> verdicts;
  verdicts.reserve(votes.size());
  // A node that needs a checkpoint drops them all unjudged, as receive_votes does.
  for (const auto& vote : votes)
    verdicts.push_back(takes_peer_blocks() ? screen_vote(*vote) : Result<bool>(false));
  return verdicts;
}

Result<bool> ConsensusEngine::screen_vote(const Vote& vote) const {
  if (vote.chain_id() != chain_.params().chain_id)
    return make_error(Reason::kWrongChain, "vote for chain \"" + vote.chain_id() + "\"");
  if (votes_.contains(vote.id()) || recorded_votes_.contains(vote.id())) return false;
  // Every block's height is at most its slot: a target higher than the clock allows is no
  // block, and kept it would push the validator's real votes out of the record.
  if (vote.target_height() > clock_slot() + kMaxTargetSlotsAhead)
    return make_error(Reason::kBadVote,
                      fmt::format("vote {} targets height {}, above the slots so far", vote.id(),
                                  vote.target_height()));
  // A stranger to the tip's sets voting for a block not known here may be a member on a branch
  // this node has not seen: dropped unjudged (and unverified), since an honest peer on that
  // branch relays it.
  if (!chain_.is_indexed(vote.target_hash()) && !chain_.is_validator(vote.validator()))
    return false;
  if (auto ok = chain_.check_vote_blocks(vote); !ok.ok()) return ok.error();
  // Final already, so it counts for nothing; but with a recorded vote it may be a slashable pair.
  if (vote.target_height() <= chain_.finalized_height())
    return !chain_.is_equivocator(vote.validator()) &&
           recorded_votes_.slashable_with(vote).other != nullptr;
  return true;
}

Result<bool> ConsensusEngine::receive_vote(const VotePtr& vote) {
  auto screened = screen_vote(*vote);
  if (!screened.ok() || !*screened) return screened;
  if (auto ok = vote->check(); !ok.ok()) return ok.error();
  if (forger_ && vote->validator() == forger_->public_key())
    log_.warn(
        "a vote signed with this node's key that this process did not sign: it signed it "
        "before a restart, or another process runs with the same key, which is slashable",
        {{"target", vote->target_hash()}, {"target_height", vote->target_height()}});
  find_offence(vote);
  if (vote->target_height() <= chain_.finalized_height()) return false;
  if (!hold_vote(vote).ok()) return false;
  ++counters_.votes_received;
  return true;
}

void ConsensusEngine::record_vote(const VotePtr& vote) {
  (void)recorded_votes_.add(vote);  // the first of a pair is kept; the second is evidence
}

Status ConsensusEngine::hold_vote(const VotePtr& vote) {
  record_vote(vote);
  return votes_.add(vote);
}

bool ConsensusEngine::find_offence(const VotePtr& vote) {
  auto [other, double_vote] = recorded_votes_.slashable_with(*vote);
  if (!other || chain_.is_equivocator(vote->validator())) return true;  // none, or held already
  auto evidence =
      double_vote ? Evidence::double_vote(other, vote) : Evidence::surround_vote(other, vote);
  if (!evidence.ok()) return false;
  report_evidence(std::move(evidence));
  return true;
}

void ConsensusEngine::note_conflicting(const Block& block) {
  if (conflicting_.insert(block.hash()).second) {
    conflicting_order_.push_back(block.hash());
    if (conflicting_order_.size() > kMaxConflictingBlocks) {
      conflicting_.erase(conflicting_order_.front());
      conflicting_order_.pop_front();
    }
  }
  // Nothing of this block was checked but its header's hash, which does not cover the votes'
  // signatures: each copy that comes is looked at (a tampered one must not hide the real one),
  // within a bound on the votes looked at and on the pairs whose checks fail.
  std::size_t looked = 0, failed = 0;
  for (const auto& vote : block.votes()) {
    if (++looked > kMaxConflictingVotesLooked) break;
    if (!find_offence(vote) && ++failed >= kMaxFailedOffences) break;
  }
}

void ConsensusEngine::report_evidence(Result<EvidencePtr> evidence) {
  if (!evidence.ok()) return;
  auto kept = chain_.add_evidence(*evidence);
  if (!kept.ok()) {
    log_.info("evidence not kept", {{"offender", (*evidence)->offender()},
                                    {"reason", kept.reason()},
                                    {"error", kept.error().message}});
    return;
  }
  if (!*kept) return;
  log_.warn("a validator signed conflicting items: evidence found, it will be slashed",
            {{"offender", (*evidence)->offender()},
             {"kind", evidence_kind_name((*evidence)->kind())},
             {"evidence", (*evidence)->id()}});
  ++counters_.evidence_found;
  if (transport_) transport_->broadcast_evidence({*evidence}, 0);
}

void ConsensusEngine::relay_found_evidence() {
  for (const auto& evidence : chain_.take_found_evidence()) {
    log_.warn("a forger signed two blocks for one slot: evidence found, it will be slashed",
              {{"offender", evidence->offender()},
               {"kind", evidence_kind_name(evidence->kind())},
               {"evidence", evidence->id()}});
    ++counters_.evidence_found;
    if (transport_) transport_->broadcast_evidence({evidence}, 0);
  }
}

// Once an epoch the pending evidence goes to every peer again: a peer that joined since, or that
// dropped it over its budget, gets it. Peers that hold it drop it unjudged; there is at most one
// piece per offender.
void ConsensusEngine::announce_evidence() {
  std::uint64_t slot = clock_slot();
  if (!transport_ || slot < last_evidence_announce_slot_ + chain_.params().epoch_slots) return;
  last_evidence_announce_slot_ = slot;
  auto pending = chain_.pending_evidence();
  if (!pending.empty()) transport_->broadcast_evidence(pending, 0);
}

bool ConsensusEngine::has_evidence(const Hash& id) const {
  return chain_.has_pending_evidence(id);
}

// Refused: what does not prove an offence (the sender pays); dropped without blame: what is
// known or stale here (honest peers on another branch send it).
std::vector<Status> ConsensusEngine::receive_evidence(PeerId from,
                                                      const std::vector<EvidencePtr>& evidence) {
  std::vector<Status> verdicts;
  std::vector<EvidencePtr> kept;
  verdicts.reserve(evidence.size());
  for (const auto& e : evidence) {
    auto added = chain_.add_evidence(e);
    if (added.ok() && *added) {
      log_.info("evidence from a peer", {{"offender", e->offender()},
                                         {"kind", evidence_kind_name(e->kind())},
                                         {"evidence", e->id()},
                                         {"peer_id", from}});
      ++counters_.evidence_received;
      kept.push_back(e);
    }
    verdicts.push_back(added.ok() ? Status{} : Status(added.error()));
  }
  if (transport_ && !kept.empty()) transport_->broadcast_evidence(kept, from);
  if (!kept.empty()) changed();
  return verdicts;
}

NodeStatus ConsensusEngine::status() const {
  NodeStatus s;
  s.height = chain_.height();
  s.tip = chain_.tip_hash();
  s.state_root = chain_.state().state_root();
  s.pool_size = pool_.size();
  s.pool_bytes = pool_.bytes();
  s.slot = clock_slot();
  const HeldLag lag = held_lag(held_log_);
  s.held_back_blocks = lag.blocks;
  s.max_slots_ahead = lag.max_slots_ahead;
  s.clock_behind = lag.clock_behind;
  const FinalityState& finality = chain_.vote_finality();
  s.justified_height = finality.justified().height;
  s.justified_hash = finality.justified().hash;
  s.finalized_height = chain_.finalized_height();
  s.finalized_hash = chain_.finalized().hash;
  s.forge_decided_slot = last_forge_slot_;
  s.vote_pool_size = votes_.size();
  s.pending_evidence = chain_.pending_evidence().size();
  s.checkpoint_required = !takes_peer_blocks();
  s.counters = counters_;
  return s;
}

std::uint64_t ConsensusEngine::tip_height() const {
  return chain_.height();
}

Hash ConsensusEngine::tip_hash() const {
  return chain_.tip_hash();
}

std::vector<Hash> ConsensusEngine::locator() const {
  return chain_.locator();
}

// The main-chain blocks after the first locator hash that is on our main chain (after genesis
// when none is).
std::vector<BlockPtr> ConsensusEngine::blocks_after(const std::vector<Hash>& locator,
                                                    std::size_t max_blocks,
                                                    std::size_t max_bytes) const {
  std::uint64_t from = 1;
  for (const auto& hash : locator) {
    if (chain_.on_main_chain(hash)) {
      from = chain_.block(hash)->height() + 1;
      break;
    }
  }
  return chain_.main_chain_blocks(from, max_blocks, max_bytes);
}

bool ConsensusEngine::has_transaction(const Hash& id) const {
  return pool_.contains(id);
}

}  // namespace pos
