// Slot-leader election: each validator's Lot is its share of the weight range; one uniform draw
// per (epoch nonce, slot), with no modulo bias, picks the leader (docs/protocol.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "pos/crypto.h"

namespace pos {

// A staker's part of the cumulative stake range: [begin, begin + stake).
struct Lot {
  PublicKey staker;
  std::uint64_t begin = 0;
  std::uint64_t stake = 0;
};

class ProofOfStake {
 public:
  // Stakers with stake > 0, in public-key order (std::map's order is the byte order).
  // Building costs O(stakers); the sum of stakes must fit in u64 (the supply rule ensures it).
  explicit ProofOfStake(const std::map<PublicKey, std::uint64_t>& stakers);

  // SHA-256("pos/lot/v2" || nonce(epoch(slot)) || u64 slot)
  static Hash seed(const Hash& nonce, std::uint64_t slot);
  // The uniform draw of a number in [0, total): rejection sampling over SHA-256(seed || u32 c).
  static std::uint64_t draw(const Hash& seed, std::uint64_t total);

  // The leader of `slot` given its epoch's nonce, or nothing when nobody stakes. O(log stakers).
  std::optional<PublicKey> leader(const Hash& nonce, std::uint64_t slot) const;
  const std::vector<Lot>& lots() const { return lots_; }
  // Whether `key` holds a lot. O(log stakers).
  bool contains(const PublicKey& key) const;
  // The key's weight, 0 if it holds no lot. O(log stakers).
  std::uint64_t weight(const PublicKey& key) const;
  std::size_t size() const { return lots_.size(); }
  std::uint64_t total_stake() const { return total_; }

 private:
  std::vector<Lot> lots_;
  std::uint64_t total_ = 0;
};

}  // namespace pos
