#include "pos/verifier.h"

#include <algorithm>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "pos/thread_priority.h"

namespace pos {
namespace {

// Below this many, a batch is checked on the calling thread: handing it out costs more.
constexpr std::size_t kParallelFrom = 32;
// A gossip batch is checked this many at a time, and waiting block and vote batches go between
// slices: about 5 ms of checks on two cores, so a block never waits for a whole batch.
constexpr std::size_t kBulkSlice = 256;

// The cache key: the transaction id (all signed fields) and the signature.
Hash key_of(const Transaction& tx) {
  return Sha256().update(tx.id().view()).update(tx.signature().view()).finish();
}

}  // namespace

struct SignatureVerifier::Impl {
  // A bounded set of keys of valid signatures, least recently used first out.
  std::mutex cache_mutex;
  std::list<Hash> order;
  std::unordered_map<Hash, std::list<Hash>::iterator> cache;
  std::size_t capacity;
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> checks{0};

  // One batch: the workers and the caller take indices until none are left. Each batch is its
  // own object, so a worker that wakes late for an old batch only finds it exhausted.
  struct Job {
    std::function<void(std::size_t)> f;
    std::size_t size = 0;
    bool urgent = false;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> remaining{0};
  };
  std::mutex work_mutex;
  std::condition_variable work_ready;
  std::condition_variable work_done;
  // Batches being checked, in the order posted; a worker helps the first urgent one with work
  // left, else the first bulk one. Several callers may post at once (the batch thread, RPC
  // threads, the event loop).
  std::deque<std::shared_ptr<Job>> urgent_jobs, bulk_jobs;
  std::atomic<std::size_t> urgent_open{0};
  bool stopping = false;
  std::vector<std::thread> threads;

  // The async batches (their checks, then `done`) and the thread that runs them, started by the
  // first.
  struct Batch {
    std::function<void()> work;
    std::function<void()> done;
  };
  std::mutex batches_mutex;
  std::condition_variable batch_ready;
  std::deque<Batch> batches;
  std::deque<Batch> urgent_batches;  // blocks and votes: taken before any transaction batch
  bool batches_stopping = false;
  std::thread batch_thread;

  // The next batch to run, an urgent one first (only those if asked), unless stopping; the
  // caller holds batches_mutex.
  std::optional<Batch> take_batch(bool urgent_only) {
    if (batches_stopping) return std::nullopt;
    auto& queue = urgent_only || !urgent_batches.empty() ? urgent_batches : batches;
    if (queue.empty()) return std::nullopt;
    Batch batch = std::move(queue.front());
    queue.pop_front();
    return batch;
  }

  bool cached(const Hash& key) {
    std::lock_guard lock(cache_mutex);
    return cached_locked(key);
  }
  // The same, for a caller that holds cache_mutex: a found key becomes the most recently used.
  bool cached_locked(const Hash& key) {
    auto it = cache.find(key);
    if (it == cache.end()) return false;
    order.splice(order.end(), order, it->second);
    return true;
  }
  void remember(const Hash& key) {
    std::lock_guard lock(cache_mutex);
    if (cache.contains(key)) return;
    order.push_back(key);
    cache.emplace(key, std::prev(order.end()));
    if (cache.size() > capacity) {
      cache.erase(order.front());
      order.pop_front();
    }
  }

  // A worker helping a bulk batch stops after its current item when an urgent batch is
  // posted; the batch's caller never stops, so every index is taken.
  void drain(Job& job, bool yield_to_urgent) {
    for (std::size_t i; (i = job.next.fetch_add(1)) < job.size;) {
      job.f(i);
      if (job.remaining.fetch_sub(1) == 1) {
        std::lock_guard lock(work_mutex);
        work_done.notify_all();
      }
      if (yield_to_urgent && urgent_open.load(std::memory_order_relaxed) > 0) return;
    }
  }

  std::shared_ptr<Job> job_with_work() const {
    for (const auto* jobs : {&urgent_jobs, &bulk_jobs})
      for (const auto& job : *jobs)
        if (job->next.load() < job->size) return job;
    return nullptr;
  }

  void worker() {
    lower_this_thread_priority();
    std::unique_lock lock(work_mutex);
    for (;;) {
      if (stopping) return;
      if (auto job = job_with_work()) {
        lock.unlock();
        drain(*job, !job->urgent);
        lock.lock();
        continue;
      }
      work_ready.wait(lock);
    }
  }

  // Runs f(0..n-1) on the workers and the calling thread; returns when all are done.
  void run(std::size_t n, std::function<void(std::size_t)> f, bool urgent) {
    auto job = std::make_shared<Job>();
    job->f = std::move(f);
    job->size = n;
    job->urgent = urgent;
    job->remaining = n;
    auto& jobs = urgent ? urgent_jobs : bulk_jobs;
    {
      std::lock_guard lock(work_mutex);
      jobs.push_back(job);
      if (urgent) ++urgent_open;
    }
    work_ready.notify_all();
    drain(*job, false);
    std::unique_lock lock(work_mutex);
    work_done.wait(lock, [&] { return job->remaining.load() == 0; });
    jobs.erase(std::find(jobs.begin(), jobs.end(), job));
    if (urgent) --urgent_open;
  }

