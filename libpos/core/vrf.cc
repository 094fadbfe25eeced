// ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381 section 5.5, over libsodium's edwards25519 arithmetic:
// ECVRF_prove (5.1), ECVRF_proof_to_hash (5.2), ECVRF_verify (5.3), encode_to_curve by
// try-and-increment (5.4.1.1), nonce generation (5.4.2.2), challenge generation (5.4.3),
// decode_proof (5.4.4) and validate_key (5.4.5). Points are kept as their RFC 8032 encodings.
//
// libsodium's scalar multiplication refuses the identity (as input or as result) and any point
// outside the prime-order subgroup, while the RFC accepts keys and Gammas that carry a small-order
// component. Multiples by 8 are therefore sums (crypto_core_ed25519_add takes any curve point),
// and c*P is split into the subgroup part, which libsodium multiplies, and the rest (mul_any).
#include "pos/vrf.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>

namespace pos {
namespace {

using Point = std::array<std::uint8_t, 32>;   // an encoded point (RFC 8032 point_to_string)
using Scalar = std::array<std::uint8_t, 32>;  // little-endian, below the group order q

constexpr std::uint8_t kSuite = 0x03;
constexpr std::uint8_t kEncodeToCurveFront = 0x01;
constexpr std::uint8_t kChallengeFront = 0x02;
constexpr std::uint8_t kProofToHashFront = 0x03;
constexpr std::uint8_t kBack = 0x00;
constexpr std::size_t kCLen = 16;

constexpr Point kIdentity = {1};
// q = 2^252 + 27742317777372353535851937790883648493.
constexpr Scalar kOrder = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                           0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                           0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

// Secret bytes, wiped however the scope is left.
template <std::size_t N>
struct Wiped {
  std::array<std::uint8_t, N> bytes{};

  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { sodium_memzero(bytes.data(), N); }
  std::uint8_t* data() { return bytes.data(); }
};

class Sha512 {
 public:
  Sha512() { crypto_hash_sha512_init(&state_); }
  Sha512& add(ByteView data) {
    crypto_hash_sha512_update(&state_, data.data(), data.size());
    return *this;
  }
  Sha512& add(std::uint8_t byte) { return add(ByteView(&byte, 1)); }
  // libsodium wipes the state, which may hold secret input, when it finishes.
  void finish(std::uint8_t* out64) { crypto_hash_sha512_final(&state_, out64); }

