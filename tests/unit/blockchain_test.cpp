#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

// What must not change when a block is refused.
struct Snapshot {
  Hash tip;
  Hash root;
  std::size_t pool_size;
  explicit Snapshot(const TestNet& net)
      : tip(net.chain->tip_hash()),
        root(net.chain->state().state_root()),
        pool_size(net.pool.size()) {}
  bool operator==(const Snapshot&) const = default;
};

void require_refused(TestNet& net, const BlockPtr& block, Reason reason,
                     const std::string& words = "") {
  Snapshot before(net);
  auto result = net.chain->apply(block);
  REQUIRE_FALSE(result.ok());
  INFO(result.error().to_string());
  CHECK(result.reason() == reason);
  if (!words.empty()) CHECK_THAT(result.error().message, Catch::Contains(words));
  CHECK(Snapshot(net) == before);
}

// The state root a block on the tip would have with `txs` applied in order.
Hash root_with(TestNet& net, const BlockHeader& h, const std::vector<TransactionPtr>& txs) {
  AccountModel& state = const_cast<AccountModel&>(net.chain->state());
  UndoLog undo;  // nothing unbonding matures on these chains, which finalize nothing
  for (const auto& tx : txs) REQUIRE(apply_transaction(state, *tx, h.forger, h.height, undo).ok());
  Hash root = state.state_root();
  undo.revert(state);
  return root;
}

}  // namespace

TEST_CASE("opening writes the genesis block and reopening resumes", "[chain]") {
  TestNet net;
  CHECK(net.chain->height() == 0);
  CHECK(net.chain->tip_hash() == net.genesis.hash());
  CHECK(net.chain->genesis_hash() == net.genesis.hash());
  net.advance();
  net.advance();
  auto reopened = Blockchain::open(net.genesis, *net.storage, net.clock);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->height() == 2);
  CHECK((*reopened)->tip_hash() == net.chain->tip_hash());
  CHECK((*reopened)->state().state_root() == net.chain->state().state_root());
}

TEST_CASE("a storage made for another genesis is refused, naming both", "[chain]") {
  TestNet net;
  Genesis other = net.genesis;
  other.params.chain_id = "pos-other";
  auto opened = Blockchain::open(other, *net.storage, net.clock);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.reason() == Reason::kBadGenesis);
  CHECK_THAT(opened.error().message, Catch::Contains(net.genesis.hash().hex()));
  CHECK_THAT(opened.error().message, Catch::Contains(other.hash().hex()));
}

TEST_CASE("a forged block with pool transactions extends the chain", "[chain][forge]") {
  TestNet net;
  auto t1 = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 100, 3, 0, 1);
  auto t2 = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 50, 1, 1, 2);
  REQUIRE(net.pool.add(t1, net.chain->state(), net.now()).ok());
  REQUIRE(net.pool.add(t2, net.chain->state(), net.now()).ok());
  BlockPtr block = net.advance();
  CHECK(block->transactions().size() == 2);
  CHECK(net.chain->height() == 1);
  CHECK(net.chain->state().get(net.users[1].public_key()).balance == 1150);
  CHECK(net.chain->state().get(block->forger()).balance == 1'000'004);
  CHECK(net.pool.size() == 0);
  auto where = net.chain->transaction_location(t2->id());
  REQUIRE(where.has_value());
  CHECK(where->height == 1);
  CHECK(where->index == 1);
  CHECK(where->block == block->hash());
  CHECK(net.chain->block_at(1)->hash() == block->hash());
}

TEST_CASE("forging skips what is no longer valid and refuses a non-leader", "[chain][forge]") {
  TestNet net;
  std::uint64_t slot = net.next_slot(0);
  PublicKey leader = *net.chain->leader(slot);
  for (const auto& v : net.validators) {
    if (v.public_key() == leader) continue;
    auto forged = net.chain->forge(v.secret_key(), slot, net.pool, net.now());
    CHECK(forged.reason() == Reason::kNotLeader);
  }
  auto forged = net.chain->forge(net.wallet_of(leader).secret_key(), 0, net.pool, net.now());
  CHECK(forged.reason() == Reason::kSlotNotAfterParent);
}

