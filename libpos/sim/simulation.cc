#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <queue>
#include <random>
#include <set>
#include <utility>

#include <unistd.h>

#include "event_queue.h"
#include "pos/blockchain.h"
#include "pos/clock.h"
#include "pos/consensus_engine.h"
#include "pos/genesis.h"
#include "pos/lmdb_storage.h"
#include "pos/signing_record.h"
#include "pos/sim.h"
#include "pos/storage.h"
#include "pos/transaction_pool.h"
#include "pos/transport.h"
#include "pos/vrf.h"
#include "pos/wallet.h"
#include "pos_fmt.h"

namespace pos::sim {
namespace {

constexpr std::uint64_t kTickMs = 100;
constexpr std::size_t kTraceLines = 200;
constexpr std::uint64_t kGenesisTimeMs = 1'700'000'000'000;
constexpr std::uint64_t kStake = 1'000;
constexpr std::size_t kSyncBatch = 200;
constexpr std::size_t kSyncBytes = 8 * 1024 * 1024;
// A request for blocks whose answer was lost is given up after this long.
constexpr std::uint64_t kSyncTimeoutMs = 3'000;
// How long a node's p2p layer remembers a vote it saw: PeerNetwork's two generations of 50,000
// ids are 1,000 to 2,000 slots of 50 validators' votes.
constexpr std::uint64_t kSeenVotesSlots = 1'000;
// Bounds on a scenario's times, so that no sum of them overflows the clock.
constexpr std::uint64_t kMaxMs = 600'000;
constexpr std::uint64_t kMaxSlots = 1'000'000;
constexpr std::uint64_t kMaxTxPerSlot = 10'000;
constexpr std::uint64_t kMaxBandwidthKbps = 1'000'000'000;
constexpr std::size_t kMaxClients = 256;
constexpr std::uint64_t kClientBalance = 1'000'000'000;

// What one node sends another.
struct Message {
  enum class Kind { kBlock, kTxs, kVotes, kEvidence, kGetBlocks, kBlocks };
  Kind kind = Kind::kBlock;
  BlockPtr block;
  std::vector<TransactionPtr> txs;
  std::vector<VotePtr> votes;
  std::vector<EvidencePtr> evidence;
  std::vector<Hash> locator;
  std::vector<BlockPtr> blocks;
};

using MessagePtr = std::shared_ptr<const Message>;

// About what the message takes on the wire (the p2p layer's frame header and bodies).
std::size_t wire_bytes(const Message& m) {
  std::size_t bytes = 16 + 32 * m.locator.size();
  if (m.block) bytes += m.block->encoded_size();
  for (const auto& tx : m.txs) bytes += tx->encoded_size();
  for (const auto& vote : m.votes) bytes += vote->encoded_size();
  for (const auto& e : m.evidence) bytes += e->bytes().size();
  for (const auto& block : m.blocks) bytes += block->encoded_size();
  return bytes;
}

// A node's storage with a crash at a commit (Scenario::commit_crash): the real storage reads and
// commits; the fate of each commit is drawn by the world. Once crashed it commits nothing more,
// and the world stops the node after the event.
class CrashingStorage final : public StorageWrapper {
 public:
  enum class Fate { kCommit, kCrashBefore, kCrashAfter };
  CrashingStorage(Storage& inner, std::function<Fate()> fate)
      : StorageWrapper(inner), fate_(std::move(fate)) {}
  void arm() { armed_ = true; }
  bool crashed() const { return crashed_; }

  Status commit(const StorageBatch& batch) override {
    if (crashed_) return make_error(Reason::kStorage, "the node crashed");
    const Fate fate = armed_ ? fate_() : Fate::kCommit;
    if (fate == Fate::kCommit) return inner_.commit(batch);
    crashed_ = true;
    if (fate == Fate::kCrashAfter) return inner_.commit(batch);
    return make_error(Reason::kStorage, "the node crashed before its commit");
  }

 private:
  std::function<Fate()> fate_;
  bool armed_ = false;
  bool crashed_ = false;
};

class World;

// The node's Transport: every send goes through the world's network model.
class SimTransport final : public Transport {
 public:
  SimTransport(World& world, std::size_t self) : world_(world), self_(self) {}
  void broadcast_block(const BlockPtr& block, PeerId except) override;
  void broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) override;
  void broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) override;
  void broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) override;
  std::size_t ready_peers() const override;
  bool peer_ahead() const override { return false; }

 private:
  World& world_;
  std::size_t self_;
};

struct Node {
  std::size_t index = 0;
  std::size_t validator = 0;  // whose key: its own index, but a two-faced one's second node's
  std::unique_ptr<Wallet> key;
  Policy policy = Policy::kHonest;
  bool up = false;
  // What survives a crash: the storage (every commit is whole) and the signing record. LMDB
  // storage is opened again from its dir at the restart.
  std::unique_ptr<Storage> storage;
  std::unique_ptr<CrashingStorage> faulty;
  SigningRecord signing;
  std::unique_ptr<Blockchain> chain;
  std::unique_ptr<TransactionPool> pool;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<ConsensusEngine> engine;
  std::uint64_t forged_apart_slot = 0;  // the last slot it forged apart (double or withheld)
  std::uint64_t stalled_until = 0;      // ms: a stall fault's end
  std::uint64_t byzantine_height = 0;   // the head its extra votes last went to
  std::uint64_t surround_epoch = 0;     // the epoch of its last surround vote, plus one
  bool surround_due = false;
  std::uint64_t incarnation = 0;   // raised by each start: an older tick chain stops
  std::uint64_t sync_request = 0;  // the request out, 0 for none
  Checkpoint finalized;            // as last checked
  Hash checked_tip;                // the tip whose state was last compared
  std::uint64_t finality_rose_slot = 0;
};

std::string short_hex(const Hash& hash) {
  return hash.hex().substr(0, 8);
}

class World {
 public:
  explicit World(const Scenario& scenario);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  Report run();

  // The network: a message from one node to another, delayed, lost or cut as the model says.
  void send(std::size_t from, std::size_t to, MessagePtr message);
  // send(), told whether `to` holds everything the message carries (none: it asks).
  void transmit(std::size_t from, std::size_t to, MessagePtr message, std::optional<bool> held);
  void broadcast(std::size_t from, PeerId except, MessagePtr message);
  std::size_t reachable_peers(std::size_t self) const;
  void note_own_vote(std::size_t node, const VotePtr& vote);
  // Marks the vote as seen by the node's p2p layer; false if it had been.
  bool mark_seen(std::size_t node, const Vote& vote);
  bool suppresses_blocks(std::size_t node, const BlockPtr& block) const {
    return nodes_[node].policy == Policy::kDoubleBlocks && block->forger() == key_of(node);
  }
  bool whole() const {
    return std::all_of(side_.begin(), side_.end(), [&](std::size_t s) { return s == side_[0]; });
  }

 private:
  // A message's arrival (most events) carries no function: building one per message cost a
  // heap allocation each.
  struct Event {
    std::uint64_t at;
    std::size_t from = 0, to = 0;
    MessagePtr message;
    std::function<void()> act;
  };

  const PublicKey& key_of(std::size_t node) const { return nodes_[node].key->public_key(); }
  std::uint64_t now() const { return clock_.now_ms(); }
  std::uint64_t slot() const { return genesis_.params.slot_at(now()); }
  void schedule(std::uint64_t at, std::function<void()> act);
  void schedule_arrival(std::uint64_t at, std::size_t from, std::size_t to, MessagePtr message);
  void trace(const std::string& line);
  void fail(const std::string& violation);
  bool linked(std::size_t a, std::size_t b) const { return side_[a] == side_[b]; }
  bool holds_all(std::size_t node, const Message& m) const;
  bool has_seen(std::size_t node, const Vote& vote) const;
  // Forgets the entries of seen_votes_ first seen kSeenVotesSlots ago.
  void forget_old_seen_votes(std::uint64_t slot);
  void connect_peers();

