#include <catch2/catch.hpp>

#include <lmdb.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

namespace fs = std::filesystem;

NetOptions on_disk(const TempDir& dir) {
  NetOptions o;
  o.data_dir = dir.path() / "data";
  o.users = 3;
  return o;
}

// Every file of the data dir but LMDB's reader table (lock.mdb), which each open rewrites.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename() != "lock.mdb")
      out[entry.path().filename().string()] = read_text(entry.path());
  return out;
}

std::map<Address, Account> accounts_of(const AccountModel& state) {
  std::map<Address, Account> out;
  state.for_each([&](const Address& a, const Account& acc) { out[a] = acc; });
  return out;
}

// A chain with transfers, stakes and an unstake in flight, on LMDB.
void grow_chain(TestNet& net, int blocks) {
  for (int i = 0; i < blocks; ++i) {
    const Wallet& u = net.users[static_cast<std::size_t>(i) % net.users.size()];
    std::uint64_t nonce = net.nonce_of(u);
    TransactionPtr tx;
    if (i % 5 == 3)
      tx = u.stake(net.chain_id(), 5, 1, nonce, static_cast<std::uint64_t>(i));
    else if (i % 5 == 4 && net.chain->state().get(u.public_key()).stake > 0)
      tx = u.unstake(net.chain_id(), 2, 1, nonce, static_cast<std::uint64_t>(i));
    else
      tx = u.transfer(net.chain_id(),
                      net.users[(static_cast<std::size_t>(i) + 1) % net.users.size()].public_key(),
                      3, 1, nonce, static_cast<std::uint64_t>(i));
    REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
    net.advance();
  }
}

void flip_every(const fs::path& file, const Bytes& needle) {
  std::string data = read_text(file);
  std::string pattern(needle.begin(), needle.end());
  int found = 0;
  for (auto at = data.find(pattern); at != std::string::npos; at = data.find(pattern, at + 1)) {
    data[at + pattern.size() / 2] ^= 0x5a;
    ++found;
  }
  REQUIRE(found > 0);
  write_text(file, data);
}

Bytes be64(std::uint64_t v) {
  Bytes out;
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  return out;
}

}  // namespace

TEST_CASE("a restart resumes the exact tip, state root, balances, stakes and nonces",
          "[store][lmdb]") {
  TempDir dir;
  TestNet net(on_disk(dir));
  grow_chain(net, 40);
  Hash tip = net.chain->tip_hash();
  Hash root = net.chain->state().state_root();
  auto accounts = accounts_of(net.chain->state());
  net.restart();
  CHECK(net.chain->tip_hash() == tip);
  CHECK(net.chain->height() == 40);
  CHECK(net.chain->state().state_root() == root);
  CHECK(accounts_of(net.chain->state()) == accounts);
  // Bodies, transaction locations and queries come from the data dir.
  BlockPtr b20 = net.chain->block_at(20);
  REQUIRE(b20);
  CHECK(net.storage->block(b20->hash())->hash() == b20->hash());
  const auto& tx = b20->transactions().at(0);
  CHECK(net.chain->transaction_location(tx->id())->height == 20);
  auto stakers = net.storage->stakers();
  CHECK(stakers.size() == net.chain->state().stakers().size());
  for (const auto& [address, stake] : stakers)
    CHECK(net.chain->state().stakers().at(address) == stake);
  CHECK(*net.storage->account(net.users[0].public_key()) ==
        net.chain->state().get(net.users[0].public_key()));
  // And the chain goes on.
  grow_chain(net, 3);
  CHECK(net.chain->height() == 43);
}

TEST_CASE("main-chain ranges are bounded by count and bytes", "[store][lmdb]") {
  TempDir dir;
  TestNet net(on_disk(dir));
  grow_chain(net, 12);
  auto all = net.storage->main_chain_blocks(0, 100, 1 << 30);
  REQUIRE(all.size() == 13);
  for (std::size_t h = 0; h < all.size(); ++h) CHECK(all[h]->height() == h);
  CHECK(net.storage->main_chain_blocks(5, 3, 1 << 30).size() == 3);
  CHECK(net.storage->main_chain_blocks(5, 100, 1).size() == 1);  // at least one block
  CHECK(net.storage->main_chain_blocks(13, 100, 1 << 30).empty());
  std::size_t two = all[3]->encoded_size() + all[4]->encoded_size();
  CHECK(net.storage->main_chain_blocks(3, 100, two).size() == 2);
}