TEST_CASE("blocks are refused for each rule, leaving chain, state and pool as they were",
          "[chain][validation]") {
  TestNet net;
  net.advance();
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 10, 1, 0, 1);
  REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());

  SECTION("wrong forger for the slot") {
    BlockPtr good = net.craft({});
    PublicKey leader = good->forger();
    for (const auto& v : net.validators) {
      if (v.public_key() == leader) continue;
      BlockHeader h = good->header();
      h.forger = v.public_key();
      require_refused(net, net.resign(h, {}), Reason::kWrongForger);
    }
  }
  SECTION("a forger outside the validator set, signing and proving correctly") {
    BlockHeader h = net.craft({})->header();
    h.forger = net.users[0].public_key();
    require_refused(net, net.resign(h, {}), Reason::kWrongForger, "not a validator");
  }
  SECTION("VRF proofs that are wrong, malformed or made for something else") {
    auto nonce = [&](const BlockHeader& h) { return net.chain->epoch_nonce(h.slot); };
    auto other_nonce = [&](const BlockHeader& h) {
      Hash n = nonce(h);
      n.bytes[0] ^= 1;
      return n;
    };
    std::vector<std::pair<std::string, std::function<void(BlockHeader&)>>> cases = {
        {"a flipped bit", [](BlockHeader& h) { h.vrf_proof.bytes[40] ^= 1; }},
        {"c and s zeroed",
         [](BlockHeader& h) { std::fill_n(h.vrf_proof.bytes.begin() + 32, 48, 0); }},
        {"a scalar s not below the group order",
         [](BlockHeader& h) {
           // s = L = 2^252 + 27742317777372353535851937790883648493, little-endian.
           const std::uint8_t order[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                           0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                           0,    0,    0,    0,    0,    0,    0,    0,
                                           0,    0,    0,    0,    0,    0,    0,    0x10};
           std::copy_n(order, 32, h.vrf_proof.bytes.begin() + 48);
         }},
        {"a Gamma that is not a canonical point encoding",
         [](BlockHeader& h) {
           // y = p = 2^255 - 19: the non-canonical encoding of y = 0.
           h.vrf_proof.bytes[0] = 0xed;
           std::fill_n(h.vrf_proof.bytes.begin() + 1, 30, 0xff);
           h.vrf_proof.bytes[31] = 0x7f;
         }},
        {"proved for the next slot",
         [&](BlockHeader& h) {
           h.vrf_proof = vrf_prove(net.wallet_of(h.forger).secret_key(),
                                   vrf_input(h.chain_id, nonce(h), h.slot + 1));
         }},
        {"proved for another nonce",
         [&](BlockHeader& h) {
           h.vrf_proof = vrf_prove(net.wallet_of(h.forger).secret_key(),
                                   vrf_input(h.chain_id, other_nonce(h), h.slot));
         }},
        {"proved for another chain",
         [&](BlockHeader& h) {
           h.vrf_proof = vrf_prove(net.wallet_of(h.forger).secret_key(),
                                   vrf_input("pos-other", nonce(h), h.slot));
         }},
        {"proved by another validator's key",
         [&](BlockHeader& h) {
           const Wallet& other =
               net.validators[0].public_key() == h.forger ? net.validators[1] : net.validators[0];
           h.vrf_proof = vrf_prove(other.secret_key(), vrf_input(h.chain_id, nonce(h), h.slot));
         }},
    };
    for (const auto& [name, tamper] : cases) {
      INFO(name);
      require_refused(net, net.craft({}, tamper), Reason::kBadVrfProof);
    }
  }
  SECTION("bad signature") {
    BlockPtr good = net.craft({});
    Signature sig = good->signature();
    sig.bytes[3] ^= 1;
    require_refused(net, Block::make(good->header(), sig, {}), Reason::kBadBlockSignature);
  }
  SECTION("wrong tx root") {
    require_refused(net, net.craft({}, [](BlockHeader& h) { h.tx_root.bytes[0] ^= 1; }),
                    Reason::kBadTxRoot);
  }
  SECTION("wrong state root") {
    require_refused(net, net.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; }),
                    Reason::kBadStateRoot);
  }
  SECTION("slot not after the parent's") {
    std::uint64_t parent_slot = net.chain->tip().slot;
    require_refused(net,
                    net.craft({},
                              [&](BlockHeader& h) {
                                h.slot = parent_slot;
                                h.timestamp_ms = net.genesis.params.slot_start_ms(parent_slot);
                              }),
                    Reason::kSlotNotAfterParent);
  }
  SECTION("slot ahead of the clock") {
    require_refused(net,
                    net.craft({},
                              [&](BlockHeader& h) {
                                h.slot += 2;
                                h.timestamp_ms = net.genesis.params.slot_start_ms(h.slot);
                              }),
                    Reason::kSlotInFuture);
  }
  SECTION("timestamp outside its slot") {
    require_refused(net, net.craft({}, [&](BlockHeader& h) { h.timestamp_ms += 1000; }),
                    Reason::kBadTimestamp);
  }
  SECTION("wrong height") {
    require_refused(net, net.craft({}, [](BlockHeader& h) { h.height += 1; }), Reason::kBadHeight);
  }
  SECTION("unknown parent") {
    require_refused(net, net.craft({}, [](BlockHeader& h) { h.parent.bytes[0] ^= 1; }),
                    Reason::kUnknownParent);
  }
  SECTION("oversize") {
    std::vector<TransactionPtr> many(kMaxBlockTransactions + 1, tx);
    require_refused(net, net.craft(many), Reason::kTooManyTransactions);
  }
  SECTION("another chain") {
    require_refused(net, net.craft({}, [](BlockHeader& h) { h.chain_id = "pos-other"; }),
                    Reason::kWrongChain);
  }
  SECTION("a transaction with a bad signature") {
    Signature sig = tx->signature();
    sig.bytes[0] ^= 1;
    auto forged_tx = Transaction::make(tx->fields(), sig);
    require_refused(net, net.craft({forged_tx}), Reason::kBlockTxInvalid, "bad_signature");
  }
  SECTION("an unauthorised EXCHANGE") {
    auto mint = net.users[0].exchange(net.chain_id(), net.users[0].public_key(), 10, 0, 0, 1);
    require_refused(net, net.craft({mint}), Reason::kBlockTxInvalid, "unauthorized_exchange");
  }
  SECTION("a block already applied") {
    BlockPtr block = net.advance();
    require_refused(net, block, Reason::kAlreadyKnown);
  }
  SECTION("a child of an invalid block") {
    BlockPtr bad = net.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; });
    require_refused(net, bad, Reason::kBadStateRoot);
    BlockHeader child = net.craft({})->header();
    child.parent = bad->hash();
    child.height = bad->height() + 1;
    require_refused(net, net.resign(child, {}), Reason::kInvalidBlock, "parent");
  }
  SECTION("the block is refused again without work once found invalid") {
    BlockPtr bad = net.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; });
    require_refused(net, bad, Reason::kBadStateRoot);
    require_refused(net, bad, Reason::kInvalidBlock);
  }
}

