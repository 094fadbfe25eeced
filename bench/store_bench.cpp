// Storage benchmark, one run, figures side by side:
//   1. apply rate of blocks of 1,000 transactions on LMDB and in memory, in turns, and the ratio;
//   2. resident memory after 1,000, 10,000 and 100,000 blocks on LMDB;
//   3. time to open the data dir holding those blocks.
// Usage: pos_bench_store [--blocks N] [--tx-per-block N] [--rounds N] [--dir DIR]
//   --blocks: the long chain's length (default 100000; the RSS is also read at N/100, N/10)
//   --tx-per-block: transactions per block of the long chain (default 10)
//   --rounds: rounds of LMDB between rounds of memory, 4 blocks each (default 5)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "bench_support.h"
#include "pos/lmdb_storage.h"
#include "pos/pos.h"
#include "pos_fmt.h"

using namespace pos;
namespace fs = std::filesystem;

namespace {

using bench::seconds_since;
using bench::Timer;

// Resident memory in KiB: the process's own (anonymous) pages, and the pages of mapped files
// (LMDB's map), which the kernel may drop at any time and which are not the process's growth.
struct Resident {
  long anon = -1;
  long file = -1;
};

Resident resident() {
  std::ifstream status("/proc/self/status");
  std::string line;
  Resident r;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) == 0) r.anon = std::stol(line.substr(8));
    if (line.rfind("RssFile:", 0) == 0) r.file = std::stol(line.substr(8));
  }
  return r;
}

