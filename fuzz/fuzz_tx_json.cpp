// libFuzzer target: the transaction JSON parser; what parses must round-trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pos/transaction.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tx = pos::transaction_from_json(text, "pos-demo");
  if (tx.ok()) {
    auto again = pos::transaction_from_json(pos::to_json(**tx), "pos-demo");
    if (!again.ok() || (*again)->id() != (*tx)->id()) std::abort();
  }
  return 0;
}
