// What the peer-network tests share: a fixture of real listening PeerNodes on loopback, a bare
// PeerNetwork whose NetworkHandler records what it is handed, and a raw peer that speaks the
// wire protocol over a plain socket to play a hostile one.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "pos/event_loop.h"
#include "pos/p2p_messages.h"
#include "pos/peer_network.h"
#include "pos/peer_node.h"
#include "test_support.h"

namespace pos::test {

// Validators, users and a genesis, and a clock 100,000 slots ahead, so that the slots tests use
// are allowed. The clock stands still unless a test moves it: the network's timeouts and rate
// window read it.
struct Fixture {
  TestNet keys;
  ManualClock clock{kGenesisTime + 100'000'000};
  std::vector<std::unique_ptr<PeerNode>> nodes;

  PeerNodeConfig config(std::vector<std::string> seeds = {}, bool discovery = true) const {
    PeerNodeConfig c;
    c.network.seeds = std::move(seeds);
    c.network.discovery = discovery;
    c.network.ban_by_ip = false;  // every test peer is 127.0.0.1
    // The clock stands far past the weak-subjectivity period after genesis, which these chains
    // never finalize: the nodes trust their peers, as pos-node --sync-without-checkpoint does.
    c.sync_without_checkpoint = true;
    if (std::getenv("POS_TEST_LOG")) c.log = test::stderr_log("node");
    return c;
  }
  PeerNode& start(PeerNodeConfig c) {
    auto node =
        PeerNode::start(keys.genesis, std::make_unique<MemoryStorage>(), std::move(c), clock);
    REQUIRE(node.ok());
    nodes.push_back(std::move(*node));
    return *nodes.back();
  }
  static std::string address(const PeerNode& node) {
    return "127.0.0.1:" + std::to_string(node.port());
  }
  // Forges the next block on `node` with whichever validator leads the slot; with a parity,
  // only in odd (1) or even (0) slots, so that two partitions never fill the same slot.
  BlockPtr forge(PeerNode& node, int parity = -1) {
    std::uint64_t slot = 0;
    std::optional<PublicKey> leader;
    node.inspect([&](const Blockchain& chain, const TransactionPool&) {
      slot = chain.tip().slot + 1;
      if (parity >= 0 && static_cast<int>(slot % 2) != parity) ++slot;
      leader = chain.leader(slot);
    });
    auto block = node.forge(keys.wallet_of(*leader).secret_key(), slot);
    REQUIRE(block.ok());
    return *block;
  }
};

inline std::size_t peer_count(const PeerNode& node) {
  return node.status().peers.size();
}

// A hostile or test peer speaking the wire protocol over a plain socket.
class RawPeer {
 public:
  // From `source_ip` (a loopback address such as 127.1.0.1, to be another network group than
  // 127.0.0.1's) when given.
  explicit RawPeer(std::uint16_t port, const char* source_ip = nullptr) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (source_ip) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      REQUIRE(inet_pton(AF_INET, source_ip, &from.sin_addr) == 1);
      REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~RawPeer() { close(fd_); }
  void send_bytes(const Bytes& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the node closed the connection: fine for these tests
      sent += static_cast<std::size_t>(n);
    }
  }
  void send(const p2p::Message& m) { send_bytes(p2p::encode_frame(m)); }
  // Reads frames until the node closes the connection or `seconds` pass; true if closed.
  bool closed_by_node(double seconds = 10, std::vector<p2p::Message>* got = nullptr,
                      const std::string& chain_id = "pos-test") {
    return read_until([](const p2p::Message&) { return false; }, seconds, got, chain_id) ==
           Ended::kClosed;
  }
  // Sends a Ping and reads until its Pong: the node handles a connection's messages in order,
  // so everything sent before has then been handled, and everything the node sent this peer
  // before the Pong is in `got`. False if the node closed or stayed silent.
  bool round_trip(std::uint64_t nonce, double seconds = 10,
                  const std::string& chain_id = "pos-test",
                  std::vector<p2p::Message>* got = nullptr) {
    send(p2p::Ping{nonce});
    auto pong = [nonce](const p2p::Message& m) {
      const auto* p = std::get_if<p2p::Pong>(&m);
      return p && p->nonce == nonce;
    };
    return read_until(pong, seconds, got, chain_id) == Ended::kFound;
  }
  // Reads frames until one satisfies `found` (true), or the node closes or `seconds` pass.
  template <class F>
  bool receive(F found, double seconds = 10, const std::string& chain_id = "pos-test") {
    return read_until(found, seconds, nullptr, chain_id) == Ended::kFound;
  }

