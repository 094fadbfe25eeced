#include "pos/proof_of_stake.h"

#include <algorithm>
#include <stdexcept>

#include "encoding.h"

namespace pos {

ProofOfStake::ProofOfStake(const std::map<PublicKey, std::uint64_t>& stakers) {
  lots_.reserve(stakers.size());
  for (const auto& [key, stake] : stakers) {
    if (stake == 0) continue;
    if (__builtin_add_overflow(total_, stake, &total_))
      throw std::overflow_error("ProofOfStake: total stake exceeds 2^64-1");
    lots_.push_back(Lot{key, total_ - stake, stake});
  }
}

Hash ProofOfStake::seed(const Hash& nonce, std::uint64_t slot) {
  detail::ByteWriter w(10 + 32 + 8);
  w.raw(std::string_view("pos/lot/v2")).raw(nonce.view()).u64(slot);
  return sha256(std::move(w).take());
}

std::uint64_t ProofOfStake::draw(const Hash& seed, std::uint64_t total) {
  if (total == 0) throw std::invalid_argument("ProofOfStake::draw: total is zero");
  // Accept r < 2^64 - (2^64 mod total): the accepted range is a whole number of totals.
  std::uint64_t rem = (~std::uint64_t{0} % total + 1) % total;  // 2^64 mod total
  for (std::uint32_t c = 0;; ++c) {
    detail::ByteWriter w(36);
    w.raw(seed.view()).u32(c);
    Hash h = sha256(std::move(w).take());
    std::uint64_t r = detail::read_u64_be(h.data());
    if (rem == 0 || r < std::uint64_t{0} - rem) return r % total;
  }
}

bool ProofOfStake::contains(const PublicKey& key) const {
  return weight(key) > 0;
}

std::uint64_t ProofOfStake::weight(const PublicKey& key) const {
  auto it = std::lower_bound(lots_.begin(), lots_.end(), key,
                             [](const Lot& lot, const PublicKey& k) { return lot.staker < k; });
  return it != lots_.end() && it->staker == key ? it->stake : 0;
}

std::optional<PublicKey> ProofOfStake::leader(const Hash& nonce, std::uint64_t slot) const {
  if (total_ == 0) return std::nullopt;
  std::uint64_t r = draw(seed(nonce, slot), total_);
  auto it = std::upper_bound(lots_.begin(), lots_.end(), r,
                             [](std::uint64_t value, const Lot& lot) { return value < lot.begin; });
  return std::prev(it)->staker;
}

}  // namespace pos
