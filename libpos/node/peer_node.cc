#include "pos/peer_node.h"

#include <algorithm>
#include <thread>

#include <time.h>

#include "pos/verifier.h"

namespace pos {
namespace {

constexpr std::uint64_t kTickMs = 100;
constexpr std::uint64_t kDiskCheckMs = 60'000;

// Warns while the file system holding `path` has less than `min_free` bytes available: LMDB
// refuses to grow its map on a full disk, and the node then stops taking blocks.
void check_disk(const Logger& log, const std::filesystem::path& path, std::uint64_t min_free) {
  std::error_code ec;
  auto space = std::filesystem::space(path, ec);
  if (ec) {
    log.warn("cannot read the free space of the data dir's disk",
             {{"path", path.string()}, {"error", ec.message()}});
    return;
  }
  if (space.available < min_free)
    log.warn("the data dir's disk is nearly full: free some space before the node stops",
             {{"path", path.string()},
              {"available_bytes", static_cast<std::uint64_t>(space.available)},
              {"min_free_bytes", min_free}});
}

}  // namespace

// What the loop thread owns, built and destroyed there, in dependency order.
struct PeerNode::Parts {
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Blockchain> chain;
  // Signature checks on every core: the loop thread and one worker per other core.
  SignatureVerifier verifier{std::max(1u, std::thread::hardware_concurrency()) - 1};
  std::unique_ptr<TransactionPool> pool;
  std::unique_ptr<ConsensusEngine> engine;
  std::unique_ptr<PeerNetwork> network;
  std::unique_ptr<EventLoop::Repeating> tick;  // the engine's slot clock
  std::unique_ptr<EventLoop::Repeating> disk_check;
};

Result<std::unique_ptr<PeerNode>> PeerNode::start(const Genesis& genesis,
                                                  std::unique_ptr<Storage> storage,
                                                  PeerNodeConfig config, const Clock& clock) {
  std::unique_ptr<PeerNode> node(new PeerNode());
  node->params_ = genesis.params;
  node->genesis_hash_ = genesis.hash();
  node->storage_ = storage.get();
  node->loop_ = std::make_unique<EventLoop>();
  Status started;
  node->loop_->call([&]() {
    auto parts = std::make_unique<Parts>();
    parts->storage = std::move(storage);
    auto chain = Blockchain::open(genesis, *parts->storage, clock);
    if (!chain.ok()) {
      started = chain.error();
      return;
    }
    parts->chain = std::move(*chain);
    if (config.checkpoint) {
      if (auto ok = parts->chain->require_block(*config.checkpoint); !ok.ok()) {
        started = ok.error();
        return;
      }
    }
    parts->chain->set_verifier(&parts->verifier);
    parts->pool = std::make_unique<TransactionPool>(genesis.params, config.pool_limits);
    parts->pool->set_verifier(&parts->verifier);
    parts->engine = std::make_unique<ConsensusEngine>(*parts->chain, *parts->pool, clock,
                                                      config.log.component("consensus"));
    if (config.sync_without_checkpoint) parts->engine->trust_peers_always();
    if (config.checkpoint) parts->engine->trust_checkpoint(*config.checkpoint);
    auto network =
        PeerNetwork::start(*node->loop_, std::move(config.network), genesis.params.chain_id,
                           node->genesis_hash_, *parts->engine, clock, config.log.component("p2p"));
    if (!network.ok()) {
      started = network.error();
      return;
    }
    parts->network = std::move(*network);
    parts->network->set_verifier(&parts->verifier);
    parts->engine->set_transport(parts->network.get());
    PeerNode* self = node.get();
    parts->engine->set_on_change([self]() { self->publish_status(); });
    ConsensusEngine* engine = parts->engine.get();
    parts->tick = node->loop_->every(kTickMs, [engine]() { engine->on_tick(); });
    if (!config.disk_path.empty()) {
      Logger store = config.log.component("store");
      check_disk(store, config.disk_path, config.min_free_disk_bytes);
      parts->disk_check = node->loop_->every(
          kDiskCheckMs, [store, path = config.disk_path, min_free = config.min_free_disk_bytes]() {
            check_disk(store, path, min_free);
          });
    }
    node->port_ = parts->network->port();
    node->node_id_ = parts->network->node_id();
    node->parts_ = std::move(parts);
    node->publish_status();
  });
  if (!started.ok()) return started.error();
  return node;
}

PeerNode::~PeerNode() {
  // The network first (no more messages for the engine), then what it reads.
  loop_->call([this]() {
    if (!parts_) return;
    parts_->tick.reset();
    parts_->disk_check.reset();
    parts_->engine->set_on_change({});
    parts_->engine->set_transport(nullptr);
    parts_->network.reset();
    parts_->engine.reset();
    parts_.reset();
  });
}

Status PeerNode::submit(const TransactionPtr& tx) {
  return submit_batch({tx}).front();
}

std::vector<Status> PeerNode::submit_batch(const std::vector<TransactionPtr>& txs) {
  // The signatures are checked here, on the caller's thread and the verifier's workers, so the
  // loop finds each verdict kept on its transaction; which are invalid the pool says.
  (void)parts_->verifier.verify_all(txs, SignatureVerifier::Priority::kBulk);
  return loop_->call_for([&]() { return parts_->engine->submit(txs); });
}

namespace {

double thread_cpu_seconds() {
  timespec t{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) != 0) return 0;
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace

void PeerNode::publish_status() {
  if (!parts_) return;  // still starting
  auto s = std::make_shared<NodeStatus>(parts_->engine->status());
  NetworkStatus n = parts_->network->status();
  s->peers = std::move(n.peers);
  s->banned = n.banned;
  s->known_addresses = n.known_addresses;
  s->syncing_from = n.syncing_from;
  s->counters.connections_dropped = n.connections_dropped;
  s->counters.signatures_checked = parts_->verifier.verified();
  s->counters.signature_cache_hits = parts_->verifier.cache_hits();
  s->event_loop_cpu_seconds = thread_cpu_seconds();  // this runs on the loop
  std::lock_guard lock(status_mutex_);
  status_ = std::move(s);
}

NodeStatus PeerNode::status() const {
  std::lock_guard lock(status_mutex_);
  return *status_;
}

void PeerNode::inspect(
    const std::function<void(const Blockchain&, const TransactionPool&)>& fn) const {
  loop_->call([&]() { fn(*parts_->chain, *parts_->pool); });
}

Result<BlockPtr> PeerNode::forge(const SecretKey& key, std::uint64_t slot) {
  return loop_->call_for([&]() { return parts_->engine->forge(key, slot); });
}

void PeerNode::start_forging(SecretKey key, ForgingOptions options) {
  loop_->call([&]() { parts_->engine->start_forging(std::move(key), std::move(options)); });
}

void PeerNode::stop_forging() {
  loop_->call([&]() { parts_->engine->stop_forging(); });
}

const TransactionPool& PeerNode::pool() const {
  return *parts_->pool;
}

ValidatorSetInfo PeerNode::validators(std::uint64_t epoch) const {
  return loop_->call_for([&]() {
    Blockchain::EpochDraw draw = parts_->chain->epoch_draw(epoch);
    ValidatorSetInfo set{epoch, draw.nonce, draw.validators->total_stake(), {}};
    // Lots are in public-key order: the addresses ascending.
    for (const Lot& lot : draw.validators->lots())
      set.validators.push_back({lot.staker, lot.stake});
    return set;
  });
}

std::vector<VotePtr> PeerNode::votes(const Hash& target) const {
  return loop_->call_for([&]() { return parts_->engine->votes().for_target(target); });
}

void PeerNode::connect(const std::string& address) {
  loop_->call([&]() { parts_->network->connect(address); });
}

void PeerNode::isolate() {
  loop_->call([&]() { parts_->network->isolate(); });
}

}  // namespace pos
