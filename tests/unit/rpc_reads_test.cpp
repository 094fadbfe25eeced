// The RPC server reads the stored chain and the published status without waiting for the
// node's event loop: with the loop held busy (as a long sync would), GETs still answer.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <future>
#include <thread>

#include "peer_test_support.h"
#include "pos/rpc_client.h"
#include "pos/rpc_server.h"

using namespace pos;
using namespace pos::test;

namespace {

// An RPC server on a port the system picks, for `node`, and a client of it.
struct Rpc {
  std::unique_ptr<RpcServer> server;
  std::unique_ptr<RpcClient> client;

  explicit Rpc(PeerNode& node, RpcIdentity identity = RpcIdentity{"test", std::nullopt}) {
    RpcOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    auto started = RpcServer::start(node, options, std::move(identity));
    REQUIRE(started.ok());
    server = std::move(*started);
    client =
        std::make_unique<RpcClient>("http://127.0.0.1:" + std::to_string(server->port()), 5000);
  }
};

// Holds the node's event loop busy, as a long sync would, from construction until release().
class LoopHold {
 public:
  explicit LoopHold(PeerNode& node)
      : released_(release_.get_future().share()), thread_([this, &node] {
          node.inspect([this](const Blockchain&, const TransactionPool&) {
            busy_ = true;
            released_.wait();
          });
        }) {
    REQUIRE(eventually([&] { return busy_.load(); }));
  }
  ~LoopHold() { release(); }
  void release() {
    if (!thread_.joinable()) return;
    release_.set_value();
    thread_.join();
  }

 private:
  std::atomic<bool> busy_{false};
  std::promise<void> release_;
  std::shared_future<void> released_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("RPC reads answer while the event loop is busy; writes wait for it", "[rpc][node]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  BlockPtr block = f.forge(a);
  Rpc rpc(a);
  RpcClient& client = *rpc.client;

  LoopHold hold(a);

  auto info = client.get("/info");
  REQUIRE(info.ok());
  CHECK(info->status == 200);
  CHECK_THAT(info->body, Catch::Contains("\"tip\":\"" + block->hash().hex() + "\""));
  auto by_height = client.get("/blocks/1");
  REQUIRE(by_height.ok());
  CHECK(by_height->status == 200);
  CHECK_THAT(by_height->body, Catch::Contains(block->hash().hex()));
  auto by_hash = client.get("/blocks/" + block->hash().hex());
  REQUIRE(by_hash.ok());
  CHECK(by_hash->status == 200);
  auto page = client.get("/blocks?from=0&limit=5");
  REQUIRE(page.ok());
  CHECK(page->status == 200);
  auto account = client.get("/accounts/" + f.keys.users[0].public_key().hex());
  REQUIRE(account.ok());
  CHECK(account->status == 200);
  CHECK_THAT(account->body, Catch::Contains("\"balance\":1000"));
  auto peers = client.peers();
  REQUIRE(peers.ok());
  CHECK(peers->empty());
  auto stakers = client.get("/stakers");
  REQUIRE(stakers.ok());
  CHECK(stakers->status == 200);
  auto missing = client.get("/blocks/2");
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);

  // A write waits for the loop: it is answered once the loop is free again.
  auto tx = f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1, 0, 1);
  std::future<Status> submitted = std::async(std::launch::async, [&] { return a.submit(tx); });
  CHECK(submitted.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready);
  hold.release();
  CHECK(submitted.get().ok());
  auto status = client.get("/transactions/" + tx->id().hex());
  REQUIRE(status.ok());
  CHECK_THAT(status->body, Catch::Contains("\"status\":\"pending\""));
}

TEST_CASE("RPC reads of the pool answer while the event loop is busy", "[rpc][node][pool]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  Rpc rpc(a);
  RpcClient& client = *rpc.client;
  const Wallet& alice = f.keys.users[0];
  auto first = alice.transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1, 0, 1);
  auto waiting = alice.transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 2, 1, 2, 2);
  REQUIRE(a.submit(waiting).ok());  // nonce 2: waits for nonce 1, which nobody sent
  REQUIRE(a.submit(first).ok());

  LoopHold hold(a);

  auto pool = client.get("/transactionPool");
  REQUIRE(pool.ok());
  CHECK(pool->status == 200);
  CHECK_THAT(pool->body, Catch::Contains("\"size\":2"));
  // The executable one first, then the one waiting for an earlier nonce.
  auto at_first = pool->body.find(first->id().hex());
  auto at_waiting = pool->body.find(waiting->id().hex());
  REQUIRE(at_first != std::string::npos);
  REQUIRE(at_waiting != std::string::npos);
  CHECK(at_first < at_waiting);
  auto status = client.get("/transactions/" + first->id().hex());
  REQUIRE(status.ok());
  CHECK_THAT(status->body, Catch::Contains("\"status\":\"pending\""));
  auto history = client.get("/accounts/" + alice.public_key().hex() + "/transactions");
  REQUIRE(history.ok());
  CHECK(history->status == 200);
  CHECK_THAT(history->body, Catch::Contains(waiting->id().hex()));
}

