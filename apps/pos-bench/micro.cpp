// pos-bench micro: the core and storage micro-benchmarks in one run, each beside the raw
// libsodium verify rate measured at the start of the same run, since only ratios survive a
// noisy machine. (The p2p figures, sync and gossip, need two event loops: pos_bench_p2p.)
#include "micro.h"

#include <sodium.h>

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "../common/cli.h"
#include "bench_support.h"
#include "pos/lmdb_storage.h"
#include "pos/pos.h"
#include "pos_fmt.h"

namespace pos::bench {
namespace {

struct Signed {
  std::vector<std::array<std::uint8_t, 32>> messages;
  std::vector<Signature> signatures;
  PublicKey key;
};

Signed make_signatures(std::size_t n) {
  Signed s;
  SecretKey key = key_for(7, 0x6d);
  s.key = key.public_key();
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 32> m{};
    for (int b = 0; b < 8; ++b)
      m[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(i >> (8 * b));
    s.messages.push_back(m);
    s.signatures.push_back(key.sign(ByteView(m.data(), m.size())));
  }
  return s;
}

// libsodium's own verify, no libpos code: `threads` threads each checking the whole set.
double raw_verify_rate(const Signed& s, unsigned threads) {
  auto start = Timer::now();
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&s] {
      for (std::size_t i = 0; i < s.messages.size(); ++i)
        if (crypto_sign_verify_detached(s.signatures[i].bytes.data(), s.messages[i].data(), 32,
                                        s.key.bytes.data()) != 0)
          std::abort();
    });
  for (auto& w : workers) w.join();
  return static_cast<double>(s.messages.size() * threads) / seconds_since(start);
}

// A transfer of 1 with a fee of 1 between two of the network's keys.
TransactionPtr transfer(const Network& net, std::size_t from, std::size_t to, std::uint64_t nonce) {
  TxFields f;
  f.chain_id = net.genesis.params.chain_id;
  f.sender = net.keys[from].public_key();
  f.receiver = net.keys[to].public_key();
  f.amount = 1;
  f.fee = 1;
  f.nonce = nonce;
  return Transaction::sign(f, net.keys[from]);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One block of n transfers from 1,000 senders, as bytes, and the genesis it applies to.
struct BigBlock {
  Network net{1000, 0x6e};
  Bytes bytes;
  explicit BigBlock(std::size_t n) {
    ManualClock clock(10'000);
    MemoryStorage storage;
    auto chain = Blockchain::open(net.genesis, storage, clock).value();
    TransactionPool pool(net.genesis.params,
                         PoolLimits{n + 10, 256 << 20, n + 10, n + 10, ~0ULL, 0});
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t from = i % net.keys.size();
      auto tx = transfer(net, from, (from + 1) % net.keys.size(), i / net.keys.size());
      if (!pool.add(tx, chain->state(), 0).ok()) std::abort();
    }
    std::uint64_t slot = 1;
    clock.set(net.genesis.params.slot_start_ms(slot));
    BlockPtr block = chain->forge(net.keys[0], slot, pool, clock.now_ms()).value();
    if (block->transactions().size() != n) std::abort();
    bytes = encode(*block);
  }
  // Transactions per second of decoding and applying the block to a fresh chain.
  double apply_rate(SignatureVerifier* verifier) const {
    MemoryStorage storage;
    ManualClock clock(net.genesis.params.slot_start_ms(1));
    auto chain = Blockchain::open(net.genesis, storage, clock).value();
    chain->set_verifier(verifier);
    auto start = Timer::now();
    BlockPtr block = decode_block(bytes).value();
    if (!chain->apply(block).ok()) std::abort();
    return static_cast<double>(block->transactions().size()) / seconds_since(start);
  }
};

// Transactions per second admitted to a pool from JSON: parse, rules, signature.
double admission_rate(std::size_t n) {
  Network net(200, 0x6f);
  AccountModel state(net.genesis.params.hash());
  for (const auto& a : net.genesis.allocations)
    state.put(a.address, Account{a.balance, a.stake, 0, 0, 0});
  std::vector<std::string> jsons;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t from = i % net.keys.size();
    jsons.push_back(
        to_json(*transfer(net, from, (from + 1) % net.keys.size(), i / net.keys.size())));
  }
  TransactionPool pool(net.genesis.params, PoolLimits{n + 10, 256 << 20, n + 10, n + 10, ~0ULL, 0});
  auto start = Timer::now();
  for (const auto& j : jsons) {
    auto tx = transaction_from_json(j, net.genesis.params.chain_id);
    if (!tx.ok() || !pool.add(*tx, state, 0).ok()) std::abort();
  }
  return static_cast<double>(n) / seconds_since(start);
}

