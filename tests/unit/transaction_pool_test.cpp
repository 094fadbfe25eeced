#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

struct PoolFixture {
  explicit PoolFixture(PoolLimits limits = {}) : net(options(limits)) {}
  static NetOptions options(PoolLimits limits) {
    NetOptions o;
    o.users = 4;
    o.pool_limits = limits;
    return o;
  }
  TestNet net;
  TransactionPtr send(std::size_t user, std::uint64_t amount, std::uint64_t fee,
                      std::uint64_t nonce, std::uint64_t timestamp = 1) {
    return net.users[user].transfer(net.chain_id(),
                                    net.users[(user + 1) % net.users.size()].public_key(), amount,
                                    fee, nonce, timestamp);
  }
  Status add(const TransactionPtr& tx) { return net.pool.add(tx, net.chain->state(), net.now()); }
  // A block on the tip carrying tx (as another node's pool gave it), applied to the chain.
  BlockPtr apply_block_with(const TransactionPtr& tx) {
    BlockPtr block = net.craft({tx}, [&](BlockHeader& h) {
      UndoLog undo;
      AccountModel& state = const_cast<AccountModel&>(net.chain->state());
      REQUIRE(apply_transaction(state, *tx, h.forger, h.height, undo).ok());
      h.state_root = state.state_root();
      undo.revert(state);
    });
    REQUIRE(net.chain->apply(block).ok());
    return block;
  }
};

}  // namespace

TEST_CASE("the pool admits valid transactions and refuses duplicates", "[pool]") {
  PoolFixture f;
  auto tx = f.send(0, 10, 1, 0);
  REQUIRE(f.add(tx).ok());
  CHECK(f.net.pool.contains(tx->id()));
  CHECK(f.net.pool.size() == 1);
  CHECK(f.net.pool.bytes() == tx->encoded_size());
  CHECK(f.add(tx).reason() == Reason::kDuplicate);
}

TEST_CASE("the pool refuses with a reason for each rule", "[pool]") {
  PoolFixture f;
  SECTION("bad signature") {
    auto tx = f.send(0, 10, 1, 0);
    Signature sig = tx->signature();
    sig.bytes[0] ^= 1;
    CHECK(f.add(Transaction::make(tx->fields(), sig)).reason() == Reason::kBadSignature);
  }
  SECTION("wrong chain") {
    auto tx = f.net.users[0].transfer("pos-other", f.net.users[1].public_key(), 1, 1, 0, 1);
    CHECK(f.add(tx).reason() == Reason::kWrongChain);
  }
  SECTION("unauthorised exchange") {
    auto tx = f.net.users[0].exchange(f.net.chain_id(), f.net.users[0].public_key(), 1, 0, 0, 1);
    CHECK(f.add(tx).reason() == Reason::kUnauthorizedExchange);
  }
  SECTION("stale nonce (a replay of an included transaction)") {
    auto tx = f.send(0, 10, 1, 0);
    REQUIRE(f.add(tx).ok());
    f.net.advance();
    REQUIRE_FALSE(f.net.pool.contains(tx->id()));
    CHECK(f.add(tx).reason() == Reason::kStaleNonce);
  }
  SECTION("nonce gap beyond the limit") {
    CHECK(f.add(f.send(0, 1, 1, f.net.pool.limits().max_nonce_gap + 1)).reason() ==
          Reason::kNonceGap);
    CHECK(f.add(f.send(0, 1, 1, f.net.pool.limits().max_nonce_gap)).ok());
  }
  SECTION("insufficient funds, counting the sender's pending transactions") {
    CHECK(f.add(f.send(0, 1000, 1, 0)).reason() == Reason::kInsufficientFunds);
    REQUIRE(f.add(f.send(0, 600, 0, 0)).ok());
    CHECK(f.add(f.send(0, 600, 0, 1)).reason() == Reason::kInsufficientFunds);
    CHECK(f.add(f.send(0, 400, 0, 1)).ok());
  }
  SECTION("insufficient stake") {
    auto tx = f.net.users[0].unstake(f.net.chain_id(), 1, 0, 0, 1);
    CHECK(f.add(tx).reason() == Reason::kInsufficientStake);
    REQUIRE(f.add(f.net.users[0].stake(f.net.chain_id(), 5, 0, 0, 1)).ok());
    CHECK(f.add(f.net.users[0].unstake(f.net.chain_id(), 5, 0, 1, 1)).ok());
  }
  SECTION("a STAKE by a slashed account") {
    const Wallet& offender = f.net.validators[1];
    auto vote = [&](std::uint8_t target) {
      return Vote::sign(VoteFields{f.net.chain_id(), {}, filled(1), 0, filled(target), 2},
                        offender.secret_key());
    };
    REQUIRE(f.net.chain->add_evidence(Evidence::double_vote(vote(2), vote(3)).value()).value());
    f.net.advance();
    REQUIRE(f.net.chain->state().get(offender.public_key()).slashed);
    std::uint64_t nonce = f.net.nonce_of(offender);
    CHECK(f.add(offender.stake(f.net.chain_id(), 5, 0, nonce, 1)).reason() == Reason::kSlashed);
    CHECK(f.add(offender.transfer(f.net.chain_id(), f.net.users[0].public_key(), 5, 0, nonce, 1))
              .ok());
  }
  SECTION("zero amount") {
    CHECK(f.add(f.send(0, 0, 1, 0)).reason() == Reason::kZeroAmount);
  }
}