  void start_node(Node& node);
  void stop_node(Node& node);
  Status open_storage(Node& node);
  CrashingStorage::Fate commit_fate();
  // Nodes whose storage crashed during the last event: stopped, and started again later.
  void stop_crashed();
  void tick(std::size_t node, std::uint64_t incarnation);
  bool takes_new_slot(Node& node, std::uint64_t s);
  void forge_double(Node& node);
  void forge_withheld(Node& node);
  void grind(Node& node);
  // nonce(epoch) on the node's chain with `block` (a child of its tip) added.
  Hash nonce_with(const Node& node, const Block& block, std::uint64_t epoch) const;
  void sign_extra_votes(Node& node);
  void note_offence(const Node& node);
  VotePtr sign_vote(const Node& node, std::uint64_t source_height, const BlockHeader& target) const;
  void arrive(std::size_t from, std::size_t to, const MessagePtr& message);
  void deliver(std::size_t from, std::size_t to, const Message& message);
  void request_blocks(std::size_t node, std::size_t peer);
  void apply_fault(const Fault& fault);
  void random_partitions(const Fault& window, std::uint64_t slot);
  void submit_load();
  void start_slot(std::uint64_t slot);

  void check_node(std::size_t index);
  void check_finality(Node& node);
  void check_liveness();
  void check_accountability();
  // Finalized blocks conflict: a violation, unless more than 1/3 of the stake is Byzantine.
  void conflicting_finality(const std::string& what);
  // The stake slashed on the node's chain (of two-faced validators only, if asked).
  std::uint64_t slashed_stake(const Node& node, bool two_faced_only = false) const;

  Scenario scenario_;
  Genesis genesis_;
  ManualClock clock_{kGenesisTimeMs};
  std::mt19937_64 random_;
  EventQueue<Event> queue_;
  std::vector<Node> nodes_;
  std::vector<std::size_t> side_;                // partition side of each node
  std::vector<std::uint64_t> link_free_;         // [from * nodes + to]: when the link is free
  std::vector<std::vector<std::size_t>> peers_;  // each node's connections, both ways
  std::uint64_t faults_over_slot_ = 0;
  std::uint64_t first_slot_ = 0;
  std::uint64_t genesis_supply_ = 0;  // no transaction mints in a run: supply never rises
  std::uint64_t next_request_ = 1;
  std::size_t next_client_ = 0;
  std::uint64_t random_heal_slot_ = 0;  // when the random split now in force heals
  bool random_split_ = false;           // the split in force is one random_partitions drew
  // Finalized checkpoints seen on any node: height -> (hash, the node whose chain holds it).
  std::map<std::uint64_t, std::pair<Hash, std::size_t>> finalized_;
  // Each honest validator's signed votes: (source height, target height, target hash).
  std::map<std::size_t, std::vector<VotePtr>> signed_;
  std::map<Hash, Hash> roots_;  // each tip any node reached -> the state root it had there
  // PeerNetwork's seen-set of vote ids, of every node at once: which nodes received each vote
  // (or sent their own). A node drops a seen vote unread, so none is sent to it; asked once
  // per vote relayed instead of once per peer in the peer's own vote pool.
  struct SeenVote {
    std::uint64_t first_slot = 0;
    std::vector<bool> by;  // by node index
  };
  // Ids are uniformly distributed: std::hash's first eight bytes serve as the hash.
  absl::flat_hash_map<Hash, SeenVote, std::hash<Hash>> seen_votes_;
  std::vector<Wallet> clients_;
  std::filesystem::path temp_dir_;                 // the nodes' LMDB dirs
  bool crashed_ = false;                           // a commit crashed its node during this event
  std::map<std::size_t, std::uint64_t> offences_;  // validator -> the slot of its first offence
  bool byzantine_over_third_ = false;
  std::optional<std::uint64_t> conflicted_slot_;
  std::deque<std::string> trace_;
  Report report_;
  bool failed_ = false;
};

void SimTransport::broadcast_block(const BlockPtr& block, PeerId except) {
  if (world_.suppresses_blocks(self_, block)) return;  // its own pair goes out apart
  auto m = std::make_shared<Message>();
  m->kind = Message::Kind::kBlock;
  m->block = block;
  world_.broadcast(self_, except, std::move(m));
}

void SimTransport::broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) {
  auto m = std::make_shared<Message>();
  m->kind = Message::Kind::kTxs;
  m->txs = txs;
  world_.broadcast(self_, except, std::move(m));
}

void SimTransport::broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) {
  for (const auto& vote : votes) {
    world_.note_own_vote(self_, vote);
    world_.mark_seen(self_, *vote);  // as PeerNetwork marks what its node sends
  }
  auto m = std::make_shared<Message>();
  m->kind = Message::Kind::kVotes;
  m->votes = votes;
  world_.broadcast(self_, except, std::move(m));
}

void SimTransport::broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) {
  auto m = std::make_shared<Message>();
  m->kind = Message::Kind::kEvidence;
  m->evidence = evidence;
  world_.broadcast(self_, except, std::move(m));
}

std::size_t SimTransport::ready_peers() const {
  return world_.reachable_peers(self_);
}

World::World(const Scenario& scenario) : scenario_(scenario), random_(scenario.seed) {
  genesis_.params.chain_id = "pos-sim";
  genesis_.params.genesis_time_ms = kGenesisTimeMs;
  genesis_.params.slot_ms = scenario.slot_ms;
  genesis_.params.epoch_slots = scenario.epoch_slots;
  nodes_.resize(scenario.validators);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    Node& node = nodes_[i];
    node.index = i;
    node.validator = i;
    const Hash seed = sha256(fmt::format("pos-sim/validator/{}", i));
    node.key = std::make_unique<Wallet>(SecretKey::from_seed(seed.view()));
    if (auto p = scenario.policies.find(i); p != scenario.policies.end()) node.policy = p->second;
    genesis_.allocations.push_back({node.key->public_key(), 1'000'000, kStake});
  }
  if (scenario.tx_per_slot > 0) {
    const std::size_t clients = std::clamp<std::size_t>(2 * scenario.tx_per_slot, 8, kMaxClients);
    for (std::size_t i = 0; i < clients; ++i) {
      clients_.emplace_back(
          SecretKey::from_seed(sha256(fmt::format("pos-sim/client/{}", i)).view()));
      genesis_.allocations.push_back({clients_.back().public_key(), kClientBalance, 0});
    }
  }
  genesis_.params.exchange_authority = nodes_[0].key->public_key();
  for (const auto& a : genesis_.allocations) genesis_supply_ += a.balance + a.stake;
  // Only keys that sign on both sides of a split can finalize conflicting blocks; other
  // Byzantine policies do not excuse a conflict (nor would their slashing account for one).
  std::size_t two_faced = 0;
  for (const auto& [index, policy] : scenario.policies)
    if (policy == Policy::kTwoFaced) ++two_faced;
  byzantine_over_third_ = 3 * two_faced > scenario.validators;
  // A two-faced validator's second node, after the validators (nodes_ never grows again: the
  // nodes' callbacks hold their addresses).
  for (std::size_t i = 0; i < scenario.validators; ++i) {
    if (nodes_[i].policy != Policy::kTwoFaced) continue;
    Node twin;
    twin.index = nodes_.size();
    twin.validator = i;
    twin.key = std::make_unique<Wallet>(SecretKey::from_seed(nodes_[i].key->secret_key().seed()));
    twin.policy = Policy::kTwoFaced;
    nodes_.push_back(std::move(twin));
  }
  side_.assign(nodes_.size(), 0);
  report_.seed = scenario.seed;
  if (scenario.storage == Scenario::StorageKind::kLmdb) {
    // Unique per process and world: runs of one seed in two processes must not share dirs.
    static std::atomic<std::uint64_t> worlds = 0;
    temp_dir_ =
        std::filesystem::temp_directory_path() / fmt::format("pos-sim-{}-{}", ::getpid(), ++worlds);
    std::filesystem::remove_all(temp_dir_);
    std::filesystem::create_directories(temp_dir_);
  }
}

