// The consensus engine driven without sockets: a recording Transport stands in for the
// network, and the test calls what the network would (a peer's transactions and blocks, the
// slot clock's tick) with a clock it sets.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "pos/consensus_engine.h"
#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

// What the engine sent, and what the network would say of its peers.
struct RecordingTransport final : Transport {
  std::vector<std::pair<BlockPtr, PeerId>> blocks;
  std::vector<std::pair<std::vector<TransactionPtr>, PeerId>> tx_batches;
  std::vector<std::pair<std::vector<VotePtr>, PeerId>> vote_batches;
  std::vector<std::pair<std::vector<EvidencePtr>, PeerId>> evidence_batches;
  std::size_t ready = 0;
  bool ahead = false;
  const Blockchain* chain = nullptr;
  std::vector<std::uint64_t> tip_height_when_sent;  // of the node's chain, at each block sent

  void broadcast_block(const BlockPtr& block, PeerId except) override {
    blocks.emplace_back(block, except);
    if (chain) tip_height_when_sent.push_back(chain->height());
  }
  void broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) override {
    tx_batches.emplace_back(txs, except);
  }
  void broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) override {
    vote_batches.emplace_back(votes, except);
  }
  void broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) override {
    evidence_batches.emplace_back(evidence, except);
  }
  std::size_t ready_peers() const override { return ready; }
  bool peer_ahead() const override { return ahead; }
};

struct EngineFixture {
  TestNet net;
  RecordingTransport transport;
  std::vector<std::string> logged;
  ConsensusEngine engine{*net.chain, net.pool, net.clock, test::capture_log(logged)};
  EngineFixture() {
    transport.chain = net.chain.get();
    engine.set_transport(&transport);
  }

  TransactionPtr transfer(std::size_t user, std::uint64_t nonce, std::uint64_t amount = 1) {
    return net.users[user].transfer(net.chain_id(), net.users[1 - user].public_key(), amount, 1,
                                    nonce, net.now());
  }
  // A vote by `signer` from the chain's block `source` to `target`.
  VotePtr vote(const Wallet& signer, const BlockPtr& source, const BlockPtr& target) const {
    return Vote::sign(
        VoteFields{
            net.chain_id(), {}, source->hash(), source->height(), target->hash(), target->height()},
        signer.secret_key());
  }
  // Starts forging (and voting) with validators[0], recording what it asks to sign.
  void start(std::vector<std::pair<std::uint64_t, std::uint64_t>>* voted,
             Status verdict = Status{}) {
    ForgingOptions options;
    options.before_vote = [voted, verdict](std::uint64_t source, std::uint64_t target) {
      voted->emplace_back(source, target);
      return verdict;
    };
    engine.start_forging(SecretKey::from_seed(net.validators[0].secret_key().seed()), options);
  }
};

}  // namespace

TEST_CASE("engine: admitted transactions go out together, refused ones do not", "[engine]") {
  EngineFixture f;
  auto good = f.transfer(0, 0);
  auto second = f.transfer(0, 1);
  auto unfunded = f.transfer(1, 0, 1'000'000);
  auto verdicts = f.engine.submit({good, second, unfunded});
  REQUIRE(verdicts.size() == 3);
  CHECK(verdicts[0].ok());
  CHECK(verdicts[1].ok());
  CHECK(verdicts[2].reason() == Reason::kInsufficientFunds);
  REQUIRE(f.transport.tx_batches.size() == 1);
  CHECK(f.transport.tx_batches[0].first == std::vector<TransactionPtr>{good, second});
  CHECK(f.transport.tx_batches[0].second == 0);
  CHECK(f.engine.has_transaction(good->id()));
  NodeStatus s = f.engine.status();
  CHECK(s.pool_size == 2);
  CHECK(s.counters.txs_accepted.at("rpc") == 2);
  CHECK(s.counters.txs_refused.at("insufficient_funds") == 1);
}

TEST_CASE("engine: a peer's transactions are relayed to all but that peer", "[engine]") {
  EngineFixture f;
  auto tx = f.transfer(0, 0);
  auto verdicts = f.engine.receive_transactions(7, {tx, tx});
  CHECK(verdicts[0].ok());
  CHECK(verdicts[1].reason() == Reason::kDuplicate);
  REQUIRE(f.transport.tx_batches.size() == 1);
  CHECK(f.transport.tx_batches[0].second == 7);
  CHECK(f.engine.status().counters.txs_accepted.at("p2p") == 1);
}

TEST_CASE("engine: a block from a peer is applied, relayed past its sender, served to others",
          "[engine]") {
  EngineFixture f;
  auto genesis = f.engine.tip_hash();
  BlockPtr block = f.net.forge(f.net.next_slot(0));
  REQUIRE(f.engine.receive_block(3, block, BlockSource::kGossip).ok());
  CHECK(f.engine.tip_hash() == block->hash());
  CHECK(f.engine.tip_height() == 1);
  REQUIRE(f.transport.blocks.size() == 1);
  CHECK(f.transport.blocks[0] == std::make_pair(block, PeerId{3}));
  // A peer's block is relayed only once this node has checked and applied it.
  CHECK(f.transport.tip_height_when_sent == std::vector<std::uint64_t>{1});
  CHECK(f.engine.receive_block(3, block, BlockSource::kGossip).reason() == Reason::kAlreadyKnown);
  CHECK(f.transport.blocks.size() == 1);
  // What a peer that knows only genesis is sent when it asks.
  auto served = f.engine.blocks_after({genesis}, 10, 1 << 20);
  REQUIRE(served.size() == 1);
  CHECK(served[0]->hash() == block->hash());
  CHECK(f.engine.blocks_after({block->hash()}, 10, 1 << 20).empty());
  CHECK(f.engine.status().counters.blocks_received == 1);
}

