// What the benchmark programs share: deterministic keys, a network of funded accounts with one
// staker, a timer, and the apply rate of a list of blocks.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "pos/pos.h"

namespace pos::bench {

using Timer = std::chrono::steady_clock;

inline double seconds_since(Timer::time_point start) {
  return std::chrono::duration<double>(Timer::now() - start).count();
}

// A deterministic key: `tag` keeps the keys of different programs apart.
inline SecretKey key_for(std::uint32_t i, std::uint8_t tag) {
  std::array<std::uint8_t, 32> seed{};
  for (int b = 0; b < 4; ++b)
    seed[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(i >> (8 * b));
  seed[31] = tag;
  return SecretKey::from_seed(seed);
}

// `accounts` funded accounts on chain "pos-bench"; keys[0] is the only staker and the exchange
// authority.
struct Network {
  Genesis genesis;
  std::vector<SecretKey> keys;
  Network(std::size_t accounts, std::uint8_t tag) {
    genesis.params.chain_id = "pos-bench";
    genesis.params.genesis_time_ms = 0;
    for (std::uint32_t i = 0; i < accounts; ++i) {
      keys.push_back(key_for(i, tag));
      genesis.allocations.push_back({keys.back().public_key(), 1'000'000'000, i == 0 ? 1u : 0u});
    }
    genesis.params.exchange_authority = keys[0].public_key();
    genesis = Genesis::parse(genesis.to_json()).value();
  }
};

// Blocks per second of applying `blocks` (each a fresh, unverified copy, so that signatures are
// checked every time) to a new chain on `storage`; only the apply calls are timed.
inline double apply_rate(const Genesis& genesis, Storage& storage,
                         const std::vector<BlockPtr>& blocks) {
  ManualClock clock(genesis.params.slot_start_ms(blocks.back()->slot()));
  auto chain = Blockchain::open(genesis, storage, clock).value();
  std::vector<std::string> json;
  for (const auto& b : blocks) json.push_back(to_json(*b));
  double busy = 0;
  for (const auto& j : json) {
    BlockPtr copy = block_from_json(j, genesis.params.chain_id).value();
    auto start = Timer::now();
    if (!chain->apply(copy).ok()) std::abort();
    busy += seconds_since(start);
  }
  return static_cast<double>(blocks.size()) / busy;
}

}  // namespace pos::bench
