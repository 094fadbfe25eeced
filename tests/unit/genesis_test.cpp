#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

std::string valid_json() {
  TestNet net;
  return net.genesis.to_json();
}

Error refusal(const std::string& json) {
  auto g = Genesis::parse(json);
  REQUIRE_FALSE(g.ok());
  CHECK(g.reason() == Reason::kBadGenesis);
  return g.error();
}

std::string replaced(std::string json, const std::string& from, const std::string& to) {
  auto at = json.find(from);
  REQUIRE(at != std::string::npos);
  return json.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("genesis JSON round-trips and gives a stable hash", "[genesis]") {
  auto g = Genesis::parse(valid_json());
  REQUIRE(g.ok());
  auto again = Genesis::parse(g->to_json());
  REQUIRE(again.ok());
  CHECK(again->hash() == g->hash());
  BlockPtr block = g->block();
  CHECK(block->height() == 0);
  CHECK(block->parent().is_zero());
  CHECK(block->forger().is_zero());
  CHECK(block->header().state_root == g->initial_state().state_root());
  CHECK(block->header().timestamp_ms == g->params.genesis_time_ms);
}

TEST_CASE("every parameter is part of the network's identity", "[genesis]") {
  Genesis g = Genesis::parse(valid_json()).value();
  Hash base = g.hash();
  Genesis other = g;
  other.params.slot_ms = 999;
  CHECK(other.hash() != base);
  other = g;
  other.params.epoch_slots += 1;
  CHECK(other.hash() != base);
  other = g;
  other.params.max_block_txs -= 1;
  CHECK(other.hash() != base);
  other = g;
  other.params.unbonding_epochs += 1;
  CHECK(other.hash() != base);
  other = g;
  other.params.exchange_authority.bytes[0] ^= 1;
  CHECK(other.hash() != base);
  other = g;
  other.allocations[0].balance += 1;
  CHECK(other.hash() != base);
}

TEST_CASE("bad genesis files are refused with a clear message", "[genesis]") {
  std::string json = valid_json();
  CHECK_THAT(refusal("{").message, Catch::Contains("invalid JSON"));
  CHECK_THAT(refusal(replaced(json, "\"slot_ms\": 1000", "\"slot_ms\": 0")).message,
             Catch::Contains("slot_ms"));
  CHECK_THAT(refusal(replaced(json, "\"chain_id\": \"pos-test\"", "\"chain_id\": \"\"")).message,
             Catch::Contains("chain_id"));
  CHECK_THAT(refusal(replaced(json, "\"unbonding_epochs\": 5", "\"unbonding_epochs\": 4")).message,
             Catch::Contains("unbonding_epochs must be at least 5"));
  // Optional, with the minimum as default.
  CHECK(Genesis::parse(replaced(json, "\"unbonding_epochs\": 5,", ""))
            .value()
            .params.unbonding_epochs == 5);
  // A v1 genesis: unbonding by blocks is gone, and the message names its replacement.
  CHECK_THAT(refusal(replaced(json, "\"unbonding_epochs\": 5", "\"unbonding_blocks\": 10")).message,
             Catch::Contains("replaced in protocol v2 by \"unbonding_epochs\""));
  // A v1 genesis: depth finality is gone, and the message says so.
  CHECK_THAT(
      refusal(replaced(json, "\"slot_ms\": 1000,", "\"slot_ms\": 1000, \"finality_depth\": 32,"))
          .message,
      Catch::Contains("removed in protocol v2"));
  CHECK_THAT(refusal(replaced(json, "\"slot_ms\": 1000", "\"slot_ms\": 1000.5")).message,
             Catch::Contains("slot_ms"));
  CHECK_THAT(refusal(replaced(json, "\"slot_ms\"", "\"slot_size\"")).message,
             Catch::Contains("slot_ms"));
  // Two allocations for one address.
  auto g = Genesis::parse(json).value();
  g.allocations.push_back(g.allocations[0]);
  CHECK_THAT(refusal(g.to_json()).message, Catch::Contains("allocated twice"));
  // Nobody stakes.
  g = Genesis::parse(json).value();
  for (auto& a : g.allocations) a.stake = 0;
  CHECK_THAT(refusal(g.to_json()).message, Catch::Contains("stake"));
  // Supply past u64.
  g = Genesis::parse(json).value();
  g.allocations[0].balance = ~0ULL;
  CHECK_THAT(refusal(g.to_json()).message, Catch::Contains("supply"));
}

TEST_CASE("a missing genesis file names the path", "[genesis]") {
  auto g = Genesis::load("/nonexistent/genesis.json");
  REQUIRE_FALSE(g.ok());
  CHECK(g.reason() == Reason::kIoError);
  CHECK_THAT(g.error().message, Catch::Contains("/nonexistent/genesis.json"));
}
