// Core micro-benchmarks. Each figure is also given as a ratio to libsodium's raw single-core
// Ed25519 verify rate measured at the start of the same run ("x_verify"), since absolute rates
// on shared machines are noise.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <chrono>
#include <thread>

#include "bench_support.h"
#include "pos/pos.h"
#include "pos_fmt.h"

using namespace pos;

namespace {

double g_sodium_verify_per_sec = 0;

SecretKey key_for(std::uint32_t i) {
  return bench::key_for(i, 0xbe);
}

double measure_sodium_verify() {
  SecretKey key = key_for(0);
  std::uint8_t message[120] = {1};
  Signature sig = key.sign(ByteView(message, sizeof(message)));
  auto start = std::chrono::steady_clock::now();
  int n = 0;
  double seconds = 0;
  do {
    for (int i = 0; i < 200; ++i)
      if (crypto_sign_verify_detached(sig.data(), message, sizeof(message),
                                      key.public_key().data()) != 0)
        std::abort();
    n += 200;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (seconds < 1.0);
  return n / seconds;
}

// items/s of this benchmark divided by the raw verify rate.
void report(benchmark::State& state, std::int64_t items) {
  state.SetItemsProcessed(items);
  state.counters["x_verify"] = benchmark::Counter(
      static_cast<double>(items) / g_sodium_verify_per_sec, benchmark::Counter::kIsRate);
}

void BM_SodiumVerify(benchmark::State& state) {
  SecretKey key = key_for(0);
  std::uint8_t message[120] = {1};
  Signature sig = key.sign(ByteView(message, sizeof(message)));
  for (auto _ : state)
    benchmark::DoNotOptimize(
        crypto_sign_verify_detached(sig.data(), message, sizeof(message), key.public_key().data()));
  report(state, state.iterations());
}
BENCHMARK(BM_SodiumVerify);

void BM_Sign(benchmark::State& state) {
  SecretKey key = key_for(0);
  TxFields f;
  f.chain_id = "pos-bench";
  f.sender = key.public_key();
  f.amount = 1;
  for (auto _ : state) {
    ++f.nonce;
    benchmark::DoNotOptimize(Transaction::sign(f, key));
  }
  report(state, state.iterations());
}
BENCHMARK(BM_Sign);

void BM_Verify(benchmark::State& state) {
  SecretKey key = key_for(0);
  Bytes message(120, 7);
  Signature sig = key.sign(message);
  for (auto _ : state) benchmark::DoNotOptimize(verify(key.public_key(), message, sig));
  report(state, state.iterations());
}
BENCHMARK(BM_Verify);

// A transaction as it arrives: JSON parsed, id hashed, stateless rules and signature checked,
// admitted to a pool.
void BM_TransactionValidation(benchmark::State& state) {
  SecretKey key = key_for(1);
  ChainParams params;
  params.chain_id = "pos-bench";
  AccountModel accounts(params.hash());
  accounts.put(key.public_key(), Account{1'000'000'000, 0, 0, 0, 0});
  std::vector<std::string> jsons;
  for (std::uint64_t n = 0; n < 64; ++n) {
    TxFields f;
    f.chain_id = params.chain_id;
    f.sender = key.public_key();
    f.receiver = key_for(2).public_key();
    f.amount = 1;
    f.nonce = n;
    jsons.push_back(to_json(*Transaction::sign(f, key)));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    if (i % jsons.size() == 0) {
      state.PauseTiming();
      i = 0;
      state.ResumeTiming();
    }
    TransactionPool pool(params);
    auto tx = transaction_from_json(jsons[i++], params.chain_id);
    if (!tx.ok() || !pool.add(*tx, accounts, 0).ok()) state.SkipWithError("refused");
  }
  report(state, state.iterations());
}
BENCHMARK(BM_TransactionValidation);

// Validation and application of one block of N transfers from 1,000 senders. mode 0: signatures
// checked on this thread only; 1: in parallel on every core (SignatureVerifier); 2: through a
// verifier whose cache already holds them, as when the transactions came through the pool.
void BM_BlockValidation(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const int mode = static_cast<int>(state.range(1));
  const std::size_t senders = 1000;
  std::vector<SecretKey> keys;
  Genesis genesis;
  genesis.params.chain_id = "pos-bench";
  genesis.params.genesis_time_ms = 0;
  for (std::uint32_t i = 0; i < senders; ++i) {
    keys.push_back(key_for(100 + i));
    genesis.allocations.push_back({keys.back().public_key(), 1'000'000, i == 0 ? 1u : 0u});
  }
  std::sort(genesis.allocations.begin(), genesis.allocations.end(),
            [](const auto& a, const auto& b) { return a.address < b.address; });
  genesis.params.exchange_authority = keys[0].public_key();
  ManualClock clock(10'000);
  MemoryStorage storage;
  auto chain = Blockchain::open(genesis, storage, clock).value();
  TransactionPool pool(genesis.params, PoolLimits{20'000, 64 << 20, 64, 64, ~0ULL, 0});
  for (std::size_t i = 0; i < n; ++i) {
    TxFields f;
    f.chain_id = genesis.params.chain_id;
    f.sender = keys[i % senders].public_key();
    f.receiver = keys[(i + 1) % senders].public_key();
    f.amount = 1;
    f.fee = 1;
    f.nonce = i / senders;
    if (!pool.add(Transaction::sign(f, keys[i % senders]), chain->state(), 0).ok()) std::abort();
  }
  BlockPtr block = chain->forge(keys[0], 1, pool, 1000).value();
  if (block->transactions().size() != n) std::abort();
  Bytes bytes = encode(*block);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // Mode 1 keeps no cache, or every iteration after the first would find its signatures there.
  SignatureVerifier verifier(mode == 0 ? 0 : cores - 1, mode == 1 ? 0 : 200'000);
  if (mode == 2) (void)verifier.verify_all(decode_block(bytes).value()->transactions());
  for (auto _ : state) {
    state.PauseTiming();
    MemoryStorage fresh;
    auto c = Blockchain::open(genesis, fresh, clock).value();
    if (mode != 0) c->set_verifier(&verifier);
    BlockPtr copy = decode_block(bytes).value();  // unverified copies
    state.ResumeTiming();
    if (!c->apply(copy).ok()) state.SkipWithError("block refused");
  }
  report(state, static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_BlockValidation)
    ->ArgNames({"txs", "mode"})
    ->ArgsProduct({{1000, 10000}, {0, 1, 2}})
    ->UseRealTime()  // worker threads do part of the work
    ->Unit(benchmark::kMillisecond);

// The leader draw for N stakers of stake S each; the cost must not depend on S.
void BM_LeaderDraw(benchmark::State& state) {
  std::map<PublicKey, std::uint64_t> stakers;
  for (std::int64_t i = 0; i < state.range(0); ++i)
    stakers[key_for(static_cast<std::uint32_t>(5000 + i)).public_key()] =
        static_cast<std::uint64_t>(state.range(1));
  ProofOfStake pos(stakers);
  Hash parent = sha256(std::string_view("parent"));
  std::uint64_t slot = 0;
  for (auto _ : state) benchmark::DoNotOptimize(pos.leader(parent, ++slot));
  report(state, state.iterations());
}
BENCHMARK(BM_LeaderDraw)
    ->ArgNames({"stakers", "stake"})
    ->ArgsProduct({{10, 100, 1000}, {10, 1'000'000'000'000}});

// Building the lots from the staker set (once per parent whose stakes changed).
void BM_LotsBuild(benchmark::State& state) {
  std::map<PublicKey, std::uint64_t> stakers;
  for (std::int64_t i = 0; i < state.range(0); ++i)
    stakers[key_for(static_cast<std::uint32_t>(5000 + i)).public_key()] = 1'000'000'000'000;
  for (auto _ : state) benchmark::DoNotOptimize(ProofOfStake(stakers));
  report(state, state.iterations());
}
BENCHMARK(BM_LotsBuild)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace

int main(int argc, char** argv) {
  if (!pos::init().ok()) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_sodium_verify_per_sec = measure_sodium_verify();
  fmt::print("libsodium raw Ed25519 verify, one core, this run: {:.0f}/s (x_verify = 1.0)\n",
             g_sodium_verify_per_sec);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
