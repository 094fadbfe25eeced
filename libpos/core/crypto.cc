#include "pos/crypto.h"

// OpenSSL's SHA256_CTX functions are deprecated in 3.0 in favour of EVP, whose contexts live on
// the heap and cannot be copied as Sha256 (an epoch's running digest) must be; they remain and
// use the CPU's SHA extensions.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <sodium.h>

#include <new>

#include "pos_fmt.h"

namespace pos {

static_assert(sizeof(SHA256_CTX) <= 128);

Status init() {
  if (sodium_init() < 0) return make_error(Reason::kInvalidArgument, "libsodium failed to start");
  return {};
}

std::string to_hex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

Result<Bytes> from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return make_error(Reason::kMalformed, "odd number of hex characters");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return make_error(Reason::kMalformed, fmt::format("not lower-case hex at character {}",
                                                        hi < 0 ? 2 * i : 2 * i + 1));
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

Hash sha256(ByteView data) {
  Hash out;
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

Sha256::Sha256() {
  SHA256_Init(reinterpret_cast<SHA256_CTX*>(state_));
}

Sha256& Sha256::update(ByteView data) {
  SHA256_Update(reinterpret_cast<SHA256_CTX*>(state_), data.data(), data.size());
  return *this;
}

Hash Sha256::finish() {
  Hash out;
  SHA256_Final(out.data(), reinterpret_cast<SHA256_CTX*>(state_));
  return out;
}

SecretKey::SecretKey() {
  sk_ = static_cast<std::uint8_t*>(sodium_malloc(crypto_sign_SECRETKEYBYTES));
  if (sk_ == nullptr) throw std::bad_alloc();
}

SecretKey SecretKey::generate() {
  SecretKey key;
  crypto_sign_keypair(key.public_key_.data(), key.sk_);
  sodium_mprotect_readonly(key.sk_);
  return key;
}

SecretKey SecretKey::from_seed(ByteView seed32) {
  if (seed32.size() != crypto_sign_SEEDBYTES)
    throw std::invalid_argument("SecretKey::from_seed: the seed must be 32 bytes");
  SecretKey key;
  crypto_sign_seed_keypair(key.public_key_.data(), key.sk_, seed32.data());
  sodium_mprotect_readonly(key.sk_);
  return key;
}

SecretKey::SecretKey(SecretKey&& other) noexcept : sk_(other.sk_), public_key_(other.public_key_) {
  other.sk_ = nullptr;
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    if (sk_ != nullptr) sodium_free(sk_);
    sk_ = other.sk_;
    public_key_ = other.public_key_;
    other.sk_ = nullptr;
  }
  return *this;
}

// sodium_free zeroes the memory before releasing it.
SecretKey::~SecretKey() {
  if (sk_ != nullptr) sodium_free(sk_);
}

ByteView SecretKey::seed() const {
  if (sk_ == nullptr) throw std::logic_error("SecretKey used after move");
  return ByteView(sk_, crypto_sign_SEEDBYTES);
}

Signature SecretKey::sign(ByteView message) const {
  if (sk_ == nullptr) throw std::logic_error("SecretKey used after move");
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk_);
  return sig;
}

bool verify(const PublicKey& key, ByteView message, const Signature& signature) {
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     key.data()) == 0;
}

}  // namespace pos
