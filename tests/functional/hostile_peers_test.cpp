// Attacks on a real pos-node validator by peers that speak the wire protocol over plain sockets:
// a liar about its height, blocks by a key with no stake, floods of unfunded and of forged
// transactions from ever new addresses, and one address trying to take every inbound slot. Each
// test measures what the attack aims at and holds it to a bound: the validator (all the stake,
// so it leads every slot) forges at least 90% of its slots while attacked, and stores nothing
// the attacker sent. Each prints its figures ("figure: ...").
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "../unit/peer_test_support.h"
#include "node_process.h"

using namespace pos;
using namespace pos::functional;

namespace {

constexpr std::uint64_t kSlotMs = 500;
constexpr double kMinForgedShare = 0.9;
// The event loop's CPU share under a flood: the shared read budget bounds its decoding (about 0.1
// on this machine's release build). The ASan build (-O1) decodes several times slower, up to
// 0.52 seen in CI: there the bound only says that the loop is not saturated.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kMaxLoopShare = 0.8;
constexpr const char* kMaxLoopShareText = "< 0.8 (ASan build)";
#else
constexpr double kMaxLoopShare = 0.5;
constexpr const char* kMaxLoopShareText = "< 0.5";
#endif

void report(const std::string& what, double value, const std::string& bound) {
  std::ostringstream line;
  line << "figure: " << what << " = " << value << " (bound: " << bound << ")\n";
  std::cout << line.str() << std::flush;
}

// A value of the node's GET /metrics (an unlabelled line), or -1.
double metric(NodeProcess& node, const std::string& name) {
  auto r = node.rpc().get("/metrics");
  if (!r.ok()) return -1;
  std::istringstream lines(r->body);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

// The validator's share of the slots of a window that it forged a main-chain block for. It
// holds all the stake, so it leads every slot; the slot the window ends in is left out (its block
// may still be coming).
class SlotWindow {
 public:
  explicit SlotWindow(NodeProcess& node) : node_(node) {
    auto info = node_.rpc().info();
    REQUIRE(info.ok());
    first_slot_ = info->slot + 1;
    height_ = info->height;
    cpu_ = metric(node_, "pos_event_loop_cpu_seconds_total");
    started_ = std::chrono::steady_clock::now();
  }
  // Waits until the node's clock is `slots` slots past the window's first.
  void wait_slots(std::uint64_t slots) {
    REQUIRE(eventually(
        [&] {
          auto info = node_.rpc().info();
          return info.ok() && info->slot >= first_slot_ + slots;
        },
        static_cast<double>(slots * kSlotMs) / 1000 + 20));
  }
  // Closes the window: the share of its slots forged, and the event loop's CPU share.
  std::pair<double, double> close() {
    double cpu = metric(node_, "pos_event_loop_cpu_seconds_total");
    double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    auto info = node_.rpc().info();
    REQUIRE(info.ok());
    REQUIRE(info->slot > first_slot_);
    std::uint64_t end_slot = info->slot;  // not counted
    std::size_t forged = 0;
    for (std::uint64_t h = height_ + 1; h <= info->height; ++h) {
      auto block = node_.rpc().block(h);
      REQUIRE(block.ok());
      if ((*block)->slot() >= first_slot_ && (*block)->slot() < end_slot) ++forged;
    }
    return {static_cast<double>(forged) / static_cast<double>(end_slot - first_slot_),
            (cpu - cpu_) / wall};
  }

 private:
  NodeProcess& node_;
  std::uint64_t first_slot_ = 0;
  std::uint64_t height_ = 0;
  double cpu_ = 0;
  std::chrono::steady_clock::time_point started_;
};

p2p::Hello hello_of(const TestNetwork& net, std::uint64_t id, std::uint64_t best_height = 0) {
  p2p::Hello hello;
  hello.chain_id = net.genesis.params.chain_id;
  hello.genesis_hash = net.genesis.hash();
  for (int i = 0; i < 8; ++i) hello.node_id.bytes[i] = static_cast<std::uint8_t>(id >> (8 * i));
  hello.node_id.bytes[31] = 0xAD;
  hello.best_height = best_height;
  hello.best_hash = net.genesis.hash();
  return hello;
}

// The k-th attacker address: another loopback address, in another network group, each time.
std::string attacker_ip(std::uint64_t k) {
  return "127." + std::to_string(10 + k % 200) + "." + std::to_string(k / 200 % 250) + ".1";
}

// Attackers that connect, one at a time, each from a new address with a new node id, say hello
// and write `frames` round and round as fast as the node reads them, until the node closes the
// connection, then come back from the next address. On a thread of their own (no Catch
// assertion there).
class Flood {
 public:
  Flood(const TestNetwork& net, std::uint16_t port, std::vector<Bytes> frames)
      : net_(net), port_(port), frames_(std::move(frames)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Flood() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t connections() const { return connections_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  void run() {
    for (std::uint64_t k = 0; !stop_; ++k) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in from{}, to{};
      from.sin_family = to.sin_family = AF_INET;
      inet_pton(AF_INET, attacker_ip(k).c_str(), &from.sin_addr);
      to.sin_port = htons(port_);
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      timeval timeout{0, 200'000};
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
      if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0 &&
          ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) {
        ++connections_;
        write_all(fd, p2p::encode_frame(hello_of(net_, 1000 + k)));
        while (!stop_ && write_all(fd, frames_[next_++ % frames_.size()])) {
        }
      }
      close(fd);
    }
  }
  // False once the node has closed the connection.
  bool write_all(int fd, const Bytes& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size() && !stop_) {
      ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
      bytes_ += static_cast<std::uint64_t>(n);
    }
    return true;
  }

  const TestNetwork& net_;
  std::uint16_t port_;
  std::vector<Bytes> frames_;
  std::size_t next_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::thread thread_;
};

// `messages` Txs frames of 1,000 distinct transfers each, from `from`, variants of one transfer
// (the amount differs) with the signature `sign` gives each.
std::vector<Bytes> tx_frames(const TestNetwork& net, const Wallet& from, std::size_t messages,
                             const std::function<Signature(const TransactionPtr&)>& sign) {
  auto base = from.transfer(net.genesis.params.chain_id, net.users[1].public_key(), 1, 1, 0, 0);
  std::vector<Bytes> frames;
  for (std::size_t m = 0; m < messages; ++m) {
    std::vector<TransactionPtr> txs;
    for (std::size_t i = 0; i < p2p::kMaxTxsPerMessage; ++i) {
      TxFields fields = base->fields();
      fields.amount = 1 + m * p2p::kMaxTxsPerMessage + i;
      auto unsigned_tx = Transaction::make(fields, Signature{});
      txs.push_back(Transaction::make(fields, sign(unsigned_tx)));
    }
    frames.push_back(p2p::encode_frame(p2p::Txs{std::move(txs)}));
  }
  return frames;
}

}  // namespace

TEST_CASE("hostile: a peer that claims the highest chain and sends nothing does not stop forging",
          "[functional][adversary][hostile]") {
  TestNetwork net(kSlotMs, 1);
  NodeProcess node(net, "v0", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return node.rpc().info()->height >= 2; }));
  test::RawPeer liar(node.p2p_port(), "127.5.0.1");
  liar.send(hello_of(net, 1, std::numeric_limits<std::uint64_t>::max()));
  SlotWindow window(node);
  // It answers pings, so it is never silent for long enough to be dropped for that, and
  // ignores the node's requests for blocks.
  std::size_t asked = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSlotMs * 30);
  while (std::chrono::steady_clock::now() < deadline)
    (void)liar.receive(
        [&](const p2p::Message& m) {
          if (const auto* ping = std::get_if<p2p::Ping>(&m)) liar.send(p2p::Pong{ping->nonce});
          if (std::holds_alternative<p2p::GetBlocks>(m)) ++asked;
          return false;
        },
        0.5, net.genesis.params.chain_id);
  auto [forged, loop] = window.close();
  report("liar: forged slots / slots led", forged, ">= 0.9");
  report("liar: requests for blocks it got in 15 s", static_cast<double>(asked),
         "1: none after its sync_timeout");
  CHECK(forged >= kMinForgedShare);
  CHECK(asked >= 1);
  CHECK(asked <= 2);  // asked once; not again after its sync_timeout until it shows a higher block
  CHECK_THAT(node.log(), Catch::Contains("sync_timeout"));
}

