// SigningRecord: what a validator's key has signed, and the rule that keeps an honest key from
// signing anything slashable (docs/consensus.md, "Honest voting"): never two blocks for one slot,
// never a double or surround vote. Pure: pos-node keeps it in a file it fsyncs before anything
// it allows leaves the process; the simulator keeps it in memory across a node's restarts.
#pragma once

#include <cstdint>

#include "pos/status.h"

namespace pos {

class SigningRecord {
 public:
  SigningRecord() = default;
  SigningRecord(std::uint64_t last_slot, std::uint64_t vote_source, std::uint64_t vote_target)
      : slot_(last_slot), source_(vote_source), target_(vote_target) {}

  // Ok when a block for `slot` may be signed: a slot after the last signed.
  Status check_block(std::uint64_t slot) const;
  // EIP-3076's minimal rule: a target above every target signed before and a source not below
  // any source signed before rules out double and surround votes.
  Status check_vote(std::uint64_t source, std::uint64_t target) const;
  // What was signed (after its check passed).
  void record_block(std::uint64_t slot) { slot_ = slot; }
  void record_vote(std::uint64_t source, std::uint64_t target) {
    source_ = source;
    target_ = target;
  }

  std::uint64_t last_slot() const { return slot_; }
  std::uint64_t vote_source() const { return source_; }
  std::uint64_t vote_target() const { return target_; }

 private:
  std::uint64_t slot_ = 0;
  std::uint64_t source_ = 0;
  std::uint64_t target_ = 0;
};

}  // namespace pos
