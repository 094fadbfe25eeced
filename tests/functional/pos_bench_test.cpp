// pos-bench local as a user runs it: a network of real nodes it starts itself, a small load,
// and a report with every figure.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "node_process.h"

using namespace pos;
namespace fs = std::filesystem;

TEST_CASE("pos-bench local: two nodes take two rounds; the report gives every figure, forks too",
          "[functional][bench]") {
  test::TempDir dir;
  const fs::path out = dir.path() / "bench";
  const fs::path log = dir.path() / "out.txt";
  int code = test::run_command(std::string(POS_BENCH_BINARY) +
                               " local --nodes 2 --accounts 20 --txs 400 --rounds 2 --out " +
                               out.string() + " > " + log.string() + " 2>&1");
  const std::string printed = test::read_text(log);
  INFO(printed);
  REQUIRE(code == 0);
  for (const char* figure :
       {"finalized tx/s (all nodes)", "final latency p99 ms", "forks", "finalized / ceiling"})
    CHECK_THAT(printed, Catch::Contains(figure));

  rapidjson::Document report;
  report.Parse(test::read_text(out / "report.json").c_str());
  REQUIRE_FALSE(report.HasParseError());
  CHECK(report["nodes"].GetUint64() == 2);
  CHECK(report["transactions"].GetUint64() == 800);
  CHECK(report["finalized"].GetUint64() == 800);
  CHECK(report["finalized_tx_per_s"].GetDouble() > 0);
  REQUIRE(report.HasMember("forks"));
  // Two validators forge in turn; the count is blocks off the final chain, never below -1 (a
  // block forged between the reads), and a handful at most under so small a load.
  CHECK(report["forks"]["median"].GetDouble() >= -1);
  CHECK(report["forks"]["high"].GetDouble() <= 20);
  CHECK(report["seconds"]["rounds"].Size() == 2);
  CHECK(fs::exists(out / "throughput.svg"));
}
