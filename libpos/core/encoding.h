// Big-endian byte writing for the signing layouts of docs/protocol.md (private to core).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "pos/crypto.h"

namespace pos::detail {

class ByteWriter {
 public:
  explicit ByteWriter(std::size_t reserve = 0) { out_.reserve(reserve); }
  ByteWriter& u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  ByteWriter& u16(std::uint16_t v) { return be(v, 2); }
  ByteWriter& u32(std::uint32_t v) { return be(v, 4); }
  ByteWriter& u64(std::uint64_t v) { return be(v, 8); }
  ByteWriter& raw(ByteView bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  ByteWriter& raw(std::string_view text) {
    out_.insert(out_.end(), text.begin(), text.end());
    return *this;
  }
  // str = u16 length, then the bytes.
  ByteWriter& str(std::string_view text) {
    if (text.size() > 0xffff) throw std::length_error("pos: str longer than 65535 bytes");
    u16(static_cast<std::uint16_t>(text.size()));
    return raw(text);
  }
  Bytes take() && { return std::move(out_); }

 private:
  ByteWriter& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes out_;
};

inline std::uint64_t read_u64_be(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace pos::detail
