#include "pos/event_loop.h"

#include <future>

#include "event_loop_impl.h"

namespace pos {

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {
  std::promise<void> started;
  auto ready = started.get_future();
  Impl& impl = *impl_;
  impl.thread = std::thread([&impl, &started]() {
    impl.io.emplace(kj::setupAsyncIo());
    auto stopped = kj::newPromiseAndFulfiller<void>();
    impl.stop = kj::mv(stopped.fulfiller);
    impl.executor = &kj::getCurrentThreadExecutor();
    impl.thread_id = std::this_thread::get_id();
    started.set_value();
    stopped.promise.wait(impl.context().waitScope);
    // KJ objects die on their own thread.
    impl.io = nullptr;
  });
  ready.wait();
}

EventLoop::~EventLoop() {
  impl_->executor->executeSync([this]() { impl_->stop->fulfill(); });
  impl_->thread.join();
}

void EventLoop::call(const std::function<void()>& fn) const {
  if (std::this_thread::get_id() == impl_->thread_id) return fn();
  impl_->executor->executeSync([&fn]() { fn(); });
}

namespace {

kj::Promise<void> repeat(kj::Timer& timer, std::uint64_t ms, std::function<void()> fn) {
  return timer.afterDelay(ms * kj::MILLISECONDS).then([&timer, ms, fn = std::move(fn)]() mutable {
    fn();
    return repeat(timer, ms, std::move(fn));
  });
}

class RepeatingTimer final : public EventLoop::Repeating {
 public:
  explicit RepeatingTimer(kj::Promise<void> promise) : promise_(kj::mv(promise)) {}
  // Cancelling a timer does not throw; KJ's destructors are merely declared as if they might.
  ~RepeatingTimer() noexcept override {}

 private:
  kj::Promise<void> promise_;  // destroying it cancels the timer
};

}  // namespace

std::unique_ptr<EventLoop::Repeating> EventLoop::every(std::uint64_t ms, std::function<void()> fn) {
  // A function that throws is a programming error: said, not hidden; the repetition ends.
  auto promise = repeat(impl_->context().provider->getTimer(), ms, std::move(fn))
                     .eagerlyEvaluate([](kj::Exception&& e) { KJ_LOG(ERROR, e); });
  return std::make_unique<RepeatingTimer>(kj::mv(promise));
}

}  // namespace pos
