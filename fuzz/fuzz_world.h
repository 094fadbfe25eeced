// The small network the block fuzzer validates against; the seed corpus is made on the same one,
// so that its blocks are valid there.
#pragma once

#include <array>
#include <cstdlib>
#include <vector>

#include "pos/pos.h"

namespace pos::fuzz {

struct World {
  Genesis genesis;
  ManualClock clock{0};
  std::vector<SecretKey> keys;  // keys 0-2 stake; 3-4 only hold a balance
  World() {
    if (!init().ok()) std::abort();
    genesis.params.chain_id = "pos-demo";
    for (std::uint32_t i = 0; i < 5; ++i) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(i + 1);
      keys.push_back(SecretKey::from_seed(seed));
      genesis.allocations.push_back({keys.back().public_key(), 1000, i < 3 ? 10u : 0u});
    }
    genesis.params.exchange_authority = keys[0].public_key();
    genesis = Genesis::parse(genesis.to_json()).value();
    clock.set(genesis.params.slot_start_ms(100));
  }
};

}  // namespace pos::fuzz
