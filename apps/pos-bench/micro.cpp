// pos-bench micro: the core and storage micro-benchmarks in one run, each a ratio to a baseline
// (mostly the raw libsodium verify rate) measured in rounds that alternate with it, since only
// such ratios survive a noisy machine. (The p2p figures, sync and gossip, need two event loops:
// pos_bench_p2p.)
#include "micro.h"

#include <openssl/evp.h>
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

// SHA-256 digests per second of `size`-byte messages, by libsodium or by OpenSSL, which uses the
// CPU's SHA extensions where it has them: the measure behind libpos hashing with OpenSSL (ids,
// Merkle roots, the state root), to be taken again on a machine without those extensions.
class Sha256Rates {
 public:
  Sha256Rates(std::size_t size, std::size_t count) : messages_(count, Bytes(size)) {
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t b = 0; b < size; ++b)
        messages_[i][b] = static_cast<std::uint8_t>(i * 131 + b);
  }
  double libsodium_rate() const {
    return rate(
        [](const Bytes& m, std::uint8_t* out) { crypto_hash_sha256(out, m.data(), m.size()); });
  }
  // Through EVP with the digest fetched once and one context reused, as `openssl speed` does: the
  // one-shot SHA256() fetches the digest on every call, which costs as much as a short hash.
  double openssl_rate() const {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!md || !ctx) std::abort();
    double r = rate([&](const Bytes& m, std::uint8_t* out) {
      if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
          EVP_DigestUpdate(ctx, m.data(), m.size()) != 1 ||
          EVP_DigestFinal_ex(ctx, out, nullptr) != 1)
        std::abort();
    });
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return r;
  }

 private:
  template <class Hash>
  double rate(Hash&& hash) const {
    std::uint8_t out[32] = {};
    unsigned sink = 0;
    auto start = Timer::now();
    for (const auto& m : messages_) {
      hash(m, out);
      sink += out[0];
    }
    double seconds = seconds_since(start);
    if (sink == 1) std::puts("");  // keeps the loop from being optimised away
    return static_cast<double>(messages_.size()) / seconds;
  }
  std::vector<Bytes> messages_;
};

// Transactions per second admitted to a pool from JSON (parse, rules, signature), each round
// into an empty pool.
class Admission {
 public:
  explicit Admission(std::size_t n) : net_(200, 0x6f), state_(net_.genesis.params.hash()) {
    for (const auto& a : net_.genesis.allocations)
      state_.put(a.address, Account{a.balance, a.stake, 0, 0, 0});
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t from = i % net_.keys.size();
      jsons_.push_back(
          to_json(*transfer(net_, from, (from + 1) % net_.keys.size(), i / net_.keys.size())));
    }
  }
  double rate() const {
    std::size_t n = jsons_.size();
    TransactionPool pool(net_.genesis.params,
                         PoolLimits{n + 10, 256 << 20, n + 10, n + 10, ~0ULL, 0});
    auto start = Timer::now();
    for (const auto& j : jsons_) {
      auto tx = transaction_from_json(j, net_.genesis.params.chain_id);
      if (!tx.ok() || !pool.add(*tx, state_, 0).ok()) std::abort();
    }
    return static_cast<double>(n) / seconds_since(start);
  }

 private:
  Network net_;
  AccountModel state_;
  std::vector<std::string> jsons_;
};

