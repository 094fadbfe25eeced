// Ed25519 keys and signatures, SHA-256 and hex, over libsodium (which this header does not
// expose). Call pos::init() once before anything else.
#pragma once

#include <array>
#include <bit>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/status.h"

namespace pos {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Initialises libsodium. Safe to call more than once; fails only if the library cannot start.
Status init();

std::string to_hex(ByteView bytes);
// Lower-case hex only: upper case is refused so that every value has one spelling.
Result<Bytes> from_hex(std::string_view hex);

// A fixed-size byte string with a distinct type per use (hash, key, signature).
template <std::size_t N, class Tag>
struct FixedBytes {
  static constexpr std::size_t kSize = N;
  std::array<std::uint8_t, N> bytes{};

  const std::uint8_t* data() const { return bytes.data(); }
  std::uint8_t* data() { return bytes.data(); }
  static constexpr std::size_t size() { return N; }
  ByteView view() const { return ByteView(bytes.data(), N); }
  std::string hex() const { return to_hex(view()); }
  bool is_zero() const {
    for (auto b : bytes)
      if (b != 0) return false;
    return true;
  }
  static Result<FixedBytes> from_hex(std::string_view text) {
    if (text.size() != 2 * N)
      return make_error(Reason::kMalformed, "expected " + std::to_string(2 * N) +
                                                " hex characters, got " +
                                                std::to_string(text.size()));
    auto raw = pos::from_hex(text);
    if (!raw.ok()) return raw.error();
    return from_bytes(*raw);
  }
  static FixedBytes from_bytes(ByteView raw) {
    if (raw.size() != N) throw std::invalid_argument("FixedBytes::from_bytes: wrong length");
    FixedBytes out;
    std::memcpy(out.bytes.data(), raw.data(), N);
    return out;
  }
  // Word by word rather than the library memcmp the defaults call: hashes and keys are compared
  // in every look-up of every pool and index, and a call per 32 bytes showed in profiles.
  bool operator==(const FixedBytes& other) const noexcept {
    if constexpr (N % 8 == 0) {
      std::uint64_t differ = 0;
      for (std::size_t i = 0; i < N; i += 8) differ |= word(i) ^ other.word(i);
      return differ == 0;
    } else {
      return bytes == other.bytes;
    }
  }
  // Byte order (lexicographic), as the default would give.
  std::strong_ordering operator<=>(const FixedBytes& other) const noexcept {
    if constexpr (N % 8 == 0) {
      for (std::size_t i = 0; i < N; i += 8)
        if (std::uint64_t a = word(i), b = other.word(i); a != b)
          return big_endian(a) <=> big_endian(b);
      return std::strong_ordering::equal;
    } else {
      return bytes <=> other.bytes;
    }
  }

 private:
  std::uint64_t word(std::size_t at) const noexcept {
    std::uint64_t out;
    std::memcpy(&out, bytes.data() + at, sizeof(out));
    return out;
  }
  static std::uint64_t big_endian(std::uint64_t loaded) noexcept {
    if constexpr (std::endian::native == std::endian::little)
      return __builtin_bswap64(loaded);
    else
      return loaded;
  }
};

struct HashTag {};
struct PublicKeyTag {};
struct SignatureTag {};
using Hash = FixedBytes<32, HashTag>;
using PublicKey = FixedBytes<32, PublicKeyTag>;
using Signature = FixedBytes<64, SignatureTag>;
// An address is the 32-byte Ed25519 public key; as text, its lower-case hex.
using Address = PublicKey;

Hash sha256(ByteView data);
inline Hash sha256(std::string_view text) {
  return sha256(ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  Sha256& update(ByteView data);
  Sha256& update(std::string_view text) {
    return update(ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  }
  Hash finish();

 private:
  alignas(16) unsigned char state_[128];
};

// An Ed25519 secret key in sodium-allocated, locked, guarded memory; wiped when destroyed.
class SecretKey {
 public:
  static SecretKey generate();
  static SecretKey from_seed(ByteView seed32);

  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  const PublicKey& public_key() const { return public_key_; }
  // The 32-byte seed (RFC 8032's private key), for writing key files.
  ByteView seed() const;
  Signature sign(ByteView message) const;

 private:
  SecretKey();
  std::uint8_t* sk_ = nullptr;  // 64 bytes: seed || public key, from sodium_malloc
  PublicKey public_key_;
};

// libsodium's crypto_sign_verify_detached: canonical encodings only, small-order keys refused.
[[nodiscard]] bool verify(const PublicKey& key, ByteView message, const Signature& signature);

}  // namespace pos

template <std::size_t N, class Tag>
struct std::hash<pos::FixedBytes<N, Tag>> {
  std::size_t operator()(const pos::FixedBytes<N, Tag>& value) const noexcept {
    // Hashes and keys are uniformly distributed already: their first bytes are a fine hash.
    std::size_t out;
    std::memcpy(&out, value.bytes.data(), sizeof(out));
    return out;
  }
};