TEST_CASE("engine: only a leader's block with a body is worth its body's signature checks",
          "[engine][hostile]") {
  EngineFixture f;
  auto tx = f.transfer(0, 0);
  REQUIRE(f.engine.submit({tx}).at(0).ok());
  BlockPtr good = f.net.forge(f.net.next_slot(0));
  REQUIRE(good->transactions().size() == 1);
  CHECK(f.engine.screen_block(good));
  CHECK_FALSE(f.engine.screen_block(f.net.craft({})));  // nothing in it to check
  // The same body under a key with no stake, and under a wrong signature: refused by the header.
  BlockHeader header = good->header();
  CHECK_FALSE(f.engine.screen_block(Block::sign(header, {tx}, f.net.users[0].secret_key())));
  CHECK_FALSE(f.engine.screen_block(Block::make(header, Signature{}, {tx})));
  // The leader's signed header with another body: its roots do not match.
  CHECK_FALSE(f.engine.screen_block(Block::make(header, good->signature(), {f.transfer(0, 1)})));
  header.parent.bytes[0] ^= 1;  // a parent this node does not have
  CHECK_FALSE(f.engine.screen_block(f.net.resign(header, {tx})));
  // Screening changes nothing; the good block is then taken as ever.
  CHECK(f.engine.tip_height() == 0);
  CHECK(f.engine.receive_block(3, good, BlockSource::kGossip).ok());
  CHECK_FALSE(f.engine.screen_block(good));  // known now
}

TEST_CASE("engine: an early block is held back until its slot; a far-future one is refused",
          "[engine]") {
  EngineFixture f;
  std::uint64_t slot = f.net.next_slot(5);
  BlockPtr block = f.net.forge(slot);  // sets the clock into the slot
  const auto& params = f.net.genesis.params;
  f.net.clock.set(params.slot_start_ms(slot - 3));
  REQUIRE(f.engine.receive_block(4, block, BlockSource::kGossip).ok());  // held
  CHECK(f.engine.tip_height() == 0);
  CHECK(f.engine.status().held_back_blocks == 1);
  // From a sync batch the same block is judged as it is.
  CHECK(f.engine.receive_block(4, block, BlockSource::kSync).reason() == Reason::kSlotInFuture);
  f.engine.on_tick();
  CHECK(f.engine.tip_height() == 0);
  f.net.clock.set(params.slot_start_ms(slot - 1));
  f.engine.on_tick();
  CHECK(f.engine.tip_hash() == block->hash());
  REQUIRE(f.transport.blocks.size() == 1);
  CHECK(f.transport.blocks[0].second == 0);  // retried here, so sent to every peer

  std::uint64_t far = f.net.next_slot(slot + 1000);
  BlockPtr early = f.net.forge(far);
  f.net.clock.set(params.slot_start_ms(slot));
  CHECK(f.engine.receive_block(4, early, BlockSource::kGossip).reason() == Reason::kSlotInFuture);
  CHECK(f.engine.status().held_back_blocks == 1);
}

TEST_CASE("engine: an early block that a validator did not sign is refused for that, not held back",
          "[engine][adversarial]") {
  EngineFixture f;
  const auto& params = f.net.genesis.params;
  std::uint64_t slot = f.net.next_slot(5);
  BlockPtr block = f.net.forge(slot);
  f.net.clock.set(params.slot_start_ms(slot - 3));

  Signature junk = block->signature();
  junk.bytes[0] ^= 1;
  BlockPtr unsigned_block = Block::make(block->header(), junk, block->transactions());
  CHECK(f.engine.receive_block(4, unsigned_block, BlockSource::kGossip).reason() ==
        Reason::kBadBlockSignature);

  Wallet outsider = Wallet::generate();
  BlockHeader header = block->header();
  header.forger = outsider.public_key();
  BlockPtr outsiders = Block::make(header, outsider.secret_key().sign(header.signing_bytes()), {});
  CHECK(f.engine.receive_block(4, outsiders, BlockSource::kGossip).reason() ==
        Reason::kWrongForger);

  CHECK(f.engine.status().held_back_blocks == 0);
  CHECK_FALSE(f.engine.status().clock_behind);
  // The leader's own block of that slot is still held, and applied when its slot comes.
  REQUIRE(f.engine.receive_block(4, block, BlockSource::kGossip).ok());
  CHECK(f.engine.status().held_back_blocks == 1);
  f.net.clock.set(params.slot_start_ms(slot));
  f.engine.on_tick();
  CHECK(f.engine.tip_hash() == block->hash());
}

TEST_CASE(
    "engine: blocks that keep coming from ahead of the clock warn once, as /health says "
    "clock_behind; one such block is not a warning",
    "[engine][log]") {
  EngineFixture f;
  const auto& params = f.net.genesis.params;
  auto warnings = [&] {
    return std::count_if(f.logged.begin(), f.logged.end(), [](const std::string& line) {
      return line.starts_with("warn blocks keep arriving from slots ahead of this node's clock");
    });
  };
  // A clock three slots late: each leader's block arrives early and is held.
  std::uint64_t slot = 5;
  for (std::size_t held = 1; held <= 4; ++held) {
    slot = f.net.next_slot(slot);
    BlockPtr block = f.net.forge(slot);
    f.net.clock.set(params.slot_start_ms(slot - 3));
    REQUIRE(f.engine.receive_block(4, block, BlockSource::kGossip).ok());
    REQUIRE(f.engine.status().held_back_blocks == held);
    CHECK(f.engine.status().clock_behind == (held >= 3));
    CHECK(warnings() == (held < 3 ? 0 : 1));  // from the third, once in ten minutes
  }
}

