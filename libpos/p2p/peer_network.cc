// The peer network on the node's KJ event loop; all of it runs on the loop thread.
//
// A connection: both sides send Hello at once; nothing else is accepted before the peer's Hello.
// Frames are read whole (size checked from the segment table first), decoded with bounded
// traversal, rate-limited per peer (messages, and votes and evidence by budgets of their own), and
// each refusal adds the reason's penalty (docs/consensus.md) to the peer's misbehaviour; at 100 the
// peer is banned for ban_ms and dropped.
#include "pos/peer_network.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/debug.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <tuple>
#include <unordered_set>

#include "event_loop_impl.h"
#include "pos/clock.h"
#include "pos/p2p_messages.h"
#include "pos/verifier.h"
#include "pos_fmt.h"

namespace pos {
namespace {

using namespace p2p;

constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;
constexpr std::size_t kMaxAddressBook = 1000;
// Address-book entries one network group's peers may fill (learn()).
constexpr std::size_t kMaxAddressesPerSource = 64;
// Transaction ids per generation of the seen-set (SeenSet): at most twice that are held.
constexpr std::size_t kSeenTxsGeneration = 50'000;
// Peers' transactions waiting for their signature checks, all peers together. Each peer's budget
// bounds its share; this bounds the sum when the verifier falls behind all of them at once.
constexpr std::size_t kMaxPendingSignatureChecks = 50'000;
// The same for votes, apart: transactions never crowd them out (and the verifier checks them
// first).
constexpr std::size_t kMaxPendingVoteChecks = 50'000;
// Outbound peers remembered across restarts (PeerNetworkConfig::anchors_file).
constexpr std::size_t kMaxAnchors = 2;
// A backlog of signature checks is logged at most this often.
constexpr std::uint64_t kBacklogLogMs = 10'000;
// Vote ids remembered per generation of the seen-set (SeenSet): 50,000 is four minutes of 200
// validators voting every second, while a vote stops counting after the epoch that follows its
// target's (about a minute with the default 32 slots of 1 s); at most twice that is held.
constexpr std::size_t kSeenVotesGeneration = 50'000;
// Evidence ids per generation: an honest network makes a handful per offender, so this holds the
// evidence of thousands of offenders. An id forgotten here is still asked of the node
// (has_evidence), which holds what it kept; the set spares it what it refused.
constexpr std::size_t kSeenEvidenceGeneration = 10'000;
// Gossiped blocks waiting for their turn (PeerNetwork::Impl::check_queued_blocks); a sync batch
// is queued whole, and at most two are (the pipelining waits while one does).
constexpr std::size_t kMaxQueuedBlocks = 256;
// A frame's body is read in chunks of at most this, each paced by the shared read budget.
constexpr std::size_t kReadChunkBytes = 64 * 1024;
constexpr std::uint64_t kTickMs = 100;
// The shortest interval between two relays of transactions to the peers: at most 100 messages a
// second (and one per 1,000 transactions beyond), a tenth of a peer's default limit.
constexpr std::uint64_t kTxRelayMs = 10;
// Lines that peers can cause (refusals, bans, drops): at most this many of each message in each
// window.
constexpr std::uint32_t kPeerLogBurst = 20;
constexpr std::uint64_t kPeerLogWindowMs = 10'000;
constexpr std::uint64_t kSyncStallMs = 10'000;
// How long the blocks of a peer on a chain that conflicts with our finalized block go unheard.
constexpr std::uint64_t kConflictQuietMs = 60'000;

// Milliseconds from `then` to `now`; 0 when the clock went back (a wall clock set backwards must
// not look like a long silence).
std::uint64_t since(std::uint64_t now, std::uint64_t then) {
  return now > then ? now - then : 0;
}

std::optional<PeerAddress> parse_host_port(std::string_view text) {
  auto address = parse_peer_address(text);
  if (!address.ok()) return std::nullopt;
  return *address;
}

// Ids seen lately, kept in two generations: when the current one is full it becomes the previous
// one and the one before is forgotten. So the latest `generation` ids are always remembered, at
// most twice that are held, and a full set never forgets everything at once.
class SeenSet {
 public:
  explicit SeenSet(std::size_t generation) : generation_(generation) {}
  bool contains(const Hash& id) const { return current_.contains(id) || previous_.contains(id); }
  void erase(const Hash& id) {
    current_.erase(id);
    previous_.erase(id);
  }
  void insert(const Hash& id) {
    if (current_.contains(id)) return;
    if (current_.size() >= generation_) {
      previous_ = std::move(current_);
      current_ = {};
    }
    current_.insert(id);
  }

