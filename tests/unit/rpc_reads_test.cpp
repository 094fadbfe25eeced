// The RPC server reads the stored chain and the published status without waiting for the
// node's event loop: with the loop held busy (as a long sync would), GETs still answer.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
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

#if defined(__linux__)
TEST_CASE("the RPC server's threads run below the event loop's priority", "[rpc][node]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  std::string loop_thread;
  a.inspect([&](const Blockchain&, const TransactionPool&) { loop_thread = this_thread_id(); });
  auto before = thread_nice_values();
  Rpc rpc(a);
  REQUIRE(rpc.client->get("/info").ok());
  auto after = thread_nice_values();
  const std::vector<int> started = nice_of_new_threads(before, after);
  for (int nice : started) CHECK(nice >= 10);
  CHECK(started.size() == RpcOptions{}.threads + 1);  // the handlers and the one that accepts
  // The event loop and the caller keep theirs. (The node's verifier threads, started with it,
  // may still be lowering theirs as `before` is read: not compared.)
  REQUIRE(before.contains(loop_thread));
  CHECK(after.at(loop_thread) == before.at(loop_thread));
  CHECK(after.at(this_thread_id()) == before.at(this_thread_id()));
}
#endif

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

namespace {

// A route's refusal: the status, and exactly {"error": {"code", "message"}} with that code.
void check_refusal(const Result<RpcClient::Response>& response, int status, const char* code) {
  REQUIRE(response.ok());
  INFO(response->body);
  CHECK(response->status == status);
  rapidjson::Document doc;
  doc.Parse(response->body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 1);
  REQUIRE(doc.HasMember("error"));
  const auto& e = doc["error"];
  REQUIRE(e.IsObject());
  CHECK(e.MemberCount() == 2);
  REQUIRE(e.HasMember("code"));
  REQUIRE(e["code"].IsString());
  CHECK(std::string(e["code"].GetString()) == code);
  REQUIRE(e.HasMember("message"));
  REQUIRE(e["message"].IsString());
  CHECK(e["message"].GetStringLength() > 0);
}

// The genesis stakes, addresses ascending: every epoch's validator set for now.
std::vector<ValidatorStake> genesis_stakes(const Genesis& genesis) {
  std::map<Address, std::uint64_t> stakes;
  for (const auto& a : genesis.allocations)
    if (a.stake > 0) stakes[a.address] = a.stake;
  std::vector<ValidatorStake> out;
  for (const auto& [address, stake] : stakes) out.push_back({address, stake});
  return out;
}

// An answer of /validators, field by field: exactly {"epoch", "nonce", "total_stake",
// "validators": [{"address", "stake"}]}, with the genesis stakes.
void check_validator_set(const std::string& body, const Genesis& genesis, std::uint64_t epoch,
                         const Hash& nonce) {
  INFO(body);
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 4);
  REQUIRE(doc.HasMember("epoch"));
  REQUIRE(doc["epoch"].IsUint64());
  CHECK(doc["epoch"].GetUint64() == epoch);
  REQUIRE(doc.HasMember("nonce"));
  CHECK(is_hash_hex(doc["nonce"]));
  CHECK(std::string(doc["nonce"].GetString()) == nonce.hex());
  std::vector<ValidatorStake> expected = genesis_stakes(genesis);
  std::uint64_t total = 0;
  for (const auto& v : expected) total += v.stake;
  REQUIRE(doc.HasMember("total_stake"));
  REQUIRE(doc["total_stake"].IsUint64());
  CHECK(doc["total_stake"].GetUint64() == total);
  REQUIRE(doc.HasMember("validators"));
  REQUIRE(doc["validators"].IsArray());
  const auto& list = doc["validators"].GetArray();
  REQUIRE(list.Size() == expected.size());
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
    REQUIRE(list[i].IsObject());
    CHECK(list[i].MemberCount() == 2);
    REQUIRE(list[i].HasMember("address"));
    CHECK(is_hash_hex(list[i]["address"]));
    CHECK(std::string(list[i]["address"].GetString()) == expected[i].address.hex());
    REQUIRE(list[i].HasMember("stake"));
    REQUIRE(list[i]["stake"].IsUint64());
    CHECK(list[i]["stake"].GetUint64() == expected[i].stake);
  }
}

// The leader of `slot` on the node's tip, and the nonce it is drawn with.
std::pair<PublicKey, Hash> draw_of(PeerNode& node, std::uint64_t slot) {
  std::pair<PublicKey, Hash> out;
  node.inspect([&](const Blockchain& chain, const TransactionPool&) {
    out = {*chain.leader(slot), chain.epoch_nonce(slot)};
  });
  return out;
}