TEST_CASE("engine: the slot clock forges in the key's slots, within its conditions", "[engine]") {
  EngineFixture f;
  const auto& params = f.net.genesis.params;
  const Wallet& v0 = f.net.validators[0];
  auto own_slot_after = [&](std::uint64_t after) {
    for (std::uint64_t s = after + 1;; ++s)
      if (f.net.chain->leader(s) == v0.public_key()) return s;
  };
  ForgingOptions options;
  options.min_peers = 1;
  std::vector<std::uint64_t> signed_slots;
  options.before_sign = [&](std::uint64_t slot) {
    signed_slots.push_back(slot);
    return Status{};
  };
  f.engine.start_forging(SecretKey::from_seed(v0.secret_key().seed()), options);
  REQUIRE(f.engine.submit({f.transfer(0, 0)})[0].ok());

  std::uint64_t slot = own_slot_after(0);
  f.net.clock.set(params.slot_start_ms(slot));
  f.engine.on_tick();  // no peer: not alone
  CHECK(f.engine.status().forge_decided_slot == slot);
  CHECK(f.engine.tip_height() == 0);
  // A slot it leads and lets go is what an operator must hear of.
  CHECK(std::find(f.logged.begin(), f.logged.end(),
                  "warn missed a slot this node leads: too few peers (--forge-min-peers) slot=" +
                      std::to_string(slot) + " peers=0 min_peers=1") != f.logged.end());

  f.transport.ready = 1;
  f.transport.ahead = true;  // a peer's claim does not stop forging
  slot = own_slot_after(slot);
  f.net.clock.set(params.slot_start_ms(slot));
  f.engine.on_tick();
  REQUIRE(f.engine.tip_height() == 1);
  CHECK(signed_slots == std::vector<std::uint64_t>{slot});
  CHECK(f.net.chain->tip().forger == v0.public_key());
  CHECK(f.engine.status().pool_size == 0);
  CHECK(f.engine.status().counters.blocks_forged == 1);
  REQUIRE(f.transport.blocks.size() == 1);
  // Sent once this node has applied and stored it (KJ would write it only after this turn of
  // the loop in any case).
  CHECK(f.transport.tip_height_when_sent == std::vector<std::uint64_t>{1});
  f.engine.on_tick();  // once per slot
  CHECK(f.transport.blocks.size() == 1);

  slot = own_slot_after(slot);
  f.net.clock.set(params.slot_start_ms(slot));
  f.engine.on_tick();  // nothing pending: an empty block all the same
  REQUIRE(f.engine.tip_height() == 2);
  CHECK(f.net.chain->tip().tx_count == 0);
  CHECK(f.net.chain->tip().slot == slot);

  // The clock jumps past a slot this key leads (a stalled process): missed, and said so.
  const std::uint64_t looked = slot;
  const std::uint64_t skipped = own_slot_after(slot);
  slot = skipped + 1;
  f.net.clock.set(params.slot_start_ms(slot));
  f.engine.on_tick();
  std::uint64_t led = 0;
  for (std::uint64_t s = looked + 1; s < slot; ++s)
    led += f.net.chain->leader(s) == v0.public_key();
  CHECK(led >= 1);
  CHECK(std::find(f.logged.begin(), f.logged.end(),
                  fmt::format("warn missed slots this node leads: its event loop did not run in "
                              "them (a stall) from_slot={} to_slot={} missed={}",
                              looked + 1, slot - 1, led)) != f.logged.end());

  const std::uint64_t height = f.engine.tip_height();
  f.engine.stop_forging();
  slot = own_slot_after(slot);
  f.net.clock.set(params.slot_start_ms(slot));
  f.engine.on_tick();
  CHECK(f.engine.tip_height() == height);
}

TEST_CASE("engine: a validator votes once for each new head, from its chain's justified block",
          "[engine][votes]") {
  EngineFixture f;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> voted;
  f.start(&voted);
  BlockPtr genesis = f.net.chain->block_at(0);
  BlockPtr first = f.net.forge(f.net.next_slot(0));
  REQUIRE(f.engine.receive_block(3, first, BlockSource::kGossip).ok());
  CHECK(voted == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 1}});
  REQUIRE(f.transport.vote_batches.size() == 1);
  const auto& [votes, except] = f.transport.vote_batches[0];
  REQUIRE(votes.size() == 1);
  CHECK(except == 0);
  const VotePtr& vote = votes[0];
  CHECK(vote->validator() == f.net.validators[0].public_key());
  CHECK(vote->source_hash() == genesis->hash());
  CHECK(vote->target_hash() == first->hash());
  CHECK(vote->target_height() == 1);
  CHECK(vote->check().ok());
  CHECK(f.engine.has_vote(vote->id()));
  CHECK(f.engine.status().counters.votes_cast == 1);
  f.engine.on_tick();  // the head has not moved: no second vote
  CHECK(f.transport.vote_batches.size() == 1);

  BlockPtr second = f.net.forge(f.net.next_slot(first->slot()));
  REQUIRE(f.engine.receive_block(3, second, BlockSource::kGossip).ok());
  CHECK(voted.back() == std::make_pair(std::uint64_t{0}, std::uint64_t{2}));
  CHECK(f.transport.vote_batches.size() == 2);

  // A block of a sync batch is not voted for at once: the tick votes for where the batch ends.
  BlockPtr third = f.net.forge(f.net.next_slot(second->slot()));
  REQUIRE(f.engine.receive_block(3, third, BlockSource::kSync).ok());
  CHECK(f.transport.vote_batches.size() == 2);
  f.engine.on_tick();
  REQUIRE(f.transport.vote_batches.size() == 3);
  CHECK(f.transport.vote_batches[2].first[0]->target_hash() == third->hash());
}