TEST_CASE("a reorganisation, a restart, and a reorganisation back", "[store][lmdb][reorg]") {
  TempDir dir;
  NetOptions in_memory = on_disk(dir);
  in_memory.data_dir.clear();
  TestNet a(on_disk(dir));
  BlockPtr a1 = a.advance();
  // The original branch grows elsewhere: a1 <- a2 <- a3.
  TestNet origin(in_memory);
  origin.clock.set(a.clock.now_ms());
  REQUIRE(origin.chain->apply(a1).ok());
  // A rival branch b1 <- b2 that wins first.
  TestNet b(in_memory);
  BlockPtr b1 = b.advance(a1->slot());
  BlockPtr b2 = b.advance();
  BlockPtr a2 = origin.advance(b2->slot());
  BlockPtr a3 = origin.advance();

  a.clock.set(b.clock.now_ms());
  REQUIRE(a.chain->apply(b1).ok());
  REQUIRE(a.chain->apply(b2)->kind == ApplyResult::Kind::kReorganized);
  CHECK(a.chain->tip_hash() == b2->hash());
  a.restart();
  CHECK(a.chain->tip_hash() == b2->hash());
  CHECK(a.chain->state().state_root() == b.chain->state().state_root());

  a.clock.set(origin.clock.now_ms());
  REQUIRE(a.chain->apply(a2).ok());
  auto back = a.chain->apply(a3);
  REQUIRE(back.ok());
  CHECK(back->kind == ApplyResult::Kind::kReorganized);
  CHECK(a.chain->tip_hash() == a3->hash());
  CHECK(a.chain->state().state_root() == origin.chain->state().state_root());
  CHECK(a.chain->block_at(1)->hash() == a1->hash());
  a.restart();
  CHECK(a.chain->tip_hash() == a3->hash());
  CHECK(a.chain->state().state_root() == origin.chain->state().state_root());
}

TEST_CASE("memory does not grow with the chain: only the non-final window is indexed",
          "[store][lmdb]") {
  TempDir dir;
  TestNet net(on_disk(dir));
  for (int i = 0; i < 100; ++i) net.advance_finalizing();
  REQUIRE(net.chain->finalized_height() == 98);
  CHECK(net.chain->indexed_blocks() <= 10);
  net.restart();
  CHECK(net.chain->indexed_blocks() <= 10);
  CHECK(net.chain->block_at(3)->height() == 3);
  CHECK(net.chain->knows(net.chain->block_at(3)->hash()));
  // An old block offered again is known.
  auto again = net.chain->apply(net.chain->block_at(50));
  CHECK(again.reason() == Reason::kAlreadyKnown);
}

TEST_CASE("the map grows when full, up to its limit, then refuses cleanly", "[store][lmdb]") {
  TempDir dir;
  TestNet source;
  LmdbOptions options;
  options.initial_map_size = 256 << 10;
  options.max_map_size = 1 << 20;
  auto storage = LmdbStorage::open(dir.path(), options).value();
  auto chain = Blockchain::open(source.genesis, *storage, source.clock).value();
  std::size_t grown_to = storage->map_size();
  Result<ApplyResult> last = ApplyResult{};
  int applied = 0;
  while (last.ok()) {
    REQUIRE(applied < 2000);
    for (int i = 0; i < 60; ++i) {
      const Wallet& v = source.validators[static_cast<std::size_t>(i) % 3];
      auto tx = v.transfer(source.chain_id(), source.users[0].public_key(), 1, 0,
                           source.nonce_of(v) + static_cast<std::uint64_t>(i / 3),
                           static_cast<std::uint64_t>(applied));
      auto added = source.pool.add(tx, source.chain->state(), source.now());
      INFO((added.ok() ? std::string("ok") : added.error().to_string()));
      REQUIRE(added.ok());
    }
    BlockPtr block = source.advance();
    Hash tip = chain->tip_hash();
    Hash root = chain->state().state_root();
    last = chain->apply(block);
    if (last.ok()) {
      ++applied;
      grown_to = std::max(grown_to, storage->map_size());
    } else {
      CHECK(last.reason() == Reason::kStorage);
      CHECK_THAT(last.error().message, Catch::Contains("size limit"));
      CHECK(chain->tip_hash() == tip);
      CHECK(chain->state().state_root() == root);
    }
  }
  CHECK(grown_to > options.initial_map_size);
  CHECK(storage->map_size() == options.max_map_size);
  // Reopened with a higher limit, the data dir resumes at the last applied block.
  Hash tip = chain->tip_hash();
  chain.reset();
  storage.reset();
  options.max_map_size = 64 << 20;
  storage = LmdbStorage::open(dir.path(), options).value();
  chain = Blockchain::open(source.genesis, *storage, source.clock).value();
  CHECK(chain->tip_hash() == tip);
  CHECK(chain->height() == static_cast<std::uint64_t>(applied));
}