std::uint64_t tip_epoch(PeerNode& node) {
  std::uint64_t slot = 0;
  node.inspect([&](const Blockchain& chain, const TransactionPool&) { slot = chain.tip().slot; });
  return node.params().epoch_of(slot);
}

}  // namespace

TEST_CASE("/validators gives an epoch's stakes and the nonce its slot leaders are drawn with",
          "[rpc][node][validators]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  const ChainParams& params = a.params();
  // nonce(e) as the node drew the leaders of epoch e with: read while the tip was the last block
  // before e (the one that fixes it), then forged into e or past it.
  std::map<std::uint64_t, Hash> drawn;
  drawn[0] = draw_of(a, 1).second;
  // Blocks in epochs 0, 1, 1, 4 and 6: epochs 2, 3 and 5 have none.
  for (std::uint64_t slot : {3, 40, 50, 140, 200}) {
    for (std::uint64_t e = tip_epoch(a) + 1; e <= params.epoch_of(slot); ++e)
      drawn[e] = draw_of(a, e * params.epoch_slots).second;
    auto [leader, nonce] = draw_of(a, slot);
    CHECK(nonce == drawn.at(params.epoch_of(slot)));
    REQUIRE(a.forge(f.keys.wallet_of(leader).secret_key(), slot).ok());
  }
  REQUIRE(tip_epoch(a) == 6);
  NodeStatus s = a.status();
  const std::uint64_t current = params.epoch_of(s.slot);
  REQUIRE(current > 8);
  // After the tip: what the leader draws of those epochs use now.
  for (std::uint64_t e : {std::uint64_t{7}, std::uint64_t{8}, current, current + 1, current + 2})
    drawn[e] = draw_of(a, e * params.epoch_slots).second;
  CHECK(drawn.at(current) == draw_of(a, s.slot).second);
  CHECK(drawn.at(0) == initial_nonce(a.genesis_hash()));
  Rpc rpc(a);
  RpcClient& client = *rpc.client;

  for (const auto& [epoch, nonce] : drawn) {
    INFO("epoch " << epoch);
    auto response = client.get("/validators?epoch=" + std::to_string(epoch));
    REQUIRE(response.ok());
    CHECK(response->status == 200);
    check_validator_set(response->body, f.keys.genesis, epoch, nonce);
    auto read = client.validators(epoch);
    REQUIRE(read.ok());
    CHECK(*read == ValidatorSetInfo{epoch, nonce, 300, genesis_stakes(f.keys.genesis)});
  }

  // Without an epoch: the clock's.
  auto response = client.get("/validators");
  REQUIRE(response.ok());
  CHECK(response->status == 200);
  check_validator_set(response->body, f.keys.genesis, current, drawn.at(current));
  auto read = client.validators();
  REQUIRE(read.ok());
  CHECK(read->epoch == current);
  CHECK(read->nonce == drawn.at(current));

  // An epoch that is not an unsigned integer, or not drawn yet: refused.
  for (std::string bad : {"abc", "-1", "1.5", "", "0x10", "18446744073709551616"})
    check_refusal(client.get("/validators?epoch=" + bad), 400, "invalid_argument");
  auto far = client.get("/validators?epoch=" + std::to_string(current + 3));
  check_refusal(far, 400, "invalid_argument");
  CHECK_THAT(far->body, Catch::Contains("not drawn yet"));
  auto refused = client.validators(current + 3);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.reason() == Reason::kInvalidArgument);
  check_refusal(client.post("/validators", "{}"), 404, "not_found");
}

