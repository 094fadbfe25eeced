// What the peer-network tests share: a fixture of real listening PeerNodes on loopback, and a
// raw peer that speaks the wire protocol over a plain socket to play a hostile one.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "pos/p2p_messages.h"
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
    if (std::getenv("POS_TEST_LOG"))
      c.log = [](const std::string& line) { std::cerr << "[p2p] " << line << "\n"; };
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
  explicit RawPeer(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
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
  // so everything sent before has then been handled. False if the node closed or stayed silent.
  bool round_trip(std::uint64_t nonce, double seconds = 10,
                  const std::string& chain_id = "pos-test") {
    send(p2p::Ping{nonce});
    auto pong = [nonce](const p2p::Message& m) {
      const auto* p = std::get_if<p2p::Pong>(&m);
      return p && p->nonce == nonce;
    };
    return read_until(pong, seconds, nullptr, chain_id) == Ended::kFound;
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

}  // namespace pos::test
