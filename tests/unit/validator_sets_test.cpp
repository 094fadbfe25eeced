// Validator sets from finalized state (docs/consensus.md, "Validator sets"): the stake table a
// block leaves, the entry cap, the epochs a finalized change waits, and on a chain, that stake
// counts only once finalized and from the third epoch after, and that slashed stake leaves.
#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

PublicKey key(std::uint8_t byte) {
  PublicKey k;
  k.bytes.fill(byte);
  return k;
}

ValidatorSetPtr set_of(const Weights& weights) {
  return std::make_shared<const ProofOfStake>(weights);
}

// Stakes of unjailed accounts.
StakeTable table(const Weights& stakes) {
  StakeTable out;
  for (const auto& [address, stake] : stakes) out[address] = Staker{stake, false};
  return out;
}

Weights weights_of(const ProofOfStake& set) {
  Weights out;
  for (const Lot& lot : set.lots()) out[lot.staker] = lot.stake;
  return out;
}

StakeSnapshot snapshot(std::uint64_t height, const Weights& stakes) {
  return StakeSnapshot{Checkpoint{filled(static_cast<std::uint8_t>(height)), height, height},
                       std::make_shared<const StakeTable>(table(stakes))};
}

// The first epoch whose validator set on the tip's chain holds `key`.
std::optional<std::uint64_t> first_epoch_with(const Blockchain& chain, const PublicKey& k,
                                              std::uint64_t to) {
  for (std::uint64_t e = 0; e <= to; ++e)
    if (chain.epoch_draw(e).validators->contains(k)) return e;
  return std::nullopt;
}

}  // namespace

TEST_CASE("the entry cap lets a quarter of the previous weight in per epoch, in address order",
          "[validators]") {
  const PublicKey a = key(1), b = key(2), c = key(3), d = key(4), e = key(5);
  ValidatorSetPtr previous = set_of({{a, 100}, {b, 100}, {c, 100}});

  // ceil(300 / 4) = 75 enters: d (lower address) first, e gets nothing yet.
  ValidatorSetPtr next =
      next_validator_set(previous, table({{a, 100}, {b, 100}, {c, 100}, {d, 200}, {e, 50}}));
  CHECK(weights_of(*next) == Weights{{a, 100}, {b, 100}, {c, 100}, {d, 75}});
  // ceil(375 / 4) = 94 more: d grows to 169, e still waits.
  next = next_validator_set(next, table({{a, 100}, {b, 100}, {c, 100}, {d, 200}, {e, 50}}));
  CHECK(weights_of(*next) == Weights{{a, 100}, {b, 100}, {c, 100}, {d, 169}});
  // ceil(469 / 4) = 118: d's last 31, then 50 for e.
  next = next_validator_set(next, table({{a, 100}, {b, 100}, {c, 100}, {d, 200}, {e, 50}}));
  CHECK(weights_of(*next) == Weights{{a, 100}, {b, 100}, {c, 100}, {d, 200}, {e, 50}});
  // Nothing moves any more: the same set, shared.
  CHECK(next_validator_set(next, table({{a, 100}, {b, 100}, {c, 100}, {d, 200}, {e, 50}})) == next);

  // Stake that leaves is not capped: an unstake or a slash counts at once.
  CHECK(weights_of(*next_validator_set(previous, table({{a, 10}, {b, 100}}))) ==
        Weights{{a, 10}, {b, 100}});
  // A member that stakes more grows under the cap like a newcomer.
  CHECK(weights_of(*next_validator_set(previous, table({{a, 500}, {b, 100}, {c, 100}}))) ==
        Weights{{a, 175}, {b, 100}, {c, 100}});
  // Nobody left staking: the previous set stays, so the chain can go on.
  CHECK(next_validator_set(previous, table({})) == previous);
  // A jailed account leaves at once, unless finality is stalled: then it counts (capped as ever).
  StakeTable with_jailed = table({{a, 100}, {b, 100}, {c, 100}, {d, 40}});
  with_jailed[b].jailed = true;
  with_jailed[d].jailed = true;
  CHECK(weights_of(*next_validator_set(previous, with_jailed)) == Weights{{a, 100}, {c, 100}});
  CHECK(weights_of(*next_validator_set(previous, with_jailed, true)) ==
        Weights{{a, 100}, {b, 100}, {c, 100}, {d, 40}});
  // The cap rounds up: a set of weight 1 lets 1 in.
  CHECK(weights_of(*next_validator_set(set_of({{a, 1}}), table({{a, 1}, {b, 9}}))) ==
        Weights{{a, 1}, {b, 1}});
}

