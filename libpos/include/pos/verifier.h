// Signature checks in parallel on a pool of worker threads, with a bounded cache of signatures
// already found valid, so that a transaction checked when it entered the pool is not checked
// again when its block arrives. Thread-safe. Its threads run at a lower scheduling priority
// (lower_this_thread_priority), so that the event loop is never queued behind them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pos/block.h"
#include "pos/transaction.h"
#include "pos/vote.h"

namespace pos {

class SignatureVerifier {
 public:
  // threads: workers besides the caller (0: the caller alone). cache: entries kept.
  explicit SignatureVerifier(std::size_t threads, std::size_t cache_entries = 200'000);
  ~SignatureVerifier();
  SignatureVerifier(const SignatureVerifier&) = delete;
  SignatureVerifier& operator=(const SignatureVerifier&) = delete;

  // Checks one transaction's signature (through the cache); the verdict is also kept on the
  // transaction, so that later check_signature() calls cost nothing.
  [[nodiscard]] bool verify(const Transaction& tx);
  // Records on each transaction the verdict the cache holds for it, without checking any
  // signature: true if every one is now known valid. A block whose transactions all came
  // through the pool is then taken at once, without waiting for the verifier's threads.
  [[nodiscard]] bool recall_verdicts(const std::vector<TransactionPtr>& txs);
  // Whose checks the workers help first: a block or votes someone waits for (kUrgent), or
  // gossip and clients' transactions (kBulk), which give way to them.
  enum class Priority { kUrgent, kBulk };
  // Checks all of them, in parallel for large batches; the index of the first invalid one.
  [[nodiscard]] std::optional<std::size_t> verify_all(const std::vector<TransactionPtr>& txs,
                                                      Priority priority = Priority::kUrgent);
  // Checks them on a thread of the verifier's own (with the workers, as verify_all does), then
  // calls `done` on that thread; each verdict is kept on its transaction. Batches are checked in
  // the order given, in slices between which any block and vote batches waiting go first. Batches
  // still queued when the verifier is destroyed are dropped, `done` uncalled. For a caller whose
  // thread must not wait: the node's event loop.
  void verify_all_async(std::vector<TransactionPtr> txs, std::function<void()> done);
  // The same for votes: each vote's signature checked (in parallel for large batches), its
  // verdict kept on the vote, then `done`, on the batch thread. Vote batches go before every
  // transaction batch waiting: finality must not queue behind a busy network's payments.
  void verify_votes_async(std::vector<VotePtr> votes, std::function<void()> done);
  // The same for a block's body: its transactions' and votes' signatures, each verdict kept on
  // its item, so that applying the block finds them all checked. With the votes' urgency: a
  // block that extends the chain holds up its successors and the votes for it.
  void verify_block_async(BlockPtr block, std::function<void()> done);

  std::uint64_t cache_hits() const;
  std::uint64_t verified() const;  // signatures actually checked

 private:
  void check_batches();  // the batch thread
  void run_urgent_batches();
  void check_open(const std::vector<TransactionPtr>& txs, std::size_t from, std::size_t to,
                  bool urgent);
  void enqueue(std::function<void()> work, std::function<void()> done, bool urgent);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pos