// Transactions a second that the pool refuses as unfunded, from senders with nothing (a flood
// from a peer): the cheap checks alone, no signature check.
double unfunded_refusal_rate(std::size_t n) {
  Network net(4, 0x6f);
  AccountModel state(net.genesis.params.hash());
  std::vector<SecretKey> senders;
  for (std::uint32_t k = 0; k < 64; ++k) senders.push_back(key_for(20'000 + k, 0x71));
  std::vector<TransactionPtr> txs;
  for (std::size_t i = 0; i < n; ++i) {
    const SecretKey& sender = senders[i % senders.size()];
    TxFields f;
    f.chain_id = net.genesis.params.chain_id;
    f.sender = sender.public_key();
    f.receiver = net.keys[0].public_key();
    f.amount = 1'000;
    f.fee = 1;
    f.timestamp_ms = i;
    txs.push_back(Transaction::sign(f, sender));
  }
  TransactionPool pool(net.genesis.params);
  auto start = Timer::now();
  for (const auto& tx : txs)
    if (pool.add(tx, state, 0).reason() != Reason::kInsufficientFunds) std::abort();
  return static_cast<double>(n) / seconds_since(start);
}

// Seconds per leader draw among `stakers` stakers of `stake` each.
double draw_seconds(std::size_t stakers, std::uint64_t stake, std::size_t draws) {
  std::map<PublicKey, std::uint64_t> set;
  for (std::size_t i = 0; i < stakers; ++i)
    set[key_for(static_cast<std::uint32_t>(9000 + i), 0x70).public_key()] = stake;
  ProofOfStake pos(set);
  Hash parent = sha256(std::string_view("parent"));
  std::size_t sink = 0;
  auto start = Timer::now();
  for (std::uint64_t slot = 1; slot <= draws; ++slot) sink += pos.leader(parent, slot)->bytes[0];
  double s = seconds_since(start) / static_cast<double>(draws);
  if (sink == 1) std::puts("");  // keeps the loop from being optimised away
  return s;
}

// VRF proofs made and checked per second, one thread, each for its own slot's input.
std::pair<double, double> vrf_rates(std::size_t n) {
  SecretKey key = key_for(7, 0x72);
  Hash nonce = sha256(std::string_view("nonce"));
  std::vector<Bytes> inputs;
  for (std::uint64_t slot = 0; slot < n; ++slot)
    inputs.push_back(vrf_input("pos-bench", nonce, slot));
  std::vector<VrfProof> proofs;
  proofs.reserve(n);
  auto start = Timer::now();
  for (const auto& input : inputs) proofs.push_back(vrf_prove(key, input));
  double prove = static_cast<double>(n) / seconds_since(start);
  start = Timer::now();
  for (std::size_t i = 0; i < n; ++i)
    if (!vrf_verify(key.public_key(), inputs[i], proofs[i]).ok()) std::abort();
  double verify = static_cast<double>(n) / seconds_since(start);
  return {prove, verify};
}

// Blocks of `txs` transactions applied on LMDB (fsync on) and in memory: transactions per second.
std::pair<double, double> storage_rates(std::size_t blocks, std::size_t txs) {
  Network net(1001, 0x71);
  std::vector<BlockPtr> forged;
  {
    MemoryStorage scratch;
    ManualClock clock(0);
    auto chain = Blockchain::open(net.genesis, scratch, clock).value();
    for (std::size_t b = 0; b < blocks; ++b) {
      TransactionPool pool(net.genesis.params,
                           PoolLimits{txs + 10, 256 << 20, txs + 10, txs + 10, ~0ULL, 0});
      for (std::size_t i = 0; i < txs; ++i) {
        std::size_t from = 1 + (b * txs + i) % (net.keys.size() - 1);
        const Address& sender = net.keys[from].public_key();
        std::uint64_t nonce = chain->state().get(sender).nonce + pool.pending_from(sender).size();
        auto tx = transfer(net, from, (from + 7) % net.keys.size(), nonce);
        if (!pool.add(tx, chain->state(), 0).ok()) std::abort();
      }
      std::uint64_t slot = chain->tip().slot + 1;
      clock.set(net.genesis.params.slot_start_ms(slot));
      BlockPtr block = chain->forge(net.keys[0], slot, pool, clock.now_ms()).value();
      if (!chain->apply(block).ok()) std::abort();
      forged.push_back(block);
    }
  }
  auto rate = [&](Storage& storage) {
    return apply_rate(net.genesis, storage, forged) * static_cast<double>(txs);
  };
  MemoryStorage memory;
  double memory_rate = rate(memory);
  auto dir = std::filesystem::temp_directory_path() / fmt::format("pos-bench-micro-{}", ::getpid());
  std::filesystem::remove_all(dir);
  double lmdb_rate;
  {
    auto lmdb = LmdbStorage::open(dir).value();
    lmdb_rate = rate(*lmdb);
  }
  std::filesystem::remove_all(dir);
  return {lmdb_rate, memory_rate};
}

// Milliseconds to apply one block, medians: with no votes, and with every validator's vote.
struct VoteCost {
  double empty_ms = 0;
  double votes_ms = 0;
};

// A chain of `validators` validators of equal stake on `storage`, grown one block at a time.
class VotedChain {
 public:
  VotedChain(std::size_t validators, Storage& storage)
      : validators_(validators), net_(validators, 0x73) {
    for (auto& a : net_.genesis.allocations) a.stake = 1'000;  // Network stakes only keys[0]
    net_.genesis = Genesis::parse(net_.genesis.to_json()).value();
    for (const auto& k : net_.keys) key_of_[k.public_key()] = &k;
    chain_ = Blockchain::open(net_.genesis, storage, clock_).value();
  }
  const Genesis& genesis() const { return net_.genesis; }
  Blockchain& chain() { return *chain_; }

  // Forges the next block carrying `votes` and applies a copy decoded from its bytes, as a
  // peer's block arrives (no vote's signature verdict cached in it); only apply() is timed (ms).
  double apply_next(std::vector<VotePtr> votes) {
    std::uint64_t slot = chain_->tip().slot + 1;
    clock_.set(net_.genesis.params.slot_start_ms(slot));
    const SecretKey& leader = *key_of_.at(*chain_->leader(slot));
    auto forged = chain_->forge(leader, slot, no_txs_, clock_.now_ms(), votes);
    if (!forged.ok()) fail(fmt::format("forge refused: {}", forged.error()));
    if ((*forged)->votes().size() != votes.size()) fail("forge left votes out");
    BlockPtr block = decode_block(encode(**forged)).value();
    auto start = Timer::now();
    auto applied = chain_->apply(block);
    double ms = seconds_since(start) * 1e3;
    if (!applied.ok()) fail(fmt::format("apply refused: {}", applied.error()));
    return ms;
  }

  // The next block with every validator's vote from the highest justified block to the tip: it
  // must justify its parent and, once `steady`, finalize its grandparent (the honest steady
  // state).
  double apply_voted(bool steady) {
    const Checkpoint& source = chain_->vote_finality().justified();
    VoteFields fields;
    fields.chain_id = net_.genesis.params.chain_id;
    fields.source_hash = source.hash;
    fields.source_height = source.height;
    fields.target_hash = chain_->tip_hash();
    fields.target_height = chain_->height();
    std::vector<VotePtr> votes;
    for (const auto& k : net_.keys) votes.push_back(Vote::sign(fields, k));
    double ms = apply_next(std::move(votes));
    const FinalityState& f = chain_->vote_finality();
    if (f.justified().height != chain_->height() - 1 ||
        (steady && f.finalized().height != chain_->height() - 2))
      fail("the votes did not justify the parent and finalize the grandparent");
    return ms;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    pos::apps::fail("pos-bench micro", 1,
                    fmt::format("a chain of {} validators: {}", validators_, why));
  }

  std::size_t validators_;
  Network net_;
  std::map<PublicKey, const SecretKey*> key_of_;
  ManualClock clock_{0};
  TransactionPool no_txs_{net_.genesis.params};
  std::unique_ptr<Blockchain> chain_;
};

// Empty blocks for a quarter of `seconds`, then blocks carrying every validator's vote for the
// parent for the rest; medians of the apply times.
VoteCost vote_cost(std::size_t validators, double seconds, std::size_t min_blocks) {
  MemoryStorage storage;
  VotedChain voted(validators, storage);
  VoteCost cost;
  std::vector<double> ms;
  auto phase = Timer::now();
  while (ms.size() < min_blocks || seconds_since(phase) < seconds / 4)
    ms.push_back(voted.apply_next({}));
  cost.empty_ms = median(ms);
  voted.apply_voted(false);  // justifies the empty tip from genesis, finalizes nothing: not timed
  ms.clear();
  phase = Timer::now();
  while (ms.size() < min_blocks || seconds_since(phase) < seconds * 3 / 4)
    ms.push_back(voted.apply_voted(true));
  cost.votes_ms = median(ms);
  return cost;
}

// Seconds to open an LMDB data dir holding a chain of `blocks` blocks of 4 validators, each block
// carrying every vote (so all but the last two are final): the median of three opens.
double open_seconds(std::size_t blocks) {
  auto dir = std::filesystem::temp_directory_path() /
             fmt::format("pos-bench-open-{}-{}", ::getpid(), blocks);
  std::filesystem::remove_all(dir);
  Genesis genesis;
  {
    LmdbOptions options;
    options.sync = false;  // the build is not what is measured
    auto lmdb = LmdbStorage::open(dir, options).value();
    VotedChain voted(4, *lmdb);
    genesis = voted.genesis();
    voted.apply_next({});
    voted.apply_voted(false);
    while (voted.chain().height() < blocks) voted.apply_voted(true);
  }
  std::vector<double> runs;
  for (int i = 0; i < 3; ++i) {
    auto start = Timer::now();
    auto lmdb = LmdbStorage::open(dir).value();
    ManualClock clock(0);
    auto chain = Blockchain::open(genesis, *lmdb, clock).value();
    runs.push_back(seconds_since(start));
    if (chain->height() != blocks) std::abort();
  }
  std::filesystem::remove_all(dir);
  return median(runs);
}

void row(std::string_view what, double value, const char* unit, const std::string& ratio) {
  fmt::print("  {:<52} {:14.0f} {:<7} {}\n", what, value, unit, ratio);
  std::fflush(stdout);
}

std::string times(double r, const char* of) {
  return fmt::format("{:.3f} x {}", r, of);
}

}  // namespace

double raw_verify_rate_all_cores() {
  Signed set = make_signatures(10'000);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return median(
      {raw_verify_rate(set, cores), raw_verify_rate(set, cores), raw_verify_rate(set, cores)});
}

int run_micro(const MicroOptions& o) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::size_t sigs = o.quick ? 2'000 : 20'000;
  fmt::print("pos-bench micro: {} cores, blocks of {} transactions{}\n", cores, o.block_txs,
             o.quick ? " (quick: figures are rough)" : "");
  Signed set = make_signatures(sigs);
  std::vector<double> raw1, rawn;
  for (int i = 0; i < 3; ++i) {
    raw1.push_back(raw_verify_rate(set, 1));
    rawn.push_back(raw_verify_rate(set, cores));
  }
  double one = median(raw1), all = median(rawn);
  fmt::print("\n  {:<52} {:>14} {:<7} {}\n", "measure", "rate", "unit", "ratio (same run)");
  row("libsodium verify, 1 core (raw1)", one, "sig/s", "1.000 x raw1");
  row("libsodium verify, all cores (rawN)", all, "sig/s", times(all / one, "raw1"));

  BigBlock block(o.block_txs);
  SignatureVerifier parallel(cores - 1, 0);
  SignatureVerifier cached(cores - 1, o.block_txs * 2);
  (void)cached.verify_all(decode_block(block.bytes).value()->transactions());
  std::vector<double> serial_runs, parallel_runs, cached_runs;
  for (int i = 0; i < 3; ++i) {
    serial_runs.push_back(block.apply_rate(nullptr));
    parallel_runs.push_back(block.apply_rate(&parallel));
    cached_runs.push_back(block.apply_rate(&cached));
  }
  row("block validation, 1 thread", median(serial_runs), "tx/s",
      times(median(serial_runs) / one, "raw1"));
  row("block validation, all cores (target >= 0.8 x rawN)", median(parallel_runs), "tx/s",
      times(median(parallel_runs) / all, "rawN"));
  row("block validation, signatures cached by the pool", median(cached_runs), "tx/s",
      times(median(cached_runs) / all, "rawN"));
  double admit = admission_rate(o.quick ? 2'000 : 10'000);
  row("transaction admission from JSON, 1 thread", admit, "tx/s", times(admit / one, "raw1"));
  double unfunded = unfunded_refusal_rate(o.quick ? 2'000 : 20'000);
  row("unfunded transaction refused, no signature check", unfunded, "tx/s",
      times(unfunded / one, "raw1"));

  auto [prove, verify] = vrf_rates(o.quick ? 500 : 5'000);
  row("VRF prove (RFC 9381 ECVRF), 1 core", prove, "proof/s", times(prove / one, "raw1"));
  row("VRF verify, 1 core", verify, "proof/s", times(verify / one, "raw1"));

  std::size_t draws = o.quick ? 2'000 : 20'000;
  double low = draw_seconds(1000, 10, draws), high = draw_seconds(1000, 1'000'000'000'000, draws);
  row("leader draw, 1,000 stakers of 10", 1 / low, "draw/s", "");
  row("leader draw, 1,000 stakers of 10^12", 1 / high, "draw/s",
      times(high / low, "the cost at stake 10 (target about 1)"));
  double big = draw_seconds(10'000, 1'000, draws / 4);
  row("leader draw, 10,000 stakers", 1 / big, "draw/s",
      fmt::format("{:.2f} us per draw (target < 1,000 us)", big * 1e6));

  auto [lmdb, memory] = storage_rates(o.quick ? 3 : 20, 1000);
  row("apply in memory, blocks of 1,000 tx", memory, "tx/s", times(memory / one, "raw1"));
  row("apply on LMDB (fsync), blocks of 1,000 tx", lmdb, "tx/s", times(lmdb / memory, "memory"));

  for (std::size_t n : {4, 32, 128}) {
    VoteCost cost = vote_cost(n, o.quick ? 0.1 : 1.0, o.quick ? 3 : 9);
    row(fmt::format("apply an empty block, {} validators", n), 1e3 / cost.empty_ms, "block/s",
        fmt::format("{:.3f} ms per block", cost.empty_ms));
    double votes = static_cast<double>(n) * 1e3 / cost.votes_ms;
    row(fmt::format("apply a block of {} votes, {} validators", n, n), votes, "vote/s",
        fmt::format("{}, {:.3f} ms per block", times(votes / one, "raw1"), cost.votes_ms));
  }
  std::size_t short_chain = o.quick ? 200 : 1'000, long_chain = short_chain * 10;
  double open_short = open_seconds(short_chain), open_long = open_seconds(long_chain);
  row(fmt::format("open a data dir at height {}, 4 validators", short_chain),
      static_cast<double>(short_chain) / open_short, "block/s",
      fmt::format("{:.1f} ms", open_short * 1e3));
  row(fmt::format("open a data dir at height {}, 4 validators", long_chain),
      static_cast<double>(long_chain) / open_long, "block/s",
      fmt::format("{:.1f} ms, {}", open_long * 1e3,
                  times(open_long / open_short, "the open at a tenth of it (target about 1)")));
  fmt::print("\n  p2p (sync rate / apply rate, gossip latency): run pos_bench_p2p.\n");
  return 0;
}

}  // namespace pos::bench