TEST_CASE("opening is refused, changing nothing, for each problem", "[store][lmdb][open]") {
  TempDir dir;
  fs::path data = dir.path() / "data";
  Genesis genesis;
  Hash tip_hash;
  Bytes tip_header;
  Bytes account_record;
  {
    TestNet net(on_disk(dir));
    grow_chain(net, 30);
    genesis = net.genesis;
    tip_hash = net.chain->tip_hash();
    tip_header = net.chain->block(tip_hash)->header().signing_bytes();
    Account a = net.chain->state().get(net.users[0].public_key());
    for (auto v : {a.balance, a.stake, a.nonce, a.unbonding, a.unbonding_height}) {
      Bytes b = be64(v);
      account_record.insert(account_record.end(), b.begin(), b.end());
    }
    account_record.push_back(0);  // flags: not slashed
  }
  ManualClock clock(kGenesisTime);
  auto before = snapshot(data);
  auto open_chain = [&](const Genesis& g) -> Result<std::unique_ptr<Blockchain>> {
    auto storage = LmdbStorage::open(data);
    if (!storage.ok()) return storage.error();
    auto chain = Blockchain::open(g, **storage, clock);
    if (!chain.ok()) return chain.error();
    return make_error(Reason::kInvalidArgument, "opened");
  };

  SECTION("another genesis") {
    Genesis other = genesis;
    other.params.chain_id = "pos-elsewhere";
    auto r = open_chain(other);
    REQUIRE(r.reason() == Reason::kBadGenesis);
    CHECK_THAT(r.error().message, Catch::Contains(genesis.hash().hex()));
    CHECK_THAT(r.error().message, Catch::Contains(other.hash().hex()));
    CHECK_THAT(r.error().message, Catch::Contains("pos-elsewhere"));
    CHECK(snapshot(data) == before);
  }
  SECTION("a newer schema") {
    write_schema_version(data, 9);
    auto changed = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("schema version 9"));
    CHECK_THAT(r.error().message, Catch::Contains("reads schema version 8"));
    CHECK(snapshot(data) == changed);
  }
  SECTION("a protocol v2 data dir of an earlier network (schemas 3 to 5)") {
    auto [version, network] =
        GENERATE(table<std::uint32_t, std::string>({{3, "before slashing"},
                                                    {4, "before validator sets followed finality"},
                                                    {5, "before downtime jailing"}}));
    write_schema_version(data, version);
    auto changed = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message,
               Catch::Contains(network + " (schema version " + std::to_string(version) + ")"));
    CHECK_THAT(r.error().message, Catch::Contains("rm -r " + data.string()));
    CHECK(snapshot(data) == changed);
  }
  SECTION("a protocol v1 data dir (schema 1 or 2), read-write or read-only") {
    std::uint32_t version = GENERATE(1u, 2u);
    write_schema_version(data, version);
    auto changed = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("protocol v1 chain (schema version " +
                                                  std::to_string(version) + ")"));
    CHECK_THAT(r.error().message, Catch::Contains("rm -r " + data.string()));
    LmdbOptions read_only;
    read_only.read_only = true;
    CHECK(LmdbStorage::open(data, read_only).reason() == Reason::kStorage);
    CHECK(snapshot(data) == changed);
  }
  SECTION("in use by another process") {
    int to_child[2];
    int from_child[2];
    REQUIRE(pipe(to_child) == 0);
    REQUIRE(pipe(from_child) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto held = LmdbStorage::open(data);
      char c = held.ok() ? 'y' : 'n';
      (void)!write(from_child[1], &c, 1);
      (void)!read(to_child[0], &c, 1);
      _exit(0);
    }
    char c = 0;
    REQUIRE(read(from_child[0], &c, 1) == 1);
    REQUIRE(c == 'y');
    auto r = LmdbStorage::open(data);
    REQUIRE_FALSE(r.ok());
    CHECK(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("in use by another process"));
    (void)!write(to_child[1], &c, 1);
    int status = 0;
    waitpid(pid, &status, 0);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    CHECK(snapshot(data) == before);
    CHECK(LmdbStorage::open(data).ok());  // free again once the other process is gone
  }
  SECTION("a truncated data file") {
    fs::resize_file(data / "data.mdb", fs::file_size(data / "data.mdb") / 2);
    auto damaged = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("truncated"));
    CHECK(snapshot(data) == damaged);
  }
  SECTION("overwritten header pages") {
    std::string bytes = read_text(data / "data.mdb");
    for (std::size_t i = 0; i < 8192 && i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xa5);
    write_text(data / "data.mdb", bytes);
    auto damaged = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("damaged"));
    CHECK(snapshot(data) == damaged);
  }
  SECTION("overwritten bytes in an account record") {
    flip_every(data / "data.mdb", account_record);
    auto damaged = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("damaged record in table \"accounts\""));
    CHECK(snapshot(data) == damaged);
  }
  SECTION("overwritten bytes in the tip block") {
    flip_every(data / "data.mdb", tip_header);
    auto damaged = snapshot(data);
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("damaged record in table \"blocks\""));
    CHECK(snapshot(data) == damaged);
  }
  SECTION("a file that is not LMDB at all") {
    write_text(data / "data.mdb", std::string(100000, 'x'));
    auto r = open_chain(genesis);
    REQUIRE(r.reason() == Reason::kStorage);
    CHECK_THAT(r.error().message, Catch::Contains("damaged"));
  }
}