TEST_CASE("a replayed transaction is refused in a block", "[chain][replay]") {
  TestNet net;
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 10, 1, 0, 1);
  REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
  net.advance();
  require_refused(net, net.craft({tx}), Reason::kBlockTxInvalid, "stale_nonce");
  CHECK(net.pool.add(tx, net.chain->state(), net.now()).reason() == Reason::kStaleNonce);
}

TEST_CASE("double spends are refused within one block and across two", "[chain][replay]") {
  TestNet net;
  // 1,000 of balance: two spends of 600 cannot both happen.
  auto a = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 600, 0, 0, 1);
  auto b = net.users[0].transfer(net.chain_id(), net.validators[1].public_key(), 600, 0, 1, 2);
  auto a_again =
      net.users[0].transfer(net.chain_id(), net.validators[1].public_key(), 600, 0, 0, 3);
  SECTION("within one block") {
    require_refused(net, net.craft({a, b}), Reason::kBlockTxInvalid, "insufficient_funds");
    require_refused(net, net.craft({a, a_again}), Reason::kBlockTxInvalid, "stale_nonce");
  }
  SECTION("across two blocks") {
    BlockPtr first = net.craft({a}, [&](BlockHeader& h) { h.state_root = root_with(net, h, {a}); });
    REQUIRE(net.chain->apply(first).ok());
    require_refused(net, net.craft({b}), Reason::kBlockTxInvalid, "insufficient_funds");
    require_refused(net, net.craft({a_again}), Reason::kBlockTxInvalid, "stale_nonce");
  }
}

namespace {

// A rival first block from the same genesis, in a slot after `after`, whose hash is lower (or
// higher) than `than`.
BlockPtr rival_first_block(const Hash& than, bool lower, std::uint64_t after) {
  for (std::uint64_t slot = after;; ++slot) {
    TestNet rival;
    BlockPtr b = rival.advance(slot);
    if ((b->hash() < than) == lower) return b;
  }
}

// A rival branch b1 <- b2 on the same genesis, longer than `a1` (a block at height 1), whose
// first block loses the tie against it; with the time of b2's slot and the state after b2.
struct RivalBranch {
  BlockPtr b1, b2;
  std::uint64_t now_ms = 0;
  Hash state_root;
};

RivalBranch rival_branch(const BlockPtr& a1) {
  RivalBranch r;
  r.b1 = rival_first_block(a1->hash(), false, 1);
  TestNet b;
  b.clock.set(b.genesis.params.slot_start_ms(r.b1->slot()));
  REQUIRE(b.chain->apply(r.b1).ok());
  r.b2 = b.advance();
  r.now_ms = b.clock.now_ms();
  r.state_root = b.chain->state().state_root();
  return r;
}

}  // namespace

TEST_CASE("fork choice: a tie at equal height goes to the lower tip slot, in either order",
          "[chain][reorg]") {
  TestNet reference;
  BlockPtr early = reference.advance();
  BlockPtr late = rival_first_block(early->hash(), true, early->slot());
  REQUIRE(late->slot() > early->slot());
  for (bool early_first : {true, false}) {
    TestNet a;
    a.clock.set(a.genesis.params.slot_start_ms(late->slot()));
    auto first = a.chain->apply(early_first ? early : late);
    REQUIRE(first.ok());
    auto second = a.chain->apply(early_first ? late : early);
    REQUIRE(second.ok());
    CHECK(a.chain->tip_hash() == early->hash());
    CHECK(second->kind ==
          (early_first ? ApplyResult::Kind::kSideBranch : ApplyResult::Kind::kReorganized));
    CHECK(a.chain->block_at(1)->hash() == early->hash());
  }
}

TEST_CASE("fork choice: the longer branch wins; the dropped transactions return to the pool",
          "[chain][reorg]") {
  TestNet a;
  auto tx = a.users[0].transfer(a.chain_id(), a.users[1].public_key(), 10, 1, 0, 1);
  REQUIRE(a.pool.add(tx, a.chain->state(), a.now()).ok());
  BlockPtr a1 = a.advance();
  REQUIRE(a1->transactions().size() == 1);
  auto [b1, b2, b_now, b_root] = rival_branch(a1);

  a.clock.set(b_now);
  REQUIRE(a.chain->apply(b1)->kind == ApplyResult::Kind::kSideBranch);
  CHECK(a.chain->tip_hash() == a1->hash());
  auto result = a.chain->apply(b2);
  REQUIRE(result.ok());
  CHECK(result->kind == ApplyResult::Kind::kReorganized);
  REQUIRE(result->disconnected.size() == 1);
  CHECK(result->disconnected[0]->hash() == a1->hash());
  REQUIRE(result->connected.size() == 2);
  CHECK(result->connected[0]->hash() == b1->hash());
  CHECK(result->connected[1]->hash() == b2->hash());
  CHECK(a.chain->tip_hash() == b2->hash());
  CHECK(a.chain->state().state_root() == b_root);
  CHECK_FALSE(a.chain->transaction_location(tx->id()).has_value());
  CHECK(a.chain->block_at(1)->hash() == b1->hash());

  a.pool.reconcile(result->connected, result->disconnected, a.chain->state(), a.now());
  CHECK(a.pool.contains(tx->id()));
  // ... and the next block on the new branch includes it again.
  BlockPtr again = a.advance();
  CHECK(again->transactions().size() == 1);
  CHECK(a.chain->transaction_location(tx->id())->block == again->hash());
}