TEST_CASE("a same-nonce replacement needs a higher fee", "[pool]") {
  PoolFixture f;
  auto first = f.send(0, 10, 5, 0, 1);
  REQUIRE(f.add(first).ok());
  CHECK(f.add(f.send(0, 11, 5, 0, 2)).reason() == Reason::kReplacementUnderpriced);
  auto better = f.send(0, 11, 6, 0, 3);
  REQUIRE(f.add(better).ok());
  CHECK_FALSE(f.net.pool.contains(first->id()));
  CHECK(f.net.pool.contains(better->id()));
  CHECK(f.net.pool.size() == 1);
}

TEST_CASE("ready() gives nonce order per sender and fee order across senders", "[pool]") {
  PoolFixture f;
  REQUIRE(f.add(f.send(0, 1, 1, 1)).ok());  // waits for nonce 0
  REQUIRE(f.add(f.send(1, 1, 5, 0)).ok());
  REQUIRE(f.add(f.send(0, 1, 9, 0)).ok());
  REQUIRE(f.add(f.send(2, 1, 3, 0)).ok());
  REQUIRE(f.add(f.send(3, 1, 2, 2)).ok());  // gap: not ready
  auto ready = f.net.pool.ready(f.net.chain->state());
  REQUIRE(ready.size() == 4);
  CHECK(ready[0]->fee() == 9);
  CHECK(ready[1]->fee() == 5);
  CHECK(ready[2]->fee() == 3);
  CHECK(ready[3]->nonce() == 1);
  CHECK(ready[3]->sender() == f.net.users[0].public_key());
}

TEST_CASE("the pool is bounded in count and bytes with lowest-fee eviction", "[pool]") {
  PoolLimits limits;
  limits.max_count = 3;
  PoolFixture f(limits);
  auto cheap = f.send(0, 1, 1, 0);
  REQUIRE(f.add(cheap).ok());
  REQUIRE(f.add(f.send(1, 1, 5, 0)).ok());
  REQUIRE(f.add(f.send(2, 1, 6, 0)).ok());
  CHECK(f.add(f.send(3, 1, 1, 0)).reason() == Reason::kPoolFull);
  REQUIRE(f.add(f.send(3, 1, 2, 0)).ok());
  CHECK_FALSE(f.net.pool.contains(cheap->id()));
  CHECK(f.net.pool.size() == 3);

  PoolLimits by_bytes;
  by_bytes.max_bytes = 2 * cheap->encoded_size();
  PoolFixture g(by_bytes);
  REQUIRE(g.add(g.send(0, 1, 1, 0)).ok());
  REQUIRE(g.add(g.send(1, 1, 1, 0)).ok());
  CHECK(g.add(g.send(2, 1, 1, 0)).reason() == Reason::kPoolFull);
  CHECK(g.net.pool.bytes() <= by_bytes.max_bytes);
}