TEST_CASE("a read-only view beside the writer: reads, sees new blocks, writes nothing",
          "[store][lmdb]") {
  TempDir dir;
  TestNet net(on_disk(dir));
  grow_chain(net, 5);
  LmdbOptions read_only;
  read_only.read_only = true;
  auto view = LmdbStorage::open(net.options.data_dir, read_only);
  REQUIRE(view.ok());
  CHECK((*view)->meta()->height == 5);
  net.advance();  // the writer goes on while the view is open
  CHECK((*view)->meta()->height == 6);
  CHECK((*view)->main_chain_hash(6) == net.chain->tip_hash());
  StorageBatch batch;
  CHECK((*view)->commit(batch).reason() == Reason::kStorage);
  auto chain = Blockchain::open(net.genesis, **view, net.clock);
  REQUIRE(chain.ok());
  CHECK((*chain)->state().state_root() == net.chain->state().state_root());
  CHECK_FALSE(LmdbStorage::open(dir.path() / "absent", read_only).ok());
  CHECK_FALSE(std::filesystem::exists(dir.path() / "absent"));
}

TEST_CASE("the consensus snapshot and the past validator sets survive a restart", "[store][lmdb]") {
  TempDir dir;
  auto storage = LmdbStorage::open(dir.path()).value();
  CHECK_FALSE(storage->consensus_snapshot());
  CHECK(storage->past_validator_sets().empty());
  auto set = [](std::uint64_t salt, std::uint64_t weight) {
    std::map<PublicKey, std::uint64_t> weights;
    for (std::uint8_t i = 0; i < 3; ++i)
      weights[PublicKey::from_bytes(filled(static_cast<std::uint8_t>(salt + i)).view())] =
          weight + i;
    return std::make_shared<const ProofOfStake>(weights);
  };
  StorageBatch batch;
  batch.snapshot = Bytes{1, 2, 3};
  batch.sets_put = {{3, set(1, 10)}, {1, set(7, 20)}};
  REQUIRE(storage->commit(batch).ok());
  batch.snapshot = Bytes{4, 5};
  batch.sets_put = {{9, set(3, 30)}};
  REQUIRE(storage->commit(batch).ok());
  storage.reset();
  storage = LmdbStorage::open(dir.path()).value();
  CHECK(storage->consensus_snapshot() == Bytes{4, 5});
  auto sets = storage->past_validator_sets();
  REQUIRE(sets.size() == 3);
  std::vector<std::uint64_t> epochs;
  for (const auto& [epoch, stored] : sets) epochs.push_back(epoch);
  CHECK(epochs == std::vector<std::uint64_t>{1, 3, 9});
  const ProofOfStake& nine = *sets[2].second;
  REQUIRE(nine.size() == 3);
  CHECK(nine.lots()[0].staker == PublicKey::from_bytes(filled(3).view()));
  CHECK(nine.lots()[2].stake == 32);
  CHECK(nine.total_stake() == set(3, 30)->total_stake());
}

