#include <catch2/catch.hpp>

#include <sodium.h>

#include <algorithm>

#include "pos/keys.h"
#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

bool have_openssl() {
  return run_command("openssl version >/dev/null 2>&1") == 0;
}

void require_bad(const Result<SecretKey>& key, const std::string& words) {
  REQUIRE_FALSE(key.ok());
  CHECK(key.reason() == Reason::kBadKeyFile);
  CHECK_THAT(key.error().message, Catch::Contains(words));
}

}  // namespace

TEST_CASE("a private key survives PEM write and read", "[keys]") {
  SecretKey key = SecretKey::generate();
  std::string pem = private_key_pem(key);
  CHECK(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
  auto back = parse_private_key_pem(pem);
  REQUIRE(back.ok());
  CHECK(back->public_key() == key.public_key());
  auto pub = parse_public_key_pem(public_key_pem(key.public_key()));
  REQUIRE(pub.ok());
  CHECK(*pub == key.public_key());
}

TEST_CASE("the PKCS#8 encoding is the one OpenSSL writes", "[keys]") {
  // RFC 8410 section 10.3's example key.
  const char* pem =
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n"
      "-----END PRIVATE KEY-----\n";
  auto key = parse_private_key_pem(pem);
  REQUIRE(key.ok());
  CHECK(private_key_pem(*key) == pem);
  CHECK(public_key_pem(key->public_key()) ==
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
        "-----END PUBLIC KEY-----\n");
}

TEST_CASE("keys interoperate with the openssl command", "[keys][openssl]") {
  if (!have_openssl()) {
    WARN("openssl not found: interop not checked");
    return;
  }
  TempDir dir;
  auto ossl = dir.path() / "openssl.pem";
  REQUIRE(run_command("openssl genpkey -algorithm ed25519 -out " + ossl.string()) == 0);
  REQUIRE(run_command("openssl pkey -in " + ossl.string() + " -pubout -out " +
                      (dir.path() / "openssl.pub").string()) == 0);
  auto key = load_private_key(ossl);
  REQUIRE(key.ok());
  auto pub = load_public_key(dir.path() / "openssl.pub");
  REQUIRE(pub.ok());
  CHECK(key->public_key() == *pub);

  auto ours = dir.path() / "ours.pem";
  REQUIRE(save_private_key(ours, *key).ok());
  REQUIRE(run_command("openssl pkey -in " + ours.string() + " -pubout -out " +
                      (dir.path() / "ours.pub").string()) == 0);
  CHECK(read_text(dir.path() / "ours.pub") == public_key_pem(key->public_key()));
  CHECK(read_text(ours) == read_text(ossl));
}

TEST_CASE("bad key files are refused with a reason naming the problem", "[keys]") {
  SECTION("empty") {
    require_bad(parse_private_key_pem(""), "empty");
  }
  SECTION("not PEM") {
    require_bad(parse_private_key_pem("hello"), "not a PEM file");
  }
  SECTION("wrong label") {
    require_bad(parse_private_key_pem(public_key_pem(SecretKey::generate().public_key())),
                "wrong PEM label \"PUBLIC KEY\"");
  }
  SECTION("RSA label") {
    require_bad(parse_private_key_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"
                                      "-----END RSA PRIVATE KEY-----\n"),
                "an RSA key");
  }
  SECTION("truncated") {
    std::string pem = private_key_pem(SecretKey::generate());
    require_bad(parse_private_key_pem(pem.substr(0, pem.size() / 2)), "truncated");
  }
  SECTION("bad base64") {
    require_bad(parse_private_key_pem("-----BEGIN PRIVATE KEY-----\nMC4C*AAw\n"
                                      "-----END PRIVATE KEY-----\n"),
                "bad base64");
  }
  SECTION("an empty body") {
    require_bad(parse_private_key_pem("-----BEGIN PRIVATE KEY-----\n"
                                      "-----END PRIVATE KEY-----\n"),
                "the PEM body is empty");
    require_bad(parse_private_key_pem("-----BEGIN PRIVATE KEY-----\n \r\n"
                                      "-----END PRIVATE KEY-----\n"),
                "the PEM body is empty");
  }
  SECTION("wrong length") {
    // The Ed25519 prefix with a 16-byte seed.
    require_bad(parse_private_key_pem("-----BEGIN PRIVATE KEY-----\n"
                                      "MB4CAQAwBQYDK2VwBBIEEAAAAAAAAAAAAAAAAAAAAAA=\n"
                                      "-----END PRIVATE KEY-----\n"),
                "wrong length");
  }
  SECTION("missing file") {
    auto key = load_private_key("/nonexistent/key.pem");
    REQUIRE_FALSE(key.ok());
    CHECK(key.reason() == Reason::kIoError);
    CHECK_THAT(key.error().message, Catch::Contains("/nonexistent/key.pem"));
  }
}

