#include "pos/signing_record.h"

#include <string>

namespace pos {

Status SigningRecord::check_block(std::uint64_t slot) const {
  if (slot <= slot_)
    return make_error(Reason::kInvalidArgument, "slot " + std::to_string(slot) +
                                                    " is not after the last signed slot " +
                                                    std::to_string(slot_));
  return {};
}

Status SigningRecord::check_vote(std::uint64_t source, std::uint64_t target) const {
  if (target <= target_ || source < source_)
    return make_error(
        Reason::kInvalidArgument,
        "a vote from height " + std::to_string(source) + " to " + std::to_string(target) +
            " could conflict with one signed before (highest source " + std::to_string(source_) +
            ", highest target " + std::to_string(target_) + ")");
  return {};
}

}  // namespace pos
