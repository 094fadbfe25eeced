// The API's JSON shapes: what the server writes the client reads back, and the client refuses
// an answer that lacks a field or has one of the wrong type, instead of reading it as 0.
#include <catch2/catch.hpp>

#include "pos/wire.h"
#include "test_support.h"

using namespace pos;

namespace {

Address address_of(char hex_digit) {
  return Address::from_hex(std::string(64, hex_digit)).value();
}

std::string without(std::string json, const std::string& field_and_value) {
  auto at = json.find(field_and_value);
  REQUIRE(at != std::string::npos);
  json.erase(at, field_and_value.size());
  return json;
}

}  // namespace

TEST_CASE("wire: node info round trip, strict on missing and mistyped fields", "[wire]") {
  NodeInfo info;
  info.chain_id = "pos-test";
  info.genesis_hash = sha256(std::string_view("genesis"));
  info.height = 42;
  info.tip = sha256(std::string_view("tip"));
  info.state_root = sha256(std::string_view("root"));
  info.slot = 99;
  info.finalized_height = 10;
  info.peers = 3;
  info.pool_size = 7;
  info.syncing = true;
  info.version = "1.2.3";
  std::string json = to_json(info);
  auto back = node_info_from_json(json);
  REQUIRE(back.ok());
  CHECK(back->chain_id == "pos-test");
  CHECK(back->genesis_hash == info.genesis_hash);
  CHECK(back->height == 42);
  CHECK(back->tip == info.tip);
  CHECK(back->slot == 99);
  CHECK(back->finalized_height == 10);
  CHECK(back->peers == 3);
  CHECK(back->pool_size == 7);
  CHECK(back->syncing);
  CHECK_FALSE(back->address.has_value());
  info.address = address_of('c');
  CHECK(node_info_from_json(to_json(info))->address == info.address);

  auto missing = node_info_from_json(without(json, "\"height\":42,"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.reason() == Reason::kMalformed);
  CHECK_THAT(missing.error().message, Catch::Contains("height"));
  std::string text_height = json;
  text_height.replace(text_height.find("\"height\":42"), 11, "\"height\":\"42\"");
  CHECK(node_info_from_json(text_height).reason() == Reason::kMalformed);
  std::string negative = json;
  negative.replace(negative.find("\"peers\":3"), 9, "\"peers\":-3");
  CHECK(node_info_from_json(negative).reason() == Reason::kMalformed);
  CHECK(node_info_from_json("[]").reason() == Reason::kMalformed);
  CHECK(node_info_from_json("{").reason() == Reason::kMalformed);
  // A field this reader does not know is a newer node's, not an error.
  std::string newer = json;
  newer.insert(1, "\"epoch\":5,");
  CHECK(node_info_from_json(newer).ok());
}

TEST_CASE("wire: accounts are read strictly and for the address asked", "[wire]") {
  Address alice = address_of('a');
  Account a{100, 25, 3, 5, 12};
  std::string json = account_to_json(alice, a);
  auto back = account_from_json(json, alice);
  REQUIRE(back.ok());
  CHECK(*back == a);
  CHECK(account_from_json(json, address_of('b')).reason() == Reason::kMalformed);
  auto missing = account_from_json(without(json, ",\"stake\":25"), alice);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("stake"));
}

TEST_CASE("wire: a transaction's status needs its block once included", "[wire]") {
  Hash id = sha256(std::string_view("tx"));
  Hash block = sha256(std::string_view("block"));
  auto pending = tx_status_from_json("{\"id\":\"" + id.hex() + "\",\"status\":\"pending\"}", id);
  REQUIRE(pending.ok());
  CHECK(pending->status == "pending");
  CHECK_FALSE(pending->height.has_value());
  auto included = tx_status_from_json("{\"id\":\"" + id.hex() +
                                          "\",\"status\":\"included\",\"height\":4,\"block\":\"" +
                                          block.hex() + "\",\"final\":false}",
                                      id);
  REQUIRE(included.ok());
  CHECK(included->height == 4u);
  CHECK(included->block == block);
  CHECK(tx_status_from_json("{\"id\":\"" + id.hex() + "\",\"status\":\"included\"}", id).reason() ==
        Reason::kMalformed);
  CHECK(tx_status_from_json("{\"id\":\"" + id.hex() + "\",\"status\":\"lost\"}", id).reason() ==
        Reason::kMalformed);
  CHECK(
      tx_status_from_json("{\"id\":\"" + block.hex() + "\",\"status\":\"pending\"}", id).reason() ==
      Reason::kMalformed);
}

TEST_CASE("wire: the peer list round trip, strict per peer", "[wire]") {
  PeerInfo p;
  p.address = "127.0.0.1:40000";
  p.listen_address = "127.0.0.1:7000";
  p.node_id = sha256(std::string_view("node"));
  p.inbound = true;
  p.best_height = 12;
  std::string json = peers_to_json({p, p});
  auto back = peers_from_json(json);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[1].listen_address == "127.0.0.1:7000");
  CHECK((*back)[1].node_id == p.node_id);
  CHECK((*back)[1].inbound);
  CHECK((*back)[1].best_height == 12);
  CHECK(peers_from_json("{\"peers\":[]}")->empty());
  auto missing = peers_from_json(without(json, ",\"inbound\":true"));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains("inbound"));
  CHECK(peers_from_json("{\"peers\":[5]}").reason() == Reason::kMalformed);
  CHECK(peers_from_json("{}").reason() == Reason::kMalformed);
}
