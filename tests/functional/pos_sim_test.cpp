// pos-sim as a user runs it: every scenario file in examples/sim for two seeds, the exit codes,
// and a violation reported with its seed.
#include <catch2/catch.hpp>

#include <filesystem>

#include "node_process.h"

using namespace pos;
namespace fs = std::filesystem;

namespace {

std::pair<int, std::string> pos_sim(const std::string& args) {
  test::TempDir dir;
  const fs::path out = dir.path() / "out.txt";
  int code =
      test::run_command(std::string(POS_SIM_BINARY) + " " + args + " > " + out.string() + " 2>&1");
  return {code, test::read_text(out)};
}

}  // namespace

TEST_CASE("pos-sim: every scenario in examples/sim holds every invariant for two seeds",
          "[functional][sim]") {
  std::size_t ran = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(POS_SOURCE_DIR) / "examples" / "sim")) {
    if (entry.path().filename() == "wan-200.json") continue;  // a figure: minutes, not a test
    auto [code, output] = pos_sim("--scenario " + entry.path().string() + " --seeds 2");
    INFO(entry.path() << "\n" << output);
    CHECK(code == 0);
    CHECK_THAT(output, Catch::Contains("0 of 2 seeds failed"));
    ++ran;
  }
  CHECK(ran >= 5);
}

TEST_CASE("pos-sim: a broken invariant exits 1 with its seed; bad arguments exit 2",
          "[functional][sim]") {
  // Finality is asked to rise every slot: it takes two, so the liveness check reports it (at the
  // first slot it can look).
  auto [code, output] = pos_sim("--validators 4 --slots 40 --seed 3 --liveness-slots 1");
  INFO(output);
  CHECK(code == 1);
  CHECK_THAT(output, Catch::Contains("seed 3: VIOLATION"));
  CHECK_THAT(output, Catch::Contains("finalized height stayed"));
  CHECK_THAT(output, Catch::Contains("1 of 1 seeds failed: 3"));
  CHECK(pos_sim("--help").first == 0);
  for (const char* bad :
       {"--validators 0", "--seed x", "--latency 300-100", "--loss 1", "--policy 9=offline",
        "--policy 1=evil", "--frobnicate", "--scenario /nonexistent.json", "--slots"}) {
    INFO(bad);
    CHECK(pos_sim(bad).first == 2);
  }
}
