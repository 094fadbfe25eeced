// The logger: levels, components and fields; the text and JSON lines pos-node writes.
#include <rapidjson/document.h>

#include <cstdio>
#include <regex>

#include "pos/node.h"
#include "pos/peer_node.h"
#include "test_support.h"

using namespace pos;

namespace {

// What a sink wrote to a temporary file, line by line.
std::vector<std::string> lines_of(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::vector<std::string> out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), file)) {
    std::string line(buffer);
    REQUIRE(line.back() == '\n');
    line.pop_back();
    out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("log: fields write as key=value, quoted and escaped when a reader could misread them",
          "[log]") {
  Hash h = test::filled(0xab);
  CHECK(log_text("peer ready", {{"peer", "10.0.0.2:7000"}, {"height", 12}}) ==
        "peer ready peer=10.0.0.2:7000 height=12");
  CHECK(log_text("x", {{"hash", h}}) == "x hash=" + h.hex());
  CHECK(log_text("x", {{"reason", Reason::kStaleNonce}, {"ok", false}}) ==
        "x reason=stale_nonce ok=false");
  CHECK(log_text("x", {{"error", "nonce 0 used"}}) == "x error=\"nonce 0 used\"");
  CHECK(log_text("x", {{"error", "a \"b\"\\c\nd\x01"}}) == "x error=\"a \\\"b\\\"\\\\c\\nd\\x01\"");
  CHECK(log_text("x", {{"empty", ""}, {"eq", "a=b"}}) == "x empty=\"\" eq=\"a=b\"");
}

TEST_CASE("log: a sink takes the events at or above its level; a default Logger drops all",
          "[log]") {
  std::vector<std::pair<LogLevel, std::string>> seen;
  auto sink = function_log_sink(
      [&](const LogEvent& e) {
        seen.emplace_back(e.level, std::string(e.component) + " " + std::string(e.message));
      },
      LogLevel::kWarn);
  Logger p2p(sink, "p2p");
  Logger store = p2p.component("store");
  p2p.debug("noise");
  p2p.info("peer ready");
  p2p.warn("banned a peer");
  store.error("cannot write");
  CHECK(seen ==
        std::vector<std::pair<LogLevel, std::string>>{{LogLevel::kWarn, "p2p banned a peer"},
                                                      {LogLevel::kError, "store cannot write"}});
  CHECK(p2p.enabled(LogLevel::kWarn));
  CHECK_FALSE(p2p.enabled(LogLevel::kInfo));

  Logger none;
  CHECK_FALSE(none.enabled(LogLevel::kError));
  none.error("goes nowhere");  // and does not crash

  for (auto level : {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug})
    CHECK(parse_log_level(log_level_name(level)) == level);
  CHECK_FALSE(parse_log_level("verbose").has_value());
  CHECK(parse_log_format("json") == LogFormat::kJson);
  CHECK(parse_log_format("text") == LogFormat::kText);
  CHECK_FALSE(parse_log_format("xml").has_value());
}

TEST_CASE("log: pos-node's text lines carry an RFC 3339 time, the level and the component",
          "[log]") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  Logger log(stream_log_sink(file, LogLevel::kInfo, LogFormat::kText), "consensus");
  log.info("forged a block", {{"height", 7}, {"slot", 12}});
  log.debug("not written");
  log.warn("holding back a block", {{"why", "ahead of the clock"}});
  auto lines = lines_of(file);
  std::fclose(file);
  REQUIRE(lines.size() == 2);
  std::regex time(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z )");
  CHECK(std::regex_search(lines[0], time));
  CHECK(lines[0].substr(25) == "info  consensus: forged a block height=7 slot=12");
  CHECK(lines[1].substr(25) == "warn  consensus: holding back a block why=\"ahead of the clock\"");
}

TEST_CASE("log: pos-node's JSON lines are one object each, numbers as numbers", "[log]") {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  Logger log(stream_log_sink(file, LogLevel::kDebug, LogFormat::kJson), "p2p");
  log.warn("banned a peer", {{"peer", "10.0.0.9:7000"},
                             {"until_ms", std::uint64_t{18'446'744'073'709'551'615u}},
                             {"error", "bad \"signature\"\n"}});
  log.debug("inbound connection");
  // A peer's bytes that are not UTF-8 (a hello's chain id): replaced, the line stays valid.
  log.info("dropping a peer", {{"why", "chain \xff\xc3(\xed\xa0\x80 caf\xc3\xa9"}});
  auto lines = lines_of(file);
  std::fclose(file);
  REQUIRE(lines.size() == 3);
  rapidjson::Document doc;
  for (const auto& line : lines) {
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str());
    CHECK_FALSE(doc.HasParseError());
  }
  CHECK(std::string(doc["why"].GetString()) ==
        "chain \xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9");
  doc.Parse(lines[0].c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(std::regex_match(doc["time"].GetString(),
                         std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
  CHECK(std::string(doc["level"].GetString()) == "warn");
  CHECK(std::string(doc["component"].GetString()) == "p2p");
  CHECK(std::string(doc["message"].GetString()) == "banned a peer");
  CHECK(std::string(doc["peer"].GetString()) == "10.0.0.9:7000");
  CHECK(doc["until_ms"].GetUint64() == 18'446'744'073'709'551'615u);
  CHECK(std::string(doc["error"].GetString()) == "bad \"signature\"\n");
  doc.Parse(lines[1].c_str());
  REQUIRE_FALSE(doc.HasParseError());
  CHECK(doc.MemberCount() == 4);
}

TEST_CASE("log: a node warns while its data dir's disk has less free space than it needs",
          "[log][node]") {
  test::TestNet net;
  test::TempDir dir;
  std::vector<std::string> lines;
  PeerNodeConfig config;
  config.network.listen = false;
  config.log = test::capture_log(lines, "node");
  config.disk_path = dir.path();
  config.min_free_disk_bytes = std::numeric_limits<std::uint64_t>::max();
  auto node = PeerNode::start(net.genesis, std::make_unique<MemoryStorage>(), config, net.clock);
  REQUIRE(node.ok());
  node->reset();  // the check at the start has run on the loop, which is gone now
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.starts_with("warn the data dir's disk is nearly full");
  }));
  lines.clear();
  config.min_free_disk_bytes = 0;
  config.log = test::capture_log(lines, "node");
  node = PeerNode::start(net.genesis, std::make_unique<MemoryStorage>(), config, net.clock);
  REQUIRE(node.ok());
  node->reset();
  CHECK(std::none_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("disk") != std::string::npos;
  }));
}

TEST_CASE("log: the config file takes log_format as --log-format does", "[log]") {
  auto json = NodeConfig::from_json(R"({"log_format": "json", "log_level": "warn"})", {});
  REQUIRE(json.ok());
  CHECK(json->log_format == LogFormat::kJson);
  CHECK(json->log_level == LogLevel::kWarn);
  auto bad = NodeConfig::from_json(R"({"log_format": "xml"})", {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "log_format must be text or json");
}