 private:
  std::size_t generation_;
  std::unordered_set<Hash> current_;
  std::unordered_set<Hash> previous_;
};

// A per-peer budget (docs/p2p.md): a token bucket, full when the peer connects.
struct TokenBucket {
  double tokens = 0;
  std::uint64_t refilled_ms = 0;
};

struct Peer {
  std::uint64_t id = 0;
  bool inbound = false;
  std::string remote;  // "ip:port" of the socket
  std::string remote_ip;
  std::optional<std::string> dialed;  // the address-book key of an outbound connection
  // The address-book key of the address it listens on, when we dialled it by another name.
  std::optional<std::string> listen_key;
  kj::Own<kj::AsyncIoStream> stream;
  bool ready = false;
  bool closing = false;
  Hello hello;
  int misbehaviour = 0;
  std::uint64_t connected_ms = 0;
  std::uint64_t last_frame_ms = 0;
  std::uint64_t last_ping_ms = 0;
  TokenBucket message_budget;
  TokenBucket byte_budget;
  TokenBucket vote_budget;
  TokenBucket evidence_budget;
  TokenBucket tx_signature_budget;
  TokenBucket unfunded_tx_budget;
  bool blocks_requested = false;
  std::uint64_t blocks_requested_ms = 0;
  // Its chain forks below our finalized block: nothing to sync from it. It may be a victim fed
  // a bad chain that learns ours from our gossip, so it pays once, not for every block it sends,
  // and for a while its blocks are not even looked at (each can cost storage reads).
  bool conflicts_finalized = false;
  std::uint64_t conflicts_since_ms = 0;
  std::size_t queued_bytes = 0;
  std::size_t pending_signature_checks = 0;  // its transactions at the verifier
  std::size_t pending_vote_checks = 0;       // its votes at the verifier
  kj::Promise<void> reading = nullptr;
  kj::Promise<void> sending = kj::READY_NOW;
};

// Whom a ban is for: an IP address, and a node id once its hello came.
struct Offender {
  std::string ip;
  std::optional<Hash> node_id;
};

// A sync batch's blocks share this: one refused, the rest (which build on it) are skipped;
// but the rest of a chain that conflicts with our finalized block still goes to the handler,
// which refuses it cheaply and looks in its votes for double and surround votes.
struct SyncBatch {
  bool progressed = false;
  bool failed = false;
  bool conflicts = false;
};

// A peer's block waiting for its turn (check_queued_blocks).
struct QueuedBlock {
  std::uint64_t from = 0;
  Offender sender;
  BlockPtr block;
  std::shared_ptr<SyncBatch> batch;  // null for a gossiped block
  bool last = false;                 // the last of its batch
};

struct AddressEntry {
  PeerAddress address;
  bool connected = false;  // a connection to it is open or being opened
  bool self = false;
  std::uint64_t next_attempt_ms = 0;
  std::uint64_t backoff_ms = 0;
  // A seed or an address the operator gave (connect()): never evicted, always redialled.
  bool kept = false;
  // The network group of the peer that told us of it (peers' Peers messages), empty if kept.
  std::string source;
};

// The network group of an IP address (its text as a socket gives it): the /16 of an IPv4
// address, the /32 of an IPv6 one. Addresses in one group are usually one operator's, so inbound
// slots and address-book entries are shared per group, and one operator cannot take them all.
std::string network_group(const std::string& ip) {
  std::string v4 = ip;
  if (auto colon = ip.rfind(':'); colon != std::string::npos && ip.find('.') != std::string::npos)
    v4 = ip.substr(colon + 1);  // an IPv4-mapped IPv6 address
  if (v4.find('.') != std::string::npos) return v4.substr(0, v4.find('.', v4.find('.') + 1));
  auto second = ip.find(':', ip.find(':') + 1);
  return ip.substr(0, second);
}

Hash random_node_id() {
  std::random_device random;
  Hash id;
  for (auto& b : id.bytes) b = static_cast<std::uint8_t>(random());
  return id;
}

// A listening socket bound now, so that a port in use is refused at once; KJ takes it over.
Result<int> bind_listener(const std::string& host, std::uint16_t port) {
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string where = fmt::format("{}:{}", host, port);
  if (getaddrinfo(name.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    return make_error(Reason::kIoError, "cannot listen on " + where + ": unknown address");
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  int yes = 1;
  bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) == 0 &&
            bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0;
  int error = errno;
  freeaddrinfo(found);
  if (!ok) {
    if (fd >= 0) close(fd);
    return make_error(Reason::kIoError, "cannot listen on " + where + ": " + std::strerror(error));
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

}  // namespace

class PeerNetwork::Impl final : private kj::TaskSet::ErrorHandler {
 public:
  Impl(kj::AsyncIoContext& io, PeerNetworkConfig config, std::string chain_id, Hash genesis_hash,
       NetworkHandler& handler, const Clock& clock, Logger log, std::string listen_address)
      : io_(io),
        config_(std::move(config)),
        chain_id_(std::move(chain_id)),
        genesis_hash_(genesis_hash),
        handler_(handler),
        clock_(clock),
        log_(std::move(log)),
        node_id_(random_node_id()),
        listen_address_(std::move(listen_address)),
        tasks_(*this) {
    for (const auto& seed : config_.seeds)
      if (auto a = parse_host_port(seed)) keep(*a);
    load_anchors();
    tasks_.add(tick());
  }

  const Hash& node_id() const { return node_id_; }

  std::uint16_t port() const { return port_; }

  void listen(kj::Own<kj::ConnectionReceiver> receiver) {
    port_ = static_cast<std::uint16_t>(receiver->getPort());
    receiver_ = kj::mv(receiver);
    tasks_.add(accept_loop());
  }

  void connect(const std::string& address) {
    if (auto a = parse_host_port(address)) {
      auto& entry = keep(*a);
      entry.next_attempt_ms = 0;
      entry.self = false;
    }
  }

  void set_verifier(SignatureVerifier* verifier) { verifier_ = verifier; }

  void isolate() {
    book_.clear();
    source_counts_.clear();
    for (auto& [id, peer] : peers_) drop(*peer, "isolated");
  }

  NetworkStatus status() const {
    NetworkStatus s;
    for (const auto& [id, peer] : peers_) {
      if (!peer->ready || peer->closing) continue;
      s.peers.push_back(PeerInfo{peer->remote, peer->hello.listen_address, peer->hello.node_id,
                                 peer->inbound, peer->hello.best_height, peer->misbehaviour});
    }
    s.banned = banned_ips_.size() + banned_nodes_.size();
    s.connections_dropped = connections_dropped_;
    s.known_addresses = book_.size();
    if (syncing_from_)
      if (auto it = peers_.find(*syncing_from_); it != peers_.end())
        s.syncing_from = it->second->hello.node_id;
    return s;
  }

  std::size_t ready_peers() const {
    std::size_t ready = 0;
    for (const auto& [id, peer] : peers_) ready += (peer->ready && !peer->closing) ? 1 : 0;
    return ready;
  }

  bool peer_ahead() const {
    for (const auto& [id, peer] : peers_)
      if (peer->ready && !peer->closing && better_than_us(*peer)) return true;
    return false;
  }

  // Every block the node applies comes here. Its transactions count as seen: a peer that sent
  // one before it saw the block did so in good faith, and judged against a state that spent its
  // nonce it would draw on that peer's unfunded budget (under load honest nodes banned each
  // other that way). Bitcoin Core keeps recently confirmed transactions for the same reason.
  void broadcast_block(const BlockPtr& block, PeerId except) {
    for (const auto& tx : block->transactions()) remember_tx(tx->id());
    relay(encode_frame(NewBlock{block}), except);
  }

  void broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) {
    for (std::size_t i = 0; i < txs.size(); i += kMaxTxsPerMessage)
      relay_txs({txs.begin() + static_cast<long>(i),
                 txs.begin() + static_cast<long>(std::min(i + kMaxTxsPerMessage, txs.size()))},
                except);
  }

  void broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) {
    for (std::size_t i = 0; i < votes.size(); i += kMaxVotesPerMessage)
      relay_votes(
          {votes.begin() + static_cast<long>(i),
           votes.begin() + static_cast<long>(std::min(i + kMaxVotesPerMessage, votes.size()))},
          except);
  }

  void broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) {
    for (std::size_t i = 0; i < evidence.size(); i += kMaxEvidencePerMessage)
      relay_evidence({evidence.begin() + static_cast<long>(i),
                      evidence.begin() +
                          static_cast<long>(std::min(i + kMaxEvidencePerMessage, evidence.size()))},
                     except);
  }

 private:
  void taskFailed(kj::Exception&& exception) override {
    log_.error("task failed", {{"error", exception.getDescription().cStr()}});
  }

  // An address to keep (a seed, or one the operator gave): never evicted.
  AddressEntry& keep(const PeerAddress& a) {
    auto key = to_string(a);
    auto it = book_.find(key);
    if (it == book_.end())
      it = book_
               .emplace(
                   key,
                   AddressEntry{
                       a, false, key == listen_address_, 0, config_.redial_initial_ms, true, {}})
               .first;
    if (!it->second.kept) forget_source(it->second);
    it->second.kept = true;
    return it->second;
  }

  // An address a peer in network group `source` told us of. Each group may fill at most
  // kMaxAddressesPerSource entries (more from it are ignored), so one operator's peers cannot
  // fill the book; when the book is full a random entry that is neither kept nor connected
  // makes room, so which ones go cannot be foreseen.
  void learn(const PeerAddress& a, const std::string& source) {
    auto key = to_string(a);
    if (book_.contains(key)) return;
    std::size_t& from_source = source_counts_[source];
    if (from_source >= kMaxAddressesPerSource) return;
    if (book_.size() >= kMaxAddressBook) {
      std::vector<std::map<std::string, AddressEntry>::iterator> evictable;
      for (auto e = book_.begin(); e != book_.end(); ++e)
        if (!e->second.kept && !e->second.connected) evictable.push_back(e);
      if (evictable.empty()) return;
      auto victim =
          evictable[std::uniform_int_distribution<std::size_t>(0, evictable.size() - 1)(random_)];
      forget_source(victim->second);
      book_.erase(victim);
    }
    ++from_source;
    book_.emplace(key, AddressEntry{a, false, key == listen_address_, 0, config_.redial_initial_ms,
                                    false, source});
  }

  void forget_source(const AddressEntry& entry) {
    if (entry.kept) return;
    auto it = source_counts_.find(entry.source);
    if (it != source_counts_.end() && --it->second == 0) source_counts_.erase(it);
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
    it->second.next_attempt_ms = clock_.now_ms() + it->second.backoff_ms;
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
    return fmt::format("{}:{}", ip, port);
  }