TEST_CASE("engine: a vote the durable record refuses never leaves", "[engine][votes]") {
  EngineFixture f;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> voted;
  f.start(&voted, make_error(Reason::kInvalidArgument, "could conflict with one signed before"));
  REQUIRE(f.engine.receive_block(3, f.net.forge(f.net.next_slot(0)), BlockSource::kGossip).ok());
  CHECK(voted.size() == 1);
  CHECK(f.transport.vote_batches.empty());
  CHECK(f.engine.status().counters.votes_cast == 0);
  CHECK(f.engine.status().vote_pool_size == 0);
}

TEST_CASE("engine: a peer's votes are judged cheaply first, kept, relayed past their sender",
          "[engine][votes]") {
  EngineFixture f;
  BlockPtr genesis = f.net.chain->block_at(0);
  BlockPtr first = f.net.forge(f.net.next_slot(0));
  REQUIRE(f.engine.receive_block(3, first, BlockSource::kGossip).ok());
  BlockPtr second = f.net.forge(f.net.next_slot(first->slot()));
  REQUIRE(f.engine.receive_block(3, second, BlockSource::kGossip).ok());
  const Wallet& v1 = f.net.validators[1];
  const Wallet& v2 = f.net.validators[2];

  VotePtr good = f.vote(v1, genesis, first);
  auto sign = [&](const Wallet& w, const Hash& source, std::uint64_t hs, const Hash& target,
                  std::uint64_t ht, std::string chain_id) {
    return Vote::sign(VoteFields{std::move(chain_id), {}, source, hs, target, ht}, w.secret_key());
  };
  VotePtr other_chain = sign(v1, genesis->hash(), 0, first->hash(), 1, "another-chain");
  VotePtr outsider = f.vote(f.net.users[0], genesis, first);
  VotePtr wrong_height = sign(v1, genesis->hash(), 0, second->hash(), 1, f.net.chain_id());
  VotePtr wrong_source = sign(v2, first->hash(), 0, second->hash(), 2, f.net.chain_id());
  VotePtr forged = Vote::make(f.vote(v1, genesis, second)->fields(), good->signature());
  Hash unknown = filled(7);
  VotePtr unknown_target = sign(v2, genesis->hash(), 0, unknown, 9, f.net.chain_id());
  VotePtr second_at_height = sign(v1, genesis->hash(), 0, filled(8), 1, f.net.chain_id());
  // A key outside the tip's sets voting for a block not known here: it may be a member on a
  // branch this node has not seen, so its sender is not blamed; nor is it kept.
  VotePtr stranger = sign(f.net.users[1], genesis->hash(), 0, filled(9), 4, f.net.chain_id());

  // The cheap checks alone (what the network asks before it checks signatures off the loop)
  // keep nothing and check no signature: the forgery passes them.
  auto screened = f.engine.screen_votes(
      {good, other_chain, outsider, wrong_height, wrong_source, forged, unknown_target, stranger});
  REQUIRE(screened.size() == 8);
  CHECK(screened[0].value());
  CHECK(screened[1].reason() == Reason::kWrongChain);
  CHECK(screened[2].reason() == Reason::kBadVote);
  CHECK(screened[3].reason() == Reason::kBadVote);
  CHECK(screened[4].reason() == Reason::kBadVote);
  CHECK(screened[5].value());
  CHECK(screened[6].value());
  CHECK_FALSE(screened[7].value());  // dropped unjudged
  CHECK_FALSE(f.engine.has_vote(good->id()));

  auto verdicts =
      f.engine.receive_votes(5, {good, other_chain, outsider, wrong_height, wrong_source, forged,
                                 unknown_target, good, second_at_height, stranger});
  REQUIRE(verdicts.size() == 10);
  CHECK(verdicts[0].ok());
  CHECK(verdicts[1].reason() == Reason::kWrongChain);
  CHECK(verdicts[2].reason() == Reason::kBadVote);
  CHECK(verdicts[3].reason() == Reason::kBadVote);
  CHECK(verdicts[4].reason() == Reason::kBadVote);
  CHECK(verdicts[5].reason() == Reason::kBadSignature);
  CHECK(verdicts[6].ok());  // its target may be a block this node has not seen yet
  CHECK(verdicts[7].ok());  // the same vote again: nothing to blame, nothing new
  CHECK(verdicts[8].ok());  // a second vote at one height is evidence, not the sender's fault
  CHECK(verdicts[9].ok());
  CHECK_FALSE(f.engine.has_vote(stranger->id()));
  REQUIRE(f.transport.vote_batches.size() == 1);
  // Kept, but not relayed before this node can check it against its target.
  CHECK(f.transport.vote_batches[0].first == std::vector<VotePtr>{good});
  CHECK(f.transport.vote_batches[0].second == 5);
  CHECK(f.engine.has_vote(good->id()));
  CHECK(f.engine.has_vote(unknown_target->id()));
  CHECK_FALSE(f.engine.has_vote(second_at_height->id()));
  CHECK(f.engine.status().counters.votes_received == 2);
  // The second vote at one height is double_vote evidence: kept and sent to every peer.
  REQUIRE(f.transport.evidence_batches.size() == 1);
  const auto& [evidence, except] = f.transport.evidence_batches[0];
  REQUIRE(evidence.size() == 1);
  CHECK(except == 0);
  CHECK(evidence[0]->kind() == EvidenceKind::kDoubleVote);
  CHECK(evidence[0]->offender() == v1.public_key());
  CHECK(f.engine.has_evidence(evidence[0]->id()));
  CHECK(f.engine.status().counters.evidence_found == 1);
}

