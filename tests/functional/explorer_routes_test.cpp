// The routes the block explorer reads (docs/rpc.md), and the explorer's files, on a real node.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cstdio>
#include <set>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;

namespace {

rapidjson::Document json_of(const Result<RpcClient::Response>& r, int status = 200) {
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == status);
  rapidjson::Document doc;
  doc.Parse(r->body.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string error_code(const Result<RpcClient::Response>& r, int status) {
  auto doc = json_of(r, status);
  return doc["error"]["code"].GetString();
}

// The response headers of a GET, as curl prints them.
std::string headers_of(const std::string& url) {
  std::string out;
  FILE* p = ::popen(("curl -s -D - -o /dev/null '" + url + "'").c_str(), "r");
  REQUIRE(p != nullptr);
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, p) != nullptr) out += buffer;
  ::pclose(p);
  return out;
}

}  // namespace

TEST_CASE("an address's history pages through its transactions, newest first, with pending ones",
          "[functional][rpc][explorer]") {
  TestNetwork net;
  NodeProcess node(net, "a", {"--key", net.key_file(0).string()});
  RpcClient& rpc = node.rpc();
  const Wallet& alice = net.users[0];
  const Wallet& bob = net.users[1];
  const std::string& chain = net.genesis.params.chain_id;

  std::vector<TransactionPtr> sent;
  for (std::uint64_t nonce = 0; nonce < 7; ++nonce)
    sent.push_back(alice.transfer(chain, bob.public_key(), 1 + nonce, 1, nonce, nonce));
  auto results = rpc.submit_batch(sent);
  REQUIRE(results.ok());
  for (const auto& r : *results) REQUIRE(r.ok());
  REQUIRE(eventually(
      [&] {
        auto s = rpc.transaction_status(sent.back()->id());
        return s.ok() && s->status == "included";
      },
      30));

  // Three pages of at most 3, each strictly older than the last, together all seven.
  std::string path = "/accounts/" + alice.public_key().hex() + "/transactions?limit=3";
  std::vector<std::string> ids;
  std::string before;
  for (int page = 0; page < 3; ++page) {
    auto doc = json_of(rpc.get(path + before));
    CHECK(doc["address"] == alice.public_key().hex().c_str());
    CHECK(doc["pending"].Size() == 0);
    for (const auto& item : doc["transactions"].GetArray()) {
      ids.push_back(item["id"].GetString());
      CHECK(item["transaction"]["sender"] == alice.public_key().hex().c_str());
      CHECK(item["transaction"]["id"] == item["id"]);
      auto block = rpc.block(item["height"].GetUint64());
      REQUIRE(block.ok());
      CHECK(item["block"] == (*block)->hash().hex().c_str());
      CHECK(item["timestamp"].GetUint64() == (*block)->header().timestamp_ms);
    }
    if (page < 2) {
      REQUIRE(doc.HasMember("next"));
      before = std::string("&before=") + doc["next"].GetString();
    } else {
      CHECK_FALSE(doc.HasMember("next"));
    }
  }
  REQUIRE(ids.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) CHECK(ids[i] == sent[6 - i]->id().hex());  // newest first
  // The receiver sees the same seven.
  auto bob_doc =
      json_of(rpc.get("/accounts/" + bob.public_key().hex() + "/transactions?limit=100"));
  CHECK(bob_doc["transactions"].Size() == 7);

  // A pending transaction: listed under "pending" on the first page, with its fields.
  auto gap = alice.transfer(chain, bob.public_key(), 1, 1, 9, 9);  // waits for nonce 7 and 8
  REQUIRE(rpc.submit(*gap).ok());
  auto with_pending = json_of(rpc.get(path));
  REQUIRE(with_pending["pending"].Size() == 1);
  CHECK(with_pending["pending"][0]["id"] == gap->id().hex().c_str());
  auto tx = json_of(rpc.get("/transactions/" + gap->id().hex()));
  CHECK(tx["status"] == "pending");
  CHECK(tx["transaction"]["nonce"].GetUint64() == 9);

  // Refusals.
  std::string history = "/accounts/" + alice.public_key().hex() + "/transactions";
  for (const char* bad : {"?before=12", "?before=:1", "?before=1:", "?before=a:b", "?before=1:2:3",
                          "?before=99999999999999999999:0", "?limit=x"}) {
    INFO(bad);
    CHECK(error_code(rpc.get(history + bad), 400) == "invalid_argument");
  }
  CHECK(error_code(rpc.get("/accounts/xyz/transactions"), 400) == "invalid_argument");
  auto nobody = json_of(rpc.get("/accounts/" + std::string(64, '7') + "/transactions"));
  CHECK(nobody["transactions"].Size() == 0);
  CHECK_FALSE(nobody.HasMember("next"));
  CHECK(rpc.get("/health")->status == 200);
}

