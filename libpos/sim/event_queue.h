// EventQueue: the simulator's events by due time, and in the order they were pushed within a
// millisecond: the order of a heap keyed by (time, push count), without its sifting (a tenth of
// a run at 50 validators). Times are whole milliseconds and nearly every event is due within a
// second, so each of the next kWheelMs milliseconds has a bucket, drained in push order; a later
// event waits in a heap and enters its bucket as soon as its millisecond comes within the wheel,
// which is before any event can be pushed there directly, so each bucket stays in push order.
// Private to libpos/sim (and its test).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace pos::sim {

// Event: movable, with a member `std::uint64_t at` (milliseconds).
template <typename Event>
class EventQueue {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  // `event.at` is at or after the time of the last event popped or peeked (next_at()).
  void push(Event event) {
    if (event.at < cursor_) throw std::logic_error("EventQueue: an event in the past");
    ++size_;
    if (event.at < cursor_ + kWheelMs) {
      ++in_wheel_;
      wheel_[event.at % kWheelMs].events.push_back(std::move(event));
      return;
    }
    const std::uint64_t at = event.at;
    later_.push_back(Later{at, seq_++, std::move(event)});
    std::push_heap(later_.begin(), later_.end(), LaterFirst{});
  }

  // The time of the next event.
  std::uint64_t next_at() {
    if (empty()) throw std::logic_error("EventQueue: no event");
    for (;;) {
      Bucket& bucket = wheel_[cursor_ % kWheelMs];
      if (bucket.head < bucket.events.size()) return cursor_;
      bucket.events.clear();
      bucket.head = 0;
      // An empty wheel jumps to the first later event instead of walking every millisecond.
      cursor_ = in_wheel_ == 0 ? later_.front().at : cursor_ + 1;
      while (!later_.empty() && later_.front().at < cursor_ + kWheelMs) {
        std::pop_heap(later_.begin(), later_.end(), LaterFirst{});
        Event event = std::move(later_.back().event);
        later_.pop_back();
        ++in_wheel_;
        wheel_[event.at % kWheelMs].events.push_back(std::move(event));
      }
    }
  }

  Event pop() {
    Bucket& bucket = wheel_[next_at() % kWheelMs];
    --size_;
    --in_wheel_;
    return std::move(bucket.events[bucket.head++]);
  }

 private:
  static constexpr std::uint64_t kWheelMs = 1024;
  struct Bucket {
    std::vector<Event> events;
    std::size_t head = 0;  // the next to pop
  };
  struct Later {
    std::uint64_t at;
    std::uint64_t seq;
    Event event;
  };
  struct LaterFirst {
    bool operator()(const Later& a, const Later& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };

  std::vector<Bucket> wheel_ = std::vector<Bucket>(kWheelMs);
  std::uint64_t cursor_ = 0;  // the millisecond being drained
  std::vector<Later> later_;  // a heap, by LaterFirst
  std::uint64_t seq_ = 0;
  std::size_t size_ = 0;
  std::size_t in_wheel_ = 0;
};

}  // namespace pos::sim
