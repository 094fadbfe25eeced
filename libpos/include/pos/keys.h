// Key files: PEM, PKCS#8 "PRIVATE KEY" and SPKI "PUBLIC KEY", byte-compatible with
// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {

Result<SecretKey> parse_private_key_pem(std::string_view pem);
Result<PublicKey> parse_public_key_pem(std::string_view pem);
std::string private_key_pem(const SecretKey& key);
std::string public_key_pem(const PublicKey& key);

// Encrypted key files (new ones with Argon2id at libsodium's moderate limits): PEM "POS ENCRYPTED
// PRIVATE KEY" whose body is
//   u8 version (1) || u64 opslimit || u64 memlimit || salt (16) || nonce (24)
//   || XChaCha20-Poly1305(seed (32)) with those 57 header bytes as associated data,
// keyed by Argon2id(passphrase, salt, opslimit, memlimit). docs/tools.md (encrypted keys) has the
// details.
std::string encrypted_private_key_pem(const SecretKey& key, std::string_view passphrase);
Result<SecretKey> parse_encrypted_private_key_pem(std::string_view pem,
                                                  std::string_view passphrase);
bool is_encrypted_key_pem(std::string_view pem);

// Asked for the passphrase of an encrypted key file, only when the file is encrypted.
using PassphraseSource = std::function<Result<std::string>()>;

// Reading a file; errors name the file and the problem (kBadKeyFile or kIoError). An encrypted
// file needs `passphrase`; without one it is refused.
Result<SecretKey> load_private_key(const std::filesystem::path& path,
                                   const PassphraseSource& passphrase = {});
Result<PublicKey> load_public_key(const std::filesystem::path& path);
// kBadKeyFile when the file can be read by its group or others (any of mode 077), naming the mode
// and the chmod that fixes it; pos-node and pos-wallet refuse such a key file, as ssh does.
Status check_private_key_mode(const std::filesystem::path& path);
// Writes with mode 0600, refusing to overwrite an existing file; encrypted when a passphrase is
// given.
Status save_private_key(const std::filesystem::path& path, const SecretKey& key,
                        std::optional<std::string_view> passphrase = std::nullopt);

}  // namespace pos
