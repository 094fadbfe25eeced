#include "pos/clock.h"

#include <chrono>

namespace pos {

std::uint64_t SystemClock::now_ms() const {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace pos