TEST_CASE("a checkpoint is HEIGHT:HASH; anything else is refused, naming the form",
          "[chain][checkpoint]") {
  const std::string hash(64, 'a');
  auto good = TrustedBlock::parse("12:" + hash);
  REQUIRE(good.ok());
  CHECK(good->height == 12);
  CHECK(good->hash.hex() == hash);
  for (std::string bad :
       {std::string("12"), ":" + hash, "x12:" + hash, "-1:" + hash, "99999999999999999999:" + hash,
        "12:" + hash.substr(1), "12:" + std::string(64, 'g'), "12 :" + hash, std::string()}) {
    auto r = TrustedBlock::parse(bad);
    INFO(bad);
    REQUIRE(r.reason() == Reason::kInvalidArgument);
    CHECK_THAT(r.error().message, Catch::Contains("HEIGHT:HASH"));
  }
}

TEST_CASE(
    "a required block (--checkpoint): another block at its height, or a branch through "
    "one, is refused; a stored chain without it is refused",
    "[chain][checkpoint]") {
  TestNet a;
  BlockPtr a1 = a.advance();
  // Without the checkpoint a would move to the longer rival branch.
  auto [b1, b2, b_now, b_root] = rival_branch(a1);
  a.clock.set(b_now);
  const Hash root = a.chain->state().state_root();

  SECTION("the stored main chain has another block there") {
    auto r = a.chain->require_block({1, b1->hash()});
    REQUIRE(r.reason() == Reason::kConflictsFinalized);
    CHECK_THAT(r.error().message, Catch::Contains(a1->hash().hex()));
    CHECK_THAT(r.error().message, Catch::Contains("followed another chain"));
    // Not required: the longer branch still wins.
    REQUIRE(a.chain->apply(b1).ok());
    CHECK(a.chain->apply(b2)->kind == ApplyResult::Kind::kReorganized);
  }
  SECTION("another block at the height") {
    REQUIRE(a.chain->require_block({1, a1->hash()}).ok());
    auto r = a.chain->apply(b1);
    REQUIRE(r.reason() == Reason::kConflictsFinalized);
    CHECK_THAT(r.error().message, Catch::Contains("not the checkpoint " + a1->hash().hex()));
    CHECK(a.chain->apply(b2).reason() == Reason::kUnknownParent);
  }
  SECTION("a block above it on a branch already held") {
    REQUIRE(a.chain->apply(b1)->kind == ApplyResult::Kind::kSideBranch);
    REQUIRE(a.chain->require_block({1, a1->hash()}).ok());
    CHECK(a.chain->apply(b2).reason() == Reason::kConflictsFinalized);
  }
  SECTION("a height the chain has not reached") {
    REQUIRE(a.chain->require_block({2, b2->hash()}).ok());
    BlockPtr a2 = a.forge_next();
    CHECK(a.chain->apply(a2).reason() == Reason::kConflictsFinalized);
  }
  CHECK(a.chain->tip_hash() == (a.chain->height() == 1 ? a1->hash() : b2->hash()));
  if (a.chain->height() == 1) CHECK(a.chain->state().state_root() == root);
}

TEST_CASE("a reorganisation below the finalized block is refused, however long the branch",
          "[chain][reorg][finality]") {
  TestNet a;
  TestNet b;
  for (int i = 0; i < 5; ++i) a.advance_finalizing();
  std::vector<BlockPtr> rival;
  for (int i = 0; i < 8; ++i) rival.push_back(b.advance(a.chain->tip().slot));
  a.clock.set(b.clock.now_ms());
  CHECK(a.chain->finalized_height() == 3);
  Snapshot before(a);
  auto result = a.chain->apply(rival[0]);
  REQUIRE_FALSE(result.ok());
  CHECK(result.reason() == Reason::kConflictsFinalized);
  CHECK(Snapshot(a) == before);
}

TEST_CASE("fork choice: a shorter chain whose justified block is higher wins",
          "[chain][reorg][finality]") {
  TestNet a;
  TestNet b;
  for (int i = 0; i < 5; ++i) a.advance();
  BlockPtr b1 = b.advance(a.chain->tip().slot);
  BlockPtr b2 = b.advance_finalizing();  // justifies b1 on b's chain
  a.clock.set(b.now());
  REQUIRE(a.chain->apply(b1).ok());
  CHECK(a.chain->height() == 5);  // longer, and neither justifies anything yet
  auto result = a.chain->apply(b2);
  REQUIRE(result.ok());
  CHECK(result->kind == ApplyResult::Kind::kReorganized);
  CHECK(a.chain->tip_hash() == b2->hash());
  CHECK(a.chain->height() == 2);
  CHECK(a.chain->vote_finality().justified().hash == b1->hash());
  // The finalized block only rises: b's branch finalizes genesis, which it already was.
  CHECK(a.chain->finalized_height() == 0);
}

namespace {

// w's vote from genesis to `target`, a block of net's chain or of another branch.
VotePtr vote_from_genesis(const TestNet& net, const Wallet& w, const BlockPtr& target) {
  return Vote::sign(
      VoteFields{net.chain_id(), {}, net.genesis.hash(), 0, target->hash(), target->height()},
      w.secret_key());
}

// Three blocks on `a`, and a rival first block (from another network of the same genesis) that
// `a` takes as a shorter side branch without votes; returns the rival.
BlockPtr three_blocks_and_a_shorter_rival(TestNet& a) {
  TestNet b;
  for (int i = 0; i < 3; ++i) a.advance();
  BlockPtr b1 = b.advance(a.chain->tip().slot);
  a.clock.set(b.now());
  REQUIRE(a.chain->apply(b1)->kind == ApplyResult::Kind::kSideBranch);
  return b1;
}

}  // namespace

