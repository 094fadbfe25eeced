// Consensus constants and the chain parameters every node must share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pos/crypto.h"

namespace pos {

// The most transactions a block may hold on any chain; a genesis may set a lower max_block_txs.
inline constexpr std::size_t kMaxBlockTransactions = 10'000;
inline constexpr std::uint64_t kMinEpochSlots = 8;
// Unstaked amounts stay slashable this many epochs past the finalized snapshots that counted them.
inline constexpr std::uint64_t kMinUnbondingEpochs = 5;
inline constexpr std::size_t kMaxBlockBytes = 4 * 1024 * 1024;  // the whole encoded block
inline constexpr std::size_t kMaxBlockEvidence = 64;
inline constexpr std::size_t kMaxChainIdLength = 64;
inline constexpr std::size_t kBlockSignatureBytes = 64;

// The parameters fixed by the genesis file; the state root commits to their hash.
struct ChainParams {
  std::string chain_id;
  std::uint64_t genesis_time_ms = 0;
  std::uint64_t slot_ms = 1000;
  std::uint64_t unbonding_epochs = kMinUnbondingEpochs;
  std::uint64_t epoch_slots = 32;
  std::uint64_t max_block_txs = kMaxBlockTransactions;
  Address exchange_authority;

  // SHA-256("pos/params/v4" || str(chain_id) || u64 genesis_time_ms || u64 slot_ms
  //         || u64 unbonding_epochs || u64 epoch_slots
  //         || u64 max_block_txs || exchange_authority)
  Hash hash() const;
  std::uint64_t epoch_of(std::uint64_t slot) const { return slot / epoch_slots; }
  // The slot that holds now_ms (0 before genesis).
  std::uint64_t slot_at(std::uint64_t now_ms) const;
  std::uint64_t slot_start_ms(std::uint64_t slot) const;
  // The weak-subjectivity period in slots: unbonding_epochs epochs (docs/consensus.md).
  std::uint64_t weak_subjectivity_slots() const;
};

}  // namespace pos
