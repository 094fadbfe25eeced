// Peer-to-peer benchmark, one run, figures side by side:
//   1. a fresh node syncing N blocks of T transactions from a peer on loopback (blocks/s, tx/s),
//      in turns with the single-node apply of the same blocks, and the ratio;
//   2. gossip latency of transactions from submission at the first node of a 5-node line to the
//      last node's pool (p50, p99).
// Usage: pos_bench_p2p [--blocks N] [--tx-per-block T] [--rounds R] [--gossip-txs M]
//   --blocks: the chain's length, synced whole by a fresh node each round (default 2000)
//   --tx-per-block: transactions per block (default 100)
//   --rounds: rounds of sync between rounds of single-node apply (default 5)
//   --gossip-txs: transactions sent over the line one at a time (default 300)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "bench_support.h"
#include "pos/peer_node.h"
#include "pos/pos.h"
#include "pos_fmt.h"

using namespace pos;

namespace {

using bench::seconds_since;
using bench::Timer;

struct Network : bench::Network {
  explicit Network(std::size_t accounts) : bench::Network(accounts, 0x9b) {}
  TransactionPtr transfer(std::size_t from, std::uint64_t nonce, std::uint64_t stamp) const {
    TxFields f;
    f.chain_id = genesis.params.chain_id;
    f.sender = keys[from].public_key();
    f.receiver = keys[(from + 1) % keys.size()].public_key();
    f.amount = 1;
    f.fee = 1;
    f.nonce = nonce;
    f.timestamp_ms = stamp;
    return Transaction::sign(f, keys[from]);
  }
};

// Polls `condition`; a run that never gets there fails (exit 9) instead of hanging.
template <class F>
void wait_for(F condition, const char* what) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      fmt::print(stderr, "timed out waiting for {}\n", what);
      std::exit(9);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t blocks = 2'000;
  std::size_t per_block = 100;
  std::size_t rounds = 5;
  std::size_t gossip_txs = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--blocks")
      blocks = std::stoul(argv[i + 1]);
    else if (flag == "--tx-per-block")
      per_block = std::stoul(argv[i + 1]);
    else if (flag == "--rounds")
      rounds = std::stoul(argv[i + 1]);
    else if (flag == "--gossip-txs")
      gossip_txs = std::stoul(argv[i + 1]);
    else {
      fmt::print(stderr, "unknown flag {}\n", flag);
      return 2;
    }
  }
  if (!pos::init().ok()) return 2;
  Network net(per_block + 1);
  // Real time (the network's timeouts and rate limits need it to pass), started far enough
  // past genesis that every slot of the built chain is in the past.
  struct ShiftedClock final : Clock {
    std::uint64_t shift = 1'000'000'000'000 - SystemClock().now_ms();
    std::uint64_t now_ms() const override { return SystemClock().now_ms() + shift; }
  } clock;

  // The chain to sync, built in memory with forge and apply.
  auto start = Timer::now();
  auto storage = std::make_unique<MemoryStorage>();
  std::vector<BlockPtr> chain_blocks;  // for the single-node apply
  {
    auto chain = Blockchain::open(net.genesis, *storage, clock).value();
    for (std::size_t b = 0; b < blocks; ++b) {
      TransactionPool pool(net.genesis.params, PoolLimits{per_block + 1, 64 << 20, 4, 4, ~0ULL, 0});
      for (std::size_t i = 0; i < per_block; ++i)
        if (!pool.add(net.transfer(1 + i, b, b), chain->state(), 0).ok()) return 3;
      BlockPtr block = chain->forge(net.keys[0], b + 1, pool, 0).value();
      if (!chain->apply(block).ok()) return 4;
      chain_blocks.push_back(block);
    }
  }
  fmt::print("built {} blocks of {} transactions in {:.1f} s\n", blocks, per_block,
             seconds_since(start));

  // Sync: a fresh node each round, from A over loopback, in turns with the single-node apply of
  // the same blocks to a fresh chain.
  PeerNodeConfig config;
  config.network.ban_by_ip = false;
  // The clock stands far past the weak-subjectivity period and the built chain finalizes
  // nothing: the fresh node trusts its peer, as pos-node --sync-without-checkpoint does.
  config.sync_without_checkpoint = true;
  auto a = PeerNode::start(net.genesis, std::move(storage), config, clock).value();
  config.network.seeds = {fmt::format("127.0.0.1:{}", a->port())};
  bench::Ratio sync_over_apply = bench::interleave(
      rounds,
      [&] {
        MemoryStorage fresh;
        return bench::apply_rate(net.genesis, fresh, chain_blocks);
      },
      [&] {
        auto sync_start = Timer::now();
        auto b =
            PeerNode::start(net.genesis, std::make_unique<MemoryStorage>(), config, clock).value();
        wait_for([&] { return b->status().height == blocks; }, "the sync");
        double rate = static_cast<double>(blocks) / seconds_since(sync_start);
        if (b->status().state_root != a->status().state_root) std::exit(6);
        return rate;
      });
  fmt::print("\nsync of {} blocks of {} transactions over loopback, medians\n", blocks, per_block);
  fmt::print("  single-node apply  {:8.1f} blocks/s  {:9.0f} tx/s\n", sync_over_apply.baseline(),
             sync_over_apply.baseline() * static_cast<double>(per_block));
  fmt::print("  sync               {:8.1f} blocks/s  {:9.0f} tx/s\n", sync_over_apply.measure(),
             sync_over_apply.measure() * static_cast<double>(per_block));
  // At most the number of cores: the sync does all the single-node apply does (on one thread),
  // and more, with the signature checks spread over every core.
  fmt::print("  sync = {}\n", bench::describe(sync_over_apply, "single-node apply",
                                              std::max(1u, std::thread::hardware_concurrency())));
  a.reset();

  // Gossip latency on a 5-node line, from submission at node 0 to node 4's pool.
  std::vector<std::unique_ptr<PeerNode>> line;
  PeerNodeConfig line_config;
  line_config.network.ban_by_ip = false;
  line_config.network.discovery = false;
  for (int i = 0; i < 5; ++i) {
    PeerNodeConfig c = line_config;
    if (i > 0) c.network.seeds = {fmt::format("127.0.0.1:{}", line.back()->port())};
    line.push_back(
        PeerNode::start(net.genesis, std::make_unique<MemoryStorage>(), c, clock).value());
  }
  wait_for(
      [&] {
        return line[0]->status().peers.size() == 1 && line[4]->status().peers.size() == 1 &&
               line[2]->status().peers.size() == 2;
      },
      "the line's connections");
  std::vector<double> latencies;
  for (std::size_t i = 0; i < gossip_txs; ++i) {
    auto tx = net.transfer(1 + i % per_block, i / per_block, 7);
    auto sent = Timer::now();
    if (!line[0]->submit(tx).ok()) return 7;
    wait_for([&] { return line[4]->pool().contains(tx->id()); }, "a transaction's gossip");
    latencies.push_back(seconds_since(sent) * 1000);
  }
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies[std::min(latencies.size() - 1,
                              static_cast<std::size_t>(p * static_cast<double>(latencies.size())))];
  };
  fmt::print("\ngossip over a 5-node line (4 hops), {} transactions one at a time\n",
             latencies.size());
  fmt::print("  p50 {:.2f} ms   p99 {:.2f} ms   max {:.2f} ms\n", pct(0.50), pct(0.99),
             latencies.back());
  return 0;
}