TEST_CASE("the nonce of every epoch, before and after finality and a restart",
          "[rpc][chain][validators]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  const ChainParams& params = net.genesis.params;
  std::map<std::uint64_t, Hash> drawn;  // as in the test above
  drawn[0] = net.chain->epoch_nonce(1);
  // Epochs 3, 6, 7 and 10 have no block; the others' blocks finalize.
  for (std::uint64_t after :
       {0, 1, 2, 8, 9, 10, 16, 17, 32, 33, 34, 40, 64, 65, 66, 67, 72, 88, 89, 90}) {
    std::uint64_t slot = net.next_slot(std::max(net.chain->tip().slot, after));
    for (std::uint64_t e = params.epoch_of(net.chain->tip().slot) + 1; e <= params.epoch_of(slot);
         ++e)
      drawn[e] = net.chain->epoch_nonce(e * params.epoch_slots);
    // Votes expire after an epoch: a block past an empty epoch carries none.
    if (params.epoch_of(slot) > params.epoch_of(net.chain->tip().slot) + 1)
      net.advance(after);
    else
      net.advance_finalizing(after);
  }
  std::uint64_t last = params.epoch_of(net.chain->tip().slot);
  REQUIRE(last == 11);
  for (std::uint64_t e = last + 1; e <= last + 3; ++e)
    drawn[e] = net.chain->epoch_nonce(e * params.epoch_slots);
  // Blocks below the finalized one are no longer held in memory: their epochs are read back
  // from storage.
  REQUIRE(net.chain->finalized_height() > 10);
  REQUIRE_FALSE(net.chain->is_indexed(net.chain->block_at(5)->hash()));

  auto check_all = [&] {
    for (const auto& [epoch, nonce] : drawn) {
      INFO("epoch " << epoch);
      auto draw = net.chain->epoch_draw(epoch);
      CHECK(draw.nonce == nonce);
      CHECK(draw.validators->total_stake() == 300);
      CHECK(draw.validators->size() == 3);
    }
  };
  check_all();
  net.restart();
  check_all();
}

TEST_CASE("/votes gives the votes the node holds for a target block", "[rpc][node][votes]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  BlockPtr first = f.forge(a);
  BlockPtr second = f.forge(a);
  Rpc rpc(a);
  RpcClient& client = *rpc.client;
  auto vote = [&](const Wallet& w, const BlockPtr& target) {
    return Vote::sign(
        VoteFields{f.keys.chain_id(), {}, a.genesis_hash(), 0, target->hash(), target->height()},
        w.secret_key());
  };
  std::vector<VotePtr> for_first = {vote(f.keys.validators[1], first),
                                    vote(f.keys.validators[2], first)};
  VotePtr for_second = vote(f.keys.validators[0], second);
  // Through a peer, as votes reach a node.
  RawPeer peer(a.port());
  peer.send(hello_for(f, 61));
  REQUIRE(eventually([&] { return peer_count(a) == 1; }));
  peer.send(p2p::Votes{{for_first[0], for_second, for_first[1]}});
  REQUIRE(peer.round_trip(1));
  REQUIRE(eventually([&] { return a.status().vote_pool_size == 3; }));

  // The pool's order for one target: by id.
  std::sort(for_first.begin(), for_first.end(),
            [](const VotePtr& x, const VotePtr& y) { return x->id() < y->id(); });
  auto held = client.get("/votes?target=" + first->hash().hex());
  REQUIRE(held.ok());
  CHECK(held->status == 200);
  CHECK(held->body == "{\"target\":\"" + first->hash().hex() + "\",\"votes\":[" +
                          to_json(*for_first[0]) + "," + to_json(*for_first[1]) + "]}");
  auto read = client.votes(first->hash());
  REQUIRE(read.ok());
  CHECK(read->target == first->hash());
  REQUIRE(read->votes.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(read->votes[i]->id() == for_first[i]->id());
    CHECK(read->votes[i]->signature() == for_first[i]->signature());
    CHECK(read->votes[i]->check().ok());
  }
  auto other = client.votes(second->hash());
  REQUIRE(other.ok());
  REQUIRE(other->votes.size() == 1);
  CHECK(other->votes[0]->id() == for_second->id());

  // A block no vote here targets: an empty list.
  Hash unknown = sha256(std::string_view("no such block"));
  auto none = client.get("/votes?target=" + unknown.hex());
  REQUIRE(none.ok());
  CHECK(none->status == 200);
  CHECK(none->body == "{\"target\":\"" + unknown.hex() + "\",\"votes\":[]}");
  auto empty = client.votes(unknown);
  REQUIRE(empty.ok());
  CHECK(empty->votes.empty());

  // No target, or not a block hash: refused.
  check_refusal(client.get("/votes"), 400, "invalid_argument");
  for (std::string bad : {std::string(), std::string("xyz"), first->hash().hex().substr(1),
                          first->hash().hex() + "00", std::string(64, 'g')})
    check_refusal(client.get("/votes?target=" + bad), 400, "invalid_argument");
  check_refusal(client.post("/votes", "{}"), 404, "not_found");
}