  void adopt(kj::Own<kj::AsyncIoStream> stream, bool inbound, std::optional<std::string> dialed) {
    auto peer = kj::heap<Peer>();
    peer->id = ++next_peer_id_;
    peer->inbound = inbound;
    peer->dialed = std::move(dialed);
    peer->remote = remote_of(*stream, peer->remote_ip);
    peer->stream = kj::mv(stream);
    std::uint64_t now = clock_.now_ms();
    peer->connected_ms = peer->last_frame_ms = now;
    peer->message_budget = {static_cast<double>(config_.max_messages_per_second), now};
    peer->vote_budget = {static_cast<double>(config_.max_vote_burst), now};
    peer->evidence_budget = {static_cast<double>(config_.max_evidence_burst), now};
    peer->byte_budget = {byte_burst(), now};
    peer->tx_signature_budget = {static_cast<double>(config_.max_tx_signature_burst), now};
    peer->unfunded_tx_budget = {static_cast<double>(config_.max_unfunded_tx_burst), now};
    if (inbound) {
      // Dropping the stream closes it: banned, or over a limit of inbound connections in all,
      // from its address, or from its network group.
      std::size_t count = 0, same_ip = 0, same_group = 0;
      const std::string group = network_group(peer->remote_ip);
      for (const auto& [id, p] : peers_) {
        if (!p->inbound || p->closing) continue;
        ++count;
        same_ip += p->remote_ip == peer->remote_ip ? 1 : 0;
        same_group += network_group(p->remote_ip) == group ? 1 : 0;
      }
      if (ip_banned(peer->remote_ip)) return;
      if (count >= config_.max_inbound || same_ip >= config_.max_inbound_per_ip ||
          same_group >= config_.max_inbound_per_group) {
        log_from_peers(
            LogLevel::kDebug, "inbound connection refused",
            {{"peer", peer->remote},
             {"reason", count >= config_.max_inbound            ? "inbound slots full"
                        : same_ip >= config_.max_inbound_per_ip ? "too many from its address"
                                                                : "too many from its network"}});
        return;
      }
    }
    Peer& p = *peer;
    peers_.emplace(p.id, kj::mv(peer));
    send(p, Hello{kProtocolVersion, chain_id_, genesis_hash_, node_id_, listen_address_,
                  handler_.tip_height(), handler_.tip_hash()});
    p.reading = read_loop(p).eagerlyEvaluate([this, &p](kj::Exception&& e) {
      drop(p, std::string("connection failed: ") + e.getDescription().cStr());
    });
    log_.debug(inbound ? "inbound connection" : "outbound connection", {{"peer", p.remote}});
  }

  struct LogBudget {
    std::uint64_t window_start_ms = 0;
    std::uint32_t written = 0;
    std::uint64_t left_out = 0;
  };

  // A flood of hostile connections must not fill the operator's disk: each message peers can
  // cause is written at most kPeerLogBurst times a window, and how many were left out is said
  // when the window ends.
  void log_from_peers(LogLevel level, const std::string& message, std::vector<LogField> fields) {
    if (!log_.enabled(level)) return;
    LogBudget& budget = peer_log_budgets_[message];
    roll_log_window(message, budget, clock_.now_ms());
    if (budget.written >= kPeerLogBurst) {
      ++budget.left_out;
      return;
    }
    ++budget.written;
    log_.log(level, message, std::move(fields));
  }

  void roll_log_window(const std::string& message, LogBudget& budget, std::uint64_t now) {
    if (since(now, budget.window_start_ms) < kPeerLogWindowMs) return;
    if (budget.left_out > 0)
      log_.warn("lines left out: too many of one message from peers",
                {{"left_out_message", message},
                 {"left_out", budget.left_out},
                 {"seconds", kPeerLogWindowMs / 1000}});
    budget = LogBudget{now, 0, 0};
  }

  // Closes the connection once the loop is out of the peer's own callbacks.
  void drop(Peer& peer, const std::string& why) {
    if (peer.closing) return;
    peer.closing = true;
    ++connections_dropped_;
    log_from_peers(LogLevel::kInfo, "dropping a peer", {{"peer", peer.remote}, {"why", why}});
    if (peer.dialed) dial_failed(*peer.dialed);
    if (peer.listen_key)
      if (auto it = book_.find(*peer.listen_key); it != book_.end()) it->second.connected = false;
    if (syncing_from_ == peer.id) syncing_from_.reset();
    if (peer.ready && peer.dialed) save_anchors();
    std::uint64_t id = peer.id;
    tasks_.add(kj::evalLater([this, id]() { peers_.erase(id); }));
  }

  // ---- anchors ----------------------------------------------------------------------------

  // The outbound peers of the last run (config_.anchors_file): dialled first, and always
  // redialled, as seeds are. So a restart does not depend on the address book alone, which
  // peers' Peers messages fill: an attacker who filled it would otherwise have every
  // connection after a restart (an eclipse; Bitcoin Core's anchors.dat).
  // Not in a fixed topology (discovery off): the seeds alone are dialled there.
  void load_anchors() {
    if (config_.anchors_file.empty() || !config_.discovery) return;
    std::ifstream in(config_.anchors_file);
    std::size_t loaded = 0;
    for (std::string line; loaded < kMaxAnchors && std::getline(in, line);) {
      if (auto a = parse_host_port(line)) {
        keep(*a);
        ++loaded;
      } else {
        log_.warn("ignoring a line of the anchors file that is not host:port",
                  {{"file", config_.anchors_file.string()}, {"line", line.substr(0, 80)}});
      }
    }
    if (loaded > 0) log_.info("dialling the anchors of the last run", {{"anchors", loaded}});
  }

  // Writes the kMaxAnchors longest-connected outbound peers when they change (a peer became
  // ready or left). Written whole to a temporary file, then renamed over the old one.
  void save_anchors() {
    if (config_.anchors_file.empty()) return;
    std::vector<const Peer*> outbound;
    for (const auto& [id, p] : peers_)
      if (p->ready && !p->closing && p->dialed) outbound.push_back(p.get());
    std::sort(outbound.begin(), outbound.end(), [](const Peer* a, const Peer* b) {
      return std::tie(a->connected_ms, a->id) < std::tie(b->connected_ms, b->id);
    });
    std::string text;
    for (std::size_t i = 0; i < outbound.size() && i < kMaxAnchors; ++i)
      text += *outbound[i]->dialed + "\n";
    if (text == anchors_written_) return;
    std::filesystem::path tmp = config_.anchors_file;
    tmp += ".tmp";
    bool ok = static_cast<bool>(std::ofstream(tmp, std::ios::trunc) << text);
    std::error_code ec;
    if (ok) std::filesystem::rename(tmp, config_.anchors_file, ec);
    if (!ok || ec) {
      log_.error("cannot write the anchors file", {{"file", config_.anchors_file.string()}});
      return;
    }
    anchors_written_ = std::move(text);
  }

  // Sends what is queued, then closes: for Reject.
  void close_after_send(Peer& peer, const std::string& why) {
    std::uint64_t id = peer.id;
    peer.sending = kj::mv(peer.sending)
                       .then([this, id, why]() {
                         auto it = peers_.find(id);
                         if (it != peers_.end()) drop(*it->second, why);
                       })
                       .eagerlyEvaluate(nullptr);  // run it now, not when something else is sent
  }

  // The peer pays the reason's penalty (one table, libpos/core/status.cc); at 100 it is banned.
  void refuse(Peer& peer, const Error& error) {
    int penalty = reason_info(error.reason).peer_penalty;
    if (penalty <= 0) return;
    peer.misbehaviour += penalty;
    log_from_peers(LogLevel::kInfo, "a peer misbehaves",
                   {{"peer", peer.remote},
                    {"penalty", penalty},
                    {"score", peer.misbehaviour},
                    {"reason", error.reason},
                    {"error", error.message}});
    if (peer.misbehaviour < 100) return;
    ban(offender_of(peer));
    log_from_peers(LogLevel::kWarn, "banned a peer",
                   {{"peer", peer.remote},
                    {"until_ms", clock_.now_ms() + config_.ban_ms},
                    {"reason", error.reason},
                    {"error", error.message}});
    drop(peer, fmt::format("banned: {}", error));
  }

