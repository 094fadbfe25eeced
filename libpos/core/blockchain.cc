#include "pos/blockchain.h"

#include <algorithm>
#include <deque>
#include <set>
#include <unordered_set>

#include "pos/evidence.h"
#include "pos/state_transition.h"
#include "pos/vote.h"
#include "pos/vrf.h"
#include "pos_fmt.h"
#include "snapshot_codec.h"

namespace pos {
namespace {

// Bitcoin Core's skip heights: from any height, an ancestor is reached in O(log n) jumps.
std::uint64_t skip_height_of(std::uint64_t height) {
  if (height < 2) return 0;
  auto clear_lowest_one = [](std::uint64_t n) { return n & (n - 1); };
  return (height & 1) ? clear_lowest_one(clear_lowest_one(height - 1)) + 1
                      : clear_lowest_one(height);
}
constexpr std::size_t kSignedSlotsKept = 20'000;
// Side blocks deleted by one prune: one LMDB transaction stays small; a backlog (side blocks a
// restart left behind, or a flood) goes over the next prunes, one per finalized block.
constexpr std::size_t kMaxSideBlocksPerPrune = 1024;

StakeTablePtr genesis_stakes(const Genesis& genesis) {
  auto out = std::make_shared<StakeTable>();
  for (const auto& a : genesis.allocations)
    if (a.stake > 0) (*out)[a.address] = Staker{a.stake, false};
  return out;
}

// What a data dir's consensus snapshot begins with (docs/storage.md).
constexpr std::string_view kSnapshotTag = "pos/snapshot/v1";

// Content, not identity: sets read back from storage are new objects.
bool same_weights(const ProofOfStake& a, const ProofOfStake& b) {
  return std::equal(
      a.lots().begin(), a.lots().end(), b.lots().begin(), b.lots().end(),
      [](const Lot& x, const Lot& y) { return x.staker == y.staker && x.stake == y.stake; });
}

// A block that was stored had its proof verified, so it decodes; anything else is damage.
VrfOutput stored_vrf_output(const Block& block) {
  auto output = block.vrf_output();
  if (!output.ok())
    throw StorageError("stored block " + block.hash().hex() + " has an undecodable VRF proof");
  return *output;
}
}  // namespace

Blockchain::Blockchain(const Genesis& genesis, Storage& storage, const Clock& clock)
    : genesis_(genesis), storage_(storage), clock_(clock), state_(genesis.params.hash()) {}

Blockchain::~Blockchain() = default;

Result<std::unique_ptr<Blockchain>> Blockchain::open(const Genesis& genesis, Storage& storage,
                                                     const Clock& clock) {
  try {
    return open_unchecked(genesis, storage, clock);
  } catch (const StorageError& e) {
    return make_error(Reason::kStorage, e.what());
  }
}

Result<std::unique_ptr<Blockchain>> Blockchain::open_unchecked(const Genesis& genesis,
                                                               Storage& storage,
                                                               const Clock& clock) {
  std::unique_ptr<Blockchain> chain(new Blockchain(genesis, storage, clock));
  BlockPtr genesis_block = genesis.block();
  chain->genesis_hash_ = genesis_block->hash();
  chain->genesis_stakes_ =
      StakeSnapshot{Checkpoint{chain->genesis_hash_, 0, 0}, genesis_stakes(genesis)};
  // Unbonding looks back F(e - unbonding_epochs), which needs that many epochs of F and two more.
  chain->last_pruned_ =
      ValidatorSchedule::genesis(chain->genesis_stakes_, genesis.params.unbonding_epochs + 3);
  chain->past_sets_[0] = chain->last_pruned_.set_ptr(0);
  // The snapshot before the tip: beside a writer (a read-only view), a snapshot read after the
  // tip could be newer than the finalized block read with it.
  auto snapshot = storage.consensus_snapshot();
  auto meta = storage.meta();
  if (!meta) {
    chain->state_ = genesis.initial_state();
    StorageBatch batch;
    batch.blocks.push_back(genesis_block);
    EpochState epochs = EpochState::genesis(chain->genesis_hash_);
    batch.epoch_put.emplace_back(chain->genesis_hash_,
                                 EpochNonces{0, epochs.nonce(), epochs.next_nonce()});
    batch.main_put.emplace_back(0, genesis_block->hash());
    chain->state_.for_each(
        [&](const Address& address, const Account& account) { batch.accounts[address] = account; });
    batch.meta = ChainMeta{genesis.params.chain_id, genesis_block->hash(), genesis_block->hash(), 0,
                           Checkpoint{genesis_block->hash(), 0, 0}};
    if (auto ok = storage.commit(batch); !ok.ok()) return ok.error();
    meta = batch.meta;
  } else if (meta->genesis_hash != chain->genesis_hash_) {
    return make_error(Reason::kBadGenesis, "the stored chain belongs to genesis " +
                                               meta->genesis_hash.hex() + " (chain \"" +
                                               meta->chain_id + "\"), the given genesis is " +
                                               chain->genesis_hash_.hex() + " (chain \"" +
                                               genesis.params.chain_id + "\")");
  } else {
    storage.for_each_account([&](const Address& address, const Account& account) {
      chain->state_.put(address, account);
    });
    for (auto& evidence : storage.pending_evidence()) {
      chain->equivocators_.insert(evidence->offender());
      chain->pending_evidence_.emplace(evidence->id(), std::move(evidence));
    }
  }
  // The votes' finality is replayed along the stored main chain, from the stored consensus
  // snapshot or else from genesis. Only the blocks from the finalized one up can still be
  // reorganised, so only they are indexed in memory; older ones are read from storage on
  // demand, and memory does not grow with the chain.
  auto main_block = [&](std::uint64_t h) {
    auto hash = storage.main_chain_hash(h);
    BlockPtr block = hash ? storage.block(*hash) : nullptr;
    if (!block)
      throw StorageError(fmt::format("the stored main chain has no block at height {}", h));
    return block;
  };
  // The finalized block is the stored one: after a reorganisation the tip's chain may finalize
  // less by its own votes (a chain needs the finalized block, not the votes that finalized it).
  Checkpoint stored_finalized = meta->finalized.value_or(Checkpoint{chain->genesis_hash_, 0, 0});
  // The blocks from the finalized height so far up, with the chain's state after each (but its
  // nonces, which the stored ones give).
  std::deque<Replayed> unfinalized;
  if (snapshot)
    unfinalized.push_back(chain->load_snapshot(*snapshot, stored_finalized));
  else
    unfinalized.push_back(
        Replayed{main_block(0), ChainState{EpochState{},
                                           FinalityState::genesis(chain->genesis_hash_),
                                           chain->genesis_stakes_.stakes,
                                           chain->last_pruned_,
                                           IncludedVotes{},
                                           {}}});
  // (hash, slot) of each height replayed so far, from the first one's: votes point below their
  // block. Below the first, the stored main chain answers.
  const std::uint64_t first_height = unfinalized.front().block->height();
  std::vector<std::pair<Hash, std::uint64_t>> replayed_blocks = {
      {unfinalized.front().block->hash(), unfinalized.front().block->slot()}};
  ChainLookup on_main = [&](const Hash& hash, std::uint64_t h) -> std::optional<Checkpoint> {
    if (h < first_height) {
      auto at = storage.main_chain_hash(h);
      if (!at || *at != hash) return std::nullopt;
      return Checkpoint{hash, h, main_block(h)->slot()};
    }
    if (h - first_height >= replayed_blocks.size() ||
        replayed_blocks[h - first_height].first != hash)
      return std::nullopt;
    return Checkpoint{hash, h, replayed_blocks[h - first_height].second};
  };
  auto replayed = [&](const BlockPtr& block, const ChainState& before) {
    ValidatorSchedule validators =
        before.validators.at_epoch(genesis.params.epoch_of(block->slot()));
    std::vector<CountedVote> counted;
    auto finality = chain->check_votes(*block, before.finality, validators, on_main, &counted);
    if (!finality.ok())
      throw StorageError("stored block " + block->hash().hex() + ": " + finality.error().message);
    replayed_blocks.emplace_back(block->hash(), block->slot());
    ChainState after =
        chain->chain_state_after(*block, before, EpochState{}, *finality, counted, validators);
    chain->past_stakes_[block->height()] = {block->hash(), after.stakes};
    return after;
  };
  for (std::uint64_t h = first_height + 1; h <= meta->height; ++h) {
    BlockPtr block = main_block(h);
    unfinalized.push_back(Replayed{block, replayed(block, unfinalized.back().state)});
    std::uint64_t finalized =
        std::max(stored_finalized.height, unfinalized.back().state.finality.finalized().height);
    // The stored finalized height may be above h: the last block stays, to replay from.
    while (unfinalized.size() > 1 && unfinalized.front().block->height() < finalized) {
      if (unfinalized.front().block->height() > 0)
        chain->record_past_sets(unfinalized.front().state.validators);
      unfinalized.pop_front();
    }
    // What the lowest block that may stay indexed had finalized: no chain through it finalizes
    // less.
    auto keep = chain->past_stakes_.lower_bound(
        unfinalized.front().state.validators.finalized().block.height);
    chain->past_stakes_.erase(chain->past_stakes_.begin(), keep);
  }
  const Entry* parent = nullptr;
  for (auto& [block, state] : unfinalized) {
    state.epochs = parent ? parent->epochs.child(genesis.params.epoch_of(block->slot()),
                                                 stored_vrf_output(*block))
                          : chain->resume_epochs(block);
    chain->index_block(*block, state, true, false, nullptr);
    parent = &chain->index_.at(block->hash());
    // A restart must not forget who signed the slots that can still be contested.
    chain->signed_slots_.try_emplace(std::make_pair(block->slot(), block->forger()),
                                     SignedSlot{block->header(), block->signature(), std::nullopt});
  }
  if (unfinalized.front().block->hash() != stored_finalized.hash &&
      unfinalized.front().block->height() == stored_finalized.height)
    throw StorageError("the stored finalized block " + stored_finalized.hash.hex() +
                       " is not on the stored main chain");
  chain->finalized_ = stored_finalized;
  chain->finalized_ = chain->finalized_after(unfinalized.back().state.finality);
  chain->pruned_below_ = chain->finalized_.height;
  if (!chain->index_.contains(meta->tip))
    return make_error(Reason::kStorage, "the stored tip is not the main chain's last block");
  chain->tip_ = meta->tip;
  // Nor the latest votes its chain carries, which fork choice weighs.
  for (const auto& item : unfinalized)
    for (const auto& vote : item.block->votes()) chain->note_vote(*vote);
  chain->latest_votes_moved_ = false;  // the stored tip was chosen with them
  chain->trim_past_stakes();
  if (chain->state_.state_root() != chain->tip().state_root)
    return make_error(Reason::kStorage, "the stored accounts do not match the tip's state root");
  // A data dir without a snapshot (new, or from schema 6) replays from genesis only once.
  chain->save_snapshot(chain->index_.at(unfinalized.front().block->hash()));
  return chain;
}

Bytes Blockchain::encode_snapshot(const Entry& at) const {
  detail::SnapshotWriter w(genesis_stakes_.stakes, past_sets_.at(0));
  w.body().raw(genesis_hash_.view());
  w.checkpoint(Checkpoint{at.hash, at.header.height, at.header.slot});
  detail::SnapshotCodec::write(w, at.finality);
  w.stakes(at.stakes);
  detail::SnapshotCodec::write(w, at.validators);
  detail::SnapshotCodec::write(w, at.votes);
  w.body().u32(static_cast<std::uint32_t>(at.jails.size()));
  for (const PublicKey& key : at.jails) w.body().raw(key.view());
  detail::SnapshotCodec::write(w, last_pruned_);
  auto first = past_stakes_.lower_bound(at.validators.finalized().block.height);
  auto last = past_stakes_.lower_bound(at.header.height);
  w.body().u32(static_cast<std::uint32_t>(std::distance(first, last)));
  for (auto it = first; it != last; ++it) {
    w.body().u64(it->first).raw(it->second.first.view());
    w.stakes(it->second.second);
  }
  return std::move(w).finish(kSnapshotTag);
}

Blockchain::Replayed Blockchain::load_snapshot(ByteView bytes, const Checkpoint& stored_finalized) {
  const std::size_t history = params().unbonding_epochs + 3;
  detail::SnapshotReader r(bytes, kSnapshotTag, genesis_stakes_.stakes, past_sets_.at(0));
  if (r.hash() != genesis_hash_) r.damaged("it belongs to another genesis");
  const Checkpoint at = r.checkpoint();
  // A snapshot is taken at a finalized main-chain block, so the stored chain must agree; the
  // heights read after this are then bounded by a real chain's.
  auto stored = storage_.main_chain_hash(at.height);
  BlockPtr block = stored && *stored == at.hash ? storage_.block(at.hash) : nullptr;
  if (!block || block->slot() != at.slot || at.height == 0 || at.height > stored_finalized.height)
    r.damaged(
        fmt::format("its block {} at height {} is not a finalized block of the stored "
                    "main chain",
                    at.hash, at.height));
  ChainState state;
  state.finality = detail::SnapshotCodec::read_finality(r, at);
  state.stakes = r.stakes();
  state.validators = detail::SnapshotCodec::read_schedule(r, history);
  if (state.validators.epoch() != params().epoch_of(at.slot))
    r.damaged("its block's validator schedule is for another epoch");
  state.votes = detail::SnapshotCodec::read_included_votes(r);
  for (std::uint32_t n = r.count(32); n > 0; --n) state.jails.push_back(r.key());
  last_pruned_ = detail::SnapshotCodec::read_schedule(r, history);
  for (std::uint32_t n = r.count(44); n > 0; --n) {
    std::uint64_t height = r.u64();
    Hash hash = r.hash();
    past_stakes_[height] = {hash, r.stakes()};
  }
  r.finish();
  if (last_pruned_.epoch() > state.validators.epoch())
    r.damaged("the schedule below its block is for a later epoch than its block's");
  past_stakes_[at.height] = {at.hash, state.stakes};
  for (auto& [epoch, set] : storage_.past_validator_sets()) {
    if (epoch == 0) r.damaged("a stored validator set for epoch 0, which is genesis's");
    // Beside a writer, sets stored with a later snapshot may be there too.
    if (epoch > last_pruned_.epoch()) break;
    past_sets_[epoch] = std::move(set);
    saved_sets_epoch_ = epoch;
  }
  snapshot_epoch_ = params().epoch_of(at.slot);
  return Replayed{std::move(block), std::move(state)};
}

void Blockchain::save_snapshot(const Entry& at) {
  const std::uint64_t epoch = params().epoch_of(at.header.slot);
  if (at.header.height == 0 || (snapshot_epoch_ && epoch <= *snapshot_epoch_)) return;
  StorageBatch batch;
  batch.snapshot = encode_snapshot(at);
  for (auto it = past_sets_.upper_bound(saved_sets_epoch_); it != past_sets_.end(); ++it)
    batch.sets_put.emplace_back(*it);
  // The snapshot only saves replaying: when it cannot be written (a read-only store, a full
  // disk, which the next block's commit reports), the next epoch's try writes the sets too.
  snapshot_epoch_ = epoch;
  if (storage_.commit(batch).ok()) saved_sets_epoch_ = past_sets_.rbegin()->first;
}

const BlockHeader& Blockchain::tip() const {
  return index_.at(tip_).header;
}

BlockPtr Blockchain::block_at(std::uint64_t height) const {
  auto hash = storage_.main_chain_hash(height);
  return hash ? storage_.block(*hash) : nullptr;
}

bool Blockchain::on_main_chain(const Hash& hash) const {
  // Recent blocks are indexed with their header; only older ones are read from storage.
  if (auto it = index_.find(hash); it != index_.end()) return it->second.on_main;
  BlockPtr block = storage_.block(hash);
  if (!block) return false;
  auto at = storage_.main_chain_hash(block->height());
  return at && *at == hash;
}

std::vector<Hash> Blockchain::locator() const {
  std::vector<Hash> out;
  std::uint64_t step = 1;
  for (std::uint64_t h = height();; h -= step) {
    auto hash = storage_.main_chain_hash(h);
    if (hash) out.push_back(*hash);
    if (out.size() >= 10) step *= 2;
    if (h == 0) break;
    if (h < step) step = h;  // the last entry is genesis
  }
  return out;
}

EpochState Blockchain::resume_epochs(const BlockPtr& block) const {
  if (block->height() == 0) return EpochState::genesis(genesis_hash_);
  auto nonces = storage_.epoch_nonces(block->hash());
  if (!nonces) throw StorageError("no epoch record for block " + block->hash().hex());
  // The outputs of the block's epoch up to it: at most epoch_slots blocks back.
  std::vector<VrfOutput> outputs;
  for (BlockPtr b = block; b->height() > 0 && params().epoch_of(b->slot()) == nonces->epoch;) {
    outputs.push_back(stored_vrf_output(*b));
    BlockPtr parent = storage_.block(b->parent());
    if (!parent)
      throw StorageError("the stored chain lacks the parent of block " + b->hash().hex());
    b = std::move(parent);
  }
  std::reverse(outputs.begin(), outputs.end());
  return EpochState::resume(nonces->epoch, nonces->nonce, nonces->next, outputs);
}

void Blockchain::index_block(const Block& block, const ChainState& state, bool on_main, bool failed,
                             StorageBatch* batch) {
  const EpochState& epochs = state.epochs;
  Entry entry;
  static_cast<ChainState&>(entry) = state;
  entry.hash = block.hash();
  entry.header = block.header();
  entry.signature = block.signature();
  entry.on_main = on_main;
  entry.failed = failed;
  entry.skip = block.parent();
  entry.skip_height = block.height() > 0 ? block.height() - 1 : 0;
  if (auto parent = index_.find(block.parent()); parent != index_.end()) {
    std::uint64_t target = skip_height_of(block.height());
    if (auto at = hash_at(parent->second, target)) {
      entry.skip = *at;
      entry.skip_height = target;
    }
  }
  index_[block.hash()] = std::move(entry);
  if (batch)
    batch->epoch_put.emplace_back(block.hash(),
                                  EpochNonces{epochs.epoch(), epochs.nonce(), epochs.next_nonce()});
}

Hash Blockchain::epoch_nonce(std::uint64_t slot) const {
  return index_.at(tip_).epochs.nonce_of(params().epoch_of(std::max(slot, tip().slot)));
}

// nonce(epoch) is fixed by the chain's blocks before the epoch: the epoch state after the last
// of them gives it, across any epochs without a block. For an epoch at or after the tip's the
// tip's state gives it; for an earlier one, epochs grow with height, so the main chain is
// bisected for that block. Epoch 0 has no block before it: its nonce is genesis's.
Blockchain::EpochDraw Blockchain::epoch_draw(std::uint64_t epoch) const {
  auto main_block = [&](std::uint64_t h) {
    BlockPtr block = block_at(h);
    if (!block)
      throw StorageError(fmt::format("the stored main chain has no block at height {}", h));
    return block;
  };
  const Entry& tip = index_.at(tip_);
  // A copy: nonce_of's memo in the tip's state stays at the epochs the leader draws ask for.
  EpochState before = tip.epochs;
  if (epoch == 0) {
    before = EpochState::genesis(genesis_hash_);
  } else if (epoch < tip.epochs.epoch()) {
    std::uint64_t lo = 0, hi = tip.header.height;  // epoch_of(lo) < epoch <= epoch_of(hi)
    while (hi - lo > 1) {
      std::uint64_t mid = lo + (hi - lo) / 2;
      (params().epoch_of(main_block(mid)->slot()) < epoch ? lo : hi) = mid;
    }
    BlockPtr last = main_block(lo);
    auto indexed = index_.find(last->hash());
    before = indexed != index_.end() ? indexed->second.epochs : resume_epochs(last);
    // validators(epoch) is what the schedule after that block gives for the epoch.
    ValidatorSetPtr set;
    if (indexed != index_.end())
      set = indexed->second.validators.at_epoch(epoch).set_ptr(epoch);
    else if (epoch > last_pruned_.epoch())
      set = last_pruned_.at_epoch(epoch).set_ptr(epoch);
    else
      set = std::prev(past_sets_.upper_bound(epoch))->second;
    return {before.nonce_of(epoch), set};
  }
  return {before.nonce_of(epoch),
          epoch == 0 ? past_sets_.at(0)
                     : tip_schedule(std::max(epoch, tip.validators.epoch())).set_ptr(epoch)};
}

const ValidatorSchedule& Blockchain::tip_schedule(std::uint64_t epoch) const {
  if (!tip_schedule_ || std::get<0>(*tip_schedule_) != tip_ || std::get<1>(*tip_schedule_) != epoch)
    tip_schedule_.emplace(tip_, epoch, index_.at(tip_).validators.at_epoch(epoch));
  return std::get<2>(*tip_schedule_);
}

void Blockchain::record_past_sets(const ValidatorSchedule& schedule) {
  // The previous block is the chain's last before each epoch up to this block's: its schedule
  // gives their sets. Once settled, none of the later ones differs, which matters after a gap of
  // many epochs (a chain whose genesis time lies far in the past has one before its first block).
  ValidatorSchedule before = last_pruned_;
  for (std::uint64_t e = before.epoch() + 1; e <= schedule.epoch(); ++e) {
    before = before.at_epoch(e);
    if (!same_weights(*past_sets_.rbegin()->second, before.set(e)))
      past_sets_[e] = before.set_ptr(e);
    if (before.settled()) break;
  }
  last_pruned_ = schedule;
}

bool Blockchain::is_validator(const PublicKey& key) const {
  return index_.at(tip_).validators.in_any_set(key) || state_.stakers().contains(key);
}

bool Blockchain::is_voter(const PublicKey& key) const {
  const ValidatorSchedule& validators = index_.at(tip_).validators;
  std::uint64_t epoch = validators.epoch();
  return validators.set(epoch).contains(key) ||
         validators.set(epoch > 0 ? epoch - 1 : 0).contains(key);
}

std::optional<PublicKey> Blockchain::leader(std::uint64_t slot) const {
  if (slot <= tip().slot) return std::nullopt;
  std::uint64_t epoch = params().epoch_of(slot);
  return tip_schedule(epoch).set(epoch).leader(epoch_nonce(slot), slot);
}

// Fork choice (docs/consensus.md): the chain whose highest justified block is highest, then the
// greater height, then the lower tip slot (the chain that wasted fewer slots, which a forger
// cannot improve by delaying), then the lower hash. Every candidate contains the finalized
// block: check_fork_point refused the others.
Blockchain::Rank Blockchain::rank(const Entry& e) const {
  return Rank{
      {e.finality.justified().height, latest_vote_weight(e), e.header.height, ~e.header.slot},
      e.hash};
}

bool Blockchain::better(const Entry& a, const Entry& b) const {
  return rank(a) > rank(b);
}

bool Blockchain::better_than_tip(const Entry& candidate) const {
  return better(candidate, index_.at(tip_));
}

std::uint64_t Blockchain::latest_vote_weight(const Entry& entry) const {
  std::uint64_t justified = entry.finality.justified().height;
  // Most latest votes name the same few blocks: each (target, height) is looked up once. The
  // set is null for a target not on the entry's chain.
  struct Target {
    const Hash* hash;
    std::uint64_t height;
    const ProofOfStake* set;
  };
  std::vector<Target> targets;
  std::uint64_t weight = 0;
  for (const auto& latest : latest_votes_) {
    // Named, not bound: clang 14 cannot capture a structured binding in the lambda below.
    const PublicKey& validator = latest.first;
    const LatestVote& vote = latest.second;
    if (vote.height <= justified || vote.height > entry.header.height) continue;
    if (is_equivocator(validator)) continue;  // slashed on the tip's chain since it was noted
    auto target = std::find_if(targets.begin(), targets.end(), [&](const Target& t) {
      return t.height == vote.height && *t.hash == vote.target;
    });
    if (target == targets.end()) {
      const ProofOfStake* set = nullptr;
      auto at = hash_at(entry, vote.height);
      // Weighted in validators(epoch(T)) of the chain, which the target's own schedule holds.
      if (at && *at == vote.target)
        if (auto block = index_.find(vote.target); block != index_.end())
          set = &block->second.validators.set(block->second.validators.epoch());
      target = targets.insert(targets.end(), Target{&vote.target, vote.height, set});
    }
    if (target->set != nullptr) weight += target->set->weight(validator);
  }
  return weight;
}

bool Blockchain::is_equivocator(const PublicKey& key) const {
  return equivocators_.contains(key) || (state_.any_slashed() && state_.get(key).slashed);
}

// A block's votes were mostly noted when gossiped: the look-up of the latest vote comes first,
// and the membership checks only for a vote that would move it.
bool Blockchain::note_vote(const Vote& vote) {
  auto it = latest_votes_.find(vote.validator());
  if (it != latest_votes_.end() && vote.target_height() <= it->second.height) return false;
  if (!is_validator(vote.validator()) || is_equivocator(vote.validator())) return false;
  const LatestVote latest{vote.target_hash(), vote.target_height()};
  if (it == latest_votes_.end())
    latest_votes_.emplace(vote.validator(), latest);
  else
    it->second = latest;
  latest_votes_moved_ = true;
  return true;
}

Result<ApplyResult> Blockchain::follow_votes() {
  latest_votes_moved_ = false;
  try {
    // The leaves: a failed child does not hide its parent's branch.
    std::unordered_set<Hash> parents;
    for (const auto& [hash, entry] : index_)
      if (!entry.failed) parents.insert(entry.header.parent);
    std::vector<const Entry*> others;
    for (const auto& [hash, entry] : index_)
      if (!entry.failed && !parents.contains(hash) && hash != tip_) others.push_back(&entry);
    // Each branch ranked once, the best's rank kept rather than recounted; on a chain without
    // another branch (most ticks) nothing is weighed.
    const Entry* best = &index_.at(tip_);
    Rank best_rank = others.empty() ? Rank{} : rank(*best);
    for (const Entry* entry : others) {
      Rank r = rank(*entry);
      if (r > best_rank) {
        best = entry;
        best_rank = std::move(r);
      }
    }
    if (best->hash == tip_)
      return make_error(Reason::kAlreadyKnown, "the tip's branch is still the best");
    auto result = reorganize(best->hash);
    if (result.ok())
      after_change(*result);
    else
      latest_votes_moved_ = true;  // the failed blocks are marked: the next choice differs
    return result;
  } catch (const StorageError& e) {
    return make_error(Reason::kStorage, e.what());
  }
}

Checkpoint Blockchain::finalized_after(const FinalityState& tip) const {
  return tip.finalized().height > finalized_.height ? tip.finalized() : finalized_;
}

void Blockchain::follow_finality() {
  finalized_ = finalized_after(vote_finality());
}

Result<EpochState> Blockchain::check_header(const Block& block, const Entry& parent,
                                            const ValidatorSchedule& validators) const {
  const BlockHeader& header = block.header();
  if (header.height != parent.header.height + 1)
    return make_error(Reason::kBadHeight, fmt::format("height {} does not follow the parent's {}",
                                                      header.height, parent.header.height));
  if (header.slot <= parent.header.slot)
    return make_error(
        Reason::kSlotNotAfterParent,
        fmt::format("slot {} is not after the parent's {}", header.slot, parent.header.slot));
  std::uint64_t start = params().slot_start_ms(header.slot);
  if (header.timestamp_ms < start || header.timestamp_ms >= start + params().slot_ms)
    return make_error(Reason::kBadTimestamp, fmt::format("timestamp {} is outside slot {}",
                                                         header.timestamp_ms, header.slot));
  // Membership and the signature need no nonce: checked first, so that an unsigned header cannot
  // make the node hash its way across a long run of empty epochs. They also go before the clock:
  // a block ahead of it is held back and counts toward /health's clock_behind, which only a
  // validator's signed header may do.
  std::uint64_t epoch = params().epoch_of(header.slot);
  const ProofOfStake& set = validators.set(epoch);
  if (!set.contains(header.forger))
    return make_error(Reason::kWrongForger,
                      fmt::format("forger {} is not a validator of this chain in epoch {}",
                                  header.forger, epoch));
  if (auto ok = block.check_signature(); !ok.ok()) return ok.error();
  std::uint64_t now_slot = params().slot_at(clock_.now_ms());
  if (header.slot > now_slot + 1)
    return make_error(
        Reason::kSlotInFuture,
        fmt::format("slot {} is ahead of the local clock's slot {}", header.slot, now_slot));
  Hash nonce = parent.epochs.nonce_of(epoch);
  auto leader = set.leader(nonce, header.slot);
  if (!leader || *leader != header.forger)
    return make_error(Reason::kWrongForger,
                      fmt::format("forger {} is not the leader of slot {}{}", header.forger,
                                  header.slot, leader ? fmt::format(" ({} is)", *leader) : ""));
  auto output = block.verify_vrf(vrf_input(header.chain_id, nonce, header.slot));
  if (!output.ok())
    return make_error(Reason::kBadVrfProof,
                      fmt::format("slot {}: {}", header.slot, output.error().message));
  return parent.epochs.child(epoch, *output);
}

std::optional<Hash> Blockchain::hash_at(const Entry& from, std::uint64_t height) const {
  const Entry* e = &from;
  while (e->header.height > height && !e->on_main) {
    auto up = index_.end();
    if (e->skip_height >= height) up = index_.find(e->skip);
    if (up == index_.end()) up = index_.find(e->header.parent);
    if (up == index_.end()) return std::nullopt;
    e = &up->second;
  }
  if (e->header.height == height) return e->hash;
  if (e->header.height < height) return std::nullopt;
  return storage_.main_chain_hash(height);  // below a main-chain entry: the stored main chain
}

Blockchain::ChainLookup Blockchain::chain_through(const Entry& entry) const {
  return [this, &entry](const Hash& hash, std::uint64_t height) -> std::optional<Checkpoint> {
    auto at = hash_at(entry, height);
    if (!at || *at != hash) return std::nullopt;
    if (auto it = index_.find(hash); it != index_.end())
      return Checkpoint{hash, height, it->second.header.slot};
    BlockPtr block = storage_.block(hash);
    if (!block) throw StorageError("the stored main chain lacks block " + hash.hex());
    return Checkpoint{hash, height, block->slot()};
  };
}

// In docs/consensus.md's order (the count limit is apply's, before any vote signature): each
// vote's target and source are this chain's blocks at their heights, below the block; the
// target's votes have not expired; the validator is in the target's validator sets; and it has no
// other vote for that target height earlier in the block or the chain. The validator sets are the
// genesis stakes until they follow finalized state.
Result<CountedVote> Blockchain::count_vote(const Vote& vote, std::uint64_t block_height,
                                           std::uint64_t block_epoch, const FinalityState& parent,
                                           const ValidatorSchedule& validators,
                                           const ChainLookup& on_chain,
                                           VotesInBlock& in_block) const {
  auto refuse = [&](const std::string& why) {
    return make_error(Reason::kBadVote,
                      "vote " + vote.id().hex() + " by " + vote.validator().hex() + ": " + why);
  };
  const std::uint64_t ht = vote.target_height(), hs = vote.source_height();
  if (ht >= block_height) return refuse("its target is not below the block");
  auto target = on_chain(vote.target_hash(), ht);
  if (!target) return refuse(fmt::format("its target is not this chain's block at height {}", ht));
  auto source = on_chain(vote.source_hash(), hs);
  if (!source) return refuse(fmt::format("its source is not this chain's block at height {}", hs));
  if (block_epoch > params().epoch_of(target->slot) + 1)
    return refuse(fmt::format("it expired: its target is in epoch {}, the block in epoch {}",
                              params().epoch_of(target->slot), block_epoch));
  // Not expired, so the target's epoch and the one before are among the block's three sets.
  const std::uint64_t target_epoch = params().epoch_of(target->slot);
  const ProofOfStake& current = validators.set(target_epoch);
  const ProofOfStake& previous = validators.set(target_epoch > 0 ? target_epoch - 1 : 0);
  std::uint64_t weight = current.weight(vote.validator());
  std::uint64_t previous_weight = previous.weight(vote.validator());
  if (weight == 0 && previous_weight == 0)
    return refuse("the validator is not in the target's validator sets");
  if (parent.has_vote(vote.validator(), ht) || !in_block.emplace(ht, vote.validator()).second)
    return refuse(fmt::format("the validator already has a vote for target height {}", ht));
  return CountedVote{
      vote.validator(),      *source, *target, weight, previous_weight, current.total_stake(),
      previous.total_stake()};
}

Result<FinalityState> Blockchain::check_votes(const Block& block, const FinalityState& parent,
                                              const ValidatorSchedule& validators,
                                              const ChainLookup& on_chain,
                                              std::vector<CountedVote>* counted_out) const {
  const std::uint64_t epoch = params().epoch_of(block.slot());
  VotesInBlock in_block;
  std::vector<CountedVote> local;
  std::vector<CountedVote>& counted = counted_out ? *counted_out : local;
  counted.clear();
  counted.reserve(block.votes().size());
  for (const auto& vote : block.votes()) {
    auto vote_counted =
        count_vote(*vote, block.height(), epoch, parent, validators, on_chain, in_block);
    if (!vote_counted.ok()) return vote_counted.error();
    counted.push_back(*vote_counted);
  }
  return parent.child(Checkpoint{block.hash(), block.height(), block.slot()}, counted,
                      params().epoch_slots);
}

Blockchain::ChainState Blockchain::chain_state_after(const Block& block, const ChainState& parent,
                                                     const EpochState& epochs,
                                                     const FinalityState& finality,
                                                     std::span<const CountedVote> counted,
                                                     const ValidatorSchedule& validators) const {
  const std::uint64_t epoch = params().epoch_of(block.slot());
  std::vector<PublicKey> jails = parent.validators.downtime(parent.votes, epoch);
  StakeTablePtr stakes = stakes_after(parent.stakes, block, jails);
  return ChainState{epochs,
                    finality,
                    stakes,
                    validators.after_block(finalized_snapshot(finality.finalized(), validators)),
                    parent.votes.after_block(epoch, counted, params()),
                    std::move(jails)};
}

StakeSnapshot Blockchain::finalized_snapshot(const Checkpoint& finalized,
                                             const ValidatorSchedule& before) const {
  const StakeSnapshot& known = before.finalized();
  if (finalized.height <= known.block.height) return known;
  if (auto it = index_.find(finalized.hash); it != index_.end())
    return StakeSnapshot{finalized, it->second.stakes};
  // Below the node's finalized block, out of the index: a main-chain block, whose stakes are kept.
  auto past = past_stakes_.find(finalized.height);
  if (past == past_stakes_.end() || past->second.first != finalized.hash)
    throw StorageError(fmt::format("no stakes kept for finalized block {} at height {}",
                                   finalized.hash, finalized.height));
  return StakeSnapshot{finalized, past->second.second};
}

void Blockchain::trim_past_stakes() {
  std::uint64_t lowest = finalized_height();
  for (const auto& [hash, entry] : index_)
    lowest = std::min(lowest, entry.validators.finalized().block.height);
  past_stakes_.erase(past_stakes_.begin(), past_stakes_.lower_bound(lowest));
}

std::vector<VotePtr> Blockchain::select_votes(const std::vector<VotePtr>& candidates,
                                              std::uint64_t slot) const {
  try {
    return select_votes_unchecked(candidates, slot);
  } catch (const StorageError&) {
    return {};  // the storage cannot answer: a block without votes is still a valid block
  }
}

std::vector<VotePtr> Blockchain::select_votes_unchecked(const std::vector<VotePtr>& candidates,
                                                        std::uint64_t slot) const {
  std::vector<VotePtr> sorted = candidates;
  std::sort(sorted.begin(), sorted.end(), [](const VotePtr& a, const VotePtr& b) {
    if (a->target_height() != b->target_height()) return a->target_height() > b->target_height();
    return a->id() < b->id();
  });
  const Entry& tip = index_.at(tip_);
  const ChainLookup on_chain = chain_through(tip);
  const std::uint64_t epoch = params().epoch_of(slot);
  const ValidatorSchedule& validators = tip_schedule(std::max(epoch, tip.validators.epoch()));
  const std::size_t limit = max_block_votes(validators);
  VotesInBlock taken;
  std::vector<VotePtr> chosen;
  for (const auto& vote : sorted) {
    if (chosen.size() >= limit) break;
    // check_body's refusal, before the vote could take its validator's place at its height.
    if (vote->source_height() >= vote->target_height()) continue;
    if (!count_vote(*vote, tip.header.height + 1, epoch, tip.finality, validators, on_chain, taken)
             .ok() ||
        !vote->check().ok())
      continue;
    chosen.push_back(vote);
  }
  return chosen;
}

Status Blockchain::check_vote_blocks(const Vote& vote) const {
  try {
    return check_vote_blocks_unchecked(vote);
  } catch (const StorageError& e) {
    return make_error(Reason::kStorage, e.what());
  }
}

Status Blockchain::check_vote_blocks_unchecked(const Vote& vote) const {
  auto refuse = [&](const std::string& why) {
    return make_error(Reason::kBadVote,
                      "vote " + vote.id().hex() + " by " + vote.validator().hex() + ": " + why);
  };
  auto it = index_.find(vote.target_hash());
  if (it == index_.end()) {
    // Unknown here, or finalized long ago: only the tip's sets to hold it against.
    if (!is_validator(vote.validator()))
      return refuse("the validator is neither in this chain's validator sets nor staking");
    return {};
  }
  const Entry& target = it->second;
  // The target's own chain decides: a member there may be none on the tip's branch.
  if (!target.validators.in_any_set(vote.validator()))
    return refuse("the validator is not in the validator sets of its target's chain");
  const std::uint64_t ht = vote.target_height(), hs = vote.source_height();
  if (target.header.height != ht)
    return refuse(fmt::format("its target is at height {}, not {}", target.header.height, ht));
  if (hs >= ht) return {};  // Vote::check's refusal
  auto source = hash_at(target, hs);
  if (source && *source != vote.source_hash())
    return refuse(
        fmt::format("its source is not the block at height {} of its target's chain", hs));
  return {};
}

Status Blockchain::require_block(const TrustedBlock& block) {
  if (block.height <= height()) {
    auto stored = storage_.main_chain_hash(block.height);
    if (!stored || *stored != block.hash)
      return make_error(
          Reason::kConflictsFinalized,
          fmt::format("the stored chain has block {} at height {}, not the checkpoint's {}: it "
                      "followed another chain. Move the data dir aside (or delete it) and start "
                      "again with the checkpoint to sync the checkpoint's chain",
                      stored ? stored->hex() : std::string("(none)"), block.height, block.hash));
  }
  required_ = block;
  return {};
}

Status Blockchain::check_required(const Block& block, const Entry& parent) const {
  if (!required_ || block.height() < required_->height) return {};
  // Below the index the main chain is final, and it held the block when it was required.
  std::optional<Hash> at =
      block.height() == required_->height ? block.hash() : hash_at(parent, required_->height);
  if (!at || *at == required_->hash) return {};
  return make_error(Reason::kConflictsFinalized,
                    fmt::format("the block's chain has {} at height {}, not the checkpoint {}", *at,
                                required_->height, required_->hash));
}

Error Blockchain::conflicts_finalized(const std::string& why) const {
  return make_error(Reason::kConflictsFinalized,
                    fmt::format("the block's chain lacks the finalized block {} at height {}: {}",
                                finalized_.hash, finalized_.height, why));
}

Status Blockchain::check_fork_point(const Hash& parent) const {
  const Entry* e = &index_.at(parent);
  while (!e->on_main) {
    // A branch's blocks below one off the main chain down to the fork point are off it too, so
    // a skip to a block off the main chain never passes the fork point.
    auto up = index_.find(e->skip);
    if (up == index_.end() || up->second.on_main) up = index_.find(e->header.parent);
    if (up == index_.end())  // pruned: the branch forks below the finalized block
      return conflicts_finalized("the block's branch forks below it");
    e = &up->second;
  }
  if (e->header.height < finalized_height())
    return conflicts_finalized(
        fmt::format("the block's branch forks from height {}", e->header.height));
  return {};
}

void Blockchain::record_signed_slot(const Block& block) {
  auto [it, inserted] =
      signed_slots_.try_emplace(std::make_pair(block.slot(), block.forger()),
                                SignedSlot{block.header(), block.signature(), std::nullopt});
  // Bounded memory: the oldest slots go first; a double block that old is found by others or
  // its offender's stake is long gone.
  while (signed_slots_.size() > kSignedSlotsKept) signed_slots_.erase(signed_slots_.begin());
  SignedSlot& seen = it->second;
  if (inserted || seen.first.hash() == block.hash()) return;
  if (!seen.second) seen.second = block.hash();
  // The first header is kept whole: its block may never be stored (a body that failed).
  auto evidence =
      Evidence::double_block(seen.first, seen.first_signature, block.header(), block.signature());
  if (!evidence.ok()) return;
  auto kept = add_evidence(*evidence);
  if (kept.ok() && *kept) found_evidence_.push_back(*evidence);
}

bool Blockchain::is_extra_header(const Block& block) const {
  auto it = signed_slots_.find(std::make_pair(block.slot(), block.forger()));
  if (it == signed_slots_.end() || !it->second.second) return false;
  const Hash& hash = block.hash();
  return hash != it->second.first.hash() && hash != *it->second.second;
}

Result<bool> Blockchain::add_evidence(const EvidencePtr& evidence) {
  if (auto ok = evidence->check(params().chain_id); !ok.ok()) return ok.error();
  // Checked evidence proves the offence whether or not it is kept for inclusion.
  if (equivocators_.insert(evidence->offender()).second &&
      latest_votes_.erase(evidence->offender()))
    latest_votes_moved_ = true;
  if (pending_evidence_.contains(evidence->id())) return false;
  if (!check_slashable(state_, evidence->offender()).ok()) return false;
  for (const auto& [id, held] : pending_evidence_)
    if (held->offender() == evidence->offender()) return false;
  StorageBatch batch;
  batch.evidence_put.push_back(evidence);
  if (auto ok = storage_.commit(batch); !ok.ok()) return ok.error();
  pending_evidence_.emplace(evidence->id(), evidence);
  return true;
}

std::vector<EvidencePtr> Blockchain::pending_evidence() const {
  std::vector<EvidencePtr> out;
  out.reserve(pending_evidence_.size());
  for (const auto& [id, evidence] : pending_evidence_) out.push_back(evidence);
  return out;
}

std::vector<EvidencePtr> Blockchain::take_found_evidence() {
  return std::exchange(found_evidence_, {});
}

void Blockchain::prune_evidence() {
  StorageBatch batch;
  // Only a slashed offender's: one left with nothing to slash on this branch may still have
  // stake on another that a reorganisation brings back (forge skips it meanwhile).
  for (const auto& [id, evidence] : pending_evidence_)
    if (state_.get(evidence->offender()).slashed) batch.evidence_erase.push_back(id);
  // Pending evidence is a cache of what could still slash: failing to forget some is harmless,
  // the next prune retries.
  if (!batch.evidence_erase.empty() && storage_.commit(batch).ok()) committed_evidence(batch);
}

std::uint64_t Blockchain::matured_height(const ValidatorSchedule& validators) const {
  const std::uint64_t epoch = validators.epoch(), wait = params().unbonding_epochs;
  return epoch < wait ? 0 : validators.finalized_by(epoch - wait).height;
}

Result<UndoRecord> Blockchain::connect(const Block& block, const ChainState& chain,
                                       StorageBatch& batch) {
  const BlockHeader& h = block.header();
  // All signatures at once, in parallel; the loop below then finds their verdicts kept.
  if (verifier_) (void)verifier_->verify_all(block.transactions());
  UndoLog undo;
  jail_validators(state_, chain.jails, undo);
  release_unbonding(state_, matured_height(chain.validators), undo);
  const auto& txs = block.transactions();
  for (std::size_t i = 0; i < txs.size(); ++i) {
    Status ok = txs[i]->check_stateless(params().exchange_authority);
    if (ok.ok()) ok = apply_transaction(state_, *txs[i], h.forger, h.height, undo);
    if (!ok.ok()) {
      undo.revert(state_);
      return make_error(Reason::kBlockTxInvalid,
                        fmt::format("transaction {} ({}): {}", i, txs[i]->id(), ok.error()));
    }
  }
  const auto& evidence = block.evidence();
  for (std::size_t i = 0; i < evidence.size(); ++i) {
    if (auto ok = apply_evidence(state_, *evidence[i], undo); !ok.ok()) {
      undo.revert(state_);
      return make_error(Reason::kBadEvidence,
                        fmt::format("evidence {} ({}): {}", i, evidence[i]->id(), ok.error()));
    }
  }
  if (state_.state_root() != h.state_root) {
    undo.revert(state_);
    return make_error(Reason::kBadStateRoot, "the state root after the block is " +
                                                 state_.state_root().hex() + ", the header says " +
                                                 h.state_root.hex());
  }
  UndoRecord record = std::move(undo).take();
  batch.undo_put.emplace_back(block.hash(), record);
  batch.main_put.emplace_back(h.height, block.hash());
  for (std::size_t i = 0; i < txs.size(); ++i) {
    TxPosition position{h.height, static_cast<std::uint32_t>(i)};
    batch.tx_put.emplace_back(txs[i]->id(), TxLocation{h.height, position.index, block.hash()});
    for (const Address& party : txs[i]->parties())
      batch.address_put.emplace_back(party, AddressTx{position, txs[i]->id()});
  }
  for (const auto& [address, prior] : record.prior) batch.accounts[address] = state_.get(address);
  // No longer pending, even if a disconnect earlier in this batch put it back.
  for (const auto& e : evidence) {
    std::erase_if(batch.evidence_put, [&](const EvidencePtr& p) { return p->id() == e->id(); });
    batch.evidence_erase.push_back(e->id());
  }
  return record;
}

void Blockchain::disconnect(const Block& block, const UndoRecord& undo, StorageBatch& batch) {
  undo_block(state_, undo);
  batch.main_erase.push_back(block.height());
  const auto& txs = block.transactions();
  for (std::size_t i = 0; i < txs.size(); ++i) {
    batch.tx_erase.push_back(txs[i]->id());
    for (const Address& party : txs[i]->parties())
      batch.address_erase.emplace_back(party,
                                       TxPosition{block.height(), static_cast<std::uint32_t>(i)});
  }
  for (const auto& [address, prior] : undo.prior) batch.accounts[address] = state_.get(address);
  // Back to pending, as its transactions go back to the pool; prune_evidence drops what the new
  // branch slashes too.
  for (const auto& e : block.evidence()) batch.evidence_put.push_back(e);
}

void Blockchain::committed_evidence(const StorageBatch& batch) {
  for (const auto& id : batch.evidence_erase) pending_evidence_.erase(id);
  for (const auto& e : batch.evidence_put) pending_evidence_.emplace(e->id(), e);
}

Result<ApplyResult> Blockchain::apply(const BlockPtr& block) {
  try {
    auto result = apply_unchecked(block);
    if (result.ok()) after_change(*result);
    return result;
  } catch (const StorageError& e) {
    return make_error(Reason::kStorage, e.what());
  }
}

Status Blockchain::check_before_signatures(const Block& block) const {
  if (index_.contains(block.hash()))
    return make_error(Reason::kAlreadyKnown, "block " + block.hash().hex() + " is known");
  if (block.header().chain_id != params().chain_id)
    return make_error(Reason::kWrongChain, "block for chain \"" + block.header().chain_id + "\"");
  auto parent = index_.find(block.parent());
  if (parent == index_.end())
    return make_error(Reason::kUnknownParent, "parent " + block.parent().hex() + " is not indexed");
  if (parent->second.failed)
    return make_error(Reason::kInvalidBlock, "the parent was found invalid");
  if (auto ok = check_required(block, parent->second); !ok.ok()) return ok;
  const ValidatorSchedule validators =
      parent->second.validators.at_epoch(params().epoch_of(block.slot()));
  if (auto epochs = check_header(block, parent->second, validators); !epochs.ok())
    return epochs.error();
  return check_body_limits(block, validators);
}

// The body's form and size, before any of its signatures: the roots bind it to the header.
Status Blockchain::check_body_limits(const Block& block,
                                     const ValidatorSchedule& validators) const {
  if (block.votes().size() > max_block_votes(validators))
    return make_error(Reason::kBadVote,
                      fmt::format("{} votes, the limit is 4 per validator ({})",
                                  block.votes().size(), max_block_votes(validators)));
  if (auto ok = block.check_form(); !ok.ok()) return ok;
  if (block.transactions().size() > params().max_block_txs)
    return make_error(Reason::kTooManyTransactions,
                      fmt::format("{} transactions, this chain's limit is {}",
                                  block.transactions().size(), params().max_block_txs));
  return {};
}

// Every indexed block above a failed one fails too: no branch through it can be taken.
void Blockchain::mark_failed_descendants() {
  for (bool changed = true; changed;) {
    changed = false;
    for (auto& [hash, entry] : index_) {
      if (entry.failed) continue;
      auto parent = index_.find(entry.header.parent);
      if (parent != index_.end() && parent->second.failed) changed = entry.failed = true;
    }
  }
}

void Blockchain::after_change(const ApplyResult& result) {
  follow_finality();
  prune_index();
  if (!result.connected.empty()) prune_evidence();
}

Result<ApplyResult> Blockchain::apply_unchecked(const BlockPtr& block) {
  const Hash& hash = block->hash();
  if (auto known = index_.find(hash); known != index_.end())
    return make_error(
        known->second.failed ? Reason::kInvalidBlock : Reason::kAlreadyKnown,
        "block " + hash.hex() + (known->second.failed ? " was found invalid before" : " is known"));
  if (storage_.block(hash))
    return make_error(Reason::kAlreadyKnown, "block " + hash.hex() + " is stored");
  if (block->header().chain_id != params().chain_id)
    return make_error(Reason::kWrongChain, "block for chain \"" + block->header().chain_id + "\"");
  auto parent = index_.find(block->parent());
  if (parent == index_.end() && index_stored_branch(block->parent()))
    parent = index_.find(block->parent());
  if (parent == index_.end()) {
    if (storage_.block(block->parent()))
      return conflicts_finalized("the parent " + block->parent().hex() + " is below it");
    return make_error(Reason::kUnknownParent, "parent " + block->parent().hex() + " is unknown");
  }
  if (parent->second.failed)
    return make_error(Reason::kInvalidBlock, "the parent was found invalid");
  const Entry& parent_entry = parent->second;
  if (auto ok = check_required(*block, parent_entry); !ok.ok()) return ok.error();
  const ValidatorSchedule validators =
      parent_entry.validators.at_epoch(params().epoch_of(block->slot()));
  auto epochs = check_header(*block, parent_entry, validators);
  if (!epochs.ok()) return epochs.error();
  // The header is the leader's, signed: a second one for its slot is evidence, whatever the body.
  record_signed_slot(*block);
  // Before the body's signature checks, so that a block stuffed with votes costs nothing.
  if (auto ok = check_body_limits(*block, validators); !ok.ok()) return ok.error();
  if (auto ok = block->check_body_signatures(); !ok.ok()) return ok.error();
  // The fork point first: a branch forking below finality cannot have its votes looked up, and
  // its sender deserves conflicts_finalized's penalty, not bad_vote's.
  if (auto ok = check_fork_point(block->parent()); !ok.ok()) return ok.error();
  std::vector<CountedVote> counted;
  auto finality =
      check_votes(*block, parent_entry.finality, validators, chain_through(parent_entry), &counted);
  if (!finality.ok()) return finality.error();
  for (const auto& vote : block->votes()) note_vote(*vote);
  ChainState chain_state =
      chain_state_after(*block, parent_entry, *epochs, *finality, counted, validators);

  if (block->parent() == tip_) return extend(block, chain_state);

  StorageBatch batch;
  batch.blocks.push_back(block);
  batch.side_put.emplace_back(block->height(), hash);
  index_block(*block, chain_state, false, false, &batch);
  if (auto ok = storage_.commit(batch); !ok.ok()) {
    index_.erase(hash);
    return ok.error();
  }
  if (better_than_tip(index_.at(hash))) return reorganize(hash);
  ApplyResult result;
  result.kind = ApplyResult::Kind::kSideBranch;
  return result;
}

Result<ApplyResult> Blockchain::extend(const BlockPtr& block, const ChainState& chain_state) {
  StorageBatch batch;
  auto undo = connect(*block, chain_state, batch);
  if (!undo.ok()) {
    index_block(*block, chain_state, false, true, nullptr);
    return undo.error();
  }
  batch.blocks.push_back(block);
  batch.meta = ChainMeta{params().chain_id, genesis_hash_, block->hash(), block->height(),
                         finalized_after(chain_state.finality)};
  index_block(*block, chain_state, true, false, &batch);
  if (auto ok = storage_.commit(batch); !ok.ok()) {
    index_.erase(block->hash());
    undo_block(state_, *undo);
    return ok.error();
  }
  committed_evidence(batch);
  tip_ = block->hash();
  ApplyResult result;
  result.kind = ApplyResult::Kind::kExtended;
  result.connected.push_back(block);
  return result;
}

bool Blockchain::index_stored_branch(const Hash& hash) {
  std::vector<BlockPtr> branch;
  Hash cur = hash;
  while (!index_.contains(cur)) {
    BlockPtr block = storage_.block(cur);
    if (!block || block->height() < finalized_height()) return false;
    branch.push_back(block);
    cur = block->parent();
  }
  if (index_.at(cur).failed) {
    // Above a block found invalid (whose stored children a restart left unindexed): none of it
    // can join the chain, so it goes from storage instead of into the index.
    StorageBatch batch;
    for (const auto& block : branch)
      batch.blocks_erase.emplace_back(block->height(), block->hash());
    (void)storage_.commit(batch);  // failing, finality deletes them later
    return false;
  }
  for (auto it = branch.rbegin(); it != branch.rend(); ++it) {
    const Block& block = **it;
    const Entry& parent = index_.at(block.parent());
    // A branch stored before the checkpoint was required may lack it.
    if (!check_required(block, parent).ok()) return false;
    const std::uint64_t epoch = params().epoch_of(block.slot());
    EpochState epochs = parent.epochs.child(epoch, stored_vrf_output(block));
    ValidatorSchedule validators = parent.validators.at_epoch(epoch);
    std::vector<CountedVote> counted;
    auto finality =
        check_votes(block, parent.finality, validators, chain_through(parent), &counted);
    if (!finality.ok())
      throw StorageError("stored block " + block.hash().hex() + ": " + finality.error().message);
    index_block(block, chain_state_after(block, parent, epochs, *finality, counted, validators),
                false, false, nullptr);
  }
  return true;
}

// Below the finalized block nothing can be reorganised, and a side branch that forks below it
// conflicts with it: both leave the index (stored side blocks go when finality passes them).
void Blockchain::prune_index() {
  std::uint64_t keep_from = finalized_height();
  if (keep_from <= pruned_below_) return;
  pruned_below_ = keep_from;
  std::vector<const Entry*> leaving;
  for (const auto& [hash, entry] : index_)
    if (entry.on_main && entry.header.height < keep_from) leaving.push_back(&entry);
  std::sort(leaving.begin(), leaving.end(),
            [](const Entry* a, const Entry* b) { return a->header.height < b->header.height; });
  for (const Entry* entry : leaving) {
    if (entry->header.height > 0) record_past_sets(entry->validators);
    past_stakes_[entry->header.height] = {entry->hash, entry->stakes};
  }
  std::erase_if(index_, [&](const auto& item) { return item.second.header.height < keep_from; });
  std::vector<std::pair<std::uint64_t, Hash>> side;
  for (const auto& [hash, entry] : index_)
    if (!entry.on_main) side.emplace_back(entry.header.height, hash);
  std::sort(side.begin(), side.end());
  for (const auto& [height, hash] : side)
    if (!index_.contains(index_.at(hash).header.parent)) index_.erase(hash);
  trim_past_stakes();
  if (auto at = index_.find(finalized_.hash); at != index_.end()) save_snapshot(at->second);
  delete_side_blocks(keep_from);
}

void Blockchain::delete_side_blocks(std::uint64_t height) {
  StorageBatch batch;
  for (const auto& [at, hash] : storage_.side_blocks(height, kMaxSideBlocksPerPrune)) {
    // A side entry never names a main-chain block; if one did, the block must stay.
    if (storage_.main_chain_hash(at) == hash)
      batch.side_erase.emplace_back(at, hash);
    else
      batch.blocks_erase.emplace_back(at, hash);
  }
  if (batch.side_erase.empty() && batch.blocks_erase.empty()) return;
  (void)storage_.commit(batch);  // failing (read-only, disk full), it tries at the next prune
}

void Blockchain::delete_failed_blocks() {
  StorageBatch batch;
  std::vector<Entry*> doomed;
  for (auto& [hash, entry] : index_) {
    if (!entry.failed || entry.deleted || entry.on_main) continue;
    batch.blocks_erase.emplace_back(entry.header.height, hash);
    doomed.push_back(&entry);
  }
  if (doomed.empty() || !storage_.commit(batch).ok()) return;
  for (Entry* entry : doomed) entry->deleted = true;
}

Result<ApplyResult> Blockchain::reorganize(const Hash& new_tip) {
  std::vector<Hash> branch;
  Hash fork = new_tip;
  while (!index_.at(fork).on_main) {
    branch.push_back(fork);
    fork = index_.at(fork).header.parent;
  }
  std::reverse(branch.begin(), branch.end());

  // The value of every account before the reorganisation touched it, to roll back on failure.
  std::map<Address, Account> original;
  auto remember = [&](const UndoRecord& undo, bool current) {
    for (const auto& [address, prior] : undo.prior)
      original.try_emplace(address, current ? state_.get(address) : prior);
  };
  auto rollback = [&](Error error) {
    for (const auto& [address, account] : original) state_.put(address, account);
    return error;
  };
  auto stored = [&](const Hash& hash) {
    BlockPtr block = storage_.block(hash);
    if (!block) throw StorageError("block " + hash.hex() + " is indexed but not stored");
    return block;
  };

  StorageBatch batch;
  ApplyResult result;
  result.kind = ApplyResult::Kind::kReorganized;
  try {
    for (Hash cur = tip_; cur != fork; cur = index_.at(cur).header.parent) {
      BlockPtr block = stored(cur);
      auto undo = storage_.undo(cur);
      if (!undo) throw StorageError("no undo data for block " + cur.hex());
      remember(*undo, true);
      disconnect(*block, *undo, batch);
      batch.side_put.emplace_back(block->height(), cur);
      result.disconnected.push_back(block);
    }
    for (const Hash& hash : branch) {
      BlockPtr block = stored(hash);
      auto undo = connect(*block, index_.at(hash), batch);
      if (!undo.ok()) {
        // This block and every block after it on the branch are invalid. Roll back to the tip:
        // the valid part before it may still be the best branch by the latest votes, which
        // the next follow_votes() finds with the failed blocks out of the way.
        for (auto it = std::find(branch.begin(), branch.end(), hash); it != branch.end(); ++it)
          index_.at(*it).failed = true;
        mark_failed_descendants();
        Error error = rollback(undo.error());
        delete_failed_blocks();
        return error;
      }
      remember(*undo, false);
      batch.side_erase.emplace_back(block->height(), hash);
      result.connected.push_back(block);
    }
  } catch (const StorageError& e) {
    return rollback(make_error(Reason::kStorage, e.what()));
  }
  const BlockPtr& last = result.connected.back();
  batch.meta = ChainMeta{params().chain_id, genesis_hash_, last->hash(), last->height(),
                         finalized_after(index_.at(last->hash()).finality)};
  if (auto ok = storage_.commit(batch); !ok.ok()) return rollback(ok.error());
  committed_evidence(batch);
  for (const auto& block : result.disconnected) index_.at(block->hash()).on_main = false;
  for (const auto& block : result.connected) index_.at(block->hash()).on_main = true;
  tip_ = last->hash();
  return result;
}

Result<BlockPtr> Blockchain::forge(const SecretKey& key, std::uint64_t slot,
                                   const TransactionPool& pool, std::uint64_t now_ms,
                                   std::vector<VotePtr> votes) {
  const BlockHeader parent = tip();
  if (slot <= parent.slot)
    return make_error(Reason::kSlotNotAfterParent,
                      fmt::format("slot {} is not after the tip's slot {}", slot, parent.slot));
  auto expected = leader(slot);
  if (!expected || *expected != key.public_key())
    return make_error(Reason::kNotLeader,
                      fmt::format("this key is not the leader of slot {}", slot));
  std::uint64_t start = params().slot_start_ms(slot);
  std::uint64_t timestamp = std::clamp(now_ms, start, start + params().slot_ms - 1);

  BlockHeader header;
  header.chain_id = params().chain_id;
  header.height = parent.height + 1;
  header.parent = tip_;
  header.slot = slot;
  header.timestamp_ms = timestamp;
  header.forger = key.public_key();
  Hash nonce = epoch_nonce(slot);
  header.vrf_proof = vrf_prove(key, vrf_input(header.chain_id, nonce, slot));
  std::size_t bytes = header.signing_bytes().size() + kBlockSignatureBytes;
  UndoLog undo;
  const Entry& tip_entry = index_.at(tip_);
  jail_validators(state_, tip_entry.validators.downtime(tip_entry.votes, params().epoch_of(slot)),
                  undo);
  release_unbonding(state_, matured_height(tip_schedule(params().epoch_of(slot))), undo);
  // Room for the evidence that slashes now; after the transactions each piece is judged again,
  // as connect() will, against the state they leave.
  std::vector<EvidencePtr> candidates;
  std::set<PublicKey> offenders;
  for (const auto& [id, e] : pending_evidence_) {
    if (candidates.size() == kMaxBlockEvidence) break;
    if (!check_slashable(state_, e->offender()).ok() || !offenders.insert(e->offender()).second)
      continue;
    candidates.push_back(e);
    bytes += e->bytes().size();
  }
  // As many votes as fit, in the order given (a leader's: highest targets first).
  std::size_t fitting = 0;
  while (fitting < votes.size() && bytes + votes[fitting]->encoded_size() <= kMaxBlockBytes)
    bytes += votes[fitting++]->encoded_size();
  votes.resize(fitting);

  std::vector<TransactionPtr> chosen;
  std::unordered_set<Address> blocked;  // a sender whose transaction failed: its later ones would
  for (const auto& tx : pool.ready(state_)) {
    if (chosen.size() == params().max_block_txs) break;
    if (bytes + tx->encoded_size() > kMaxBlockBytes || blocked.contains(tx->sender())) continue;
    Status ok = tx->check_stateless(params().exchange_authority);
    if (ok.ok()) ok = apply_transaction(state_, *tx, key.public_key(), header.height, undo);
    if (!ok.ok()) {
      blocked.insert(tx->sender());
      continue;
    }
    chosen.push_back(tx);
    bytes += tx->encoded_size();
  }
  std::vector<EvidencePtr> evidence;
  for (const auto& e : candidates)
    if (apply_evidence(state_, *e, undo).ok()) evidence.push_back(e);
  header.state_root = state_.state_root();
  undo.revert(state_);
  return Block::sign(std::move(header), std::move(chosen), key, std::move(votes),
                     std::move(evidence));
}

}  // namespace pos
