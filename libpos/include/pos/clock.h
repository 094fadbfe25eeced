// Time as an interface, so that consensus tests drive it instead of sleeping.
#pragma once

#include <atomic>
#include <cstdint>

namespace pos {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::uint64_t now_ms() const = 0;  // milliseconds since the Unix epoch
};

class SystemClock final : public Clock {
 public:
  std::uint64_t now_ms() const override;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::uint64_t now_ms = 0) : now_(now_ms) {}
  std::uint64_t now_ms() const override { return now_.load(); }
  void set(std::uint64_t now_ms) { now_.store(now_ms); }
  void advance(std::uint64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<std::uint64_t> now_;
};

}  // namespace pos
