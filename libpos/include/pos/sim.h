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
  // Besides its honest vote, signs two more for each new head: from genesis and from the block
  // at height 1 (a double vote; evidence must slash it).
  kDoubleVotes,
  // Once an epoch signs a vote from genesis to its head, around the votes it signed before (a
  // surround vote; evidence must slash it).
  kSurroundVotes,
  // Signs the block of each slot it leads on time but releases it only half a slot into the next
  // slot, after that slot's block (fork choice must keep the honest block's votes).
  kWithholdBlocks,
  // Tells every peer that asks that it is far ahead, and never answers a request for blocks;
  // forges and votes honestly (liveness must not rest on a peer's word).
  kLyingHeights,
  // For each new head signs votes to it from up to 16 of its ancestors (a member flooding votes
  // for one target: only one is includable, and evidence must slash it).
  kVoteFlood,
  // Grinds the leader draw as far as v2 lets it (docs/consensus.md, "Grinding"): when every
  // slot left in an epoch is its own, it withholds its block there if the nonce without it
  // gives it more slots two epochs later than the block is worth (a withheld block is never
  // sent). Its share of the blocks must stay within that section's bound.
  kGrinding,
  // Runs two nodes with its key, one on each side of a partition in two; while the network is
  // split each side's node forges and votes (so the two sign conflicting votes), while it is
  // whole only the first does. With more than 1/3 of the stake two-faced, both sides may
  // finalize conflicting blocks: then evidence must slash at least 1/3 of the stake. (Only this
  // policy excuses a conflict: no other lets a key sign on two chains.)
  kTwoFaced,
};

// One link's behaviour: a delay drawn uniformly from [min_ms, max_ms] (so messages overtake
// each other), and a message lost with probability `loss`. With a bandwidth, each direction of
// a link sends one message at a time, each taking its size at that rate before its delay.
struct LinkModel {
  std::uint64_t min_ms = 20;
  std::uint64_t max_ms = 80;
  double loss = 0;
  std::uint64_t bandwidth_kbps = 0;  // 0: unlimited
};

// A change of the world at the start of a slot.
struct Fault {
  // kStall: the node does nothing for `slots` slots (a paused process, an overloaded loop):
  // its clock ticks and the messages sent to it wait, and all happen when it resumes.
  // kRandomPartitions: for `slots` slots from at_slot, while the network is whole, each slot
  // splits it with chance 1/10 into two random sides (each validator's drawn), healed 5 to 30
  // slots later, and whole at the window's end; all drawn from the seed.
  enum class Kind { kPartition, kHeal, kCrash, kRestart, kStall, kRandomPartitions };
  Kind kind = Kind::kHeal;
  std::uint64_t at_slot = 0;
  // kPartition: each validator's side (the same number: one side); validators not named are on
  // side 0, and a two-faced validator's second node is on side 1 when its first is on side 0,
  // else on side 0. kCrash / kRestart: the validator (both nodes of a two-faced one).
  std::vector<std::size_t> sides;
  std::size_t node = 0;
  std::uint64_t slots = 1;  // kStall's and kRandomPartitions' length
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
  // Where each node keeps its chain: MemoryStorage, or LMDB in a temp dir of its own (removed
  // at the end; its commits are not fsynced, since a simulated crash loses only what was not
  // committed), so that a restart reads the chain back from disk.
  enum class StorageKind { kMemory, kLmdb };
  StorageKind storage = StorageKind::kMemory;
  // Each commit's chance to crash its node: the batch lands whole or not at all (even odds,
  // as a crash before or during the commit's fsync leaves it), nothing more leaves the node,
  // and it restarts from its storage `restart_slots` later.
  double commit_crash = 0;
  std::uint64_t restart_slots = 5;
  // Transfers submitted at each slot's start, each to a random node that is up, by clients
  // (accounts funded at genesis, at most 256) that take the next nonce from that node.
  std::uint64_t tx_per_slot = 0;

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
  // Finalized blocks conflicted: a violation unless more than 1/3 of the stake is two-faced;
  // then every honest chain's evidence must slash at least 1/3 of the stake, of two-faced keys
  // (checked liveness_slots after the last fault ends).
  bool finality_conflicted = false;
  // Validators whose policy signed a slashable pair, each slashed on every honest node's chain
  // within liveness_slots of its first offence once the network is whole (else a violation).
  std::vector<std::size_t> offenders;
  std::uint64_t transactions_submitted = 0;  // accepted by the node they were sent to
  std::uint64_t transactions_final = 0;      // in node 0's finalized blocks
  std::uint64_t commit_crashes = 0;          // nodes crashed at a commit (commit_crash)
  std::uint64_t withheld_blocks = 0;         // blocks a grinding validator chose not to send
  std::uint64_t random_splits = 0;           // splits drawn by kRandomPartitions
  std::vector<std::uint64_t> blocks_forged;  // each validator's blocks on node 0's chain
};

// "honest", "double_blocks", "offline", "double_votes", "surround_votes", "withhold_blocks",
// "lying_heights", "vote_flood", "grinding" or "two_faced".
Result<Policy> parse_policy(std::string_view name);
std::string_view policy_name(Policy policy);
// "memory" or "lmdb".
Result<Scenario::StorageKind> parse_storage(std::string_view name);

// Runs the scenario to its end or to the first violation. A scenario out of bounds (no
// validators, slot_ms outside 10 to 600,000, more than 1,000,000 slots, link delays over
// 600,000 ms or max below min, more than 10,000 transactions a slot, commit_crash outside
// [0, 1), restart_slots or a stall outside 1 to 1,000,000 slots, a bandwidth over 10^9 kbps) is
// refused: ok false, nothing run.
Report run(const Scenario& scenario);

}  // namespace pos::sim
