// pos-sim: runs the deterministic simulator (docs/simulator.md) for one seed, or many, and says
// what it found. Exit 0 when every run held every invariant, 1 when one broke (its seed, the
// violation and a trace are printed: `pos-sim ... --seed S` replays it exactly), 2 for bad
// arguments.
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "../common/cli.h"
#include "pos/crypto.h"
#include "pos/sim.h"
#include "pos_fmt.h"

namespace {

constexpr const char* kUsage = R"(usage: pos-sim [options]

  --scenario FILE       a scenario file (JSON, docs/simulator.md); the flags below override it
  --seed S              the run's seed (default 1); a failing seed replays exactly
  --seeds N             run N seeds, S to S+N-1, and report those that fail
  --validators N        validators, each running a node (default 4)
  --slots K             slots to simulate (default 200)
  --slot-ms MS          slot length (default 1000)
  --epoch-slots E       slots per epoch (default 32)
  --latency MIN-MAX     each message's delay, uniform in [MIN, MAX] ms (default 20-80)
  --loss P              each message's chance to be lost (default 0)
  --bandwidth KBPS      each link direction's rate in kilobits a second (default 0: unlimited)
  --policy I=POLICY     validator I's behaviour (repeatable): honest, offline, double_blocks,
                        double_votes, surround_votes, vote_flood, withhold_blocks,
                        lying_heights, grinding or two_faced (docs/simulator.md)
  --liveness-slots K    once faults are over, finality must rise within K slots (default 96)
  --tx-per-slot N       transfers clients submit at each slot's start (default 0, at most 10000)
  --storage KIND        memory (default) or lmdb: each node's chain in LMDB in a temp dir
  --commit-crash P      each commit's chance to crash its node (restarted 5 slots later)
  --trace               print the last events of every run, not only of a failing one
  --help
)";

[[noreturn]] void fail(const std::string& message) {
  pos::apps::fail("pos-sim", 2, message);
}

std::uint64_t number(const std::string& flag, const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    fail(flag + " needs a whole number, not \"" + text + "\"");
  return std::stoull(text);
}

// p-th percentile (0-100) of the values, sorted in place.
std::uint64_t percentile(std::vector<std::uint64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto at = static_cast<std::size_t>(p / 100.0 * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(at, values.size() - 1)];
}