  // f(0..n-1): on the calling thread for small batches or without workers, else with them.
  void for_each(std::size_t n, const std::function<void(std::size_t)>& f, bool urgent) {
    if (n < kParallelFrom || threads.empty()) {
      for (std::size_t i = 0; i < n; ++i) f(i);
    } else {
      run(n, f, urgent);
    }
  }
};

SignatureVerifier::SignatureVerifier(std::size_t threads, std::size_t cache_entries)
    : impl_(std::make_unique<Impl>()) {
  impl_->capacity = cache_entries;
  for (std::size_t i = 0; i < threads; ++i)
    impl_->threads.emplace_back([this] { impl_->worker(); });
}

SignatureVerifier::~SignatureVerifier() {
  {
    std::lock_guard lock(impl_->batches_mutex);
    impl_->batches_stopping = true;
    impl_->batches.clear();
    impl_->urgent_batches.clear();
  }
  impl_->batch_ready.notify_all();
  if (impl_->batch_thread.joinable()) impl_->batch_thread.join();
  {
    std::lock_guard lock(impl_->work_mutex);
    impl_->stopping = true;
  }
  impl_->work_ready.notify_all();
  for (auto& t : impl_->threads) t.join();
}

bool SignatureVerifier::verify(const Transaction& tx) {
  // Checked already, by this verifier (off the event loop, say) or another path.
  if (std::int8_t known = tx.signature_verdict_.load(std::memory_order_relaxed); known != 0)
    return known > 0;
  Hash key = key_of(tx);
  if (impl_->cached(key)) {
    ++impl_->hits;
    tx.record_signature_verdict(true);
    return true;
  }
  ++impl_->checks;
  bool valid = tx.check_signature().ok();
  if (valid) impl_->remember(key);
  return valid;
}

bool SignatureVerifier::recall_verdicts(const std::vector<TransactionPtr>& txs) {
  std::vector<std::pair<const Transaction*, Hash>> open;
  for (const auto& tx : txs) {
    std::int8_t known = tx->signature_verdict_.load(std::memory_order_relaxed);
    if (known < 0) return false;
    if (known == 0) open.emplace_back(tx.get(), key_of(*tx));
  }
  std::size_t found = 0;
  {
    std::lock_guard lock(impl_->cache_mutex);
    for (const auto& [tx, key] : open) {
      if (!impl_->cached_locked(key)) continue;
      tx->record_signature_verdict(true);
      ++found;
    }
  }
  impl_->hits += found;
  return found == open.size();
}

// Only the transactions without a verdict go to the workers: a block whose transactions came
// through the pool, or were checked off the event loop, has them all, and handing out 10,000
// verdict reads made the loop wait for every worker to be scheduled.
std::optional<std::size_t> SignatureVerifier::verify_all(const std::vector<TransactionPtr>& txs,
                                                         Priority priority) {
  check_open(txs, 0, txs.size(), priority == Priority::kUrgent);
  for (std::size_t i = 0; i < txs.size(); ++i)
    if (!verify(*txs[i])) return i;
  return std::nullopt;
}

void SignatureVerifier::check_open(const std::vector<TransactionPtr>& txs, std::size_t from,
                                   std::size_t to, bool urgent) {
  std::vector<std::size_t> open;
  for (std::size_t i = from; i < to; ++i)
    if (txs[i]->signature_verdict_.load(std::memory_order_relaxed) == 0) open.push_back(i);
  impl_->for_each(
      open.size(), [&](std::size_t k) { (void)verify(*txs[open[k]]); }, urgent);
}

void SignatureVerifier::verify_all_async(std::vector<TransactionPtr> txs,
                                         std::function<void()> done) {
  enqueue(
      [this, txs = std::move(txs)] {
        for (std::size_t from = 0; from < txs.size(); from += kBulkSlice) {
          run_urgent_batches();
          check_open(txs, from, std::min(txs.size(), from + kBulkSlice), false);
        }
      },
      std::move(done), false);
}

void SignatureVerifier::verify_votes_async(std::vector<VotePtr> votes, std::function<void()> done) {
  enqueue(
      [this, votes = std::move(votes)] {
        impl_->for_each(
            votes.size(), [&](std::size_t i) { (void)votes[i]->check_signature(); }, true);
      },
      std::move(done), true);
}

void SignatureVerifier::verify_block_async(BlockPtr block, std::function<void()> done) {
  enqueue(
      [this, block = std::move(block)] {
        (void)verify_all(block->transactions());
        const auto& votes = block->votes();
        impl_->for_each(
            votes.size(), [&](std::size_t i) { (void)votes[i]->check_signature(); }, true);
      },
      std::move(done), true);
}

void SignatureVerifier::enqueue(std::function<void()> work, std::function<void()> done,
                                bool urgent) {
  {
    std::lock_guard lock(impl_->batches_mutex);
    (urgent ? impl_->urgent_batches : impl_->batches).push_back({std::move(work), std::move(done)});
    if (!impl_->batch_thread.joinable())
      impl_->batch_thread = std::thread([this] { check_batches(); });
  }
  impl_->batch_ready.notify_one();
}

void SignatureVerifier::check_batches() {
  lower_this_thread_priority();
  for (;;) {
    std::optional<Impl::Batch> batch;
    {
      std::unique_lock lock(impl_->batches_mutex);
      impl_->batch_ready.wait(lock, [&] {
        return impl_->batches_stopping || !impl_->urgent_batches.empty() || !impl_->batches.empty();
      });
      batch = impl_->take_batch(false);
    }
    if (!batch) return;  // stopping
    batch->work();
    batch->done();
  }
}

// On the batch thread, between slices of a bulk batch.
void SignatureVerifier::run_urgent_batches() {
  for (;;) {
    std::optional<Impl::Batch> batch;
    {
      std::lock_guard lock(impl_->batches_mutex);
      batch = impl_->take_batch(true);
    }
    if (!batch) return;
    batch->work();
    batch->done();
  }
}

std::uint64_t SignatureVerifier::cache_hits() const {
  return impl_->hits;
}
std::uint64_t SignatureVerifier::verified() const {
  return impl_->checks;
}

}  // namespace pos