World::~World() {
  for (auto& node : nodes_) {
    node.engine.reset();
    node.chain.reset();
    node.faulty.reset();
    node.storage.reset();
  }
  if (!temp_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
  }
}

void World::schedule(std::uint64_t at, std::function<void()> act) {
  queue_.push(Event{at, 0, 0, nullptr, std::move(act)});
}

void World::schedule_arrival(std::uint64_t at, std::size_t from, std::size_t to,
                             MessagePtr message) {
  queue_.push(Event{at, from, to, std::move(message), nullptr});
}

void World::trace(const std::string& line) {
  trace_.push_back(fmt::format("{} ms: {}", now() - kGenesisTimeMs, line));
  if (trace_.size() > kTraceLines) trace_.pop_front();
}

void World::fail(const std::string& violation) {
  if (failed_) return;
  failed_ = true;
  report_.ok = false;
  report_.violation = violation;
  trace("VIOLATION: " + violation);
}

Status World::open_storage(Node& node) {
  if (scenario_.storage == Scenario::StorageKind::kMemory) {
    if (!node.storage) node.storage = std::make_unique<MemoryStorage>();
  } else {
    // Closed and opened again, as a restarted process opens its data dir. Until then the closed
    // node's store stays open for the invariants' reads of what it had committed.
    node.faulty.reset();
    node.storage.reset();
    LmdbOptions options;
    options.sync = false;  // a simulated crash loses no committed transaction
    options.initial_map_size = std::size_t{8} << 20;
    auto opened = LmdbStorage::open(temp_dir_ / fmt::format("node-{}", node.index), options);
    if (!opened.ok()) return opened.error();
    node.storage = std::move(*opened);
  }
  node.faulty = std::make_unique<CrashingStorage>(*node.storage, [this] { return commit_fate(); });
  return {};
}

CrashingStorage::Fate World::commit_fate() {
  if (scenario_.commit_crash <= 0 || !std::bernoulli_distribution(scenario_.commit_crash)(random_))
    return CrashingStorage::Fate::kCommit;
  crashed_ = true;
  return std::bernoulli_distribution(0.5)(random_) ? CrashingStorage::Fate::kCrashAfter
                                                   : CrashingStorage::Fate::kCrashBefore;
}

void World::stop_crashed() {
  if (!std::exchange(crashed_, false)) return;
  for (auto& node : nodes_) {
    if (!node.up || !node.faulty || !node.faulty->crashed()) continue;
    ++report_.commit_crashes;
    trace(fmt::format("n{} crashes at a commit", node.index));
    stop_node(node);
    const std::size_t index = node.index;
    schedule(genesis_.params.slot_start_ms(slot() + scenario_.restart_slots), [this, index] {
      Node& n = nodes_[index];
      if (n.up) return;
      trace(fmt::format("n{} restarts after its crash", index));
      start_node(n);
      check_node(index);
    });
  }
}

void World::start_node(Node& node) {
  if (auto opened = open_storage(node); !opened.ok())
    return fail(fmt::format("node {} cannot open its storage: {}", node.index, opened.error()));
  auto chain = Blockchain::open(genesis_, *node.faulty, clock_);
  if (!chain.ok())
    return fail(fmt::format("node {} cannot open its chain: {}", node.index, chain.error()));
  node.chain = std::move(*chain);
  node.faulty->arm();
  node.pool = std::make_unique<TransactionPool>(genesis_.params);
  node.transport = std::make_unique<SimTransport>(*this, node.index);
  const std::size_t index = node.index;
  auto engine_log = [this, index](const LogEvent& e) {
    trace(fmt::format("n{} {}", index, log_text(e.message, e.fields)));
  };
  node.engine = std::make_unique<ConsensusEngine>(
      *node.chain, *node.pool, clock_,
      Logger(function_log_sink(engine_log, LogLevel::kInfo), "consensus"));
  node.engine->set_transport(node.transport.get());
  ForgingOptions options;
  Node* self = &node;
  // A two-faced validator's second node signs only while the network is split.
  auto idle_face = [this, self] {
    return self->policy == Policy::kTwoFaced && self->index != self->validator && whole();
  };
  options.before_sign = [self, idle_face](std::uint64_t slot) -> Status {
    // These forge their blocks themselves (forge_double, forge_withheld), not through the engine.
    if (self->policy == Policy::kDoubleBlocks || self->policy == Policy::kWithholdBlocks ||
        self->policy == Policy::kGrinding || idle_face())
      return make_error(Reason::kInvalidArgument, "forges apart");
    if (auto ok = self->signing.check_block(slot); !ok.ok()) return ok;
    self->signing.record_block(slot);
    return {};
  };
  options.before_vote = [this, self, idle_face](std::uint64_t source,
                                                std::uint64_t target) -> Status {
    if (idle_face()) return make_error(Reason::kInvalidArgument, "this face is idle");
    if (auto ok = self->signing.check_vote(source, target); !ok.ok()) return ok;
    // Once an epoch, in place of this vote, one from genesis to the same head: around the last
    // vote it signed (whose source is above genesis, whose target is below this one).
    const std::uint64_t epoch = genesis_.params.epoch_of(slot()) + 1;
    if (self->policy == Policy::kSurroundVotes && self->surround_epoch != epoch &&
        self->signing.vote_source() >= 1) {
      self->surround_epoch = epoch;
      self->surround_due = true;
      self->signing.record_vote(self->signing.vote_source(), target);
      return make_error(Reason::kInvalidArgument, "signs a surround vote instead");
    }
    self->signing.record_vote(source, target);
    if (self->policy == Policy::kTwoFaced && self->index != self->validator) note_offence(*self);
    return {};
  };
  node.engine->start_forging(SecretKey::from_seed(node.key->secret_key().seed()), options);
  node.up = true;
  node.finalized = node.chain->finalized();
  node.finality_rose_slot = slot();
  // Ticks at an offset of its own, so that nodes do not all act at the same instant.
  const std::uint64_t incarnation = ++node.incarnation;
  schedule(now() + 1 + node.index % kTickMs,
           [this, index, incarnation] { tick(index, incarnation); });
}

void World::stop_node(Node& node) {
  node.up = false;
  node.engine.reset();
  node.transport.reset();
  node.pool.reset();
  node.chain.reset();
  node.faulty.reset();
  node.sync_request = 0;
  node.checked_tip = Hash{};  // the state rebuilt at restart is compared again
  for (auto& [id, seen] : seen_votes_) seen.by[node.index] = false;  // a new process's set
}

bool World::has_seen(std::size_t node, const Vote& vote) const {
  auto it = seen_votes_.find(vote.id());
  return it != seen_votes_.end() && it->second.by[node];
}

bool World::mark_seen(std::size_t node, const Vote& vote) {
  auto [it, fresh] = seen_votes_.try_emplace(vote.id());
  if (fresh) {
    it->second.first_slot = slot();
    it->second.by.resize(nodes_.size());
  }
  if (it->second.by[node]) return false;
  it->second.by[node] = true;
  return true;
}

void World::forget_old_seen_votes(std::uint64_t s) {
  if (s % kSeenVotesSlots != 0) return;
  for (auto it = seen_votes_.begin(); it != seen_votes_.end();) {
    if (it->second.first_slot + kSeenVotesSlots < s)
      seen_votes_.erase(it++);  // erasing leaves the other iterators valid
    else
      ++it;
  }
}

void World::tick(std::size_t index, std::uint64_t incarnation) {
  Node& node = nodes_[index];
  if (!node.up || node.incarnation != incarnation) return;  // a restart started a new chain
  if (now() < node.stalled_until) {
    schedule(node.stalled_until, [this, index, incarnation] { tick(index, incarnation); });
    return;
  }
  if (node.policy == Policy::kDoubleBlocks) forge_double(node);
  if (node.policy == Policy::kWithholdBlocks) forge_withheld(node);
  if (node.policy == Policy::kGrinding) grind(node);
  node.engine->on_tick();
  if (node.policy == Policy::kDoubleVotes || node.policy == Policy::kSurroundVotes ||
      node.policy == Policy::kVoteFlood)
    sign_extra_votes(node);
  check_node(index);
  schedule(now() + kTickMs, [this, index, incarnation] { tick(index, incarnation); });
}

