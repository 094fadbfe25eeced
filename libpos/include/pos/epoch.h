// Epochs and their nonces (docs/protocol.md, "Epochs"): the randomness each slot's leader draw
// and VRF input use. nonce(e) folds in the VRF outputs of the chain's blocks of epoch e-2, so it
// is fixed an epoch before it is used, and a forger's choices inside its block (transactions,
// timestamp) cannot move it: only its VRF output counts, which its key and the slot fix.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "pos/crypto.h"
#include "pos/vrf.h"

namespace pos {

// nonce(0) = nonce(1) = SHA-256("pos/nonce/v1" || genesis_hash)
Hash initial_nonce(const Hash& genesis_hash);
// nonce(e) = SHA-256("pos/nonce/v1" || nonce(e-1) || outputs_digest), outputs_digest the
// SHA-256 of the VRF outputs of epoch e-2's blocks in height order (SHA-256("") if none).
Hash next_nonce(const Hash& previous, const Hash& outputs_digest);
// "pos/vrf/v1" || str(chain_id) || nonce(epoch(slot)) || u64(slot): what a leader proves.
Bytes vrf_input(std::string_view chain_id, const Hash& nonce, std::uint64_t slot);

// Where a chain stands in its epochs after one of its blocks: enough to give the nonce of any
// later slot on that chain, and the state after a child block, in O(1) per epoch crossed.
class EpochState {
 public:
  // The state after genesis (epoch 0; genesis has no VRF output).
  static EpochState genesis(const Hash& genesis_hash);
  // A stored block's state from its stored nonces and the VRF outputs of the chain's blocks of
  // its epoch up to it, in height order.
  static EpochState resume(std::uint64_t epoch, const Hash& nonce, const Hash& next_nonce,
                           std::span<const VrfOutput> epoch_outputs);

  // nonce(epoch) of this chain, for a child block in `epoch` (>= this state's epoch). Costs a
  // hash per epoch crossed since the last call that went further; not thread-safe.
  Hash nonce_of(std::uint64_t epoch) const;
  // The state after a child block in `epoch` (>= this state's epoch) with VRF output `output`.
  EpochState child(std::uint64_t epoch, const VrfOutput& output) const;

  // Epoch 0 with zero nonces: a placeholder until assigned.
  EpochState() = default;

  std::uint64_t epoch() const { return epoch_; }
  // nonce(epoch()) and nonce(epoch() + 1), which are what is stored per block.
  const Hash& nonce() const { return nonce_; }
  const Hash& next_nonce() const { return next_; }

 private:
  // nonce(epoch() + 2) if no more block of this epoch comes: it folds in this epoch's outputs.
  Hash nonce_after_next() const;

  std::uint64_t epoch_ = 0;
  Hash nonce_;
  Hash next_;
  Sha256 outputs_;  // of this epoch's blocks so far, on this chain
  // The latest nonce beyond next_ that nonce_of computed (0: none yet).
  mutable std::uint64_t far_epoch_ = 0;
  mutable Hash far_nonce_;
};

}  // namespace pos
