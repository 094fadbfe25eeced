// The deterministic simulator (pos::sim, docs/simulator.md): fixed seeds of each scenario, the
// invariants it checks, and that a seed replays a run exactly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "pos/sim.h"
#include "test_support.h"

using namespace pos;
using namespace pos::sim;

namespace {

// WAN-like links: 100 to 300 ms, 2% of messages lost.
Scenario wan(std::uint64_t seed, std::size_t validators, std::uint64_t slots) {
  Scenario s;
  s.seed = seed;
  s.validators = validators;
  s.slots = slots;
  s.link = LinkModel{100, 300, 0.02};
  return s;
}

std::string explain(const Report& r) {
  std::string text = "seed " + std::to_string(r.seed) + ": " + r.violation + "\n";
  for (const auto& line : r.trace) text += line + "\n";
  return text;
}

std::uint64_t lowest(const std::vector<std::uint64_t>& values) {
  return *std::min_element(values.begin(), values.end());
}

// Whether every node holds the same tip.
bool one_tip(const std::vector<Hash>& tips) {
  return std::all_of(tips.begin(), tips.end(), [&](const Hash& t) { return t == tips[0]; });
}

using Kind = Fault::Kind;

// A fault of `kind` at `at_slot`, with the node it names and a stall's or window's length.
Fault fault(Kind kind, std::uint64_t at_slot, std::size_t node = 0, std::uint64_t slots = 1) {
  Fault f;
  f.kind = kind;
  f.at_slot = at_slot;
  f.node = node;
  f.slots = slots;
  return f;
}

// A partition at `at_slot` into the given sides.
Fault split(std::uint64_t at_slot, std::vector<std::size_t> sides) {
  Fault f = fault(Kind::kPartition, at_slot);
  f.sides = std::move(sides);
  return f;
}

}  // namespace

TEST_CASE("sim: a seed replays a run exactly; another seed is another run", "[sim]") {
  Scenario s = wan(11, 5, 80);
  Report a = run(s), b = run(s);
  INFO(explain(a));
  REQUIRE(a.ok);
  CHECK(a.tips == b.tips);
  CHECK(a.finalized == b.finalized);
  CHECK(a.events == b.events);
  CHECK(a.finality_lag == b.finality_lag);
  s.seed = 12;
  Report c = run(s);
  CHECK(c.events != a.events);  // other delays and losses
}

TEST_CASE("sim: steady WAN links; every node finalizes, p99 of the lag within 4 slots", "[sim]") {
  for (std::uint64_t seed : {1, 2, 3}) {
    Report r = run(wan(seed, 5, 120));
    INFO(explain(r));
    REQUIRE(r.ok);
    CHECK(one_tip(r.tips));
    CHECK(lowest(r.finalized) + 8 >= 120);
    std::vector<std::uint64_t> lag = r.finality_lag;
    std::sort(lag.begin(), lag.end());
    REQUIRE(!lag.empty());
    CHECK(lag[lag.size() * 99 / 100] <= 4);
  }
}

TEST_CASE("sim: under a steady load every transaction is final within a few slots, supply exact",
          "[sim][load]") {
  Scenario s = wan(6, 5, 120);
  s.tx_per_slot = 20;
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);  // the supply check is exact: fees move, nothing mints or burns
  CHECK(r.transactions_submitted == 20 * 120);
  // Those of the last slots are not final yet (two slots to finality, plus the block's own).
  CHECK(r.transactions_final + 4 * 20 >= r.transactions_submitted);
  CHECK(r.transactions_final <= r.transactions_submitted);
}

TEST_CASE("sim: nodes on LMDB crash at commits and restart from their data dirs; all holds",
          "[sim][crash][storage]") {
  Scenario s = wan(7, 4, 120);
  s.storage = Scenario::StorageKind::kLmdb;
  s.commit_crash = 0.03;
  s.tx_per_slot = 5;
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);  // a restarted node's state is compared with what others held at its tip
  CHECK(r.commit_crashes > 0);
  // Of the nodes up at the end (one may have crashed in the last slots: its tip is empty).
  std::vector<std::uint64_t> up_finalized;
  for (std::size_t i = 0; i < r.tips.size(); ++i)
    if (r.tips[i] != Hash{}) up_finalized.push_back(r.finalized[i]);
  REQUIRE(up_finalized.size() >= 3);
  CHECK(lowest(up_finalized) > 40);
  CHECK(r.transactions_final > 0);
  // The same seed on MemoryStorage is the same run: the store is invisible to consensus.
  s.storage = Scenario::StorageKind::kMemory;
  Report memory = run(s);
  CHECK(memory.tips == r.tips);
  CHECK(memory.events == r.events);
}

