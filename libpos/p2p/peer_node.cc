// The peer network on the KJ event loop. One thread owns the loop, the chain, the pool and every
// peer; all of it is single-threaded. Other threads reach it through kj::Executor::executeSync.
//
// A connection: both sides send Hello at once; nothing else is accepted before the peer's Hello.
// Frames are read whole (size checked from the segment table first), decoded with bounded
// traversal, rate-limited per peer, and each refusal adds the reason's penalty (docs/consensus.md)
// to the peer's misbehaviour; at 100 the peer is banned for ban_ms and dropped.
#include "pos/peer_node.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <chrono>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>

#include "pos/p2p_messages.h"

namespace pos {
namespace {

using namespace p2p;

constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;
constexpr std::size_t kMaxAddressBook = 1000;
constexpr std::size_t kMaxSeenTxs = 100'000;
constexpr std::uint64_t kTickMs = 100;
constexpr std::uint64_t kSyncStallMs = 10'000;
constexpr std::size_t kMaxHeldBlocks = 64;
// A block further ahead of our clock than this is not clock skew but a lie.
constexpr std::uint64_t kMaxClockSkewMs = 60'000;
constexpr std::uint64_t kHeldLogMs = 10 * 60'000;

std::uint64_t steady_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::optional<PeerAddress> parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(std::string(text.substr(colon + 1)), &used);
    if (used != text.size() - colon - 1) return std::nullopt;
  } catch (...) {
    return std::nullopt;
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return PeerAddress{host, static_cast<std::uint16_t>(port)};
}

std::string to_string(const PeerAddress& a) {
  return a.host + ":" + std::to_string(a.port);
}

struct Peer {
  std::uint64_t id = 0;
  bool inbound = false;
  std::string remote;  // "ip:port" of the socket
  std::string remote_ip;
  std::optional<std::string> dialed;  // the address-book key of an outbound connection
  kj::Own<kj::AsyncIoStream> stream;
  bool ready = false;
  bool closing = false;
  Hello hello;
  int misbehaviour = 0;
  std::uint64_t connected_ms = 0;
  std::uint64_t last_frame_ms = 0;
  std::uint64_t last_ping_ms = 0;
  double tokens = 0;
  std::uint64_t tokens_ms = 0;
  bool blocks_requested = false;
  std::uint64_t blocks_requested_ms = 0;
  std::size_t queued_bytes = 0;
  kj::Promise<void> reading = nullptr;
  kj::Promise<void> sending = kj::READY_NOW;
};

struct AddressEntry {
  PeerAddress address;
  bool connected = false;  // a connection to it is open or being opened
  bool self = false;
  std::uint64_t next_attempt_ms = 0;
  std::uint64_t backoff_ms = 0;
};

// Everything that lives on the loop thread.
class Network final : private kj::TaskSet::ErrorHandler {
 public:
  Network(kj::AsyncIoContext& io, Blockchain& chain, TransactionPool& pool, const Clock& clock,
          const PeerNodeConfig& config, const Hash& node_id, std::string listen_address)
      : io_(io),
        chain_(chain),
        pool_(pool),
        clock_(clock),
        config_(config),
        node_id_(node_id),
        listen_address_(std::move(listen_address)),
        tasks_(*this) {
    for (const auto& seed : config_.seeds)
      if (auto a = parse_host_port(seed)) remember(*a);
    tasks_.add(tick());
  }

  void listen(kj::Own<kj::ConnectionReceiver> receiver) {
    receiver_ = kj::mv(receiver);
    tasks_.add(accept_loop());
  }

  Status submit(const TransactionPtr& tx) { return submit_batch({tx}).front(); }

  // Admits each, then gossips the accepted ones together: one message per 1,000, not one each.
  std::vector<Status> submit_batch(const std::vector<TransactionPtr>& txs) {
    std::vector<Status> verdicts;
    std::vector<TransactionPtr> accepted;
    for (const auto& tx : txs) {
      auto ok = pool_.add(tx, chain_.state(), clock_.now_ms());
      count_tx(ok, "rpc");
      if (ok.ok()) accepted.push_back(tx);
      verdicts.push_back(std::move(ok));
    }
    for (std::size_t i = 0; i < accepted.size(); i += kMaxTxsPerMessage)
      relay_txs(
          {accepted.begin() + static_cast<long>(i),
           accepted.begin() + static_cast<long>(std::min(i + kMaxTxsPerMessage, accepted.size()))},
          0);
    return verdicts;
  }