TEST_CASE("engine: a vote surrounding a held one (or inside it) becomes evidence",
          "[engine][votes][evidence]") {
  EngineFixture f;
  BlockPtr genesis = f.net.chain->block_at(0);
  std::vector<BlockPtr> blocks = {genesis};
  for (int i = 0; i < 4; ++i) blocks.push_back(f.net.advance());
  const Wallet& v2 = f.net.validators[2];
  REQUIRE(f.engine.receive_votes(3, {f.vote(v2, blocks[1], blocks[2])})[0].ok());
  CHECK(f.transport.evidence_batches.empty());
  REQUIRE(f.engine.receive_votes(3, {f.vote(v2, blocks[0], blocks[4])})[0].ok());
  REQUIRE(f.transport.evidence_batches.size() == 1);
  const EvidencePtr& e = f.transport.evidence_batches[0].first.at(0);
  CHECK(e->kind() == EvidenceKind::kSurroundVote);
  CHECK(e->offender() == v2.public_key());
  CHECK(e->check(f.net.chain_id()).ok());
}

TEST_CASE("engine: evidence from a peer is kept and relayed, refused with blame, or dropped",
          "[engine][evidence]") {
  EngineFixture f;
  auto vote_at = [&](const Wallet& w, std::uint8_t target) {
    return Vote::sign(VoteFields{f.net.chain_id(), {}, filled(1), 0, filled(target), 3},
                      w.secret_key());
  };
  const Wallet& v1 = f.net.validators[1];
  const Wallet& v2 = f.net.validators[2];
  EvidencePtr good = Evidence::double_vote(vote_at(v1, 5), vote_at(v1, 6)).value();
  EvidencePtr same_offender = Evidence::double_vote(vote_at(v1, 5), vote_at(v1, 7)).value();
  EvidencePtr no_stake =
      Evidence::double_vote(vote_at(f.net.users[0], 5), vote_at(f.net.users[0], 6)).value();
  EvidencePtr other = Evidence::double_vote(vote_at(v2, 5), vote_at(v2, 6)).value();
  Signature bad = other->sig_a();
  bad.bytes[1] ^= 1;
  EvidencePtr forged =
      Evidence::make(other->kind(), other->offender(), other->a(), bad, other->b(), other->sig_b());
  auto verdicts = f.engine.receive_evidence(6, {good, same_offender, no_stake, forged, good});
  REQUIRE(verdicts.size() == 5);
  CHECK(verdicts[0].ok());
  CHECK(verdicts[1].ok());  // one piece per offender is enough: dropped without blame
  CHECK(verdicts[2].ok());  // nothing to slash here: stale, not the sender's fault
  CHECK(verdicts[3].reason() == Reason::kBadEvidence);
  CHECK(verdicts[4].ok());
  REQUIRE(f.transport.evidence_batches.size() == 1);
  CHECK(f.transport.evidence_batches[0].first == std::vector<EvidencePtr>{good});
  CHECK(f.transport.evidence_batches[0].second == 6);
  CHECK(f.engine.has_evidence(good->id()));
  CHECK_FALSE(f.engine.has_evidence(same_offender->id()));
  CHECK(f.engine.status().pending_evidence == 1);
  CHECK(f.engine.status().counters.evidence_received == 1);
}

TEST_CASE("engine: a leader includes the votes it holds that its chain lacks, and they justify",
          "[engine][votes]") {
  EngineFixture f;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> voted;
  f.start(&voted);
  BlockPtr genesis = f.net.chain->block_at(0);
  BlockPtr first = f.net.forge(f.net.next_slot(0));
  REQUIRE(f.engine.receive_block(3, first, BlockSource::kGossip).ok());
  for (std::size_t v : {1, 2})
    REQUIRE(f.engine.receive_votes(3, {f.vote(f.net.validators[v], genesis, first)})[0].ok());
  CHECK(f.engine.status().vote_pool_size == 3);

  const PublicKey me = f.net.validators[0].public_key();
  std::uint64_t slot = first->slot() + 1;
  while (f.net.chain->leader(slot) != me) ++slot;
  f.net.clock.set(f.net.genesis.params.slot_start_ms(slot));
  auto forged = f.engine.forge(SecretKey::from_seed(f.net.validators[0].secret_key().seed()), slot);
  REQUIRE(forged.ok());
  CHECK((*forged)->votes().size() == 3);
  CHECK(f.net.chain->vote_finality().justified().hash == first->hash());
  // Included votes are not offered again on this chain; the leader's own vote for its new
  // block is.
  auto again = f.net.chain->select_votes(f.engine.votes().by_priority(), slot + 1);
  REQUIRE(again.size() == 1);
  CHECK(again[0]->target_hash() == (*forged)->hash());
  CHECK(again[0]->source_hash() == first->hash());
}

TEST_CASE("engine: a vote for a block not known yet is relayed once that block comes, if it fits",
          "[engine][votes]") {
  EngineFixture f;
  BlockPtr genesis = f.net.chain->block_at(0);
  BlockPtr first = f.net.forge(f.net.next_slot(0));  // not given to the engine yet
  VotePtr early = f.vote(f.net.validators[1], genesis, first);
  VotePtr lying =
      Vote::sign(VoteFields{f.net.chain_id(), {}, filled(9), 0, first->hash(), first->height()},
                 f.net.validators[2].secret_key());
  auto verdicts = f.engine.receive_votes(4, {early, lying});
  CHECK(verdicts[0].ok());
  CHECK(verdicts[1].ok());  // nothing here to check its source against: no blame
  CHECK(f.transport.vote_batches.empty());
  REQUIRE(f.engine.receive_block(3, first, BlockSource::kGossip).ok());
  REQUIRE(f.transport.vote_batches.size() == 1);
  CHECK(f.transport.vote_batches[0].first == std::vector<VotePtr>{early});
  CHECK(f.transport.vote_batches[0].second == 0);
  // Now that the target is known, the same lie from a peer is that peer's fault.
  VotePtr again =
      Vote::sign(VoteFields{f.net.chain_id(), {}, filled(10), 0, first->hash(), first->height()},
                 f.net.validators[2].secret_key());
  CHECK(f.engine.receive_votes(4, {again})[0].reason() == Reason::kBadVote);
}