 private:
  enum class Ended { kFound, kClosed, kTimeout };
  template <class F>
  Ended read_until(F found, double seconds, std::vector<p2p::Message>* got,
                   const std::string& chain_id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      std::uint8_t chunk[65536];
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return Ended::kClosed;
      buffer_.insert(buffer_.end(), chunk, chunk + n);
      for (;;) {
        auto size = p2p::frame_size(buffer_);
        if (!size.ok() || !*size || buffer_.size() < **size) break;
        auto m = p2p::decode_frame(ByteView(buffer_.data(), **size), chain_id);
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(**size));
        if (!m.ok()) continue;
        if (got) got->push_back(*m);
        if (found(*m)) return Ended::kFound;
      }
    }
    return Ended::kTimeout;
  }

  int fd_ = -1;
  Bytes buffer_;
};

inline p2p::Hello hello_for(const Fixture& f, std::uint8_t id) {
  p2p::Hello h;
  h.chain_id = f.keys.chain_id();
  h.genesis_hash = f.keys.genesis.hash();
  h.node_id.bytes[0] = id;
  h.best_hash = f.keys.genesis.hash();
  return h;
}

// A vote by validators[0] from genesis to a made-up target at `target_height`: distinct heights
// make distinct ids. Signed unless `sign` is false (then its signature is zero bytes, for floods
// of votes that no one here verifies).
inline VotePtr vote_for(const Fixture& f, std::uint64_t target_height, bool sign = true) {
  VoteFields fields;
  fields.chain_id = f.keys.chain_id();
  fields.validator = f.keys.validators[0].public_key();
  fields.source_hash = f.keys.genesis.hash();
  fields.source_height = 0;
  fields.target_hash.bytes[0] = static_cast<std::uint8_t>(target_height);
  fields.target_hash.bytes[1] = static_cast<std::uint8_t>(target_height >> 8);
  fields.target_height = target_height;
  if (sign) return Vote::sign(fields, f.keys.validators[0].secret_key());
  return Vote::make(fields, Signature{});
}

inline std::vector<VotePtr> votes_for(const Fixture& f, std::uint64_t first, std::size_t count,
                                      bool sign = false) {
  std::vector<VotePtr> votes;
  for (std::uint64_t h = first; h < first + count; ++h) votes.push_back(vote_for(f, h, sign));
  return votes;
}

// Double-vote evidence against validators[0]: two signed votes from genesis for target height
// `target_height` with different target hashes. Distinct heights make distinct ids.
inline EvidencePtr double_vote_for(const Fixture& f, std::uint64_t target_height) {
  auto vote = [&](std::uint8_t variant) {
    VoteFields fields;
    fields.chain_id = f.keys.chain_id();
    fields.validator = f.keys.validators[0].public_key();
    fields.source_hash = f.keys.genesis.hash();
    fields.source_height = 0;
    fields.target_hash.bytes[0] = static_cast<std::uint8_t>(target_height);
    fields.target_hash.bytes[1] = static_cast<std::uint8_t>(target_height >> 8);
    fields.target_hash.bytes[2] = variant;
    fields.target_height = target_height;
    return Vote::sign(fields, f.keys.validators[0].secret_key());
  };
  auto evidence = Evidence::double_vote(vote(1), vote(2));
  REQUIRE(evidence.ok());
  return *evidence;
}