  void ban(const Offender& offender) {
    std::uint64_t until = clock_.now_ms() + config_.ban_ms;
    if (config_.ban_by_ip) banned_ips_[offender.ip] = until;
    if (offender.node_id) banned_nodes_[*offender.node_id] = until;
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

  // Transactions go out together, at most once every kTxRelayMs (or sooner once a message's
  // worth waits): one after a quiet spell goes at once, the ones after it wait for the rest of
  // the interval. Clients posting transactions one or a few at a time must not make this node
  // send a message each, which its peers' message-rate limit punishes with a ban (a 3-node
  // network under 5,000 posts a second of a few transactions banned every peer and split).
  void relay_txs(const std::vector<TransactionPtr>& txs, std::uint64_t except) {
    if (txs.empty()) return;
    for (const auto& tx : txs) {
      remember_tx(tx->id());
      unsent_txs_.emplace_back(tx, except);
    }
    if (tx_flush_due_) {
      if (unsent_txs_.size() >= kMaxTxsPerMessage) flush_txs();
      return;
    }
    kj::Timer& timer = io_.provider->getTimer();
    const kj::TimePoint next = last_tx_flush_ + kTxRelayMs * kj::MILLISECONDS;
    if (timer.now() >= next) {
      flush_txs();
      return;
    }
    tx_flush_due_ = true;
    tasks_.add(timer.atTime(next).then([this]() {
      tx_flush_due_ = false;
      flush_txs();
    }));
  }

  // Each ready peer gets the waiting transactions but those it sent, in messages of at most
  // kMaxTxsPerMessage.
  void flush_txs() {
    if (unsent_txs_.empty()) return;
    last_tx_flush_ = io_.provider->getTimer().now();
    auto unsent = std::exchange(unsent_txs_, {});
    for (auto& [id, peer] : peers_) {
      if (!peer->ready) continue;
      std::vector<TransactionPtr> out;
      for (const auto& [tx, from] : unsent)
        if (from != id) out.push_back(tx);
      for (std::size_t i = 0; i < out.size(); i += kMaxTxsPerMessage)
        send(*peer,
             Txs{{out.begin() + static_cast<long>(i),
                  out.begin() + static_cast<long>(std::min(i + kMaxTxsPerMessage, out.size()))}});
    }
  }

  void remember_tx(const Hash& id) { seen_txs_.insert(id); }

  void relay_votes(const std::vector<VotePtr>& votes, std::uint64_t except) {
    if (votes.empty()) return;
    for (const auto& vote : votes) seen_votes_.insert(vote->id());
    relay(encode_frame(Votes{votes}), except);
  }

  void relay_evidence(const std::vector<EvidencePtr>& evidence, std::uint64_t except) {
    if (evidence.empty()) return;
    for (const auto& e : evidence) seen_evidence_.insert(e->id());
    relay(encode_frame(EvidenceList{evidence}), except);
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
      refuse(peer, size.ok() ? Error{Reason::kMalformed, "bad segment table"} : size.error());
      return std::optional<Bytes>();
    }
    const std::size_t have = buffer->size(), total = **size;
    return read_paced(peer, buffer, have, total)
        .then([buffer](bool complete) -> std::optional<Bytes> {
          if (!complete) return std::nullopt;  // the peer closed the connection
          return std::move(*buffer);
        });
  }

  // Reads the body in chunks, each when the shared read budget is not in debt (pace_reads), each
  // charged what it brought: a frame's declared size costs nothing until its bytes come, and
  // the debt is at most a chunk per reader. What waits stays in the socket, and TCP slows its
  // sender. False if the peer closed the connection first.
  kj::Promise<bool> read_paced(Peer& peer, std::shared_ptr<Bytes> buffer, std::size_t at,
                               std::size_t total) {
    if (at == total) return true;
    Peer* p = &peer;
    return pace_reads().then([this, p, buffer, at, total]() {
      const std::size_t chunk = std::min(kReadChunkBytes, total - at);
      buffer->resize(at + chunk);
      return p->stream->tryRead(buffer->data() + at, 1, chunk)
          .then([this, p, buffer, at, total](std::size_t n) -> kj::Promise<bool> {
            if (n == 0) return false;
            read_tokens_ -= static_cast<double>(n);
            buffer->resize(at + n);
            return read_paced(*p, buffer, at + n, total);
          });
    });
  }

  // The bytes all peers' frames may bring in a second, together (PeerNetworkConfig::
  // max_read_bytes_per_second; 0: no limit): each peer's budget bounds its own share, this
  // bounds the decoding that any number of peers can ask of the loop, however many addresses
  // they come from. Ready while the shared bucket (a second's worth at most) is not in debt;
  // else when the debt is repaid. On the loop's monotonic timer: it paces real reads.
  kj::Promise<void> pace_reads() {
    const double rate = static_cast<double>(config_.max_read_bytes_per_second);
    if (rate <= 0) return kj::READY_NOW;
    kj::Timer& timer = io_.provider->getTimer();
    const kj::TimePoint now = timer.now();
    read_tokens_ = std::min(
        rate,
        read_tokens_ + rate * static_cast<double>((now - read_refilled_) / kj::NANOSECONDS) / 1e9);
    read_refilled_ = now;
    if (read_tokens_ > 0) return kj::READY_NOW;
    auto wait_ns = static_cast<std::int64_t>(-read_tokens_ / rate * 1e9) + 1'000'000;
    return timer.afterDelay(wait_ns * kj::NANOSECONDS).then([this]() { return pace_reads(); });
  }

  kj::Promise<void> read_loop(Peer& peer) {
    Peer* p = &peer;
    return read_frame(peer).then([this, p](std::optional<Bytes> frame) -> kj::Promise<void> {
      if (!frame) {
        drop(*p, "connection closed");
        return kj::READY_NOW;
      }
      if (p->closing) return kj::READY_NOW;
      p->last_frame_ms = clock_.now_ms();
      if (!take_token(*p)) {
        refuse(*p, Error{Reason::kRateLimited, "over its message rate"});
      } else if (!take_bytes(*p, frame->size())) {
        refuse(*p, Error{Reason::kRateLimited,
                         fmt::format("a frame of {} bytes over its budget of {} bytes a second",
                                     frame->size(), config_.max_bytes_per_second)});
      } else {
        auto message = decode_frame(*frame, chain_id_);
        if (!message.ok())
          refuse(*p, message.error());
        else
          handle(*p, std::move(*message));
      }
      if (p->closing) return kj::READY_NOW;
      return read_loop(*p);
    });
  }

  // Cuts `items` to what the budget (refilled at `rate` a second up to `burst`) allows now. The
  // budget comes first: items over it are dropped before anything looks at them (no seen-set
  // entry, no signature check), and with `penalise` the peer pays rate_limited's penalty once for
  // the message.
  template <class T>
  void cut_to_budget(Peer& peer, TokenBucket& budget, std::uint32_t rate, std::uint32_t burst,
                     std::vector<T>& items, const char* what, bool penalise = true) {
    refill(budget, rate, burst);
    auto allowed = std::min(items.size(), static_cast<std::size_t>(budget.tokens));
    budget.tokens -= static_cast<double>(allowed);
    if (allowed == items.size()) return;
    if (penalise)
      refuse(peer, Error{Reason::kRateLimited, fmt::format("{} {} over its budget of {} a second",
                                                           items.size() - allowed, what, rate)});
    items.resize(allowed);
  }

