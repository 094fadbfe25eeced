#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "pos/crypto.h"

int main(int argc, char* argv[]) {
  if (!pos::init().ok()) return 2;
  return Catch::Session().run(argc, argv);
}
