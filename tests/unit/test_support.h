// A small in-memory network for the unit tests: validators, a genesis, a driven clock, a chain
// and a pool, and helpers to forge the next block or craft a deliberately broken one.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pos/lmdb_storage.h"
#include "pos/pos.h"
#include "test_keys.h"

namespace pos::test {

struct NetOptions {
  std::vector<std::uint64_t> stakes = {100, 100, 100};
  std::uint64_t balance = 1'000'000;   // of every validator
  std::uint64_t user_balance = 1'000;  // of each user
  std::size_t users = 2;
  std::uint64_t unbonding_epochs = kMinUnbondingEpochs;
  std::uint64_t epoch_slots = 32;
  PoolLimits pool_limits = {};
  // Empty: in-memory storage; otherwise an LMDB data dir.
  std::filesystem::path data_dir;
};

class TestNet {
 public:
  explicit TestNet(NetOptions options = {});
  NetOptions options;

  std::vector<Wallet> validators;  // validators[0] is also the exchange authority
  std::vector<Wallet> users;
  Genesis genesis;
  ManualClock clock;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Blockchain> chain;
  TransactionPool pool;
  // Validators (indexes into `validators`) whose votes tip_votes() leaves out: keys whose votes
  // never reach a block, as when they run no node.
  std::set<std::size_t> silent;

  const std::string& chain_id() const { return genesis.params.chain_id; }
  const Wallet& wallet_of(const PublicKey& key) const;
  // The first slot after `after` whose leader on the tip is one of our validators.
  std::uint64_t next_slot(std::uint64_t after) const;
  // Moves the clock into `slot` and forges the leader's block from the pool (not applied). With
  // `evidence`, the block carries exactly that, unchecked, instead of the chain's pending
  // evidence, under the forged state root: for tests of what a block may carry.
  BlockPtr forge(std::uint64_t slot, std::vector<VotePtr> votes = {},
                 std::vector<EvidencePtr> evidence = {});
  // The block for the first slot after the tip's, carrying `votes` and `evidence` (not applied).
  BlockPtr forge_next(std::vector<VotePtr> votes = {}, std::vector<EvidencePtr> evidence = {});
  // Forges the next block (in the first slot after both the tip's and `after`) from the pool,
  // applies it and updates the pool.
  BlockPtr advance(std::uint64_t after = 0);
  // The vote of each of our validators that votes on the tip's chain and is not silent, from its
  // highest justified block to the tip (none when the tip is that block).
  std::vector<VotePtr> tip_votes() const;
  // advance() carrying tip_votes(): with every block doing so, each block justifies its parent
  // and finalizes the block before that.
  BlockPtr advance_finalizing(std::uint64_t after = 0);
  // advance_finalizing() until the tip's chain finalizes the block at `height`, then until the
  // tip's slot is `epochs_after` epochs past the start of the epoch of the block that did so;
  // returns that epoch.
  std::uint64_t finalize_then_advance(std::uint64_t height, std::uint64_t epochs_after);
  // A properly signed block on the tip for the next slot carrying exactly `txs`, with the
  // header changed by `tamper` before signing (the state root is that of a forged empty block).
  BlockPtr craft(std::vector<TransactionPtr> txs,
                 const std::function<void(BlockHeader&)>& tamper = {});
  // Signs `header` with the key of its forger (which must be one of our validators), after
  // proving its slot with that key when it builds on the tip.
  BlockPtr resign(BlockHeader header, std::vector<TransactionPtr> txs) const;
  std::uint64_t now() const { return clock.now_ms(); }
  std::uint64_t nonce_of(const Wallet& w) const { return chain->state().get(w.public_key()).nonce; }
  // Closes the chain and its storage and opens them again, as a restarted node would.
  void restart();

 private:
  std::uint64_t last_crafted_slot_ = 0;
};

// A vote by `w` on `net`'s chain between made-up blocks at the given heights (their hashes are
// derived from the heights and `variant`): for rules that need no real blocks.
VotePtr vote_by(const TestNet& net, const Wallet& w, std::uint64_t source, std::uint64_t target,
                std::uint8_t variant = 0);

// A fresh directory under the system temp dir, removed when the object goes.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Rewrites the schema version of an LMDB data dir (closed), as the store's header comment lays
// it out, and drops the tables that version did not have: how an older libpos left it.
void write_schema_version(const std::filesystem::path& data_dir, std::uint32_t version);

// Waits up to `seconds` for `condition` (an observable event: a status, a file, a reply), polling.
template <class F>
bool eventually(F condition, double seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// A hash of 32 equal bytes.
Hash filled(std::uint8_t byte);
// The parts one after the other.
Bytes concat(std::initializer_list<ByteView> parts);
// The bytes of a string, as a view.
ByteView text(std::string_view s);
// `text` with its first `from` replaced by `to`; `from` must occur.
std::string replace_first(std::string text, const std::string& from, const std::string& to);

// A Logger keeping each event as "level message key=value ..." (pos::log_text) in `lines`.
Logger capture_log(std::vector<std::string>& lines, std::string component = "consensus");
// A Logger writing text lines to stderr, for POS_TEST_LOG=1 runs.
Logger stderr_log(std::string component);

// Runs a shell command and returns its exit status.
int run_command(const std::string& command);
// The nice value of each of this process's threads, by thread id (Linux: /proc/self/task).
std::map<std::string, int> thread_nice_values();
// The nice values of the threads in `after` that are not in `before`.
std::vector<int> nice_of_new_threads(const std::map<std::string, int>& before,
                                     const std::map<std::string, int>& after);
// The calling thread's id, as thread_nice_values() names it.
std::string this_thread_id();
std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace pos::test
