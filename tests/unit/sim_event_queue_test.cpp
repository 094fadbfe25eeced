// The simulator's event queue pops exactly as a heap keyed by (time, push order) would, across
// the wheel's edge, far-future events, an empty wheel's jump and pushes at the current time.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <vector>

#include "event_queue.h"

namespace {

struct Item {
  std::uint64_t at;
  std::uint64_t id;  // the push count
};

struct Reference {
  std::vector<Item> heap;
  static bool later(const Item& a, const Item& b) {
    return a.at != b.at ? a.at > b.at : a.id > b.id;
  }
  void push(Item item) {
    heap.push_back(item);
    std::push_heap(heap.begin(), heap.end(), later);
  }
  Item pop() {
    std::pop_heap(heap.begin(), heap.end(), later);
    Item item = heap.back();
    heap.pop_back();
    return item;
  }
};

}  // namespace

TEST_CASE("sim event queue: pops in the order of a heap by time, then push order", "[sim]") {
  // Offsets from the current time that cover the wheel's edge (1,024 ms) and far beyond.
  const std::vector<std::uint64_t> offsets = {0, 1, 100, 1023, 1024, 1025, 2048, 3000, 600'000};
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 random(seed);
    pos::sim::EventQueue<Item> queue;
    Reference reference;
    std::uint64_t now = 1'700'000'000'000, pushed = 0, popped = 0;
    auto push = [&] {
      std::uint64_t at = now + offsets[random() % offsets.size()];
      if (random() % 4 == 0) at = now + random() % 1'100;
      queue.push(Item{at, pushed});
      reference.push(Item{at, pushed});
      ++pushed;
    };
    push();
    while (!queue.empty() && popped < 3'000) {
      REQUIRE(queue.size() == reference.heap.size());
      REQUIRE(queue.next_at() == reference.heap.front().at);
      Item got = queue.pop(), want = reference.pop();
      REQUIRE(got.at == want.at);
      REQUIRE(got.id == want.id);
      now = got.at;
      ++popped;
      std::uint64_t n = random() % 5;
      if (queue.empty()) n = std::max<std::uint64_t>(n, 1);  // the run goes on to its bound
      for (; n > 0 && pushed < 2'500; --n) push();
    }
    CHECK(reference.heap.empty() == queue.empty());
    CHECK(popped > 100);
  }
}

TEST_CASE("sim event queue: an event in the past or a look at an empty queue is refused", "[sim]") {
  pos::sim::EventQueue<Item> queue;
  CHECK_THROWS_AS(queue.next_at(), std::logic_error);
  queue.push(Item{5'000, 0});
  CHECK(queue.pop().at == 5'000);
  CHECK_THROWS_AS(queue.push(Item{4'999, 1}), std::logic_error);
  queue.push(Item{5'000, 2});  // the current time is allowed
  CHECK(queue.pop().id == 2);
  CHECK(queue.empty());
}
