// The fault-injection harness: N real pos-node validators wired through relays the test can cut,
// a steady load of transfers, perturbations (SIGKILL and restart, SIGSTOP/SIGCONT, restart
// without peers, partitions, a validator that stays offline), and the invariants every scenario
// must keep. In the spirit of CometBFT's end-to-end perturbations.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "node_process.h"

namespace pos::functional {

// A TCP relay from a port of its own to a node's p2p port. cut() closes every relayed connection
// and refuses new ones until heal(): a network partition at the socket level, on loopback.
class Link {
 public:
  explicit Link(std::uint16_t target_port);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  std::uint16_t port() const { return port_; }
  void cut();
  void heal();

 private:
  struct Pair {
    int in = -1;
    int out = -1;
    std::thread up;
    std::thread down;
  };
  void run();
  std::uint16_t target_;
  std::uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> cut_{false};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards pairs_
  std::vector<std::unique_ptr<Pair>> pairs_;
  std::thread thread_;
};

// One transfer of the load: who sent it, to which nodes, and what became of it.
struct LoadTx {
  TransactionPtr tx;
  std::set<std::size_t> accepted_by;   // nodes that answered 202
  std::optional<std::string> refused;  // a refusal's reason code, if a node gave one
  bool included = false;
};

// What the invariant checks found: one line per broken invariant, empty when all hold.
struct Verdicts {
  std::vector<std::string> broken;
  std::vector<std::string> held;
  void check(bool ok, const std::string& invariant, const std::string& detail = "");
};

class FaultNetwork {
 public:
  // `nodes` validators of equal stake, each dialling the lower-numbered ones through a Link,
  // discovery off (so every connection is a Link the test can cut); `users` funded accounts.
  FaultNetwork(std::size_t nodes, std::size_t users, std::uint64_t slot_ms = 300,
               std::uint64_t epoch_slots = 32);
  ~FaultNetwork();

  std::size_t size() const { return nodes_.size(); }
  NodeProcess& node(std::size_t i) { return *nodes_[i]; }
  const TestNetwork& net() const { return net_; }

  // The load: each user keeps one transfer in flight, sent to a random node that is up, and
  // sends its next once the last is in a block. A transfer that a downed node took and lost is
  // offered again, unchanged, to another node (as a wallet rebroadcasts).
  void start_load();
  void stop_load();
  std::size_t included_count();

  // Perturbations. Each marks the node as not having stayed up.
  void kill(std::size_t i);
  void restart(std::size_t i, bool with_peers = true);
  void pause(std::size_t i);
  void resume(std::size_t i);
  void partition(const std::set<std::size_t>& side);  // cuts every link across the two sides
  void heal();

  // The height of node i now (0 if it does not answer).
  std::uint64_t height(std::size_t i);
  // Waits until the chain grows by `blocks` on node i.
  bool grows(std::size_t i, std::uint64_t blocks, double seconds);

  // Waits (up to `seconds`) for the live nodes to agree and the load to drain, then checks
  // every invariant. Call after stop_load().
  Verdicts settle_and_check(double seconds = 45);

 private:
  bool up(std::size_t i) const;
  std::vector<std::string> peer_args(std::size_t i, bool with_peers) const;
  void drive();
  void watch_finality();

  TestNetwork net_;
  std::vector<std::unique_ptr<NodeProcess>> nodes_;
  std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<Link>> links_;  // (from, to)
  std::vector<bool> stayed_up_;
  std::vector<bool> down_;
  mutable std::mutex mutex_;  // guards down_, stayed_up_, txs_, final_
  std::vector<LoadTx> txs_;
  // Transactions seen in a block at or below a node's finalized height, with that block.
  std::map<Hash, Hash> final_;
  std::string finality_violation_;  // a final transaction seen in two blocks
  std::atomic<bool> load_running_{false};
  std::thread driver_;
  std::thread watcher_;
};

}  // namespace pos::functional
