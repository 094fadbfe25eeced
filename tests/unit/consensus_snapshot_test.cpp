// The consensus snapshot (docs/storage.md, "The consensus snapshot"): opening a data dir from it
// gives the chain that a replay from genesis gives, in everything consensus reads, across
// stakes, unstakes, slashing, jails and restarts; it reads only the blocks above it; and a
// snapshot that is damaged or belongs to another chain is refused.
#include <algorithm>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

// A view of another storage that counts the blocks read, writes nothing, and when `hide` is set
// has no snapshot and no past sets: the same data dir as a libpos before snapshots saw it. With
// `older`, that is its snapshot instead of the stored one.
class View final : public StorageWrapper {
 public:
  View(Storage& inner, bool hide, std::optional<Bytes> older = std::nullopt)
      : StorageWrapper(inner), hide_(hide), older_(std::move(older)) {}
  std::size_t blocks_read() const { return blocks_read_; }

  BlockPtr block(const Hash& hash) const override {
    ++blocks_read_;
    return inner_.block(hash);
  }
  std::optional<Bytes> consensus_snapshot() const override {
    if (hide_) return std::nullopt;
    return older_ ? older_ : inner_.consensus_snapshot();
  }
  std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> past_validator_sets() const override {
    if (hide_) return {};
    return inner_.past_validator_sets();
  }
  Status commit(const StorageBatch&) override {
    return make_error(Reason::kStorage, "a view writes nothing");
  }

 private:
  bool hide_;
  std::optional<Bytes> older_;
  mutable std::size_t blocks_read_ = 0;
};

std::vector<std::pair<PublicKey, std::uint64_t>> weights(const ProofOfStake& set) {
  std::vector<std::pair<PublicKey, std::uint64_t>> out;
  for (const Lot& lot : set.lots()) out.emplace_back(lot.staker, lot.stake);
  return out;
}

// Everything consensus reads of a chain is the same in `a` and `b`: tip, finality and every
// justified height, the votes counted, the state, every epoch's nonce and validator set up to
// three epochs ahead, the leaders of those slots, and who validates, votes or equivocates.
void check_same_consensus(const TestNet& net, const Blockchain& a, const Blockchain& b) {
  REQUIRE(a.tip_hash() == b.tip_hash());
  CHECK(a.finalized() == b.finalized());
  CHECK(a.vote_finality().block() == b.vote_finality().block());
  CHECK(a.vote_finality().justified() == b.vote_finality().justified());
  CHECK(a.vote_finality().finalized() == b.vote_finality().finalized());
  for (std::uint64_t h = 0; h <= a.height() + 1; ++h)
    CHECK(a.vote_finality().is_justified(h) == b.vote_finality().is_justified(h));
  std::vector<const Wallet*> wallets;
  for (const auto& w : net.validators) wallets.push_back(&w);
  for (const auto& w : net.users) wallets.push_back(&w);
  for (const Wallet* w : wallets) {
    const PublicKey& key = w->public_key();
    for (std::uint64_t h = a.finalized_height(); h <= a.height(); ++h)
      CHECK(a.vote_finality().has_vote(key, h) == b.vote_finality().has_vote(key, h));
    CHECK(a.is_validator(key) == b.is_validator(key));
    CHECK(a.is_voter(key) == b.is_voter(key));
    CHECK(a.is_equivocator(key) == b.is_equivocator(key));
  }
  CHECK(a.state().state_root() == b.state().state_root());
  CHECK(a.indexed_blocks() == b.indexed_blocks());
  const ChainParams& params = net.genesis.params;
  const std::uint64_t tip_epoch = params.epoch_of(a.tip().slot);
  for (std::uint64_t e = 0; e <= tip_epoch + 3; ++e) {
    INFO("epoch " << e);
    auto da = a.epoch_draw(e);
    auto db = b.epoch_draw(e);
    CHECK(da.nonce == db.nonce);
    CHECK(weights(*da.validators) == weights(*db.validators));
  }
  for (std::uint64_t slot = a.tip().slot + 1; slot < (tip_epoch + 4) * params.epoch_slots; ++slot)
    CHECK(a.leader(slot) == b.leader(slot));
  std::vector<Hash> ea, eb;
  for (const auto& e : a.pending_evidence()) ea.push_back(e->id());
  for (const auto& e : b.pending_evidence()) eb.push_back(e->id());
  CHECK(ea == eb);
}

