#include <catch2/catch.hpp>

#include "pos/crypto.h"

using namespace pos;

namespace {

Bytes hex(std::string_view text) {
  return from_hex(text).value();
}

struct Rfc8032Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, TEST 1 to 3.
constexpr Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "4"
     "6bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d"
     "8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6"
     "594a7c15e9716ed28dc027beceea1ec40a"},
};

}  // namespace

TEST_CASE("Ed25519 matches the RFC 8032 section 7.1 vectors", "[crypto]") {
  for (const auto& v : kVectors) {
    SecretKey key = SecretKey::from_seed(hex(v.secret));
    CHECK(key.public_key().hex() == v.public_key);
    Bytes message = hex(v.message);
    Signature sig = key.sign(message);
    CHECK(sig.hex() == v.signature);
    CHECK(verify(key.public_key(), message, sig));
  }
}

TEST_CASE("verification fails for a tampered message, signature or key", "[crypto]") {
  SecretKey key = SecretKey::generate();
  Bytes message = {1, 2, 3, 4};
  Signature sig = key.sign(message);
  REQUIRE(verify(key.public_key(), message, sig));
  Bytes other = message;
  other[0] ^= 1;
  CHECK_FALSE(verify(key.public_key(), other, sig));
  Signature bad = sig;
  bad.bytes[10] ^= 0x40;
  CHECK_FALSE(verify(key.public_key(), message, bad));
  CHECK_FALSE(verify(SecretKey::generate().public_key(), message, sig));
}

TEST_CASE("small-order public keys and non-canonical signatures are refused", "[crypto]") {
  // The identity point (small order): libsodium refuses it whatever the signature.
  PublicKey identity =
      PublicKey::from_hex("0100000000000000000000000000000000000000000000000000000000000000")
          .value();
  Signature zero_r;
  zero_r.bytes[0] = 1;
  CHECK_FALSE(verify(identity, Bytes{}, zero_r));
  // S >= L (the group order) is non-canonical and refused.
  SecretKey key = SecretKey::generate();
  Signature sig = key.sign(Bytes{9});
  for (std::size_t i = 32; i < 64; ++i) sig.bytes[i] = 0xff;
  CHECK_FALSE(verify(key.public_key(), Bytes{9}, sig));
}

TEST_CASE("SHA-256 known answers and incremental hashing", "[crypto]") {
  CHECK(sha256(std::string_view("")).hex() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256(std::string_view("abc")).hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256().update(std::string_view("a")).update(std::string_view("bc")).finish() ==
        sha256(std::string_view("abc")));
  // FIPS 180-2's two-block message and its million 'a's, fed in pieces across block boundaries.
  CHECK(
      sha256(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex() ==
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 million;
  const std::string piece(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(piece);
  CHECK(million.finish().hex() ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("a copy of an incremental SHA-256 goes on by itself", "[crypto]") {
  // An epoch's running digest of VRF outputs is copied with the epoch state and extended apart.
  Sha256 original;
  original.update(std::string_view("ab"));
  Sha256 copy = original;
  copy.update(std::string_view("c"));
  original.update(std::string_view("x"));
  CHECK(copy.finish() == sha256(std::string_view("abc")));
  CHECK(original.finish() == sha256(std::string_view("abx")));
}

TEST_CASE("hex is lower case, even length and checked", "[crypto]") {
  CHECK(to_hex(Bytes{0x00, 0xab, 0xff}) == "00abff");
  CHECK(from_hex("00abff").value() == Bytes{0x00, 0xab, 0xff});
  CHECK(from_hex("ABCD").reason() == Reason::kMalformed);
  CHECK(from_hex("abc").reason() == Reason::kMalformed);
  CHECK(from_hex("zz").reason() == Reason::kMalformed);
  CHECK(Hash::from_hex("00").reason() == Reason::kMalformed);
}

TEST_CASE("secret keys are move-only and still sign after a move", "[crypto]") {
  static_assert(!std::is_copy_constructible_v<SecretKey>);
  static_assert(std::is_nothrow_move_constructible_v<SecretKey>);
  SecretKey a = SecretKey::generate();
  PublicKey pk = a.public_key();
  SecretKey b = std::move(a);
  CHECK(b.public_key() == pk);
  CHECK(verify(pk, Bytes{1}, b.sign(Bytes{1})));
  CHECK_THROWS_AS(a.sign(Bytes{1}), std::logic_error);  // NOLINT: use after move on purpose
}
