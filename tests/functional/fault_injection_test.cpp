// Perturbations of a 4-validator network of real pos-node processes under a steady load, each
// followed by the invariant checks of FaultNetwork::settle_and_check.
#include <catch2/catch.hpp>

#include "fault_network.h"

using namespace pos;
using namespace pos::functional;

namespace {

constexpr std::size_t kNodes = 4;
constexpr std::size_t kUsers = 24;

void expect_all_held(const Verdicts& v) {
  for (const auto& held : v.held) UNSCOPED_INFO("held: " << held);
  for (const auto& broken : v.broken) UNSCOPED_INFO("BROKEN: " << broken);
  CHECK(v.broken.empty());
  CHECK(v.held.size() >= 3 + 2 * (kNodes - 1));
}

// The load has been running long enough to have transactions in blocks.
void warm_up(FaultNetwork& f) {
  f.start_load();
  REQUIRE(eventually([&] { return f.included_count() >= 20; }, 30));
}

// Enough time for transactions to pass the finality depth before the checks.
void run_on(FaultNetwork& f, std::size_t observer) {
  REQUIRE(f.grows(observer, 14, 30));
  f.stop_load();
}

}  // namespace

TEST_CASE("faults: SIGKILL of a validator under load, then restart", "[functional][fault]") {
  FaultNetwork f(kNodes, kUsers);
  warm_up(f);
  f.kill(2);
  CHECK(f.grows(0, 3, 15));  // the chain keeps growing while stakers are up
  f.restart(2);
  CHECK(f.grows(2, 3, 30));
  run_on(f, 0);
  expect_all_held(f.settle_and_check());
}

TEST_CASE("faults: SIGSTOP of a validator for several slots, then SIGCONT", "[functional][fault]") {
  FaultNetwork f(kNodes, kUsers);
  warm_up(f);
  f.pause(1);
  CHECK(f.grows(0, 4, 15));
  f.resume(1);
  CHECK(f.grows(1, 3, 30));
  run_on(f, 0);
  expect_all_held(f.settle_and_check());
}

TEST_CASE("faults: a validator restarts without peers and is found again", "[functional][fault]") {
  FaultNetwork f(kNodes, kUsers);
  warm_up(f);
  f.kill(1);
  CHECK(f.grows(0, 2, 15));
  f.restart(1, /*with_peers=*/false);  // only nodes 2 and 3, which dial it, can reach it
  CHECK(eventually([&] { return f.node(1).rpc().info()->peers >= 1; }, 30));
  CHECK(f.grows(1, 3, 30));
  run_on(f, 0);
  expect_all_held(f.settle_and_check());
}

TEST_CASE("faults: a partition into two halves, shorter than the finality depth, then healed",
          "[functional][fault]") {
  FaultNetwork f(kNodes, kUsers);
  warm_up(f);
  std::uint64_t before = f.height(0);
  f.partition({0, 1});
  // Both halves hold stake, so both go on forging, each its own branch.
  CHECK(f.grows(0, 2, 10));
  CHECK(f.grows(3, 2, 10));
  CHECK(eventually([&] { return f.node(0).rpc().info()->tip != f.node(3).rpc().info()->tip; }));
  CHECK(f.node(1).rpc().info()->peers == 1);  // n0 only: the links to n2 and n3 are cut
  f.heal();
  CHECK(eventually([&] { return f.node(0).rpc().info()->tip == f.node(3).rpc().info()->tip; }, 30));
  CHECK(f.height(0) > before);
  run_on(f, 3);
  expect_all_held(f.settle_and_check());
}

TEST_CASE("faults: a validator that stays offline", "[functional][fault]") {
  FaultNetwork f(kNodes, kUsers);
  warm_up(f);
  f.kill(3);
  CHECK(f.grows(0, 5, 20));
  run_on(f, 1);
  expect_all_held(f.settle_and_check());
}
