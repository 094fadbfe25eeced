#include "pos/keys.h"

#include "file_util.h"

#include <sodium.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <cstring>

namespace pos {
namespace {

// DER prefixes of RFC 8410 Ed25519 keys, as OpenSSL writes them.
constexpr std::array<std::uint8_t, 16> kPkcs8Prefix = {
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
constexpr std::array<std::uint8_t, 12> kSpkiPrefix = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                      0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
constexpr std::array<std::uint8_t, 3> kEd25519Oid = {0x2b, 0x65, 0x70};
constexpr std::array<std::uint8_t, 9> kRsaOid = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                 0x0d, 0x01, 0x01, 0x01};
constexpr std::array<std::uint8_t, 7> kEcOid = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
constexpr std::array<std::uint8_t, 3> kX25519Oid = {0x2b, 0x65, 0x6e};
constexpr std::array<std::uint8_t, 3> kEd448Oid = {0x2b, 0x65, 0x71};

Error bad_key(std::string message) {
  return make_error(Reason::kBadKeyFile, std::move(message));
}

template <std::size_t N>
bool contains(const Bytes& der, const std::array<std::uint8_t, N>& needle) {
  return std::search(der.begin(), der.end(), needle.begin(), needle.end()) != der.end();
}

// Names the algorithm of a DER key that is not Ed25519, for a helpful error.
std::string describe_algorithm(const Bytes& der) {
  if (contains(der, kRsaOid)) return "an RSA key";
  if (contains(der, kEcOid)) return "an EC key";
  if (contains(der, kX25519Oid)) return "an X25519 key";
  if (contains(der, kEd448Oid)) return "an Ed448 key";
  if (contains(der, kEd25519Oid)) return "an Ed25519 key with an unexpected structure";
  return "not a recognised key";
}

// Extracts and decodes the base64 body between BEGIN/END lines with the expected label.
Result<Bytes> pem_body(std::string_view pem, std::string_view label) {
  if (pem.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return bad_key("the file is empty");
  auto begin = pem.find("-----BEGIN ");
  if (begin == std::string_view::npos) return bad_key("not a PEM file (no -----BEGIN line)");
  auto label_start = begin + 11;
  auto label_end = pem.find("-----", label_start);
  if (label_end == std::string_view::npos) return bad_key("truncated PEM header");
  std::string_view found = pem.substr(label_start, label_end - label_start);
  if (found != label) {
    std::string hint;
    if (found == "RSA PRIVATE KEY") hint = " (an RSA key; libpos keys are Ed25519)";
    if (found == "EC PRIVATE KEY") hint = " (an EC key; libpos keys are Ed25519)";
    if (found == "ENCRYPTED PRIVATE KEY") hint = " (encrypted PKCS#8 is not supported here)";
    if (found == "OPENSSH PRIVATE KEY") hint = " (an OpenSSH key; convert it to PKCS#8)";
    return bad_key("wrong PEM label \"" + std::string(found) + "\", expected \"" +
                   std::string(label) + "\"" + hint);
  }
  auto body_start = label_end + 5;
  std::string end_line = "-----END " + std::string(label) + "-----";
  auto end = pem.find(end_line, body_start);
  if (end == std::string_view::npos) return bad_key("truncated PEM (no " + end_line + " line)");
  std::string_view body = pem.substr(body_start, end - body_start);
  Bytes der(body.size());
  std::size_t der_len = 0;
  const char* b64_end = nullptr;
  if (sodium_base642bin(der.data(), der.size(), body.data(), body.size(), " \t\r\n", &der_len,
                        &b64_end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      b64_end != body.data() + body.size())
    return bad_key("bad base64 in the PEM body");
  der.resize(der_len);
  if (der.empty()) return bad_key("the PEM body is empty");
  return der;
}

std::string pem_encode(std::string_view label, ByteView der) {
  std::string b64(sodium_base64_ENCODED_LEN(der.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), der.data(), der.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += "-----END " + std::string(label) + "-----\n";
  return out;
}

template <class T>
Result<T> name_file(Result<T> result, const std::filesystem::path& path) {
  if (result.ok()) return result;
  return make_error(result.reason(), path.string() + ": " + result.error().message);
}

}  // namespace

Result<SecretKey> parse_private_key_pem(std::string_view pem) {
  auto der = pem_body(pem, "PRIVATE KEY");
  if (!der.ok()) return der.error();
  const Bytes& d = *der;
  if (d.size() >= kPkcs8Prefix.size() &&
      std::equal(kPkcs8Prefix.begin(), kPkcs8Prefix.end(), d.begin()) &&
      d.size() == kPkcs8Prefix.size() + 32)
    return SecretKey::from_seed(ByteView(d.data() + kPkcs8Prefix.size(), 32));
  // RFC 8410 OneAsymmetricKey v2: version 1 and the public key appended as [1].
  constexpr std::array<std::uint8_t, 16> kV2Prefix = {0x30, 0x51, 0x02, 0x01, 0x01, 0x30,
                                                      0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                                      0x04, 0x22, 0x04, 0x20};
  if (d.size() == 83 && std::equal(kV2Prefix.begin(), kV2Prefix.end(), d.begin()) &&
      d[48] == 0x81 && d[49] == 0x21 && d[50] == 0x00) {
    SecretKey key = SecretKey::from_seed(ByteView(d.data() + 16, 32));
    if (std::memcmp(key.public_key().data(), d.data() + 51, 32) != 0)
      return bad_key("the embedded public key does not match the private key");
    return key;
  }
  if (contains(d, kEd25519Oid) && !contains(d, kRsaOid) && !contains(d, kEcOid))
    return bad_key("Ed25519 PKCS#8 key of wrong length (" + std::to_string(d.size()) +
                   " bytes of DER, expected 48)");
  return bad_key("not an Ed25519 private key: " + describe_algorithm(d));
}

Result<PublicKey> parse_public_key_pem(std::string_view pem) {
  auto der = pem_body(pem, "PUBLIC KEY");
  if (!der.ok()) return der.error();
  const Bytes& d = *der;
  if (d.size() == kSpkiPrefix.size() + 32 &&
      std::equal(kSpkiPrefix.begin(), kSpkiPrefix.end(), d.begin()))
    return PublicKey::from_bytes(ByteView(d.data() + kSpkiPrefix.size(), 32));
  if (contains(d, kEd25519Oid) && !contains(d, kRsaOid) && !contains(d, kEcOid))
    return bad_key("Ed25519 public key of wrong length (" + std::to_string(d.size()) +
                   " bytes of DER, expected 44)");
  return bad_key("not an Ed25519 public key: " + describe_algorithm(d));
}

std::string private_key_pem(const SecretKey& key) {
  Bytes der(kPkcs8Prefix.begin(), kPkcs8Prefix.end());
  ByteView seed = key.seed();
  der.insert(der.end(), seed.begin(), seed.end());
  std::string out = pem_encode("PRIVATE KEY", der);
  sodium_memzero(der.data(), der.size());
  return out;
}

std::string public_key_pem(const PublicKey& key) {
  Bytes der(kSpkiPrefix.begin(), kSpkiPrefix.end());
  der.insert(der.end(), key.bytes.begin(), key.bytes.end());
  return pem_encode("PUBLIC KEY", der);
}

Result<SecretKey> load_private_key(const std::filesystem::path& path) {
  auto text = detail::read_file(path);
  if (!text.ok()) return text.error();
  auto key = name_file(parse_private_key_pem(*text), path);
  sodium_memzero(text->data(), text->size());
  return key;
}

Result<PublicKey> load_public_key(const std::filesystem::path& path) {
  auto text = detail::read_file(path);
  if (!text.ok()) return text.error();
  return name_file(parse_public_key_pem(*text), path);
}

Status save_private_key(const std::filesystem::path& path, const SecretKey& key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(Reason::kIoError, path.string() + ": cannot create: " + std::strerror(errno));
  std::string pem = private_key_pem(key);
  bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  sodium_memzero(pem.data(), pem.size());
  if (!ok) return make_error(Reason::kIoError, path.string() + ": write failed");
  return {};
}

}  // namespace pos