// Whether the node leads slot `s` on its tip and has not forged apart for it yet (then it now
// has).
bool World::takes_new_slot(Node& node, std::uint64_t s) {
  if (s <= node.forged_apart_slot || s <= node.chain->tip().slot) return false;
  auto leader = node.chain->leader(s);
  if (!leader || *leader != node.key->public_key()) return false;
  node.forged_apart_slot = s;
  return true;
}

// Two blocks for each slot it leads: one to the even-numbered peers, one to the odd.
void World::forge_double(Node& node) {
  const std::uint64_t s = slot();
  if (!takes_new_slot(node, s)) return;
  const std::uint64_t start = genesis_.params.slot_start_ms(s);
  auto first = node.chain->forge(node.key->secret_key(), s, *node.pool, start + 1);
  auto second = node.chain->forge(node.key->secret_key(), s, *node.pool, start + 2);
  if (!first.ok() || !second.ok()) return;
  trace(fmt::format("n{} signs two blocks for slot {}", node.index, s));
  note_offence(node);
  (void)node.engine->receive_block(0, *first, BlockSource::kGossip);
  for (std::size_t peer : peers_[node.index]) {
    auto m = std::make_shared<Message>();
    m->kind = Message::Kind::kBlock;
    m->block = peer % 2 == 0 ? *first : *second;
    send(node.index, peer, std::move(m));
  }
}

// The block of each slot it leads, signed on time and released half a slot into the next slot.
void World::forge_withheld(Node& node) {
  const std::uint64_t s = slot();
  if (!takes_new_slot(node, s)) return;
  auto block =
      node.chain->forge(node.key->secret_key(), s, *node.pool, genesis_.params.slot_start_ms(s) + 1,
                        node.chain->select_votes(node.engine->votes().by_priority(), s));
  if (!block.ok()) return;
  trace(fmt::format("n{} withholds its block for slot {}", node.index, s));
  const std::size_t index = node.index;
  const std::uint64_t incarnation = node.incarnation;
  schedule(genesis_.params.slot_start_ms(s + 1) + scenario_.slot_ms / 2,
           [this, index, incarnation, block = *block] {
             Node& n = nodes_[index];
             if (!n.up || n.incarnation != incarnation) return;
             trace(fmt::format("n{} releases its block for slot {}", index, block->slot()));
             (void)n.engine->receive_block(0, block, BlockSource::kGossip);  // applied, relayed
             check_node(index);
           });
}

// The one choice v2 leaves a leader (docs/consensus.md, "Grinding"): in a run of its slots that
// ends its epoch, every other output of the epoch is known, so publishing or withholding its
// block picks between two nonces for two epochs later. Each block of the run is judged on its
// own (greedily), against the nonce the epoch would end with if no more block came.
void World::grind(Node& node) {
  const std::uint64_t s = slot();
  if (!takes_new_slot(node, s)) return;
  const ChainParams& params = genesis_.params;
  const PublicKey& me = node.key->public_key();
  auto block = node.chain->forge(node.key->secret_key(), s, *node.pool, params.slot_start_ms(s) + 1,
                                 node.chain->select_votes(node.engine->votes().by_priority(), s));
  if (!block.ok()) return;
  const std::uint64_t epoch = params.epoch_of(s);
  bool tail = true;
  for (std::uint64_t t = s + 1; t < (epoch + 1) * params.epoch_slots && tail; ++t)
    tail = node.chain->leader(t) == me;
  if (tail) {
    const Blockchain::EpochDraw without = node.chain->epoch_draw(epoch + 2);
    const Hash with = nonce_with(node, **block, epoch + 2);
    int led_without = -1, led_with = 0;  // withholding costs the block itself
    for (std::uint64_t t = (epoch + 2) * params.epoch_slots; t < (epoch + 3) * params.epoch_slots;
         ++t) {
      led_without += without.validators->leader(without.nonce, t) == me;
      led_with += without.validators->leader(with, t) == me;
    }
    if (led_without > led_with) {
      ++report_.withheld_blocks;
      trace(
          fmt::format("n{} withholds its block for slot {} for {} slots in epoch {} instead of {}",
                      node.index, s, led_without + 1, epoch + 2, led_with));
      return;
    }
  }
  (void)node.engine->receive_block(0, *block, BlockSource::kGossip);  // applied and sent
}

Hash World::nonce_with(const Node& node, const Block& block, std::uint64_t epoch) const {
  const Blockchain& chain = *node.chain;
  const ChainParams& params = genesis_.params;
  auto stored = node.storage->epoch_nonces(chain.tip_hash());
  if (!stored) throw std::logic_error("the tip has no stored nonces");
  // The VRF outputs of the tip's epoch on its chain, in height order.
  std::vector<VrfOutput> outputs;
  for (std::uint64_t h = chain.height(); h > 0; --h) {
    BlockPtr b = chain.block_at(h);
    if (!b) throw StorageError(fmt::format("the main chain lacks its block at height {}", h));
    if (params.epoch_of(b->slot()) != stored->epoch) break;
    outputs.push_back(vrf_proof_to_hash(b->header().vrf_proof).value());
  }
  std::reverse(outputs.begin(), outputs.end());
  const EpochState tip = EpochState::resume(stored->epoch, stored->nonce, stored->next, outputs);
  return tip
      .child(params.epoch_of(block.slot()), vrf_proof_to_hash(block.header().vrf_proof).value())
      .nonce_of(epoch);
}

VotePtr World::sign_vote(const Node& node, std::uint64_t source_height,
                         const BlockHeader& target) const {
  BlockPtr source = node.chain->block_at(source_height);
  if (!source) return nullptr;
  return Vote::sign(VoteFields{genesis_.params.chain_id, node.key->public_key(), source->hash(),
                               source_height, target.hash(), target.height},
                    node.key->secret_key());
}

// The votes a Byzantine voter signs besides its honest ones, each to every peer.
void World::sign_extra_votes(Node& node) {
  const BlockHeader& head = node.chain->tip();
  if (head.height <= node.byzantine_height || head.height < 2 ||
      !node.chain->is_voter(node.key->public_key()))
    return;
  std::vector<std::uint64_t> sources;
  switch (node.policy) {
    case Policy::kDoubleVotes:
      sources = {0, 1};
      break;
    case Policy::kVoteFlood:
      for (std::uint64_t k = 1; k <= std::min<std::uint64_t>(16, head.height); ++k)
        sources.push_back(head.height - k);
      break;
    case Policy::kSurroundVotes:
      // Once an epoch, instead of its honest vote for a new head (before_vote asks).
      if (!node.surround_due) return;
      node.surround_due = false;
      sources = {0};
      break;
    default:
      return;
  }
  node.byzantine_height = head.height;
  auto m = std::make_shared<Message>();
  m->kind = Message::Kind::kVotes;
  for (std::uint64_t source : sources)
    if (VotePtr vote = sign_vote(node, source, head)) m->votes.push_back(vote);
  if (m->votes.empty()) return;
  trace(fmt::format("n{} signs {} extra votes for height {}", node.index, m->votes.size(),
                    head.height));
  note_offence(node);
  broadcast(node.index, 0, std::move(m));
}

void World::note_offence(const Node& node) {
  offences_.emplace(node.validator, slot());
}

std::size_t World::reachable_peers(std::size_t self) const {
  std::size_t n = 0;
  for (std::size_t i : peers_[self])
    if (nodes_[i].up && linked(self, i)) ++n;
  return n;
}

