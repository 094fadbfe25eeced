// Deterministic keys for tests and their helper programs, so that failures reproduce.
#pragma once

#include <array>
#include <cstdint>

#include "pos/crypto.h"

namespace pos::test {

inline constexpr std::uint64_t kGenesisTime = 1'700'000'000'000;

inline SecretKey key_from_index(std::uint32_t i) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 0x5e;
  seed[28] = static_cast<std::uint8_t>(i >> 24);
  seed[29] = static_cast<std::uint8_t>(i >> 16);
  seed[30] = static_cast<std::uint8_t>(i >> 8);
  seed[31] = static_cast<std::uint8_t>(i);
  return SecretKey::from_seed(seed);
}

}  // namespace pos::test
