#include "pos/status.h"

#include <array>

namespace pos {
namespace {

// Penalties: 100 for what an honest node never sends, small or zero for what races can cause.
constexpr std::array kTable = {
    ReasonInfo{"malformed", 400, 100},
    ReasonInfo{"bad_key_file", 400, 0},
    ReasonInfo{"bad_genesis", 400, 0},
    ReasonInfo{"io_error", 500, 0},
    ReasonInfo{"unknown_type", 400, 100},
    ReasonInfo{"bad_signature", 400, 100},
    ReasonInfo{"id_mismatch", 400, 100},
    ReasonInfo{"wrong_chain", 400, 100},
    ReasonInfo{"zero_amount", 400, 100},
    ReasonInfo{"bad_receiver", 400, 100},
    ReasonInfo{"unauthorized_exchange", 403, 100},
    ReasonInfo{"stale_nonce", 409, 0},
    ReasonInfo{"nonce_gap", 409, 0},
    ReasonInfo{"insufficient_funds", 422, 0},
    ReasonInfo{"insufficient_stake", 422, 0},
    ReasonInfo{"overflow", 422, 20},
    ReasonInfo{"duplicate", 409, 0},
    ReasonInfo{"replacement_underpriced", 409, 0},
    ReasonInfo{"sender_limit", 429, 0},
    ReasonInfo{"pool_full", 503, 0},
    ReasonInfo{"fee_too_low", 422, 0},
    ReasonInfo{"unknown_parent", 409, 0},
    ReasonInfo{"bad_height", 400, 100},
    ReasonInfo{"slot_not_after_parent", 400, 100},
    ReasonInfo{"slot_in_future", 409, 5},
    ReasonInfo{"bad_timestamp", 400, 100},
    ReasonInfo{"wrong_forger", 400, 100},
    ReasonInfo{"bad_block_signature", 400, 100},
    ReasonInfo{"bad_vrf_proof", 400, 100},
    ReasonInfo{"bad_tx_root", 400, 100},
    ReasonInfo{"bad_state_root", 400, 100},
    ReasonInfo{"bad_tx_count", 400, 100},
    ReasonInfo{"block_too_large", 400, 100},
    ReasonInfo{"too_many_transactions", 400, 100},
    ReasonInfo{"block_tx_invalid", 400, 100},
    ReasonInfo{"conflicts_finalized", 409, 20},
    ReasonInfo{"already_known", 200, 0},
    ReasonInfo{"not_leader", 409, 0},
    ReasonInfo{"invalid_block", 400, 100},
    ReasonInfo{"protocol_version", 400, 0},
    ReasonInfo{"protocol_violation", 400, 100},
    ReasonInfo{"unexpected_message", 400, 20},
    ReasonInfo{"rate_limited", 429, 10},
    ReasonInfo{"not_found", 404, 0},
    ReasonInfo{"invalid_argument", 400, 0},
    ReasonInfo{"storage", 500, 0},
    ReasonInfo{"payload_too_large", 413, 0},
    ReasonInfo{"unavailable", 503, 0},
    ReasonInfo{"bad_vote", 400, 100},
    ReasonInfo{"bad_evidence", 400, 100},
    ReasonInfo{"slashed", 422, 0},
    ReasonInfo{"equivocation", 409, 0},
    ReasonInfo{"checkpoint_required", 409, 0},
    ReasonInfo{"sync_timeout", 504, 10},
};
// Reason::kSyncTimeout is the last reason: a new one goes after it, here and in the enum.
static_assert(kTable.size() == static_cast<std::size_t>(kLastReason) + 1,
              "every Reason needs a row in the table");

}  // namespace

const ReasonInfo& reason_info(Reason reason) {
  return kTable.at(static_cast<std::size_t>(reason));
}

std::optional<Reason> reason_from_code(std::string_view code) {
  for (std::size_t i = 0; i < kTable.size(); ++i)
    if (kTable[i].code == code) return static_cast<Reason>(i);
  return std::nullopt;
}

std::string Error::to_string() const {
  std::string out(reason_code(reason));
  out += ": ";
  out += message;
  return out;
}

}  // namespace pos
