// pos::sim: the real consensus code (Blockchain, TransactionPool, ConsensusEngine on
// MemoryStorage) of N validators in one process on one thread, with a simulated clock and a
// simulated network (latency, loss, partitions) and faults (crashes and restarts), everything
// random drawn from one seed: a seed replays a run exactly (docs/simulator.md). Invariants are
// checked after every event; the first violation ends the run with the seed and a trace.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos::sim {

// How a validator's node behaves.
enum class Policy {
  kHonest,
  // In each slot it leads, signs two blocks and sends one to half its peers, the other to the
  // rest (an equivocating leader: evidence must slash it, and the network must stay one chain).
  kDoubleBlocks,
  // Runs no node at all: its stake never votes and its slots stay empty.
  kOffline,
};

// One link's behaviour: a delay drawn uniformly from [min_ms, max_ms], and a message lost with
// probability `loss`.
struct LinkModel {
  std::uint64_t min_ms = 20;
  std::uint64_t max_ms = 80;
  double loss = 0;
};

// A change of the world at the start of a slot.
struct Fault {
  enum class Kind { kPartition, kHeal, kCrash, kRestart };
  Kind kind = Kind::kHeal;
  std::uint64_t at_slot = 0;
  // kPartition: each validator's side (the same number: one side); validators not named are on
  // side 0. kCrash / kRestart: the validator.
  std::vector<std::size_t> sides;
  std::size_t node = 0;
};

struct Scenario {
  std::uint64_t seed = 1;
  std::size_t validators = 4;
  std::uint64_t slot_ms = 1000;
  std::uint64_t epoch_slots = 32;
  std::uint64_t slots = 200;  // the run's length
  LinkModel link;
  // Each node's peers: every other node when there are at most degree + 1 (or degree is 0),
  // else a ring and random links to about this many.
  std::size_t degree = 8;
  std::map<std::size_t, Policy> policies;  // validators not named are honest
  std::vector<Fault> faults;
  // Once every fault is over (the last heal or restart) and more than 2/3 of the stake is
  // honest and up, every honest node's finalized height must rise within this many slots.
  std::uint64_t liveness_slots = 96;

  // The JSON form (docs/simulator.md); every key but "validators" is optional.
  static Result<Scenario> from_json(std::string_view json);
};

struct Report {
  std::uint64_t seed = 0;
  bool ok = true;
  std::string violation;           // the first invariant broken, when !ok
  std::vector<std::string> trace;  // the last events before it (or before the end)
  std::uint64_t slots_run = 0;
  std::uint64_t events = 0;
  double wall_seconds = 0;
  std::vector<Hash> tips;                   // each node's tip at the end (zero when down)
  std::vector<std::uint64_t> finalized;     // each node's finalized height at the end
  std::vector<std::uint64_t> finality_lag;  // per block finalized on node 0: slots it took
  std::uint64_t evidence_included = 0;      // on node 0's chain
  std::vector<std::size_t> slashed;         // validators slashed on node 0's chain
};

// "honest", "double_blocks" or "offline".
Result<Policy> parse_policy(std::string_view name);

// Runs the scenario to its end or to the first violation. A scenario out of bounds (no
// validators, slot_ms outside 10 to 600,000, more than 1,000,000 slots, link delays over
// 600,000 ms or max below min) is refused: ok false, nothing run.
Report run(const Scenario& scenario);

}  // namespace pos::sim
