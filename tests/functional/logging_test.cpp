// pos-node's logs as an operator reads and ships them: JSON lines that parse under load, levels
// that filter, warnings for what needs acting on.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <sstream>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;
using test::eventually;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::uint64_t nonce_of(RpcClient& rpc, const Wallet& w) {
  return rpc.account(w.public_key())->nonce;
}

}  // namespace

TEST_CASE(
    "pos-node --log-format json: every line of a node's log under load is one JSON object "
    "with its time, level, component and message",
    "[functional][log]") {
  TestNetwork net;
  NodeProcess a(
      net, "a",
      {"--key", net.key_file(0).string(), "--log-format", "json", "--log-level", "debug"});
  NodeProcess b(net, "b", {"--key", net.key_file(1).string(), "--peer", a.p2p_address()});
  NodeProcess c(net, "c", {"--key", net.key_file(2).string(), "--peer", a.p2p_address()});
  REQUIRE(eventually([&] { return a.rpc().info()->peers == 2; }));

  // Load over several blocks: 6 rounds of 4 senders' 25 transfers each, a round once the one
  // before is in a block.
  auto in_block = [&](const Hash& id) {
    auto s = a.rpc().transaction_status(id);
    return s.ok() && s->height.has_value();
  };
  std::vector<Hash> last;
  for (int round = 0; round < 6; ++round) {
    last.clear();
    for (std::size_t u = 0; u < net.users.size(); ++u) {
      const Wallet& from = net.users[u];
      const Wallet& to = net.users[(u + 1) % net.users.size()];
      std::uint64_t nonce = nonce_of(a.rpc(), from);
      std::vector<TransactionPtr> batch;
      for (std::uint64_t i = 0; i < 25; ++i)
        batch.push_back(from.transfer(net.genesis.params.chain_id, to.public_key(), 1, 1, nonce + i,
                                      static_cast<std::uint64_t>(round) * 100 + i + 1));
      auto verdicts = a.rpc().submit_batch(batch);
      REQUIRE(verdicts.ok());
      for (const auto& v : *verdicts) REQUIRE(v.ok());
      last.push_back(batch.back()->id());
    }
    REQUIRE(eventually([&] { return std::all_of(last.begin(), last.end(), in_block); }, 30));
  }
  REQUIRE(eventually(
      [&] {
        auto s = a.rpc().transaction_status(last.back());
        return s.ok() && s->height && a.rpc().finality()->finalized.height >= *s->height;
      },
      60));
  // a leads about a third of the slots, and the load may all have gone into the others' blocks.
  REQUIRE(eventually(
      [&] { return a.log().find(R"("message":"forged a block")") != std::string::npos; }, 60));
  c.stop();  // a drops a peer
  a.stop();  // and says it stops

  std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  std::set<std::string> levels = {"error", "warn", "info", "debug"};
  std::set<std::string> components;
  std::size_t forged = 0;
  auto lines = lines_of(a.log());
  REQUIRE(lines.size() >= 20);
  for (const auto& line : lines) {
    INFO(line);
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    REQUIRE(doc["time"].IsString());
    CHECK(std::regex_match(doc["time"].GetString(), rfc3339));
    REQUIRE(doc["level"].IsString());
    CHECK(levels.count(doc["level"].GetString()) == 1);
    REQUIRE(doc["component"].IsString());
    REQUIRE(doc["message"].IsString());
    components.insert(doc["component"].GetString());
    if (std::string(doc["message"].GetString()) == "forged a block") {
      ++forged;
      CHECK(doc["height"].IsUint64());
      CHECK(doc["hash"].IsString());
      CHECK(doc["transactions"].IsUint64());
    }
  }
  CHECK(forged >= 1);
  CHECK(components == std::set<std::string>{"consensus", "node", "p2p", "rpc"});
}

TEST_CASE(
    "pos-node --log-level warn: only warnings and errors, such as a slot the validator "
    "leads and misses; a bad --log-format exits 2",
    "[functional][log]") {
  TestNetwork net(500, 1, 1);
  // The only validator, told to forge only with a peer, has none: it misses every slot.
  NodeProcess alone(
      net, "alone",
      {"--key", net.key_file(0).string(), "--log-level", "warn", "--forge-min-peers", "1"});
  REQUIRE(eventually([&] {
    return alone.log().find("missed a slot this node leads: too few peers") != std::string::npos;
  }));
  alone.stop();
  for (const auto& line : lines_of(alone.log())) {
    INFO(line);
    REQUIRE(line.size() > 30);
    std::string level = line.substr(24, 6);
    CHECK((level == " warn " || level == " error"));
  }
  CHECK_THAT(alone.log(), Catch::Contains("consensus: missed a slot this node leads: too few "
                                          "peers (--forge-min-peers) slot="));

  auto [code, text] = run_pos_node({"--genesis", net.genesis_file.string(), "--log-format", "xml"});
  CHECK(code == 2);
  CHECK_THAT(text, Catch::Contains("--log-format must be text or json"));
}