TEST_CASE("engine: gossip takes two blocks of one forger's slot and drops more; sync takes them",
          "[engine][evidence]") {
  EngineFixture f;
  f.net.advance();
  BlockPtr first = f.net.craft({});
  auto variant = [&](std::uint64_t offset) {
    BlockHeader h = first->header();
    h.timestamp_ms += offset;
    return f.net.resign(h, {});
  };
  BlockPtr second = variant(1), third = variant(2), fourth = variant(3);
  REQUIRE(f.engine.receive_block(3, first, BlockSource::kGossip).ok());
  REQUIRE(f.engine.receive_block(3, second, BlockSource::kGossip).ok());
  // The pair is evidence, sent to every peer; both blocks were relayed.
  REQUIRE(f.transport.evidence_batches.size() == 1);
  CHECK(f.transport.evidence_batches[0].first.at(0)->kind() == EvidenceKind::kDoubleBlock);
  CHECK(f.transport.blocks.size() == 2);
  auto refused = f.engine.receive_block(3, third, BlockSource::kGossip);
  CHECK(refused.reason() == Reason::kEquivocation);
  CHECK(reason_info(Reason::kEquivocation).peer_penalty == 0);
  CHECK_FALSE(f.net.chain->knows(third->hash()));
  CHECK(f.transport.blocks.size() == 2);
  // In a sync batch it is part of a chain a peer is on: taken.
  CHECK(f.engine.receive_block(3, fourth, BlockSource::kSync).ok());
  CHECK(f.net.chain->knows(fourth->hash()));
  CHECK(f.transport.evidence_batches.size() == 1);
  // But only a few from one peer in an epoch of the clock: eight, then refused unstored.
  std::vector<BlockPtr> more;
  for (std::uint64_t offset = 4; offset < 14; ++offset) more.push_back(variant(offset));
  for (std::size_t i = 0; i < 7; ++i)
    REQUIRE(f.engine.receive_block(3, more[i], BlockSource::kSync).ok());
  CHECK(f.engine.receive_block(3, more[7], BlockSource::kSync).reason() == Reason::kEquivocation);
  CHECK_FALSE(f.net.chain->knows(more[7]->hash()));
  // Another peer has a bound of its own; the next epoch of the clock starts the count again.
  CHECK(f.engine.receive_block(4, more[7], BlockSource::kSync).ok());
  f.net.clock.advance(f.net.genesis.params.slot_ms * f.net.genesis.params.epoch_slots);
  CHECK(f.engine.receive_block(3, more[8], BlockSource::kSync).ok());
}

TEST_CASE("engine: pending evidence goes to the peers again once an epoch", "[engine][evidence]") {
  EngineFixture f;
  auto vote_at = [&](std::uint8_t target) {
    return Vote::sign(VoteFields{f.net.chain_id(), {}, filled(1), 0, filled(target), 3},
                      f.net.validators[1].secret_key());
  };
  EvidencePtr evidence = Evidence::double_vote(vote_at(5), vote_at(6)).value();
  REQUIRE(f.engine.receive_evidence(2, {evidence})[0].ok());
  REQUIRE(f.transport.evidence_batches.size() == 1);
  auto at_slot = [&](std::uint64_t slot) {
    f.net.clock.set(f.net.genesis.params.slot_start_ms(slot) + 1);
    f.engine.on_tick();
  };
  std::uint64_t epoch = f.net.genesis.params.epoch_slots;
  at_slot(epoch);
  REQUIRE(f.transport.evidence_batches.size() == 2);
  CHECK(f.transport.evidence_batches[1].first == std::vector<EvidencePtr>{evidence});
  CHECK(f.transport.evidence_batches[1].second == 0);
  at_slot(epoch + 1);
  CHECK(f.transport.evidence_batches.size() == 2);
  at_slot(2 * epoch);
  CHECK(f.transport.evidence_batches.size() == 3);
}

TEST_CASE("engine: votes from peers can move the head to an equally justified, shorter branch",
          "[engine][votes][reorg]") {
  EngineFixture f;
  TestNet other;
  for (int i = 0; i < 3; ++i) f.net.advance();
  BlockPtr b1 = other.advance(f.net.chain->tip().slot);
  f.net.clock.set(other.now());
  REQUIRE(f.engine.receive_block(3, b1, BlockSource::kGossip).ok());
  BlockPtr a3 = f.net.chain->block_at(3);
  CHECK(f.net.chain->tip_hash() == a3->hash());
  BlockPtr genesis = f.net.chain->block_at(0);
  auto verdicts = f.engine.receive_votes(
      4, {f.vote(f.net.validators[0], genesis, b1), f.vote(f.net.validators[1], genesis, b1)});
  CHECK((verdicts[0].ok() && verdicts[1].ok()));
  CHECK(f.net.chain->tip_hash() == a3->hash());  // fork choice runs on the tick, once
  f.engine.on_tick();
  CHECK(f.net.chain->tip_hash() == b1->hash());
  CHECK(f.engine.status().counters.reorganisations == 1);
}

