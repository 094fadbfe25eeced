#include <catch2/catch.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

std::vector<TransactionPtr> batch(std::size_t n, std::optional<std::size_t> forged = std::nullopt) {
  SecretKey key = key_from_index(77);
  std::vector<TransactionPtr> out;
  for (std::size_t i = 0; i < n; ++i) {
    TxFields f;
    f.chain_id = "pos-test";
    f.sender = key.public_key();
    f.receiver = key_from_index(78).public_key();
    f.amount = 1;
    f.nonce = i;
    auto tx = Transaction::sign(f, key);
    if (forged && *forged == i) {
      Signature bad = tx->signature();
      bad.bytes[0] ^= 1;
      tx = Transaction::make(tx->fields(), bad);
    }
    out.push_back(tx);
  }
  return out;
}

// Fresh objects with the same content: no verdict kept on them.
std::vector<TransactionPtr> copies(const std::vector<TransactionPtr>& txs) {
  std::vector<TransactionPtr> out;
  for (const auto& tx : txs) out.push_back(decode_transaction(encode(*tx)).value());
  return out;
}

}  // namespace

TEST_CASE("parallel verification finds the first invalid signature of a batch", "[verifier]") {
  SignatureVerifier verifier(3);
  CHECK_FALSE(verifier.verify_all(batch(300)).has_value());
  CHECK(verifier.verify_all(batch(300, 137)) == 137u);
  CHECK(verifier.verify_all(batch(5, 2)) == 2u);  // small batches on the calling thread
  CHECK_FALSE(verifier.verify_all({}).has_value());
  SignatureVerifier alone(0);
  CHECK(alone.verify_all(batch(100, 99)) == 99u);
}

TEST_CASE("a signature found valid once is not checked again", "[verifier]") {
  SignatureVerifier verifier(1, 1000);
  auto txs = batch(200);
  REQUIRE_FALSE(verifier.verify_all(txs).has_value());
  CHECK(verifier.verified() == 200);
  REQUIRE_FALSE(verifier.verify_all(copies(txs)).has_value());
  CHECK(verifier.verified() == 200);
  CHECK(verifier.cache_hits() == 200);
  // An invalid signature is never cached: checked each time.
  auto bad = batch(1, 0);
  CHECK_FALSE(verifier.verify(*bad[0]));
  CHECK_FALSE(verifier.verify(*copies(bad)[0]));
  CHECK(verifier.verified() == 202);
  // The cache is bounded: the oldest entries go.
  SignatureVerifier small(0, 10);
  auto many = batch(50);
  REQUIRE_FALSE(small.verify_all(many).has_value());
  REQUIRE_FALSE(small.verify_all(copies(many)).has_value());
  CHECK(small.cache_hits() == 0);  // each of the 50 was evicted before it came back
}

TEST_CASE("with a verifier, blocks are validated the same way", "[verifier][chain]") {
  TestNet net;
  SignatureVerifier verifier(2);
  net.chain->set_verifier(&verifier);
  net.pool.set_verifier(&verifier);
  for (int i = 0; i < 40; ++i) {
    auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 1, 0,
                                    static_cast<std::uint64_t>(i), 1);
    REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
  }
  BlockPtr block = net.forge(net.next_slot(0));
  REQUIRE(block->transactions().size() == 40);
  std::uint64_t checked = verifier.verified();
  // A copy of the block, as it would arrive from a peer: its signatures come from the cache.
  REQUIRE(net.chain->apply(decode_block(encode(*block)).value()).ok());
  CHECK(verifier.verified() == checked);
  CHECK(verifier.cache_hits() >= 40);

  std::vector<TransactionPtr> txs = batch(50, 33);
  BlockPtr bad = net.craft(txs);
  auto refused = net.chain->apply(bad);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.reason() == Reason::kBlockTxInvalid);
}