TEST_CASE("sim: a stalled node catches up; a narrow link slows finality without breaking it",
          "[sim][link]") {
  Scenario stalled = wan(8, 5, 120);
  stalled.faults = {fault(Kind::kStall, 30, 1, 20)};
  Report r = run(stalled);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(one_tip(r.tips));
  CHECK(lowest(r.finalized) > 100);

  // 100 transfers a slot over 500 kbit/s links: blocks and votes queue behind transactions.
  Scenario narrow = wan(8, 5, 80);
  narrow.tx_per_slot = 100;
  Report free = run(narrow);
  narrow.link.bandwidth_kbps = 500;
  Report slow = run(narrow);
  INFO(explain(slow));
  REQUIRE(free.ok);
  REQUIRE(slow.ok);
  REQUIRE(!free.finality_lag.empty());
  REQUIRE(!slow.finality_lag.empty());
  CHECK(*std::max_element(slow.finality_lag.begin(), slow.finality_lag.end()) >
        *std::max_element(free.finality_lag.begin(), free.finality_lag.end()));
}

TEST_CASE("sim: a 60/40 partition finalizes nothing on either side and heals into one chain",
          "[sim][partition]") {
  for (std::uint64_t seed : {1, 2}) {
    Scenario s = wan(seed, 5, 200);
    s.faults = {split(30, {0, 0, 0, 1, 1}), fault(Kind::kHeal, 90)};
    Report r = run(s);
    INFO(explain(r));
    REQUIRE(r.ok);
    // One chain again, finalized well past where the partition began.
    CHECK(one_tip(r.tips));
    CHECK(lowest(r.finalized) > 150);
  }
}

TEST_CASE("sim: validators that crash and restart from their storage catch up", "[sim][crash]") {
  Scenario s = wan(5, 4, 200);
  s.faults = {fault(Kind::kCrash, 20, 1), fault(Kind::kCrash, 40, 2), fault(Kind::kRestart, 60, 1),
              fault(Kind::kRestart, 70, 2)};
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(one_tip(r.tips));
  CHECK(lowest(r.finalized) > 150);
}

TEST_CASE("sim: an equivocating leader is slashed, and the network stays one finalizing chain",
          "[sim][evidence]") {
  for (std::uint64_t seed : {1, 2}) {
    Scenario s = wan(seed, 5, 150);
    s.policies[4] = Policy::kDoubleBlocks;
    Report r = run(s);
    INFO(explain(r));
    REQUIRE(r.ok);
    CHECK(r.evidence_included >= 1);
    CHECK(r.slashed == std::vector<std::size_t>{4});
    CHECK(lowest(r.finalized) > 100);
  }
}

TEST_CASE("sim: double votes, surround votes and vote floods are slashed; finality goes on",
          "[sim][evidence]") {
  for (Policy policy : {Policy::kDoubleVotes, Policy::kSurroundVotes, Policy::kVoteFlood}) {
    Scenario s = wan(3, 5, 150);
    s.policies[4] = policy;
    Report r = run(s);
    INFO(policy_name(policy) << ": " << explain(r));
    REQUIRE(r.ok);
    CHECK(r.offenders == std::vector<std::size_t>{4});
    CHECK(r.slashed == std::vector<std::size_t>{4});
    CHECK_FALSE(r.finality_conflicted);
    CHECK(lowest(r.finalized) > 100);
  }
}

TEST_CASE("sim: a leader withholding its blocks and a peer lying about its height stop nothing",
          "[sim]") {
  Scenario s = wan(4, 5, 150);
  s.policies[3] = Policy::kWithholdBlocks;
  s.policies[4] = Policy::kLyingHeights;
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(r.evidence_included == 0);  // late blocks and lies are not slashable
  CHECK(r.slashed.empty());
  CHECK(lowest(r.finalized) > 100);
  CHECK(std::any_of(r.trace.begin(), r.trace.end(), [](const std::string& line) {
    return line.find("releases its block") != std::string::npos;
  }));
}