TEST_CASE("a pool full of transactions that wait for earlier nonces still takes minable ones",
          "[pool]") {
  PoolLimits limits;
  limits.max_count = 3;
  PoolFixture f(limits);
  // Users 0, 1 and 2 each have nonce 1 pending, waiting for a nonce 0 the pool never took.
  auto waits0 = f.send(0, 1, 5, 1);
  auto waits1 = f.send(1, 1, 6, 1);
  auto waits2 = f.send(2, 1, 7, 1);
  for (const auto& tx : {waits0, waits1, waits2}) REQUIRE(f.add(tx).ok());
  CHECK(f.net.pool.ready(f.net.chain->state()).empty());
  // Another that waits evicts only a waiting one of a lower fee.
  CHECK(f.add(f.send(3, 1, 5, 1)).reason() == Reason::kPoolFull);
  // One that can be mined evicts the cheapest that waits, whatever the fees.
  auto next3 = f.send(3, 1, 1, 0);
  REQUIRE(f.add(next3).ok());
  CHECK_FALSE(f.net.pool.contains(waits0->id()));
  // A waiting sender's missing nonce gets in too: another sender's waiting one goes (its own
  // fee-6 one, cheaper, is what it makes minable).
  auto next1 = f.send(1, 1, 1, 0);
  REQUIRE(f.add(next1).ok());
  CHECK_FALSE(f.net.pool.contains(waits2->id()));
  CHECK(f.net.pool.contains(waits1->id()));
  CHECK(f.net.pool.ready(f.net.chain->state()).size() == 3);
  // Now all can be mined: one that waits pushes none of them out, whatever its fee.
  CHECK(f.add(f.send(2, 1, 100, 1)).reason() == Reason::kPoolFull);
  CHECK(f.net.pool.size() == 3);
}

TEST_CASE("a waiting transaction that a block made minable is not evicted as waiting", "[pool]") {
  PoolLimits limits;
  limits.max_count = 2;
  PoolFixture f(limits);
  auto waits = f.send(0, 1, 1, 1);
  REQUIRE(f.add(waits).ok());
  REQUIRE(f.add(f.send(1, 1, 1, 0)).ok());
  // The missing nonce 0 comes in a block, from another node's pool.
  BlockPtr block = f.apply_block_with(f.send(0, 2, 1, 0, 99));
  f.net.pool.remove_included(*block, f.net.chain->state());
  CHECK(f.net.pool.ready(f.net.chain->state()).size() == 2);
  // Both can be mined: a minable one of the same fee finds nothing to push out.
  CHECK(f.add(f.send(2, 1, 1, 0)).reason() == Reason::kPoolFull);
  CHECK(f.net.pool.contains(waits->id()));
}

TEST_CASE("a full pool refuses before the signature: a forgery it has no room for costs no check",
          "[pool][hostile]") {
  PoolLimits limits;
  limits.max_count = 2;
  PoolFixture f(limits);
  SignatureVerifier verifier(0);
  f.net.pool.set_verifier(&verifier);
  auto forge = [](const TransactionPtr& tx) {
    Signature sig = tx->signature();
    sig.bytes[0] ^= 1;
    return Transaction::make(tx->fields(), sig);
  };
  REQUIRE(f.add(f.send(0, 1, 2, 0)).ok());
  REQUIRE(f.add(f.send(1, 1, 2, 0)).ok());
  REQUIRE(verifier.verified() == 2);
  // The same fee pushes nothing out: refused as full, its signature never checked.
  auto same_fee = forge(f.send(2, 1, 2, 0));
  CHECK(f.net.pool.screen(*same_fee, f.net.chain->state()).reason() == Reason::kPoolFull);
  CHECK(f.add(same_fee).reason() == Reason::kPoolFull);
  CHECK(verifier.verified() == 2);
  // A higher fee may push one out: its signature is checked then, and refuses it.
  auto higher_fee = forge(f.send(2, 1, 3, 0));
  CHECK(f.net.pool.screen(*higher_fee, f.net.chain->state()).ok());
  CHECK(f.add(higher_fee).reason() == Reason::kBadSignature);
  CHECK(verifier.verified() == 3);
  CHECK(f.net.pool.size() == 2);
}

TEST_CASE("per-sender limit and minimum fee", "[pool]") {
  PoolLimits limits;
  limits.max_per_sender = 2;
  limits.min_fee = 1;
  PoolFixture f(limits);
  CHECK(f.add(f.send(0, 1, 0, 0)).reason() == Reason::kFeeTooLow);
  REQUIRE(f.add(f.send(0, 1, 1, 0)).ok());
  REQUIRE(f.add(f.send(0, 1, 1, 1)).ok());
  CHECK(f.add(f.send(0, 1, 1, 2)).reason() == Reason::kSenderLimit);
}

