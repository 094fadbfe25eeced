// libFuzzer target: the block JSON parser; what parses must round-trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pos/block.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto block = pos::block_from_json(text, "pos-demo");
  if (block.ok()) {
    auto again = pos::block_from_json(pos::to_json(**block), "pos-demo");
    if (!again.ok() || (*again)->hash() != (*block)->hash()) std::abort();
    (void)(*block)->check_body();
    (void)(*block)->check_signature();
  }
  return 0;
}