  // Each refusal among the node's verdicts costs the peer its reason's penalty.
  void penalise(Peer& peer, const std::vector<Status>& verdicts) {
    for (const auto& verdict : verdicts) {
      if (verdict.ok()) continue;
      refuse(peer, verdict.error());
      if (peer.closing) break;
    }
  }

  void refill(TokenBucket& budget, double rate, double burst) {
    std::uint64_t now = clock_.now_ms();
    budget.tokens = std::min(
        burst, budget.tokens + rate * static_cast<double>(since(now, budget.refilled_ms)) / 1000.0);
    budget.refilled_ms = now;
  }

  // Twice the rate, and never less than the largest frame.
  double byte_burst() const {
    return std::max(2 * static_cast<double>(config_.max_bytes_per_second),
                    static_cast<double>(kMaxFrameBytes));
  }

  // Takes `amount` from the budget after refilling it; false, taking nothing, when it holds less.
  bool take(TokenBucket& budget, double rate, double burst, double amount) {
    refill(budget, rate, burst);
    if (budget.tokens < amount) return false;
    budget.tokens -= amount;
    return true;
  }

  bool take_bytes(Peer& peer, std::size_t bytes) {
    return take(peer.byte_budget, static_cast<double>(config_.max_bytes_per_second), byte_burst(),
                static_cast<double>(bytes));
  }

  bool take_token(Peer& peer) {
    double rate = config_.max_messages_per_second;
    return take(peer.message_budget, rate, 2 * rate, 1);
  }

  // ---- messages ---------------------------------------------------------------------------

  void handle(Peer& peer, Message message) {
    if (!peer.ready && !std::holds_alternative<Hello>(message)) {
      refuse(peer, Error{Reason::kProtocolViolation,
                         std::string(message_kind(message)) + " before hello"});
      return;
    }
    std::visit([&](auto& m) { on(peer, m); }, message);
  }

  void on(Peer& peer, Hello& hello) {
    if (peer.ready) {
      refuse(peer, Error{Reason::kUnexpectedMessage, "a second hello"});
      return;
    }
    // Told why, then closed; the code is the reason's, from the one table.
    auto reject = [&](Reason reason, const std::string& why) {
      send(peer, Reject{std::string(reason_code(reason)), why});
      close_after_send(peer, why);
    };
    if (hello.protocol_version != kProtocolVersion)
      return reject(Reason::kProtocolVersion,
                    fmt::format("protocol version {}, this node speaks {}", hello.protocol_version,
                                kProtocolVersion));
    if (hello.chain_id != chain_id_ || hello.genesis_hash != genesis_hash_)
      return reject(Reason::kWrongChain, "chain \"" + hello.chain_id + "\" genesis " +
                                             hello.genesis_hash.hex() +
                                             "; this node is on chain \"" + chain_id_ +
                                             "\" genesis " + genesis_hash_.hex());
    if (hello.node_id == node_id_) {
      if (peer.dialed) book_[*peer.dialed].self = true;
      return drop(peer, "connection to self");
    }
    if (node_banned(hello.node_id)) return drop(peer, "banned node");
    for (const auto& [id, other] : peers_)
      if (other->ready && !other->closing && other->hello.node_id == hello.node_id)
        return drop(peer, "duplicate connection");
    peer.ready = true;
    peer.hello = hello;
    if (peer.dialed) {
      book_[*peer.dialed].backoff_ms = config_.redial_initial_ms;
      // The address it listens on (perhaps not the name it was dialled by) is connected too.
      // Only for a peer we dialled: an inbound one could name any address (a seed's, say) and
      // so stop us dialling it.
      if (auto a = parse_host_port(hello.listen_address); a && to_string(*a) != *peer.dialed) {
        auto listen = book_.find(to_string(*a));
        if (listen != book_.end() && !listen->second.connected) {
          listen->second.connected = true;
          peer.listen_key = listen->first;
        }
      }
    }
    send(peer, GetPeers{});
    log_.info("peer ready", {{"peer", peer.remote}, {"height", hello.best_height}});
    if (peer.dialed) save_anchors();
    if (better_than_us(peer) && sync_idle()) request_blocks(peer);
  }

  bool better_than_us(const Peer& peer) const {
    return handler_.takes_peer_blocks() && !ignoring_conflicts(peer) &&
           peer.hello.best_height > handler_.tip_height();
  }

  // Within kConflictQuietMs of its last conflicting block; then it is heard (and pays) again, so
  // a victim that has since taken our chain can be synced from.
  bool ignoring_conflicts(const Peer& peer) const {
    return peer.conflicts_finalized && clock_.now_ms() < peer.conflicts_since_ms + kConflictQuietMs;
  }

  void on(Peer& peer, GetPeers&) { answer_get_peers(peer); }

  void on(Peer& peer, Peers& message) {
    if (!config_.discovery) return;
    const std::string source = network_group(peer.remote_ip);
    for (const auto& a : message.peers)
      if (a.port != 0 && !a.host.empty()) learn(a, source);
  }

  // The cheap checks first, then the signature budget, then the signatures of what is left, in
  // parallel off the loop; what passes goes to the node. A transaction dropped for a budget or
  // the verifier's backlog is not remembered: from another peer it still counts. Only the cheap
  // checks' refusals draw on the unfunded budget: what passed them and is refused as unfunded
  // after its signature check was spent by a block while it waited (under load, thousands a
  // second), the node's chain moving, not the peer flooding.
  void on(Peer& peer, Txs& message) {
    std::vector<TransactionPtr> fresh;
    std::unordered_set<Hash> in_message;  // a transaction twice in one message is looked at once
    for (const auto& tx : message.txs)
      if (!seen_txs_.contains(tx->id()) && !handler_.has_transaction(tx->id()) &&
          in_message.insert(tx->id()).second)
        fresh.push_back(tx);
    if (fresh.empty()) return;
    auto verdicts = handler_.screen_transactions(fresh);
    std::vector<TransactionPtr> passed;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (verdicts[i].ok())
        passed.push_back(fresh[i]);
      else
        remember_tx(fresh[i]->id());
    }
    penalise_txs(peer, verdicts);
    if (peer.closing) return;
    // Not penalised: an honest peer relaying a busy network's valid transactions may go over,
    // and what it loses here reaches this node in blocks. The cut alone bounds the work.
    cut_to_budget(peer, peer.tx_signature_budget, config_.max_tx_signatures_per_second,
                  config_.max_tx_signature_burst, passed, "transactions", false);
    if (peer.closing || passed.empty()) return;
    check_signatures_then_admit(peer, std::move(passed));
  }

  void check_signatures_then_admit(Peer& peer, std::vector<TransactionPtr> txs) {
    if (verifier_ == nullptr) {
      for (const auto& tx : txs) remember_tx(tx->id());
      auto verdicts = handler_.receive_transactions(peer.id, txs);
      forget_forgeries(txs, verdicts, seen_txs_);
      return penalise(peer, verdicts);
    }
    // Each peer's share of the backlog is its burst, and all of them together are bounded too.
    // Beyond either the batch is dropped unblamed (the peer kept within its budget; the verifier
    // fell behind) and unremembered.
    if (peer.pending_signature_checks + txs.size() > config_.max_tx_signature_burst ||
        pending_signature_checks_ + txs.size() > kMaxPendingSignatureChecks)
      return log_backlog(peer, txs.size(), "transactions", pending_signature_checks_);
    for (const auto& tx : txs) remember_tx(tx->id());
    peer.pending_signature_checks += txs.size();
    pending_signature_checks_ += txs.size();
    verifier_->verify_all_async(
        txs, wake_on_loop([this, id = peer.id, sender = offender_of(peer), txs]() {
          pending_signature_checks_ -= txs.size();
          if (auto it = peers_.find(id); it != peers_.end())
            it->second->pending_signature_checks -= txs.size();
          // Each signature's verdict is kept on its transaction now.
          auto verdicts = handler_.receive_transactions(id, txs);
          forget_forgeries(txs, verdicts, seen_txs_);
          if (Peer* sent_by = live_peer(id))
            penalise(*sent_by, verdicts);
          else
            ban_departed(sender, verdicts);
        }));
  }