TEST_CASE(
    "engine: once the finalized block and the last peer's block are older than the period, "
    "peers' blocks and votes are refused until a restart",
    "[engine][checkpoint]") {
  EngineFixture f;
  const auto& params = f.net.genesis.params;
  const std::uint64_t period = params.weak_subjectivity_slots();
  REQUIRE(period == params.unbonding_epochs * params.epoch_slots);
  auto logged = [&](const std::string& text) {
    return std::count_if(f.logged.begin(), f.logged.end(), [&](const std::string& line) {
      return line.find(text) != std::string::npos;
    });
  };
  // Genesis is the finalized block, a period and more ago: a new node on an old network.
  BlockPtr first = f.net.forge(f.net.next_slot(period + 1));
  f.engine.on_tick();
  CHECK_FALSE(f.engine.takes_peer_blocks());
  CHECK(f.engine.status().checkpoint_required);
  CHECK(logged("refusing peers' blocks") == 1);
  CHECK(logged("--checkpoint HEIGHT:HASH") == 1);
  auto refused = f.engine.receive_block(3, first, BlockSource::kSync);
  CHECK(refused.reason() == Reason::kCheckpointRequired);
  CHECK(reason_info(Reason::kCheckpointRequired).peer_penalty == 0);
  CHECK(f.engine.tip_height() == 0);
  CHECK(f.transport.blocks.empty());
  f.engine.on_tick();
  CHECK(logged("refusing peers' blocks") == 1);  // said once, not at every tick
  // A checkpoint at or below the finalized block tells nothing new; and a restart is the only
  // way back (nothing this engine sees lifts the refusal).
  f.engine.trust_checkpoint(TrustedBlock{0, f.net.genesis.hash()});
  CHECK(logged("is not above this node's finalized block") == 1);
  CHECK_FALSE(f.engine.takes_peer_blocks());

  // A restart with a checkpoint above the finalized block: the start counts as a peer's block.
  std::vector<std::string> lines;
  ConsensusEngine restarted{*f.net.chain, f.net.pool, f.net.clock, test::capture_log(lines)};
  restarted.set_transport(&f.transport);
  restarted.trust_checkpoint(TrustedBlock{1, first->hash()});
  restarted.on_tick();
  CHECK(restarted.takes_peer_blocks());
  CHECK(lines.empty());  // nothing to say
  REQUIRE(restarted.receive_block(3, first, BlockSource::kSync).ok());

  // Finality stalls (no votes) for several periods while peers' blocks keep coming: never
  // refused, or a network-wide stall would end with every node refusing every other.
  std::uint64_t slot = first->slot();
  for (int i = 0; i < 3; ++i) {
    slot = f.net.next_slot(slot + period - 1);
    BlockPtr next = f.net.forge(slot);
    restarted.on_tick();
    REQUIRE(restarted.takes_peer_blocks());
    REQUIRE(restarted.receive_block(3, next, BlockSource::kGossip).ok());
  }
  CHECK(f.net.chain->finalized_height() == 0);

  // A block of its own does not count: it says nothing of what the network did.
  const Wallet& v0 = f.net.validators[0];
  std::uint64_t own = slot + 1;
  while (f.net.chain->leader(own) != v0.public_key()) ++own;
  f.net.clock.set(params.slot_start_ms(own));
  REQUIRE(restarted.forge(SecretKey::from_seed(v0.secret_key().seed()), own).ok());
  // A peer's block ahead of the clock is held back; the refusal drops it.
  BlockPtr early = f.net.forge(f.net.next_slot(slot + period + 2));
  std::uint64_t height = restarted.tip_height();
  f.net.clock.set(params.slot_start_ms(slot + period));
  REQUIRE(restarted.receive_block(3, early, BlockSource::kGossip).ok());
  CHECK(restarted.status().held_back_blocks == 1);
  restarted.on_tick();
  CHECK(restarted.takes_peer_blocks());
  // Nothing from peers for longer than the period (a node cut off, or stopped): refused.
  f.net.clock.set(params.slot_start_ms(slot + period + 1));
  restarted.on_tick();
  CHECK_FALSE(restarted.takes_peer_blocks());
  f.net.clock.set(params.slot_start_ms(early->slot()));
  restarted.on_tick();
  CHECK(restarted.tip_height() == height);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
          return line.find("refusing peers' blocks") != std::string::npos;
        }) == 1);
  // Peers' votes are dropped unjudged: they could finalize its own blocks with unbonded keys.
  VotePtr vote = f.vote(f.net.validators[1], f.net.genesis.block(), first);
  std::size_t pooled = restarted.votes().size();
  auto verdicts = restarted.receive_votes(3, {vote});
  REQUIRE(verdicts.size() == 1);
  CHECK(verdicts[0].ok());
  CHECK(restarted.votes().size() == pooled);
}

TEST_CASE("engine: --sync-without-checkpoint never refuses peers' blocks", "[engine][checkpoint]") {
  EngineFixture f;
  f.engine.trust_peers_always();
  BlockPtr block =
      f.net.forge(f.net.next_slot(10 * f.net.genesis.params.weak_subjectivity_slots()));
  f.engine.on_tick();
  CHECK(f.engine.takes_peer_blocks());
  CHECK_FALSE(f.engine.status().checkpoint_required);
  CHECK(f.engine.receive_block(3, block, BlockSource::kGossip).ok());
  // Only the block taken, at debug: nothing about refusing.
  REQUIRE(f.logged.size() == 1);
  CHECK(f.logged[0].starts_with("debug took a peer's block height=1 "));
}

