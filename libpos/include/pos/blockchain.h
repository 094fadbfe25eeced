// The chain: validation of blocks against their parent (every rule of docs/consensus.md),
// application, fork choice with reorganisation through undo data, finality, the evidence that
// slashes, and forging. Single-threaded: one owner calls it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "pos/account_model.h"
#include "pos/block.h"
#include "pos/clock.h"
#include "pos/epoch.h"
#include "pos/evidence.h"
#include "pos/finality.h"
#include "pos/genesis.h"
#include "pos/proof_of_stake.h"
#include "pos/status.h"
#include "pos/storage.h"
#include "pos/transaction_pool.h"
#include "pos/validator_sets.h"
#include "pos/verifier.h"

namespace pos {

struct ApplyResult {
  enum class Kind { kExtended, kReorganized, kSideBranch };
  Kind kind = Kind::kExtended;
  std::vector<BlockPtr> connected;     // joined the main chain, in height order
  std::vector<BlockPtr> disconnected;  // left the main chain, highest first
};

class Blockchain {
 public:
  // Opens the chain in `storage`: writes the genesis block into an empty storage, or checks that
  // the stored chain belongs to this genesis and resumes at its tip.
  static Result<std::unique_ptr<Blockchain>> open(const Genesis& genesis, Storage& storage,
                                                  const Clock& clock);

  // From now on refuses every chain without `block`: a block of another chain at its height,
  // or above it on such a chain, is refused as kConflictsFinalized. kConflictsFinalized when
  // the stored main chain has another block at that height (it followed another chain).
  Status require_block(const TrustedBlock& block);

  // Validates and applies a block; may reorganise. On refusal the chain and state are unchanged.
  // A storage failure is a kStorage refusal, after which the state is rolled back too.
  Result<ApplyResult> apply(const BlockPtr& block);
  // The checks of apply() that come before the signatures of the body's transactions and votes,
  // against the block's parent in the index (chain, checkpoint, height, slot, timestamp, forger,
  // signature, leader, VRF; the body's roots, counts, size and limits), changing nothing: what
  // must pass before those signatures are worth checking. kUnknownParent also when the parent
  // is stored but not indexed (apply() may still take the block).
  Status check_before_signatures(const Block& block) const;

  // Builds and signs the block for `slot` on the tip from the pool's ready transactions, if
  // `key` is the slot's leader, carrying the pending evidence that slashes on the tip (one per
  // offender, at most kMaxBlockEvidence) and as many of `votes`, in order, as fit in the block's
  // bytes (apply() judges them).
  // The block is not applied; the state is left as it was.
  Result<BlockPtr> forge(const SecretKey& key, std::uint64_t slot, const TransactionPool& pool,
                         std::uint64_t now_ms, std::vector<VotePtr> votes = {});

  // Evidence from a peer or a local detector: refused as Evidence::check refuses (kWrongChain,
  // kBadEvidence); dropped (false) when already pending, when another pending piece names the
  // same offender, or when the offender has nothing left to slash on the tip; else kept pending
  // (stored, so a restart keeps it) until a main-chain block includes it (true).
  Result<bool> add_evidence(const EvidencePtr& evidence);
  bool has_pending_evidence(const Hash& id) const { return pending_evidence_.contains(id); }
  // Pending evidence in id order.
  std::vector<EvidencePtr> pending_evidence() const;
  // Whether the block is a third (or later) distinct header of its forger for its slot: two are
  // all that evidence and fork choice need, so gossip need not store or relay more.
  bool is_extra_header(const Block& block) const;
  // Evidence this chain found itself since the last call (two blocks of one forger for one
  // slot), already pending: for the caller to relay.
  std::vector<EvidencePtr> take_found_evidence();