TEST_CASE(
    "a schema-6 data dir opens: read-only as it is, to write upgraded to schema 8, replaying "
    "from genesis once",
    "[store][lmdb][open]") {
  TempDir dir;
  NetOptions options = on_disk(dir);
  options.epoch_slots = 8;
  Genesis genesis;
  Hash tip;
  Checkpoint finalized;
  {
    TestNet net(options);
    while (net.chain->height() < 40) net.advance_finalizing();
    REQUIRE(net.storage->consensus_snapshot());
    genesis = net.genesis;
    tip = net.chain->tip_hash();
    finalized = net.chain->finalized();
  }
  write_schema_version(options.data_dir, 6);
  ManualClock clock(kGenesisTime);
  {
    // A refused open leaves it schema 6, for the libpos it came from.
    auto before = snapshot(options.data_dir);
    auto storage = LmdbStorage::open(options.data_dir).value();
    Genesis other = genesis;
    other.params.chain_id = "pos-elsewhere";
    CHECK(Blockchain::open(other, *storage, clock).reason() == Reason::kBadGenesis);
    storage.reset();
    CHECK(snapshot(options.data_dir) == before);
  }
  LmdbOptions read_only;
  read_only.read_only = true;
  {
    auto view = LmdbStorage::open(options.data_dir, read_only).value();
    CHECK_FALSE(view->consensus_snapshot());
    CHECK(view->past_validator_sets().empty());
    auto chain = Blockchain::open(genesis, *view, clock).value();  // from genesis, writing nothing
    CHECK(chain->tip_hash() == tip);
    CHECK(chain->finalized() == finalized);
  }
  {
    auto storage = LmdbStorage::open(options.data_dir).value();
    CHECK_FALSE(storage->consensus_snapshot());
    auto chain = Blockchain::open(genesis, *storage, clock).value();
    CHECK(chain->finalized() == finalized);
    CHECK(storage->consensus_snapshot());  // written by that open
  }
  auto view = LmdbStorage::open(options.data_dir, read_only).value();
  CHECK(view->consensus_snapshot());
  auto chain = Blockchain::open(genesis, *view, clock).value();
  CHECK(chain->tip_hash() == tip);
  CHECK(chain->finalized() == finalized);
  // An older libpos would take it for a newer schema.
  view.reset();
  chain.reset();
  write_schema_version(options.data_dir, 9);
  CHECK_THAT(LmdbStorage::open(options.data_dir).error().message,
             Catch::Contains("schema version 9"));
}

TEST_CASE("damaged bytes in the stored snapshot are reported, not believed", "[store][lmdb]") {
  TempDir dir;
  NetOptions options = on_disk(dir);
  options.epoch_slots = 8;
  Genesis genesis;
  {
    TestNet net(options);
    while (net.chain->height() < 20) net.advance_finalizing();
    genesis = net.genesis;
  }
  const std::string tag = "pos/snapshot/v1";
  flip_every(options.data_dir / "data.mdb", Bytes(tag.begin(), tag.end()));
  auto damaged = snapshot(options.data_dir);
  auto storage = LmdbStorage::open(options.data_dir).value();
  ManualClock clock(kGenesisTime);
  auto chain = Blockchain::open(genesis, *storage, clock);
  REQUIRE(chain.reason() == Reason::kStorage);
  CHECK_THAT(chain.error().message, Catch::Contains("damaged record in table \"meta\""));
  storage.reset();
  CHECK(snapshot(options.data_dir) == damaged);
}

namespace {

using SideList = std::vector<std::pair<std::uint64_t, Hash>>;

// A chain on disk whose main chain is a1 <- a2 <- a3 <- a4, with a rival branch a1 <- b2 <- b3
// from an earlier slot stored beside it as side blocks.
struct SideBranch {
  TempDir dir;
  TestNet a;
  BlockPtr b2, b3;

