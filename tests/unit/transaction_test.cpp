#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

TxFields sample_fields() {
  TxFields f;
  f.chain_id = "pos-test";
  f.type = TxType::kTransfer;
  f.sender = key_from_index(1).public_key();
  f.receiver = key_from_index(2).public_key();
  f.amount = 5;
  f.fee = 1;
  f.nonce = 0;
  f.timestamp_ms = 1234;
  return f;
}

std::string sample_json() {
  return to_json(*Transaction::sign(sample_fields(), key_from_index(1)), false);
}

// Replaces the first occurrence of `from` in the sample JSON.
std::string edited(const std::string& from, const std::string& to) {
  return replace_first(sample_json(), from, to);
}

Reason refusal(const std::string& json) {
  auto tx = transaction_from_json(json, "pos-test");
  REQUIRE_FALSE(tx.ok());
  return tx.reason();
}

}  // namespace

TEST_CASE("transaction signing bytes follow the layout of docs/protocol.md", "[tx]") {
  TxFields f = sample_fields();
  Bytes b = f.signing_bytes();
  REQUIRE(b.size() == 9 + 2 + 8 + 1 + 32 + 32 + 8 * 4);
  CHECK(std::string(b.begin(), b.begin() + 9) == "pos/tx/v1");
  CHECK(b[9] == 0);
  CHECK(b[10] == 8);
  CHECK(std::string(b.begin() + 11, b.begin() + 19) == "pos-test");
  CHECK(b[19] == 1);
  CHECK(std::equal(f.sender.bytes.begin(), f.sender.bytes.end(), b.begin() + 20));
  CHECK(std::equal(f.receiver.bytes.begin(), f.receiver.bytes.end(), b.begin() + 52));
  CHECK(b[84 + 7] == 5);   // amount, big-endian
  CHECK(b[92 + 7] == 1);   // fee
  CHECK(b[100 + 7] == 0);  // nonce
  CHECK(b[108 + 6] == 0x04);
  CHECK(b[108 + 7] == 0xd2);  // 1234
  CHECK(f.id() == sha256(b));
}

TEST_CASE("a transaction's id and signature bind every field and the chain", "[tx]") {
  auto tx = Transaction::sign(sample_fields(), key_from_index(1));
  CHECK(tx->check_signature().ok());
  TxFields other_chain = sample_fields();
  other_chain.chain_id = "pos-other";
  auto moved = Transaction::make(other_chain, tx->signature());
  CHECK(moved->id() != tx->id());
  CHECK(moved->check_signature().reason() == Reason::kBadSignature);
  TxFields more = sample_fields();
  more.amount = 6;
  CHECK(Transaction::make(more, tx->signature())->check_signature().reason() ==
        Reason::kBadSignature);
}

TEST_CASE("stateless rules: zero amount, stake receiver, exchange authority", "[tx]") {
  SecretKey alice = key_from_index(1);
  Address authority = key_from_index(0).public_key();
  TxFields f = sample_fields();
  f.amount = 0;
  CHECK(Transaction::sign(f, alice)->check_stateless(authority).reason() == Reason::kZeroAmount);
  f = sample_fields();
  f.type = TxType::kStake;
  CHECK(Transaction::sign(f, alice)->check_stateless(authority).reason() == Reason::kBadReceiver);
  f.type = TxType::kUnstake;
  CHECK(Transaction::sign(f, alice)->check_stateless(authority).reason() == Reason::kBadReceiver);
  f.receiver = f.sender;
  CHECK(Transaction::sign(f, alice)->check_stateless(authority).ok());
  f = sample_fields();
  f.type = TxType::kExchange;
  CHECK(Transaction::sign(f, alice)->check_stateless(authority).reason() ==
        Reason::kUnauthorizedExchange);
  f.sender = authority;
  CHECK(Transaction::sign(f, key_from_index(0))->check_stateless(authority).ok());
}

TEST_CASE("a type outside the four is refused", "[tx]") {
  TxFields f = sample_fields();
  f.type = static_cast<TxType>(9);
  auto tx = Transaction::sign(f, key_from_index(1));
  CHECK(tx->check_stateless(key_from_index(0).public_key()).reason() == Reason::kUnknownType);
}

TEST_CASE("transaction JSON round-trips", "[tx][json]") {
  auto tx = Transaction::sign(sample_fields(), key_from_index(1));
  for (bool with_id : {true, false}) {
    auto back = transaction_from_json(to_json(*tx, with_id), "pos-test");
    REQUIRE(back.ok());
    CHECK((*back)->id() == tx->id());
    CHECK((*back)->signature() == tx->signature());
    CHECK((*back)->check_signature().ok());
  }
  CHECK(to_json(*tx).find("\"type\":\"TRANSFER\"") != std::string::npos);
}