TEST_CASE("transactions carry their fields, pages can leave transactions out, stakers count slots",
          "[functional][rpc][explorer]") {
  TestNetwork net;
  NodeProcess node(net, "a", {"--key", net.key_file(0).string()});
  RpcClient& rpc = node.rpc();
  const Wallet& alice = net.users[0];
  auto tx = alice.transfer(net.genesis.params.chain_id, net.users[1].public_key(), 5, 1, 0, 1);
  REQUIRE(rpc.submit(*tx).ok());
  REQUIRE(eventually(
      [&] {
        auto s = rpc.transaction_status(tx->id());
        return s.ok() && s->status == "included";
      },
      30));
  auto doc = json_of(rpc.get("/transactions/" + tx->id().hex()));
  CHECK(doc["status"] == "included");
  CHECK(doc["transaction"]["amount"].GetUint64() == 5);
  CHECK(doc["transaction"]["signature"] == tx->signature().hex().c_str());
  CHECK(doc["confirmations"].GetUint64() >= 1);
  CHECK(doc["final"].IsBool());
  CHECK(doc["timestamp"].GetUint64() > 0);
  CHECK_FALSE(json_of(rpc.get("/transactions/" + std::string(64, 'a'))).HasMember("transaction"));

  std::uint64_t height = doc["height"].GetUint64();
  auto headers =
      json_of(rpc.get("/blocks?from=" + std::to_string(height) + "&limit=1&transactions=false"));
  REQUIRE(headers["blocks"].Size() == 1);
  CHECK_FALSE(headers["blocks"][0].HasMember("transactions"));
  CHECK(headers["blocks"][0]["tx_count"].GetUint64() >= 1);
  auto full = json_of(rpc.get("/blockchain?from=" + std::to_string(height) + "&limit=1"));
  CHECK(full["blocks"][0]["transactions"].Size() == full["blocks"][0]["tx_count"].GetUint64());
  auto maybe = rpc.get("/blocks?transactions=maybe");
  CHECK(error_code(maybe, 400) == "invalid_argument");
  CHECK_THAT(maybe->body, Catch::Contains("must be true, false, 1 or 0"));
  auto zero =
      json_of(rpc.get("/blocks?from=" + std::to_string(height) + "&limit=1&transactions=0"));
  CHECK_FALSE(zero["blocks"][0].HasMember("transactions"));

  // Recent slots: every block of the window by a staker; one node forges them all here.
  REQUIRE(eventually([&] { return rpc.info()->height >= 4; }, 30));
  // The explorer's status header: the justified and finalized heights of /info, neither above
  // the tip, and the finalized block's hash.
  auto info = json_of(rpc.get("/info"));
  CHECK(info["justified_height"].GetUint64() <= info["height"].GetUint64());
  CHECK(info["finalized_height"].GetUint64() <= info["height"].GetUint64());
  REQUIRE(info["finalized_hash"].IsString());
  CHECK(info["finalized_hash"].GetStringLength() == 64);
  auto stakers = json_of(rpc.get("/stakers?window=3"));
  CHECK(stakers["recent"]["blocks"].GetUint64() == 3);
  CHECK(stakers["recent"]["to"].GetUint64() - stakers["recent"]["from"].GetUint64() == 2);
  std::uint64_t counted = 0;
  for (const auto& s : stakers["stakers"].GetArray()) {
    counted += s["recent_blocks"].GetUint64();
    if (s["address"] != net.validators[0].public_key().hex().c_str())
      CHECK(s["recent_blocks"].GetUint64() == 0);
  }
  CHECK(counted == 3);
  CHECK(json_of(rpc.get("/stakers?window=0"))["recent"]["blocks"].GetUint64() == 0);
  CHECK(json_of(rpc.get("/stakers?window=100000"))["recent"]["blocks"].GetUint64() <= 1000);
  CHECK(error_code(rpc.get("/stakers?window=-1"), 400) == "invalid_argument");
}

