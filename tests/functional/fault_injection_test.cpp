// Perturbations of a 4-validator network of real pos-node processes under a steady load, each
// followed by the invariant checks of FaultNetwork::settle_and_check.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <random>

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

// The largest resident memory a process has had (VmHWM), in KiB; 0 if it is gone.
long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
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

TEST_CASE(
    "faults: a 2|2 partition of three epochs heals into one chain; finality waits, then "
    "resumes",
    "[functional][fault][finality]") {
  FaultNetwork f(kNodes, kUsers);
  warm_up(f);
  auto finalized = [&](std::size_t i) { return f.node(i).rpc().info()->finalized_height; };
  REQUIRE(eventually([&] { return finalized(0) > 0; }, 30));
  std::uint64_t before = f.height(0);
  f.partition({0, 1});
  const std::uint64_t cut = f.net().slot_now();
  std::uint64_t cut_height = 0;
  for (std::size_t i = 0; i < kNodes; ++i) cut_height = std::max(cut_height, f.height(i));
  const std::uint64_t epoch_slots = f.net().genesis.params.epoch_slots;
  // Both halves hold stake, so both go on forging, each its own branch; neither holds more than
  // 2/3, so neither finalizes a block of its branch. Votes cast before the cut may still be
  // included for an epoch and finalize a block from before it, the same on both sides.
  REQUIRE(eventually([&] { return f.net().slot_now() >= cut + 3 * epoch_slots; }, 120));
  const std::uint64_t fin0 = finalized(0), fin3 = finalized(3);
  CHECK(fin0 <= cut_height);
  CHECK(fin3 <= cut_height);
  const std::uint64_t common = std::min(fin0, fin3);
  CHECK(f.node(0).rpc().block(common).value()->hash() ==
        f.node(3).rpc().block(common).value()->hash());
  CHECK(f.node(0).rpc().info()->tip != f.node(3).rpc().info()->tip);
  CHECK(f.height(0) > before + epoch_slots / 2);
  CHECK(f.height(3) > before + epoch_slots / 2);
  CHECK(f.node(1).rpc().info()->peers == 1);  // n0 only: the links to n2 and n3 are cut
  // Healed: one chain on every node with no manual step, and finality moves again.
  f.heal();
  CHECK(eventually([&] { return f.node(0).rpc().info()->tip == f.node(3).rpc().info()->tip; }, 60));
  for (std::size_t i = 0; i < kNodes; ++i)
    CHECK(eventually([&] { return finalized(i) > std::max(fin0, fin3) + 2; }, 60));
  run_on(f, 3);
  expect_all_held(f.settle_and_check());
}