TEST_CASE("a block's stake table: STAKE adds, UNSTAKE takes away, evidence empties, nothing shares",
          "[validators]") {
  TestNet net;
  const Wallet& user = net.users[0];
  const Wallet& validator = net.validators[1];
  auto before = std::make_shared<const StakeTable>(
      table({{validator.public_key(), 100}, {net.validators[2].public_key(), 100}}));
  auto stake = user.stake(net.chain_id(), 30, 1, 0, net.now());
  auto unstake = validator.unstake(net.chain_id(), 40, 1, 0, net.now());
  auto transfer = user.transfer(net.chain_id(), validator.public_key(), 5, 1, 1, net.now());
  EvidencePtr evidence = Evidence::double_vote(vote_by(net, net.validators[2], 0, 3, 0),
                                               vote_by(net, net.validators[2], 0, 3, 1))
                             .value();
  BlockHeader header;
  header.chain_id = net.chain_id();
  header.height = 1;
  header.slot = 1;
  auto block = Block::sign(header, {stake, unstake, transfer}, net.validators[0].secret_key(), {},
                           {evidence});
  StakeTablePtr after = stakes_after(before, *block);
  CHECK(*after == table({{user.public_key(), 30}, {validator.public_key(), 60}}));
  CHECK(*before == table({{validator.public_key(), 100}, {net.validators[2].public_key(), 100}}));

  auto transfers_only = Block::sign(header, {transfer}, net.validators[0].secret_key(), {}, {});
  CHECK(stakes_after(before, *transfers_only) == before);

  // Jails come first: the jailed validator keeps its stake; a STAKE in the same block frees it;
  // a key without stake is not in the table to jail.
  const PublicKey jailed[] = {validator.public_key(), net.validators[2].public_key(),
                              user.public_key()};
  StakeTable expected =
      table({{validator.public_key(), 100}, {net.validators[2].public_key(), 100}});
  expected[validator.public_key()].jailed = true;
  expected[net.validators[2].public_key()].jailed = true;
  CHECK(*stakes_after(before, *transfers_only, jailed) == expected);
  auto restake = validator.stake(net.chain_id(), 1, 1, 0, net.now());
  auto rejoining = Block::sign(header, {restake}, net.validators[0].secret_key(), {}, {});
  expected[validator.public_key()] = Staker{101, false};
  CHECK(*stakes_after(before, *rejoining, jailed) == expected);
}

