// Property: for random trees of valid blocks delivered in any order, the chain ends on the best
// block (greatest height, then lowest hash) with exactly the state of replaying that branch.
#include <catch2/catch.hpp>

#include <random>
#include <unordered_map>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

NetOptions tree_options() {
  NetOptions o;
  // No votes: nothing is finalized, so every fork in these trees may be reorganised.
  o.users = 4;
  return o;
}

// Adds a few random valid transactions (one per sender) to the builder's pool.
void add_random_transactions(TestNet& net, std::mt19937_64& rng) {
  const AccountModel& state = net.chain->state();
  std::vector<const Wallet*> senders;
  for (const auto& w : net.users) senders.push_back(&w);
  for (const auto& w : net.validators) senders.push_back(&w);
  std::shuffle(senders.begin(), senders.end(), rng);
  std::size_t count = rng() % 4;
  for (std::size_t i = 0; i < count && i < senders.size(); ++i) {
    const Wallet& w = *senders[i];
    Account a = state.get(w.public_key());
    std::uint64_t ts = rng();
    std::uint64_t fee = rng() % 3;
    TransactionPtr tx;
    switch (rng() % 4) {
      case 0:
        if (a.stake > 0) {
          tx = w.unstake(net.chain_id(), 1 + rng() % a.stake, fee, a.nonce, ts);
          break;
        }
        [[fallthrough]];
      case 1:
        tx = w.stake(net.chain_id(), 1 + rng() % 30, fee, a.nonce, ts);
        break;
      case 2:
        if (w.public_key() == net.genesis.params.exchange_authority) {
          tx = w.exchange(net.chain_id(), net.users[rng() % net.users.size()].public_key(),
                          1 + rng() % 100, fee, a.nonce, ts);
          break;
        }
        [[fallthrough]];
      default: {
        const Wallet& to = net.users[rng() % net.users.size()];
        tx = w.transfer(net.chain_id(), to.public_key(), 1 + rng() % 40, fee, a.nonce, ts);
      }
    }
    (void)net.pool.add(tx, state, net.now());
  }
}

std::map<Address, Account> accounts_of(const AccountModel& state) {
  std::map<Address, Account> out;
  state.for_each([&](const Address& a, const Account& acc) { out[a] = acc; });
  return out;
}

}  // namespace

TEST_CASE("after any arrival order of a random block tree, the state is the winning branch's",
          "[chain][reorg][property]") {
  int reorganisations = 0;
  std::size_t transactions = 0;
  for (std::uint64_t seed = 1; seed <= 25; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    std::vector<std::unique_ptr<TestNet>> builders;
    builders.push_back(std::make_unique<TestNet>(tree_options()));
    std::vector<BlockPtr> blocks;
    std::uint64_t slot = 0;
    for (int step = 0; step < 40; ++step) {
      if (rng() % 10 < 3) {
        // Fork: a new builder following a random builder's chain up to a random height.
        TestNet& source = *builders[rng() % builders.size()];
        auto fork = std::make_unique<TestNet>(tree_options());
        fork->clock.set(source.clock.now_ms());
        std::uint64_t height = rng() % (source.chain->height() + 1);
        for (std::uint64_t h = 1; h <= height; ++h)
          REQUIRE(fork->chain->apply(source.chain->block_at(h)).ok());
        builders.push_back(std::move(fork));
      }
      TestNet& builder = *builders[rng() % builders.size()];
      add_random_transactions(builder, rng);
      slot = builder.next_slot(std::max(slot, builder.chain->tip().slot));
      BlockPtr block = builder.forge(slot);
      auto applied = builder.chain->apply(block);
      REQUIRE(applied.ok());
      builder.pool.remove_included(*block, builder.chain->state());
      blocks.push_back(block);
    }

    // The best block of the tree and its branch, replayed from genesis.
    std::unordered_map<Hash, BlockPtr> by_hash;
    BlockPtr best;
    for (const auto& b : blocks) {
      by_hash[b->hash()] = b;
      if (!best || b->height() > best->height() ||
          (b->height() == best->height() &&
           (b->slot() < best->slot() || (b->slot() == best->slot() && b->hash() < best->hash()))))
        best = b;
    }
    std::vector<BlockPtr> branch;
    for (BlockPtr b = best; b; b = by_hash.count(b->parent()) ? by_hash[b->parent()] : nullptr)
      branch.insert(branch.begin(), b);
    TestNet replay(tree_options());
    replay.clock.set(replay.genesis.params.slot_start_ms(slot));
    for (const auto& b : branch) REQUIRE(replay.chain->apply(b).ok());

    // An observer receives every block in a random order; an unknown parent comes back later.
    // Every fifth tree is observed on LMDB, restarted halfway through the arrivals.
    TempDir dir;
    NetOptions observer_options = tree_options();
    bool on_disk = seed % 5 == 0;
    if (on_disk) observer_options.data_dir = dir.path() / "observer";
    TestNet observer(observer_options);
    observer.clock.set(observer.genesis.params.slot_start_ms(slot));
    std::vector<BlockPtr> pending = blocks;
    std::shuffle(pending.begin(), pending.end(), rng);
    std::size_t delivered = 0;
    while (!pending.empty()) {
      std::vector<BlockPtr> later;
      for (const auto& b : pending) {
        auto r = observer.chain->apply(b);
        if (r.ok() && r->kind == ApplyResult::Kind::kReorganized) ++reorganisations;
        if (r.ok() && on_disk && ++delivered == blocks.size() / 2) observer.restart();
        if (!r.ok()) {
          REQUIRE(r.reason() == Reason::kUnknownParent);
          later.push_back(b);
        }
      }
      REQUIRE(later.size() < pending.size());
      pending = std::move(later);
    }

    CHECK(observer.chain->tip_hash() == best->hash());
    CHECK(observer.chain->state().state_root() == replay.chain->state().state_root());
    CHECK(accounts_of(observer.chain->state()) == accounts_of(replay.chain->state()));
    CHECK(observer.chain->state().total_supply() == replay.chain->state().total_supply());
    for (const auto& b : branch) {
      transactions += b->transactions().size();
      CHECK(observer.chain->block_at(b->height())->hash() == b->hash());
      for (std::size_t i = 0; i < b->transactions().size(); ++i) {
        auto where = observer.chain->transaction_location(b->transactions()[i]->id());
        REQUIRE(where.has_value());
        CHECK(where->block == b->hash());
      }
    }
    // The stored accounts equal the live state: a restart resumes exactly here.
    auto reopened = Blockchain::open(observer.genesis, *observer.storage, observer.clock);
    REQUIRE(reopened.ok());
    CHECK((*reopened)->state().state_root() == replay.chain->state().state_root());
  }
  // The trees must really exercise reorganisations and state changes.
  INFO("reorganisations " << reorganisations << ", transactions " << transactions);
  CHECK(reorganisations >= 25);
  CHECK(transactions >= 200);
}