  // Of `candidates`, the votes valid in a block at `slot` on the tip (every vote rule of
  // docs/consensus.md but the signature, which the caller checked), highest target height
  // first, then lowest id, at most the block's vote limit: what a leader includes.
  std::vector<VotePtr> select_votes(const std::vector<VotePtr>& candidates,
                                    std::uint64_t slot) const;
  // What a node can tell of a vote outside any block (kBadVote): if the node knows the target
  // block, its validator is in the validator sets of the target's chain, the target is at the
  // vote's target height and the source is the block at the source height on that chain;
  // otherwise its validator is in the tip's sets or staking. Votes whose target is unknown here
  // pass: honest peers send them during forks. Not the signature.
  Status check_vote_blocks(const Vote& vote) const;
  // Whether `key` may sign votes that count on some chain this node knows: a member of the tip's
  // validators(e-2 .. e), or an account staking on the tip (which a branch may have let in).
  bool is_validator(const PublicKey& key) const;
  // Whether `key` votes on the tip's chain now: a member of validators(e) or validators(e-1),
  // e the tip's epoch (docs/consensus.md, "Honest voting").
  bool is_voter(const PublicKey& key) const;
  // A vote this node holds (gossiped or its own, after the node's checks): fork choice weighs
  // each validator's latest vote, its highest target, the first seen at that height
  // (docs/consensus.md, "Fork choice"). Votes in applied blocks are noted here by the chain.
  // True when it became its validator's latest vote. A validator with evidence against it
  // (is_equivocator) has none.
  bool note_vote(const Vote& vote);
  // Whether the node holds valid evidence against `key` (since it started, or pending in
  // storage) or `key` is slashed on the tip's chain. Such a key's latest vote weighs nothing in
  // fork choice (Gasper's equivocating validators): a key that signs conflicting votes could
  // otherwise back every branch in turn and keep honest nodes apart.
  bool is_equivocator(const PublicKey& key) const;
  // Fork choice again, after votes moved: reorganises to the best branch if it is not the
  // tip's (kAlreadyKnown, changing nothing, when the tip stays best).
  Result<ApplyResult> follow_votes();
  // Whether a latest vote changed (or a reorganisation failed) since the last follow_votes():
  // the owner runs it then, at most once per tick, since it weighs every branch.
  bool latest_votes_moved() const { return latest_votes_moved_; }
  // Whether the block is held in memory: above the finalized block, on any branch.
  bool is_indexed(const Hash& hash) const { return index_.contains(hash); }

  // The leader for a slot after the tip's, on top of the tip; nothing for an earlier slot.
  std::optional<PublicKey> leader(std::uint64_t slot) const;
  // nonce(epoch(slot)) on the tip's chain, for a slot after the tip's: what the slot's leader
  // draw and VRF input use.
  Hash epoch_nonce(std::uint64_t slot) const;
  // What draws the slot leaders of `epoch` on the tip's chain: nonce(epoch) and validators(epoch),
  // for an epoch after the tip's those a child of the tip would use. An epoch far after the
  // tip's costs a hash per epoch; one before it, an epoch's blocks read from storage.
  struct EpochDraw {
    Hash nonce;
    ValidatorSetPtr validators;
  };
  EpochDraw epoch_draw(std::uint64_t epoch) const;

  const ChainParams& params() const { return genesis_.params; }
  const Hash& genesis_hash() const { return genesis_hash_; }
  const BlockHeader& tip() const;
  const Hash& tip_hash() const { return tip_; }
  std::uint64_t height() const { return tip().height; }
  // The highest block ever finalized by the votes of this node's best chain (docs/consensus.md,
  // "Votes and finality"). It never moves back, and no chain without it is ever taken.
  const Checkpoint& finalized() const { return finalized_; }
  std::uint64_t finalized_height() const { return finalized_.height; }
  const AccountModel& state() const { return state_; }