TEST_CASE(
    "hostile: blocks by a key with no stake, stuffed with forged transactions, are not stored",
    "[functional][adversary][hostile]") {
  TestNetwork net(kSlotMs, 1);
  NodeProcess node(net, "v0", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return node.rpc().info()->height >= 3; }));
  SlotWindow window(node);
  // 10,000 transfers with all-zero signatures, a garbage state root, a stranger's key: one block
  // on the tip, one beside it (on the tip's parent), and a child of the first.
  Wallet stranger(test::key_from_index(7777));
  std::vector<TransactionPtr> txs;
  auto base = stranger.transfer(net.genesis.params.chain_id, net.users[0].public_key(), 1, 1, 0, 0);
  for (std::uint64_t i = 0; i < 10'000; ++i) {
    TxFields fields = base->fields();
    fields.amount = 1 + i;
    txs.push_back(Transaction::make(fields, Signature{}));
  }
  auto info = node.rpc().info().value();
  auto make = [&](std::uint64_t height, const Hash& parent) {
    BlockHeader h;
    h.chain_id = net.genesis.params.chain_id;
    h.height = height;
    h.parent = parent;
    h.slot = net.slot_now() + 1;  // after the tip's, which may be in this slot
    h.timestamp_ms = net.genesis.params.slot_start_ms(h.slot) + 1;
    h.state_root.bytes[0] = 0xEE;
    return Block::sign(h, txs, stranger.secret_key());
  };
  BlockPtr on_tip = make(info.height + 1, info.tip);
  BlockPtr beside = make(info.height, node.rpc().block(info.height - 1).value()->hash());
  BlockPtr child = make(info.height + 2, on_tip->hash());
  std::uint64_t sent = 0;
  test::RawPeer evil(node.p2p_port(), "127.6.0.1");
  evil.send(hello_of(net, 2));
  for (const auto& block : {on_tip, beside, child}) {
    Bytes frame = p2p::encode_frame(p2p::NewBlock{block});
    sent += frame.size();
    evil.send_bytes(frame);
  }
  CHECK(evil.closed_by_node(10, nullptr, net.genesis.params.chain_id));
  window.wait_slots(20);
  std::size_t stored = 0;
  for (const auto& block : {on_tip, beside, child})
    if (node.rpc().get("/blocks/" + block->hash().hex())->status != 404) ++stored;
  auto [forged, loop] = window.close();
  report("stranger's blocks: bytes sent", static_cast<double>(sent), "-");
  report("stranger's blocks: blocks stored of 3", static_cast<double>(stored), "0");
  report("stranger's blocks: forged slots / slots led", forged, ">= 0.9");
  CHECK(stored == 0);
  CHECK(forged >= kMinForgedShare);
  CHECK(metric(node, "pos_banned_peers") >= 1);
  CHECK_THAT(node.log(), Catch::Contains("wrong_forger"));
}