TEST_CASE("fork choice: between equally justified chains, the latest votes' stake decides",
          "[chain][reorg][finality]") {
  TestNet a;
  BlockPtr b1 = three_blocks_and_a_shorter_rival(a);
  BlockPtr a3 = a.chain->block_at(3);
  // One validator's latest vote is on a's branch, two are on b's: b's branch carries more
  // stake, though it is shorter and justifies no more.
  a.chain->note_vote(*vote_from_genesis(a, a.validators[2], a3));
  CHECK(a.chain->follow_votes().reason() == Reason::kAlreadyKnown);
  a.chain->note_vote(*vote_from_genesis(a, a.validators[0], b1));
  CHECK(a.chain->follow_votes().reason() == Reason::kAlreadyKnown);  // 100 against 100
  a.chain->note_vote(*vote_from_genesis(a, a.validators[1], b1));
  auto moved = a.chain->follow_votes();
  REQUIRE(moved.ok());
  CHECK(moved->kind == ApplyResult::Kind::kReorganized);
  CHECK(a.chain->tip_hash() == b1->hash());
  CHECK(moved->disconnected.size() == 3);
  // A higher target replaces a validator's latest vote: two are on a's branch again.
  a.chain->note_vote(*vote_from_genesis(a, a.validators[0], a.chain->block(a3->parent())));
  auto back = a.chain->follow_votes();
  REQUIRE(back.ok());
  CHECK(a.chain->tip_hash() == a3->hash());
  // A lower target does not.
  a.chain->note_vote(*vote_from_genesis(a, a.validators[0], b1));
  CHECK(a.chain->follow_votes().reason() == Reason::kAlreadyKnown);
  CHECK(a.chain->tip_hash() == a3->hash());
}

TEST_CASE("fork choice: a validator with evidence against it has no weight in the latest votes",
          "[chain][reorg][finality][evidence]") {
  TestNet a;
  BlockPtr b1 = three_blocks_and_a_shorter_rival(a);
  BlockPtr a3 = a.chain->block_at(3);
  a.chain->note_vote(*vote_from_genesis(a, a.validators[2], a3));
  a.chain->note_vote(*vote_from_genesis(a, a.validators[0], b1));
  a.chain->note_vote(*vote_from_genesis(a, a.validators[1], b1));
  REQUIRE(a.chain->follow_votes().ok());
  REQUIRE(a.chain->tip_hash() == b1->hash());  // 200 against 100
  CHECK_FALSE(a.chain->is_equivocator(a.validators[1].public_key()));
  // validators[1] signed two votes for one target height: its vote on b's branch weighs nothing,
  // 100 against 100, and the longer branch wins again.
  auto evidence = Evidence::double_vote(vote_by(a, a.validators[1], 0, 7),
                                        vote_by(a, a.validators[1], 0, 7, 1));
  REQUIRE(evidence.ok());
  REQUIRE(a.chain->add_evidence(*evidence).ok());
  CHECK(a.chain->is_equivocator(a.validators[1].public_key()));
  CHECK(a.chain->latest_votes_moved());
  auto moved = a.chain->follow_votes();
  REQUIRE(moved.ok());
  CHECK(a.chain->tip_hash() == a3->hash());
  // Its later votes are not noted; a restart still knows it from the stored evidence.
  CHECK_FALSE(a.chain->note_vote(*vote_from_genesis(a, a.validators[1], b1)));
  a.restart();
  CHECK(a.chain->is_equivocator(a.validators[1].public_key()));
  CHECK_FALSE(a.chain->is_equivocator(a.validators[0].public_key()));
  CHECK_FALSE(a.chain->note_vote(*vote_from_genesis(a, a.validators[1], b1)));
}

TEST_CASE("fork choice: a failed child does not hide its parent's branch from the votes",
          "[chain][reorg][finality]") {
  TestNet a;
  TestNet b;
  for (int i = 0; i < 2; ++i) a.advance();
  BlockPtr a2 = a.chain->block_at(2);
  BlockPtr b1 = b.advance(a2->slot());
  a.clock.set(b.now());
  REQUIRE(a.chain->apply(b1).ok());
  BlockPtr bad = a.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; });
  REQUIRE(a.chain->apply(bad).reason() == Reason::kBadStateRoot);  // a2's child, failed
  a.chain->note_vote(*vote_from_genesis(a, a.validators[0], b1));
  a.chain->note_vote(*vote_from_genesis(a, a.validators[1], b1));
  REQUIRE(a.chain->follow_votes().ok());
  REQUIRE(a.chain->tip_hash() == b1->hash());
  // The votes move back to a2's branch: it is still a candidate, its failed child aside.
  a.chain->note_vote(*vote_from_genesis(a, a.validators[0], a2));
  a.chain->note_vote(*vote_from_genesis(a, a.validators[1], a2));
  REQUIRE(a.chain->follow_votes().ok());
  CHECK(a.chain->tip_hash() == a2->hash());
}

TEST_CASE("fork choice: a restart keeps the latest votes its chain carries",
          "[chain][reorg][finality][storage]") {
  TempDir dir;
  NetOptions options;
  options.data_dir = dir.path() / "data";
  TestNet a(options);
  BlockPtr a1 = a.advance();
  BlockPtr a2 = a.advance();
  // One validator's vote for a2, in a3: a third of the weight justifies nothing.
  VotePtr vote = vote_from_genesis(a, a.validators[0], a2);
  BlockPtr a3 = a.forge_next({vote});
  REQUIRE(a.chain->apply(a3).ok());
  REQUIRE(a.chain->vote_finality().justified().height == 0);
  a.restart();
  // A longer branch that no vote is on loses to the one a latest vote is on.
  TestNet b;
  std::vector<BlockPtr> branch;
  for (int i = 0; i < 4; ++i) branch.push_back(b.advance(a3->slot()));
  a.clock.set(b.now());
  for (const auto& block : branch) REQUIRE(a.chain->apply(block).ok());
  CHECK(a.chain->tip_hash() == a3->hash());
  CHECK(a.chain->follow_votes().reason() == Reason::kAlreadyKnown);
  CHECK(a1->height() == 1);
}