inline std::vector<EvidencePtr> double_votes_for(const Fixture& f, std::uint64_t first,
                                                 std::size_t count) {
  std::vector<EvidencePtr> evidence;
  for (std::uint64_t h = first; h < first + count; ++h) evidence.push_back(double_vote_for(f, h));
  return evidence;
}

// A NetworkHandler standing in for the node: a chain of its genesis alone, transactions screened
// by `tx_verdict` (and all that pass admitted), votes judged by `verdict`, evidence by
// `evidence_verdict` and blocks by `block_verdict` (set before the network starts; ok for all by
// default). Like the node, it keeps the votes and evidence it accepts and has the network relay
// them to every peer but their sender. It records what it was handed; the test thread reads that
// while the network's loop writes it, hence the lock.
class RecordingHandler final : public NetworkHandler {
 public:
  explicit RecordingHandler(const Genesis& genesis) : genesis_hash_(genesis.hash()) {}

  std::function<Status(const Vote&)> verdict = [](const Vote&) { return Status{}; };
  std::function<Status(const Evidence&)> evidence_verdict = [](const Evidence&) {
    return Status{};
  };
  std::function<Status(const Block&)> block_verdict = [](const Block&) { return Status{}; };
  // Whether a block's body is signature-checked before receive_block (screen_block).
  std::function<bool(const Block&)> block_screen = [](const Block&) { return false; };
  // The cheap checks' verdict on a transaction (screen_transactions); what passes is admitted.
  std::function<Status(const Transaction&)> tx_verdict = [](const Transaction&) {
    return Status{};
  };
  // The node's verdict on what passed the cheap checks (after its signature check, if any): a
  // block may have spent it meanwhile.
  std::function<Status(const Transaction&)> admit_verdict = [](const Transaction&) {
    return Status{};
  };
  bool check_signatures = false;
  std::atomic<bool> takes_blocks = true;  // set by the test thread, read on the loop
  Transport* transport = nullptr;

  std::uint64_t tip_height() const override { return 0; }
  Hash tip_hash() const override { return genesis_hash_; }
  std::vector<Hash> locator() const override { return {genesis_hash_}; }
  std::vector<BlockPtr> blocks_after(const std::vector<Hash>&, std::size_t,
                                     std::size_t) const override {
    return {};
  }
  bool has_transaction(const Hash&) const override { return false; }
  std::vector<Status> screen_transactions(const std::vector<TransactionPtr>& txs) override {
    std::vector<Status> verdicts;
    for (const auto& tx : txs) verdicts.push_back(tx_verdict(*tx));
    std::lock_guard lock(mutex_);
    txs_screened_ += txs.size();
    return verdicts;
  }
  // Each admitted, or with check_signatures each judged by its signature, as a pool would.
  std::vector<Status> receive_transactions(PeerId,
                                           const std::vector<TransactionPtr>& txs) override {
    std::vector<Status> verdicts;
    for (const auto& tx : txs) {
      Status signature = check_signatures ? tx->check_signature() : Status{};
      verdicts.push_back(signature.ok() ? admit_verdict(*tx) : signature);
    }
    std::lock_guard lock(mutex_);
    txs_received_ += txs.size();
    return verdicts;
  }
  std::size_t txs_received() const {
    std::lock_guard lock(mutex_);
    return txs_received_;
  }
  std::size_t txs_screened() const {
    std::lock_guard lock(mutex_);
    return txs_screened_;
  }
  bool screen_block(const BlockPtr& block) const override { return block_screen(*block); }
  Status receive_block(PeerId, const BlockPtr& block, BlockSource) override {
    return block_verdict(*block);
  }
  bool takes_peer_blocks() const override { return takes_blocks; }

