// Test case names holding every character that CMake lists or Catch2's test spec parser treat
// specially. cmake/PosCatchAddTests.cmake must register each as one ctest entry that runs
// exactly this case; scripts/audit-tests.py (run by scripts/test.sh) checks that it does.
#include <catch2/catch.hpp>

#include <string>

namespace {

std::string running() {
  return Catch::getResultCapture().getCurrentTestName();
}

}  // namespace

TEST_CASE("registration: a name with a semicolon; it stays one ctest entry", "[registration]") {
  CHECK(running() == "registration: a name with a semicolon; it stays one ctest entry");
}

TEST_CASE("registration: commas, [brackets] and \"quotes\" select only this case",
          "[registration]") {
  CHECK(running() == "registration: commas, [brackets] and \"quotes\" select only this case");
}

TEST_CASE("registration: a back\\slash, a ~tilde and a mid*star are literal", "[registration]") {
  CHECK(running() == "registration: a back\\slash, a ~tilde and a mid*star are literal");
}

TEST_CASE("~registration: a leading tilde does not exclude", "[registration]") {
  CHECK(running() == "~registration: a leading tilde does not exclude");
}
