// pos-bench micro (micro.cpp): core and storage figures beside raw libsodium rates of one run.
#pragma once

#include <cstddef>

namespace pos::bench {

struct MicroOptions {
  std::size_t block_txs = 10'000;  // transactions in the validated block
  bool quick = false;              // small sizes: proves the benchmark works, rough figures
};

int run_micro(const MicroOptions& options);

}  // namespace pos::bench
