#include <sodium.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "pos/vrf.h"

using namespace pos;

namespace {

Bytes hex(std::string_view text) {
  return from_hex(text).value();
}

PublicKey key_of(std::string_view text) {
  return PublicKey::from_hex(text).value();
}

VrfProof proof_of(std::string_view text) {
  return VrfProof::from_hex(text).value();
}

// The proof with its 32 bytes at `offset` (Gamma at 0, s at 48) replaced.
VrfProof with_bytes(VrfProof proof, std::size_t offset, std::string_view bytes32) {
  Bytes raw = hex(bytes32);
  std::copy(raw.begin(), raw.end(), proof.bytes.begin() + offset);
  return proof;
}

// The refusal's message, after checking that it is a kBadVrfProof refusal.
std::string refusal(const Result<VrfOutput>& result) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.reason() == Reason::kBadVrfProof);
  return result.error().message;
}

struct RfcVector {
  const char* secret;
  const char* public_key;
  const char* alpha;
  const char* proof;
  const char* beta;
};

// RFC 9381 Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI), Examples 16 to 18.
constexpr RfcVector kRfcVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f"
     "26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab12"
     "68a1b0db10836d9826a528ca76567805",
     "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff"
     "66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed593"
     "3bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926d"
     "a3ef39226bbc355bdc9850112c8f4b02",
     "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb"
     "5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf80"
     "96bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a"
     "2d41b00b05081ed0f58ee5e31b3a970e",
     "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c45"
     "2118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f"},
};

// An order-8 point, the first of libsodium's small-order encodings.
constexpr const char* kOrder8 = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";

struct ExtraVector {
  const char* public_key;
  const char* alpha;
  const char* proof;
  const char* beta;  // nullptr: the RFC's answer is INVALID
};

// From tests/vectors/vrf_reference.py --generate (pure-integer ECVRF from the RFC text): Example
// 16's key plus kOrder8, and Example 16's key with kOrder8 added to Gamma, each with a challenge
// c = 0 mod 8 (so c*kOrder8 vanishes and the proof holds) and with c != 0 mod 8 (it does not).
constexpr ExtraVector kTorsionKey[] = {
    {"3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
     "746f7273696f6e206b65792030",
     "8b84cf7729161368bcbcbe168f720db686a635cb0502cc6f352bcfdfc90731ee"
     "38637c43ee4df65db465ca8c36eabb19d4a8d4ee7006e7b8eb1b3235f3b008e4"
     "853d44ab1370992b4f8f55c385b1e10d",
     "73d393d6dcef84133a8652f9e78f5fffcb18dbde69c7a994f069279d66929347"
     "7c94f9adddd129915d9f95626668405c59f4c86c2e9dd5135b4c8b7136e16d8d"},
    {"3b5b475c4b82dd1572799fc546f4c6c03e478c6654aa4c7f945b347ea32af60d",
     "746f7273696f6e206b65792031",
     "ad3711563095232a22332f13aa8a2e3b03e48ed146bda6b6609f765da5bd3883"
     "2615f76a25549653b89fe1ac617428d6ddf8bbbf167afd77d6f0ae1bc1c82fef"
     "f4f6cb0e2334e0caeaa4a04c00327204",
     nullptr},
};
constexpr ExtraVector kTorsionGamma[] = {
    {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "746f7273696f6e2067616d6d612035",
     "9fbac6c5fd2160fb712231e30058dc475e5fcac868acd6de085ebfe6149be919"
     "009c900b28309078270b602b61d70bca679b3f0d3245b26983a331a6caab14c9"
     "feae18ee053548fe0e21e532d357d302",
     "93389f641f7baadeeaf2f27c8240b226e182881bb3e78e84c7a5f86ae29fd919"
     "8b342555e3090938c3dfbd5c24566093c7e7fb77eaa7d54366bc40c766596dc6"},
    {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "746f7273696f6e2067616d6d612030",
     "396672db330ecc12f2079b5005e8526e13191344fe4e52f7c6d8a69473c2fb4b"
     "85a84e15d2e9c64c0f788069b2bc9bc0e29641a95a6afd2ffa8e278a83d03555"
     "c1c993e6d745d2086da8dcc1d041da02",
     nullptr},
};