  void count_tx(const Status& verdict, const char* source) {
    if (verdict.ok())
      ++counters_.txs_accepted[source];
    else
      ++counters_.txs_refused[std::string(reason_code(verdict.reason()))];
  }

  void start_forging(SecretKey key, ForgingOptions options) {
    forger_.emplace(std::move(key));
    forging_ = std::move(options);
  }

  void stop_forging() { forger_.reset(); }

  Result<BlockPtr> forge(const SecretKey& key, std::uint64_t slot) {
    auto block = chain_.forge(key, slot, pool_, clock_.now_ms());
    if (!block.ok()) return block;
    auto applied = apply(*block, 0);
    if (!applied.ok()) return applied.error();
    ++counters_.blocks_forged;
    log("forged block " + std::to_string((*block)->height()) + " " + (*block)->hash().hex() +
        " in slot " + std::to_string(slot) + " with " +
        std::to_string((*block)->transactions().size()) + " transactions");
    return block;
  }

  // Applies a block; on success updates the pool and relays the block to all but `from`.
  Result<ApplyResult> apply(const BlockPtr& block, std::uint64_t from) {
    auto result = chain_.apply(block);
    if (result.ok()) {
      pool_.reconcile(result->connected, result->disconnected, chain_.state(), clock_.now_ms());
      relay(encode_frame(NewBlock{block}), from);
      if (from != 0) ++counters_.blocks_received;
      if (result->kind == ApplyResult::Kind::kReorganized) {
        ++counters_.reorganisations;
        log("reorganised to height " + std::to_string(chain_.height()) + " (" +
            std::to_string(result->disconnected.size()) + " blocks undone)");
      }
    }
    return result;
  }

  void connect(const std::string& address) {
    if (auto a = parse_host_port(address)) {
      auto& entry = remember(*a);
      entry.next_attempt_ms = 0;
      entry.self = false;
    }
  }

  void isolate() {
    book_.clear();
    for (auto& [id, peer] : peers_) drop(*peer, "isolated");
  }

  NodeStatus status() const {
    NodeStatus s;
    s.height = chain_.height();
    s.tip = chain_.tip_hash();
    s.state_root = chain_.state().state_root();
    s.pool_size = pool_.size();
    for (const auto& [id, peer] : peers_) {
      if (!peer->ready || peer->closing) continue;
      s.peers.push_back(PeerInfo{peer->remote, peer->hello.listen_address, peer->hello.node_id,
                                 peer->inbound, peer->hello.best_height, peer->misbehaviour});
    }
    s.banned = banned_ips_.size() + banned_nodes_.size();
    s.slot = chain_.params().slot_at(clock_.now_ms());
    for (const auto& [when, ahead] : held_log_) {
      ++s.held_back_blocks;
      s.max_slots_ahead = std::max(s.max_slots_ahead, ahead);
    }
    s.finalized_height = chain_.finalized_height();
    s.pool_bytes = pool_.bytes();
    s.forge_decided_slot = last_forge_slot_;
    s.counters = counters_;
    if (syncing_from_)
      if (auto it = peers_.find(*syncing_from_); it != peers_.end())
        s.syncing_from = it->second->hello.node_id;
    return s;
  }

 private:
  void taskFailed(kj::Exception&& exception) override {
    log("task failed: " + std::string(exception.getDescription().cStr()));
  }

  void log(const std::string& line) const {
    if (config_.log) config_.log(line);
  }

  AddressEntry& remember(const PeerAddress& a) {
    std::string key = to_string(a);
    auto it = book_.find(key);
    if (it == book_.end()) {
      if (book_.size() >= kMaxAddressBook) {
        for (auto e = book_.begin(); e != book_.end(); ++e)
          if (!e->second.connected) {
            book_.erase(e);
            break;
          }
      }
      it = book_
               .emplace(key, AddressEntry{a, false, key == listen_address_, 0,
                                          config_.redial_initial_ms})
               .first;
    }
    return it->second;
  }

  // ---- connections ------------------------------------------------------------------------

  kj::Promise<void> accept_loop() {
    return receiver_->accept().then([this](kj::Own<kj::AsyncIoStream> stream) {
      adopt(kj::mv(stream), true, std::nullopt);
      return accept_loop();
    });
  }

