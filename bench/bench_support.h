// What the benchmark programs share: deterministic keys, a network of funded accounts with one
// staker, a timer, and the apply rate of a list of blocks.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "pos/pos.h"
#include "pos_fmt.h"

namespace pos::bench {

using Timer = std::chrono::steady_clock;

inline double seconds_since(Timer::time_point start) {
  return std::chrono::duration<double>(Timer::now() - start).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// A ratio of two rates measured interleaved: baseline, measure, baseline, ... baseline. Each
// round's ratio is its measure over the mean of the two baselines either side of it, so that a
// machine whose speed drifts (another process, a frequency change) moves both alike; the median
// over the rounds is the figure, and the lowest and highest show the spread. A baseline measured
// once, at the start, gave 1.32 x raw1 for a block validation that includes the raw verify.
struct Ratio {
  std::vector<double> baselines;  // rounds + 1 rates
  std::vector<double> measures;   // rounds rates
  std::vector<double> ratios;     // rounds

  double value() const { return median(ratios); }
  double low() const {
    return ratios.empty() ? 0 : *std::min_element(ratios.begin(), ratios.end());
  }
  double high() const {
    return ratios.empty() ? 0 : *std::max_element(ratios.begin(), ratios.end());
  }
  double measure() const { return median(measures); }
  double baseline() const { return median(baselines); }
};

// `rounds` (at least 1) rounds of `measure` between `rounds` + 1 of `baseline`; both return a rate.
template <class Baseline, class Measure>
Ratio interleave(std::size_t rounds, Baseline&& baseline, Measure&& measure) {
  Ratio r;
  r.baselines.push_back(baseline());
  for (std::size_t i = 0; i < std::max<std::size_t>(rounds, 1); ++i) {
    r.measures.push_back(measure());
    r.baselines.push_back(baseline());
    r.ratios.push_back(r.measures.back() / ((r.baselines[i] + r.baselines[i + 1]) / 2));
  }
  return r;
}

// "0.952 x rawN (0.931-0.967, 5 rounds)"; a median above `possible` (what the measure cannot
// exceed, as a validation that includes the verify cannot beat the verify alone) is the noise of
// the machine, and said so instead of given as a result.
inline std::string describe(const Ratio& r, std::string_view of, double possible = 0) {
  std::string spread =
      fmt::format("({:.3f}-{:.3f}, {} rounds)", r.low(), r.high(), r.ratios.size());
  if (possible > 0 && r.value() > possible)
    return fmt::format("noise: {:.3f} x {} {} is above the possible {:.2f}", r.value(), of, spread,
                       possible);
  return fmt::format("{:.3f} x {} {}", r.value(), of, spread);
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
