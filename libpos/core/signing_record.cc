#include "pos/signing_record.h"

#include <string>

#include "pos_fmt.h"

namespace pos {

Status SigningRecord::check_block(std::uint64_t slot) const {
  if (slot <= slot_)
    return make_error(Reason::kInvalidArgument,
                      fmt::format("slot {} is not after the last signed slot {}", slot, slot_));
  return {};
}

Status SigningRecord::check_vote(std::uint64_t source, std::uint64_t target) const {
  if (target <= target_ || source < source_)
    return make_error(Reason::kInvalidArgument,
                      fmt::format("a vote from height {} to {} could conflict with one signed "
                                  "before (highest source {}, highest target {})",
                                  source, target, source_, target_));
  return {};
}

}  // namespace pos
