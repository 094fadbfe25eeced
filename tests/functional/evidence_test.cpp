// A real pos-node shown two blocks signed by one validator for one slot: it keeps the first,
// stays up, and serves the proof at GET /evidence.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "../unit/peer_test_support.h"
#include "node_process.h"

using namespace pos;
using namespace pos::functional;

TEST_CASE("equivocation reaches GET /evidence as a proof anyone can check",
          "[functional][rpc][adversary]") {
  TestNetwork net(1000);
  NodeProcess node(net, "watcher", {});  // no key and no peers: it stays at genesis until told
  SystemClock clock;
  MemoryStorage storage;
  auto local = Blockchain::open(net.genesis, storage, clock).value();
  std::uint64_t slot = net.slot_now();
  auto leader = local->leader(slot);
  REQUIRE(leader);
  const Wallet* forger = nullptr;
  for (const auto& v : net.validators)
    if (v.public_key() == *leader) forger = &v;
  REQUIRE(forger != nullptr);
  TransactionPool empty(net.genesis.params);
  std::uint64_t start = net.genesis.params.slot_start_ms(slot);
  BlockPtr first = local->forge(forger->secret_key(), slot, empty, start + 1).value();
  BlockPtr second = local->forge(forger->secret_key(), slot, empty, start + 2).value();
  REQUIRE(first->hash() != second->hash());

  test::RawPeer peer(node.p2p_port());
  p2p::Hello hello;
  hello.chain_id = net.genesis.params.chain_id;
  hello.genesis_hash = net.genesis.hash();
  hello.node_id.bytes[0] = 0x77;
  hello.best_hash = net.genesis.hash();
  peer.send(hello);
  peer.send(p2p::NewBlock{first});
  REQUIRE(eventually([&] { return node.rpc().info()->tip == first->hash(); }));
  peer.send(p2p::NewBlock{second});

  rapidjson::Document doc;
  REQUIRE(eventually([&] {
    auto r = node.rpc().get("/evidence");
    if (!r.ok() || r->status != 200) return false;
    doc.Parse(r->body.c_str());
    return !doc.HasParseError() && doc["evidence"].Size() == 1;
  }));
  const auto& e = doc["evidence"][0];
  CHECK(e["forger"] == forger->public_key().hex().c_str());
  CHECK(e["slot"].GetUint64() == slot);
  CHECK(e["first"]["hash"] == first->hash().hex().c_str());
  CHECK(e["second"]["hash"] == second->hash().hex().c_str());
  // The proof checks out from the JSON alone: each header's signature over its signing bytes.
  for (const char* which : {"first", "second"}) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    e[which].Accept(w);
    std::string json(buffer.GetString(), buffer.GetSize());
    json.insert(json.size() - 1, ",\"transactions\":[],\"votes\":[],\"evidence\":[]");
    auto block = block_from_json(json, net.genesis.params.chain_id);
    REQUIRE(block.ok());
    CHECK(verify((*block)->forger(), (*block)->header().signing_bytes(), (*block)->signature()));
  }
  CHECK(node.rpc().info()->tip == first->hash());
  CHECK(node.rpc().get("/health")->status == 200);
}