 private:
  crypto_hash_sha512_state state_;
};

std::array<std::uint8_t, 32> read32(const std::uint8_t* bytes) {
  std::array<std::uint8_t, 32> out;
  std::copy_n(bytes, out.size(), out.begin());
  return out;
}

// Every call checked with this has inputs libsodium accepts (see the callers): a refusal is a bug.
void must(int rc) {
  if (rc != 0) throw std::logic_error("vrf: libsodium refused an operation on valid input");
}

// string_to_point (RFC 8032 section 5.1.3), strict. libsodium's decoder reduces y mod p and takes
// x = 0 with the sign bit set; the encodings it should refuse are exactly those that do not
// re-encode to themselves.
bool is_point(const Point& s) {
  Point decoded;
  return crypto_core_ed25519_add(decoded.data(), s.data(), kIdentity.data()) == 0 && decoded == s;
}

// For points that decode; crypto_core_ed25519_add takes any of them, of any order.
Point add(const Point& a, const Point& b) {
  Point r;
  must(crypto_core_ed25519_add(r.data(), a.data(), b.data()));
  return r;
}

Point sub(const Point& a, const Point& b) {
  Point r;
  must(crypto_core_ed25519_sub(r.data(), a.data(), b.data()));
  return r;
}

Point times8(Point p) {
  for (int i = 0; i < 3; ++i) p = add(p, p);
  return p;
}

// n*P for P in the prime-order subgroup and n < q. libsodium refuses the identity as P or as n*P,
// which (P having order q or 1) happens exactly when P is the identity or n = 0.
Point mul_subgroup(const Scalar& n, const Point& p) {
  if (p == kIdentity || sodium_is_zero(n.data(), n.size())) return kIdentity;
  Point r;
  must(crypto_scalarmult_ed25519_noclamp(r.data(), n.data(), p.data()));
  return r;
}

Point mul_base(const Scalar& n) {
  if (sodium_is_zero(n.data(), n.size())) return kIdentity;
  Point r;
  must(crypto_scalarmult_ed25519_base_noclamp(r.data(), n.data()));
  return r;
}

// c*P for any curve point P and c < q. libsodium multiplies P itself if P is in the prime-order
// subgroup and not the identity (c*P is then not the identity either, for c != 0), and refuses
// every other point: P = P0 + T with P0 in the subgroup and T of order dividing 8. For those,
// P0 = (1/8 mod q)*(8P), T = P - P0, and c*P = c*P0 + (c mod 8)*T.
Point mul_any(const Scalar& c, const Point& p) {
  static const Scalar kInverseOf8 = [] {
    Scalar eight{8}, inverse;
    must(crypto_core_ed25519_scalar_invert(inverse.data(), eight.data()));
    return inverse;
  }();
  if (sodium_is_zero(c.data(), c.size())) return kIdentity;
  Point direct;
  if (crypto_scalarmult_ed25519_noclamp(direct.data(), c.data(), p.data()) == 0) return direct;
  Point p0 = mul_subgroup(kInverseOf8, times8(p));
  Point t = sub(p, p0);
  Point out = mul_subgroup(c, p0);
  for (int i = 0; i < (c[0] & 7); ++i) out = add(out, t);
  return out;
}

// ECVRF_encode_to_curve_try_and_increment (section 5.4.1.1), the salt being the public key.
// Empty only if all 256 counters miss (probability about 2^-256), where the RFC's one-byte
// ctr_string runs out.
std::optional<Point> encode_to_curve(const PublicKey& key, ByteView alpha) {
  for (int ctr = 0; ctr < 256; ++ctr) {
    std::array<std::uint8_t, 64> hash;
    Sha512()
        .add(kSuite)
        .add(kEncodeToCurveFront)
        .add(key.view())
        .add(alpha)
        .add(static_cast<std::uint8_t>(ctr))
        .add(kBack)
        .finish(hash.data());
    // interpret_hash_value_as_a_point (section 5.5): string_to_point of the first 32 bytes, the
    // top bit being the sign of x as in any encoding.
    Point candidate = read32(hash.data());
    if (!is_point(candidate)) continue;
    Point h = times8(candidate);
    if (h != kIdentity) return h;
  }
  return std::nullopt;
}

// ECVRF_challenge_generation (section 5.4.3): the first cLen bytes of the hash, little-endian.
Scalar challenge(const Point& y, const Point& h, const Point& gamma, const Point& u,
                 const Point& v) {
  std::array<std::uint8_t, 64> hash;
  Sha512()
      .add(kSuite)
      .add(kChallengeFront)
      .add(y)
      .add(h)
      .add(gamma)
      .add(u)
      .add(v)
      .add(kBack)
      .finish(hash.data());
  Scalar c{};
  std::copy_n(hash.begin(), kCLen, c.begin());
  return c;
}

struct DecodedProof {
  Point gamma;
  Scalar c{};
  Scalar s;
};

// ECVRF_decode_proof (section 5.4.4).
Result<DecodedProof> decode_proof(const VrfProof& proof) {
  DecodedProof d;
  d.gamma = read32(proof.data());
  std::copy_n(proof.data() + 32, kCLen, d.c.begin());
  d.s = read32(proof.data() + 32 + kCLen);
  if (!is_point(d.gamma))
    return make_error(Reason::kBadVrfProof, "Gamma is not the canonical encoding of a curve point");
  if (sodium_compare(d.s.data(), kOrder.data(), d.s.size()) >= 0)
    return make_error(Reason::kBadVrfProof, "s is not below the group order");
  return d;
}

// The last steps of ECVRF_proof_to_hash (section 5.2).
VrfOutput hash_gamma(const Point& gamma) {
  VrfOutput beta;
  Sha512().add(kSuite).add(kProofToHashFront).add(times8(gamma)).add(kBack).finish(beta.data());
  return beta;
}

}  // namespace

VrfProof vrf_prove(const SecretKey& key, ByteView alpha) {
  const PublicKey& pk = key.public_key();
  std::optional<Point> h = encode_to_curve(pk, alpha);
  if (!h) throw std::runtime_error("vrf_prove: alpha maps to no curve point in 256 tries");

  // RFC 8032 section 5.1.5: x is the clamped first half of SHA-512(SK), reduced here mod q for
  // libsodium's scalar arithmetic (which changes neither x*H nor s); the second half keys the
  // nonce.
  Wiped<64> hashed_sk;
  crypto_hash_sha512(hashed_sk.data(), key.seed().data(), key.seed().size());
  Wiped<64> wide_x;
  std::copy_n(hashed_sk.data(), 32, wide_x.data());
  wide_x.bytes[0] &= 248;
  wide_x.bytes[31] &= 127;
  wide_x.bytes[31] |= 64;
  Wiped<32> x;
  crypto_core_ed25519_scalar_reduce(x.data(), wide_x.data());

  Wiped<64> k_string;
  Sha512().add(ByteView(hashed_sk.data() + 32, 32)).add(*h).finish(k_string.data());
  Wiped<32> k;
  crypto_core_ed25519_scalar_reduce(k.data(), k_string.data());

  Point gamma = mul_subgroup(x.bytes, *h);
  Scalar c = challenge(read32(pk.data()), *h, gamma, mul_base(k.bytes), mul_subgroup(k.bytes, *h));
  Wiped<32> cx;
  crypto_core_ed25519_scalar_mul(cx.data(), c.data(), x.data());

  VrfProof proof;
  std::copy(gamma.begin(), gamma.end(), proof.data());
  std::copy_n(c.begin(), kCLen, proof.data() + 32);
  crypto_core_ed25519_scalar_add(proof.data() + 32 + kCLen, k.data(), cx.data());
  return proof;
}

Result<VrfOutput> vrf_verify(const PublicKey& key, ByteView alpha, const VrfProof& proof) {
  Point y = read32(key.data());
  if (!is_point(y))
    return make_error(Reason::kBadVrfProof,
                      "the public key is not the canonical encoding of a curve point");
  if (times8(y) == kIdentity)
    return make_error(Reason::kBadVrfProof, "the public key has small order");
  Result<DecodedProof> decoded = decode_proof(proof);
  if (!decoded.ok()) return decoded.error();
  std::optional<Point> h = encode_to_curve(key, alpha);
  if (!h) return make_error(Reason::kBadVrfProof, "alpha maps to no curve point in 256 tries");

  const auto& [gamma, c, s] = *decoded;
  Point u = sub(mul_base(s), mul_any(c, y));
  Point v = sub(mul_subgroup(s, *h), mul_any(c, gamma));
  if (challenge(y, *h, gamma, u, v) != c)
    return make_error(Reason::kBadVrfProof,
                      "the challenge does not match: the proof is not for this key and alpha");
  return hash_gamma(gamma);
}

Result<VrfOutput> vrf_proof_to_hash(const VrfProof& proof) {
  Result<DecodedProof> decoded = decode_proof(proof);
  if (!decoded.ok()) return decoded.error();
  return hash_gamma(decoded->gamma);
}

}  // namespace pos