  bool has_vote(const Hash& id) const override {
    std::lock_guard lock(mutex_);
    return kept_.contains(id);
  }
  // No cheap checks here: every vote goes on to receive_votes, which judges it by `verdict`.
  std::vector<Result<bool>> screen_votes(const std::vector<VotePtr>& votes) override {
    return std::vector<Result<bool>>(votes.size(), Result<bool>(true));
  }
  std::vector<Status> receive_votes(PeerId from, const std::vector<VotePtr>& votes) override {
    std::vector<Status> verdicts;
    std::vector<VotePtr> kept;
    {
      std::lock_guard lock(mutex_);
      ++calls_;
      for (const auto& vote : votes) {
        received_.push_back({from, vote});
        verdicts.push_back(verdict(*vote));
        if (verdicts.back().ok() && kept_.insert(vote->id()).second) kept.push_back(vote);
      }
    }
    if (transport && !kept.empty()) transport->broadcast_votes(kept, from);
    return verdicts;
  }

  bool has_evidence(const Hash& id) const override {
    std::lock_guard lock(mutex_);
    return kept_evidence_.contains(id);
  }
  std::vector<Status> receive_evidence(PeerId from,
                                       const std::vector<EvidencePtr>& evidence) override {
    std::vector<Status> verdicts;
    std::vector<EvidencePtr> kept;
    {
      std::lock_guard lock(mutex_);
      ++evidence_calls_;
      for (const auto& e : evidence) {
        received_evidence_.push_back({from, e});
        verdicts.push_back(evidence_verdict(*e));
        if (verdicts.back().ok() && kept_evidence_.insert(e->id()).second) kept.push_back(e);
      }
    }
    if (transport && !kept.empty()) transport->broadcast_evidence(kept, from);
    return verdicts;
  }

  // Every vote handed over, with the peer it came from, in order.
  std::vector<std::pair<PeerId, VotePtr>> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::size_t received_count() const {
    std::lock_guard lock(mutex_);
    return received_.size();
  }
  // How many times receive_votes was called.
  std::size_t calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  // Every evidence handed over, with the peer it came from, in order.
  std::vector<std::pair<PeerId, EvidencePtr>> received_evidence() const {
    std::lock_guard lock(mutex_);
    return received_evidence_;
  }
  std::size_t received_evidence_count() const {
    std::lock_guard lock(mutex_);
    return received_evidence_.size();
  }
  // How many times receive_evidence was called.
  std::size_t evidence_calls() const {
    std::lock_guard lock(mutex_);
    return evidence_calls_;
  }

 private:
  Hash genesis_hash_;
  mutable std::mutex mutex_;
  std::vector<std::pair<PeerId, VotePtr>> received_;
  std::set<Hash> kept_;
  std::size_t calls_ = 0;
  std::vector<std::pair<PeerId, EvidencePtr>> received_evidence_;
  std::set<Hash> kept_evidence_;
  std::size_t evidence_calls_ = 0;
  std::size_t txs_received_ = 0;
  std::size_t txs_screened_ = 0;
};

// A PeerNetwork alone on its own event loop, listening on a loopback port, with a
// RecordingHandler for a node; tests reach it through the loop. Its clock is the fixture's.
class BareNetwork {
 public:
  BareNetwork(Fixture& f, PeerNetworkConfig config = {},
              std::function<Status(const Vote&)> verdict = {},
              std::function<Status(const Evidence&)> evidence_verdict = {},
              std::function<Status(const Block&)> block_verdict = {}, Logger log = {})
      : handler_(f.keys.genesis) {
    if (verdict) handler_.verdict = std::move(verdict);
    if (evidence_verdict) handler_.evidence_verdict = std::move(evidence_verdict);
    if (block_verdict) handler_.block_verdict = std::move(block_verdict);
    config.ban_by_ip = false;  // every test peer is 127.0.0.1
    if (std::getenv("POS_TEST_LOG")) log = test::stderr_log("p2p");
    std::optional<Error> failed;
    loop_.call([&] {
      auto started = PeerNetwork::start(loop_, config, f.keys.chain_id(), f.keys.genesis.hash(),
                                        handler_, f.clock, log);
      if (!started.ok()) {
        failed = started.error();
        return;
      }
      network_ = std::move(*started);
      handler_.transport = network_.get();
    });
    INFO((failed ? failed->to_string() : std::string("started")));
    REQUIRE_FALSE(failed);
  }
  ~BareNetwork() {
    loop_.call([&] { network_.reset(); });
  }
  BareNetwork(const BareNetwork&) = delete;
  BareNetwork& operator=(const BareNetwork&) = delete;

