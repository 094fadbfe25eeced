#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

// Every (address, position) -> id that the main chain implies, read back from the blocks.
std::map<std::pair<Address, TxPosition>, Hash> expected_history(const Blockchain& chain) {
  std::map<std::pair<Address, TxPosition>, Hash> out;
  for (std::uint64_t h = 0; h <= chain.height(); ++h) {
    BlockPtr block = chain.block_at(h);
    const auto& txs = block->transactions();
    for (std::size_t i = 0; i < txs.size(); ++i)
      for (const Address& party : txs[i]->parties())
        out[{party, TxPosition{h, static_cast<std::uint32_t>(i)}}] = txs[i]->id();
  }
  return out;
}

// The same, from the store's history of each address, walked page by page.
std::map<std::pair<Address, TxPosition>, Hash> stored_history(const Blockchain& chain,
                                                              const std::set<Address>& addresses,
                                                              std::size_t page) {
  std::map<std::pair<Address, TxPosition>, Hash> out;
  for (const Address& address : addresses) {
    std::optional<TxPosition> before;
    for (;;) {
      auto entries = chain.address_history(address, before, page);
      for (std::size_t i = 1; i < entries.size(); ++i)
        REQUIRE(entries[i].position < entries[i - 1].position);  // newest first
      for (const auto& e : entries) out[{address, e.position}] = e.tx_id;
      if (entries.size() < page) break;
      before = entries.back().position;
    }
  }
  return out;
}

std::set<Address> everyone(const TestNet& net) {
  std::set<Address> out;
  for (const auto* group : {&net.validators, &net.users})
    for (const auto& w : *group) out.insert(w.public_key());
  return out;
}

void transfers(TestNet& net, int blocks) {
  for (int i = 0; i < blocks; ++i) {
    for (std::size_t u = 0; u < net.users.size(); ++u) {
      const Wallet& from = net.users[u];
      const Wallet& to = net.users[(u + 1) % net.users.size()];
      auto tx = i % 4 == 3 ? from.stake(net.chain_id(), 2, 1, net.nonce_of(from), 1)
                           : from.transfer(net.chain_id(), to.public_key(), 3, 1,
                                           net.nonce_of(from), static_cast<std::uint64_t>(i));
      REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
    }
    net.advance();
  }
}

NetOptions options_for(bool lmdb, const TempDir& dir) {
  NetOptions o;
  o.users = 3;
  if (lmdb) o.data_dir = dir.path() / "data";
  return o;
}

}  // namespace

TEST_CASE("each address's history lists exactly its main-chain transactions, newest first",
          "[store][history]") {
  bool lmdb = GENERATE(false, true);
  CAPTURE(lmdb);
  TempDir dir;
  TestNet net(options_for(lmdb, dir));
  transfers(net, 12);
  auto expected = expected_history(*net.chain);
  REQUIRE(expected.size() > 50);
  CHECK(stored_history(*net.chain, everyone(net), 5) == expected);
  CHECK(stored_history(*net.chain, everyone(net), 1000) == expected);

  const Address& alice = net.users[0].public_key();
  auto newest = net.chain->address_history(alice, std::nullopt, 1);
  REQUIRE(newest.size() == 1);
  CHECK(newest[0].position.height == net.chain->height());
  CHECK(net.chain->address_history(alice, TxPosition{0, 0}, 10).empty());
  CHECK(net.chain->address_history(alice, std::nullopt, 0).empty());
  Address stranger;
  stranger.bytes.fill(0x77);
  CHECK(net.chain->address_history(stranger, std::nullopt, 10).empty());
  if (lmdb) {
    net.restart();
    CHECK(stored_history(*net.chain, everyone(net), 7) == expected);
  }
}

TEST_CASE("a reorganisation takes the losing branch's transactions out of the history",
          "[store][history][reorg]") {
  bool lmdb = GENERATE(false, true);
  CAPTURE(lmdb);
  TempDir dir;
  NetOptions in_memory = options_for(false, dir);
  TestNet a(options_for(lmdb, dir));
  TestNet rival(in_memory);
  BlockPtr a1 = a.advance();
  rival.clock.set(a.clock.now_ms());
  REQUIRE(rival.chain->apply(a1).ok());
  // a's own branch: one block carrying alice's transfer; the rival's: two empty blocks.
  const Wallet& alice = a.users[0];
  REQUIRE(a.pool
              .add(alice.transfer(a.chain_id(), a.users[1].public_key(), 9, 1, 0, 1),
                   a.chain->state(), a.now())
              .ok());
  BlockPtr a2 = a.advance();
  REQUIRE(a2->transactions().size() == 1);
  REQUIRE(a.chain->address_history(alice.public_key(), std::nullopt, 10).size() == 1);
  // In later slots, so that no forger signs two blocks for one slot.
  BlockPtr r2 = rival.advance(a2->slot());
  BlockPtr r3 = rival.advance();
  a.clock.set(rival.clock.now_ms());
  REQUIRE(a.chain->apply(r2).ok());
  REQUIRE(a.chain->apply(r3).ok());
  REQUIRE(a.chain->tip_hash() == r3->hash());
  CHECK(a.chain->address_history(alice.public_key(), std::nullopt, 10).empty());
  CHECK(a.chain->address_history(a.users[1].public_key(), std::nullopt, 10).empty());
  CHECK(stored_history(*a.chain, everyone(a), 10) == expected_history(*a.chain));
}