TEST_CASE(
    "engine: a chain that conflicts with the finalized block is refused, its descendants too, "
    "and its votes slash whoever also voted for ours",
    "[engine][votes][evidence]") {
  EngineFixture f;
  // Two histories of one genesis, each finalized by every validator's votes: the keys signed
  // both, so each pair of votes at one height is a double vote (more than 1/3 equivocated).
  TestNet ours, theirs;
  for (int i = 0; i < 5; ++i) {
    BlockPtr block = ours.advance_finalizing();
    f.net.clock.set(ours.now());
    REQUIRE(f.engine.receive_block(3, block, BlockSource::kSync).ok());
  }
  REQUIRE(f.net.chain->finalized_height() >= 2);
  std::vector<BlockPtr> other;
  for (int i = 0; i < 5; ++i) other.push_back(theirs.advance_finalizing(ours.chain->tip().slot));
  REQUIRE(other[0]->hash() != f.net.chain->block_at(1)->hash());
  CHECK(f.transport.evidence_batches.empty());

  // Copies whose votes' signatures were altered (the header's hash does not cover them) come
  // first: they make no evidence, and must not keep the real blocks from being looked at.
  for (const auto& block : other) {
    std::vector<VotePtr> forged;
    for (const auto& vote : block->votes()) {
      Signature bad = vote->signature();
      bad.bytes[0] ^= 1;
      forged.push_back(Vote::make(vote->fields(), bad));
    }
    BlockPtr copy = Block::make(block->header(), block->signature(), block->transactions(), forged,
                                block->evidence());
    CHECK(f.engine.receive_block(4, copy, BlockSource::kSync).reason() ==
          Reason::kConflictsFinalized);
  }
  CHECK(f.transport.evidence_batches.empty());

  auto refused = f.engine.receive_block(4, other[0], BlockSource::kSync);
  CHECK(refused.reason() == Reason::kConflictsFinalized);
  // Its child's parent was never stored: refused as conflicting too, not asked for.
  for (std::size_t i = 1; i < other.size(); ++i)
    CHECK(f.engine.receive_block(4, other[i], BlockSource::kSync).reason() ==
          Reason::kConflictsFinalized);
  // The votes these blocks carry, for targets above the fork, pair with ours: one piece of
  // evidence per validator, each a double vote that holds.
  std::set<PublicKey> offenders;
  for (const auto& [batch, except] : f.transport.evidence_batches)
    for (const auto& e : batch) {
      CHECK(e->kind() == EvidenceKind::kDoubleVote);
      CHECK(e->check(f.net.chain_id()).ok());
      offenders.insert(e->offender());
    }
  CHECK(offenders.size() == f.net.validators.size());
  CHECK(f.engine.status().pending_evidence == f.net.validators.size());
  CHECK(f.net.chain->height() == 5);  // nothing of theirs was taken

  // A late gossiped vote for a target already final here is still checked against the record.
  EngineFixture g;
  for (int i = 1; i <= 5; ++i) {
    g.net.clock.set(ours.now());
    REQUIRE(g.engine.receive_block(3, ours.chain->block_at(i), BlockSource::kSync).ok());
  }
  const VotePtr late = other[2]->votes().at(0);
  REQUIRE(late->target_height() <= g.net.chain->finalized_height());
  auto verdicts = g.engine.receive_votes(5, {late});
  CHECK(verdicts.at(0).ok());
  CHECK_FALSE(g.engine.has_vote(late->id()));  // final: it counts for nothing
  REQUIRE(g.transport.evidence_batches.size() == 1);
  CHECK(g.transport.evidence_batches[0].first.at(0)->offender() == late->validator());
  // A forged one is refused, with blame, and makes no evidence.
  const VotePtr other_late = other[2]->votes().at(1);
  Signature bad = other_late->signature();
  bad.bytes[0] ^= 1;
  auto forged = g.engine.receive_votes(5, {Vote::make(other_late->fields(), bad)});
  CHECK(forged.at(0).reason() == Reason::kBadSignature);
  CHECK(g.transport.evidence_batches.size() == 1);
}

TEST_CASE("engine: a vote for a height above the slots so far is refused, not recorded",
          "[engine][votes]") {
  EngineFixture f;
  const Wallet& v1 = f.net.validators[1];
  const std::uint64_t slot = f.net.genesis.params.slot_at(f.net.now());
  auto at = [&](std::uint64_t height) {
    return Vote::sign(VoteFields{f.net.chain_id(), {}, f.net.genesis.hash(), 0, filled(9), height},
                      v1.secret_key());
  };
  auto verdicts = f.engine.receive_votes(3, {at(slot + 60), at(slot + 61)});
  CHECK(verdicts.at(0).ok());  // within a minute of skew: it may be a block not seen yet
  CHECK(verdicts.at(1).reason() == Reason::kBadVote);
  CHECK_FALSE(f.engine.has_vote(at(slot + 61)->id()));
}

TEST_CASE("engine: a restarted node's record of votes starts from its chain's latest blocks",
          "[engine][votes][evidence]") {
  EngineFixture f;  // its engine saw none of the blocks below
  for (int i = 0; i < 5; ++i) f.net.advance_finalizing();
  REQUIRE(f.net.chain->finalized_height() >= 2);
  const Wallet& v1 = f.net.validators[1];
  // v1's vote in the chain for height 2, and another of its votes for a block there.
  VotePtr other = Vote::sign(
      VoteFields{f.net.chain_id(), {}, f.net.genesis.hash(), 0, filled(9), 2}, v1.secret_key());
  auto verdicts = f.engine.receive_votes(3, {other});
  CHECK(verdicts.at(0).ok());
  CHECK(f.transport.evidence_batches.empty());  // final here, and nothing recorded to pair with

  std::vector<std::string> lines;
  ConsensusEngine restarted{*f.net.chain, f.net.pool, f.net.clock, test::capture_log(lines)};
  restarted.set_transport(&f.transport);
  verdicts = restarted.receive_votes(3, {other});
  CHECK(verdicts.at(0).ok());
  REQUIRE(f.transport.evidence_batches.size() == 1);
  const EvidencePtr& e = f.transport.evidence_batches[0].first.at(0);
  CHECK(e->kind() == EvidenceKind::kDoubleVote);
  CHECK(e->offender() == v1.public_key());
}