void World::broadcast(std::size_t from, PeerId except, MessagePtr message) {
  // A single vote's seen-set entry is looked up once for all the peers.
  const SeenVote* seen = nullptr;
  if (message->kind == Message::Kind::kVotes && message->votes.size() == 1)
    if (auto it = seen_votes_.find(message->votes.front()->id()); it != seen_votes_.end())
      seen = &it->second;
  for (std::size_t to : peers_[from]) {
    if (to + 1 == except) continue;
    if (seen)
      transmit(from, to, message, seen->by[to]);
    else
      send(from, to, message);
  }
}

// Whether `node` holds everything the message carries: the p2p layer's seen-sets (and an
// announce-then-fetch gossip) would spare it the message, so the model does not send it.
bool World::holds_all(std::size_t node, const Message& m) const {
  const ConsensusEngine& engine = *nodes_[node].engine;
  switch (m.kind) {
    case Message::Kind::kVotes:
      return std::all_of(m.votes.begin(), m.votes.end(),
                         [&](const VotePtr& v) { return has_seen(node, *v); });
    case Message::Kind::kTxs:
      return std::all_of(m.txs.begin(), m.txs.end(),
                         [&](const TransactionPtr& t) { return engine.has_transaction(t->id()); });
    case Message::Kind::kEvidence:
      return std::all_of(m.evidence.begin(), m.evidence.end(),
                         [&](const EvidencePtr& e) { return engine.has_evidence(e->id()); });
    case Message::Kind::kBlock:
      return nodes_[node].chain->knows(m.block->hash());
    default:
      return false;
  }
}

void World::send(std::size_t from, std::size_t to, MessagePtr message) {
  transmit(from, to, std::move(message), std::nullopt);
}

void World::transmit(std::size_t from, std::size_t to, MessagePtr message,
                     std::optional<bool> held) {
  // A node that crashed during this event sends nothing more.
  if (nodes_[from].faulty && nodes_[from].faulty->crashed()) return;
  if (!nodes_[to].up || !linked(from, to)) return;
  if (held ? *held : holds_all(to, *message)) return;
  std::uint64_t departs = now();
  if (const std::uint64_t kbps = scenario_.link.bandwidth_kbps; kbps > 0) {
    // One message at a time on each direction of a link, at its rate (bits per ms = kbps).
    std::uint64_t& free = link_free_[from * nodes_.size() + to];
    departs = std::max(now(), free) + (wire_bytes(*message) * 8 + kbps - 1) / kbps;
    free = departs;
  }
  if (scenario_.link.loss > 0 && std::bernoulli_distribution(scenario_.link.loss)(random_)) return;
  std::uint64_t delay = std::uniform_int_distribution<std::uint64_t>(
      scenario_.link.min_ms, scenario_.link.max_ms)(random_);
  schedule_arrival(departs + delay, from, to, std::move(message));
}

void World::arrive(std::size_t from, std::size_t to, const MessagePtr& message) {
  // Down, or cut off since it was sent: lost.
  if (!nodes_[to].up || !nodes_[from].up || !linked(from, to)) return;
  // A stalled node reads it when it resumes, in the order it came.
  if (now() < nodes_[to].stalled_until)
    return schedule_arrival(nodes_[to].stalled_until, from, to, message);
  deliver(from, to, *message);
}

void World::deliver(std::size_t from, std::size_t to, const Message& message) {
  Node& node = nodes_[to];
  ConsensusEngine& engine = *node.engine;
  const PeerId peer = from + 1;
  switch (message.kind) {
    case Message::Kind::kBlock: {
      Status result = engine.receive_block(peer, message.block, BlockSource::kGossip);
      if (!result.ok() && result.reason() == Reason::kUnknownParent) request_blocks(to, from);
      break;
    }
    case Message::Kind::kTxs:
      (void)engine.receive_transactions(peer, message.txs);
      break;
    case Message::Kind::kVotes: {
      // Copies that raced another path here are dropped before the engine, as PeerNetwork drops
      // the votes it has seen.
      std::vector<VotePtr> fresh;
      for (const auto& vote : message.votes)
        if (mark_seen(to, *vote)) fresh.push_back(vote);
      if (!fresh.empty()) (void)engine.receive_votes(peer, fresh);
      break;
    }
    case Message::Kind::kEvidence:
      (void)engine.receive_evidence(peer, message.evidence);
      break;
    case Message::Kind::kGetBlocks: {
      if (node.policy == Policy::kLyingHeights) break;  // it claimed blocks it never sends
      auto answer = std::make_shared<Message>();
      answer->kind = Message::Kind::kBlocks;
      answer->blocks = engine.blocks_after(message.locator, kSyncBatch, kSyncBytes);
      send(to, from, std::move(answer));
      break;
    }
    case Message::Kind::kBlocks: {
      node.sync_request = 0;
      bool progressed = false;
      for (const auto& block : message.blocks) {
        Status result = engine.receive_block(peer, block, BlockSource::kSync);
        if (result.ok()) progressed = true;
        // The rest of a conflicting chain still goes to the engine, which looks in its votes.
        if (!result.ok() && result.reason() != Reason::kAlreadyKnown &&
            result.reason() != Reason::kConflictsFinalized)
          break;
      }
      if (progressed && message.blocks.size() == kSyncBatch) request_blocks(to, from);
      break;
    }
  }
  check_node(to);
}

// One request out at a time; one whose answer never comes is given up after a while.
void World::request_blocks(std::size_t node, std::size_t peer) {
  Node& n = nodes_[node];
  if (n.sync_request != 0) return;
  const std::uint64_t id = next_request_++;
  n.sync_request = id;
  auto m = std::make_shared<Message>();
  m->kind = Message::Kind::kGetBlocks;
  m->locator = n.engine->locator();
  send(node, peer, std::move(m));
  schedule(now() + kSyncTimeoutMs, [this, node, id] {
    if (nodes_[node].sync_request == id) nodes_[node].sync_request = 0;
  });
}

void World::apply_fault(const Fault& fault) {
  switch (fault.kind) {
    case Fault::Kind::kPartition:
      random_split_ = false;  // this split is the fault's (random_partitions sets it again)
      for (std::size_t i = 0; i < scenario_.validators; ++i)
        side_[i] = i < fault.sides.size() ? fault.sides[i] : 0;
      for (std::size_t i = scenario_.validators; i < nodes_.size(); ++i)
        side_[i] = side_[nodes_[i].validator] == 0 ? 1 : 0;
      trace("partition");
      break;
    case Fault::Kind::kHeal:
      random_split_ = false;
      side_.assign(side_.size(), 0);
      trace("heal");
      break;
    case Fault::Kind::kCrash:
      for (auto& node : nodes_)
        if (node.validator == fault.node && node.up) stop_node(node);
      trace(fmt::format("crash n{}", fault.node));
      break;
    case Fault::Kind::kStall:
      for (auto& node : nodes_)
        if (node.validator == fault.node)
          node.stalled_until = genesis_.params.slot_start_ms(slot() + fault.slots);
      trace(fmt::format("stall n{} for {} slots", fault.node, fault.slots));
      break;
    case Fault::Kind::kRandomPartitions:
      break;  // start_slot draws them
    case Fault::Kind::kRestart:
      for (auto& node : nodes_)
        if (node.validator == fault.node && !node.up && node.policy != Policy::kOffline)
          start_node(node);
      trace(fmt::format("restart n{}", fault.node));
      break;
  }
}

// At each slot's start: its faults, then peers that are behind ask a random peer for blocks (the
// hello of p2p: a node learns a peer's height on connecting), then liveness.
void World::start_slot(std::uint64_t s) {
  // Faults due before the run's first slot happen at it.
  for (const auto& fault : scenario_.faults) {
    if (fault.at_slot == s || (s == first_slot_ && fault.at_slot < s)) apply_fault(fault);
    if (fault.kind == Fault::Kind::kRandomPartitions) random_partitions(fault, s);
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].up || peers_[i].empty()) continue;
    std::size_t peer =
        peers_[i][std::uniform_int_distribution<std::size_t>(0, peers_[i].size() - 1)(random_)];
    if (!nodes_[peer].up || !linked(i, peer)) continue;
    const bool lies = nodes_[peer].policy == Policy::kLyingHeights;
    if (lies || nodes_[peer].engine->tip_height() > nodes_[i].engine->tip_height())
      request_blocks(i, peer);
  }
  submit_load();
  forget_old_seen_votes(s);
  check_liveness();
  check_accountability();
  if (s < scenario_.slots) {
    schedule(genesis_.params.slot_start_ms(s + 1), [this, s] { start_slot(s + 1); });
  }
}

