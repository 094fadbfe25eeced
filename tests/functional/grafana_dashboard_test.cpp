// docs/grafana-dashboard.json only asks for metrics that a real node's /metrics exports.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;

TEST_CASE("every metric the Grafana dashboard queries is one the node exports",
          "[functional][metrics]") {
  std::ifstream in(std::string(POS_SOURCE_DIR) + "/docs/grafana-dashboard.json");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(text.str().c_str());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc["panels"].Size() >= 10);

  std::set<std::string> queried;
  const std::regex metric(R"(pos_[a-z_]+)");
  for (const auto& panel : doc["panels"].GetArray()) {
    INFO(panel["title"].GetString());
    const auto& grid = panel["gridPos"];
    CHECK(grid["x"].GetInt() + grid["w"].GetInt() <= 24);
    REQUIRE(panel["targets"].Size() >= 1);
    for (const auto& target : panel["targets"].GetArray()) {
      std::string expr = target["expr"].GetString();
      CHECK_THAT(expr, Catch::Contains("instance=~\"$instance\""));
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        std::string name = it->str();
        for (const char* suffix : {"_bucket", "_count", "_sum"})
          if (name.ends_with(suffix)) name.resize(name.size() - std::string(suffix).size());
        queried.insert(name);
      }
    }
  }
  REQUIRE(queried.size() >= 10);

  TestNetwork net;
  NodeProcess node(net, "a", {});
  REQUIRE(node.rpc().get("/info")->status == 200);  // so that the RPC histogram has a route
  auto metrics = node.rpc().get("/metrics");
  REQUIRE(metrics.ok());
  for (const auto& name : queried) {
    INFO(name);
    CHECK_THAT(metrics->body, Catch::Contains("# TYPE " + name + " "));
  }
}