TEST_CASE("sim: a validator grinding the draw by withholding blocks stays within the bound",
          "[sim][grinding]") {
  Scenario s = wan(1, 5, 2000);
  s.policies[0] = Policy::kGrinding;
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(r.withheld_blocks > 0);  // it used the one choice v2 leaves it
  std::uint64_t total = 0;
  for (auto n : r.blocks_forged) total += n;
  // docs/consensus.md, "Grinding": a 20% validator doing so makes 20.7% of the blocks on
  // average; within 3 standard deviations here.
  const double n = static_cast<double>(total), bound = 0.207;
  INFO("the grinder made " << r.blocks_forged[0] << " of " << total << " blocks");
  CHECK(static_cast<double>(r.blocks_forged[0]) <
        n * bound + 3 * std::sqrt(n * bound * (1 - bound)));
}

namespace {

// Validators 2 and 3 of 4 run a node on each side of a split, each signing there; they stop at
// the heal, so their pairs of votes are met only in the conflicting chains' blocks.
Scenario two_faced_split(std::uint64_t seed, std::vector<std::size_t> two_faced) {
  Scenario s = wan(seed, 4, 200);
  for (std::size_t v : two_faced) s.policies[v] = Policy::kTwoFaced;
  s.faults = {split(20, {0, 1, 0, 0}), fault(Kind::kHeal, 80)};
  for (std::size_t v : two_faced) s.faults.push_back(fault(Kind::kCrash, 80, v));
  return s;
}

}  // namespace

TEST_CASE(
    "sim: with more than 1/3 two-faced, finalized chains conflict and evidence slashes them "
    "on both (accountable safety)",
    "[sim][evidence][partition]") {
  for (std::uint64_t seed : {1, 2}) {
    Report r = run(two_faced_split(seed, {2, 3}));
    INFO(explain(r));
    REQUIRE(r.ok);
    CHECK(r.finality_conflicted);
    CHECK(r.finalized[0] > 0);
    CHECK(r.finalized[1] > 0);
    CHECK(r.offenders == std::vector<std::size_t>{2, 3});
    CHECK(r.slashed == std::vector<std::size_t>{2, 3});
  }
}

TEST_CASE("sim: with less than 1/3 two-faced nothing conflicts, and the two-faced one is slashed",
          "[sim][evidence][partition]") {
  Report r = run(two_faced_split(3, {3}));
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK_FALSE(r.finality_conflicted);
  CHECK(r.slashed == std::vector<std::size_t>{3});
  CHECK(one_tip({r.tips.begin(), r.tips.end() - 1}));  // the last crashed at the heal
}

TEST_CASE("sim: with half the stake offline nothing finalizes, and nothing conflicts", "[sim]") {
  Scenario s = wan(3, 4, 100);
  s.policies[2] = Policy::kOffline;
  s.policies[3] = Policy::kOffline;
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(r.finalized[0] == 0);
  CHECK(r.finalized[1] == 0);
}

TEST_CASE("sim: finality that cannot meet the liveness bound is reported with its seed and trace",
          "[sim]") {
  // Finality asked to rise every slot: it takes two (a block is justified by the next block's
  // votes, finalized by the one after), so the liveness check must report it.
  Scenario s = wan(9, 4, 80);
  s.liveness_slots = 1;
  Report r = run(s);
  REQUIRE_FALSE(r.ok);
  CHECK(r.seed == 9);
  CHECK_THAT(r.violation, Catch::Contains("finalized height stayed"));
  CHECK_FALSE(r.trace.empty());
  CHECK_THAT(r.trace.back(), Catch::Contains("VIOLATION"));
}