// Each client in turn sends one unit to another, to a random node that is up, with the next
// nonce that node knows of (its chain's, after the client's transactions in its pool).
void World::submit_load() {
  if (clients_.empty()) return;
  std::vector<std::size_t> up;
  for (const auto& node : nodes_)
    if (node.up) up.push_back(node.index);
  if (up.empty()) return;
  std::uniform_int_distribution<std::size_t> any(0, up.size() - 1);
  for (std::uint64_t k = 0; k < scenario_.tx_per_slot; ++k) {
    const Wallet& from = clients_[next_client_++ % clients_.size()];
    const Wallet& to = clients_[next_client_ % clients_.size()];
    Node& node = nodes_[up[any(random_)]];
    const std::uint64_t nonce = node.chain->state().get(from.public_key()).nonce +
                                node.pool->pending_from(from.public_key()).size();
    auto tx = from.transfer(genesis_.params.chain_id, to.public_key(), 1, 1, nonce, now());
    if (node.engine->submit({tx}).at(0).ok()) ++report_.transactions_submitted;
    check_node(node.index);
  }
}

// Heals only the splits it drew; a split from another fault is left to its own heal, and no
// split is drawn while one is in force.
void World::random_partitions(const Fault& window, std::uint64_t s) {
  if (s < window.at_slot || s > window.at_slot + window.slots) return;
  if (random_split_) {
    if (s >= random_heal_slot_ || s == window.at_slot + window.slots) apply_fault(Fault{});
    return;
  }
  if (!whole() || s == window.at_slot + window.slots || scenario_.validators < 2 ||
      !std::bernoulli_distribution(0.1)(random_))
    return;
  Fault split;
  split.kind = Fault::Kind::kPartition;
  for (std::size_t i = 0; i < scenario_.validators; ++i)
    split.sides.push_back(std::bernoulli_distribution(0.5)(random_) ? 1 : 0);
  // Two sides, each with someone on it: an all-one-side draw has one validator moved over.
  const std::size_t first = split.sides.front();
  if (std::all_of(split.sides.begin(), split.sides.end(),
                  [first](std::size_t side) { return side == first; })) {
    std::size_t& moved = split.sides[std::uniform_int_distribution<std::size_t>(
        0, scenario_.validators - 1)(random_)];
    moved = 1 - moved;
  }
  random_heal_slot_ = s + std::uniform_int_distribution<std::uint64_t>(5, 30)(random_);
  ++report_.random_splits;
  apply_fault(split);
  random_split_ = true;
}

void World::note_own_vote(std::size_t node, const VotePtr& vote) {
  const Node& n = nodes_[node];
  if (n.policy != Policy::kHonest || vote->validator() != n.key->public_key()) return;
  auto& history = signed_[node];
  for (const auto& before : history) {
    const std::uint64_t source = before->source_height(), target = before->target_height();
    if (before->id() == vote->id()) continue;  // the same vote sent again
    // Two different votes for one target height are slashable, whatever differs (evidence.cc).
    if (target == vote->target_height())
      return fail(
          fmt::format("honest validator {} signed a double vote for height {}", node, target));
    const bool surrounds = vote->source_height() < source && target < vote->target_height();
    const bool surrounded = source < vote->source_height() && vote->target_height() < target;
    if (surrounds || surrounded)
      return fail(fmt::format("honest validator {} signed a surround vote: {}->{} and {}->{}", node,
                              source, target, vote->source_height(), vote->target_height()));
  }
  history.push_back(vote);
}

// After each event, of the node it touched: the others did not change.
void World::check_node(std::size_t index) {
  Node& node = nodes_[index];
  if (!node.up || failed_) return;
  const Hash tip = node.engine->tip_hash();
  // With the same tip and finalized block as last checked, nothing checked below can differ.
  if (tip == node.checked_tip && node.chain->finalized() == node.finalized) return;
  check_finality(node);
  if (tip == node.checked_tip) return;
  node.checked_tip = tip;
  const Hash root = node.chain->state().state_root();
  auto [at, fresh] = roots_.emplace(tip, root);
  if (!fresh && at->second != root)
    fail(fmt::format("node {} holds another state than its tip {} had on another node", index,
                     short_hex(tip)));
  // Fees move between accounts and nothing mints; slashing burns a validator's stake.
  const std::uint64_t supply = node.chain->state().total_supply();
  const std::uint64_t expected = genesis_supply_ - slashed_stake(node);
  if (supply != expected)
    fail(
        fmt::format("node {} holds a supply of {} at its tip {}, not the genesis supply less "
                    "what slashing burned ({})",
                    index, supply, short_hex(tip), expected));
}

// A node's finalized block must be on the chain of every block finalized anywhere: checked
// against the highest recorded at or below it, and the lowest recorded above it (whose chain,
// below its own finalized height, never changes).
void World::check_finality(Node& node) {
  const Checkpoint finalized = node.chain->finalized();
  if (finalized.height > 0 && node.storage->main_chain_hash(finalized.height) != finalized.hash)
    return fail(fmt::format("node {}'s main chain left its finalized block {} at height {}",
                            node.index, short_hex(finalized.hash), finalized.height));
  if (finalized == node.finalized) return;
  if (finalized.height < node.finalized.height)
    return fail(fmt::format("node {}'s finalized height went down", node.index));
  // Lag, from node 0: the slots each newly finalized block waited.
  if (node.index == 0) {
    for (std::uint64_t h = node.finalized.height + 1; h <= finalized.height; ++h)
      if (BlockPtr b = node.chain->block_at(h)) report_.finality_lag.push_back(slot() - b->slot());
  }
  node.finalized = finalized;
  node.finality_rose_slot = slot();
  if (finalized.height == 0) return;
  auto below = finalized_.upper_bound(finalized.height);
  if (below != finalized_.begin()) {
    auto [height, recorded] = *std::prev(below);
    auto mine = node.storage->main_chain_hash(height);
    if (!mine || *mine != recorded.first)
      return conflicting_finality(
          fmt::format("node {} finalized {} at height {} on a chain without block {} finalized at "
                      "{} by node {}",
                      node.index, short_hex(finalized.hash), finalized.height,
                      short_hex(recorded.first), height, recorded.second));
  }
  if (below != finalized_.end()) {
    auto [height, recorded] = *below;
    auto theirs = nodes_[recorded.second].storage->main_chain_hash(finalized.height);
    if (!theirs || *theirs != finalized.hash)
      return conflicting_finality(fmt::format(
          "node {} finalized {} at height {}, not on the chain of {} finalized at {} by node {}",
          node.index, short_hex(finalized.hash), finalized.height, short_hex(recorded.first),
          height, recorded.second));
  }
  finalized_.emplace(finalized.height, std::make_pair(finalized.hash, node.index));
}

void World::conflicting_finality(const std::string& what) {
  if (!byzantine_over_third_) return fail(what);
  if (!conflicted_slot_) {
    conflicted_slot_ = slot();
    report_.finality_conflicted = true;
    trace("finalized chains conflict, as more than 1/3 of the stake may make them: " + what);
  }
}

std::uint64_t World::slashed_stake(const Node& node, bool two_faced_only) const {
  std::uint64_t slashed = 0;
  if (!node.chain->state().any_slashed()) return slashed;  // so at every tip of most runs
  for (std::size_t i = 0; i < scenario_.validators; ++i)
    if ((!two_faced_only || nodes_[i].policy == Policy::kTwoFaced) &&
        node.chain->state().get(key_of(i)).slashed)
      slashed += kStake;
  return slashed;
}

