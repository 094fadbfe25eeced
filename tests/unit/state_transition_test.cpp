#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

struct Fixture {
  ChainParams params;
  AccountModel state;
  SecretKey authority = key_from_index(0);
  SecretKey alice = key_from_index(1);
  SecretKey bob = key_from_index(2);
  SecretKey forger = key_from_index(3);
  Fixture() : state(Hash{}) {
    params.chain_id = "pos-test";
    params.unbonding_epochs = 2;
    params.exchange_authority = authority.public_key();
    state.put(alice.public_key(), Account{100, 0, 0, 0, 0});
    state.put(authority.public_key(), Account{10, 0, 0, 0, 0});
  }
  TransactionPtr tx(const SecretKey& from, TxType type, const Address& to, std::uint64_t amount,
                    std::uint64_t fee, std::uint64_t nonce) {
    TxFields f;
    f.chain_id = params.chain_id;
    f.type = type;
    f.sender = from.public_key();
    f.receiver = to;
    f.amount = amount;
    f.fee = fee;
    f.nonce = nonce;
    return Transaction::sign(f, from);
  }
  Status apply(const TransactionPtr& t, std::uint64_t height = 1) {
    return apply_transaction(state, *t, forger.public_key(), height, undo);
  }
  Account of(const SecretKey& k) const { return state.get(k.public_key()); }
  UndoLog undo;
};

}  // namespace

TEST_CASE("TRANSFER moves amount, pays the fee to the forger, bumps the nonce", "[rules]") {
  Fixture f;
  REQUIRE(f.apply(f.tx(f.alice, TxType::kTransfer, f.bob.public_key(), 30, 2, 0)).ok());
  CHECK(f.of(f.alice) == Account{68, 0, 1, 0, 0});
  CHECK(f.of(f.bob).balance == 30);
  CHECK(f.of(f.forger).balance == 2);
  CHECK(f.state.total_supply() == 110);
}

TEST_CASE("a transaction is valid only at the sender's nonce: replays are refused", "[rules]") {
  Fixture f;
  auto t = f.tx(f.alice, TxType::kTransfer, f.bob.public_key(), 1, 0, 0);
  REQUIRE(f.apply(t).ok());
  Hash root = f.state.state_root();
  CHECK(f.apply(t).reason() == Reason::kStaleNonce);
  CHECK(f.apply(f.tx(f.alice, TxType::kTransfer, f.bob.public_key(), 1, 0, 5)).reason() ==
        Reason::kNonceGap);
  CHECK(f.state.state_root() == root);
}

TEST_CASE("insufficient funds and stake are refused without a change", "[rules]") {
  Fixture f;
  Hash root = f.state.state_root();
  CHECK(f.apply(f.tx(f.alice, TxType::kTransfer, f.bob.public_key(), 100, 1, 0)).reason() ==
        Reason::kInsufficientFunds);
  CHECK(f.apply(f.tx(f.alice, TxType::kStake, f.alice.public_key(), 100, 1, 0)).reason() ==
        Reason::kInsufficientFunds);
  CHECK(f.apply(f.tx(f.alice, TxType::kUnstake, f.alice.public_key(), 1, 0, 0)).reason() ==
        Reason::kInsufficientStake);
  CHECK(f.apply(f.tx(f.bob, TxType::kTransfer, f.alice.public_key(), 1, 0, 0)).reason() ==
        Reason::kInsufficientFunds);
  CHECK(f.state.state_root() == root);
}

TEST_CASE("amount + fee overflowing u64 is refused", "[rules]") {
  Fixture f;
  CHECK(f.apply(f.tx(f.alice, TxType::kTransfer, f.bob.public_key(), ~0ULL, 1, 0)).reason() ==
        Reason::kOverflow);
}

TEST_CASE("EXCHANGE mints within the u64 supply", "[rules]") {
  Fixture f;
  REQUIRE(f.apply(f.tx(f.authority, TxType::kExchange, f.bob.public_key(), 50, 1, 0)).ok());
  CHECK(f.of(f.bob).balance == 50);
  CHECK(f.state.total_supply() == 160);
  CHECK(f.apply(f.tx(f.authority, TxType::kExchange, f.bob.public_key(), ~0ULL - 100, 0, 1))
            .reason() == Reason::kOverflow);
}

TEST_CASE("STAKE locks balance; UNSTAKE unbonds, and releases once its block has matured",
          "[rules]") {
  Fixture f;
  REQUIRE(f.apply(f.tx(f.alice, TxType::kStake, f.alice.public_key(), 40, 1, 0), 1).ok());
  CHECK(f.of(f.alice) == Account{59, 40, 1, 0, 0});
  CHECK(f.state.total_stake() == 40);
  REQUIRE(f.apply(f.tx(f.alice, TxType::kUnstake, f.alice.public_key(), 15, 1, 1), 5).ok());
  CHECK(f.of(f.alice) == Account{58, 25, 2, 15, 5});
  CHECK(f.state.total_supply() == 110);
  // A second UNSTAKE joins the amount and restarts its wait from its own block.
  REQUIRE(f.apply(f.tx(f.alice, TxType::kUnstake, f.alice.public_key(), 5, 0, 2), 7).ok());
  CHECK(f.of(f.alice) == Account{58, 20, 3, 20, 7});
  UndoLog undo;
  release_unbonding(f.state, 6, undo);
  CHECK(f.of(f.alice).unbonding == 20);
  release_unbonding(f.state, 7, undo);
  CHECK(f.of(f.alice) == Account{78, 20, 3, 0, 0});
  CHECK(f.state.total_supply() == 110);
}

TEST_CASE("an UNSTAKE that would leave no stake on the chain is refused", "[rules]") {
  Fixture f;
  REQUIRE(f.apply(f.tx(f.alice, TxType::kStake, f.alice.public_key(), 40, 0, 0)).ok());
  Hash root = f.state.state_root();
  auto last = f.apply(f.tx(f.alice, TxType::kUnstake, f.alice.public_key(), 40, 0, 1));
  CHECK(last.reason() == Reason::kInsufficientStake);
  CHECK_THAT(last.error().message, Catch::Contains("no stake on the chain"));
  CHECK(f.state.state_root() == root);
  // Anything short of the last unit goes.
  CHECK(f.apply(f.tx(f.alice, TxType::kUnstake, f.alice.public_key(), 39, 0, 1)).ok());
}

TEST_CASE("an undo log restores every account a block touched", "[rules]") {
  Fixture f;
  Hash root = f.state.state_root();
  REQUIRE(f.apply(f.tx(f.alice, TxType::kTransfer, f.bob.public_key(), 30, 2, 0)).ok());
  REQUIRE(f.apply(f.tx(f.alice, TxType::kStake, f.alice.public_key(), 10, 2, 1)).ok());
  REQUIRE(f.apply(f.tx(f.authority, TxType::kExchange, f.forger.public_key(), 7, 0, 0)).ok());
  CHECK(f.state.state_root() != root);
  UndoRecord record = std::move(f.undo).take();
  CHECK(record.prior.size() == 4);  // alice, bob, forger, authority; each once
  undo_block(f.state, record);
  CHECK(f.state.state_root() == root);
  CHECK_FALSE(f.state.contains(f.bob.public_key()));
}
