#include "pos/keys.h"

#include "file_util.h"
#include "pos_fmt.h"

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
  // Checked first: libsodium's decoder must not be handed an empty (null) output buffer.
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return bad_key("the PEM body is empty");
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
  for (std::size_t i = 0; i < b64.size(); i += 64) out.append(b64, i, 64).append("\n");
  out += "-----END " + std::string(label) + "-----\n";
  sodium_memzero(b64.data(), b64.size());  // a private key's seed, in base64
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
  // The DER holds the seed: wiped however this returns.
  struct Wipe {
    Bytes& bytes;
    ~Wipe() { sodium_memzero(bytes.data(), bytes.size()); }
  } wipe{*der};
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
    return bad_key(
        fmt::format("Ed25519 PKCS#8 key of wrong length ({} bytes of DER, expected 48)", d.size()));
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
    return bad_key(
        fmt::format("Ed25519 public key of wrong length ({} bytes of DER, expected 44)", d.size()));
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

namespace {

constexpr std::string_view kEncryptedLabel = "POS ENCRYPTED PRIVATE KEY";
constexpr std::size_t kHeaderBytes =
    1 + 8 + 8 + crypto_pwhash_SALTBYTES + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
// Bounds on what a key file may ask of the machine, so that a crafted file cannot stall it.
constexpr std::uint64_t kMaxOpsLimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
constexpr std::uint64_t kMaxMemLimit = std::uint64_t{1} << 30;
// What new files use: libsodium's moderate limits (3 passes, 256 MiB), about a second here, so
// that guessing passphrases of a stolen file costs that much per guess.
constexpr std::uint64_t kNewOpsLimit = crypto_pwhash_OPSLIMIT_MODERATE;
constexpr std::uint64_t kNewMemLimit = crypto_pwhash_MEMLIMIT_MODERATE;

void put_u64(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// Argon2id key of the passphrase; false when the machine cannot afford the memory asked.
bool derive(std::uint8_t* out, std::string_view passphrase, const std::uint8_t* salt,
            std::uint64_t ops, std::uint64_t mem) {
  return crypto_pwhash(out, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, passphrase.data(),
                       passphrase.size(), salt, ops, static_cast<std::size_t>(mem),
                       crypto_pwhash_ALG_ARGON2ID13) == 0;
}

}  // namespace

std::string encrypted_private_key_pem(const SecretKey& key, std::string_view passphrase) {
  Bytes body;
  body.push_back(1);
  put_u64(body, kNewOpsLimit);
  put_u64(body, kNewMemLimit);
  std::size_t salt_at = body.size();
  body.resize(kHeaderBytes);
  randombytes_buf(body.data() + salt_at,
                  crypto_pwhash_SALTBYTES + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const std::uint8_t* salt = body.data() + salt_at;
  const std::uint8_t* nonce = salt + crypto_pwhash_SALTBYTES;
  std::uint8_t k[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  if (!derive(k, passphrase, salt, kNewOpsLimit, kNewMemLimit)) throw std::bad_alloc();
  body.resize(kHeaderBytes + 32 + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(body.data() + kHeaderBytes, &written,
                                             key.seed().data(), 32, body.data(), kHeaderBytes,
                                             nullptr, nonce, k);
  sodium_memzero(k, sizeof(k));
  return pem_encode(kEncryptedLabel, body);
}

bool is_encrypted_key_pem(std::string_view pem) {
  return pem.find("-----BEGIN " + std::string(kEncryptedLabel) + "-----") != std::string_view::npos;
}

Result<SecretKey> parse_encrypted_private_key_pem(std::string_view pem,
                                                  std::string_view passphrase) {
  auto body = pem_body(pem, kEncryptedLabel);
  if (!body.ok()) return body.error();
  const Bytes& b = *body;
  if (b.size() != kHeaderBytes + 32 + crypto_aead_xchacha20poly1305_ietf_ABYTES || b[0] != 1)
    return bad_key("encrypted key of unknown version or wrong length");
  std::uint64_t ops = get_u64(b.data() + 1);
  std::uint64_t mem = get_u64(b.data() + 9);
  if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > kMaxOpsLimit || mem < crypto_pwhash_MEMLIMIT_MIN ||
      mem > kMaxMemLimit)
    return bad_key("encrypted key with out-of-range Argon2id limits");
  const std::uint8_t* salt = b.data() + 17;
  const std::uint8_t* nonce = salt + crypto_pwhash_SALTBYTES;
  std::uint8_t k[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  if (!derive(k, passphrase, salt, ops, mem))
    return bad_key("not enough memory to derive the key's passphrase");
  std::uint8_t seed[32];
  unsigned long long seed_len = 0;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      seed, &seed_len, nullptr, b.data() + kHeaderBytes, b.size() - kHeaderBytes, b.data(),
      kHeaderBytes, nonce, k);
  sodium_memzero(k, sizeof(k));
  if (rc != 0 || seed_len != 32) return bad_key("wrong passphrase, or a damaged key file");
  SecretKey key = SecretKey::from_seed(ByteView(seed, 32));
  sodium_memzero(seed, sizeof(seed));
  return key;
}

Result<SecretKey> load_private_key(const std::filesystem::path& path,
                                   const PassphraseSource& passphrase) {
  auto text = detail::read_file(path);
  if (!text.ok()) return text.error();
  Result<SecretKey> key = bad_key("unread");
  if (is_encrypted_key_pem(*text)) {
    if (!passphrase) {
      key = bad_key("the key is encrypted and no passphrase was given");
    } else {
      auto secret = passphrase();
      if (!secret.ok()) {
        key = secret.error();
      } else {
        key = parse_encrypted_private_key_pem(*text, *secret);
        sodium_memzero(secret->data(), secret->size());
      }
    }
  } else {
    key = parse_private_key_pem(*text);
  }
  sodium_memzero(text->data(), text->size());
  return name_file(std::move(key), path);
}

Status check_private_key_mode(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(Reason::kIoError, path.string() + ": " + std::strerror(errno));
  if ((st.st_mode & 077) == 0) return {};
  return bad_key(fmt::format(
      "{} can be read by group or others (mode {:04o}): a private key must be its owner's alone; "
      "run chmod 600 {}",
      path.string(), st.st_mode & 07777, path.string()));
}

Result<PublicKey> load_public_key(const std::filesystem::path& path) {
  auto text = detail::read_file(path);
  if (!text.ok()) return text.error();
  return name_file(parse_public_key_pem(*text), path);
}

Status save_private_key(const std::filesystem::path& path, const SecretKey& key,
                        std::optional<std::string_view> passphrase) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(Reason::kIoError, path.string() + ": cannot create: " + std::strerror(errno));
  std::string pem = passphrase ? encrypted_private_key_pem(key, *passphrase) : private_key_pem(key);
  bool ok = ::write(fd, pem.data(), pem.size()) == static_cast<ssize_t>(pem.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  sodium_memzero(pem.data(), pem.size());
  if (!ok) return make_error(Reason::kIoError, path.string() + ": write failed");
  return {};
}

}  // namespace pos