  void dial(AddressEntry& entry) {
    entry.connected = true;
    std::string key = to_string(entry.address);
    tasks_.add(io_.provider->getNetwork()
                   .parseAddress(entry.address.host, entry.address.port)
                   .then([](kj::Own<kj::NetworkAddress> addr) {
                     return addr->connect().attach(kj::mv(addr));
                   })
                   .then(
                       [this, key](kj::Own<kj::AsyncIoStream> stream) {
                         // Forgotten meanwhile (isolate()): the stream closes as it goes.
                         if (book_.contains(key)) adopt(kj::mv(stream), false, key);
                       },
                       [this, key](kj::Exception&&) { dial_failed(key); }));
  }

  void dial_failed(const std::string& key) {
    auto it = book_.find(key);
    if (it == book_.end()) return;
    it->second.connected = false;
    it->second.next_attempt_ms = steady_ms() + it->second.backoff_ms;
    it->second.backoff_ms = std::min(it->second.backoff_ms * 2, config_.redial_max_ms);
  }

  static std::string remote_of(kj::AsyncIoStream& stream, std::string& ip) {
    sockaddr_storage addr{};
    kj::uint len = sizeof(addr);
    try {
      stream.getpeername(reinterpret_cast<sockaddr*>(&addr), &len);
    } catch (...) {
      ip = "?";
      return "?";
    }
    char text[INET6_ADDRSTRLEN] = "?";
    std::uint16_t port = 0;
    if (addr.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
      port = ntohs(in->sin_port);
    } else if (addr.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      port = ntohs(in6->sin6_port);
    }
    ip = text;
    return ip + ":" + std::to_string(port);
  }

  void adopt(kj::Own<kj::AsyncIoStream> stream, bool inbound, std::optional<std::string> dialed) {
    auto peer = kj::heap<Peer>();
    peer->id = ++next_peer_id_;
    peer->inbound = inbound;
    peer->dialed = std::move(dialed);
    peer->remote = remote_of(*stream, peer->remote_ip);
    peer->stream = kj::mv(stream);
    peer->connected_ms = peer->last_frame_ms = peer->tokens_ms = steady_ms();
    peer->tokens = config_.max_messages_per_second;
    std::uint64_t now = clock_.now_ms();
    if (inbound) {
      std::size_t count = 0;
      for (const auto& [id, p] : peers_) count += p->inbound ? 1 : 0;
      auto ban = banned_ips_.find(peer->remote_ip);
      if (config_.ban_by_ip && ban != banned_ips_.end() && ban->second > now) return;
      if (count >= config_.max_inbound) return;  // dropping the stream closes it
    }
    Peer& p = *peer;
    peers_.emplace(p.id, kj::mv(peer));
    send(p, Hello{kProtocolVersion, chain_.params().chain_id, chain_.genesis_hash(), node_id_,
                  listen_address_, chain_.height(), chain_.tip_hash()});
    p.reading = read_loop(p).eagerlyEvaluate([this, &p](kj::Exception&& e) {
      drop(p, std::string("connection failed: ") + e.getDescription().cStr());
    });
    log(std::string(inbound ? "inbound" : "outbound") + " connection " + p.remote);
  }

  // Closes the connection once the loop is out of the peer's own callbacks.
  void drop(Peer& peer, const std::string& why) {
    if (peer.closing) return;
    peer.closing = true;
    ++counters_.connections_dropped;
    log("dropping peer " + peer.remote + ": " + why);
    if (peer.dialed) dial_failed(*peer.dialed);
    if (syncing_from_ == peer.id) syncing_from_.reset();
    std::uint64_t id = peer.id;
    tasks_.add(kj::evalLater([this, id]() { peers_.erase(id); }));
  }

  // Sends what is queued, then closes: for Reject.
  void close_after_send(Peer& peer, const std::string& why) {
    std::uint64_t id = peer.id;
    peer.sending = kj::mv(peer.sending).then([this, id, why]() {
      auto it = peers_.find(id);
      if (it != peers_.end()) drop(*it->second, why);
    });
  }

  void misbehave(Peer& peer, int penalty, const std::string& why) {
    if (penalty <= 0) return;
    peer.misbehaviour += penalty;
    log("peer " + peer.remote + " misbehaves (+" + std::to_string(penalty) + "): " + why);
    if (peer.misbehaviour < 100) return;
    std::uint64_t until = clock_.now_ms() + config_.ban_ms;
    if (config_.ban_by_ip) banned_ips_[peer.remote_ip] = until;
    if (peer.ready) banned_nodes_[peer.hello.node_id] = until;
    drop(peer, "banned: " + why);
  }

