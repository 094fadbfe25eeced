// Evidence with real pos-node processes: a node shown two blocks signed by one validator for one
// slot takes both, stays up and serves the proof at GET /evidence; a validator key run in two
// processes is slashed on every node while the network stays one chain and keeps finalizing.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "../unit/peer_test_support.h"
#include "node_process.h"

using namespace pos;
using namespace pos::functional;

TEST_CASE("a double block reaches GET /evidence as a proof anyone can check",
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
    return !doc.HasParseError() && doc["pending"].Size() == 1;
  }));
  // The proof checks out from the JSON alone: both signed headers under the forger's key.
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  doc["pending"][0].Accept(w);
  auto evidence = evidence_from_json(std::string(buffer.GetString(), buffer.GetSize()));
  REQUIRE(evidence.ok());
  CHECK((*evidence)->kind() == EvidenceKind::kDoubleBlock);
  CHECK((*evidence)->offender() == forger->public_key());
  CHECK((*evidence)->check(net.genesis.params.chain_id).ok());
  // Both blocks are valid: fork choice keeps one of them.
  auto tip = node.rpc().info()->tip;
  CHECK((tip == first->hash() || tip == second->hash()));
  CHECK(node.rpc().get("/health")->status == 200);
}

TEST_CASE(
    "two processes with one validator key: one chain, the offender slashed everywhere, "
    "finality goes on",
    "[functional][finality][evidence][slashing]") {
  TestNetwork net(500, 4);
  std::vector<std::unique_ptr<NodeProcess>> nodes = start_validators(net, 3);
  // An operator's hot standby: validator 3's key in two processes, each with its own data dir
  // and signing-state. One runs with the network, the other cut off from it, so that both sign
  // blocks for validator 3's slots on their own chains. On a shared link the first block of a
  // slot usually reaches the other process before its own tick, hiding the double signing.
  std::vector<std::string> twin_args = {"--key", net.key_file(3).string()};
  for (auto& n : nodes) {
    twin_args.push_back("--peer");
    twin_args.push_back(n->p2p_address());
  }
  nodes.push_back(std::make_unique<NodeProcess>(net, "v3-twin", twin_args));
  nodes.push_back(std::make_unique<NodeProcess>(
      net, "v3", std::vector<std::string>{"--key", net.key_file(3).string()}));
  NodeProcess& alone = *nodes.back();
  const Address offender = net.validators[3].public_key();
  // Both sides signed a few blocks of validator 3's slots.
  REQUIRE(eventually([&] { return alone.rpc().info()->height >= 3; }, 60));
  REQUIRE(eventually([&] { return nodes[0]->rpc().info()->finalized_height >= 6; }, 60));
  alone.stop();
  alone.set_args({"--key", net.key_file(3).string(), "--peer", nodes[0]->p2p_address()});
  alone.start();

  auto slashed_on = [&](NodeProcess& n) {
    auto account = n.rpc().account(offender);
    return account.ok() && account->slashed && account->stake == 0;
  };
  for (auto& n : nodes)
    if (!eventually([&] { return slashed_on(*n); }, 60)) FAIL(n->log());

  // The evidence is in a main-chain block, and every node holds the same chain: finality goes
  // on past the slashing, to the same block everywhere.
  std::uint64_t after = nodes[0]->rpc().info()->height;
  for (auto& n : nodes)
    REQUIRE(eventually([&] { return n->rpc().info()->finalized_height > after; }, 60));
  std::uint64_t common = UINT64_MAX;
  for (auto& n : nodes) common = std::min(common, n->rpc().info()->finalized_height);
  auto expected = nodes[0]->rpc().block(common);
  REQUIRE(expected.ok());
  for (auto& n : nodes) {
    auto block = n->rpc().block(common);
    REQUIRE(block.ok());
    CHECK((*block)->hash() == (*expected)->hash());
  }
  bool included = false;
  for (std::uint64_t h = 1; h <= common && !included; ++h) {
    auto block = nodes[0]->rpc().block(h);
    REQUIRE(block.ok());
    for (const auto& e : (*block)->evidence()) included |= e->offender() == offender;
  }
  CHECK(included);
  for (auto& n : nodes) CHECK(n->rpc().get("/health")->status == 200);
}