  BlockPtr block(const Hash& hash) const { return storage_.block(hash); }
  BlockPtr block_at(std::uint64_t height) const;
  std::optional<TxLocation> transaction_location(const Hash& id) const {
    return storage_.tx_location(id);
  }
  // The address's main-chain transactions, newest first (pos/storage.h).
  std::vector<AddressTx> address_history(const Address& address, std::optional<TxPosition> before,
                                         std::size_t limit) const {
    return storage_.address_history(address, before, limit);
  }
  // Main-chain blocks from `from` upwards, bounded by count and bytes (pagination, sync).
  std::vector<BlockPtr> main_chain_blocks(std::uint64_t from, std::size_t max_count,
                                          std::size_t max_bytes) const {
    return storage_.main_chain_blocks(from, max_count, max_bytes);
  }
  // Whether the block is on the main chain (not only stored).
  bool on_main_chain(const Hash& hash) const;
  // Hashes of main-chain blocks from the tip back, ten dense then doubling steps, ending at
  // genesis: a peer answers from the first of them it has on its main chain.
  std::vector<Hash> locator() const;
  bool knows(const Hash& hash) const { return index_.contains(hash) || storage_.block(hash); }
  // Blocks held in memory: those above the finalized height and their side branches.
  std::size_t indexed_blocks() const { return index_.size(); }
  // What the votes in the tip's chain justify and finalize (docs/consensus.md, "Votes and
  // finality"); fork choice follows the chain whose justified block is highest.
  const FinalityState& vote_finality() const { return index_.at(tip_).finality; }

  ~Blockchain();

  // Signature checks of each block's transactions then run in parallel, through its cache.
  void set_verifier(SignatureVerifier* verifier) { verifier_ = verifier; }

 private:
  // What a block's chain is after it: its nonces, finality, stakes, validator sets and
  // included votes, and whom the block jailed.
  struct ChainState {
    EpochState epochs;             // the chain's nonces after this block
    FinalityState finality;        // what the chain's votes justify and finalize, up to it
    StakeTablePtr stakes;          // the stakes after this block
    ValidatorSchedule validators;  // the chain's validator sets in this block's epoch
    IncludedVotes votes;           // who has votes in the chain, by target epoch
    std::vector<PublicKey> jails;  // whom downtime jails at this block, before its transactions
  };
  struct Entry : ChainState {
    Hash hash;
    BlockHeader header;
    Signature signature;
    bool on_main = false;
    bool failed = false;
    bool deleted = false;  // failed, and deleted from storage
    // An ancestor further back (Bitcoin Core's skip list), so that finding the block of a side
    // branch at a height takes O(log length) steps, not one per block.
    Hash skip;
    std::uint64_t skip_height = 0;
  };
  // The chain's block at a height, if the chain has that hash there.
  using ChainLookup = std::function<std::optional<Checkpoint>(const Hash&, std::uint64_t)>;
  Blockchain(const Genesis& genesis, Storage& storage, const Clock& clock);
  static Result<std::unique_ptr<Blockchain>> open_unchecked(const Genesis& genesis,
                                                            Storage& storage, const Clock& clock);
  Result<ApplyResult> apply_unchecked(const BlockPtr& block);
  std::vector<VotePtr> select_votes_unchecked(const std::vector<VotePtr>& candidates,
                                              std::uint64_t slot) const;
  Status check_vote_blocks_unchecked(const Vote& vote) const;
  // Forgets index entries below the finalized height: they can never be reorganised.
  void prune_index();
  // Deletes stored side blocks below `height`, at most kMaxSideBlocksPerPrune of them: once
  // finalized past, they can never join the chain. The rest go at the next prune.
  void delete_side_blocks(std::uint64_t height);
  // Deletes the stored blocks found invalid (the failed entries): no branch through them can be
  // taken. Their entries stay, so that they are refused again without a check.
  void delete_failed_blocks();
  // Indexes a stored side branch (not in memory after a restart) down to an indexed block, if
  // it does not reach below the finalized height.
  bool index_stored_branch(const Hash& hash);