  void refuse(Peer& peer, const Error& error) {
    misbehave(peer, reason_info(error.reason).peer_penalty, error.to_string());
  }

  // ---- frames -----------------------------------------------------------------------------

  void send(Peer& peer, const Message& message) {
    send_frame(peer, std::make_shared<const Bytes>(encode_frame(message)));
  }

  void send_frame(Peer& peer, std::shared_ptr<const Bytes> frame) {
    if (peer.closing) return;
    if (peer.queued_bytes + frame->size() > kMaxQueuedBytes) {
      drop(peer, "its send queue is full");
      return;
    }
    peer.queued_bytes += frame->size();
    Peer* p = &peer;
    peer.sending = kj::mv(peer.sending)
                       .then([p, frame]() {
                         return p->stream->write(frame->data(), frame->size()).then([p, frame]() {
                           p->queued_bytes -= frame->size();
                         });
                       })
                       .eagerlyEvaluate([this, p](kj::Exception&& e) {
                         drop(*p, std::string("write failed: ") + e.getDescription().cStr());
                       });
  }

  void relay(const Bytes& frame, std::uint64_t except) {
    auto shared = std::make_shared<const Bytes>(frame);
    for (auto& [id, peer] : peers_)
      if (id != except && peer->ready) send_frame(*peer, shared);
  }

  void relay_txs(const std::vector<TransactionPtr>& txs, std::uint64_t except) {
    if (txs.empty()) return;
    for (const auto& tx : txs) remember_tx(tx->id());
    relay(encode_frame(Txs{txs}), except);
  }

  void remember_tx(const Hash& id) {
    if (seen_txs_.size() >= kMaxSeenTxs) seen_txs_.clear();
    seen_txs_.insert(id);
  }

  // Reads one frame: the segment table first, so that the size is known before allocating.
  kj::Promise<std::optional<Bytes>> read_frame(Peer& peer) {
    auto buffer = std::make_shared<Bytes>(8);
    Peer* p = &peer;
    return peer.stream->tryRead(buffer->data(), 8, 8)
        .then([this, p, buffer](std::size_t n) -> kj::Promise<std::optional<Bytes>> {
          if (n < 8) return std::optional<Bytes>();  // the peer closed the connection
          auto size = frame_size(*buffer);
          if (size.ok() && !*size) {
            std::uint64_t segments =
                std::uint64_t{(*buffer)[0]} | std::uint64_t{(*buffer)[1]} << 8 |
                std::uint64_t{(*buffer)[2]} << 16 | std::uint64_t{(*buffer)[3]} << 24;
            std::size_t table = static_cast<std::size_t>((4 + 4 * (segments + 1) + 7) / 8 * 8);
            buffer->resize(table);
            return p->stream->read(buffer->data() + 8, table - 8).then([this, p, buffer]() {
              return read_body(*p, buffer);
            });
          }
          return read_body(*p, buffer);
        });
  }

  kj::Promise<std::optional<Bytes>> read_body(Peer& peer, std::shared_ptr<Bytes> buffer) {
    auto size = frame_size(*buffer);
    if (!size.ok() || !*size) {
      misbehave(peer, 100, size.ok() ? "bad segment table" : size.error().message);
      return std::optional<Bytes>();
    }
    std::size_t have = buffer->size();
    buffer->resize(**size);
    return peer.stream->read(buffer->data() + have, **size - have).then([buffer]() {
      return std::optional<Bytes>(std::move(*buffer));
    });
  }

  kj::Promise<void> read_loop(Peer& peer) {
    Peer* p = &peer;
    return read_frame(peer).then([this, p](std::optional<Bytes> frame) -> kj::Promise<void> {
      if (!frame) {
        drop(*p, "connection closed");
        return kj::READY_NOW;
      }
      if (p->closing) return kj::READY_NOW;
      p->last_frame_ms = steady_ms();
      if (!take_token(*p)) {
        misbehave(*p, 10, "over its message rate");
      } else {
        auto message = decode_frame(*frame, chain_.params().chain_id);
        if (!message.ok())
          refuse(*p, message.error());
        else
          handle(*p, std::move(*message));
      }
      if (p->closing) return kj::READY_NOW;
      return read_loop(*p);
    });
  }

  bool take_token(Peer& peer) {
    std::uint64_t now = steady_ms();
    double rate = config_.max_messages_per_second;
    peer.tokens =
        std::min(2 * rate, peer.tokens + rate * static_cast<double>(now - peer.tokens_ms) / 1000.0);
    peer.tokens_ms = now;
    if (peer.tokens < 1) return false;
    peer.tokens -= 1;
    return true;
  }

