// libFuzzer target: the p2p frame decoder (segment table, Cap'n Proto, every message kind).
#include <cstddef>
#include <cstdint>

#include "pos/p2p_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pos::ByteView bytes(data, size);
  (void)pos::p2p::frame_size(bytes);
  auto message = pos::p2p::decode_frame(bytes, "pos-demo");
  if (message.ok()) (void)pos::p2p::encode_frame(*message);  // what decodes must re-encode
  return 0;
}