TEST_CASE("sim: scenario files are read strictly; bad ones are refused with the reason", "[sim]") {
  auto ok = Scenario::from_json(
      R"({"seed": 4, "validators": 6, "slots": 50, "link": {"min_ms": 100, "max_ms": 300,
          "loss": 0.02, "bandwidth_kbps": 800}, "degree": 4, "policies": {"5": "double_blocks", "1": "two_faced",
          "2": "vote_flood", "3": "lying_heights"}, "storage": "lmdb", "commit_crash": 0.1,
          "restart_slots": 3,
          "faults": [{"kind": "partition", "at_slot": 10, "sides": [0, 0, 0, 1, 1, 1]},
                     {"kind": "heal", "at_slot": 20}, {"kind": "crash", "at_slot": 5, "node": 2},
                     {"kind": "stall", "at_slot": 7, "node": 1, "slots": 4},
                     {"kind": "random_partitions", "at_slot": 8, "slots": 30}]})");
  REQUIRE(ok.ok());
  CHECK(ok->seed == 4);
  CHECK(ok->validators == 6);
  CHECK(ok->link.max_ms == 300);
  CHECK(ok->link.bandwidth_kbps == 800);
  CHECK(ok->degree == 4);
  CHECK(ok->policies.at(5) == Policy::kDoubleBlocks);
  CHECK(ok->policies.at(1) == Policy::kTwoFaced);
  CHECK(ok->policies.at(2) == Policy::kVoteFlood);
  CHECK(ok->policies.at(3) == Policy::kLyingHeights);
  CHECK(ok->storage == Scenario::StorageKind::kLmdb);
  CHECK(ok->commit_crash == 0.1);
  CHECK(ok->restart_slots == 3);
  REQUIRE(ok->faults.size() == 5);
  CHECK(ok->faults[4].kind == Fault::Kind::kRandomPartitions);
  CHECK(ok->faults[3].kind == Fault::Kind::kStall);
  CHECK(ok->faults[3].slots == 4);
  CHECK(ok->faults[0].sides.size() == 6);
  CHECK(ok->faults[2].node == 2);
  for (const char* bad :
       {"", "[]", "{\"slots\": 5}", "{\"validators\": 0}", "{\"validators\": 4, \"slotz\": 5}",
        "{\"validators\": 4, \"policies\": {\"4\": \"honest\"}}",
        "{\"validators\": 4, \"policies\": {\"1\": \"evil\"}}",
        "{\"validators\": 4, \"link\": {\"loss\": 1.5}}",
        "{\"validators\": 4, \"link\": {\"min_ms\": 10, \"max_ms\": 5}}",
        "{\"validators\": 4, \"faults\": [{\"kind\": \"meteor\"}]}",
        "{\"validators\": 4, \"faults\": [{\"kind\": \"crash\", \"node\": 9}]}",
        "{\"validators\": 4, \"seed\": -1}", "{\"validators\": 4, \"tx_per_slot\": 10001}",
        "{\"validators\": 4, \"storage\": \"disk\"}", "{\"validators\": 4, \"storage\": 1}",
        "{\"validators\": 4, \"commit_crash\": 1.0}", "{\"validators\": 4, \"restart_slots\": 0}",
        "{\"validators\": 4, \"faults\": [{\"kind\": \"stall\", \"slots\": 0}]}",
        "{\"validators\": 4, \"link\": {\"bandwidth_kbps\": 1000000001}}"}) {
    INFO(bad);
    auto refused = Scenario::from_json(bad);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.reason() == Reason::kInvalidArgument);
  }
}

TEST_CASE("sim: random splits of the network, drawn from the seed, heal into one chain",
          "[sim][partition]") {
  Scenario s = wan(2, 7, 300);
  s.faults = {fault(Kind::kRandomPartitions, 10, 0, 150)};
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(r.random_splits >= 3);
  CHECK(one_tip(r.tips));
  CHECK(lowest(r.finalized) > 200);

  // A split of another fault, in force through the window, is neither healed nor redrawn by it.
  Scenario kept = wan(2, 4, 80);
  kept.faults = {split(5, {0, 0, 1, 1}), fault(Kind::kRandomPartitions, 10, 0, 40)};
  Report halves = run(kept);
  INFO(explain(halves));
  REQUIRE(halves.ok);
  CHECK(halves.random_splits == 0);
  // Two halves from slot 5: neither finalizes past what it had then.
  CHECK(*std::max_element(halves.finalized.begin(), halves.finalized.end()) <= 5);
}

TEST_CASE("sim: a fault due before the first slot happens at it; bad scenarios are not run",
          "[sim][partition]") {
  // Split 2 and 2 from the start and never healed: neither side holds more than 2/3.
  Scenario s = wan(4, 4, 60);
  s.faults = {split(0, {0, 0, 1, 1})};
  Report r = run(s);
  INFO(explain(r));
  REQUIRE(r.ok);
  CHECK(r.finalized == std::vector<std::uint64_t>(4, 0));
  Scenario none = wan(1, 0, 10);
  Report refused = run(none);
  CHECK_FALSE(refused.ok);
  CHECK(refused.events == 0);
}