TEST_CASE("hostile: a flood of unfunded transactions from ever new addresses does not stop forging",
          "[functional][adversary][hostile]") {
  TestNetwork net(kSlotMs, 1);
  NodeProcess node(net, "v0", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return node.rpc().info()->height >= 2; }));
  Wallet pauper(test::key_from_index(8888));
  auto frames = tx_frames(net, pauper, 40, [](const TransactionPtr&) { return Signature{}; });
  const double frame_bytes = static_cast<double>(frames.front().size());
  // An honest peer: what it relays must still be read while the flood takes the read budget.
  NodeProcess honest(net, "honest", {"--peer", node.p2p_address()});
  REQUIRE(eventually([&] { return node.rpc().info()->peers == 1; }));
  SlotWindow window(node);
  Flood flood(net, node.p2p_port(), std::move(frames));
  window.wait_slots(4);
  auto payment = net.users[0].transfer(net.genesis.params.chain_id, net.users[1].public_key(), 5, 1,
                                       0, SystemClock().now_ms());
  REQUIRE(honest.rpc().submit(*payment).ok());
  auto submitted = std::chrono::steady_clock::now();
  CHECK(eventually([&] {
    auto status = node.rpc().transaction_status(payment->id());
    return status.ok() && status->status == "included";
  }));
  const double included_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - submitted).count();
  window.wait_slots(24);
  flood.stop();
  auto [forged, loop] = window.close();
  double seconds = 24.0 * kSlotMs / 1000;
  report("unfunded flood: an honest peer's transaction, submit to included on the validator (s)",
         included_s, "-");
  report("unfunded flood: transactions sent a second",
         static_cast<double>(flood.bytes()) / frame_bytes * p2p::kMaxTxsPerMessage / seconds, "-");
  report("unfunded flood: attacker connections", static_cast<double>(flood.connections()), "-");
  report("unfunded flood: event-loop CPU / wall time", loop, kMaxLoopShareText);
  report("unfunded flood: forged slots / slots led", forged, ">= 0.9");
  CHECK(flood.connections() >= 2);  // each was closed for it, and came back
  CHECK(forged >= kMinForgedShare);
  CHECK(loop < kMaxLoopShare);
  CHECK(node.rpc().info()->height > 2);
  CHECK(metric(node, "pos_pool_transactions") == 0);
}