TEST_CASE("the explorer's votes, evidence and validators come from the routes it reads",
          "[functional][rpc][explorer]") {
  TestNetwork net;
  NodeProcess node(net, "a", {"--key", net.key_file(0).string()});
  RpcClient& rpc = node.rpc();
  const std::string voter = net.validators[0].public_key().hex();

  // The latest blocks: headers only, with the counts the Votes and Evidence columns show. The
  // node votes for its own blocks and includes its votes: some block soon carries one.
  std::uint64_t voted = 0;
  REQUIRE(eventually(
      [&] {
        auto r = rpc.get("/blocks?from=1&limit=100&transactions=false");
        if (!r.ok() || r->status != 200) return false;
        rapidjson::Document page;
        page.Parse(r->body.c_str());
        if (page.HasParseError()) return false;
        for (const auto& b : page["blocks"].GetArray()) {
          REQUIRE(b["vote_count"].IsUint64());
          REQUIRE(b["evidence_count"].IsUint64());
          CHECK_FALSE(b.HasMember("votes"));
          CHECK_FALSE(b.HasMember("evidence"));
          if (b["vote_count"].GetUint64() > 0) voted = b["height"].GetUint64();
        }
        return voted > 0;
      },
      30));

  // A block's page: each vote's validator, source and target heights and target hash; evidence.
  auto block = json_of(rpc.get("/blocks/" + std::to_string(voted)));
  REQUIRE(block["votes"].Size() == block["vote_count"].GetUint64());
  for (const auto& v : block["votes"].GetArray()) {
    CHECK(v["validator"] == voter.c_str());
    CHECK(v["source_height"].GetUint64() < v["target_height"].GetUint64());
    CHECK(v["target_height"].GetUint64() < voted);
    CHECK(v["target_hash"].GetStringLength() == 64);
    CHECK(v["source_hash"].GetStringLength() == 64);
  }
  CHECK(block["evidence"].Size() == block["evidence_count"].GetUint64());

  // The Validators section: the set of the current epoch, and each validator's account.
  auto info = json_of(rpc.get("/info"));
  auto set = json_of(rpc.get("/validators"));
  CHECK(set["epoch"].GetUint64() >= info["epoch"].GetUint64());
  CHECK(set["epoch"].GetUint64() <= info["epoch"].GetUint64() + 1);
  REQUIRE(set["validators"].Size() == net.validators.size());
  std::set<std::string> expected, listed;
  for (const auto& v : net.validators) expected.insert(v.public_key().hex());
  std::uint64_t total = 0;
  for (const auto& v : set["validators"].GetArray()) {
    listed.insert(v["address"].GetString());
    total += v["stake"].GetUint64();
    auto account = json_of(rpc.get(std::string("/accounts/") + v["address"].GetString()));
    REQUIRE(account["slashed"].IsBool());
    CHECK_FALSE(account["slashed"].GetBool());
  }
  CHECK(listed == expected);
  CHECK(total == set["total_stake"].GetUint64());
  // Pending evidence: none on an honest one-node network.
  auto evidence = json_of(rpc.get("/evidence"));
  REQUIRE(evidence["pending"].IsArray());
  CHECK(evidence["pending"].Size() == 0);

  // The served script reads them.
  auto script = rpc.get("/explorer.js");
  REQUIRE(script.ok());
  for (const char* used : {"\"/validators\"", "\"/evidence\"", "b.vote_count", "b.evidence_count",
                           "account.slashed", "v.target_hash", "e.offender"}) {
    INFO(used);
    CHECK_THAT(script->body, Catch::Contains(used));
  }
}

TEST_CASE("the explorer's files come from the node itself, under a strict content policy",
          "[functional][rpc][explorer]") {
  TestNetwork net;
  NodeProcess node(net, "a", {});
  RpcClient& rpc = node.rpc();
  auto page = rpc.get("/");
  REQUIRE(page.ok());
  CHECK(page->status == 200);
  CHECK_THAT(page->body, Catch::Contains("<!doctype html>"));
  CHECK_THAT(page->body, Catch::Contains("src=\"/explorer.js\""));
  CHECK_FALSE(page->body.find("http://") != std::string::npos);
  CHECK_FALSE(page->body.find("https://") != std::string::npos);
  auto script = rpc.get("/explorer.js");
  REQUIRE(script->status == 200);
  CHECK_THAT(script->body, Catch::Contains("use strict"));
  CHECK_THAT(script->body, Catch::Contains("info.justified_height"));
  CHECK(rpc.get("/explorer.css")->status == 200);
  CHECK(rpc.get("/index.html")->status == 404);
  CHECK(rpc.get("/explorer.js.map")->status == 404);

  std::string headers = headers_of(node.url() + "/");
  CHECK_THAT(headers, Catch::Contains("Content-Type: text/html"));
  CHECK_THAT(headers, Catch::Contains("Content-Security-Policy: default-src 'self'"));
  CHECK_THAT(headers, Catch::Contains("X-Content-Type-Options: nosniff"));
  CHECK_THAT(headers_of(node.url() + "/explorer.js"), Catch::Contains("text/javascript"));
}