namespace {

bool is_hash_hex(const rapidjson::Value& v) {
  if (!v.IsString() || v.GetStringLength() != 64) return false;
  std::string text = v.GetString();
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// One checkpoint of /finality: exactly {"height": unsigned, "hash": 64 lower-case hex}.
void check_checkpoint(const rapidjson::Value& v, std::uint64_t height, const Hash& hash) {
  REQUIRE(v.IsObject());
  CHECK(v.MemberCount() == 2);
  REQUIRE(v.HasMember("height"));
  REQUIRE(v["height"].IsUint64());
  CHECK(v["height"].GetUint64() == height);
  REQUIRE(v.HasMember("hash"));
  CHECK(is_hash_hex(v["hash"]));
  CHECK(std::string(v["hash"].GetString()) == hash.hex());
}

}  // namespace

TEST_CASE("/finality, /info and /metrics give the published checkpoints while the loop is busy",
          "[rpc][node][finality]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  for (int i = 0; i < 3; ++i) f.forge(a);
  Rpc rpc(a);
  RpcClient& client = *rpc.client;
  REQUIRE(eventually([&] { return a.status().height == 3; }));

  // The loop held: nothing is published meanwhile, so every answer below is of this status.
  LoopHold hold(a);
  NodeStatus s = a.status();
  REQUIRE(s.height == 3);
  CHECK(s.justified_height >= s.finalized_height);
  // Both are blocks of the best chain.
  CHECK(a.storage().main_chain_hash(s.justified_height) == s.justified_hash);
  CHECK(a.storage().main_chain_hash(s.finalized_height) == s.finalized_hash);

  auto response = client.get("/finality");
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  INFO(response->body);
  rapidjson::Document doc;
  doc.Parse(response->body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 2);
  REQUIRE(doc.HasMember("justified"));
  REQUIRE(doc.HasMember("finalized"));
  check_checkpoint(doc["justified"], s.justified_height, s.justified_hash);
  check_checkpoint(doc["finalized"], s.finalized_height, s.finalized_hash);
  CHECK(doc["justified"]["height"].GetUint64() >= doc["finalized"]["height"].GetUint64());

  auto finality = client.finality();
  REQUIRE(finality.ok());
  CHECK(finality->justified == FinalityCheckpoint{s.justified_height, s.justified_hash});
  CHECK(finality->finalized == FinalityCheckpoint{s.finalized_height, s.finalized_hash});

  // /info: the new fields beside the old ones; no protocol version when not given.
  auto info = client.info();
  REQUIRE(info.ok());
  CHECK(info->height == s.height);
  CHECK(info->slot == s.slot);
  CHECK(info->epoch == std::optional<std::uint64_t>(s.slot / a.params().epoch_slots));
  CHECK(info->justified_height == s.justified_height);
  CHECK(info->finalized_height == s.finalized_height);
  CHECK(info->finalized_hash == s.finalized_hash);
  CHECK_FALSE(info->protocol_version.has_value());
  auto info_text = client.get("/info");
  REQUIRE(info_text.ok());
  CHECK_THAT(info_text->body,
             Catch::Contains("\"justified_height\":" + std::to_string(s.justified_height) +
                             ",\"finalized_height\":" + std::to_string(s.finalized_height) +
                             ",\"finalized_hash\":\"" + s.finalized_hash.hex() + "\""));
  CHECK_THAT(info_text->body, Catch::Contains("\"slot\":" + std::to_string(s.slot) + ",\"epoch\":" +
                                              std::to_string(s.slot / a.params().epoch_slots) +
                                              ",\"justified_height\":"));
  CHECK_THAT(info_text->body, !Catch::Contains("protocol_version"));

  // /metrics: the gauges and counters, with the status's values.
  auto metrics = client.get("/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->status == 200);
  const std::string& m = metrics->body;
  auto gauge = [](const std::string& name, double value) {
    return "# TYPE " + name + " gauge\n" + name + " " + std::to_string(value) + "\n";
  };
  auto counter = [](const std::string& name, std::uint64_t value) {
    return "# TYPE " + name + " counter\n" + name + " " + std::to_string(value) + "\n";
  };
  CHECK_THAT(
      m, Catch::Contains(gauge("pos_finalized_height", static_cast<double>(s.finalized_height))));
  CHECK_THAT(
      m, Catch::Contains(gauge("pos_justified_height", static_cast<double>(s.justified_height))));
  CHECK_THAT(m,
             Catch::Contains(gauge("pos_vote_pool_size", static_cast<double>(s.vote_pool_size))));
  CHECK_THAT(m, Catch::Contains(counter("pos_votes_cast_total", s.counters.votes_cast)));
  CHECK_THAT(m, Catch::Contains(counter("pos_votes_received_total", s.counters.votes_received)));
  CHECK_THAT(m, Catch::Contains("# HELP pos_justified_height "));
  CHECK_THAT(m, Catch::Contains("# HELP pos_votes_cast_total "));

  // Only GET: another method is refused as on every route (404 not_found, as for POST /info);
  // a path below it is no route either.
  auto post = client.post("/finality", "{}");
  REQUIRE(post.ok());
  CHECK(post->status == 404);
  CHECK_THAT(post->body, Catch::Contains("\"code\":\"not_found\""));
  CHECK_THAT(post->body, Catch::Contains("no route POST /finality"));
  auto below = client.get("/finality/1");
  REQUIRE(below.ok());
  CHECK(below->status == 404);
  CHECK_THAT(below->body, Catch::Contains("\"code\":\"not_found\""));
}

TEST_CASE("/info shows the p2p protocol version the node gives its RPC server", "[rpc][node]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  RpcIdentity identity{"test", std::nullopt};
  identity.protocol_version = 7;
  Rpc rpc(a, identity);
  auto info = rpc.client->info();
  REQUIRE(info.ok());
  CHECK(info->protocol_version == std::optional<std::uint16_t>(7));
  auto text = rpc.client->get("/info");
  REQUIRE(text.ok());
  CHECK_THAT(text->body, Catch::Contains("\"genesis_hash\":\"" + a.genesis_hash().hex() +
                                         "\",\"protocol_version\":7,\"height\":"));
}

TEST_CASE("wire: /finality and the new /info fields are read strictly", "[rpc][wire]") {
  FinalityInfo f;
  f.justified = FinalityCheckpoint{12, sha256(std::string_view("justified"))};
  f.finalized = FinalityCheckpoint{11, sha256(std::string_view("finalized"))};
  std::string json = to_json(f);
  CHECK(json == "{\"justified\":{\"height\":12,\"hash\":\"" + f.justified.hash.hex() +
                    "\"},\"finalized\":{\"height\":11,\"hash\":\"" + f.finalized.hash.hex() +
                    "\"}}");
  auto back = finality_info_from_json(json);
  REQUIRE(back.ok());
  CHECK(*back == f);
  // A newer node's extra fields are not errors.
  std::string newer = json;
  newer.insert(1, "\"epoch\":3,");
  CHECK(finality_info_from_json(newer).ok());

  auto refused = [](const std::string& text, const std::string& field) {
    auto r = finality_info_from_json(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.reason() == Reason::kMalformed);
    CHECK_THAT(r.error().message, Catch::Contains(field));
  };
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = json;
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  refused("{\"justified\":{\"height\":1,\"hash\":\"" + f.justified.hash.hex() + "\"}}",
          "finalized");
  refused(edited("\"justified\":{\"height\":12,", "\"justified\":{"), "height");
  refused(edited("\"height\":11", "\"height\":\"11\""), "height");
  refused(edited("\"height\":11", "\"height\":-1"), "height");
  refused(edited(f.finalized.hash.hex(), f.finalized.hash.hex().substr(2)), "hash");
  refused(edited("{\"height\":12,\"hash\":\"" + f.justified.hash.hex() + "\"}", "12"), "justified");
  CHECK(finality_info_from_json("[]").reason() == Reason::kMalformed);
  CHECK(finality_info_from_json("{").reason() == Reason::kMalformed);

  NodeInfo info;
  info.chain_id = "pos-test";
  info.epoch = 4;
  info.justified_height = 9;
  info.finalized_height = 8;
  info.finalized_hash = f.finalized.hash;
  std::string info_json = to_json(info);
  CHECK_THAT(info_json, !Catch::Contains("protocol_version"));
  auto read = node_info_from_json(info_json);
  REQUIRE(read.ok());
  CHECK(read->epoch == std::optional<std::uint64_t>(4));
  CHECK(read->justified_height == 9);
  CHECK(read->finalized_hash == f.finalized.hash);
  CHECK_FALSE(read->protocol_version.has_value());
  info.protocol_version = 2;
  CHECK(node_info_from_json(to_json(info))->protocol_version == std::optional<std::uint16_t>(2));
  for (std::string field : {std::string("\"justified_height\":9,"),
                            "\"finalized_hash\":\"" + f.finalized.hash.hex() + "\","}) {
    std::string text = info_json;
    auto at = text.find(field);
    REQUIRE(at != std::string::npos);
    text.erase(at, field.size());
    auto r = node_info_from_json(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.reason() == Reason::kMalformed);
  }
  // The epoch may be absent (an older node's answer), but not of another type.
  std::string no_epoch = info_json;
  no_epoch.erase(no_epoch.find("\"epoch\":4,"), 10);
  auto without_epoch = node_info_from_json(no_epoch);
  REQUIRE(without_epoch.ok());
  CHECK_FALSE(without_epoch->epoch.has_value());
  std::string text_epoch = info_json;
  text_epoch.replace(text_epoch.find("\"epoch\":4"), 9, "\"epoch\":\"4\"");
  CHECK(node_info_from_json(text_epoch).reason() == Reason::kMalformed);
  std::string big = info_json;
  big.insert(1, "\"protocol_version\":65536,");
  CHECK(node_info_from_json(big).reason() == Reason::kMalformed);
  std::string bad_hash = info_json;
  bad_hash.replace(bad_hash.find(f.finalized.hash.hex()), 64, std::string(64, 'x'));
  CHECK(node_info_from_json(bad_hash).reason() == Reason::kMalformed);
}