TEST_CASE("wire: /validators and /votes are read strictly", "[rpc][wire]") {
  auto address = [](std::uint8_t b) {
    Address a;
    a.bytes.fill(b);
    return a;
  };
  ValidatorSetInfo set{7, sha256(std::string_view("nonce")), 300, {}};
  for (std::uint8_t b = 1; b <= 3; ++b) set.validators.push_back({address(b), 100});
  std::string json = to_json(set);
  CHECK(json == "{\"epoch\":7,\"nonce\":\"" + set.nonce.hex() +
                    "\",\"total_stake\":300,\"validators\":[{\"address\":\"" + address(1).hex() +
                    "\",\"stake\":100},{\"address\":\"" + address(2).hex() +
                    "\",\"stake\":100},{\"address\":\"" + address(3).hex() + "\",\"stake\":100}]}");
  auto back = validator_set_from_json(json);
  REQUIRE(back.ok());
  CHECK(*back == set);
  CHECK(validator_set_from_json(json, 7).ok());
  std::string newer = json;
  newer.insert(1, "\"slot_from\":224,");
  CHECK(validator_set_from_json(newer).ok());
  auto refused = [](const Result<ValidatorSetInfo>& r, const std::string& said) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.reason() == Reason::kMalformed);
    CHECK_THAT(r.error().message, Catch::Contains(said));
  };
  refused(validator_set_from_json(json, 8), "epoch 7, not 8");
  refused(validator_set_from_json(replace_first(json, "\"epoch\":7,", "")), "epoch");
  refused(
      validator_set_from_json(replace_first(json, "\"total_stake\":300", "\"total_stake\":301")),
      "total_stake");
  refused(validator_set_from_json(replace_first(json, set.nonce.hex(), "00")), "nonce");
  refused(validator_set_from_json(replace_first(json, address(3).hex(), address(2).hex())),
          "ascending");
  refused(validator_set_from_json(replace_first(json, address(1).hex(), address(4).hex())),
          "ascending");
  refused(validator_set_from_json(replace_first(json, "\"stake\":100}", "\"stake\":-1}")), "stake");
  refused(validator_set_from_json(
              replace_first(json, "\"validators\":[", "\"validators\":\"\",\"more\":[")),
          "validators");
  ValidatorSetInfo huge{1, set.nonce, 0, {{address(1), UINT64_MAX}, {address(2), 1}}};
  refused(validator_set_from_json(to_json(huge)), "overflow");

  Fixture f;
  Hash target = sha256(std::string_view("target"));
  auto vote = [&](const Wallet& w, const Hash& to) {
    return Vote::sign(VoteFields{f.keys.chain_id(), {}, f.keys.genesis.hash(), 0, to, 5},
                      w.secret_key());
  };
  TargetVotesInfo votes{target,
                        {vote(f.keys.validators[0], target), vote(f.keys.validators[1], target)}};
  std::string votes_json = to_json(votes);
  CHECK(votes_json == "{\"target\":\"" + target.hex() + "\",\"votes\":[" +
                          to_json(*votes.votes[0]) + "," + to_json(*votes.votes[1]) + "]}");
  auto read = target_votes_from_json(votes_json, f.keys.chain_id(), target);
  REQUIRE(read.ok());
  CHECK(read->target == target);
  REQUIRE(read->votes.size() == 2);
  CHECK(read->votes[0]->id() == votes.votes[0]->id());
  CHECK(read->votes[1]->chain_id() == f.keys.chain_id());
  auto votes_refused = [](const Result<TargetVotesInfo>& r, Reason reason,
                          const std::string& said) {
    REQUIRE_FALSE(r.ok());
    CHECK(r.reason() == reason);
    CHECK_THAT(r.error().message, Catch::Contains(said));
  };
  Hash other = sha256(std::string_view("other"));
  votes_refused(target_votes_from_json(votes_json, f.keys.chain_id(), other), Reason::kMalformed,
                "not " + other.hex());
  TargetVotesInfo mixed{target, {votes.votes[0], vote(f.keys.validators[2], other)}};
  votes_refused(target_votes_from_json(to_json(mixed), f.keys.chain_id(), target),
                Reason::kMalformed, "for target " + other.hex());
  votes_refused(target_votes_from_json(replace_first(votes_json, "\"target\":", "\"block\":"),
                                       f.keys.chain_id(), target),
                Reason::kMalformed, "target");
  votes_refused(target_votes_from_json(
                    replace_first(votes_json, "\"source_height\":0", "\"source_height\":\"0\""),
                    f.keys.chain_id(), target),
                Reason::kMalformed, "source_height");
  votes_refused(target_votes_from_json(replace_first(votes_json, votes.votes[0]->id().hex(),
                                                     votes.votes[1]->id().hex()),
                                       f.keys.chain_id(), target),
                Reason::kIdMismatch, "");
  votes_refused(
      target_votes_from_json(replace_first(votes_json, "\"votes\":[", "\"votes\":\"\",\"more\":["),
                             f.keys.chain_id(), target),
      Reason::kMalformed, "votes");
}