  // The block's chain holds the required block, or is not that high (require_block).
  Status check_required(const Block& block, const Entry& parent) const;
  // Every check of the header against its parent, in docs/consensus.md's order (height, slot,
  // timestamp, leader, VRF proof, signature); the chain's epoch state after the block, and the
  // validator sets of the block's epoch in `validators`.
  Status check_body_limits(const Block& block, const ValidatorSchedule& validators) const;
  Result<EpochState> check_header(const Block& block, const Entry& parent,
                                  const ValidatorSchedule& validators) const;
  // Every vote of the block against its chain, which `on_chain` answers for (the vote rules of
  // docs/consensus.md; the block's vote count is checked before, with its body); the chain's
  // finality state after the block.
  Result<FinalityState> check_votes(const Block& block, const FinalityState& parent,
                                    const ValidatorSchedule& validators,
                                    const ChainLookup& on_chain,
                                    std::vector<CountedVote>* counted = nullptr) const;
  // The chain state after `block` on the chain of `parent`, whose votes check_votes counted
  // (`counted`, giving `finality`): `validators` is the parent's schedule at the block's epoch.
  ChainState chain_state_after(const Block& block, const ChainState& parent,
                               const EpochState& epochs, const FinalityState& finality,
                               std::span<const CountedVote> counted,
                               const ValidatorSchedule& validators) const;
  // `finalized` (a block of the chain that `before` belongs to, at or above its finalized
  // block) with the stakes after it.
  StakeSnapshot finalized_snapshot(const Checkpoint& finalized,
                                   const ValidatorSchedule& before) const;
  // The tip's schedule at `epoch` (>= the tip's), memoised: leader draws ask for it every tick.
  const ValidatorSchedule& tip_schedule(std::uint64_t epoch) const;
  // Keeps validators(e) of the epochs up to a main-chain block that leaves the index, for
  // epoch_draw: `schedule` is the block's, and blocks come in height order.
  void record_past_sets(const ValidatorSchedule& schedule);
  // (target height, validator) of the votes a block holds so far.
  using VotesInBlock = std::set<std::pair<std::uint64_t, PublicKey>>;
  // One vote of a block at `block_height` in `block_epoch` on the chain of `parent` and
  // `on_chain` (every rule but the signature, which check_body checks), added to `in_block`:
  // how it counts there, or kBadVote. check_votes and select_votes judge by it alike.
  Result<CountedVote> count_vote(const Vote& vote, std::uint64_t block_height,
                                 std::uint64_t block_epoch, const FinalityState& parent,
                                 const ValidatorSchedule& validators, const ChainLookup& on_chain,
                                 VotesInBlock& in_block) const;
  // 4 votes per validator of the block's epoch and the two before (docs/consensus.md).
  static std::size_t max_block_votes(const ValidatorSchedule& validators) {
    return 4 * validators.distinct_validators();
  }
  // A stored main-chain block and its chain's state after it (its nonces aside): where open()
  // replays from.
  struct Replayed {
    BlockPtr block;
    ChainState state;
  };
  // The consensus snapshot at `at`, the main-chain block at the finalized height just pruned
  // to (docs/storage.md): its chain state but nonces, with last_pruned_ and the past stakes from
  // what `at` had finalized up.
  Bytes encode_snapshot(const Entry& at) const;
  // The snapshot read back into last_pruned_, past_stakes_ and past_sets_ (with the stored
  // sets); the block to replay from. StorageError when damaged or not on the stored chain.
  Replayed load_snapshot(ByteView bytes, const Checkpoint& stored_finalized);
  // Stores the snapshot at `at` and the past sets since the last, at most once an epoch.
  void save_snapshot(const Entry& at);
  // The lookup for the chain ending at an indexed entry.
  ChainLookup chain_through(const Entry& entry) const;
  // The hash at `height` of the chain through `from` (at or below from's height).
  std::optional<Hash> hash_at(const Entry& from, std::uint64_t height) const;
  // Adds a block's index entry and, to the batch, its epoch record.
  void index_block(const Block& block, const ChainState& state, bool on_main, bool failed,
                   StorageBatch* batch);
  // The epoch state after a stored main-chain block, from its stored nonces and its epoch's
  // blocks before it.
  EpochState resume_epochs(const BlockPtr& block) const;
  // A branch that forks below the finalized block (kConflictsFinalized).
  Status check_fork_point(const Hash& parent) const;
  Error conflicts_finalized(const std::string& why) const;
  // Remembers who signed each slot; a second, different header of one forger for one slot
  // becomes double_block evidence (pending and found). Never a refusal: both blocks are valid.
  void record_signed_slot(const Block& block);
  // Mirrors a committed batch's evidence changes in pending_evidence_.
  void committed_evidence(const StorageBatch& batch);
  // Drops pending evidence whose offender the tip's chain has slashed.
  void prune_evidence();
  // Applies a block to the state; `chain` is its chain's state after it.
  Result<UndoRecord> connect(const Block& block, const ChainState& chain, StorageBatch& batch);
  // The height up to which UNSTAKEs have matured at the start of a block whose chain's schedule
  // at its epoch e is `validators`: F(e - unbonding_epochs)'s (docs/consensus.md, "Unbonding").
  std::uint64_t matured_height(const ValidatorSchedule& validators) const;
  Result<ApplyResult> extend(const BlockPtr& block, const ChainState& chain_state);
  void disconnect(const Block& block, const UndoRecord& undo, StorageBatch& batch);
  Result<ApplyResult> reorganize(const Hash& new_tip);
  // Where the chain ending at an entry stands in fork choice (docs/consensus.md): by justified
  // height, latest votes' weight, height and lower tip slot, greater first; then lower tip hash.
  struct Rank {
    std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t> key;  // slot as ~slot
    Hash hash;
    bool operator>(const Rank& o) const { return key != o.key ? key > o.key : hash < o.hash; }
  };
  Rank rank(const Entry& e) const;
  // Whether the chain ending at `a` beats the one at `b`.
  bool better(const Entry& a, const Entry& b) const;
  bool better_than_tip(const Entry& candidate) const;
  // The weight of the validators whose latest vote's target is on the chain ending at `entry`,
  // above that chain's highest justified block: fork choice's second rule.
  std::uint64_t latest_vote_weight(const Entry& entry) const;
  // After a reorganisation failed at a block: its indexed descendants are marked failed too.
  void mark_failed_descendants();
  // What apply() and follow_votes() do after a change of the chain.
  void after_change(const ApplyResult& result);
  // The finalized block once `tip` (a finality state of the best chain) is the tip's: the higher
  // of finalized_ and what that chain finalizes.
  Checkpoint finalized_after(const FinalityState& tip) const;
  // Raises finalized_ to what the tip's chain finalizes, if higher.
  void follow_finality();

