#include "pos/verifier.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace pos {
namespace {

// Below this many, a batch is checked on the calling thread: handing it out costs more.
constexpr std::size_t kParallelFrom = 32;

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
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> remaining{0};
  };
  std::mutex work_mutex;
  std::condition_variable work_ready;
  std::condition_variable work_done;
  std::shared_ptr<Job> current;
  std::uint64_t generation = 0;
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
  std::deque<Batch> urgent;  // votes: taken before any transaction batch
  bool batches_stopping = false;
  std::thread batch_thread;

  bool cached(const Hash& key) {
    std::lock_guard lock(cache_mutex);
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

  void drain(Job& job) {
    for (std::size_t i; (i = job.next.fetch_add(1)) < job.size;) {
      job.f(i);
      if (job.remaining.fetch_sub(1) == 1) {
        std::lock_guard lock(work_mutex);
        work_done.notify_all();
      }
    }
  }

  void worker() {
    std::uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(work_mutex);
        work_ready.wait(lock, [&] { return stopping || generation != seen; });
        if (stopping) return;
        seen = generation;
        job = current;
      }
      if (job) drain(*job);
    }
  }

  // Runs f(0..n-1) on the workers and the calling thread; returns when all are done.
  void run(std::size_t n, std::function<void(std::size_t)> f) {
    auto job = std::make_shared<Job>();
    job->f = std::move(f);
    job->size = n;
    job->remaining = n;
    {
      std::lock_guard lock(work_mutex);
      current = job;
      ++generation;
    }
    work_ready.notify_all();
    drain(*job);
    std::unique_lock lock(work_mutex);
    work_done.wait(lock, [&] { return job->remaining.load() == 0; });
    // Another caller's batch may have taken the workers meanwhile: leave it theirs.
    if (current == job) current.reset();
  }

  // f(0..n-1): on the calling thread for small batches or without workers, else with them.
  void for_each(std::size_t n, const std::function<void(std::size_t)>& f) {
    if (n < kParallelFrom || threads.empty()) {
      for (std::size_t i = 0; i < n; ++i) f(i);
    } else {
      run(n, f);
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
    impl_->urgent.clear();
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

std::optional<std::size_t> SignatureVerifier::verify_all(const std::vector<TransactionPtr>& txs) {
  std::vector<char> valid(txs.size(), 0);
  auto check = [&](std::size_t i) { valid[i] = verify(*txs[i]) ? 1 : 0; };
  impl_->for_each(txs.size(), check);
  for (std::size_t i = 0; i < txs.size(); ++i)
    if (!valid[i]) return i;
  return std::nullopt;
}

void SignatureVerifier::verify_all_async(std::vector<TransactionPtr> txs,
                                         std::function<void()> done) {
  enqueue([this, txs = std::move(txs)] { (void)verify_all(txs); }, std::move(done), false);
}

void SignatureVerifier::verify_votes_async(std::vector<VotePtr> votes, std::function<void()> done) {
  enqueue(
      [this, votes = std::move(votes)] {
        impl_->for_each(votes.size(), [&](std::size_t i) { (void)votes[i]->check_signature(); });
      },
      std::move(done), true);
}

void SignatureVerifier::verify_block_async(BlockPtr block, std::function<void()> done) {
  enqueue(
      [this, block = std::move(block)] {
        (void)verify_all(block->transactions());
        const auto& votes = block->votes();
        impl_->for_each(votes.size(), [&](std::size_t i) { (void)votes[i]->check_signature(); });
      },
      std::move(done), true);
}

void SignatureVerifier::enqueue(std::function<void()> work, std::function<void()> done,
                                bool urgent) {
  {
    std::lock_guard lock(impl_->batches_mutex);
    (urgent ? impl_->urgent : impl_->batches).push_back({std::move(work), std::move(done)});
    if (!impl_->batch_thread.joinable())
      impl_->batch_thread = std::thread([this] { check_batches(); });
  }
  impl_->batch_ready.notify_one();
}

void SignatureVerifier::check_batches() {
  for (;;) {
    Impl::Batch batch;
    {
      std::unique_lock lock(impl_->batches_mutex);
      impl_->batch_ready.wait(lock, [&] {
        return impl_->batches_stopping || !impl_->urgent.empty() || !impl_->batches.empty();
      });
      if (impl_->batches_stopping) return;
      auto& queue = impl_->urgent.empty() ? impl_->batches : impl_->urgent;
      batch = std::move(queue.front());
      queue.pop_front();
    }
    batch.work();
    batch.done();
  }
}

std::uint64_t SignatureVerifier::cache_hits() const {
  return impl_->hits;
}
std::uint64_t SignatureVerifier::verified() const {
  return impl_->checks;
}

}  // namespace pos