  // ---- messages ---------------------------------------------------------------------------

  void handle(Peer& peer, Message message) {
    if (!peer.ready && !std::holds_alternative<Hello>(message)) {
      misbehave(peer, 100, std::string(message_kind(message)) + " before hello");
      return;
    }
    std::visit([&](auto& m) { on(peer, m); }, message);
  }

  void on(Peer& peer, Hello& hello) {
    if (peer.ready) {
      misbehave(peer, 20, "a second hello");
      return;
    }
    auto reject = [&](const std::string& code, const std::string& why) {
      send(peer, Reject{code, why});
      close_after_send(peer, why);
    };
    if (hello.protocol_version != kProtocolVersion)
      return reject("protocol_version",
                    "protocol version " + std::to_string(hello.protocol_version) +
                        ", this node speaks " + std::to_string(kProtocolVersion));
    if (hello.chain_id != chain_.params().chain_id || hello.genesis_hash != chain_.genesis_hash())
      return reject("wrong_chain", "chain \"" + hello.chain_id + "\" genesis " +
                                       hello.genesis_hash.hex() + "; this node is on chain \"" +
                                       chain_.params().chain_id + "\" genesis " +
                                       chain_.genesis_hash().hex());
    if (hello.node_id == node_id_) {
      if (peer.dialed) book_[*peer.dialed].self = true;
      return drop(peer, "connection to self");
    }
    auto ban = banned_nodes_.find(hello.node_id);
    if (ban != banned_nodes_.end() && ban->second > clock_.now_ms())
      return drop(peer, "banned node");
    for (const auto& [id, other] : peers_)
      if (other->ready && !other->closing && other->hello.node_id == hello.node_id)
        return drop(peer, "duplicate connection");
    peer.ready = true;
    peer.hello = hello;
    if (peer.dialed) book_[*peer.dialed].backoff_ms = config_.redial_initial_ms;
    if (auto a = parse_host_port(hello.listen_address)) {
      auto& entry = remember(*a);
      if (peer.dialed && *peer.dialed != to_string(*a)) {
        // Known under two names: keep the one the peer gives, mark it connected.
      }
      entry.connected = true;
    }
    send(peer, GetPeers{});
    log("peer " + peer.remote + " ready at height " + std::to_string(hello.best_height));
    if (better_than_us(peer) && !syncing_from_) request_blocks(peer);
  }

  bool better_than_us(const Peer& peer) const { return peer.hello.best_height > chain_.height(); }

  void on(Peer& peer, GetPeers&) { answer_get_peers(peer); }

  void on(Peer&, Peers& message) {
    if (!config_.discovery) return;
    for (const auto& a : message.peers)
      if (a.port != 0 && !a.host.empty()) remember(a);
  }

  void on(Peer& peer, Txs& message) {
    std::vector<TransactionPtr> accepted;
    for (const auto& tx : message.txs) {
      if (seen_txs_.contains(tx->id()) || pool_.contains(tx->id())) continue;
      remember_tx(tx->id());
      auto ok = pool_.add(tx, chain_.state(), clock_.now_ms());
      count_tx(ok, "p2p");
      if (ok.ok()) {
        accepted.push_back(tx);
      } else {
        refuse(peer, ok.error());
        if (peer.closing) break;
      }
    }
    relay_txs(accepted, peer.id);
  }

  void on(Peer& peer, NewBlock& message) {
    const BlockPtr& block = message.block;
    peer.hello.best_height = std::max(peer.hello.best_height, block->height());
    auto result = apply(block, peer.id);
    if (result.ok() || result.reason() == Reason::kAlreadyKnown) return;
    if (result.reason() == Reason::kUnknownParent) {
      if (!syncing_from_) request_blocks(peer);
      return;
    }
    if (result.reason() == Reason::kSlotInFuture &&
        chain_.params().slot_start_ms(block->slot()) <= clock_.now_ms() + kMaxClockSkewMs) {
      hold_back(block);
      return;
    }
    // Beyond any clock skew: not held (it would crowd out honest early blocks and make /health
    // blame our clock), and the peer pays the reason's penalty.
    refuse(peer, result.error());
  }

