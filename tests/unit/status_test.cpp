#include <catch2/catch.hpp>

#include <set>

#include "pos/status.h"

using namespace pos;

TEST_CASE("every reason has a unique code, an HTTP status and a penalty", "[status]") {
  std::set<std::string_view> codes;
  for (int i = 0; i <= static_cast<int>(kLastReason); ++i) {
    const ReasonInfo& info = reason_info(static_cast<Reason>(i));
    CHECK_FALSE(info.code.empty());
    CHECK(codes.insert(info.code).second);
    CHECK(info.http_status >= 200);
    CHECK(info.http_status < 600);
    CHECK(info.peer_penalty >= 0);
    CHECK(info.peer_penalty <= 100);
  }
  CHECK(reason_info(Reason::kBadSignature).peer_penalty == 100);
  CHECK(reason_info(Reason::kPoolFull).http_status == 503);
  CHECK(reason_code(Reason::kStaleNonce) == "stale_nonce");
  CHECK(reason_from_code("stale_nonce") == Reason::kStaleNonce);
  CHECK_FALSE(reason_from_code("no_such_code").has_value());
}

TEST_CASE("Result and Status carry values or errors", "[status]") {
  Result<int> good = 3;
  CHECK(good.ok());
  CHECK(*good == 3);
  Result<int> bad = make_error(Reason::kNotFound, "nothing here");
  CHECK_FALSE(bad.ok());
  CHECK(bad.reason() == Reason::kNotFound);
  CHECK(bad.error().to_string() == "not_found: nothing here");
  CHECK_THROWS_AS(bad.value(), std::logic_error);
  Status fine;
  CHECK(fine.ok());
  Status refused = make_error(Reason::kPoolFull, "full");
  CHECK(refused.reason() == Reason::kPoolFull);
}
