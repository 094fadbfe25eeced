#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

TEST_CASE("transactions and blocks round-trip through their binary form", "[codec]") {
  TestNet net;
  for (int i = 0; i < 3; ++i) {
    auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 5, 1,
                                    static_cast<std::uint64_t>(i), 7);
    REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
  }
  BlockPtr block = net.forge(net.next_slot(0));
  Bytes bytes = encode(*block);
  CHECK(bytes.size() == block->encoded_size());
  auto back = decode_block(bytes);
  REQUIRE(back.ok());
  CHECK((*back)->hash() == block->hash());
  CHECK((*back)->signature() == block->signature());
  REQUIRE((*back)->transactions().size() == 3);
  CHECK((*back)->check_body().ok());
  CHECK((*back)->check_signature().ok());
  const auto& tx = block->transactions()[1];
  auto tx_back = decode_transaction(encode(*tx));
  REQUIRE(tx_back.ok());
  CHECK((*tx_back)->id() == tx->id());
  CHECK((*tx_back)->signature() == tx->signature());
  auto genesis = decode_block(encode(*net.genesis.block()));
  REQUIRE(genesis.ok());
  CHECK((*genesis)->hash() == net.genesis.hash());
}

TEST_CASE("binary decoding refuses every truncation, trailing bytes and bad tags", "[codec]") {
  TestNet net;
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 5, 1, 0, 7);
  REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
  Bytes bytes = encode(*net.forge(net.next_slot(0)));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto cut = decode_block(ByteView(bytes.data(), n));
    REQUIRE_FALSE(cut.ok());
  }
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK(decode_block(longer).reason() == Reason::kMalformed);
  Bytes bad_tag = bytes;
  bad_tag[0] = 'x';
  CHECK(decode_block(bad_tag).reason() == Reason::kMalformed);
  Bytes tx_bytes = encode(*tx);
  tx_bytes[9 + 2 + net.chain_id().size()] = 9;  // the type byte
  CHECK(decode_transaction(tx_bytes).reason() == Reason::kUnknownType);
  // A header claiming more transactions than the limit is refused before any allocation.
  BlockHeader h = net.genesis.block()->header();
  h.tx_count = 0xffffffff;
  Bytes huge = h.signing_bytes();
  huge.resize(huge.size() + 64);
  CHECK(decode_block(huge).reason() == Reason::kTooManyTransactions);
}