  // A block ahead of our clock is kept (a few of them) and tried again as the clock advances;
  // many of them mean that this node's clock is behind, which the log says.
  void hold_back(const BlockPtr& block) {
    if (held_.size() >= kMaxHeldBlocks) held_.erase(std::prev(held_.end()));
    held_.emplace(block->slot(), block);
    std::uint64_t now_slot = chain_.params().slot_at(clock_.now_ms());
    held_log_.emplace_back(steady_ms(), block->slot() > now_slot ? block->slot() - now_slot : 0);
    log("holding back block " + block->hash().hex() + " of slot " + std::to_string(block->slot()) +
        ": ahead of this node's clock (slot " +
        std::to_string(chain_.params().slot_at(clock_.now_ms())) +
        "); if this repeats, check the system clock");
  }

  void retry_held() {
    std::uint64_t slot = chain_.params().slot_at(clock_.now_ms());
    while (!held_.empty() && held_.begin()->first <= slot + 1) {
      BlockPtr block = held_.begin()->second;
      held_.erase(held_.begin());
      (void)apply(block, 0);
    }
  }

  void on(Peer& peer, GetBlocks& message) {
    std::uint64_t from = 1;
    for (const auto& hash : message.locator) {
      if (chain_.on_main_chain(hash)) {
        from = chain_.block(hash)->height() + 1;
        break;
      }
    }
    std::size_t count = std::min<std::size_t>(message.max_blocks, config_.sync_batch_blocks);
    count = std::min(count, kMaxBlocksPerMessage);
    send(peer, Blocks{chain_.main_chain_blocks(from, count, config_.sync_batch_bytes)});
  }

  void on(Peer& peer, Blocks& message) {
    if (!peer.blocks_requested) {
      misbehave(peer, 20, "blocks it was not asked for");
      return;
    }
    peer.blocks_requested = false;
    if (syncing_from_ == peer.id) syncing_from_.reset();
    // Pipelining: a full batch means more follow; ask for them before applying this one, so
    // that the peer reads and sends while this node verifies.
    if (!message.blocks.empty() && message.blocks.size() >= config_.sync_batch_blocks) {
      std::vector<Hash> locator = {message.blocks.back()->hash()};
      for (const auto& h : chain_.locator())
        if (locator.size() < kMaxLocatorHashes) locator.push_back(h);
      request_blocks(peer, std::move(locator));
    }
    bool progressed = false;
    for (const auto& block : message.blocks) {
      peer.hello.best_height = std::max(peer.hello.best_height, block->height());
      auto result = apply(block, peer.id);
      if (result.ok()) {
        progressed = true;
      } else if (result.reason() != Reason::kAlreadyKnown) {
        refuse(peer, result.error());
        return;
      }
    }
    if (progressed) log("synced to height " + std::to_string(chain_.height()));
    if (progressed && !peer.blocks_requested && better_than_us(peer)) request_blocks(peer);
  }

  void on(Peer& peer, Ping& ping) { send(peer, Pong{ping.nonce}); }
  void on(Peer&, Pong&) {}

  void on(Peer& peer, Reject& reject) {
    drop(peer, "rejected us: " + reject.code + ": " + reject.message);
  }

  void answer_get_peers(Peer& peer) {
    Peers answer;
    for (const auto& [id, other] : peers_) {
      if (id == peer.id || !other->ready || other->closing) continue;
      if (auto a = parse_host_port(other->hello.listen_address)) answer.peers.push_back(*a);
      if (answer.peers.size() >= kMaxPeersPerMessage) break;
    }
    send(peer, answer);
  }

  void request_blocks(Peer& peer) { request_blocks(peer, chain_.locator()); }

  void request_blocks(Peer& peer, std::vector<Hash> locator) {
    syncing_from_ = peer.id;
    peer.blocks_requested = true;
    peer.blocks_requested_ms = steady_ms();
    send(peer, GetBlocks{std::move(locator), config_.sync_batch_blocks});
  }

  // ---- the periodic tick ------------------------------------------------------------------

  kj::Promise<void> tick() {
    return io_.provider->getTimer().afterDelay(kTickMs * kj::MILLISECONDS).then([this]() {
      on_tick();
      return tick();
    });
  }