TEST_CASE("a finalized change reaches validators(e) three epochs after the epoch that finalized it",
          "[validators]") {
  const PublicKey a = key(1), b = key(2), c = key(3);
  ValidatorSchedule genesis = ValidatorSchedule::genesis(snapshot(0, {{a, 100}, {b, 100}}));
  CHECK(genesis.epoch() == 0);
  for (std::uint64_t e : {1, 2, 3, 40})
    CHECK(weights_of(genesis.at_epoch(e).set(e)) == Weights{{a, 100}, {b, 100}});

  // A block of epoch 5 finalizes one whose stakes let c in.
  ValidatorSchedule at5 =
      genesis.at_epoch(5).after_block(snapshot(9, {{a, 100}, {b, 100}, {c, 80}}));
  CHECK(at5.finalized().block.height == 9);
  // Its own epoch and the next two keep the old set; epoch 8 lets in ceil(200 / 4) = 50 of c,
  // epoch 9 the rest.
  ValidatorSchedule at8 = at5.at_epoch(8);
  CHECK_FALSE(at8.set(6).contains(c));
  CHECK_FALSE(at8.set(7).contains(c));
  CHECK(weights_of(at8.set(8)) == Weights{{a, 100}, {b, 100}, {c, 50}});
  CHECK(at8.in_any_set(c));
  CHECK(at8.distinct_validators() == 3);
  CHECK(weights_of(at5.at_epoch(9).set(9)) == Weights{{a, 100}, {b, 100}, {c, 80}});
  // Far ahead, the cap has let all of it in; the schedule settles instead of walking each epoch.
  ValidatorSchedule far = at5.at_epoch(1'000'000'000);
  CHECK(far.epoch() == 1'000'000'000);
  CHECK(weights_of(far.set(far.epoch() - 2)) == Weights{{a, 100}, {b, 100}, {c, 80}});
  // Settled: nothing later moves the set until a block finalizes more.
  CHECK(genesis.at_epoch(3).settled());
  CHECK_FALSE(at5.settled());
  CHECK_FALSE(at8.settled());
  CHECK(at5.at_epoch(10).settled());
  CHECK_FALSE(at5.at_epoch(10).after_block(snapshot(12, {{a, 100}})).settled());
  // A lower finalized block never replaces the chain's.
  CHECK(at5.after_block(snapshot(4, {})).finalized().block.height == 9);
  CHECK_THROWS_AS(at8.set(5), std::logic_error);
}

TEST_CASE("stake counts only once finalized, from the third epoch after, and across a restart",
          "[validators][chain]") {
  TempDir dir;
  NetOptions options;
  options.epoch_slots = 8;
  options.user_balance = 1'000;
  options.data_dir = dir.path();
  TestNet net(options);
  const Wallet& user = net.users[0];
  REQUIRE(
      net.pool.add(user.stake(net.chain_id(), 200, 1, 0, net.now()), net.chain->state(), net.now())
          .ok());
  BlockPtr staked = net.advance_finalizing();
  REQUIRE(staked->transactions().size() == 1);
  CHECK(net.chain->state().stakers().at(user.public_key()) == 200);
  CHECK_FALSE(net.chain->is_voter(user.public_key()));
  // A staker is known as a possible validator at once: its votes are not a peer's lie.
  CHECK(net.chain->is_validator(user.public_key()));

  // The epoch of the first block whose chain finalizes the STAKE's block.
  const std::uint64_t e = net.finalize_then_advance(staked->height(), 6);
  auto check_sets = [&] {
    CHECK(first_epoch_with(*net.chain, user.public_key(), e + 5) == e + 3);
    CHECK(net.chain->epoch_draw(e + 3).validators->weight(user.public_key()) == 75);
    CHECK(net.chain->epoch_draw(e + 4).validators->weight(user.public_key()) == 169);
    CHECK(net.chain->epoch_draw(e + 5).validators->weight(user.public_key()) == 200);
    CHECK(net.chain->epoch_draw(e + 5).validators->total_stake() == 500);
  };
  check_sets();
  CHECK(net.chain->is_voter(user.public_key()));
  // Below the finalized block the sets come from what the chain kept, and after a restart from
  // the replayed chain.
  net.restart();
  check_sets();
}

TEST_CASE("a slashed validator leaves validators(e) three epochs after its slashing is finalized",
          "[validators][chain][slashing]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  const Wallet& offender = net.validators[2];
  EvidencePtr evidence =
      Evidence::double_vote(vote_by(net, offender, 0, 3, 0), vote_by(net, offender, 0, 3, 1))
          .value();
  REQUIRE(net.chain->add_evidence(evidence).value());
  BlockPtr slashing = net.advance_finalizing();
  REQUIRE(slashing->evidence().size() == 1);
  const std::uint64_t e = net.finalize_then_advance(slashing->height(), 4);
  CHECK(net.chain->epoch_draw(e + 2).validators->contains(offender.public_key()));
  CHECK_FALSE(net.chain->epoch_draw(e + 3).validators->contains(offender.public_key()));
  CHECK(net.chain->epoch_draw(e + 3).validators->total_stake() == 200);
  // The two left keep finalizing: the offender's votes counted while it was a member.
  std::uint64_t finalized = net.chain->finalized_height();
  for (int i = 0; i < 4; ++i) net.advance_finalizing();
  CHECK(net.chain->finalized_height() > finalized);
}

TEST_CASE("a chain whose first block comes long after genesis keeps the sets of the epochs between",
          "[validators][chain]") {
  TempDir dir;
  NetOptions options;
  options.epoch_slots = 8;
  options.data_dir = dir.path();
  TestNet net(options);
  const std::uint64_t gap = 100'000;
  net.advance_finalizing(gap * options.epoch_slots);
  for (int i = 0; i < 4; ++i) net.advance_finalizing();
  REQUIRE(net.chain->finalized_height() >= 2);  // the first blocks left the index
  auto check_sets = [&] {
    for (std::uint64_t e : {std::uint64_t{1}, gap / 2, gap - 1, gap})
      CHECK(net.chain->epoch_draw(e).validators->total_stake() == 300);
  };
  check_sets();
  net.restart();
  check_sets();
}