TEST_CASE("verify_all_async checks batches in order off the calling thread and keeps verdicts",
          "[verifier]") {
  SignatureVerifier verifier(1);
  auto good = batch(100);
  auto bad = batch(40, 7);
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<int> finished;
  std::thread::id caller = std::this_thread::get_id();
  bool other_thread = true;
  auto done = [&](int which) {
    return [&, which]() {
      std::lock_guard lock(mutex);
      other_thread = other_thread && std::this_thread::get_id() != caller;
      finished.push_back(which);
      cv.notify_all();
    };
  };
  verifier.verify_all_async(good, done(1));
  verifier.verify_all_async(bad, done(2));
  {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished.size() == 2; }));
  }
  CHECK(finished == std::vector{1, 2});
  CHECK(other_thread);
  // The bad batch shares its first 40 transactions but the forged one with the good batch.
  CHECK(verifier.verified() == 101);
  CHECK(verifier.cache_hits() == 39);
  // The verdicts are on the transactions: checking them again costs nothing.
  CHECK_FALSE(verifier.verify_all(good).has_value());
  CHECK(verifier.verify_all(bad) == 7u);
  CHECK(verifier.verified() == 101);
  CHECK(verifier.cache_hits() == 39);
  CHECK(bad[7]->check_signature().reason() == Reason::kBadSignature);
}

TEST_CASE("recall_verdicts takes what the cache knows and checks no signature", "[verifier]") {
  SignatureVerifier verifier(1, 1000);
  auto txs = batch(60);
  REQUIRE_FALSE(verifier.verify_all(txs).has_value());
  auto known = copies(txs);
  CHECK(verifier.recall_verdicts(known));
  CHECK(verifier.cache_hits() == 60);
  for (const auto& tx : known) CHECK(tx->check_signature().ok());  // verdicts kept
  CHECK(verifier.verified() == 60);
  // One the cache lacks: false, and still unchecked.
  auto more = copies(txs);
  more.push_back(batch(61)[60]);
  CHECK_FALSE(verifier.recall_verdicts(more));
  CHECK(verifier.verified() == 60);
  CHECK_FALSE(verifier.verify_all(more).has_value());
  CHECK(verifier.verified() == 61);
  // A transaction found invalid before is never taken.
  auto bad = batch(3, 1);
  CHECK(verifier.verify_all(bad) == 1u);
  CHECK_FALSE(verifier.recall_verdicts(bad));
  CHECK(verifier.recall_verdicts({}));
}

TEST_CASE("a block's check posted during a large gossip batch is done before that batch",
          "[verifier]") {
  TestNet net;
  SignatureVerifier verifier(1);
  std::vector<TransactionPtr> block_txs;
  for (std::uint64_t i = 0; i < 40; ++i)
    block_txs.push_back(
        net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 1, 0, i, 1));
  BlockPtr block = net.craft(block_txs);
  // About 100 ms of checks on two threads, in slices of 256 between which urgent work goes.
  auto gossip = batch(4000);
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> finished;
  auto done = [&](std::string which) {
    return [&, which]() {
      std::lock_guard lock(mutex);
      finished.push_back(which);
      cv.notify_all();
    };
  };
  verifier.verify_all_async(gossip, done("gossip"));
  // Posted once the gossip batch is being checked, not while both wait in the queue.
  REQUIRE(eventually([&] { return verifier.verified() > 0; }));
  verifier.verify_block_async(block, done("block"));
  {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished.size() == 2; }));
  }
  CHECK(finished == std::vector<std::string>{"block", "gossip"});
  CHECK(verifier.verified() == 4040);
  for (const auto& tx : block->transactions()) CHECK(tx->check_signature().ok());
}

#if defined(__linux__)

TEST_CASE("the verifier's threads run below the caller's priority", "[verifier]") {
  auto before = thread_nice_values();
  SignatureVerifier verifier(2);
  std::promise<void> checked;
  verifier.verify_all_async(batch(64), [&] { checked.set_value(); });
  REQUIRE(checked.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  auto after = thread_nice_values();
  const std::vector<int> started = nice_of_new_threads(before, after);
  for (int nice : started) CHECK(nice >= 10);
  CHECK(started.size() == 3);  // two workers and the batch thread
  CHECK(after.at(this_thread_id()) == before.at(this_thread_id()));  // the caller keeps its own
}
#endif