void print_report(pos::sim::Report& r, std::uint64_t slot_ms, bool trace) {
  fmt::print(
      "seed {}: {}, {} slots, {} events in {:.2f} s ({:.0f} slots a second, {:.0f}x real time)\n",
      r.seed, r.ok ? "ok" : "VIOLATION", r.slots_run, r.events, r.wall_seconds,
      static_cast<double>(r.slots_run) / std::max(r.wall_seconds, 1e-9),
      static_cast<double>(r.slots_run * slot_ms) / 1000.0 / std::max(r.wall_seconds, 1e-9));
  fmt::print("  finalized heights: {}\n", fmt::join(r.finalized, " "));
  fmt::print("  node 0's tip: {}\n", r.tips.empty() ? "-" : r.tips[0].hex());
  std::vector<std::uint64_t> lag = r.finality_lag;
  const std::uint64_t p50 = percentile(lag, 50), p99 = percentile(lag, 99);
  fmt::print(
      "  finality lag on node 0 (slots from a block's slot to final): p50 {}, p99 {}, max {} "
      "over {} blocks\n",
      p50, p99, lag.empty() ? 0 : lag.back(), lag.size());
  const std::string slashed = fmt::format("{}", fmt::join(r.slashed, " "));
  fmt::print("  blocks on node 0's chain by validator: {}\n", fmt::join(r.blocks_forged, " "));
  if (r.random_splits > 0) fmt::print("  random splits: {}\n", r.random_splits);
  if (r.withheld_blocks > 0)
    fmt::print("  blocks a grinding validator withheld: {}\n", r.withheld_blocks);
  if (r.commit_crashes > 0) fmt::print("  nodes crashed at a commit: {}\n", r.commit_crashes);
  if (r.transactions_submitted > 0)
    fmt::print("  transactions: {} accepted, {} in node 0's finalized blocks\n",
               r.transactions_submitted, r.transactions_final);
  fmt::print("  evidence included: {}; slashed validators: {}\n", r.evidence_included,
             slashed.empty() ? "none" : slashed);
  const std::string offenders = fmt::format("{}", fmt::join(r.offenders, " "));
  fmt::print("  signed slashable pairs: {}\n", offenders.empty() ? "none" : offenders);
  if (r.finality_conflicted)
    fmt::print("  finalized chains conflicted (more than 1/3 of the stake is Byzantine){}\n",
               r.ok ? "; evidence slashed at least 1/3 on every honest chain" : "");
  if (!r.ok) fmt::print("  violation: {}\n", r.violation);
  if (!r.ok || trace) {
    fmt::print("  last events:\n");
    for (const auto& line : r.trace) fmt::print("    {}\n", line);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  pos::sim::Scenario scenario;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "--scenario") continue;
    auto text = pos::apps::read_text_file(args[i + 1]);
    if (!text.ok()) fail(text.error().message);
    auto parsed = pos::sim::Scenario::from_json(*text);
    if (!parsed.ok()) fail(args[i + 1] + ": " + parsed.error().message);
    scenario = *parsed;
  }
  std::uint64_t seeds = 1;
  bool trace = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) fail(a + " needs a value");
      return args[++i];
    };
    if (a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--scenario") {
      ++i;
    } else if (a == "--seed") {
      scenario.seed = number(a, value());
    } else if (a == "--seeds") {
      seeds = number(a, value());
      if (seeds == 0) fail("--seeds needs at least 1");
    } else if (a == "--validators") {
      scenario.validators = number(a, value());
      if (scenario.validators == 0 || scenario.validators > 1000)
        fail("--validators must be 1 to 1000");
    } else if (a == "--slots") {
      scenario.slots = number(a, value());
      if (scenario.slots > 1'000'000) fail("--slots must be at most 1000000");
    } else if (a == "--slot-ms") {
      scenario.slot_ms = number(a, value());
      if (scenario.slot_ms < 10 || scenario.slot_ms > 600'000)
        fail("--slot-ms must be 10 to 600000");
    } else if (a == "--epoch-slots") {
      scenario.epoch_slots = number(a, value());
      if (scenario.epoch_slots == 0) fail("--epoch-slots must be at least 1");
    } else if (a == "--latency") {
      std::string range = value();
      auto dash = range.find('-');
      if (dash == std::string::npos) fail("--latency needs MIN-MAX in ms, e.g. 100-300");
      scenario.link.min_ms = number(a, range.substr(0, dash));
      scenario.link.max_ms = number(a, range.substr(dash + 1));
      if (scenario.link.max_ms < scenario.link.min_ms) fail("--latency: MAX is below MIN");
      if (scenario.link.max_ms > 600'000) fail("--latency: MAX is at most 600000");
    } else if (a == "--bandwidth") {
      scenario.link.bandwidth_kbps = number(a, value());
    } else if (a == "--loss") {
      std::string p = value();
      char* end = nullptr;
      double loss = std::strtod(p.c_str(), &end);
      if (p.empty() || *end != '\0' || !(loss >= 0 && loss < 1))
        fail("--loss needs a probability in [0, 1)");
      scenario.link.loss = loss;
    } else if (a == "--policy") {
      std::string spec = value();
      auto eq = spec.find('=');
      if (eq == std::string::npos) fail("--policy needs I=POLICY");
      std::uint64_t index = number(a, spec.substr(0, eq));
      auto policy = pos::sim::parse_policy(spec.substr(eq + 1));
      if (!policy.ok()) fail("--policy: " + policy.error().message);
      scenario.policies[index] = *policy;
    } else if (a == "--liveness-slots") {
      scenario.liveness_slots = number(a, value());
    } else if (a == "--tx-per-slot") {
      scenario.tx_per_slot = number(a, value());
    } else if (a == "--storage") {
      auto kind = pos::sim::parse_storage(value());
      if (!kind.ok()) fail("--storage: " + kind.error().message);
      scenario.storage = *kind;
    } else if (a == "--commit-crash") {
      const std::string text = value();
      char* end = nullptr;
      const double p = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(p >= 0 && p < 1))
        fail("--commit-crash needs a chance in [0, 1), not \"" + text + "\"");
      scenario.commit_crash = p;
    } else if (a == "--trace") {
      trace = true;
    } else {
      fail("unknown argument \"" + a + "\" (see --help)");
    }
  }
  for (const auto& [index, policy] : scenario.policies)
    if (index >= scenario.validators) fail(fmt::format("--policy: no validator {}", index));

  if (!pos::init().ok()) fail("libsodium failed to start");
  std::vector<std::uint64_t> failing;
  const std::uint64_t first = scenario.seed;
  for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
    scenario.seed = seed;
    pos::sim::Report report = pos::sim::run(scenario);
    print_report(report, scenario.slot_ms, trace);
    if (!report.ok) failing.push_back(seed);
  }
  fmt::print("{} of {} seeds failed{}\n", failing.size(), seeds,
             failing.empty() ? "" : fmt::format(": {}", fmt::join(failing, " ")));
  return failing.empty() ? 0 : 1;
}
