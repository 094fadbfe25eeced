// libFuzzer target: the PEM key parsers (PKCS#8, SPKI, and the encrypted form up to the
// passphrase derivation, which is skipped: its cost is bounded by design, not by parsing).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pos/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bool ready = pos::init().ok();
  if (!ready) std::abort();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto key = pos::parse_private_key_pem(text);
  if (key.ok() &&
      pos::parse_private_key_pem(pos::private_key_pem(*key))->public_key() != key->public_key())
    std::abort();
  auto pub = pos::parse_public_key_pem(text);
  if (pub.ok() && *pos::parse_public_key_pem(pos::public_key_pem(*pub)) != *pub) std::abort();
  (void)pos::is_encrypted_key_pem(text);
  return 0;
}
