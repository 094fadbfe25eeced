#include "pos/consensus.h"

#include "encoding.h"

namespace pos {

Hash ChainParams::hash() const {
  detail::ByteWriter w;
  w.raw(std::string_view("pos/params/v4"))
      .str(chain_id)
      .u64(genesis_time_ms)
      .u64(slot_ms)
      .u64(unbonding_epochs)
      .u64(epoch_slots)
      .u64(max_block_txs)
      .raw(exchange_authority.view());
  return sha256(std::move(w).take());
}

std::uint64_t ChainParams::slot_at(std::uint64_t now_ms) const {
  if (now_ms < genesis_time_ms) return 0;
  return (now_ms - genesis_time_ms) / slot_ms;
}

std::uint64_t ChainParams::slot_start_ms(std::uint64_t slot) const {
  return genesis_time_ms + slot * slot_ms;
}

std::uint64_t ChainParams::weak_subjectivity_slots() const {
  if (epoch_slots != 0 && unbonding_epochs > UINT64_MAX / epoch_slots) return UINT64_MAX;
  return unbonding_epochs * epoch_slots;
}

}  // namespace pos