// Opens the net's data twice, from its snapshot and by replay from genesis, and checks both
// against the running chain and each other; the snapshot's open reads only the recent blocks.
void check_snapshot_open(TestNet& net) {
  REQUIRE(net.storage->consensus_snapshot());
  View with_snapshot(*net.storage, false);
  View from_genesis(*net.storage, true);
  auto resumed = Blockchain::open(net.genesis, with_snapshot, net.clock);
  auto replayed = Blockchain::open(net.genesis, from_genesis, net.clock);
  REQUIRE(resumed.ok());
  REQUIRE(replayed.ok());
  const std::size_t read_resuming = with_snapshot.blocks_read();
  const std::size_t read_replaying = from_genesis.blocks_read();
  INFO("blocks read: " << read_resuming << " from the snapshot, " << read_replaying
                       << " from genesis");
  CHECK(read_replaying > net.chain->height());
  // The blocks above the snapshot, which is at most an epoch below the finalized block, and
  // those of the first indexed block's epoch, for its nonces.
  CHECK(read_resuming <=
        net.chain->height() - net.chain->finalized_height() + 2 * net.options.epoch_slots + 4);
  check_same_consensus(net, **resumed, **replayed);
  check_same_consensus(net, *net.chain, **resumed);
}

std::uint64_t tip_epoch(const TestNet& net) {
  return net.genesis.params.epoch_of(net.chain->tip().slot);
}

void advance_to_epoch(TestNet& net, std::uint64_t epoch) {
  while (tip_epoch(net) < epoch) net.advance_finalizing();
}

void submit(TestNet& net, const TransactionPtr& tx) {
  auto added = net.pool.add(tx, net.chain->state(), net.now());
  INFO((added.ok() ? std::string() : added.error().to_string()));
  REQUIRE(added.ok());
}

}  // namespace

TEST_CASE(
    "opening from the consensus snapshot equals a replay from genesis across stakes, unstakes, "
    "slashing, jails and restarts",
    "[chain][snapshot][store][lmdb]") {
  TempDir dir;
  NetOptions options;
  options.stakes = {100, 100, 100, 100, 40};
  options.epoch_slots = 8;
  options.users = 2;
  options.data_dir = dir.path() / "data";
  TestNet net(options);
  const Wallet& absent = net.validators[4];
  net.silent = {4};  // jailed once finality rises without it

  advance_to_epoch(net, 3);
  REQUIRE(net.chain->state().get(absent.public_key()).jailed);
  // Users' stake enters the sets; they never vote (so it is kept small enough for finality to
  // go on) and downtime jails them.
  submit(net, net.users[0].stake(net.chain_id(), 60, 1, net.nonce_of(net.users[0]), net.now()));
  submit(net, net.users[1].stake(net.chain_id(), 40, 1, net.nonce_of(net.users[1]), net.now()));
  advance_to_epoch(net, 5);
  check_snapshot_open(net);
  net.restart();

  // Validator 3 signs two votes for one target: the evidence slashes it in the next block.
  const Wallet& offender = net.validators[3];
  auto evidence =
      Evidence::double_vote(vote_by(net, offender, 0, 3, 0), vote_by(net, offender, 0, 3, 1));
  REQUIRE(net.chain->add_evidence(evidence.value()).value());
  net.advance_finalizing();
  REQUIRE(net.chain->state().get(offender.public_key()).slashed);
  submit(net, net.users[0].unstake(net.chain_id(), 20, 1, net.nonce_of(net.users[0]), net.now()));
  advance_to_epoch(net, 8);
  check_snapshot_open(net);
  net.restart();

  // The jailed validator comes back with a STAKE, and its votes count again.
  submit(net, absent.stake(net.chain_id(), 10, 1, net.nonce_of(absent), net.now()));
  net.silent.clear();
  advance_to_epoch(net, 12);
  REQUIRE_FALSE(net.chain->state().get(absent.public_key()).jailed);
  // The users entered the sets, never voted, and were jailed for it.
  REQUIRE(net.chain->state().get(net.users[0].public_key()).jailed);
  REQUIRE_FALSE(net.chain->epoch_draw(12).validators->contains(net.users[0].public_key()));
  REQUIRE(net.chain->finalized_height() + 3 > net.chain->height());
  check_snapshot_open(net);
  net.restart();
  advance_to_epoch(net, 13);
  check_snapshot_open(net);
}