TEST_CASE("RSA and EC keys made by openssl are refused by name", "[keys][openssl]") {
  if (!have_openssl()) {
    WARN("openssl not found: RSA/EC refusal not checked");
    return;
  }
  TempDir dir;
  auto rsa = dir.path() / "rsa.pem";
  auto ec = dir.path() / "ec.pem";
  REQUIRE(run_command("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out " +
                      rsa.string() + " 2>/dev/null") == 0);
  REQUIRE(run_command("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                      ec.string() + " 2>/dev/null") == 0);
  auto r = load_private_key(rsa);
  require_bad(r, "an RSA key");
  CHECK_THAT(r.error().message, Catch::Contains(rsa.string()));
  require_bad(load_private_key(ec), "an EC key");
}

TEST_CASE("saving a key never overwrites and makes a private file", "[keys]") {
  TempDir dir;
  auto path = dir.path() / "k.pem";
  SecretKey key = SecretKey::generate();
  REQUIRE(save_private_key(path, key).ok());
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);
  auto again = save_private_key(path, SecretKey::generate());
  REQUIRE_FALSE(again.ok());
  CHECK(again.reason() == Reason::kIoError);
  CHECK(load_private_key(path)->public_key() == key.public_key());
}

TEST_CASE("encrypted key files: round trip, wrong passphrase, tampering, limits",
          "[keys][encrypted]") {
  SecretKey key = SecretKey::generate();
  std::string pem = encrypted_private_key_pem(key, "correct horse");
  CHECK(is_encrypted_key_pem(pem));
  CHECK(pem.find(to_hex(key.seed())) == std::string::npos);
  auto back = parse_encrypted_private_key_pem(pem, "correct horse");
  REQUIRE(back.ok());
  CHECK(back->public_key() == key.public_key());
  auto wrong = parse_encrypted_private_key_pem(pem, "wrong horse");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.reason() == Reason::kBadKeyFile);
  CHECK_THAT(wrong.error().message, Catch::Contains("passphrase"));
  // Flipping a byte of the body (header, ciphertext or tag) is refused.
  auto body_start = pem.find('\n') + 1;
  std::string tampered = pem;
  tampered[body_start + 30] = tampered[body_start + 30] == 'A' ? 'B' : 'A';
  CHECK_FALSE(parse_encrypted_private_key_pem(tampered, "correct horse").ok());
  // Two encryptions of one key differ (fresh salt and nonce).
  CHECK(encrypted_private_key_pem(key, "correct horse") != pem);

  TempDir dir;
  auto path = dir.path() / "enc.pem";
  REQUIRE(save_private_key(path, key, std::string_view("pw")).ok());
  auto no_passphrase = load_private_key(path);
  REQUIRE_FALSE(no_passphrase.ok());
  CHECK_THAT(no_passphrase.error().message, Catch::Contains("encrypted"));
  auto loaded = load_private_key(path, [] { return Result<std::string>(std::string("pw")); });
  REQUIRE(loaded.ok());
  CHECK(loaded->public_key() == key.public_key());
  auto refused = load_private_key(
      path, [] { return Result<std::string>(make_error(Reason::kBadKeyFile, "no terminal")); });
  CHECK_THAT(refused.error().message, Catch::Contains("no terminal"));
  // A plain key file never asks for a passphrase.
  auto plain = dir.path() / "plain.pem";
  REQUIRE(save_private_key(plain, key).ok());
  bool asked = false;
  CHECK(load_private_key(plain, [&] {
          asked = true;
          return Result<std::string>(std::string("x"));
        }).ok());
  CHECK_FALSE(asked);
}

TEST_CASE("new encrypted key files use Argon2id at libsodium's moderate limits",
          "[keys][encrypted]") {
  std::string pem = encrypted_private_key_pem(SecretKey::generate(), "pw");
  const std::string begin = "-----BEGIN POS ENCRYPTED PRIVATE KEY-----\n";
  auto body_at = pem.find(begin) + begin.size();
  std::string base64 = pem.substr(body_at, pem.find("-----END") - body_at);
  base64.erase(std::remove(base64.begin(), base64.end(), '\n'), base64.end());
  Bytes body(base64.size());
  std::size_t length = 0;
  REQUIRE(sodium_base642bin(body.data(), body.size(), base64.data(), base64.size(), nullptr,
                            &length, nullptr, sodium_base64_VARIANT_ORIGINAL) == 0);
  REQUIRE(length > 17);
  auto u64_at = [&](std::size_t at) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | body[at + i];
    return v;
  };
  CHECK(body[0] == 1);  // u8 version || u64 opslimit || u64 memlimit || ...
  CHECK(u64_at(1) == crypto_pwhash_OPSLIMIT_MODERATE);
  CHECK(u64_at(9) == crypto_pwhash_MEMLIMIT_MODERATE);
}

TEST_CASE("a private key file that group or others can read is named, with the chmod that fixes it",
          "[keys]") {
  TempDir dir;
  auto path = dir.path() / "k.pem";
  REQUIRE(save_private_key(path, SecretKey::generate()).ok());
  CHECK(check_private_key_mode(path).ok());
  namespace fs = std::filesystem;
  for (auto [extra, mode] :
       {std::pair{fs::perms::group_read, "0640"}, std::pair{fs::perms::others_read, "0604"},
        std::pair{fs::perms::group_write, "0620"}}) {
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | extra);
    auto refused = check_private_key_mode(path);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.reason() == Reason::kBadKeyFile);
    CHECK_THAT(refused.error().message, Catch::Contains(std::string("mode ") + mode));
    CHECK_THAT(refused.error().message, Catch::Contains("chmod 600 " + path.string()));
  }
  CHECK(check_private_key_mode(dir.path() / "absent.pem").reason() == Reason::kIoError);
}
