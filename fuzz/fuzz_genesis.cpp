// libFuzzer target: the genesis parser; what parses must round-trip with the same hash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pos/genesis.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (size > 64 * 1024) return 0;  // allocations make the state: keep runs fast
  auto genesis = pos::Genesis::parse(text);
  if (genesis.ok()) {
    auto again = pos::Genesis::parse(genesis->to_json());
    if (!again.ok() || again->hash() != genesis->hash()) std::abort();
  }
  return 0;
}