  void on_tick() {
    std::uint64_t now = steady_ms();
    std::size_t outbound = 0;
    for (auto& [id, peer] : peers_) {
      if (peer->closing) continue;
      if (!peer->inbound) ++outbound;
      if (!peer->ready && now - peer->connected_ms > config_.handshake_timeout_ms) {
        drop(*peer, "no hello in time");
      } else if (now - peer->last_frame_ms > config_.idle_timeout_ms) {
        drop(*peer, "silent for too long");
      } else if (peer->ready && now - peer->last_ping_ms > config_.ping_interval_ms) {
        peer->last_ping_ms = now;
        send(*peer, Ping{now});
      }
    }
    for (auto& [key, entry] : book_) {
      if (outbound >= config_.max_outbound) break;
      if (entry.connected || entry.self || entry.next_attempt_ms > now) continue;
      dial(entry);
      ++outbound;
    }
    // A sync whose peer went quiet or away moves to another peer that is ahead.
    if (syncing_from_) {
      auto it = peers_.find(*syncing_from_);
      if (it == peers_.end() || it->second->closing ||
          now - it->second->blocks_requested_ms > kSyncStallMs)
        syncing_from_.reset();
    }
    if (!syncing_from_) {
      for (auto& [id, peer] : peers_)
        if (peer->ready && !peer->closing && better_than_us(*peer)) {
          request_blocks(*peer);
          break;
        }
    }
    retry_held();
    while (!held_log_.empty() && now - held_log_.front().first > kHeldLogMs) held_log_.pop_front();
    maybe_forge();
    if (now - last_expiry_ms_ > 10'000) {
      last_expiry_ms_ = now;
      pool_.expire(clock_.now_ms());
    }
  }

  // The slot clock: forges once per slot that our key leads, when it has something to include,
  // unless a peer is ahead (then this node syncs first rather than fork from a stale tip).
  void maybe_forge() {
    if (!forger_) return;
    std::uint64_t slot = chain_.params().slot_at(clock_.now_ms());
    if (slot <= chain_.tip().slot || slot <= last_forge_slot_) return;
    last_forge_slot_ = slot;
    auto leader = chain_.leader(slot);
    if (!leader || *leader != forger_->public_key()) return;
    std::size_t ready = 0;
    for (const auto& [id, peer] : peers_) {
      if (!peer->ready || peer->closing) continue;
      if (better_than_us(*peer)) return;
      ++ready;
    }
    if (ready < forging_.min_peers) return;
    if (!forging_.allow_empty_blocks && pool_.ready(chain_.state()).empty()) return;
    if (forging_.before_sign) {
      auto ok = forging_.before_sign(slot);
      if (!ok.ok()) {
        log("not forging slot " + std::to_string(slot) + ": " + ok.error().to_string());
        return;
      }
    }
    auto block = forge(*forger_, slot);
    if (!block.ok())
      log("forging slot " + std::to_string(slot) + " failed: " + block.error().to_string());
  }

  kj::AsyncIoContext& io_;
  Blockchain& chain_;
  TransactionPool& pool_;
  const Clock& clock_;
  const PeerNodeConfig& config_;
  Hash node_id_;
  std::string listen_address_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  std::map<std::uint64_t, kj::Own<Peer>> peers_;
  std::map<std::string, AddressEntry> book_;
  std::map<std::string, std::uint64_t> banned_ips_;
  std::map<Hash, std::uint64_t> banned_nodes_;
  std::unordered_set<Hash> seen_txs_;
  std::optional<std::uint64_t> syncing_from_;
  std::uint64_t next_peer_id_ = 0;
  std::uint64_t last_expiry_ms_ = 0;
  NodeCounters counters_;
  std::optional<SecretKey> forger_;
  ForgingOptions forging_;
  std::uint64_t last_forge_slot_ = 0;
  std::multimap<std::uint64_t, BlockPtr> held_;                   // by slot
  std::deque<std::pair<std::uint64_t, std::uint64_t>> held_log_;  // (when, slots ahead)
  kj::TaskSet tasks_;  // last: destroyed first, while what its tasks use still exists
};

Hash random_node_id() {
  std::random_device random;
  Hash id;
  for (auto& b : id.bytes) b = static_cast<std::uint8_t>(random());
  return id;
}

}  // namespace

struct PeerNode::Loop {
  Genesis genesis;
  std::unique_ptr<Storage> storage;
  PeerNodeConfig config;
  const Clock* clock = nullptr;
  Hash node_id;
  std::thread thread;
  const kj::Executor* executor = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> stop;
  Network* network = nullptr;
  Blockchain* chain = nullptr;
  TransactionPool* pool = nullptr;