  explicit SideBranch(NetOptions options) : a(with_dir(options)) {
    NetOptions in_memory = a.options;
    in_memory.data_dir.clear();
    BlockPtr a1 = a.advance();
    TestNet b(in_memory);
    b.clock.set(a.clock.now_ms());
    REQUIRE(b.chain->apply(a1).ok());
    b2 = b.advance();
    b3 = b.advance();
    a.advance(b3->slot());
    a.advance();
    a.advance();
    REQUIRE(a.chain->apply(b2)->kind == ApplyResult::Kind::kSideBranch);
    REQUIRE(a.chain->apply(b3)->kind == ApplyResult::Kind::kSideBranch);
  }
  NetOptions with_dir(NetOptions options) {
    options.data_dir = dir.path() / "data";
    return options;
  }
  SideList listed() const { return a.storage->side_blocks(UINT64_MAX, 100); }
  SideList expected() const { return {{2, b2->hash()}, {3, b3->hash()}}; }
};

}  // namespace

TEST_CASE("side blocks that finality leaves behind are deleted from storage; the main chain stays",
          "[store][lmdb][reorg]") {
  NetOptions options;
  options.epoch_slots = 8;
  SideBranch s(options);
  TestNet& a = s.a;
  CHECK(s.listed() == s.expected());
  CHECK(a.storage->side_blocks(3, 100) == SideList{{2, s.b2->hash()}});
  CHECK(a.storage->side_blocks(UINT64_MAX, 1).size() == 1);
  a.restart();
  CHECK(s.listed() == s.expected());
  REQUIRE(a.storage->block(s.b3->hash()));

  while (a.chain->finalized_height() < 4) a.advance_finalizing();
  CHECK(s.listed().empty());
  for (const BlockPtr& side : {s.b2, s.b3}) {
    CHECK_FALSE(a.storage->block(side->hash()));
    CHECK_FALSE(a.storage->epoch_nonces(side->hash()));
  }
  for (std::uint64_t h = 0; h <= a.chain->height(); ++h) {
    auto hash = a.storage->main_chain_hash(h);
    REQUIRE(hash);
    CHECK(a.storage->block(*hash));
  }
  // Offered again: b2 forks below the finalized block; b3's parent is gone.
  CHECK(a.chain->apply(s.b2).reason() == Reason::kConflictsFinalized);
  CHECK(a.chain->apply(s.b3).reason() == Reason::kUnknownParent);
  a.restart();
  CHECK(s.listed().empty());
  CHECK(a.chain->finalized_height() >= 4);
}

TEST_CASE("a branch found invalid when connected is deleted from storage, and refused unchecked",
          "[store][lmdb][reorg]") {
  TempDir dir;
  NetOptions options = on_disk(dir);
  NetOptions in_memory = options;
  in_memory.data_dir.clear();
  // Main: a1 <- a2 <- a3. Rival, from later slots: a1 <- b2 <- b3 <- b4, b4 with a bad state
  // root under a good header, so that it is stored and only connecting it finds it invalid.
  TestNet a(options);
  BlockPtr a1 = a.advance();
  a.advance();
  BlockPtr a3 = a.advance();
  TestNet b(in_memory);
  b.clock.set(a.clock.now_ms());
  REQUIRE(b.chain->apply(a1).ok());
  BlockPtr b2 = b.advance(a3->slot());
  BlockPtr b3 = b.advance();
  BlockPtr b4 = b.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; });
  a.clock.set(b.clock.now_ms());
  REQUIRE(a.chain->apply(b2)->kind == ApplyResult::Kind::kSideBranch);
  REQUIRE(a.chain->apply(b3)->kind == ApplyResult::Kind::kSideBranch);
  CHECK(a.chain->apply(b4).reason() == Reason::kBadStateRoot);
  CHECK(a.chain->tip_hash() == a3->hash());
  CHECK_FALSE(a.storage->block(b4->hash()));
  CHECK(a.storage->side_blocks(UINT64_MAX, 100) == SideList{{2, b2->hash()}, {3, b3->hash()}});
  CHECK(a.chain->apply(b4).reason() == Reason::kInvalidBlock);
  // After a restart it is checked again, and refused again.
  a.restart();
  CHECK(a.chain->apply(b4).reason() == Reason::kBadStateRoot);
  CHECK_FALSE(a.storage->block(b4->hash()));
  CHECK(a.chain->tip_hash() == a3->hash());
}