TEST_CASE("the finalized block never moves back and bounds what is indexed", "[chain][finality]") {
  TestNet net;
  for (int i = 0; i < 6; ++i) net.advance_finalizing();
  CHECK(net.chain->finalized_height() == 4);
  CHECK(net.chain->finalized().hash == net.chain->block_at(4)->hash());
  std::size_t indexed = net.chain->indexed_blocks();
  CHECK(indexed == 3);                        // heights 4 to 6
  for (int i = 0; i < 3; ++i) net.advance();  // no votes: nothing more is justified
  CHECK(net.chain->finalized_height() == 4);
  CHECK(net.chain->vote_finality().justified().height == 5);
  net.restart();
  CHECK(net.chain->finalized_height() == 4);
  CHECK(net.chain->indexed_blocks() == 6);
}

TEST_CASE(
    "the finalized block survives a reorganisation to a chain that finalizes less, and a "
    "restart",
    "[chain][reorg][finality]") {
  TempDir dir;
  NetOptions options;
  options.data_dir = dir.path() / "data";
  TestNet net(options);
  TestNet other;  // the same keys and genesis: where the rival branch is built
  BlockPtr b1 = net.advance();
  BlockPtr b2 = net.advance_finalizing();  // justifies b1
  other.clock.set(net.now());
  for (const auto& b : {b1, b2}) REQUIRE(other.chain->apply(b).ok());
  BlockPtr b3 = net.advance_finalizing();  // justifies b2, finalizes b1
  REQUIRE(net.chain->finalized().hash == b1->hash());
  // On b2: B3 without votes, then B4 with votes justifying B3 from b1. That chain justifies
  // height 3 (above net's 2) but finalizes nothing: b2 is not justified on it.
  other.clock.set(net.now());
  BlockPtr r3 = other.advance(b3->slot());
  BlockPtr r4 = other.advance_finalizing();
  REQUIRE(other.chain->vote_finality().finalized().height == 0);
  net.clock.set(other.now());
  REQUIRE(net.chain->apply(r3).ok());
  REQUIRE(net.chain->apply(r4).ok());
  REQUIRE(net.chain->tip_hash() == r4->hash());
  CHECK(net.chain->finalized().hash == b1->hash());
  net.restart();
  CHECK(net.chain->tip_hash() == r4->hash());
  CHECK(net.chain->finalized().hash == b1->hash());
  CHECK(net.chain->finalized_height() == 1);
}

TEST_CASE("votes on a long side branch are judged on that branch, down to its fork point",
          "[chain][vote][reorg]") {
  TestNet a;
  TestNet b;
  for (int i = 0; i < 400; ++i) a.advance();
  // A shorter branch from genesis whose last block carries every vote from genesis to the
  // block before it: each lookup walks the branch's skip list, not its 300 blocks.
  std::vector<BlockPtr> branch;
  branch.push_back(b.advance(a.chain->tip().slot));
  for (int i = 1; i < 299; ++i) branch.push_back(b.advance());
  branch.push_back(b.advance_finalizing());
  a.clock.set(b.now());
  for (std::size_t i = 0; i + 1 < branch.size(); ++i) REQUIRE(a.chain->apply(branch[i]).ok());
  REQUIRE(a.chain->height() == 400);  // longer, and neither chain justifies anything yet
  auto result = a.chain->apply(branch.back());
  REQUIRE(result.ok());
  CHECK(result->kind == ApplyResult::Kind::kReorganized);
  CHECK(a.chain->tip_hash() == branch.back()->hash());
  CHECK(a.chain->vote_finality().justified().hash == branch[298]->hash());
  CHECK(a.chain->vote_finality().justified().height == 299);
}

