#include "pos/epoch.h"

#include <stdexcept>

#include "encoding.h"

namespace pos {
namespace {
constexpr std::string_view kNonceTag = "pos/nonce/v1";
}  // namespace

Hash initial_nonce(const Hash& genesis_hash) {
  return Sha256().update(kNonceTag).update(genesis_hash.view()).finish();
}

Hash next_nonce(const Hash& previous, const Hash& outputs_digest) {
  return Sha256().update(kNonceTag).update(previous.view()).update(outputs_digest.view()).finish();
}

Bytes vrf_input(std::string_view chain_id, const Hash& nonce, std::uint64_t slot) {
  detail::ByteWriter w(10 + 2 + chain_id.size() + 32 + 8);
  w.raw(std::string_view("pos/vrf/v1")).str(chain_id).raw(nonce.view()).u64(slot);
  return std::move(w).take();
}

EpochState EpochState::genesis(const Hash& genesis_hash) {
  EpochState s;
  s.nonce_ = initial_nonce(genesis_hash);
  s.next_ = s.nonce_;
  return s;
}

EpochState EpochState::resume(std::uint64_t epoch, const Hash& nonce, const Hash& next_nonce,
                              std::span<const VrfOutput> epoch_outputs) {
  EpochState s;
  s.epoch_ = epoch;
  s.nonce_ = nonce;
  s.next_ = next_nonce;
  for (const auto& output : epoch_outputs) s.outputs_.update(output.view());
  return s;
}

Hash EpochState::nonce_of(std::uint64_t epoch) const {
  if (epoch < epoch_) throw std::invalid_argument("EpochState::nonce_of: an earlier epoch");
  if (epoch == epoch_) return nonce_;
  if (epoch == epoch_ + 1) return next_;
  // nonce(epoch_ + 2) folds in this epoch's outputs; each later one an epoch with no block. The
  // last one computed is kept and continued from: after a long quiet spell (a network restarted
  // months after genesis) the clock's epoch is far ahead, and each later slot asks again.
  const Hash empty = sha256(ByteView());
  if (far_epoch_ < epoch_ + 2) {
    far_epoch_ = epoch_ + 2;
    far_nonce_ = nonce_after_next();
  }
  if (epoch < far_epoch_) {
    // An earlier epoch than the memo's: computed aside, so that the memo never moves back and
    // headers alternating between two epochs cannot make every call pay for the whole gap.
    Hash n = nonce_after_next();
    for (std::uint64_t e = epoch_ + 3; e <= epoch; ++e) n = pos::next_nonce(n, empty);
    return n;
  }
  for (; far_epoch_ < epoch; ++far_epoch_) far_nonce_ = pos::next_nonce(far_nonce_, empty);
  return far_nonce_;
}

Hash EpochState::nonce_after_next() const {
  Sha256 outputs = outputs_;  // finish() consumes it; this epoch's blocks may add more
  return pos::next_nonce(next_, outputs.finish());
}

EpochState EpochState::child(std::uint64_t epoch, const VrfOutput& output) const {
  EpochState s;
  s.epoch_ = epoch;
  if (epoch == epoch_) {
    s.nonce_ = nonce_;
    s.next_ = next_;
    s.outputs_ = outputs_;
  } else {
    s.nonce_ = nonce_of(epoch);
    // nonce(epoch + 1) folds in epoch - 1's outputs: this state's if it is that epoch, else none.
    Sha256 previous = epoch == epoch_ + 1 ? outputs_ : Sha256();
    s.next_ = pos::next_nonce(s.nonce_, previous.finish());
  }
  s.outputs_.update(output.view());
  return s;
}

}  // namespace pos
