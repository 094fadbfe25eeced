// EventLoop: one thread that runs a KJ event loop, the only thread that touches the node's
// mutable state (docs/architecture.md). Other threads hand it work with call(), which runs the
// function on the loop thread and waits for it. KJ stays behind this header: the peer network
// reaches the loop's I/O through a private header of libpos/p2p.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace pos {

class EventLoop {
 public:
  // Starts the thread and its loop.
  EventLoop();
  // Stops the loop (its timers end) and joins the thread.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs fn on the loop thread and waits until it returns. On the loop thread itself, runs it
  // directly.
  void call(const std::function<void()>& fn) const;
  template <class F>
  auto call_for(F&& fn) const -> decltype(fn()) {
    using R = decltype(fn());
    if constexpr (std::is_void_v<R>) {
      call(std::function<void()>(std::forward<F>(fn)));
    } else {
      std::optional<R> result;
      call([&]() { result.emplace(fn()); });
      return std::move(*result);
    }
  }

  // A repeating call; destroying it (on the loop thread) stops it.
  class Repeating {
   public:
    virtual ~Repeating() = default;
  };
  // On the loop thread: calls fn every `ms` milliseconds of steady time while the returned
  // handle lives.
  [[nodiscard]] std::unique_ptr<Repeating> every(std::uint64_t ms, std::function<void()> fn);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace pos
