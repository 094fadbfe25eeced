#include <catch2/catch.hpp>

#include <cmath>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

__extension__ typedef unsigned __int128 u128;

std::map<PublicKey, std::uint64_t> stakers_with(const std::vector<std::uint64_t>& stakes) {
  std::map<PublicKey, std::uint64_t> out;
  for (std::size_t i = 0; i < stakes.size(); ++i)
    out[key_from_index(static_cast<std::uint32_t>(i)).public_key()] = stakes[i];
  return out;
}

// The draw as docs/protocol.md words it, written out independently of the library.
std::uint64_t draw_by_the_text(const Hash& seed, std::uint64_t total) {
  u128 two64 = static_cast<u128>(1) << 64;
  u128 limit = two64 - (two64 % total);
  for (std::uint32_t c = 0;; ++c) {
    Bytes b(seed.bytes.begin(), seed.bytes.end());
    for (int i = 3; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(c >> (8 * i)));
    Hash h = sha256(b);
    std::uint64_t r = 0;
    for (int i = 0; i < 8; ++i) r = (r << 8) | h.bytes[i];
    if (r < limit) return r % total;
  }
}

}  // namespace

TEST_CASE("the lot seed is SHA-256 of tag, epoch nonce and slot", "[pos]") {
  Hash nonce = sha256(std::string_view("nonce"));
  Bytes b = {'p', 'o', 's', '/', 'l', 'o', 't', '/', 'v', '2'};
  b.insert(b.end(), nonce.bytes.begin(), nonce.bytes.end());
  for (int i = 7; i >= 0; --i)
    b.push_back(static_cast<std::uint8_t>(std::uint64_t{300} >> (8 * i)));
  CHECK(ProofOfStake::seed(nonce, 300) == sha256(b));
}

TEST_CASE("the draw follows the text, including rejection near 2^64", "[pos]") {
  const std::uint64_t totals[] = {1, 3, 10, 1'000'000'007ULL, (1ULL << 63) + 1, ~0ULL};
  for (std::uint64_t total : totals)
    for (int i = 0; i < 200; ++i) {
      Hash seed = sha256(std::string_view(std::to_string(i)));
      std::uint64_t r = ProofOfStake::draw(seed, total);
      CHECK(r < total);
      CHECK(r == draw_by_the_text(seed, total));
    }
}

TEST_CASE("lots are cumulative ranges in public-key order, zero stakes left out", "[pos]") {
  ProofOfStake pos(stakers_with({5, 0, 7, 1}));
  REQUIRE(pos.lots().size() == 3);
  CHECK(pos.total_stake() == 13);
  std::uint64_t begin = 0;
  for (std::size_t i = 0; i < pos.lots().size(); ++i) {
    CHECK(pos.lots()[i].begin == begin);
    begin += pos.lots()[i].stake;
    if (i > 0) CHECK(pos.lots()[i - 1].staker < pos.lots()[i].staker);
  }
  CHECK_FALSE(ProofOfStake({}).leader(Hash{}, 1).has_value());
}

TEST_CASE("the leader is the staker whose range holds the draw", "[pos]") {
  ProofOfStake pos(stakers_with({5, 7, 1}));
  for (std::uint64_t slot = 1; slot < 300; ++slot) {
    Hash parent = sha256(std::string_view("p"));
    std::uint64_t r = ProofOfStake::draw(ProofOfStake::seed(parent, slot), 13);
    const Lot* holder = nullptr;
    for (const auto& lot : pos.lots())
      if (r >= lot.begin && r < lot.begin + lot.stake) holder = &lot;
    REQUIRE(holder != nullptr);
    CHECK(*pos.leader(parent, slot) == holder->staker);
  }
}

TEST_CASE("fairness: slot shares match stake shares 1:2:7 over 10,000 slots", "[pos][fairness]") {
  for (std::uint64_t unit : {std::uint64_t{1}, std::uint64_t{1'000'000'000'000}}) {
    auto stakers = stakers_with({1 * unit, 2 * unit, 7 * unit});
    ProofOfStake pos(stakers);
    std::map<PublicKey, int> wins;
    const int n = 10'000;
    for (int slot = 1; slot <= n; ++slot) {
      Hash parent = sha256(std::string_view("parent-" + std::to_string(slot)));
      wins[*pos.leader(parent, static_cast<std::uint64_t>(slot))]++;
    }
    double chi2 = 0;
    for (const auto& [key, stake] : stakers) {
      double p = static_cast<double>(stake) / static_cast<double>(10 * unit);
      double expected = n * p;
      double sigma = std::sqrt(n * p * (1 - p));
      INFO("stake share " << p << ", slots " << wins[key]);
      CHECK(std::abs(wins[key] - expected) < 3 * sigma);
      chi2 += (wins[key] - expected) * (wins[key] - expected) / expected;
    }
    // Chi-square with 2 degrees of freedom: 13.82 is the 0.1% critical value.
    INFO("chi-square " << chi2);
    CHECK(chi2 < 13.82);
  }
}

TEST_CASE("the draw with huge stakes needs no more work than with small ones", "[pos]") {
  // The teaching project built one lot per staked coin; here lots are per staker.
  ProofOfStake big(stakers_with({1'000'000'000'000, 1'000'000'000'000}));
  CHECK(big.lots().size() == 2);
  CHECK(big.leader(Hash{}, 1).has_value());
}