void check_extra(const ExtraVector& v) {
  Result<VrfOutput> result = vrf_verify(key_of(v.public_key), hex(v.alpha), proof_of(v.proof));
  if (v.beta != nullptr) {
    REQUIRE(result.ok());
    CHECK(result->hex() == v.beta);
    CHECK(vrf_proof_to_hash(proof_of(v.proof))->hex() == v.beta);
  } else {
    CHECK_THAT(refusal(result), Catch::Contains("challenge does not match"));
  }
}

}  // namespace

TEST_CASE("vrf_prove and vrf_verify reproduce every RFC 9381 Appendix B.3 example", "[vrf]") {
  for (const auto& v : kRfcVectors) {
    SecretKey key = SecretKey::from_seed(hex(v.secret));
    CHECK(key.public_key().hex() == v.public_key);
    VrfProof proof = vrf_prove(key, hex(v.alpha));
    CHECK(proof.hex() == v.proof);
    CHECK(vrf_proof_to_hash(proof)->hex() == v.beta);
    Result<VrfOutput> verified = vrf_verify(key_of(v.public_key), hex(v.alpha), proof_of(v.proof));
    REQUIRE(verified.ok());
    CHECK(verified->hex() == v.beta);
  }
}

TEST_CASE("every single-bit change to a valid proof is refused", "[vrf]") {
  const RfcVector& v = kRfcVectors[0];
  const VrfProof good = proof_of(v.proof);
  std::vector<std::size_t> not_refused;  // bit indices
  for (std::size_t bit = 0; bit < 8 * VrfProof::size(); ++bit) {
    VrfProof bad = good;
    bad.bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    Result<VrfOutput> result = vrf_verify(key_of(v.public_key), hex(v.alpha), bad);
    if (result.ok() || result.reason() != Reason::kBadVrfProof) not_refused.push_back(bit);
  }
  CHECK(not_refused.empty());
}

TEST_CASE("a proof is refused for another alpha or under another key", "[vrf]") {
  const RfcVector& v = kRfcVectors[1];
  CHECK_THAT(refusal(vrf_verify(key_of(v.public_key), hex("73"), proof_of(v.proof))),
             Catch::Contains("challenge does not match"));
  CHECK_THAT(
      refusal(vrf_verify(key_of(kRfcVectors[2].public_key), hex(v.alpha), proof_of(v.proof))),
      Catch::Contains("challenge does not match"));
}

TEST_CASE("proofs that do not decode or hold are refused with the failed check named", "[vrf]") {
  const RfcVector& v = kRfcVectors[0];
  const PublicKey key = key_of(v.public_key);
  const Bytes alpha = hex(v.alpha);
  const VrfProof good = proof_of(v.proof);
  auto verify = [&](const VrfProof& proof) { return refusal(vrf_verify(key, alpha, proof)); };

  // All zero: Gamma = (sqrt(-1), 0) of order 4 decodes, c = s = 0; only the challenge fails.
  CHECK_THAT(verify(VrfProof{}), Catch::Contains("challenge does not match"));

  const char* q = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
  const char* q_plus_1 = "eed3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
  const char* all_ones = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
  for (const char* s : {q, q_plus_1, all_ones}) {
    CHECK_THAT(verify(with_bytes(good, 48, s)), Catch::Contains("s is not below the group order"));
    CHECK_THAT(refusal(vrf_proof_to_hash(with_bytes(good, 48, s))),
               Catch::Contains("s is not below the group order"));
  }

  const char* y_is_p = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
  const char* y_is_p_plus_1 = "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
  const char* identity_with_sign =
      "0100000000000000000000000000000000000000000000000000000000000080";
  const char* off_curve = "0200000000000000000000000000000000000000000000000000000000000000";
  for (const char* gamma : {y_is_p, y_is_p_plus_1, identity_with_sign, off_curve}) {
    CHECK_THAT(verify(with_bytes(good, 0, gamma)), Catch::Contains("Gamma is not the canonical"));
    CHECK_THAT(refusal(vrf_proof_to_hash(with_bytes(good, 0, gamma))),
               Catch::Contains("Gamma is not the canonical"));
  }

  // Small-order Gammas decode (the RFC does not refuse them) and then fail the challenge.
  const char* identity = "0100000000000000000000000000000000000000000000000000000000000000";
  for (const char* gamma : {identity, kOrder8}) {
    CHECK_THAT(verify(with_bytes(good, 0, gamma)), Catch::Contains("challenge does not match"));
  }
}

