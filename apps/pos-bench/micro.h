// pos-bench micro (micro.cpp): core and storage figures as ratios to baselines measured
// interleaved with them in one run.
#pragma once

#include <cstddef>

namespace pos::bench {

struct MicroOptions {
  std::size_t block_txs = 10'000;  // transactions in the validated block
  bool quick = false;              // small sizes: proves the benchmark works, rough figures
  std::size_t rounds = 5;          // of each measure, alternating with its baseline's
};

int run_micro(const MicroOptions& options);

// libsodium's raw Ed25519 verify rate with one thread per core, signatures per second (the
// median of three samples, about half a second in all).
double raw_verify_rate_all_cores();

}  // namespace pos::bench