// Once the network has been whole for liveness_slots after a validator's first offence, every
// honest node's chain has slashed it; and after finalized chains conflicted, at least 1/3 of the
// stake (accountable safety: the votes that finalized both carry the evidence).
void World::check_accountability() {
  const std::uint64_t now_slot = slot();
  const std::uint64_t whole_since = std::max(faults_over_slot_, first_slot_);
  if (!whole()) return;
  for (const auto& node : nodes_) {
    if (!node.up || node.policy != Policy::kHonest) continue;
    for (const auto& [validator, offence] : offences_) {
      if (now_slot < std::max(offence, whole_since) + scenario_.liveness_slots) continue;
      if (!node.chain->state().get(key_of(validator)).slashed)
        return fail(fmt::format(
            "validator {} signed a slashable pair in slot {} and is not slashed on node {}'s chain "
            "{} slots later (K = {})",
            validator, offence, node.index, now_slot - std::max(offence, whole_since),
            scenario_.liveness_slots));
    }
    if (conflicted_slot_ &&
        now_slot >= std::max(*conflicted_slot_, whole_since) + scenario_.liveness_slots &&
        3 * slashed_stake(node, true) < kStake * scenario_.validators)
      return fail(fmt::format(
          "finalized chains conflict and node {}'s chain has slashed {} of {} staked of keys that "
          "signed on both sides: less than 1/3 (accountable safety)",
          node.index, slashed_stake(node, true), kStake * scenario_.validators));
  }
}

// Once the faults are over and more than 2/3 of the stake is honest and up, every honest node
// up must see finality rise within liveness_slots. Not once finalized chains conflict: no node
// leaves its finalized chain, so the network stays split for good.
void World::check_liveness() {
  const std::uint64_t now_slot = slot();
  if (now_slot < faults_over_slot_ + scenario_.liveness_slots || !whole() || conflicted_slot_)
    return;
  const Node* judge = nullptr;
  for (const auto& node : nodes_)
    if (node.up && node.policy == Policy::kHonest) judge = judge ? judge : &node;
  if (!judge) return;
  const auto& stakers = judge->chain->state().stakers();
  std::uint64_t total = 0, honest_up = 0;
  for (const auto& [address, stake] : stakers) total += stake;
  for (const auto& node : nodes_) {
    if (!node.up || node.policy != Policy::kHonest) continue;
    if (auto it = stakers.find(node.key->public_key()); it != stakers.end())
      honest_up += it->second;
  }
  if (3 * honest_up <= 2 * total) return;
  for (const auto& node : nodes_) {
    if (!node.up || node.policy != Policy::kHonest) continue;
    const std::uint64_t since = std::max(node.finality_rose_slot, faults_over_slot_);
    if (now_slot - since > scenario_.liveness_slots)
      return fail(fmt::format(
          "node {}'s finalized height stayed at {} for {} slots with the network whole (K = {})",
          node.index, node.finalized.height, now_slot - since, scenario_.liveness_slots));
  }
}

// Every node to every other when there are few; else a ring (so that the graph is connected)
// and random links until each node has about `degree` peers: a diameter of a few hops, as a
// network of nodes dialling random addresses has.
void World::connect_peers() {
  const std::size_t n = scenario_.validators;
  std::vector<std::set<std::size_t>> links(n);
  auto link = [&](std::size_t a, std::size_t b) {
    if (a == b) return;
    links[a].insert(b);
    links[b].insert(a);
  };
  if (scenario_.degree == 0 || n <= scenario_.degree + 1) {
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) link(a, b);
  } else {
    for (std::size_t a = 0; a < n; ++a) link(a, (a + 1) % n);
    std::uniform_int_distribution<std::size_t> any(0, n - 1);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t tries = 0; links[a].size() < scenario_.degree && tries < 4 * n; ++tries)
        link(a, any(random_));
  }
  // A two-faced validator's second node has its first's peers.
  links.resize(nodes_.size());
  for (std::size_t twin = n; twin < nodes_.size(); ++twin)
    for (std::size_t peer : std::set<std::size_t>(links[nodes_[twin].validator])) link(twin, peer);
  peers_.resize(nodes_.size());
  for (std::size_t a = 0; a < nodes_.size(); ++a)
    peers_[a].assign(links[a].begin(), links[a].end());
}

Report World::run() {
  auto started = std::chrono::steady_clock::now();
  for (const auto& fault : scenario_.faults)
    faults_over_slot_ = std::max(
        faults_over_slot_, fault.at_slot + (fault.kind == Fault::Kind::kStall ||
                                                    fault.kind == Fault::Kind::kRandomPartitions
                                                ? fault.slots
                                                : 0));
  link_free_.assign(nodes_.size() * nodes_.size(), 0);
  connect_peers();
  for (auto& node : nodes_) {
    if (node.policy != Policy::kOffline) start_node(node);
  }
  const std::uint64_t first_slot = first_slot_ = slot() + 1;
  schedule(genesis_.params.slot_start_ms(first_slot),
           [this, first_slot] { start_slot(first_slot); });
  const std::uint64_t end = genesis_.params.slot_start_ms(first_slot + scenario_.slots);
  while (!queue_.empty() && !failed_) {
    if (queue_.next_at() >= end) break;
    Event event = queue_.pop();
    clock_.set(event.at);
    if (event.message)
      arrive(event.from, event.to, event.message);
    else
      event.act();
    stop_crashed();
    ++report_.events;
  }
  report_.slots_run = std::max(slot(), first_slot) - first_slot;
  report_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (std::size_t i = 0; i < scenario_.validators; ++i) {
    const Node& node = nodes_[i];
    report_.tips.push_back(node.up ? node.engine->tip_hash() : Hash{});
    report_.finalized.push_back(node.up ? node.chain->finalized_height() : 0);
  }
  for (const auto& [validator, slot] : offences_) report_.offenders.push_back(validator);
  report_.blocks_forged.assign(scenario_.validators, 0);
  if (nodes_[0].up) {
    const Blockchain& chain = *nodes_[0].chain;
    for (std::uint64_t h = 1; h <= chain.height(); ++h)
      if (BlockPtr b = chain.block_at(h)) {
        report_.evidence_included += b->evidence().size();
        for (std::size_t i = 0; i < scenario_.validators; ++i)
          if (b->forger() == key_of(i)) ++report_.blocks_forged[i];
        if (h <= chain.finalized_height()) report_.transactions_final += b->transactions().size();
      }
    for (std::size_t i = 0; i < scenario_.validators; ++i)
      if (chain.state().get(key_of(i)).slashed) report_.slashed.push_back(i);
  }
  report_.trace.assign(trace_.begin(), trace_.end());
  return report_;
}

Result<Fault::Kind> fault_named(std::string_view name) {
  if (name == "partition") return Fault::Kind::kPartition;
  if (name == "heal") return Fault::Kind::kHeal;
  if (name == "crash") return Fault::Kind::kCrash;
  if (name == "restart") return Fault::Kind::kRestart;
  if (name == "stall") return Fault::Kind::kStall;
  if (name == "random_partitions") return Fault::Kind::kRandomPartitions;
  return make_error(
      Reason::kInvalidArgument,
      fmt::format(
          "unknown fault \"{}\" (partition, heal, crash, restart, stall or random_partitions)",
          name));
}

}  // namespace

namespace {
constexpr std::pair<Policy, std::string_view> kPolicyNames[] = {
    {Policy::kHonest, "honest"},
    {Policy::kDoubleBlocks, "double_blocks"},
    {Policy::kOffline, "offline"},
    {Policy::kDoubleVotes, "double_votes"},
    {Policy::kSurroundVotes, "surround_votes"},
    {Policy::kWithholdBlocks, "withhold_blocks"},
    {Policy::kLyingHeights, "lying_heights"},
    {Policy::kVoteFlood, "vote_flood"},
    {Policy::kGrinding, "grinding"},
    {Policy::kTwoFaced, "two_faced"},
};
}  // namespace