  // A `done` for the verifier's thread that runs `then` on the loop (through the task set, so
  // not after the network is gone).
  std::function<void()> wake_on_loop(std::function<void()> then) {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    auto fulfiller =
        std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
    tasks_.add(paf.promise.then(kj::mv(then)));
    return [fulfiller]() { (*fulfiller)->fulfill(); };
  }

  void log_backlog(const Peer& peer, std::size_t count, const char* what, std::size_t waiting) {
    std::uint64_t now = clock_.now_ms();
    if (since(now, backlog_logged_ms_) < kBacklogLogMs) return;
    backlog_logged_ms_ = now;
    log_.warn("dropping a peer's items: too many wait for their signature checks",
              {{"peer", peer.remote}, {"what", what}, {"dropped", count}, {"waiting", waiting}});
  }

  // An item's id does not cover its signature: a copy with a bad one, sent first, must not make
  // the network ignore the genuine item when an honest peer relays it.
  template <class T>
  static void forget_forgeries(const std::vector<T>& items, const std::vector<Status>& verdicts,
                               SeenSet& seen) {
    for (std::size_t i = 0; i < items.size() && i < verdicts.size(); ++i)
      if (!verdicts[i].ok() && verdicts[i].reason() == Reason::kBadSignature)
        seen.erase(items[i]->id());
  }

  static Offender offender_of(const Peer& peer) {
    return Offender{peer.remote_ip, peer.ready ? std::optional(peer.hello.node_id) : std::nullopt};
  }

  Peer* live_peer(std::uint64_t id) {
    auto it = peers_.find(id);
    return it != peers_.end() && !it->second->closing ? it->second.get() : nullptr;
  }

  // A peer that left before its signatures were checked is banned for a refusal no honest node
  // earns (a bad signature): leaving must not be a way out.
  void ban_departed(const Offender& sender, const std::vector<Status>& verdicts) {
    if (banned(sender)) return;  // once: its other items still queued need not renew it
    for (const auto& verdict : verdicts)
      if (!verdict.ok() && reason_info(verdict.reason()).peer_penalty >= 100) {
        ban(sender);
        log_from_peers(LogLevel::kWarn, "banned a peer after it left",
                       {{"peer", sender.ip},
                        {"reason", verdict.reason()},
                        {"error", verdict.error().message}});
        return;
      }
  }

  bool banned(const Offender& offender) const {
    return ip_banned(offender.ip) || (offender.node_id && node_banned(*offender.node_id));
  }
  bool ip_banned(const std::string& ip) const {
    auto ban = banned_ips_.find(ip);
    return config_.ban_by_ip && ban != banned_ips_.end() && ban->second > clock_.now_ms();
  }
  bool node_banned(const Hash& node_id) const {
    auto ban = banned_nodes_.find(node_id);
    return ban != banned_nodes_.end() && ban->second > clock_.now_ms();
  }

  // penalise(), and refusals as unfunded (no penalty each) draw on the peer's unfunded budget:
  // a message that overdraws it costs rate_limited's penalty.
  void penalise_txs(Peer& peer, const std::vector<Status>& verdicts) {
    std::size_t unfunded = 0;
    for (const auto& verdict : verdicts)
      if (!verdict.ok() && is_unfunded(verdict.reason())) ++unfunded;
    if (unfunded > 0) {
      if (!take(peer.unfunded_tx_budget, config_.max_unfunded_txs_per_second,
                config_.max_unfunded_tx_burst, static_cast<double>(unfunded))) {
        peer.unfunded_tx_budget.tokens = 0;  // the refusals were made all the same
        refuse(peer, Error{Reason::kRateLimited,
                           fmt::format("{} unfunded transactions over its budget of {} a second",
                                       unfunded, config_.max_unfunded_txs_per_second)});
        if (peer.closing) return;
      }
    }
    penalise(peer, verdicts);
  }

  // The refusals of no penalty that the node's pool alone does not explain (pool_full does: an
  // honest peer relays what its own pool took).
  static bool is_unfunded(Reason reason) {
    return reason == Reason::kStaleNonce || reason == Reason::kNonceGap ||
           reason == Reason::kInsufficientFunds || reason == Reason::kInsufficientStake ||
           reason == Reason::kSlashed || reason == Reason::kFeeTooLow ||
           reason == Reason::kSenderLimit || reason == Reason::kReplacementUnderpriced;
  }

