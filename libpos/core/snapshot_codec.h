// The parts of a data dir's consensus snapshot (docs/storage.md, "The consensus snapshot"),
// private to core. Stake tables and validator sets are written once each, into pools that the
// parts refer to by number, so that the many schedules and stakes that share one table stay
// shared when read back; number 0 is genesis's, which is never written. Reading damaged bytes
// throws StorageError.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "byte_reader.h"
#include "encoding.h"
#include "pos/finality.h"
#include "pos/storage.h"
#include "pos/validator_sets.h"

namespace pos::detail {

// A validator set's bytes, in a snapshot's pool and in the data dir's `sets` table: u32 n, then
// n x (public key (32), u64 weight) in key order.
void write_validator_set(ByteWriter& w, const ProofOfStake& set);
// The set those bytes hold; nullptr when they are not one: no staker, a count larger than the
// bytes left can hold, a weight of 0, a key twice, weights whose sum overflows, too few bytes.
ValidatorSetPtr read_validator_set(ByteReader& r);

class SnapshotWriter {
 public:
  SnapshotWriter(StakeTablePtr genesis_stakes, ValidatorSetPtr genesis_set);

  ByteWriter& body() { return body_; }
  void checkpoint(const Checkpoint& c);
  void stakes(const StakeTablePtr& table);
  void set(const ValidatorSetPtr& set);
  // `tag`, then the pools, then the body.
  Bytes finish(std::string_view tag) &&;

 private:
  ByteWriter body_;
  std::map<const StakeTable*, std::uint32_t> table_numbers_;
  std::vector<StakeTablePtr> tables_;
  std::map<const ProofOfStake*, std::uint32_t> set_numbers_;
  std::vector<ValidatorSetPtr> sets_;
};

class SnapshotReader {
 public:
  // Checks `tag` and reads the pools.
  SnapshotReader(ByteView bytes, std::string_view tag, StakeTablePtr genesis_stakes,
                 ValidatorSetPtr genesis_set);

  std::uint8_t u8() { return checked(r_.u8()); }
  std::uint64_t u64() { return checked(r_.u64()); }
  // A count of items of at least `item_bytes` each, which the bytes left must be able to hold.
  std::uint32_t count(std::size_t item_bytes);
  Hash hash() { return checked(r_.fixed<Hash>()); }
  PublicKey key() { return checked(r_.fixed<PublicKey>()); }
  Checkpoint checkpoint();
  StakeTablePtr stakes();
  ValidatorSetPtr set();
  const ValidatorSetPtr& genesis_set() const { return genesis_set_; }
  // Every byte read.
  void finish();
  [[noreturn]] static void damaged(const std::string& why);

 private:
  template <class T>
  T checked(T value) {
    if (!r_.ok()) damaged("truncated");
    return value;
  }
  ByteReader r_;
  std::vector<StakeTablePtr> tables_;
  std::vector<ValidatorSetPtr> sets_;
  ValidatorSetPtr genesis_set_;
};

struct SnapshotCodec {
  static void write(SnapshotWriter& w, const FinalityState& finality);
  // The state of the chain up to `block`, which the bytes must name.
  static FinalityState read_finality(SnapshotReader& r, const Checkpoint& block);
  static void write(SnapshotWriter& w, const ValidatorSchedule& schedule);
  // `history`: the length a schedule of this chain keeps (ValidatorSchedule::genesis).
  static ValidatorSchedule read_schedule(SnapshotReader& r, std::size_t history);
  static void write(SnapshotWriter& w, const IncludedVotes& votes);
  static IncludedVotes read_included_votes(SnapshotReader& r);
};

}  // namespace pos::detail