TEST_CASE("a schema-7 data dir lists its side blocks at its first commit; read-only, none",
          "[store][lmdb][open]") {
  NetOptions options;
  SideBranch s(options);
  const fs::path data = s.a.options.data_dir;
  const SideList expected = s.expected();
  s.a.storage.reset();
  s.a.chain.reset();
  write_schema_version(data, 7);
  LmdbOptions read_only;
  read_only.read_only = true;
  CHECK(LmdbStorage::open(data, read_only).value()->side_blocks(UINT64_MAX, 100).empty());
  {
    auto storage = LmdbStorage::open(data).value();
    CHECK(storage->side_blocks(UINT64_MAX, 100).empty());
    REQUIRE(storage->commit(StorageBatch{}).ok());
    CHECK(storage->side_blocks(UINT64_MAX, 100) == expected);
  }
  // Upgraded to schema 8: a reader sees the side table now.
  CHECK(LmdbStorage::open(data, read_only).value()->side_blocks(UINT64_MAX, 100) == expected);
}

namespace {

// A properly signed empty block on `parent` by the leader of the first slot after both the
// parent's and `after`, with the VRF proof of `net`'s tip chain (the same nonce while the epoch
// is the one both branches share).
BlockPtr child_of(TestNet& net, const BlockPtr& parent, std::uint64_t after) {
  std::uint64_t slot = net.next_slot(std::max(parent->slot(), after));
  net.clock.set(net.genesis.params.slot_start_ms(slot) + 10);
  const Wallet& leader = net.wallet_of(*net.chain->leader(slot));
  TransactionPool empty(net.genesis.params);
  BlockHeader header =
      net.chain->forge(leader.secret_key(), slot, empty, net.now()).value()->header();
  header.parent = parent->hash();
  header.height = parent->height() + 1;
  return net.resign(header, {});
}

}  // namespace

TEST_CASE(
    "stored children of a block found invalid after a restart are deleted when reached, not "
    "indexed",
    "[store][lmdb][reorg]") {
  TempDir dir;
  NetOptions options = on_disk(dir);
  options.epoch_slots = 64;  // every block below in one epoch, so both branches share its nonce
  NetOptions in_memory = options;
  in_memory.data_dir.clear();
  TestNet a(options);
  BlockPtr a1 = a.advance();
  for (int i = 0; i < 5; ++i) a.advance();
  TestNet b(in_memory);
  b.clock.set(a.clock.now_ms());
  REQUIRE(b.chain->apply(a1).ok());
  // bad2 has a bad state root under a good header; c3 and c3x are two children of it.
  BlockPtr bad2 = b.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; });
  BlockPtr c3 = child_of(b, bad2, 0);
  BlockPtr c3x = child_of(b, bad2, c3->slot());
  std::vector<BlockPtr> line = {c3};
  for (int i = 0; i < 4; ++i) line.push_back(child_of(b, line.back(), c3x->slot()));
  BlockPtr c4x = child_of(b, c3x, line.back()->slot());
  a.clock.set(std::max(a.clock.now_ms(), b.clock.now_ms()));
  for (const BlockPtr& side : {bad2, c3, c3x})
    REQUIRE(a.chain->apply(side)->kind == ApplyResult::Kind::kSideBranch);
  a.restart();  // the side blocks are stored, not indexed
  const Hash tip = a.chain->tip_hash();
  // The line through c3 grows until it is the better branch; connecting it finds bad2 invalid.
  bool refused = false;
  for (std::size_t i = 1; i < line.size() && !refused; ++i) {
    auto result = a.chain->apply(line[i]);
    if (!result.ok()) {
      CHECK(result.reason() == Reason::kBadStateRoot);
      refused = true;
    }
  }
  REQUIRE(refused);
  CHECK(a.chain->tip_hash() == tip);
  CHECK_FALSE(a.storage->block(bad2->hash()));
  REQUIRE(a.storage->block(c3x->hash()));  // not reached yet
  // A child of c3x reaches it: c3x goes from storage, and the child is not taken.
  CHECK(a.chain->apply(c4x).reason() == Reason::kUnknownParent);
  CHECK_FALSE(a.storage->block(c3x->hash()));
  CHECK_FALSE(a.storage->block(c4x->hash()));
  CHECK(a.storage->side_blocks(UINT64_MAX, 100).empty());
  CHECK(a.chain->tip_hash() == tip);
}
