// Functional tests: real pos-node processes on loopback ports the tests choose, driven over RPC.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <thread>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;

namespace {

rapidjson::Document json(const RpcClient::Response& r) {
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  INFO(r.body);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

// Status and error code of a request, for the error-path table.
std::pair<int, std::string> outcome(Result<RpcClient::Response> r) {
  REQUIRE(r.ok());
  auto doc = json(*r);
  std::string code =
      doc.IsObject() && doc.HasMember("error") ? doc["error"]["code"].GetString() : "";
  return {r->status, code};
}

std::uint64_t nonce_of(RpcClient& rpc, const Wallet& w) {
  return rpc.account(w.public_key())->nonce;
}

bool included(RpcClient& rpc, const Hash& id) {
  auto s = rpc.transaction_status(id);
  return s.ok() && s->status == "included";
}

}  // namespace

TEST_CASE("bad command lines, keys, genesis files and ports: one line, exit 2, nothing written",
          "[functional][cli]") {
  TestNetwork net;
  test::TempDir work;
  auto run = [&](const std::string& args) {
    auto err = work.path() / "stderr";
    int code = test::run_command("cd " + work.path().string() + " && " + POS_NODE_BINARY + " " +
                                 args + " 2>" + err.string() + " >/dev/null");
    std::string text = test::read_text(err);
    if (code != 0) CHECK(std::count(text.begin(), text.end(), '\n') == 1);
    return std::make_pair(code, text);
  };
  std::string g = " --genesis " + net.genesis_file.string();
  CHECK(run("--bogus").first == 2);
  CHECK(run("--p2p").first == 2);
  CHECK(run("--p2p nohost" + g).first == 2);
  CHECK(run("--log-level loud" + g).first == 2);
  CHECK(run("--forge-min-peers many" + g).first == 2);
  CHECK(run("--forge-min-peers 5000" + g).first == 2);
  auto bad_checkpoint = run("--checkpoint 12" + g);
  CHECK(bad_checkpoint.first == 2);
  CHECK_THAT(bad_checkpoint.second, Catch::Contains("HEIGHT:HASH"));
  CHECK(run("--checkpoint 12:abc" + g).first == 2);
  CHECK(run("--checkpoint" + g).first == 2);
  CHECK(run("127.0.0.1 7000" + g).first == 2);
  auto removed = run("--allow-empty-blocks" + g);
  CHECK(removed.first == 2);
  CHECK_THAT(removed.second, Catch::Contains("removed in protocol v2"));
  auto missing_key = run("--key /nonexistent.pem" + g);
  CHECK(missing_key.first == 2);
  CHECK_THAT(missing_key.second, Catch::Contains("/nonexistent.pem"));
  test::write_text(work.path() / "bad.pem",
                   "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
  auto bad_key = run("--key " + (work.path() / "bad.pem").string() + g);
  CHECK(bad_key.first == 2);
  CHECK_THAT(bad_key.second, Catch::Contains("RSA"));
  auto shared_key = work.path() / "shared.pem";
  REQUIRE(net.validators[0].save(shared_key).ok());
  std::filesystem::permissions(shared_key, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  auto readable = run("--key " + shared_key.string() + g);
  CHECK(readable.first == 2);
  CHECK_THAT(readable.second, Catch::Contains("chmod 600 " + shared_key.string()));
  test::write_text(work.path() / "bad.json", "{\"chain_id\": 5}");
  auto bad_genesis = run("--genesis " + (work.path() / "bad.json").string());
  CHECK(bad_genesis.first == 2);
  CHECK_THAT(bad_genesis.second, Catch::Contains("chain_id"));
  test::write_text(work.path() / "config.json", "{\"p2p\": \"127.0.0.1:1\", \"colour\": \"red\"}");
  CHECK(run("--config " + (work.path() / "config.json").string() + g).first == 2);
  test::write_text(work.path() / "discovery.json", "{\"discovery\": \"no\"}");
  auto bad_discovery = run("--config " + (work.path() / "discovery.json").string() + g);
  CHECK(bad_discovery.first == 2);
  CHECK_THAT(bad_discovery.second, Catch::Contains("discovery"));
  test::write_text(work.path() / "checkpoint.json", "{\"checkpoint\": 12}");
  auto checkpoint_number = run("--config " + (work.path() / "checkpoint.json").string() + g);
  CHECK(checkpoint_number.first == 2);
  CHECK_THAT(checkpoint_number.second, Catch::Contains("checkpoint"));
  test::write_text(work.path() / "sync.json", "{\"sync_without_checkpoint\": \"yes\"}");
  auto sync_string = run("--config " + (work.path() / "sync.json").string() + g);
  CHECK(sync_string.first == 2);
  CHECK_THAT(sync_string.second, Catch::Contains("sync_without_checkpoint"));
  test::write_text(work.path() / "empty.json", "{\"allow_empty_blocks\": true}");
  auto removed_key = run("--config " + (work.path() / "empty.json").string() + g);
  CHECK(removed_key.first == 2);
  CHECK_THAT(removed_key.second, Catch::Contains("removed in protocol v2"));

  NodeProcess busy(net, "busy", {});
  auto in_use = run("--p2p " + busy.p2p_address() + " --rpc 127.0.0.1:0" + g);
  CHECK(in_use.first == 2);
  CHECK_THAT(in_use.second, Catch::Contains("in use"));
  CHECK_FALSE(std::filesystem::exists(work.path() / "pos-data"));
  auto no_ports_file =
      run("--p2p 127.0.0.1:0 --rpc 127.0.0.1:0 --ports-file /nonexistent/ports" + g);
  CHECK(no_ports_file.first == 2);
  CHECK_THAT(no_ports_file.second, Catch::Contains("ports file"));
  CHECK(run("--ports-file").first == 2);
  CHECK_FALSE(std::filesystem::exists(work.path() / "pos-data"));
  CHECK(run("--help").first == 0);
  CHECK(run("--version").first == 0);
}

TEST_CASE("every route answers, and every error path gives its status and code, changing nothing",
          "[functional][rpc]") {
  TestNetwork net;
  NodeProcess node(net, "a", {"--key", net.key_file(0).string()});
  RpcClient& rpc = node.rpc();
  const Wallet& alice = net.users[0];
  const Wallet& bob = net.users[1];

  auto info = rpc.info();
  REQUIRE(info.ok());
  CHECK(info->chain_id == "pos-functional");
  CHECK(info->genesis_hash == net.genesis.hash());
  CHECK(info->address == net.validators[0].public_key());
  auto health = rpc.get("/health");
  CHECK(health->status == 200);
  auto metrics = rpc.get("/metrics");
  CHECK(metrics->status == 200);
  CHECK_THAT(metrics->body, Catch::Contains("pos_height"));
  CHECK(info->epoch == std::optional<std::uint64_t>(info->slot / net.genesis.params.epoch_slots));
  for (const char* name :
       {"pos_justified_height gauge", "pos_vote_pool_size gauge", "pos_votes_cast_total counter",
        "pos_votes_received_total counter", "pos_banned_peers gauge",
        "pos_event_loop_cpu_seconds_total counter", "pos_signatures_checked_total counter",
        "pos_signature_cache_hits_total counter"})
    CHECK_THAT(metrics->body, Catch::Contains(std::string("# TYPE ") + name + "\n"));
  // Both checkpoints of /finality are blocks of the node's chain (one node: no reorganisation).
  auto finality = rpc.finality();
  REQUIRE(finality.ok());
  for (const auto& checkpoint : {finality->justified, finality->finalized}) {
    auto at = rpc.block(checkpoint.height);
    REQUIRE(at.ok());
    CHECK((*at)->hash() == checkpoint.hash);
  }

  // A transfer: 202 with its id, pending, then included (validator 0 leads a third of the slots).
  auto tx = alice.transfer(net.genesis.params.chain_id, bob.public_key(), 10, 1, 0, 1);
  auto id = rpc.submit(*tx);
  REQUIRE(id.ok());
  CHECK(*id == tx->id());
  auto status = rpc.transaction_status(tx->id());
  REQUIRE(status.ok());
  CHECK((status->status == "pending" || status->status == "included"));
  REQUIRE(eventually([&] { return included(rpc, tx->id()); }, 30));
  status = rpc.transaction_status(tx->id());
  REQUIRE(status->height.has_value());
  auto block = rpc.block(*status->height);
  REQUIRE(block.ok());
  CHECK((*block)->hash() == *status->block);
  CHECK(rpc.account(bob.public_key())->balance == 100'010);

  // The wrapped form {"transaction": {...}} is accepted too.
  auto tx2 = alice.transfer(net.genesis.params.chain_id, bob.public_key(), 1, 1, 1, 2);
  auto wrapped = rpc.post("/transaction", "{\"transaction\":" + to_json(*tx2, false) + "}");
  CHECK(wrapped->status == 202);

  // Batches answer per item.
  auto tx3 = alice.transfer(net.genesis.params.chain_id, bob.public_key(), 1, 1, 2, 3);
  auto stale = alice.transfer(net.genesis.params.chain_id, bob.public_key(), 1, 1, 0, 4);
  auto batch = rpc.submit_batch({tx3, stale});
  REQUIRE(batch.ok());
  REQUIRE(batch->size() == 2);
  CHECK((*batch)[0].ok());
  CHECK((*batch)[1].reason() == Reason::kStaleNonce);

  // Pages, blocks, stakers, peers, pool.
  auto page = rpc.get("/blockchain?from=0&limit=2");
  REQUIRE(page->status == 200);
  CHECK(json(*page)["blocks"].Size() >= 1);
  auto big_page = rpc.get("/blocks?from=0&limit=100000");
  REQUIRE(big_page->status == 200);
  CHECK(json(*big_page)["blocks"].Size() <= 100);
  CHECK(rpc.get("/blocks/0")->status == 200);
  CHECK(rpc.get("/blocks/" + net.genesis.hash().hex())->status == 200);
  auto stakers = rpc.get("/stakers");
  CHECK(json(*stakers)["stakers"].Size() == 3);
  CHECK(rpc.get("/peers")->status == 200);
  CHECK(rpc.get("/transactionPool")->status == 200);
  CHECK(json(*rpc.get("/transactions/" + std::string(64, 'a')))["status"] == "unknown");

  // Error paths.
  std::uint64_t pool_before = json(*rpc.get("/transactionPool"))["size"].GetUint64();
  auto fresh = alice.transfer(net.genesis.params.chain_id, bob.public_key(), 1, 1, 60, 6);
  Signature bad = fresh->signature();
  bad.bytes[0] ^= 1;
  auto forged = Transaction::make(fresh->fields(), bad);
  std::string valid =
      to_json(*alice.transfer(net.genesis.params.chain_id, bob.public_key(), 1, 1, 50, 5), false);
  std::string wrong_type = valid;
  wrong_type.replace(wrong_type.find("\"fee\":1"), 7, "\"fee\":\"1\"");
  struct Case {
    std::string what;
    Result<RpcClient::Response> response;
    int status;
    std::string code;
  };
  std::vector<Case> cases;
  cases.push_back({"malformed JSON", rpc.post("/transaction", "{\"type\":"), 400, "malformed"});
  cases.push_back({"wrong field type", rpc.post("/transaction", wrong_type), 400, "malformed"});
  cases.push_back(
      {"bad signature", rpc.post("/transaction", to_json(*forged, false)), 400, "bad_signature"});
  cases.push_back(
      {"stale nonce", rpc.post("/transaction", to_json(*stale, false)), 409, "stale_nonce"});
  cases.push_back({"duplicate", rpc.post("/transaction", to_json(*tx3, false)), 409, "duplicate"});
  cases.push_back({"batch not an array", rpc.post("/transactions", "{}"), 400, "malformed"});
  cases.push_back({"bad address", rpc.get("/accounts/xyz"), 400, "invalid_argument"});
  cases.push_back({"upper-case address", rpc.get("/accounts/" + std::string(64, 'A')), 400,
                   "invalid_argument"});
  cases.push_back({"bad transaction id", rpc.get("/transactions/123"), 400, "invalid_argument"});
  cases.push_back({"bad block id", rpc.get("/blocks/xyz"), 400, "invalid_argument"});
  cases.push_back({"no such block", rpc.get("/blocks/999999"), 404, "not_found"});
  cases.push_back({"page beyond the tip", rpc.get("/blockchain?from=999999"), 404, "not_found"});
  cases.push_back({"bad page parameter", rpc.get("/blocks?from=abc"), 400, "invalid_argument"});
  cases.push_back({"unknown route", rpc.get("/nothing/here"), 404, "not_found"});
  cases.push_back({"wrong method", rpc.post("/info", "{}"), 404, "not_found"});
  cases.push_back({"wrong method on /finality", rpc.post("/finality", "{}"), 404, "not_found"});
  cases.push_back({"oversized body", rpc.post("/transaction", std::string(2 << 20, ' ')), 413,
                   "payload_too_large"});
  for (auto& c : cases) {
    INFO(c.what);
    auto [got_status, got_code] = outcome(std::move(c.response));
    CHECK(got_status == c.status);
    CHECK(got_code == c.code);
  }
  CHECK(json(*rpc.get("/transactionPool"))["size"].GetUint64() <= pool_before);
  CHECK(rpc.get("/health")->status == 200);
}

TEST_CASE(
    "three nodes: a transaction sent to any of them is in a block on all three within "
    "three slots, and they agree",
    "[functional][network]") {
  TestNetwork net;
  NodeProcess a(net, "a", {"--key", net.key_file(0).string()});
  NodeProcess b(net, "b", {"--key", net.key_file(1).string(), "--peer", a.p2p_address()});
  NodeProcess c(net, "c", {"--key", net.key_file(2).string(), "--peer", a.p2p_address()});
  std::vector<NodeProcess*> nodes = {&a, &b, &c};
  REQUIRE(eventually([&] {
    for (auto* n : nodes)
      if (n->rpc().info()->peers != 2) return false;
    return true;
  }));
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const Wallet& user = net.users[i];
    auto tx = user.transfer(net.genesis.params.chain_id, net.users[3].public_key(), 5, 1,
                            nonce_of(nodes[i]->rpc(), user), 1);
    std::uint64_t submitted_slot = net.slot_now();
    REQUIRE(nodes[i]->rpc().submit(*tx).ok());
    REQUIRE(eventually([&] {
      for (auto* n : nodes)
        if (!included(n->rpc(), tx->id())) return false;
      return true;
    }));
    auto where = a.rpc().transaction_status(tx->id());
    auto block = a.rpc().block(*where->height);
    REQUIRE(block.ok());
    INFO("submitted in slot " << submitted_slot << ", included in slot " << (*block)->slot());
    CHECK((*block)->slot() <= submitted_slot + 3);
  }
  REQUIRE(eventually([&] {
    auto ia = a.rpc().info(), ib = b.rpc().info(), ic = c.rpc().info();
    return ia->tip == ib->tip && ib->tip == ic->tip && ia->state_root == ic->state_root;
  }));

  // All three validators vote: the votes in the chain justify a block above genesis, and each
  // node's /finality names blocks of its chain, the justified one never below the finalized.
  REQUIRE(eventually([&] {
    for (auto* n : nodes) {
      auto f = n->rpc().finality();
      if (!f.ok() || f->justified.height == 0) return false;
    }
    return true;
  }));
  for (auto* n : nodes) {
    auto f = n->rpc().finality();
    REQUIRE(f.ok());
    CHECK(f->justified.height >= f->finalized.height);
    auto finalized = n->rpc().block(f->finalized.height);
    REQUIRE(finalized.ok());
    CHECK((*finalized)->hash() == f->finalized.hash);
    auto info = n->rpc().info();
    REQUIRE(info.ok());
    CHECK(info->justified_height >= f->justified.height);
    CHECK(info->finalized_height >= f->finalized.height);
  }
}

TEST_CASE("stopping a leader does not stop the chain; pending transactions get included",
          "[functional][network]") {
  TestNetwork net;
  NodeProcess a(net, "a", {"--key", net.key_file(0).string()});
  NodeProcess b(net, "b", {"--key", net.key_file(1).string(), "--peer", a.p2p_address()});
  NodeProcess c(net, "c", {"--key", net.key_file(2).string(), "--peer", a.p2p_address()});
  REQUIRE(eventually([&] { return b.rpc().info()->peers == 2 && c.rpc().info()->peers == 2; }));
  a.stop();
  std::uint64_t height = b.rpc().info()->height;
  std::vector<Hash> ids;
  for (int i = 0; i < 3; ++i) {
    auto tx = net.users[0].transfer(net.genesis.params.chain_id, net.users[1].public_key(), 1, 1,
                                    nonce_of(b.rpc(), net.users[0]) + static_cast<std::uint64_t>(i),
                                    static_cast<std::uint64_t>(i));
    REQUIRE(b.rpc().submit(*tx).ok());
    ids.push_back(tx->id());
  }
  CHECK(eventually([&] { return b.rpc().info()->height >= height + 5; }, 30));
  for (const auto& id : ids) CHECK(eventually([&] { return included(c.rpc(), id); }, 30));
}

TEST_CASE(
    "a checkpoint (pos-node --checkpoint): the node syncs only the chain through that block, "
    "and refuses to start on a data dir that followed another",
    "[functional][checkpoint]") {
  TestNetwork net;
  NodeProcess v(net, "v", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return v.rpc().info()->height >= 3; }, 30));
  auto block2 = v.rpc().block(2);
  REQUIRE(block2.ok());
  const std::string good = "2:" + (*block2)->hash().hex();
  const std::string other = "2:" + std::string(64, 'a');

  NodeProcess trusting(net, "trusting", {"--peer", v.p2p_address(), "--checkpoint", good});
  NodeProcess misled(net, "misled", {"--peer", v.p2p_address(), "--checkpoint", other});
  std::uint64_t target = v.rpc().info()->height;
  REQUIRE(eventually([&] { return trusting.rpc().info()->height >= target; }, 30));
  // By now the other has been offered the same blocks: it took none from height 2 on.
  REQUIRE(eventually([&] { return misled.rpc().info()->height >= 1; }));
  CHECK(misled.rpc().info()->height == 1);
  CHECK(misled.rpc().block(1).ok());

  trusting.stop();
  auto [code, text] = run_pos_node({"--genesis", net.genesis_file.string(), "--data-dir",
                                    trusting.data_dir().string(), "--p2p", "127.0.0.1:0", "--rpc",
                                    "127.0.0.1:0", "--checkpoint", other});
  CHECK(code == 2);
  CHECK_THAT(text, Catch::Contains("followed another chain"));
  // Nothing changed: it starts again with the right checkpoint at the height it had.
  trusting.set_args({"--peer", v.p2p_address(), "--checkpoint", good});
  trusting.start();
  CHECK(trusting.rpc().info()->height >= target);
}

TEST_CASE(
    "weak subjectivity: a node whose finalized block is older than the period takes no peer's "
    "block until a newer checkpoint or --sync-without-checkpoint, and refuses again after an "
    "absence",
    "[functional][checkpoint]") {
  // One validator with all the stake finalizes alone. The period: 5 epochs of 8 slots of 150 ms
  // (6 s); the genesis is 500 slots old, so a new node starts with an old finalized block.
  TestNetwork net(150, 1, 0, 8);
  net.genesis.params.genesis_time_ms -= 500 * 150;
  net.genesis = Genesis::parse(net.genesis.to_json()).value();
  test::write_text(net.genesis_file, net.genesis.to_json());
  NodeProcess v(net, "v", {"--key", net.key_file(0).string()});
  REQUIRE(eventually([&] { return v.rpc().finality()->finalized.height >= 2; }, 30));
  auto health = [](NodeProcess& node) {
    auto reply = node.rpc().get("/health");
    REQUIRE(reply.ok());
    auto doc = json(*reply);
    CHECK(doc["checkpoint_required"].GetBool() == (doc["status"] == "checkpoint_required"));
    return std::string(doc["status"].GetString());
  };
  CHECK(health(v) == "ok");  // it refused at its start, until its own votes finalized a block
  CHECK_THAT(v.log(), Catch::Contains("this node's own votes finalized a block"));

  NodeProcess fresh(net, "fresh", {"--peer", v.p2p_address()});
  REQUIRE(eventually([&] { return fresh.rpc().info()->peers == 1; }));
  CHECK(health(fresh) == "checkpoint_required");
  CHECK_THAT(fresh.log(), Catch::Contains("refusing peers' blocks"));
  std::uint64_t seen = v.rpc().info()->height;
  REQUIRE(eventually([&] { return v.rpc().info()->height >= seen + 3; }, 30));
  CHECK(fresh.rpc().info()->height == 0);  // offered every block, took none
  auto metrics = fresh.rpc().get("/metrics");
  CHECK_THAT(metrics->body, Catch::Contains("pos_checkpoint_required 1"));

  // A checkpoint from the validator (a node its operator trusts): it syncs.
  auto finalized = v.rpc().finality()->finalized;
  fresh.stop();
  fresh.set_args({"--peer", v.p2p_address(), "--checkpoint",
                  std::to_string(finalized.height) + ":" + finalized.hash.hex()});
  fresh.start();
  REQUIRE(eventually([&] { return fresh.rpc().info()->height > finalized.height; }, 30));
  CHECK(health(fresh) == "ok");

  // The validator stops for longer than the period: the follower's finalized block grows old
  // with no peer's block coming, and it refuses again, also once the validator is back.
  v.stop();
  REQUIRE(eventually([&] { return health(fresh) == "checkpoint_required"; }, 30));
  std::uint64_t held = fresh.rpc().info()->height;
  v.start();
  REQUIRE(eventually([&] { return fresh.rpc().info()->peers == 1; }, 30));
  seen = v.rpc().info()->height;
  REQUIRE(eventually([&] { return v.rpc().info()->height >= seen + 3; }, 30));
  CHECK(fresh.rpc().info()->height == held);

  // The same checkpoint again is no way back: it is below the node's finalized block now.
  fresh.stop();
  fresh.start();
  CHECK(health(fresh) == "checkpoint_required");
  CHECK_THAT(fresh.log(), Catch::Contains("is not above this node's finalized block"));

  // --sync-without-checkpoint trusts the peers instead.
  fresh.stop();
  fresh.set_args({"--peer", v.p2p_address(), "--sync-without-checkpoint"});
  fresh.start();
  seen = v.rpc().info()->height;
  REQUIRE(eventually([&] { return fresh.rpc().info()->height >= seen; }, 30));
  CHECK(health(fresh) == "ok");
}

TEST_CASE("a graceful stop and restart keeps the pool", "[functional][pool]") {
  TestNetwork net;
  NodeProcess watcher(net, "watcher", {});  // no key: never forges, so the pool stays
  auto tx =
      net.users[0].transfer(net.genesis.params.chain_id, net.users[1].public_key(), 3, 1, 0, 9);
  REQUIRE(watcher.rpc().submit(*tx).ok());
  watcher.stop();
  CHECK_THAT(watcher.log(), Catch::Contains("saved the pool transactions=1"));
  watcher.start();
  auto status = watcher.rpc().transaction_status(tx->id());
  REQUIRE(status.ok());
  CHECK(status->status == "pending");
}

TEST_CASE(
    "SIGKILL of a node under a stream of transactions, then restart: it catches up and "
    "every accepted transaction is included",
    "[functional][network][crash]") {
  TestNetwork net;
  NodeProcess a(net, "a", {"--key", net.key_file(0).string()});
  NodeProcess b(net, "b", {"--key", net.key_file(1).string(), "--peer", a.p2p_address()});
  NodeProcess c(
      net, "c",
      {"--key", net.key_file(2).string(), "--peer", a.p2p_address(), "--peer", b.p2p_address()});
  REQUIRE(eventually([&] { return c.rpc().info()->peers == 2 && a.rpc().info()->peers == 2; }));
  std::vector<Hash> accepted;
  std::map<std::size_t, std::uint64_t> nonces;
  for (int i = 0; i < 60; ++i) {
    std::size_t u = static_cast<std::size_t>(i) % 3;
    NodeProcess& target = (i % 2 == 0) ? b : c;
    auto [it, fresh] = nonces.try_emplace(u, 0);
    auto tx = net.users[u].transfer(net.genesis.params.chain_id, net.users[3].public_key(), 1, 1,
                                    it->second, static_cast<std::uint64_t>(i));
    auto verdict = target.rpc().submit(*tx);
    if (verdict.ok()) {
      accepted.push_back(tx->id());
      ++it->second;
    }
    if (i == 20) a.kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  a.start();
  REQUIRE(eventually(
      [&] {
        auto ia = a.rpc().info(), ib = b.rpc().info();
        return ia.ok() && ib.ok() && ia->height >= ib->height && ib->height > 0;
      },
      30));
  for (const auto& id : accepted) CHECK(eventually([&] { return included(b.rpc(), id); }, 30));
  CHECK(accepted.size() >= 50);
  REQUIRE(eventually([&] { return a.rpc().info()->tip == b.rpc().info()->tip; }, 30));
  CHECK(a.rpc().info()->state_root == b.rpc().info()->state_root);
}