// Transactions a second that the pool refuses as unfunded, from senders with nothing (a flood
// from a peer): the cheap checks alone, no signature check.
class UnfundedRefusal {
 public:
  explicit UnfundedRefusal(std::size_t n) : net_(4, 0x6f), state_(net_.genesis.params.hash()) {
    std::vector<SecretKey> senders;
    for (std::uint32_t k = 0; k < 64; ++k) senders.push_back(key_for(20'000 + k, 0x71));
    for (std::size_t i = 0; i < n; ++i) {
      const SecretKey& sender = senders[i % senders.size()];
      TxFields f;
      f.chain_id = net_.genesis.params.chain_id;
      f.sender = sender.public_key();
      f.receiver = net_.keys[0].public_key();
      f.amount = 1'000;
      f.fee = 1;
      f.timestamp_ms = i;
      txs_.push_back(Transaction::sign(f, sender));
    }
  }
  double rate() const {
    TransactionPool pool(net_.genesis.params);
    auto start = Timer::now();
    for (const auto& tx : txs_)
      if (pool.add(tx, state_, 0).reason() != Reason::kInsufficientFunds) std::abort();
    return static_cast<double>(txs_.size()) / seconds_since(start);
  }

 private:
  Network net_;
  AccountModel state_;
  std::vector<TransactionPtr> txs_;
};

// Leader draws per second among `stakers` stakers of `stake` each.
class Draw {
 public:
  Draw(std::size_t stakers, std::uint64_t stake) : pos_(stakes(stakers, stake)) {}
  double rate(std::size_t draws) {
    Hash parent = sha256(std::string_view("parent"));
    std::size_t sink = 0;
    auto start = Timer::now();
    for (std::uint64_t i = 1; i <= draws; ++i) sink += pos_.leader(parent, ++slot_)->bytes[0];
    double seconds = seconds_since(start);
    if (sink == 1) std::puts("");  // keeps the loop from being optimised away
    return static_cast<double>(draws) / seconds;
  }

 private:
  static std::map<PublicKey, std::uint64_t> stakes(std::size_t stakers, std::uint64_t stake) {
    std::map<PublicKey, std::uint64_t> set;
    for (std::size_t i = 0; i < stakers; ++i)
      set[key_for(static_cast<std::uint32_t>(9000 + i), 0x70).public_key()] = stake;
    return set;
  }
  ProofOfStake pos_;
  std::uint64_t slot_ = 0;  // each round draws new slots
};

// VRF proofs made and checked per second, one thread, each for its own slot's input.
class VrfRates {
 public:
  explicit VrfRates(std::size_t n) : key_(key_for(7, 0x72)) {
    Hash nonce = sha256(std::string_view("nonce"));
    for (std::uint64_t slot = 0; slot < n; ++slot)
      inputs_.push_back(vrf_input("pos-bench", nonce, slot));
    for (const auto& input : inputs_) proofs_.push_back(vrf_prove(key_, input));
  }
  double prove_rate() const {
    std::vector<VrfProof> proofs;
    proofs.reserve(inputs_.size());
    auto start = Timer::now();
    for (const auto& input : inputs_) proofs.push_back(vrf_prove(key_, input));
    return static_cast<double>(inputs_.size()) / seconds_since(start);
  }
  double verify_rate() const {
    auto start = Timer::now();
    for (std::size_t i = 0; i < inputs_.size(); ++i)
      if (!vrf_verify(key_.public_key(), inputs_[i], proofs_[i]).ok()) std::abort();
    return static_cast<double>(inputs_.size()) / seconds_since(start);
  }

 private:
  SecretKey key_;
  std::vector<Bytes> inputs_;
  std::vector<VrfProof> proofs_;
};

// Blocks of `txs` transactions, applied to a fresh chain in memory or on LMDB (fsync on):
// transactions per second.
class StorageRates {
 public:
  StorageRates(std::size_t blocks, std::size_t txs) : net_(1001, 0x71), txs_(txs) {
    MemoryStorage scratch;
    ManualClock clock(0);
    auto chain = Blockchain::open(net_.genesis, scratch, clock).value();
    for (std::size_t b = 0; b < blocks; ++b) {
      TransactionPool pool(net_.genesis.params,
                           PoolLimits{txs + 10, 256 << 20, txs + 10, txs + 10, ~0ULL, 0});
      for (std::size_t i = 0; i < txs; ++i) {
        std::size_t from = 1 + (b * txs + i) % (net_.keys.size() - 1);
        const Address& sender = net_.keys[from].public_key();
        std::uint64_t nonce = chain->state().get(sender).nonce + pool.pending_from(sender).size();
        auto tx = transfer(net_, from, (from + 7) % net_.keys.size(), nonce);
        if (!pool.add(tx, chain->state(), 0).ok()) std::abort();
      }
      std::uint64_t slot = chain->tip().slot + 1;
      clock.set(net_.genesis.params.slot_start_ms(slot));
      BlockPtr block = chain->forge(net_.keys[0], slot, pool, clock.now_ms()).value();
      if (!chain->apply(block).ok()) std::abort();
      forged_.push_back(block);
    }
  }
  double memory_rate() const {
    MemoryStorage memory;
    return rate(memory);
  }
  double lmdb_rate() const {
    auto dir =
        std::filesystem::temp_directory_path() / fmt::format("pos-bench-micro-{}", ::getpid());
    std::filesystem::remove_all(dir);
    double r;
    {
      auto lmdb = LmdbStorage::open(dir).value();
      r = rate(*lmdb);
    }
    std::filesystem::remove_all(dir);
    return r;
  }

 private:
  double rate(Storage& storage) const {
    return apply_rate(net_.genesis, storage, forged_) * static_cast<double>(txs_);
  }
  Network net_;
  std::size_t txs_;
  std::vector<BlockPtr> forged_;
};

// Milliseconds to apply one block without votes (median), and the votes a second of blocks
// carrying every validator's vote, interleaved with a baseline.
struct VoteCost {
  double empty_ms = 0;
  Ratio votes;
  std::vector<double> votes_ms;  // each round's median block
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

// Empty blocks for a quarter of `seconds`, then rounds of blocks carrying every validator's vote
// for the parent, each round between two of `baseline`: a round's rate is the votes of a block
// over the round's median apply time.
template <class Baseline>
VoteCost vote_cost(std::size_t validators, double seconds, std::size_t min_blocks,
                   std::size_t rounds, Baseline&& baseline) {
  MemoryStorage storage;
  VotedChain voted(validators, storage);
  VoteCost cost;
  std::vector<double> ms;
  auto phase = Timer::now();
  while (ms.size() < min_blocks || seconds_since(phase) < seconds / 4)
    ms.push_back(voted.apply_next({}));
  cost.empty_ms = median(ms);
  voted.apply_voted(false);  // justifies the empty tip from genesis, finalizes nothing: not timed
  const double round_seconds = seconds * 3 / 4 / static_cast<double>(rounds);
  cost.votes = interleave(rounds, baseline, [&] {
    ms.clear();
    auto round = Timer::now();
    while (ms.size() < min_blocks || seconds_since(round) < round_seconds)
      ms.push_back(voted.apply_voted(true));
    cost.votes_ms.push_back(median(ms));
    return static_cast<double>(validators) * 1e3 / cost.votes_ms.back();
  });
  return cost;
}

// An LMDB data dir holding a chain of `blocks` blocks of 4 validators, each block carrying every
// vote (so all but the last two are final), built with fsync off; removed with this object.
class VotedDataDir {
 public:
  explicit VotedDataDir(std::size_t blocks)
      : blocks_(blocks),
        dir_(std::filesystem::temp_directory_path() /
             fmt::format("pos-bench-open-{}-{}", ::getpid(), blocks)) {
    std::filesystem::remove_all(dir_);
    LmdbOptions options;
    options.sync = false;  // the build is not what is measured
    auto lmdb = LmdbStorage::open(dir_, options).value();
    VotedChain voted(4, *lmdb);
    genesis_ = voted.genesis();
    voted.apply_next({});
    voted.apply_voted(false);
    while (voted.chain().height() < blocks) voted.apply_voted(true);
  }
  ~VotedDataDir() { std::filesystem::remove_all(dir_); }
  VotedDataDir(const VotedDataDir&) = delete;
  VotedDataDir& operator=(const VotedDataDir&) = delete;

  // Seconds to open the storage and the chain on it.
  double open_seconds() const {
    auto start = Timer::now();
    auto lmdb = LmdbStorage::open(dir_).value();
    ManualClock clock(0);
    auto chain = Blockchain::open(genesis_, *lmdb, clock).value();
    double seconds = seconds_since(start);
    if (chain->height() != blocks_) std::abort();
    return seconds;
  }

 private:
  std::size_t blocks_;
  std::filesystem::path dir_;
  Genesis genesis_;
};

void row(std::string_view what, double value, const char* unit, const std::string& ratio) {
  fmt::print("  {:<52} {:14.0f} {:<7} {}\n", what, value, unit, ratio);
  std::fflush(stdout);
}

}  // namespace

double raw_verify_rate_all_cores() {
  static const Signed set = make_signatures(4'000);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return median(
      {raw_verify_rate(set, cores), raw_verify_rate(set, cores), raw_verify_rate(set, cores)});
}

int run_micro(const MicroOptions& o) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t rounds = o.rounds;
  fmt::print(
      "pos-bench micro: {} cores, blocks of {} transactions{}\n"
      "each ratio: the median of {} rounds, each measured between two rounds of its baseline "
      "(lowest-highest in brackets)\n",
      cores, o.block_txs, o.quick ? " (quick: figures are rough)" : "", rounds);
  // A baseline round is about a fifth of a second of verifies (a fiftieth when quick), as long
  // as a round of most measures: a shorter one met the machine in another state.
  Signed set = make_signatures(o.quick ? 400 : 5'000);
  auto raw1 = [&] { return raw_verify_rate(set, 1); };
  auto rawn = [&] { return raw_verify_rate(set, cores); };
  auto show = [](std::string_view what, const Ratio& r, const char* unit, std::string ratio) {
    row(what, r.measure(), unit, std::move(ratio));
  };
  fmt::print("\n  {:<52} {:>14} {:<7} {}\n", "measure", "rate", "unit", "ratio (same run)");
  Ratio all = interleave(rounds, raw1, rawn);
  row("libsodium verify, 1 core (raw1)", all.baseline(), "sig/s", "1.000 x raw1");
  show("libsodium verify, all cores (rawN)", all, "sig/s", describe(all, "raw1"));

  BigBlock block(o.block_txs);
  SignatureVerifier parallel(cores - 1, 0);
  SignatureVerifier cached(cores - 1, o.block_txs * 2);
  (void)cached.verify_all(decode_block(block.bytes).value()->transactions());
  // Validation includes one verify per transaction: it cannot beat the raw verify.
  Ratio serial = interleave(rounds, raw1, [&] { return block.apply_rate(nullptr); });
  show("block validation, 1 thread", serial, "tx/s", describe(serial, "raw1", 1));
  Ratio parallel_ratio = interleave(rounds, rawn, [&] { return block.apply_rate(&parallel); });
  show("block validation, all cores (target >= 0.9 x rawN)", parallel_ratio, "tx/s",
       describe(parallel_ratio, "rawN", 1));
  Ratio cached_ratio = interleave(rounds, rawn, [&] { return block.apply_rate(&cached); });
  show("block validation, signatures cached by the pool", cached_ratio, "tx/s",
       describe(cached_ratio, "rawN"));
  Admission admission(o.quick ? 400 : 2'000);
  Ratio admit = interleave(rounds, raw1, [&] { return admission.rate(); });
  show("transaction admission from JSON, 1 thread", admit, "tx/s", describe(admit, "raw1", 1));
  UnfundedRefusal unfunded(o.quick ? 2'000 : 20'000);
  Ratio refused = interleave(rounds, raw1, [&] { return unfunded.rate(); });
  show("unfunded transaction refused, no signature check", refused, "tx/s",
       describe(refused, "raw1"));

  for (std::size_t size : {64, 200}) {
    Sha256Rates sha(size, o.quick ? 20'000 : 200'000);
    Ratio openssl = interleave(
        rounds, [&] { return sha.libsodium_rate(); }, [&] { return sha.openssl_rate(); });
    row(fmt::format("SHA-256 of {} bytes, libsodium", size), openssl.baseline(), "hash/s", "");
    show(fmt::format("SHA-256 of {} bytes, OpenSSL", size), openssl, "hash/s",
         describe(openssl, "libsodium"));
  }

  VrfRates vrf(o.quick ? 50 : 200);
  Ratio prove = interleave(rounds, raw1, [&] { return vrf.prove_rate(); });
  show("VRF prove (RFC 9381 ECVRF), 1 core", prove, "proof/s", describe(prove, "raw1"));
  Ratio verify = interleave(rounds, raw1, [&] { return vrf.verify_rate(); });
  show("VRF verify, 1 core", verify, "proof/s", describe(verify, "raw1"));

  std::size_t draws = o.quick ? 500 : 4'000;
  Draw small_stakes(1000, 10), large_stakes(1000, 1'000'000'000'000);
  Ratio draw = interleave(
      rounds, [&] { return small_stakes.rate(draws); }, [&] { return large_stakes.rate(draws); });
  row("leader draw, 1,000 stakers of 10", draw.baseline(), "draw/s", "");
  show("leader draw, 1,000 stakers of 10^12", draw, "draw/s",
       describe(draw, "the rate at stake 10 (target about 1)"));
  Draw many(10'000, 1'000);
  std::vector<double> many_rates;
  for (std::size_t i = 0; i < rounds; ++i) many_rates.push_back(many.rate(draws / 4));
  row("leader draw, 10,000 stakers", median(many_rates), "draw/s",
      fmt::format("{:.2f} us per draw (target < 1,000 us)", 1e6 / median(many_rates)));

  StorageRates storage(o.quick ? 2 : 4, 1000);
  // Applying in memory includes each transaction's verify; on LMDB it adds the writes and fsync.
  Ratio memory = interleave(rounds, raw1, [&] { return storage.memory_rate(); });
  show("apply in memory, blocks of 1,000 tx", memory, "tx/s", describe(memory, "raw1", 1));
  Ratio lmdb = interleave(
      rounds, [&] { return storage.memory_rate(); }, [&] { return storage.lmdb_rate(); });
  show("apply on LMDB (fsync), blocks of 1,000 tx", lmdb, "tx/s", describe(lmdb, "memory", 1));

  for (std::size_t n : {4, 32, 128}) {
    VoteCost cost = vote_cost(n, o.quick ? 0.1 : 1.0, o.quick ? 3 : 5, rounds, raw1);
    row(fmt::format("apply an empty block, {} validators", n), 1e3 / cost.empty_ms, "block/s",
        fmt::format("{:.3f} ms per block", cost.empty_ms));
    // Each vote costs one verify, besides the block's own checks.
    show(fmt::format("apply a block of {} votes, {} validators", n, n), cost.votes, "vote/s",
         fmt::format("{}, {:.3f} ms per block", describe(cost.votes, "raw1", 1),
                     median(cost.votes_ms)));
  }
  std::size_t short_chain = o.quick ? 200 : 1'000, long_chain = short_chain * 10;
  VotedDataDir short_dir(short_chain), long_dir(long_chain);
  Ratio open = interleave(
      rounds, [&] { return short_dir.open_seconds(); }, [&] { return long_dir.open_seconds(); });
  row(fmt::format("open a data dir at height {}, 4 validators", short_chain),
      static_cast<double>(short_chain) / open.baseline(), "block/s",
      fmt::format("{:.1f} ms", open.baseline() * 1e3));
  row(fmt::format("open a data dir at height {}, 4 validators", long_chain),
      static_cast<double>(long_chain) / open.measure(), "block/s",
      fmt::format("{:.1f} ms, time {}", open.measure() * 1e3,
                  describe(open, "the open at a tenth of it (target about 1)")));
  fmt::print("\n  p2p (sync rate / apply rate, gossip latency): run pos_bench_p2p.\n");
  return 0;
}

}  // namespace pos::bench