  std::uint16_t port() const {
    return loop_.call_for([&] { return network_->port(); });
  }
  NetworkStatus status() const {
    return loop_.call_for([&] { return network_->status(); });
  }
  // The misbehaviour of the ready peer whose hello had node id `id` (hello_for), if connected.
  std::optional<int> misbehaviour(std::uint8_t id) const {
    for (const auto& p : status().peers)
      if (p.node_id.bytes[0] == id) return p.misbehaviour;
    return std::nullopt;
  }
  // On the loop: the stand-in node's verdict on the transactions it screens.
  void set_tx_verdict(std::function<Status(const Transaction&)> verdict) {
    loop_.call([&] { handler_.tx_verdict = std::move(verdict); });
  }
  // On the loop: the stand-in node's verdict on the transactions that passed the cheap checks.
  void set_admit_verdict(std::function<Status(const Transaction&)> verdict) {
    loop_.call([&] { handler_.admit_verdict = std::move(verdict); });
  }
  // On the loop: peers' transaction signatures are checked on `verifier` (which must outlive
  // this), and the stand-in node refuses those that do not verify.
  void check_signatures_on(SignatureVerifier& verifier) {
    loop_.call([&] {
      network_->set_verifier(&verifier);
      handler_.check_signatures = true;
    });
  }
  // On the loop: which peers' blocks the stand-in node screens as worth their body's checks.
  void set_block_screen(std::function<bool(const Block&)> screen) {
    loop_.call([&] { handler_.block_screen = std::move(screen); });
  }
  // As the node does with each block it applies.
  void broadcast_block(const BlockPtr& block, PeerId except = 0) {
    loop_.call([&] { network_->broadcast_block(block, except); });
  }
  void broadcast_votes(const std::vector<VotePtr>& votes, PeerId except = 0) {
    loop_.call([&] { network_->broadcast_votes(votes, except); });
  }
  void broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except = 0) {
    loop_.call([&] { network_->broadcast_evidence(evidence, except); });
  }
  const RecordingHandler& handler() const { return handler_; }
  // What the handler says of peers' blocks from now on (a node that needs a checkpoint: false).
  void set_takes_blocks(bool takes) { handler_.takes_blocks = takes; }

 private:
  EventLoop loop_;
  RecordingHandler handler_;
  std::unique_ptr<PeerNetwork> network_;
};

// The ids of the votes of every Votes message in `messages`, in order.
inline std::vector<Hash> vote_ids(const std::vector<p2p::Message>& messages) {
  std::vector<Hash> ids;
  for (const auto& m : messages)
    if (const auto* v = std::get_if<p2p::Votes>(&m))
      for (const auto& vote : v->votes) ids.push_back(vote->id());
  return ids;
}

// The ids of the evidence of every EvidenceList message in `messages`, in order.
inline std::vector<Hash> evidence_ids(const std::vector<p2p::Message>& messages) {
  std::vector<Hash> ids;
  for (const auto& m : messages)
    if (const auto* e = std::get_if<p2p::EvidenceList>(&m))
      for (const auto& evidence : e->evidence) ids.push_back(evidence->id());
  return ids;
}

}  // namespace pos::test