  // The budget, then what is new to the network and the node meets the node's cheap checks;
  // the signatures of what passes are checked in parallel off the loop, then the node takes them.
  void on(Peer& peer, Votes& message) {
    cut_to_budget(peer, peer.vote_budget, config_.max_votes_per_second, config_.max_vote_burst,
                  message.votes, "votes");
    if (peer.closing) return;
    std::vector<VotePtr> fresh;
    for (const auto& vote : message.votes) {
      if (seen_votes_.contains(vote->id()) || handler_.has_vote(vote->id())) continue;
      seen_votes_.insert(vote->id());
      fresh.push_back(vote);
    }
    if (fresh.empty()) return;
    auto screened = handler_.screen_votes(fresh);
    std::vector<VotePtr> passed;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (!screened[i].ok()) {
        refuse(peer, screened[i].error());
        if (peer.closing) return;
      } else if (*screened[i]) {
        passed.push_back(fresh[i]);
      }
    }
    if (passed.empty()) return;
    if (verifier_ == nullptr) {
      auto verdicts = handler_.receive_votes(peer.id, passed);
      forget_forgeries(passed, verdicts, seen_votes_);
      return penalise(peer, verdicts);
    }
    // A burst per peer and kMaxPendingVoteChecks in all wait; beyond either the votes are
    // dropped unblamed (the verifier fell behind) and forgotten by the seen-set.
    if (peer.pending_vote_checks + passed.size() > config_.max_vote_burst ||
        pending_vote_checks_ + passed.size() > kMaxPendingVoteChecks) {
      for (const auto& vote : passed) seen_votes_.erase(vote->id());
      log_backlog(peer, passed.size(), "votes", pending_vote_checks_);
      return;
    }
    peer.pending_vote_checks += passed.size();
    pending_vote_checks_ += passed.size();
    verifier_->verify_votes_async(
        passed, wake_on_loop([this, id = peer.id, sender = offender_of(peer), passed]() {
          pending_vote_checks_ -= passed.size();
          if (auto it = peers_.find(id); it != peers_.end())
            it->second->pending_vote_checks -= passed.size();
          auto verdicts = handler_.receive_votes(id, passed);
          forget_forgeries(passed, verdicts, seen_votes_);
          if (Peer* sent_by = live_peer(id))
            penalise(*sent_by, verdicts);
          else
            ban_departed(sender, verdicts);
        }));
  }

  // Like votes: the budget, then what is new to the network and the node goes to the node, which
  // checks it (Evidence::check) and relays what it keeps.
  void on(Peer& peer, EvidenceList& message) {
    cut_to_budget(peer, peer.evidence_budget, config_.max_evidence_per_second,
                  config_.max_evidence_burst, message.evidence, "evidence");
    if (peer.closing) return;
    std::vector<EvidencePtr> fresh;
    for (const auto& e : message.evidence) {
      if (seen_evidence_.contains(e->id()) || handler_.has_evidence(e->id())) continue;
      seen_evidence_.insert(e->id());
      fresh.push_back(e);
    }
    if (fresh.empty()) return;
    penalise(peer, handler_.receive_evidence(peer.id, fresh));
  }

  void on(Peer& peer, NewBlock& message) {
    const BlockPtr& block = message.block;
    if (ignoring_conflicts(peer)) return;
    peer.hello.best_height = std::max(peer.hello.best_height, block->height());
    if (!handler_.takes_peer_blocks()) return;
    if (queued_blocks_.size() >= kMaxQueuedBlocks) {
      // Unblamed: the peer sent one block; this node fell behind. The block comes again in a
      // sync batch if the chain needs it.
      return log_backlog(peer, 1, "blocks", queued_blocks_.size());
    }
    queued_blocks_.push_back(QueuedBlock{peer.id, offender_of(peer), block, nullptr, false});
    check_queued_blocks();
  }

  // Peers' blocks, one at a time in the order they came (a block's header is judged against
  // its parent, which may be the block before): a block whose header passes has its body's
  // signatures checked off the loop (NetworkHandler::screen_block), then the node takes it.
  void check_queued_blocks() {
    while (!checking_block_ && !queued_blocks_.empty()) {
      QueuedBlock queued = std::move(queued_blocks_.front());
      queued_blocks_.pop_front();
      if (queued.batch && queued.batch->failed) {
        if (queued.last) end_sync_batch(queued);
        continue;
      }
      if (verifier_ == nullptr || !handler_.screen_block(queued.block) ||
          nothing_left_to_check(*queued.block)) {
        receive_queued_block(queued);
        continue;
      }
      checking_block_ = true;
      BlockPtr block = queued.block;
      verifier_->verify_block_async(std::move(block),
                                    wake_on_loop([this, queued = std::move(queued)]() {
                                      checking_block_ = false;
                                      receive_queued_block(queued);
                                      check_queued_blocks();
                                    }));
    }
  }

  // The verdicts the verifier's cache holds for a block's transactions are recorded here, one
  // look-up each and no signature check, so that its thread checks only the rest and the votes:
  // under load a 10,000-transaction block waited 100 to 500 ms behind it, and the next leader
  // forged without it. A block with every transaction known and no votes needs no thread.
  bool nothing_left_to_check(const Block& block) const {
    return verifier_->recall_verdicts(block.transactions()) && block.votes().empty();
  }

  // A batch's last block ends the batch, however it went (an exception included: the count of
  // queued batches must not be left behind, or sync would never be asked for again).
  void receive_queued_block(const QueuedBlock& queued) {
    try {
      judge_queued_block(queued);
    } catch (...) {
      if (queued.batch) queued.batch->failed = true;
      if (queued.last) end_sync_batch(queued);
      throw;
    }
    if (queued.last) end_sync_batch(queued);
  }

  void judge_queued_block(const QueuedBlock& queued) {
    const BlockSource source = queued.batch ? BlockSource::kSync : BlockSource::kGossip;
    Status result = handler_.receive_block(queued.from, queued.block, source);
    Peer* sender = live_peer(queued.from);
    if (result.ok() || result.reason() == Reason::kAlreadyKnown) {
      if (queued.batch && result.ok()) queued.batch->progressed = true;
    } else if (result.reason() == Reason::kUnknownParent && !queued.batch) {
      if (sender && sync_idle()) request_blocks(*sender);
    } else {
      // A batch that conflicts is one chain: its first refusal says it. The engine says once
      // why it takes no peer's block without a checkpoint.
      if (!(queued.batch && queued.batch->conflicts) &&
          result.reason() != Reason::kCheckpointRequired)
        // A refusal with no penalty (an unknown parent, a branch that conflicts) is an honest
        // peer's too: a warning only for what no honest peer sends.
        log_from_peers(
            reason_info(result.reason()).peer_penalty > 0 ? LogLevel::kWarn : LogLevel::kDebug,
            "refused a block",
            {{"peer", sender ? sender->remote : queued.sender.ip},
             {"height", queued.block->height()},
             {"hash", queued.block->hash()},
             {"reason", result.reason()},
             {"error", result.error().message}});
      if (queued.batch && result.reason() == Reason::kConflictsFinalized)
        queued.batch->conflicts = true;
      else if (queued.batch)
        queued.batch->failed = true;  // the rest of the batch builds on it
      if (sender)
        refuse_block(*sender, result.error());
      else
        ban_departed(queued.sender, {result});
    }
  }

  // A batch is done: the one waiting behind it, if any, is the next applied, so the batch after
  // that is asked for now (the pipelining, one batch late); else, if the peer is still ahead,
  // the next from our tip.
  void end_sync_batch(const QueuedBlock& queued) {
    --queued_sync_batches_;
    if (queued.batch->progressed) log_.info("synced", {{"height", handler_.tip_height()}});
    auto after = std::exchange(unrequested_after_, std::nullopt);
    Peer* peer = live_peer(queued.from);
    if (!peer || queued.batch->failed || queued.batch->conflicts || peer->blocks_requested ||
        !handler_.takes_peer_blocks())
      return;
    if (after && after->first == peer->id && queued_sync_batches_ > 0)
      request_blocks(*peer, locator_after(after->second));
    else if (queued_sync_batches_ == 0 && queued.batch->progressed && better_than_us(*peer))
      request_blocks(*peer);
  }

  // Our locator with `hash` (the last block of a batch not yet applied) first.
  std::vector<Hash> locator_after(const Hash& hash) const {
    std::vector<Hash> locator = {hash};
    for (const auto& h : handler_.locator())
      if (locator.size() < kMaxLocatorHashes) locator.push_back(h);
    return locator;
  }

  // As refuse(), but a peer on a chain that conflicts with our finalized block pays for it once:
  // it may be a victim that goes on building there until our gossip brings it our chain.
  void refuse_block(Peer& peer, const Error& error) {
    if (error.reason == Reason::kConflictsFinalized) {
      if (ignoring_conflicts(peer)) return;
      peer.conflicts_finalized = true;
      peer.conflicts_since_ms = clock_.now_ms();
      if (unrequested_after_ && unrequested_after_->first == peer.id) unrequested_after_.reset();
    }
    refuse(peer, error);
  }

  void on(Peer& peer, GetBlocks& message) {
    std::size_t count = std::min<std::size_t>(message.max_blocks, config_.sync_batch_blocks);
    count = std::min(count, kMaxBlocksPerMessage);
    send(peer, Blocks{handler_.blocks_after(message.locator, count, config_.sync_batch_bytes)});
  }

  void on(Peer& peer, Blocks& message) {
    if (!peer.blocks_requested) {
      refuse(peer, Error{Reason::kUnexpectedMessage, "blocks it was not asked for"});
      return;
    }
    peer.blocks_requested = false;
    if (syncing_from_ == peer.id) syncing_from_.reset();
    // A batch asked for before the peer's chain was found to conflict with our finalized block:
    // it is more of that chain, and unscreened; once a minute is enough (refuse_block).
    if (ignoring_conflicts(peer)) return;
    // Pipelining: a full batch means more follow; ask for them before applying this one, so
    // that the peer reads and sends while this node verifies. While an earlier batch still
    // waits, the request goes out when that one is done (end_sync_batch): one batch applied and
    // one waiting keep the node busy, more would only queue.
    if (!message.blocks.empty() && message.blocks.size() >= config_.sync_batch_blocks &&
        handler_.takes_peer_blocks()) {
      if (queued_sync_batches_ == 0)
        request_blocks(peer, locator_after(message.blocks.back()->hash()));
      else
        unrequested_after_.emplace(peer.id, message.blocks.back()->hash());
    }
    // A batch short of the limit is all the peer has above our locator: a height it claimed
    // beyond that was not its main chain's (a liar, or a chain that moved), so it is not asked
    // again until it shows a higher block.
    if (message.blocks.size() < config_.sync_batch_blocks)
      peer.hello.best_height =
          message.blocks.empty() ? handler_.tip_height() : message.blocks.back()->height();
    if (message.blocks.empty()) return;
    auto batch = std::make_shared<SyncBatch>();
    ++queued_sync_batches_;
    for (const auto& block : message.blocks) {
      peer.hello.best_height = std::max(peer.hello.best_height, block->height());
      queued_blocks_.push_back(
          QueuedBlock{peer.id, offender_of(peer), block, batch, block == message.blocks.back()});
    }
    check_queued_blocks();
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

  // No request out and no batch waiting: a request now would ask again for what is queued (the
  // last batch's end asks for more itself).
  bool sync_idle() const { return !syncing_from_ && queued_sync_batches_ == 0; }

  void request_blocks(Peer& peer) { request_blocks(peer, handler_.locator()); }

  void request_blocks(Peer& peer, std::vector<Hash> locator) {
    syncing_from_ = peer.id;
    peer.blocks_requested = true;
    peer.blocks_requested_ms = clock_.now_ms();
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
    std::uint64_t now = clock_.now_ms();
    for (auto& [message, budget] : peer_log_budgets_) roll_log_window(message, budget, now);
    // Expired bans go: peers cycling through node ids must not grow the maps for ever.
    std::erase_if(banned_ips_, [now](const auto& ban) { return ban.second <= now; });
    std::erase_if(banned_nodes_, [now](const auto& ban) { return ban.second <= now; });
    std::size_t outbound = 0;
    for (auto& [id, peer] : peers_) {
      if (peer->closing) continue;
      if (!peer->inbound) ++outbound;
      if (!peer->ready && since(now, peer->connected_ms) > config_.handshake_timeout_ms) {
        drop(*peer, "no hello in time");
      } else if (since(now, peer->last_frame_ms) > config_.idle_timeout_ms) {
        drop(*peer, "silent for too long");
      } else if (peer->ready && since(now, peer->last_ping_ms) > config_.ping_interval_ms) {
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
    // A sync whose peer went away moves to another peer that is ahead; one whose peer sent
    // nothing in time too, and that peer pays and is not asked again until it shows a higher
    // block (its claimed height alone never holds the sync).
    if (syncing_from_) {
      auto it = peers_.find(*syncing_from_);
      if (it == peers_.end() || it->second->closing) {
        syncing_from_.reset();
      } else if (since(now, it->second->blocks_requested_ms) > kSyncStallMs) {
        syncing_from_.reset();
        Peer& stalled = *it->second;
        stalled.hello.best_height = std::min(stalled.hello.best_height, handler_.tip_height());
        refuse(stalled, Error{Reason::kSyncTimeout,
                              fmt::format("no blocks within {} s of asking", kSyncStallMs / 1000)});
      }
    }
    if (sync_idle()) {
      for (auto& [id, peer] : peers_)
        if (peer->ready && !peer->closing && better_than_us(*peer)) {
          request_blocks(*peer);
          break;
        }
    }
  }

  kj::AsyncIoContext& io_;
  const PeerNetworkConfig config_;
  const std::string chain_id_;
  const Hash genesis_hash_;
  NetworkHandler& handler_;
  const Clock& clock_;
  Logger log_;
  std::map<std::string, LogBudget> peer_log_budgets_;
  Hash node_id_;
  std::string listen_address_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  std::map<std::uint64_t, kj::Own<Peer>> peers_;
  std::map<std::string, AddressEntry> book_;
  std::map<std::string, std::size_t> source_counts_;  // learnt book entries per source group
  std::mt19937_64 random_{std::random_device{}()};
  std::map<std::string, std::uint64_t> banned_ips_;
  std::map<Hash, std::uint64_t> banned_nodes_;
  SeenSet seen_txs_{kSeenTxsGeneration};
  std::vector<std::pair<TransactionPtr, std::uint64_t>>
      unsent_txs_;  // with the peer they came from
  bool tx_flush_due_ = false;
  kj::TimePoint last_tx_flush_ = kj::origin<kj::TimePoint>();
  SignatureVerifier* verifier_ = nullptr;
  double read_tokens_ = 0;  // pace_reads(): the shared read budget, in bytes
  kj::TimePoint read_refilled_ = kj::origin<kj::TimePoint>();
  std::deque<QueuedBlock> queued_blocks_;
  bool checking_block_ = false;          // the front block's signatures are at the verifier
  std::size_t queued_sync_batches_ = 0;  // sync batches with a block still queued
  // A full sync batch queued (its sender, its last block) whose successor is not asked for yet.
  std::optional<std::pair<std::uint64_t, Hash>> unrequested_after_;
  std::size_t pending_signature_checks_ = 0;  // transactions
  std::size_t pending_vote_checks_ = 0;
  std::uint64_t backlog_logged_ms_ = 0;
  std::string anchors_written_;  // the anchors file's text as last written
  SeenSet seen_votes_{kSeenVotesGeneration};
  SeenSet seen_evidence_{kSeenEvidenceGeneration};
  std::optional<std::uint64_t> syncing_from_;
  std::uint64_t next_peer_id_ = 0;
  std::uint64_t connections_dropped_ = 0;
  std::uint16_t port_ = 0;
  kj::TaskSet tasks_;  // last: destroyed first, while what its tasks use still exists
};

PeerNetwork::PeerNetwork(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<PeerNetwork>> PeerNetwork::start(EventLoop& loop, PeerNetworkConfig config,
                                                        std::string chain_id, Hash genesis_hash,
                                                        NetworkHandler& handler, const Clock& clock,
                                                        Logger log) {
  kj::AsyncIoContext& io = loop.impl().context();
  kj::Own<kj::ConnectionReceiver> receiver;
  std::string listen_address;
  if (config.listen) {
    auto fd = bind_listener(config.listen_host, config.listen_port);
    if (!fd.ok()) return fd.error();
    listen_address = fmt::format("{}:{}", config.listen_host, bound_port(*fd));
    receiver = io.lowLevelProvider->wrapListenSocketFd(
        *fd,
        kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
  }
  auto impl = std::make_unique<Impl>(io, std::move(config), std::move(chain_id), genesis_hash,
                                     handler, clock, std::move(log), listen_address);
  if (receiver) impl->listen(kj::mv(receiver));
  return std::unique_ptr<PeerNetwork>(new PeerNetwork(std::move(impl)));
}

PeerNetwork::~PeerNetwork() = default;

std::uint16_t PeerNetwork::port() const {
  return impl_->port();
}
const Hash& PeerNetwork::node_id() const {
  return impl_->node_id();
}
NetworkStatus PeerNetwork::status() const {
  return impl_->status();
}
void PeerNetwork::connect(const std::string& address) {
  impl_->connect(address);
}
void PeerNetwork::isolate() {
  impl_->isolate();
}
void PeerNetwork::set_verifier(SignatureVerifier* verifier) {
  impl_->set_verifier(verifier);
}
void PeerNetwork::broadcast_block(const BlockPtr& block, PeerId except) {
  impl_->broadcast_block(block, except);
}
void PeerNetwork::broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) {
  impl_->broadcast_transactions(txs, except);
}
void PeerNetwork::broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) {
  impl_->broadcast_votes(votes, except);
}
void PeerNetwork::broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) {
  impl_->broadcast_evidence(evidence, except);
}
std::size_t PeerNetwork::ready_peers() const {
  return impl_->ready_peers();
}
bool PeerNetwork::peer_ahead() const {
  return impl_->peer_ahead();
}

}  // namespace pos
