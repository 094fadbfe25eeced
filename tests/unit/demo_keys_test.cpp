#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;

namespace {
const std::filesystem::path kKeys = std::filesystem::path(POS_SOURCE_DIR) / "keys";
}

TEST_CASE("the demo genesis loads and its validators' keys are in keys/", "[keys][genesis]") {
  auto genesis = Genesis::load(kKeys / "genesis.json");
  REQUIRE(genesis.ok());
  CHECK(genesis->params.chain_id == "pos-demo");
  std::map<Address, GenesisAllocation> alloc;
  for (const auto& a : genesis->allocations) alloc[a.address] = a;
  for (const char* name : {"validator1", "validator2", "validator3"}) {
    auto wallet = Wallet::load(kKeys / (std::string(name) + ".pem"));
    REQUIRE(wallet.ok());
    REQUIRE(alloc.contains(wallet->public_key()));
    CHECK(alloc[wallet->public_key()].stake == 100);
  }
  CHECK(Wallet::load(kKeys / "validator1.pem")->public_key() == genesis->params.exchange_authority);
  for (const char* name : {"alice", "bob"}) {
    auto wallet = Wallet::load(kKeys / (std::string(name) + ".pem"));
    REQUIRE(wallet.ok());
    CHECK_FALSE(alloc.contains(wallet->public_key()));
  }
}

TEST_CASE(
    "the teaching genesis: its genesis key alone stakes, more than 2/3 after the demo's stake",
    "[keys][genesis]") {
  auto genesis = Genesis::load(kKeys / "teaching-genesis.json");
  REQUIRE(genesis.ok());
  CHECK(genesis->params.chain_id == "pos-teaching");
  CHECK(genesis->hash() != Genesis::load(kKeys / "genesis.json")->hash());
  auto key = Wallet::load(kKeys / "genesisPrivateKey.pem");
  REQUIRE(key.ok());
  CHECK(key->public_key() == Wallet::load(kKeys / "validator1.pem")->public_key());
  CHECK(genesis->params.exchange_authority == key->public_key());
  REQUIRE(genesis->allocations.size() == 1);
  const auto& only = genesis->allocations.front();
  CHECK(only.address == key->public_key());
  // pos-interact demo stakes 25 (alice): the key must keep more than 2/3 of the stake.
  CHECK(3 * only.stake > 2 * (only.stake + 25));
}
