// Bounds-checked big-endian reading, the inverse of ByteWriter (private to core and store).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos::detail {

class ByteReader {
 public:
  explicit ByteReader(ByteView bytes) : bytes_(bytes) {}

  bool ok() const { return !failed_; }
  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return failed_ ? 0 : bytes_.size() - offset_; }

  // Each read on too few bytes marks the reader failed and returns zeros.
  ByteView take(std::size_t n) {
    if (failed_ || bytes_.size() - offset_ < n) {
      failed_ = true;
      return {};
    }
    ByteView out = bytes_.subspan(offset_, n);
    offset_ += n;
    return out;
  }
  std::uint64_t be(std::size_t n) {
    ByteView b = take(n);
    std::uint64_t v = 0;
    for (auto byte : b) v = (v << 8) | byte;
    return v;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(be(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(be(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(be(4)); }
  std::uint64_t u64() { return be(8); }
  std::string str() {
    ByteView b = take(u16());
    return std::string(b.begin(), b.end());
  }
  template <class Fixed>
  Fixed fixed() {
    ByteView b = take(Fixed::size());
    return failed_ ? Fixed{} : Fixed::from_bytes(b);
  }
  bool expect(std::string_view tag) {
    ByteView b = take(tag.size());
    if (failed_ || std::string_view(reinterpret_cast<const char*>(b.data()), b.size()) != tag) {
      failed_ = true;
      return false;
    }
    return true;
  }

 private:
  ByteView bytes_;
  std::size_t offset_ = 0;
  bool failed_ = false;
};

}  // namespace pos::detail