  Genesis genesis_;
  Hash genesis_hash_;
  Storage& storage_;
  const Clock& clock_;
  AccountModel state_;
  std::unordered_map<Hash, Entry> index_;
  Hash tip_;
  Checkpoint finalized_;
  std::uint64_t pruned_below_ = 0;  // the finalized height of the last prune_index
  StakeSnapshot genesis_stakes_;
  // validators(e) of the epochs below the index, from the epoch each set began (the sets of
  // pruned main-chain blocks), and the schedule of the last such block.
  std::map<std::uint64_t, ValidatorSetPtr> past_sets_;
  ValidatorSchedule last_pruned_;
  // The epoch of the stored snapshot's block, and the last epoch of past_sets_ stored.
  std::optional<std::uint64_t> snapshot_epoch_;
  std::uint64_t saved_sets_epoch_ = 0;
  // The stakes after main-chain blocks out of the index that a chain held here may still
  // finalize: those from the lowest finalized block of an indexed chain up (by height).
  std::map<std::uint64_t, std::pair<Hash, StakeTablePtr>> past_stakes_;
  // Drops past_stakes_ below the lowest finalized block of an indexed chain.
  void trim_past_stakes();
  std::optional<TrustedBlock> required_;
  mutable std::optional<std::tuple<Hash, std::uint64_t, ValidatorSchedule>> tip_schedule_;
  // Per (slot, forger): the first header seen, for double_block evidence, and the second.
  struct SignedSlot {
    BlockHeader first;
    Signature first_signature;
    std::optional<Hash> second;
  };
  std::map<std::pair<std::uint64_t, PublicKey>, SignedSlot> signed_slots_;
  std::map<Hash, EvidencePtr> pending_evidence_;  // by id
  struct LatestVote {
    Hash target;
    std::uint64_t height = 0;
  };
  // Only summed over (latest_vote_weight), so its order does not matter.
  std::unordered_map<PublicKey, LatestVote> latest_votes_;
  bool latest_votes_moved_ = false;
  std::set<PublicKey> equivocators_;  // offenders of evidence this node checked
  std::vector<EvidencePtr> found_evidence_;
  SignatureVerifier* verifier_ = nullptr;
};

}  // namespace pos
