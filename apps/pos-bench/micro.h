// pos-bench micro (micro.cpp): core and storage figures beside raw libsodium rates of one run.
#pragma once

#include <cstddef>

namespace pos::bench {

struct MicroOptions {
  std::size_t block_txs = 10'000;  // transactions in the validated block
  bool quick = false;              // small sizes: proves the benchmark works, rough figures
};

int run_micro(const MicroOptions& options);

// libsodium's raw Ed25519 verify rate with one thread per core, signatures per second (about a
// second of work).
double raw_verify_rate_all_cores();

}  // namespace pos::bench
