#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pos/status.h"

TEST_CASE("docs/consensus.md lists every reason with its HTTP status and penalty", "[doc]") {
  std::ifstream in(std::filesystem::path(POS_SOURCE_DIR) / "docs" / "consensus.md");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  for (int i = 0; i <= static_cast<int>(pos::kLastReason); ++i) {
    const auto& info = pos::reason_info(static_cast<pos::Reason>(i));
    std::string row = "| " + std::string(info.code) + " | " + std::to_string(info.http_status) +
                      " | " + std::to_string(info.peer_penalty) + " |";
    INFO(row);
    CHECK(text.str().find(row) != std::string::npos);
  }
}