  void run(std::promise<Result<std::uint16_t>>& started) {
    auto io = kj::setupAsyncIo();
    // The port first: a port in use is refused before the chain is touched.
    kj::Own<kj::ConnectionReceiver> receiver;
    std::uint16_t port = 0;
    std::string listen_address;
    if (config.listen) {
      try {
        auto address = io.provider->getNetwork()
                           .parseAddress(config.listen_host, config.listen_port)
                           .wait(io.waitScope);
        receiver = address->listen();
        port = static_cast<std::uint16_t>(receiver->getPort());
      } catch (const kj::Exception& e) {
        started.set_value(make_error(Reason::kIoError, "cannot listen on " + config.listen_host +
                                                           ":" +
                                                           std::to_string(config.listen_port) +
                                                           ": " + e.getDescription().cStr()));
        return;
      }
      listen_address = config.listen_host + ":" + std::to_string(port);
    }
    auto opened = Blockchain::open(genesis, *storage, *clock);
    if (!opened.ok()) {
      started.set_value(opened.error());
      return;
    }
    TransactionPool transaction_pool(genesis.params, config.pool_limits);
    // Signature checks on every core: the loop thread and one worker per other core.
    SignatureVerifier verifier(std::max(1u, std::thread::hardware_concurrency()) - 1);
    (*opened)->set_verifier(&verifier);
    transaction_pool.set_verifier(&verifier);
    Network net(io, **opened, transaction_pool, *clock, config, node_id, listen_address);
    if (receiver) net.listen(kj::mv(receiver));
    auto stopped = kj::newPromiseAndFulfiller<void>();
    stop = kj::mv(stopped.fulfiller);
    network = &net;
    chain = opened->get();
    pool = &transaction_pool;
    executor = &kj::getCurrentThreadExecutor();
    started.set_value(port);
    stopped.promise.wait(io.waitScope);
    network = nullptr;
  }

  template <class F>
  auto call(F&& f) const {
    return executor->executeSync(std::forward<F>(f));
  }
};

Result<std::unique_ptr<PeerNode>> PeerNode::start(const Genesis& genesis,
                                                  std::unique_ptr<Storage> storage,
                                                  PeerNodeConfig config, const Clock& clock) {
  std::unique_ptr<PeerNode> node(new PeerNode());
  node->loop_ = std::make_unique<Loop>();
  Loop& loop = *node->loop_;
  loop.genesis = genesis;
  loop.storage = std::move(storage);
  loop.config = std::move(config);
  loop.clock = &clock;
  loop.node_id = node->node_id_ = random_node_id();
  std::promise<Result<std::uint16_t>> started;
  auto ready = started.get_future();
  loop.thread = std::thread([&loop, &started]() { loop.run(started); });
  auto port = ready.get();
  if (!port.ok()) {
    loop.thread.join();
    return port.error();
  }
  node->port_ = *port;
  return node;
}

PeerNode::~PeerNode() {
  if (!loop_ || !loop_->thread.joinable()) return;
  if (loop_->executor != nullptr) loop_->call([this]() { loop_->stop->fulfill(); });
  loop_->thread.join();
}

Status PeerNode::submit(const TransactionPtr& tx) {
  return loop_->call([&]() { return loop_->network->submit(tx); });
}

std::vector<Status> PeerNode::submit_batch(const std::vector<TransactionPtr>& txs) {
  return loop_->call([&]() { return loop_->network->submit_batch(txs); });
}

Result<BlockPtr> PeerNode::forge(const SecretKey& key, std::uint64_t slot) {
  return loop_->call([&]() { return loop_->network->forge(key, slot); });
}

Result<ApplyResult> PeerNode::apply(const BlockPtr& block) {
  return loop_->call([&]() { return loop_->network->apply(block, 0); });
}

NodeStatus PeerNode::status() const {
  return loop_->call([&]() { return loop_->network->status(); });
}

bool PeerNode::pool_contains(const Hash& id) const {
  return loop_->call([&]() { return loop_->pool->contains(id); });
}

void PeerNode::inspect(
    const std::function<void(const Blockchain&, const TransactionPool&)>& fn) const {
  loop_->call([&]() { fn(*loop_->chain, *loop_->pool); });
}

void PeerNode::connect(const std::string& address) {
  loop_->call([&]() { loop_->network->connect(address); });
}

void PeerNode::start_forging(SecretKey key, ForgingOptions options) {
  loop_->call([&]() { loop_->network->start_forging(std::move(key), std::move(options)); });
}

void PeerNode::stop_forging() {
  loop_->call([&]() { loop_->network->stop_forging(); });
}

void PeerNode::isolate() {
  loop_->call([&]() { loop_->network->isolate(); });
}

}  // namespace pos