TEST_CASE("an array of transactions is parsed once, each element judged alone", "[tx][json]") {
  auto a = Transaction::sign(sample_fields(), key_from_index(1));
  TxFields other = sample_fields();
  other.nonce += 1;
  auto b = Transaction::sign(other, key_from_index(1));
  std::string bad_type = to_json(*b);
  bad_type.replace(bad_type.find("\"TRANSFER\""), 10, "\"GIFT\"");
  std::string json = "[" + to_json(*a) + ", 7, " + bad_type + ", " + to_json(*b, false) + "]";
  auto all = transactions_from_json_array(json, "pos-test", 10);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 4);
  REQUIRE((*all)[0].ok());
  CHECK((*all)[0].value()->id() == a->id());
  CHECK((*all)[1].reason() == Reason::kMalformed);
  CHECK((*all)[2].reason() == Reason::kUnknownType);
  REQUIRE((*all)[3].ok());
  CHECK((*all)[3].value()->id() == b->id());
  // The same verdicts as one at a time.
  CHECK(transaction_from_json(bad_type, "pos-test").reason() == Reason::kUnknownType);

  CHECK(transactions_from_json_array("[]", "pos-test", 10)->empty());
  CHECK(transactions_from_json_array("{}", "pos-test", 10).reason() == Reason::kMalformed);
  CHECK(transactions_from_json_array("[1,", "pos-test", 10).reason() == Reason::kMalformed);
  CHECK(transactions_from_json_array(json, "pos-test", 3).reason() == Reason::kPayloadTooLarge);
  CHECK(transactions_from_json_array(json, "pos-elsewhere", 10)->at(0).reason() ==
        transaction_from_json(to_json(*a), "pos-elsewhere").reason());
}

TEST_CASE("transaction JSON is parsed strictly", "[tx][json]") {
  SECTION("not JSON") {
    CHECK(refusal("{\"type\":") == Reason::kMalformed);
  }
  SECTION("not an object") {
    CHECK(refusal("[1,2]") == Reason::kMalformed);
  }
  SECTION("unknown type") {
    CHECK(refusal(edited("\"TRANSFER\"", "\"GIFT\"")) == Reason::kUnknownType);
  }
  SECTION("missing field") {
    CHECK(refusal(edited("\"fee\":1,", "")) == Reason::kMalformed);
  }
  SECTION("unknown field") {
    CHECK(refusal(edited("\"fee\":1,", "\"fee\":1,\"memo\":\"x\",")) == Reason::kMalformed);
  }
  SECTION("duplicate field") {
    CHECK(refusal(edited("\"fee\":1,", "\"fee\":1,\"fee\":1,")) == Reason::kMalformed);
  }
  SECTION("negative number") {
    CHECK(refusal(edited("\"fee\":1", "\"fee\":-1")) == Reason::kMalformed);
  }
  SECTION("fractional number") {
    CHECK(refusal(edited("\"fee\":1", "\"fee\":1.5")) == Reason::kMalformed);
    CHECK(refusal(edited("\"fee\":1", "\"fee\":1.0")) == Reason::kMalformed);
    CHECK(refusal(edited("\"fee\":1", "\"fee\":1e0")) == Reason::kMalformed);
  }
  SECTION("string number") {
    CHECK(refusal(edited("\"fee\":1", "\"fee\":\"1\"")) == Reason::kMalformed);
  }
  SECTION("over u64") {
    CHECK(refusal(edited("\"fee\":1", "\"fee\":18446744073709551616")) == Reason::kMalformed);
    auto max =
        transaction_from_json(edited("\"fee\":1", "\"fee\":18446744073709551615"), "pos-test");
    REQUIRE(max.ok());
    CHECK((*max)->fee() == 18446744073709551615ULL);
  }
  SECTION("non-hex") {
    std::string json = sample_json();
    auto at = json.find("\"sender\":\"") + 10;
    json[at] = 'g';
    CHECK(refusal(json) == Reason::kMalformed);
  }
  SECTION("upper-case hex") {
    std::string json = sample_json();
    auto at = json.find("\"signature\":\"") + 13;
    json[at] = 'A';
    CHECK(refusal(json) == Reason::kMalformed);
  }
  SECTION("wrong length") {
    CHECK(refusal(edited("\"receiver\":\"", "\"receiver\":\"00")) == Reason::kMalformed);
  }
  SECTION("id that does not match") {
    auto tx = Transaction::sign(sample_fields(), key_from_index(1));
    std::string json = to_json(*tx, true);
    json.replace(json.find(tx->id().hex()), 64, std::string(64, '0'));
    CHECK(refusal(json) == Reason::kIdMismatch);
  }
  SECTION("another chain") {
    CHECK(refusal(edited("{", "{\"chain_id\":\"pos-main\",")) == Reason::kWrongChain);
    CHECK(transaction_from_json(edited("{", "{\"chain_id\":\"pos-test\","), "pos-test").ok());
  }
  SECTION("deep nesting does not crash") {
    CHECK(refusal(std::string(100000, '[') + std::string(100000, ']')) == Reason::kMalformed);
  }
}
