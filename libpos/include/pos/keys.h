// Key files: PEM, PKCS#8 "PRIVATE KEY" and SPKI "PUBLIC KEY", byte-compatible with
// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {

Result<SecretKey> parse_private_key_pem(std::string_view pem);
Result<PublicKey> parse_public_key_pem(std::string_view pem);
std::string private_key_pem(const SecretKey& key);
std::string public_key_pem(const PublicKey& key);

// Reading a file; errors name the file and the problem (kBadKeyFile or kIoError).
Result<SecretKey> load_private_key(const std::filesystem::path& path);
Result<PublicKey> load_public_key(const std::filesystem::path& path);
// Writes with mode 0600, refusing to overwrite an existing file.
Status save_private_key(const std::filesystem::path& path, const SecretKey& key);

}  // namespace pos