TEST_CASE("hostile: a flood of forged signatures from ever new addresses does not stop forging",
          "[functional][adversary][hostile]") {
  TestNetwork net(kSlotMs, 1);
  NodeProcess node(net, "v0", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return node.rpc().info()->height >= 2; }));
  // A funded sender's transfers that pass every cheap check, each with a signature that does
  // not verify: only the signature check refuses them.
  auto frames = tx_frames(net, net.users[0], 10, [](const TransactionPtr&) {
    Signature bad;
    bad.bytes[0] = 1;
    return bad;
  });
  SlotWindow window(node);
  Flood flood(net, node.p2p_port(), std::move(frames));
  window.wait_slots(24);
  flood.stop();
  auto [forged, loop] = window.close();
  report("forged-signature flood: attacker connections", static_cast<double>(flood.connections()),
         "-");
  report("forged-signature flood: event-loop CPU / wall time", loop, kMaxLoopShareText);
  report("forged-signature flood: forged slots / slots led", forged, ">= 0.9");
  CHECK(flood.connections() >= 2);
  CHECK(forged >= kMinForgedShare);
  CHECK(loop < kMaxLoopShare);
  CHECK(metric(node, "pos_pool_transactions") == 0);
  CHECK(metric(node, "pos_banned_peers") >= 2);
}

TEST_CASE("hostile: one address takes 8 inbound slots and one network group 16; others still join",
          "[functional][adversary][hostile][eclipse]") {
  TestNetwork net(kSlotMs, 1);
  NodeProcess node(net, "v0", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return node.rpc().info()->height >= 2; }));
  SlotWindow window(node);
  // 40 connections from one address, then 40 from three more of its /16.
  std::vector<std::unique_ptr<test::RawPeer>> peers;
  auto open = [&](const char* ip, std::uint64_t first_id) -> std::size_t {
    std::size_t alive = 0;
    for (std::uint64_t i = 0; i < 40; ++i) {
      auto peer = std::make_unique<test::RawPeer>(node.p2p_port(), ip);
      peer->send(hello_of(net, first_id + i));
      if (peer->round_trip(first_id + i, 5, net.genesis.params.chain_id)) {
        ++alive;
        peers.push_back(std::move(peer));
      }
    }
    return alive;
  };
  std::size_t one_address = open("127.7.0.1", 1000);
  std::size_t group = one_address;
  group += open("127.7.0.2", 2000);
  group += open("127.7.0.3", 3000);
  group += open("127.7.0.4", 4000);
  report("eclipse: inbound slots one address holds", static_cast<double>(one_address), "8 of 32");
  report("eclipse: inbound slots one /16 holds", static_cast<double>(group), "16 of 32");
  CHECK(one_address == 8);
  CHECK(group == 16);
  // An honest node (from 127.0.0.1, another group) still connects and follows the chain.
  NodeProcess honest(net, "honest", {"--peer", node.p2p_address()});
  CHECK(eventually([&] {
    auto a = node.rpc().info(), b = honest.rpc().info();
    return a.ok() && b.ok() && b->height >= 3 && b->height + 2 >= a->height;
  }));
  window.wait_slots(10);
  auto [forged, loop] = window.close();
  report("eclipse: forged slots / slots led", forged, ">= 0.9");
  CHECK(forged >= kMinForgedShare);
}