TEST_CASE(
    "an older snapshot opens to the same chain: a crash before the newer one was written, or a "
    "view that read it before a writer stored the next",
    "[chain][snapshot]") {
  NetOptions options;
  options.stakes = {100, 100, 100, 40};
  options.epoch_slots = 8;
  TestNet net(options);
  net.silent = {3};  // jailed on the way: the sets change after the older snapshot
  advance_to_epoch(net, 2);
  const Bytes older = net.storage->consensus_snapshot().value();
  advance_to_epoch(net, 7);
  REQUIRE(net.storage->consensus_snapshot() != older);
  REQUIRE(net.storage->past_validator_sets().size() > 0);
  View stale(*net.storage, false, older);
  View from_genesis(*net.storage, true);
  auto resumed = Blockchain::open(net.genesis, stale, net.clock);
  auto replayed = Blockchain::open(net.genesis, from_genesis, net.clock);
  REQUIRE(resumed.ok());
  REQUIRE(replayed.ok());
  check_same_consensus(net, **resumed, **replayed);
}

TEST_CASE("the snapshot is stored once an epoch, at the finalized block", "[chain][snapshot]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  CHECK_FALSE(net.storage->consensus_snapshot());
  net.advance();  // nothing finalized: nothing to keep
  CHECK_FALSE(net.storage->consensus_snapshot());
  advance_to_epoch(net, 1);
  auto first = net.storage->consensus_snapshot();
  REQUIRE(first);
  // Within the epoch of the stored one, finality moves on but the snapshot stays.
  const std::uint64_t finalized_epoch = net.genesis.params.epoch_of(net.chain->finalized().slot);
  while (net.genesis.params.epoch_of(net.chain->finalized().slot) == finalized_epoch) {
    CHECK(net.storage->consensus_snapshot() == first);
    net.advance_finalizing();
  }
  CHECK(net.storage->consensus_snapshot() != first);
}

TEST_CASE("a damaged snapshot, or one of another chain, is refused on open, changing nothing",
          "[chain][snapshot]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  advance_to_epoch(net, 3);
  const Bytes good = net.storage->consensus_snapshot().value();
  auto open_with = [&](const Bytes& snapshot) {
    StorageBatch batch;
    batch.snapshot = snapshot;
    REQUIRE(net.storage->commit(batch).ok());
    auto opened = Blockchain::open(net.genesis, *net.storage, net.clock);
    auto stored = net.storage->consensus_snapshot();
    CHECK(stored == snapshot);  // a refused open writes nothing
    return opened;
  };
  auto refused_as = [&](const Bytes& snapshot, const std::string& why) {
    auto opened = open_with(snapshot);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.reason() == Reason::kStorage);
    CHECK_THAT(opened.error().message, Catch::Contains("damaged consensus snapshot"));
    CHECK_THAT(opened.error().message, Catch::Contains(why));
  };

  SECTION("cut short anywhere") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      INFO(n << " of " << good.size() << " bytes");
      auto opened = open_with(Bytes(good.begin(), good.begin() + static_cast<long>(n)));
      REQUIRE_FALSE(opened.ok());
      CHECK(opened.reason() == Reason::kStorage);
    }
  }
  SECTION("a byte too many") {
    Bytes longer = good;
    longer.push_back(0);
    refused_as(longer, "bytes left over");
  }
  SECTION("another tag") {
    Bytes other = good;
    other[12] = '2';  // pos/snapshot/v2
    refused_as(other, "not a snapshot of this libpos");
  }
  SECTION("another genesis") {
    // The body starts with the genesis hash, after the tag and the pools.
    Bytes other = good;
    const Hash genesis = net.genesis.block()->hash();
    auto at = std::search(other.begin(), other.end(), genesis.bytes.begin(), genesis.bytes.end());
    REQUIRE(at != other.end());
    *at ^= 1;
    refused_as(other, "another genesis");
  }
  SECTION("a block of another chain") {
    TestNet other(options);
    REQUIRE(other.genesis.block()->hash() == net.genesis.block()->hash());
    // Another first block: its history differs from here on.
    submit(other, other.users[0].transfer(other.chain_id(), other.users[1].public_key(), 5, 1, 0,
                                          other.now()));
    other.advance();
    advance_to_epoch(other, 3);
    refused_as(other.storage->consensus_snapshot().value(), "not a finalized block");
  }
  // The good one still opens.
  REQUIRE(open_with(good).ok());
}

TEST_CASE("a stored finalized block that is not on the stored main chain is refused on open",
          "[chain][snapshot]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  advance_to_epoch(net, 2);
  ChainMeta meta = net.storage->meta().value();
  meta.finalized->hash = filled(7);
  StorageBatch batch;
  batch.meta = meta;
  REQUIRE(net.storage->commit(batch).ok());
  const bool hide = GENERATE(false, true);
  INFO((hide ? "replaying from genesis" : "from the snapshot"));
  View view(*net.storage, hide);
  auto opened = Blockchain::open(net.genesis, view, net.clock);
  REQUIRE(opened.reason() == Reason::kStorage);
  CHECK_THAT(opened.error().message, Catch::Contains(filled(7).hex()));
}
