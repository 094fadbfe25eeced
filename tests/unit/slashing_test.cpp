// Evidence and slashing in the chain (docs/consensus.md, "Evidence and slashing"): pending
// evidence, its inclusion by the leader, the burn, the slashed flag, double blocks that are both
// valid, and pending evidence across a reorganisation and a restart.
#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

EvidencePtr double_vote_of(const TestNet& net, const Wallet& w) {
  return Evidence::double_vote(vote_by(net, w, 0, 3, 0), vote_by(net, w, 0, 3, 1)).value();
}

}  // namespace

TEST_CASE("included evidence burns the offender's stake and marks it slashed",
          "[chain][evidence][slashing]") {
  TestNet net;
  const Wallet& offender = net.validators[2];
  std::uint64_t supply = net.chain->state().total_supply();
  Account before = net.chain->state().get(offender.public_key());
  REQUIRE(before.stake == 100);
  EvidencePtr evidence = double_vote_of(net, offender);
  REQUIRE(net.chain->add_evidence(evidence).value());
  CHECK(net.chain->has_pending_evidence(evidence->id()));
  // Known already, or another piece against the same offender: nothing more to keep.
  CHECK_FALSE(net.chain->add_evidence(evidence).value());
  auto surround =
      Evidence::surround_vote(vote_by(net, offender, 1, 9), vote_by(net, offender, 2, 5));
  CHECK_FALSE(net.chain->add_evidence(surround.value()).value());
  CHECK(net.chain->pending_evidence().size() == 1);

  BlockPtr block = net.advance();
  REQUIRE(block->evidence().size() == 1);
  CHECK(block->evidence()[0]->id() == evidence->id());
  Account after = net.chain->state().get(offender.public_key());
  CHECK(after.slashed);
  CHECK(after.stake == 0);
  CHECK(after.balance == before.balance);
  CHECK(net.chain->state().total_supply() == supply - before.stake);
  CHECK_FALSE(net.chain->state().stakers().contains(offender.public_key()));
  CHECK(net.chain->pending_evidence().empty());
  // Stale now: the offender is slashed, so evidence against it is dropped without blame.
  CHECK_FALSE(net.chain->add_evidence(surround.value()).value());

  // A slashed account can never stake again; its balance is still its own.
  auto stake = offender.stake(net.chain_id(), 10, 0, after.nonce, net.now());
  Account copy = after;
  UndoLog undo;
  AccountModel state = net.genesis.initial_state();
  state.put(offender.public_key(), copy);
  auto refused = apply_transaction(state, *stake, net.validators[0].public_key(), 5, undo);
  CHECK(refused.reason() == Reason::kSlashed);
  auto transfer =
      offender.transfer(net.chain_id(), net.users[0].public_key(), 5, 0, after.nonce, net.now());
  CHECK(apply_transaction(state, *transfer, net.validators[0].public_key(), 5, undo).ok());
}

TEST_CASE("evidence that proves nothing is refused; a block carrying it is invalid",
          "[chain][evidence][slashing]") {
  TestNet net;
  EvidencePtr good = double_vote_of(net, net.validators[1]);
  Signature bad = good->sig_b();
  bad.bytes[3] ^= 1;
  auto forged =
      Evidence::make(good->kind(), good->offender(), good->a(), good->sig_a(), good->b(), bad);
  CHECK(net.chain->add_evidence(forged).reason() == Reason::kBadEvidence);
  CHECK(net.chain->pending_evidence().empty());

  std::uint64_t height = net.chain->height();
  Hash root = net.chain->state().state_root();
  auto refused = net.chain->apply(net.forge_next({}, {forged}));
  CHECK(refused.reason() == Reason::kBadEvidence);
  // Two pieces against one offender: the second finds it slashed already.
  EvidencePtr twin = Evidence::double_vote(vote_by(net, net.validators[1], 0, 4, 0),
                                           vote_by(net, net.validators[1], 0, 4, 1))
                         .value();
  refused = net.chain->apply(net.forge_next({}, {good, twin}));
  CHECK(refused.reason() == Reason::kBadEvidence);
  CHECK(net.chain->height() == height);
  CHECK(net.chain->state().state_root() == root);
  CHECK_FALSE(net.chain->state().get(net.validators[1].public_key()).slashed);
}