TEST_CASE("included transactions leave the pool; stale ones too", "[pool]") {
  PoolFixture f;
  auto a = f.send(0, 1, 1, 0);
  auto b = f.send(0, 1, 1, 1);
  REQUIRE(f.add(a).ok());
  REQUIRE(f.add(b).ok());
  // Another transaction with nonce 0 of the same sender reaches a block first (say, via a peer).
  BlockPtr block = f.apply_block_with(f.send(0, 2, 3, 0, 99));
  f.net.pool.remove_included(*block, f.net.chain->state());
  CHECK_FALSE(f.net.pool.contains(a->id()));
  CHECK(f.net.pool.contains(b->id()));
}

TEST_CASE("entries expire after their lifetime", "[pool]") {
  PoolLimits limits;
  limits.max_age_ms = 1000;
  PoolFixture f(limits);
  REQUIRE(f.add(f.send(0, 1, 1, 0)).ok());
  f.net.pool.expire(f.net.now() + 1000);
  CHECK(f.net.pool.size() == 1);
  f.net.pool.expire(f.net.now() + 1001);
  CHECK(f.net.pool.size() == 0);
  CHECK(f.net.pool.bytes() == 0);
}

TEST_CASE("a reader on another thread sees whole listings while the owner adds and removes",
          "[pool]") {
  PoolFixture f;
  std::vector<TransactionPtr> txs;
  for (std::uint64_t nonce = 0; nonce < 60; ++nonce)
    for (std::size_t user = 0; user < 4; ++user) txs.push_back(f.send(user, 1, 1, nonce));
  std::atomic<bool> done{false};
  std::atomic<std::size_t> torn{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      PoolListing l = f.net.pool.listing([](const Address&) { return 0; });
      std::size_t bytes = 0;
      for (const auto& tx : l.txs) bytes += tx->encoded_size();
      if (l.txs.size() != l.size || bytes != l.bytes) ++torn;
      ++reads;
    }
  });
  for (int round = 0; round < 20; ++round) {
    for (const auto& tx : txs) REQUIRE(f.add(tx).ok());
    f.net.pool.expire(f.net.now() + f.net.pool.limits().max_age_ms + 1);
    CHECK(f.net.pool.size() == 0);
  }
  REQUIRE(eventually([&] { return reads.load() > 0; }));
  done = true;
  reader.join();
  CHECK(torn == 0);
}

TEST_CASE("the cheap checks come before the signature: an unfunded forgery costs no check",
          "[pool][hostile]") {
  PoolFixture f;
  SignatureVerifier verifier(0);
  f.net.pool.set_verifier(&verifier);
  auto forge = [](const TransactionPtr& tx) {
    Signature sig = tx->signature();
    sig.bytes[0] ^= 1;
    return Transaction::make(tx->fields(), sig);
  };
  // Each refused for a rule that needs no signature, the signature never checked.
  auto unfunded = forge(f.send(0, 5'000, 1, 0));
  auto twin = forge(f.send(1, 1, 1, 0));
  auto underpriced = forge(f.send(1, 2, 1, 0));
  REQUIRE(f.add(f.send(1, 1, 1, 0)).ok());
  REQUIRE(verifier.verified() == 1);
  auto gapped = forge(f.send(2, 1, 1, 1'000'000));
  auto other_chain =
      forge(f.net.users[0].transfer("pos-other", f.net.users[1].public_key(), 1, 1, 0, 1));
  CHECK(f.net.pool.screen(*unfunded, f.net.chain->state()).reason() == Reason::kInsufficientFunds);
  CHECK(f.add(unfunded).reason() == Reason::kInsufficientFunds);
  CHECK(f.add(twin).reason() == Reason::kDuplicate);  // its id (the signed fields) is pending
  CHECK(f.add(underpriced).reason() == Reason::kReplacementUnderpriced);
  CHECK(f.add(gapped).reason() == Reason::kNonceGap);
  CHECK(f.add(other_chain).reason() == Reason::kWrongChain);
  CHECK(verifier.verified() == 1);
  // A forgery that passes them is refused for its signature, and screen() alone did not see it.
  auto funded = forge(f.send(3, 1, 1, 0));
  CHECK(f.net.pool.screen(*funded, f.net.chain->state()).ok());
  CHECK(verifier.verified() == 1);
  CHECK(f.add(funded).reason() == Reason::kBadSignature);
  CHECK(verifier.verified() == 2);
  CHECK(f.net.pool.size() == 1);
}
