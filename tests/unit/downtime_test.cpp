// Downtime (docs/consensus.md, "Downtime"): a member whose votes are missing for an epoch in
// which finality rose is jailed two epochs on, leaves the sets and rejoins with a STAKE; nobody is
// jailed while finality is stalled, and jailed stake counts again while it stays stalled, so
// that returning validators restart it.
#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

NetOptions four_validators() {
  NetOptions options;
  options.stakes = {100, 100, 100, 50};
  options.epoch_slots = 8;
  return options;
}

std::uint64_t tip_epoch(const TestNet& net) {
  return net.genesis.params.epoch_of(net.chain->tip().slot);
}

bool jailed(const TestNet& net, std::size_t i) {
  return net.chain->state().get(net.validators[i].public_key()).jailed;
}

bool member(const TestNet& net, std::size_t i, std::uint64_t epoch) {
  return net.chain->epoch_draw(epoch).validators->contains(net.validators[i].public_key());
}

// advance_finalizing() until the tip is in `epoch`.
void advance_to_epoch(TestNet& net, std::uint64_t epoch) {
  while (tip_epoch(net) < epoch) net.advance_finalizing();
}

// advance_finalizing() until the next block would be in `epoch`.
void advance_to_end_of(TestNet& net, std::uint64_t epoch) {
  while (net.genesis.params.epoch_of(net.next_slot(net.chain->tip().slot)) <= epoch)
    net.advance_finalizing();
}

}  // namespace

TEST_CASE(
    "a member with no vote in an epoch whose finality rose is jailed two epochs on, "
    "leaves the sets and rejoins with a STAKE",
    "[downtime][chain]") {
  TempDir dir;
  NetOptions options = four_validators();
  options.data_dir = dir.path();
  TestNet net(options);
  net.silent = {3};  // 300 of 350 still finalize

  // Epoch 0 finalized blocks without validator 3's votes; epoch 1 is its grace: the jail comes
  // with the chain's first block above epoch 1, before anything else in it.
  advance_to_end_of(net, 1);
  CHECK_FALSE(jailed(net, 3));
  BlockPtr jailing = net.advance_finalizing();
  REQUIRE(net.genesis.params.epoch_of(jailing->slot()) == 2);
  CHECK(jailed(net, 3));
  const Account account = net.chain->state().get(net.validators[3].public_key());
  CHECK(account.stake == 50);  // it keeps its stake
  CHECK(account.balance == options.balance);
  for (std::size_t i = 0; i < 3; ++i) CHECK_FALSE(jailed(net, i));
  // A restart while the jail is not yet finalized replays it from the stored blocks.
  REQUIRE(net.chain->finalized_height() < jailing->height());
  net.restart();
  CHECK(jailed(net, 3));
  CHECK(net.chain->tip_hash() == jailing->hash());

  // The jail is finalized during epoch 2, so validators(5) is the first set without it.
  advance_to_epoch(net, 6);
  CHECK(member(net, 3, 4));
  CHECK_FALSE(member(net, 3, 5));
  CHECK(net.chain->epoch_draw(5).validators->total_stake() == 300);
  std::uint64_t finalized = net.chain->finalized_height();
  net.restart();
  CHECK(jailed(net, 3));
  CHECK_FALSE(member(net, 3, 5));

  // A STAKE of 1 rejoins: the flag clears at once, the set takes it in once that is finalized.
  const Wallet& returning = net.validators[3];
  REQUIRE(
      net.pool
          .add(returning.stake(net.chain_id(), 1, 1, 0, net.now()), net.chain->state(), net.now())
          .ok());
  BlockPtr staked = net.advance_finalizing();
  REQUIRE(staked->transactions().size() == 1);
  CHECK_FALSE(jailed(net, 3));
  CHECK(net.chain->state().get(returning.public_key()).stake == 51);
  net.silent.clear();
  const std::uint64_t e = net.finalize_then_advance(staked->height(), 4);
  CHECK_FALSE(member(net, 3, e + 2));
  CHECK(net.chain->epoch_draw(e + 3).validators->weight(returning.public_key()) == 51);
  CHECK(net.chain->finalized_height() > finalized);
}

TEST_CASE("nobody is jailed for votes missing while finality is stalled", "[downtime][chain]") {
  TestNet net(four_validators());
  advance_to_end_of(net, 1);
  // From the first block of epoch 2, 200 of 350 vote: no block can be justified.
  net.silent = {2, 3};
  advance_to_epoch(net, 7);
  const std::uint64_t stalled = net.chain->finalized_height();
  for (int i = 0; i < 8; ++i) net.advance_finalizing();
  CHECK(net.chain->finalized_height() == stalled);
  for (std::size_t i = 0; i < 4; ++i) CHECK_FALSE(jailed(net, i));

  // They come back: finality resumes, and still nobody was jailed.
  net.silent.clear();
  advance_to_epoch(net, 10);
  CHECK(net.chain->finalized_height() > stalled);
  for (std::size_t i = 0; i < 4; ++i) CHECK_FALSE(jailed(net, i));
  CHECK(net.chain->epoch_draw(10).validators->total_stake() == 350);
}

TEST_CASE(
    "jailed stake counts again while finality is stalled, so a jailed validator that "
    "returns restarts it",
    "[downtime][chain]") {
  TestNet net(four_validators());
  net.silent = {3};
  advance_to_epoch(net, 6);
  REQUIRE(jailed(net, 3));
  REQUIRE_FALSE(member(net, 3, 6));

  // Validator 2 stops too, from the first block of epoch k: 200 of the set's 300 vote.
  const std::uint64_t k = 7;
  advance_to_end_of(net, k - 1);
  net.silent = {2, 3};
  advance_to_epoch(net, k + 3);
  const std::uint64_t stalled = net.chain->finalized_height();
  CHECK_FALSE(jailed(net, 2));  // finality did not rise in epoch k

  // F(e) = F(e - 2) from epoch k + 4: validators(k + 4) counts the jailed stake again.
  advance_to_epoch(net, k + 4);
  CHECK_FALSE(member(net, 3, k + 3));
  CHECK(member(net, 3, k + 4));
  CHECK(jailed(net, 3));

  // Validator 3 returns and stakes; with 250 of 350 finality resumes, from targets of epoch
  // k + 5 (the first whose set and the one before both count it).
  const Wallet& returning = net.validators[3];
  REQUIRE(
      net.pool
          .add(returning.stake(net.chain_id(), 1, 1, 0, net.now()), net.chain->state(), net.now())
          .ok());
  net.silent = {2};
  advance_to_epoch(net, k + 6);
  CHECK_FALSE(jailed(net, 3));
  CHECK(net.chain->finalized_height() > stalled);

  // Finality rose in epoch k + 5 without validator 2's votes: it is jailed in k + 7, and the
  // three others go on finalizing without it.
  advance_to_epoch(net, k + 11);
  CHECK(jailed(net, 2));
  CHECK_FALSE(member(net, 2, k + 11));
  for (std::uint64_t e = k + 4; e <= k + 11; ++e) CHECK(member(net, 3, e));
  const std::uint64_t finalized = net.chain->finalized_height();
  for (int i = 0; i < 4; ++i) net.advance_finalizing();
  CHECK(net.chain->finalized_height() > finalized);
}