struct Network : bench::Network {
  explicit Network(std::size_t accounts) : bench::Network(accounts, 0x5b) {}
  // Forges the next block with n transfers on `chain` and applies it. It carries the only
  // staker's vote for its parent, so the chain finalizes all but its last two blocks, as a live
  // network's does.
  BlockPtr next(Blockchain& chain, ManualClock& clock, std::size_t n, std::mt19937_64& rng) {
    TransactionPool pool(genesis.params, PoolLimits{n + 10, 64 << 20, n + 10, n + 10, ~0ULL, 0});
    std::map<std::size_t, std::uint64_t> nonces;
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t from = 1 + rng() % (keys.size() - 1);
      auto [it, fresh] = nonces.try_emplace(from, chain.state().get(keys[from].public_key()).nonce);
      TxFields f;
      f.chain_id = genesis.params.chain_id;
      f.sender = keys[from].public_key();
      f.receiver = keys[rng() % keys.size()].public_key();
      f.amount = 1;
      f.fee = 1;
      f.nonce = it->second++;
      if (!pool.add(Transaction::sign(f, keys[from]), chain.state(), 0).ok()) std::abort();
    }
    std::uint64_t slot = chain.tip().slot + 1;
    clock.set(genesis.params.slot_start_ms(slot));
    std::vector<VotePtr> votes;
    const Checkpoint& source = chain.vote_finality().justified();
    if (source.height < chain.height())
      votes.push_back(Vote::sign(VoteFields{genesis.params.chain_id,
                                            {},
                                            source.hash,
                                            source.height,
                                            chain.tip_hash(),
                                            chain.height()},
                                 keys[0]));
    BlockPtr block = chain.forge(keys[0], slot, pool, clock.now_ms(), votes).value();
    if (block->transactions().size() != n || !chain.apply(block).ok()) std::abort();
    return block;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t long_blocks = 100'000;
  std::size_t long_tx = 10;
  std::size_t rounds = 5;
  fs::path dir = fs::temp_directory_path() / fmt::format("pos-bench-store-{}", getpid());
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--blocks")
      long_blocks = std::stoul(argv[i + 1]);
    else if (flag == "--tx-per-block")
      long_tx = std::stoul(argv[i + 1]);
    else if (flag == "--rounds")
      rounds = std::stoul(argv[i + 1]);
    else if (flag == "--dir")
      dir = argv[i + 1];
    else {
      fmt::print(stderr, "unknown flag {}\n", flag);
      return 2;
    }
  }
  if (!pos::init().ok()) return 2;
  fs::remove_all(dir);
  std::mt19937_64 rng(1);

  // 1. Blocks of 1,000 transactions: LMDB (fsync on) over memory, measured in turns. A few
  // blocks a round: short rounds see the same load.
  Network net(1001);
  std::vector<BlockPtr> blocks;
  {
    MemoryStorage scratch;
    ManualClock clock(0);
    auto chain = Blockchain::open(net.genesis, scratch, clock).value();
    for (int i = 0; i < 4; ++i) blocks.push_back(net.next(*chain, clock, 1000, rng));
  }
  bench::Ratio lmdb_over_memory = bench::interleave(
      rounds,
      [&] {
        MemoryStorage memory;
        return bench::apply_rate(net.genesis, memory, blocks);
      },
      [&] {
        fs::remove_all(dir / "rate");
        auto lmdb = LmdbStorage::open(dir / "rate").value();
        return bench::apply_rate(net.genesis, *lmdb, blocks);
      });
  fmt::print("apply, blocks of 1,000 transactions ({} blocks a round), medians\n", blocks.size());
  fmt::print("  memory  {:8.2f} blocks/s  {:9.0f} tx/s\n", lmdb_over_memory.baseline(),
             lmdb_over_memory.baseline() * 1000);
  fmt::print("  LMDB    {:8.2f} blocks/s  {:9.0f} tx/s   (fsync per block)\n",
             lmdb_over_memory.measure(), lmdb_over_memory.measure() * 1000);
  // At most 1: LMDB's apply is memory's, with each block's writes encoded and synced, and its
  // reads decoded where memory's hand out a pointer.
  fmt::print("  LMDB = {}\n\n", bench::describe(lmdb_over_memory, "memory", 1));
  blocks.clear();

  // 2. A long chain on LMDB: resident memory at a hundredth, a tenth of it and at its end.
  Network small(101);
  Resident at_start = resident();
  Resident at_hundredth;
  Resident at_tenth;
  Resident at_end;
  auto start = Timer::now();
  {
    LmdbOptions options;
    options.sync = false;  // memory is measured here, not durability
    auto lmdb = LmdbStorage::open(dir / "long", options).value();
    ManualClock clock(0);
    auto chain = Blockchain::open(small.genesis, *lmdb, clock).value();
    for (std::size_t i = 1; i <= long_blocks; ++i) {
      small.next(*chain, clock, long_tx, rng);
      if (i == long_blocks / 100) at_hundredth = resident();
      if (i == long_blocks / 10) at_tenth = resident();
    }
    at_end = resident();
  }
  fmt::print("long chain: {} blocks of {} transactions built in {:.1f} s\n", long_blocks, long_tx,
             seconds_since(start));
  fmt::print("  resident memory (KiB)     own (anon)   LMDB map (file)\n");
  fmt::print("    at start               {:10}   {:10}\n", at_start.anon, at_start.file);
  fmt::print("    after {:7} blocks     {:10}   {:10}\n", long_blocks / 100, at_hundredth.anon,
             at_hundredth.file);
  fmt::print("    after {:7} blocks     {:10}   {:10}\n", long_blocks / 10, at_tenth.anon,
             at_tenth.file);
  fmt::print("    after {:7} blocks     {:10}   {:10}\n", long_blocks, at_end.anon, at_end.file);
  fmt::print("  own memory after {} blocks / after {} blocks = {:.3f}\n", long_blocks,
             long_blocks / 10,
             static_cast<double>(at_end.anon) / static_cast<double>(at_tenth.anon));
  fmt::print("  own memory after {} blocks / after {} blocks = {:.3f}\n", long_blocks,
             long_blocks / 100,
             static_cast<double>(at_end.anon) / static_cast<double>(at_hundredth.anon));

  // 3. Opening that data dir.
  start = Timer::now();
  auto lmdb = LmdbStorage::open(dir / "long").value();
  ManualClock clock(0);
  auto chain = Blockchain::open(small.genesis, *lmdb, clock).value();
  fmt::print("  open: {:.3f} s to height {}\n", seconds_since(start), chain->height());
  chain.reset();
  lmdb.reset();
  fs::remove_all(dir);
  return 0;
}