TEST_CASE("both blocks of a double-signing leader are valid, and the pair becomes evidence",
          "[chain][evidence][slashing]") {
  TestNet net;
  net.advance();
  BlockPtr first = net.craft({});
  BlockHeader other = first->header();
  other.timestamp_ms += 1;
  BlockPtr second = net.resign(other, {});
  REQUIRE(first->forger() == second->forger());
  REQUIRE(first->slot() == second->slot());
  REQUIRE(net.chain->apply(first).ok());
  CHECK(net.chain->take_found_evidence().empty());
  auto result = net.chain->apply(second);
  REQUIRE(result.ok());
  CHECK(result->kind != ApplyResult::Kind::kExtended);  // fork choice picks one of the two
  auto found = net.chain->take_found_evidence();
  REQUIRE(found.size() == 1);
  CHECK(found[0]->kind() == EvidenceKind::kDoubleBlock);
  CHECK(found[0]->offender() == first->forger());
  CHECK(found[0]->check(net.chain_id()).ok());
  CHECK(net.chain->has_pending_evidence(found[0]->id()));
  CHECK(net.chain->take_found_evidence().empty());
  // A third header for the slot adds nothing: one piece per offender is enough to slash it.
  other.timestamp_ms += 1;
  REQUIRE(net.chain->apply(net.resign(other, {})).ok());
  CHECK(net.chain->take_found_evidence().empty());
  CHECK(net.chain->pending_evidence().size() == 1);

  // The next leader includes it, and the double signer is slashed.
  BlockPtr next = net.advance();
  REQUIRE(next->evidence().size() == 1);
  CHECK(net.chain->state().get(first->forger()).slashed);
  CHECK(net.chain->state().get(first->forger()).stake == 0);
}

TEST_CASE(
    "evidence leaves pending when included, returns when its block is undone, and "
    "survives a restart",
    "[chain][evidence][slashing][storage]") {
  TempDir dir;
  NetOptions options;
  options.data_dir = dir.path();
  TestNet net(options);
  net.advance();
  EvidencePtr evidence = double_vote_of(net, net.validators[2]);
  REQUIRE(net.chain->add_evidence(evidence).value());
  net.restart();
  REQUIRE(net.chain->pending_evidence().size() == 1);
  CHECK(net.chain->pending_evidence()[0]->id() == evidence->id());

  // A fork from the tip: branch A includes the evidence, branch B (longer) does not.
  Hash fork = net.chain->tip_hash();
  BlockPtr a1 = net.advance();
  REQUIRE(a1->evidence().size() == 1);
  CHECK(net.chain->pending_evidence().empty());
  CHECK(net.chain->state().get(net.validators[2].public_key()).slashed);
  net.restart();
  CHECK(net.chain->pending_evidence().empty());

  // Branch B: built on the fork by a chain that never saw the evidence.
  TestNet other;
  other.clock.set(net.clock.now_ms());
  REQUIRE(other.chain->apply(net.chain->block(fork)).ok());
  std::vector<BlockPtr> branch;
  for (int i = 0; i < 2; ++i) branch.push_back(other.advance(a1->slot()));
  net.clock.set(other.clock.now_ms());
  for (const auto& block : branch) REQUIRE(net.chain->apply(block).ok());
  REQUIRE(net.chain->tip_hash() == branch.back()->hash());
  CHECK_FALSE(net.chain->state().get(net.validators[2].public_key()).slashed);
  REQUIRE(net.chain->pending_evidence().size() == 1);
  CHECK(net.chain->pending_evidence()[0]->id() == evidence->id());
  net.restart();
  CHECK(net.chain->pending_evidence().size() == 1);
}

TEST_CASE("a double block is found even when the first block's body failed",
          "[chain][evidence][slashing]") {
  TestNet net;
  net.advance();
  BlockPtr first = net.craft({});
  // The first copy to arrive has a body that does not match its (valid, signed) header.
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 1, 0, 0, 1);
  BlockPtr tampered = Block::make(first->header(), first->signature(), {tx});
  REQUIRE(net.chain->apply(tampered).reason() == Reason::kBadTxCount);
  BlockHeader other = first->header();
  other.timestamp_ms += 1;
  REQUIRE(net.chain->apply(net.resign(other, {})).ok());
  auto found = net.chain->take_found_evidence();
  REQUIRE(found.size() == 1);
  CHECK(found[0]->offender() == first->forger());
  // The genuine first block is valid too, and adds nothing.
  REQUIRE(net.chain->apply(first).ok());
  CHECK(net.chain->take_found_evidence().empty());
}

TEST_CASE("an offender that unstakes everything is still slashed: its unbonding amount burns",
          "[chain][evidence][slashing]") {
  TestNet net;
  const Wallet& offender = net.validators[2];
  std::uint64_t supply = net.chain->state().total_supply();
  REQUIRE(net.chain->add_evidence(double_vote_of(net, offender)).value());
  auto unstake = offender.unstake(net.chain_id(), 100, 0, net.nonce_of(offender), net.now());
  REQUIRE(net.pool.add(unstake, net.chain->state(), net.now()).ok());
  BlockPtr block = net.advance();
  CHECK(block->transactions().size() == 1);
  CHECK(block->evidence().size() == 1);
  Account after = net.chain->state().get(offender.public_key());
  CHECK(after.slashed);
  CHECK(after.stake == 0);
  CHECK(after.unbonding == 0);
  CHECK(net.chain->state().total_supply() == supply - 100);
  CHECK(net.chain->pending_evidence().empty());
}
