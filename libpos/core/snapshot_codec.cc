#include "snapshot_codec.h"

#include <algorithm>

namespace pos::detail {
namespace {

constexpr std::size_t kCheckpointBytes = 32 + 8 + 8;
constexpr std::size_t kStakerBytes = 32 + 8 + 1;
constexpr std::size_t kWeightBytes = 32 + 8;

}  // namespace

void write_validator_set(ByteWriter& w, const ProofOfStake& set) {
  w.u32(static_cast<std::uint32_t>(set.size()));
  for (const Lot& lot : set.lots()) w.raw(lot.staker.view()).u64(lot.stake);
}

ValidatorSetPtr read_validator_set(ByteReader& r) {
  std::uint32_t n = r.u32();
  if (!r.ok() || n == 0 || n > r.remaining() / kWeightBytes) return nullptr;
  std::map<PublicKey, std::uint64_t> weights;
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    PublicKey staker = r.fixed<PublicKey>();
    std::uint64_t weight = r.u64();
    if (!r.ok() || weight == 0 || __builtin_add_overflow(total, weight, &total) ||
        !weights.emplace(staker, weight).second)
      return nullptr;
  }
  return std::make_shared<const ProofOfStake>(weights);
}

SnapshotWriter::SnapshotWriter(StakeTablePtr genesis_stakes, ValidatorSetPtr genesis_set) {
  table_numbers_[genesis_stakes.get()] = 0;
  set_numbers_[genesis_set.get()] = 0;
}

void SnapshotWriter::checkpoint(const Checkpoint& c) {
  body_.raw(c.hash.view()).u64(c.height).u64(c.slot);
}

void SnapshotWriter::stakes(const StakeTablePtr& table) {
  auto [it, fresh] =
      table_numbers_.try_emplace(table.get(), static_cast<std::uint32_t>(tables_.size() + 1));
  if (fresh) tables_.push_back(table);
  body_.u32(it->second);
}

void SnapshotWriter::set(const ValidatorSetPtr& set) {
  auto [it, fresh] =
      set_numbers_.try_emplace(set.get(), static_cast<std::uint32_t>(sets_.size() + 1));
  if (fresh) sets_.push_back(set);
  body_.u32(it->second);
}

Bytes SnapshotWriter::finish(std::string_view tag) && {
  ByteWriter out;
  out.raw(tag);
  out.u32(static_cast<std::uint32_t>(tables_.size()));
  for (const auto& table : tables_) {
    out.u32(static_cast<std::uint32_t>(table->size()));
    for (const auto& [address, staker] : *table)
      out.raw(address.view()).u64(staker.stake).u8(staker.jailed ? 1 : 0);
  }
  out.u32(static_cast<std::uint32_t>(sets_.size()));
  for (const auto& set : sets_) write_validator_set(out, *set);
  out.raw(ByteView(std::move(body_).take()));
  return std::move(out).take();
}

SnapshotReader::SnapshotReader(ByteView bytes, std::string_view tag, StakeTablePtr genesis_stakes,
                               ValidatorSetPtr genesis_set)
    : r_(bytes), genesis_set_(genesis_set) {
  if (!r_.expect(tag))
    damaged("not a snapshot of this libpos (its tag is not " + std::string(tag) + ")");
  tables_.push_back(std::move(genesis_stakes));
  for (std::uint32_t n = count(4); n > 0; --n) {
    auto table = std::make_shared<StakeTable>();
    for (std::uint32_t i = count(kStakerBytes); i > 0; --i) {
      Address address = key();
      Staker staker;
      staker.stake = u64();
      std::uint8_t jailed = u8();
      staker.jailed = jailed == 1;
      if (staker.stake == 0 || jailed > 1 || !table->emplace(address, staker).second)
        damaged("a stake table is not a table of stakers");
    }
    tables_.push_back(std::move(table));
  }
  sets_.push_back(genesis_set_);
  for (std::uint32_t n = count(4); n > 0; --n) {
    auto set = read_validator_set(r_);
    if (!set) damaged("a validator set is not a set of positive weights");
    sets_.push_back(std::move(set));
  }
}

std::uint32_t SnapshotReader::count(std::size_t item_bytes) {
  std::uint32_t n = checked(r_.u32());
  if (n > r_.remaining() / item_bytes) damaged("a count larger than what follows");
  return n;
}

Checkpoint SnapshotReader::checkpoint() {
  Checkpoint c;
  c.hash = hash();
  c.height = u64();
  c.slot = u64();
  return c;
}

StakeTablePtr SnapshotReader::stakes() {
  std::uint32_t n = checked(r_.u32());
  if (n >= tables_.size()) damaged("a stake table number out of range");
  return tables_[n];
}

ValidatorSetPtr SnapshotReader::set() {
  std::uint32_t n = checked(r_.u32());
  if (n >= sets_.size()) damaged("a validator set number out of range");
  return sets_[n];
}

void SnapshotReader::finish() {
  if (!r_.ok() || r_.remaining() != 0) damaged("bytes left over");
}

void SnapshotReader::damaged(const std::string& why) {
  throw StorageError("damaged consensus snapshot: " + why);
}

void SnapshotCodec::write(SnapshotWriter& w, const ValidatorSchedule& schedule) {
  w.body().u64(schedule.epoch_);
  w.checkpoint(schedule.finalized_.block);
  w.stakes(schedule.finalized_.stakes);
  w.body().u32(static_cast<std::uint32_t>(schedule.ends_->size()));
  for (const StakeSnapshot& end : *schedule.ends_) {
    w.checkpoint(end.block);
    w.stakes(end.stakes);
  }
  for (const auto& set : schedule.sets_) w.set(set);
}

ValidatorSchedule SnapshotCodec::read_schedule(SnapshotReader& r, std::size_t history) {
  ValidatorSchedule s;
  s.epoch_ = r.u64();
  s.finalized_.block = r.checkpoint();
  s.finalized_.stakes = r.stakes();
  auto ends = std::make_shared<std::vector<StakeSnapshot>>(r.count(kCheckpointBytes + 4));
  if (ends->size() != std::max<std::size_t>(history, 5))
    SnapshotReader::damaged("a validator schedule of another history length");
  for (StakeSnapshot& end : *ends) {
    end.block = r.checkpoint();
    end.stakes = r.stakes();
  }
  s.ends_ = std::move(ends);
  for (auto& set : s.sets_) set = r.set();
  s.genesis_set_ = r.genesis_set();
  return s;
}

void SnapshotCodec::write(SnapshotWriter& w, const IncludedVotes& votes) {
  w.body().u32(static_cast<std::uint32_t>(votes.by_epoch_.size()));
  for (const auto& [epoch, voters] : votes.by_epoch_) {
    w.body().u64(epoch).u32(static_cast<std::uint32_t>(voters->size()));
    for (const PublicKey& key : *voters) w.body().raw(key.view());
  }
}

IncludedVotes SnapshotCodec::read_included_votes(SnapshotReader& r) {
  IncludedVotes out;
  for (std::uint32_t n = r.count(12); n > 0; --n) {
    std::uint64_t epoch = r.u64();
    auto voters = std::make_shared<std::set<PublicKey>>();
    for (std::uint32_t i = r.count(32); i > 0; --i) voters->insert(r.key());
    if (!out.by_epoch_.emplace(epoch, std::move(voters)).second)
      SnapshotReader::damaged("included votes list an epoch twice");
  }
  return out;
}

}  // namespace pos::detail