TEST_CASE("small-order and non-canonical public keys are refused", "[vrf]") {
  const RfcVector& v = kRfcVectors[0];
  // The eight points of order 1, 2, 4 and 8, each in its canonical encoding.
  const char* small_order[] = {
      "0100000000000000000000000000000000000000000000000000000000000000",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0000000000000000000000000000000000000000000000000000000000000080",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  };
  for (const char* key : small_order) {
    CHECK_THAT(refusal(vrf_verify(key_of(key), hex(v.alpha), proof_of(v.proof))),
               Catch::Contains("public key has small order"));
  }
  // y = p, y = p + 1, x = 0 with the sign bit (identity and order 2), and a y off the curve.
  const char* not_canonical[] = {
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "0100000000000000000000000000000000000000000000000000000000000080",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "0200000000000000000000000000000000000000000000000000000000000000",
  };
  for (const char* key : not_canonical) {
    CHECK_THAT(refusal(vrf_verify(key_of(key), hex(v.alpha), proof_of(v.proof))),
               Catch::Contains("public key is not the canonical encoding"));
  }
}

TEST_CASE("a public key with a small-order component gets the RFC's answer", "[vrf]") {
  // The key is Example 16's plus an order-8 point: valid for RFC 9381's validate_key.
  PublicKey key;
  REQUIRE(crypto_core_ed25519_add(key.data(), key_of(kRfcVectors[0].public_key).data(),
                                  key_of(kOrder8).data()) == 0);
  CHECK(key.hex() == kTorsionKey[0].public_key);
  for (const auto& v : kTorsionKey) check_extra(v);
}

TEST_CASE("a Gamma with a small-order component gets the RFC's answer", "[vrf]") {
  for (const auto& v : kTorsionGamma) check_extra(v);
  // The proof that holds is not ECVRF_prove's, but its output is: proofs are not unique, beta is.
  const ExtraVector& holds = kTorsionGamma[0];
  SecretKey key = SecretKey::from_seed(hex(kRfcVectors[0].secret));
  VrfProof honest = vrf_prove(key, hex(holds.alpha));
  CHECK(honest.hex() != holds.proof);
  CHECK(vrf_proof_to_hash(honest)->hex() == holds.beta);
}

TEST_CASE("proofs of random keys and inputs verify, deterministically, to proof_to_hash's output",
          "[vrf]") {
  for (int i = 0; i < 100; ++i) {
    SecretKey key = SecretKey::generate();
    Bytes alpha(randombytes_uniform(64));
    for (auto& byte : alpha) byte = static_cast<std::uint8_t>(randombytes_uniform(256));
    VrfProof proof = vrf_prove(key, alpha);
    CHECK(vrf_prove(key, alpha) == proof);
    Result<VrfOutput> verified = vrf_verify(key.public_key(), alpha, proof);
    REQUIRE(verified.ok());
    CHECK(*verified == *vrf_proof_to_hash(proof));
    Bytes other = alpha;
    other.push_back(0);
    CHECK_FALSE(vrf_verify(key.public_key(), other, proof).ok());
  }
}