Result<Scenario::StorageKind> parse_storage(std::string_view name) {
  if (name == "memory") return Scenario::StorageKind::kMemory;
  if (name == "lmdb") return Scenario::StorageKind::kLmdb;
  return make_error(Reason::kInvalidArgument,
                    fmt::format("unknown storage \"{}\" (memory or lmdb)", name));
}

std::string_view policy_name(Policy policy) {
  for (const auto& [p, name] : kPolicyNames)
    if (p == policy) return name;
  return "unknown";
}

Result<Policy> parse_policy(std::string_view name) {
  for (const auto& [policy, policy_name] : kPolicyNames)
    if (name == policy_name) return policy;
  std::vector<std::string_view> names;
  for (const auto& entry : kPolicyNames) names.push_back(entry.second);
  return make_error(Reason::kInvalidArgument,
                    fmt::format("unknown policy \"{}\" ({})", name, fmt::join(names, ", ")));
}

Report run(const Scenario& scenario) {
  if (scenario.validators == 0 || scenario.slot_ms == 0 || scenario.epoch_slots == 0 ||
      scenario.slot_ms > kMaxMs || scenario.slots > kMaxSlots || scenario.link.max_ms > kMaxMs ||
      scenario.link.max_ms < scenario.link.min_ms || scenario.tx_per_slot > kMaxTxPerSlot ||
      !(scenario.commit_crash >= 0 && scenario.commit_crash < 1) || scenario.restart_slots < 1 ||
      scenario.restart_slots > kMaxSlots || scenario.link.bandwidth_kbps > kMaxBandwidthKbps ||
      std::any_of(scenario.faults.begin(), scenario.faults.end(),
                  [](const Fault& f) { return f.slots > kMaxSlots; })) {
    Report refused;
    refused.seed = scenario.seed;
    refused.ok = false;
    refused.violation = "not a scenario to run: see pos/sim.h for its bounds";
    return refused;
  }
  World world(scenario);
  return world.run();
}

Result<Scenario> Scenario::from_json(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  auto invalid = [](const std::string& why) {
    return make_error(Reason::kInvalidArgument, "scenario: " + why);
  };
  if (doc.HasParseError() || !doc.IsObject()) return invalid("not a JSON object");
  Scenario s;
  auto u64 = [&](const rapidjson::Value& object, const char* name, std::uint64_t& out) -> Status {
    if (!object.HasMember(name)) return {};
    if (!object[name].IsUint64()) return invalid(fmt::format("{} must be a whole number", name));
    out = object[name].GetUint64();
    return {};
  };
  static const std::set<std::string> known = {
      "seed",        "validators", "slot_ms",      "epoch_slots",    "slots",
      "link",        "policies",   "faults",       "liveness_slots", "degree",
      "tx_per_slot", "storage",    "commit_crash", "restart_slots"};
  for (const auto& member : doc.GetObject())
    if (!known.contains(member.name.GetString()))
      return invalid(fmt::format("unknown key \"{}\"", member.name.GetString()));
  if (!doc.HasMember("validators")) return invalid("\"validators\" is required");
  std::uint64_t validators = 0, degree = s.degree;
  for (auto [name, out] : {std::pair<const char*, std::uint64_t*>{"seed", &s.seed},
                           {"validators", &validators},
                           {"slot_ms", &s.slot_ms},
                           {"epoch_slots", &s.epoch_slots},
                           {"slots", &s.slots},
                           {"liveness_slots", &s.liveness_slots},
                           {"tx_per_slot", &s.tx_per_slot},
                           {"restart_slots", &s.restart_slots},
                           {"degree", &degree}})
    if (auto ok = u64(doc, name, *out); !ok.ok()) return ok.error();
  if (validators < 1 || validators > 1000) return invalid("validators must be 1 to 1000");
  s.validators = validators;
  s.degree = degree;
  if (s.slot_ms < 10 || s.slot_ms > kMaxMs || s.epoch_slots < 1 || s.slots > kMaxSlots)
    return invalid("slot_ms 10 to 600000, epoch_slots at least 1, slots at most 1000000");
  if (s.tx_per_slot > kMaxTxPerSlot) return invalid("tx_per_slot is at most 10000");
  if (s.restart_slots < 1 || s.restart_slots > kMaxSlots)
    return invalid("restart_slots is 1 to 1000000");
  if (doc.HasMember("storage")) {
    if (!doc["storage"].IsString()) return invalid("storage must be \"memory\" or \"lmdb\"");
    auto kind = parse_storage(doc["storage"].GetString());
    if (!kind.ok()) return invalid(kind.error().message);
    s.storage = *kind;
  }
  if (doc.HasMember("commit_crash")) {
    const auto& p = doc["commit_crash"];
    if (!p.IsNumber() || p.GetDouble() < 0 || p.GetDouble() >= 1)
      return invalid("commit_crash must be a number in [0, 1)");
    s.commit_crash = p.GetDouble();
  }
  if (doc.HasMember("link")) {
    const auto& link = doc["link"];
    if (!link.IsObject()) return invalid("link must be an object");
    if (auto ok = u64(link, "min_ms", s.link.min_ms); !ok.ok()) return ok.error();
    if (auto ok = u64(link, "max_ms", s.link.max_ms); !ok.ok()) return ok.error();
    if (auto ok = u64(link, "bandwidth_kbps", s.link.bandwidth_kbps); !ok.ok()) return ok.error();
    if (s.link.bandwidth_kbps > kMaxBandwidthKbps)
      return invalid("link.bandwidth_kbps is at most 1000000000");
    if (link.HasMember("loss")) {
      if (!link["loss"].IsNumber() || link["loss"].GetDouble() < 0 || link["loss"].GetDouble() >= 1)
        return invalid("link.loss must be a number in [0, 1)");
      s.link.loss = link["loss"].GetDouble();
    }
    if (s.link.max_ms < s.link.min_ms) return invalid("link.max_ms is below link.min_ms");
    if (s.link.max_ms > kMaxMs) return invalid("link.max_ms is at most 600000");
  }
  if (doc.HasMember("policies")) {
    if (!doc["policies"].IsObject()) return invalid("policies must be an object");
    for (const auto& member : doc["policies"].GetObject()) {
      std::string index = member.name.GetString();
      if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos ||
          index.size() > 4 || std::stoul(index) >= s.validators)
        return invalid(fmt::format("policies: \"{}\" is not a validator's index", index));
      if (!member.value.IsString()) return invalid("policies: a policy is a string");
      auto policy = parse_policy(member.value.GetString());
      if (!policy.ok()) return invalid(policy.error().message);
      s.policies[std::stoul(index)] = *policy;
    }
  }
  if (doc.HasMember("faults")) {
    if (!doc["faults"].IsArray()) return invalid("faults must be an array");
    for (const auto& item : doc["faults"].GetArray()) {
      if (!item.IsObject() || !item.HasMember("kind") || !item["kind"].IsString())
        return invalid("a fault is an object with a \"kind\"");
      auto kind = fault_named(item["kind"].GetString());
      if (!kind.ok()) return invalid(kind.error().message);
      Fault fault;
      fault.kind = *kind;
      if (auto ok = u64(item, "at_slot", fault.at_slot); !ok.ok()) return ok.error();
      if (auto ok = u64(item, "slots", fault.slots); !ok.ok()) return ok.error();
      if (fault.slots < 1 || fault.slots > kMaxSlots)
        return invalid("a stall's slots are 1 to 1000000");
      std::uint64_t node = 0;
      if (auto ok = u64(item, "node", node); !ok.ok()) return ok.error();
      if (node >= s.validators) return invalid("a fault's node is not a validator's index");
      fault.node = node;
      if (item.HasMember("sides")) {
        if (!item["sides"].IsArray()) return invalid("sides must be an array");
        for (const auto& side : item["sides"].GetArray()) {
          if (!side.IsUint64()) return invalid("a side is a whole number");
          fault.sides.push_back(side.GetUint64());
        }
      }
      s.faults.push_back(fault);
    }
  }
  return s;
}

}  // namespace pos::sim