TEST_CASE(
    "faults: a 60/40 partition in which both sides stake more finalizes nothing on either side, "
    "jails nobody, and heals into one chain holding both stakes",
    "[functional][fault][finality]") {
  // Epochs of 8 slots of 300 ms, so that the partition outlasts every delay of the validator
  // sets (a stake counts three epochs after the epoch that finalizes it).
  FaultNetwork f(5, kUsers, 300, 8);
  warm_up(f);
  auto finalized = [&](std::size_t i) { return f.node(i).rpc().info()->finalized_height; };
  REQUIRE(eventually([&] { return finalized(0) > 0; }, 30));
  f.partition({0, 1, 2});
  const std::uint64_t cut = f.net().slot_now();
  std::uint64_t cut_height = 0;
  for (std::size_t i = 0; i < 5; ++i) cut_height = std::max(cut_height, f.height(i));
  // Each side stakes more: 60% would hold 500 of 700 with its new stake, more than 2/3, if
  // stake counted before it is finalized.
  auto stake = [&](std::size_t node, std::uint64_t amount) {
    const Wallet& w = f.net().validators[node];
    auto nonce = f.node(node).rpc().account(w.public_key())->nonce;
    auto tx = w.stake(f.net().genesis.params.chain_id, amount, 1, nonce, 1);
    REQUIRE(f.node(node).rpc().submit(*tx).ok());
  };
  stake(0, 200);
  stake(3, 300);
  const std::uint64_t epoch_slots = f.net().genesis.params.epoch_slots;
  REQUIRE(eventually([&] { return f.net().slot_now() >= cut + 8 * epoch_slots; }, 120));
  CHECK(f.node(0).rpc().account(f.net().validators[0].public_key())->stake == 300);
  CHECK(f.node(3).rpc().account(f.net().validators[3].public_key())->stake == 400);
  // Votes cast before the cut may still finalize a block from before it, on both sides alike.
  CHECK(finalized(0) <= cut_height);
  CHECK(finalized(3) <= cut_height);
  for (std::size_t side : {0, 3}) {
    auto set = f.node(side).rpc().validators();
    REQUIRE(set.ok());
    CHECK(set->total_stake == 500);
    for (std::size_t v = 0; v < 5; ++v)
      CHECK_FALSE(f.node(side).rpc().account(f.net().validators[v].public_key())->jailed);
  }
  f.heal();
  CHECK(eventually([&] { return f.node(0).rpc().info()->tip == f.node(3).rpc().info()->tip; }, 60));
  const std::uint64_t stalled = std::max(finalized(0), finalized(3));
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(eventually([&] { return finalized(i) > stalled + 2; }, 60));
  // The losing side's STAKE went back to its pool and into the one chain.
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(eventually(
        [&] {
          return f.node(i).rpc().account(f.net().validators[0].public_key())->stake == 300 &&
                 f.node(i).rpc().account(f.net().validators[3].public_key())->stake == 400;
        },
        30));
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

// Opt-in (scripts/soak.sh): 4 validators under steady load for POS_SOAK_SECONDS (default 600)
// with a random perturbation every few seconds, then every invariant's verdict.
TEST_CASE("soak: random perturbations under steady load", "[.soak]") {
  const char* env = std::getenv("POS_SOAK_SECONDS");
  const double seconds = env ? std::atof(env) : 600;
  FaultNetwork f(kNodes, kUsers, 300);
  warm_up(f);
  std::mt19937 rng(std::random_device{}());
  std::map<pid_t, long> peak;
  auto sample_memory = [&] {
    for (std::size_t i = 0; i < f.size(); ++i)
      if (f.node(i).running()) {
        long kib = peak_rss_kib(f.node(i).pid());
        peak[f.node(i).pid()] = std::max(peak[f.node(i).pid()], kib);
      }
  };
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::size_t included_at_start = f.included_count();
  int round = 0;
  int unrecovered = 0;
  while (elapsed() < seconds) {
    std::size_t victim = rng() % f.size();
    std::size_t observer = (victim + 1) % f.size();
    switch (rng() % 4) {
      case 0:
        WARN("round " << round << ": SIGKILL n" << victim << ", restart");
        f.kill(victim);
        CHECK(f.grows(observer, 2, 20));
        f.restart(victim);
        break;
      case 1:
        WARN("round " << round << ": SIGSTOP n" << victim << ", SIGCONT");
        f.pause(victim);
        CHECK(f.grows(observer, 2, 20));
        f.resume(victim);
        break;
      case 2:
        WARN("round " << round << ": partition n0 n1 | n2 n3, heal");
        f.partition({0, 1});
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        f.heal();
        break;
      default:
        WARN("round " << round << ": restart n" << victim << " without peers");
        f.kill(victim);
        // Nobody dials the last node (it dials the others): it must keep its --peer list.
        f.restart(victim, victim == f.size() - 1);
        break;
    }
    sample_memory();
    ++round;
    // As in CometBFT's perturbations: the network must recover before the next one.
    bool recovered = eventually(
        [&] {
          auto tip = f.node(0).rpc().info();
          for (std::size_t i = 1; i < f.size(); ++i) {
            auto other = f.node(i).rpc().info();
            if (!tip.ok() || !other.ok() || other->tip != tip->tip) return false;
          }
          return true;
        },
        30);
    if (!recovered) ++unrecovered;
    CHECK(recovered);
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  f.stop_load();
  double duration = elapsed();
  std::size_t included = f.included_count() - included_at_start;
  sample_memory();
  Verdicts v = f.settle_and_check(90);
  long largest = 0;
  for (const auto& [pid, kib] : peak) largest = std::max(largest, kib);
  WARN("soak: " << round << " perturbations (" << unrecovered
                << " not recovered from within 30 s) in " << duration << " s; " << included
                << " transfers included (" << static_cast<double>(included) / duration
                << " tx/s); largest resident memory of any node " << largest << " KiB");
  for (const auto& held : v.held) WARN("held: " << held);
  for (const auto& broken : v.broken) WARN("BROKEN: " << broken);
  CHECK(v.broken.empty());
}