TEST_CASE("forge takes only as many votes as fit in the block's bytes, in the order given",
          "[chain][vote]") {
  TestNet net;
  std::vector<VotePtr> votes;
  for (std::uint64_t i = 0; i < 30'000; ++i)
    votes.push_back(Vote::make(
        VoteFields{net.chain_id(), net.validators[0].public_key(), filled(1), 0, filled(2), i + 1},
        Signature{}));
  BlockPtr block = net.forge_next(votes);
  REQUIRE(block->votes().size() > 10'000);
  REQUIRE(block->votes().size() < votes.size());
  CHECK(block->votes().front() == votes.front());
  CHECK(block->votes().back() == votes[block->votes().size() - 1]);
  CHECK(encode(*block).size() <= kMaxBlockBytes);
  CHECK(encode(*block).size() + votes.back()->encoded_size() > kMaxBlockBytes);
}

TEST_CASE("a failed block in a longer branch rolls the reorganisation back", "[chain][reorg]") {
  TestNet a;
  BlockPtr a1 = a.advance();
  // b1 loses the tie against a1, so b2 (invalid) is what would make b's branch win.
  BlockPtr b1 = rival_first_block(a1->hash(), false, 1);
  a.clock.set(a.genesis.params.slot_start_ms(b1->slot()));
  REQUIRE(a.chain->apply(b1)->kind == ApplyResult::Kind::kSideBranch);
  // Build b2 on b1 in a net that follows b1.
  TestNet b;
  b.clock.set(a.clock.now_ms());
  REQUIRE(b.chain->apply(b1).ok());
  BlockPtr bad = b.craft({}, [](BlockHeader& h) { h.state_root.bytes[0] ^= 1; });
  a.clock.set(b.clock.now_ms());
  Snapshot before(a);
  auto result = a.chain->apply(bad);
  REQUIRE_FALSE(result.ok());
  CHECK(result.reason() == Reason::kBadStateRoot);
  CHECK(Snapshot(a) == before);
  CHECK(a.chain->tip_hash() == a1->hash());
  CHECK(a.chain->block_at(1)->hash() == a1->hash());
}

TEST_CASE("stake, unstake, and unbonding that matures unbonding_epochs after it is finalized",
          "[chain]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  const Wallet& u = net.users[0];
  REQUIRE(net.pool.add(u.stake(net.chain_id(), 300, 0, 0, 1), net.chain->state(), net.now()).ok());
  net.advance_finalizing();
  CHECK(net.chain->state().get(u.public_key()).stake == 300);
  CHECK(net.chain->state().stakers().contains(u.public_key()));
  REQUIRE(
      net.pool.add(u.unstake(net.chain_id(), 100, 0, 1, 2), net.chain->state(), net.now()).ok());
  BlockPtr unstaked = net.advance_finalizing();
  Account a = net.chain->state().get(u.public_key());
  CHECK(a.stake == 200);
  CHECK(a.unbonding == 100);
  CHECK(a.unbonding_height == unstaked->height());
  CHECK(a.balance == 700);
  // Finalized in epoch y, the block is F(y + 3); the amount matures in the first block of epoch
  // y + 3 + unbonding_epochs.
  std::optional<std::uint64_t> y;
  const ChainParams& params = net.genesis.params;
  for (;;) {
    BlockPtr block = net.advance_finalizing();
    std::uint64_t epoch = params.epoch_of(block->slot());
    if (!y && net.chain->vote_finality().finalized().height >= unstaked->height()) y = epoch;
    Account now = net.chain->state().get(u.public_key());
    INFO("block " << block->height() << " in epoch " << epoch);
    if (y && epoch >= *y + 3 + params.unbonding_epochs) {
      CHECK(now.balance == 800);
      CHECK(now.unbonding == 0);
      break;
    }
    CHECK(now.balance == 700);
    CHECK(now.unbonding == 100);
  }
}

TEST_CASE("unbonding never matures while nothing is finalized", "[chain]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  const Wallet& u = net.validators[1];
  REQUIRE(net.pool.add(u.unstake(net.chain_id(), 40, 0, 0, 1), net.chain->state(), net.now()).ok());
  net.advance();
  while (net.chain->tip().slot < 12 * 8) net.advance();
  CHECK(net.chain->finalized_height() == 0);
  CHECK(net.chain->state().get(u.public_key()).unbonding == 40);
}

TEST_CASE("the chain keeps going when a leader is offline: the next slot has another leader",
          "[chain]") {
  TestNet net;
  PublicKey offline = net.validators[2].public_key();
  std::map<PublicKey, int> forged;
  std::uint64_t slot = 0;
  for (int i = 0; i < 30; ++i) {
    do ++slot;
    while (*net.chain->leader(slot) == offline);
    BlockPtr block = net.forge(slot);
    REQUIRE(net.chain->apply(block).ok());
    forged[block->forger()]++;
  }
  CHECK(net.chain->height() == 30);
  CHECK(forged.count(offline) == 0);
  CHECK(forged.size() == 2);
}

namespace {

// A vote by `w` from the main chain's block at `source` to its block at `target`.
VotePtr main_chain_vote(const TestNet& net, const Wallet& w, std::uint64_t source,
                        std::uint64_t target) {
  VoteFields f;
  f.chain_id = net.chain_id();
  f.source_hash = net.chain->block_at(source)->hash();
  f.source_height = source;
  f.target_hash = net.chain->block_at(target)->hash();
  f.target_height = target;
  return Vote::sign(f, w.secret_key());
}

}  // namespace

TEST_CASE("votes carried in blocks justify and finalize the chain, and a restart keeps it",
          "[chain][vote][finality]") {
  TempDir dir;
  NetOptions options;
  options.data_dir = dir.path() / "data";
  TestNet net(options);
  REQUIRE(net.chain->apply(net.forge_next({})).ok());
  for (std::uint64_t h = 2; h <= 12; ++h) {
    REQUIRE(net.chain->apply(net.forge_next(net.tip_votes())).ok());
    CHECK(net.chain->vote_finality().justified().height == h - 1);
    CHECK(net.chain->vote_finality().finalized().height == h - 2);
  }
  Checkpoint justified = net.chain->vote_finality().justified();
  Checkpoint finalized = net.chain->vote_finality().finalized();
  CHECK(justified.hash == net.chain->block_at(11)->hash());
  net.restart();
  CHECK(net.chain->vote_finality().justified() == justified);
  CHECK(net.chain->vote_finality().finalized() == finalized);
  // Two of three validators are not more than two thirds: justification stops there.
  auto two = net.tip_votes();
  two.pop_back();
  REQUIRE(net.chain->apply(net.forge_next(two)).ok());
  CHECK(net.chain->vote_finality().justified() == justified);
}

TEST_CASE("votes that do not belong to the block's chain are refused, changing nothing",
          "[chain][vote][validation]") {
  NetOptions options;
  options.epoch_slots = 8;
  TestNet net(options);
  for (int i = 0; i < 3; ++i) net.advance();
  const Wallet& v0 = net.validators[0];
  auto vote = [&](std::function<void(VoteFields&)> change, const Wallet* by = nullptr) {
    VoteFields f = main_chain_vote(net, v0, 1, 2)->fields();
    change(f);
    return Vote::sign(f, (by ? *by : v0).secret_key());
  };
  SECTION("a target that is not this chain's block at its height") {
    require_refused(net, net.forge_next({vote([](VoteFields& f) { f.target_hash.bytes[0] ^= 1; })}),
                    Reason::kBadVote, "target");
    require_refused(net, net.forge_next({vote([](VoteFields& f) { f.target_height = 3; })}),
                    Reason::kBadVote, "target");
  }
  SECTION("a target not below the block") {
    require_refused(
        net,
        net.forge_next({vote([&](VoteFields& f) { f.target_height = net.chain->height() + 1; })}),
        Reason::kBadVote, "not below");
  }
  SECTION("a source that is not this chain's block at its height") {
    require_refused(net, net.forge_next({vote([](VoteFields& f) { f.source_hash.bytes[0] ^= 1; })}),
                    Reason::kBadVote, "source");
  }
  SECTION("a voter outside the validator set") {
    require_refused(net, net.forge_next({vote([](VoteFields&) {}, &net.users[0])}),
                    Reason::kBadVote, "validator sets");
  }
  SECTION("two votes by one validator for one target height, in one block or two") {
    VotePtr first = main_chain_vote(net, v0, 1, 2);
    VotePtr second = main_chain_vote(net, v0, 0, 2);
    require_refused(net, net.forge_next({first, second}), Reason::kBadVote, "already");
    REQUIRE(net.chain->apply(net.forge_next({first})).ok());
    require_refused(net, net.forge_next({second}), Reason::kBadVote, "already");
    require_refused(net, net.forge_next({first}), Reason::kBadVote, "already");
  }
  SECTION("more than four votes per validator") {
    std::vector<VotePtr> many(4 * net.validators.size() + 1, main_chain_vote(net, v0, 1, 2));
    require_refused(net, net.forge_next(many), Reason::kBadVote, "limit");
  }
  SECTION("a vote whose target's epoch and the next are over") {
    VotePtr late = main_chain_vote(net, v0, 1, 2);  // block 2 is in epoch 0
    while (net.chain->params().epoch_of(net.chain->tip().slot) < 1) net.advance();
    REQUIRE(net.chain->apply(net.forge_next({})).ok());
    while (net.chain->params().epoch_of(net.next_slot(net.chain->tip().slot)) < 2) net.advance();
    require_refused(net, net.forge_next({late}), Reason::kBadVote, "expired");
  }
}

TEST_CASE("each branch counts its own votes, across a reorganisation and a restart",
          "[chain][vote][finality][reorg]") {
  TempDir dir;
  NetOptions options;
  options.data_dir = dir.path() / "data";
  TestNet net(options);
  TestNet other;  // the same keys and genesis, in memory: where the rival branch is built
  BlockPtr first = net.advance();
  REQUIRE(other.chain->apply(first).ok());

  // Two children of `first`: x, carrying every validator's vote for `first`, in the earlier
  // slot; y, carrying none, in a later one.
  std::uint64_t sx = net.next_slot(first->slot()), sy = net.next_slot(sx);
  BlockPtr x = net.forge_next(net.tip_votes());
  REQUIRE(x->slot() == sx);
  BlockPtr y = net.forge(sy);
  REQUIRE(net.chain->apply(x).ok());
  REQUIRE(net.chain->apply(y).ok());  // a side branch: x's lower slot wins the tie
  CHECK(net.chain->tip_hash() == x->hash());
  CHECK(net.chain->vote_finality().justified().hash == first->hash());

  // After a restart y is only in storage; a child z of y makes the node index y's branch
  // again, counting its (absent) votes: longer, but x's chain justifies more, so x stays.
  other.clock.set(net.now());
  REQUIRE(other.chain->apply(y).ok());
  BlockPtr z = other.advance();
  net.clock.set(other.now());
  net.restart();
  REQUIRE(net.chain->apply(z).ok());
  CHECK(net.chain->tip_hash() == x->hash());
  CHECK(net.chain->vote_finality().justified().hash == first->hash());
  // Votes for z on z's branch justify z from genesis, higher than first: the node reorganises,
  // and that branch's finality is its own (first is not justified there).
  BlockPtr z2 = other.advance_finalizing();
  net.clock.set(other.now());
  REQUIRE(net.chain->apply(z2).ok());
  CHECK(net.chain->tip_hash() == z2->hash());
  CHECK(net.chain->vote_finality().justified().hash == z->hash());
  CHECK_FALSE(net.chain->vote_finality().is_justified(1));
  CHECK_FALSE(net.chain->vote_finality().is_justified(2));
}

TEST_CASE("a side branch that now forks below finality is refused as such, votes or not",
          "[chain][vote][reorg][finality]") {
  TestNet a;
  TestNet b;
  a.advance_finalizing();
  a.advance_finalizing();
  // b's branch, two blocks in later slots: a side branch of a at equal height.
  BlockPtr r1 = b.advance(a.chain->tip().slot);
  BlockPtr r2 = b.advance();
  a.clock.set(b.now());
  REQUIRE(a.chain->apply(r1).ok());
  REQUIRE(a.chain->apply(r2).ok());
  REQUIRE(a.chain->tip().height == 2);
  REQUIRE(a.chain->tip_hash() != r2->hash());
  // a's chain grows: its finalized height passes the fork point, and r1 leaves the index.
  b.clock.set(a.now());
  a.advance_finalizing(r2->slot());
  a.advance_finalizing();
  REQUIRE(a.chain->finalized_height() == 2);
  // r3 carries a vote for r1, which a cannot look up any more: the refusal names finality.
  b.clock.set(a.now());
  BlockPtr r3 = b.forge_next({main_chain_vote(b, b.validators[0], 0, 1)});
  a.clock.set(b.now());
  Snapshot before(a);
  auto result = a.chain->apply(r3);
  REQUIRE_FALSE(result.ok());
  CHECK(result.reason() == Reason::kConflictsFinalized);
  CHECK(Snapshot(a) == before);
}
