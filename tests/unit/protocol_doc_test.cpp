// Recomputes every worked example of docs/protocol.md from the inputs written there: the doc is
// what clients in other languages implement from, so it must never drift from the code.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

using Example = std::map<std::string, std::string>;

// Reads the fenced blocks "```example NAME" ... "```" of key: value lines.
std::map<std::string, Example> read_examples() {
  std::ifstream in(std::filesystem::path(POS_SOURCE_DIR) / "docs" / "protocol.md");
  REQUIRE(in.good());
  std::map<std::string, Example> out;
  std::string line;
  std::string current;
  while (std::getline(in, line)) {
    if (line.rfind("```example ", 0) == 0) {
      current = line.substr(11);
      out[current];
    } else if (line.rfind("```", 0) == 0) {
      current.clear();
    } else if (!current.empty()) {
      auto colon = line.find(": ");
      if (colon != std::string::npos) out[current][line.substr(0, colon)] = line.substr(colon + 2);
    }
  }
  return out;
}

Hash hash_of(const Example& e, const std::string& key) {
  return Hash::from_hex(e.at(key)).value();
}
std::uint64_t u64_of(const Example& e, const std::string& key) {
  return std::stoull(e.at(key));
}

void check_value(const Example& e, const std::string& key, const std::string& computed) {
  INFO("docs/protocol.md field \"" << key << "\" should be:\n" << computed);
  REQUIRE(e.count(key) == 1);
  CHECK(e.at(key) == computed);
}

TxFields tx_fields(const Example& e) {
  TxFields f;
  f.chain_id = e.at("chain_id");
  f.type = *parse_tx_type(e.at("type"));
  f.sender = SecretKey::from_seed(from_hex(e.at("sender_seed")).value()).public_key();
  f.receiver = Address::from_hex(e.at("receiver")).value();
  f.amount = u64_of(e, "amount");
  f.fee = u64_of(e, "fee");
  f.nonce = u64_of(e, "nonce");
  f.timestamp_ms = u64_of(e, "timestamp");
  return f;
}

}  // namespace

TEST_CASE("docs/protocol.md: the transaction example", "[doc][tx]") {
  auto examples = read_examples();
  REQUIRE(examples.count("transaction"));
  const Example& e = examples["transaction"];
  TxFields f = tx_fields(e);
  SecretKey key = SecretKey::from_seed(from_hex(e.at("sender_seed")).value());
  auto tx = Transaction::sign(f, key);
  check_value(e, "sender", f.sender.hex());
  check_value(e, "signing_bytes", to_hex(f.signing_bytes()));
  check_value(e, "id", tx->id().hex());
  check_value(e, "signature", tx->signature().hex());
  check_value(e, "json", to_json(*tx, false));
}

TEST_CASE("docs/protocol.md: the Merkle example", "[doc][merkle]") {
  auto examples = read_examples();
  const Example& e = examples.at("tx_root");
  std::vector<Hash> ids = {hash_of(e, "id0"), hash_of(e, "id1"), hash_of(e, "id2")};
  check_value(e, "root_of_0", merkle_root({}).hex());
  check_value(e, "root_of_1", merkle_root(std::span(ids).first(1)).hex());
  check_value(e, "root_of_2", merkle_root(std::span(ids).first(2)).hex());
  check_value(e, "root_of_3", merkle_root(ids).hex());
}

TEST_CASE("docs/protocol.md: the block header example", "[doc][block]") {
  auto examples = read_examples();
  const Example& e = examples.at("block");
  SecretKey key = SecretKey::from_seed(from_hex(e.at("forger_seed")).value());
  BlockHeader h;
  h.chain_id = e.at("chain_id");
  h.height = u64_of(e, "height");
  h.parent = hash_of(e, "parent");
  h.slot = u64_of(e, "slot");
  h.timestamp_ms = u64_of(e, "timestamp");
  h.forger = key.public_key();
  h.tx_root = hash_of(e, "tx_root");
  h.state_root = hash_of(e, "state_root");
  h.tx_count = static_cast<std::uint32_t>(u64_of(e, "tx_count"));
  check_value(e, "forger", h.forger.hex());
  check_value(e, "header_bytes", to_hex(h.signing_bytes()));
  check_value(e, "hash", h.hash().hex());
  check_value(e, "signature", key.sign(h.signing_bytes()).hex());
}

TEST_CASE("docs/protocol.md: the leader draw example", "[doc][pos]") {
  auto examples = read_examples();
  const Example& e = examples.at("leader");
  Hash parent = hash_of(e, "parent");
  std::uint64_t slot = u64_of(e, "slot");
  std::map<PublicKey, std::uint64_t> stakers;
  for (int i = 0; i < 3; ++i) {
    auto key = PublicKey::from_hex(e.at("staker" + std::to_string(i))).value();
    stakers[key] = u64_of(e, "stake" + std::to_string(i));
  }
  ProofOfStake pos(stakers);
  Hash seed = ProofOfStake::seed(parent, slot);
  check_value(e, "seed", seed.hex());
  check_value(e, "total_stake", std::to_string(pos.total_stake()));
  std::uint64_t r = ProofOfStake::draw(seed, pos.total_stake());
  check_value(e, "r_mod_total", std::to_string(r));
  check_value(e, "leader", pos.leader(parent, slot)->hex());
}

TEST_CASE("docs/protocol.md: the state root example", "[doc][state]") {
  auto examples = read_examples();
  const Example& e = examples.at("state_root");
  ChainParams p;
  p.chain_id = e.at("chain_id");
  p.genesis_time_ms = u64_of(e, "genesis_time");
  p.slot_ms = u64_of(e, "slot_ms");
  p.finality_depth = u64_of(e, "finality_depth");
  p.unbonding_blocks = u64_of(e, "unbonding_blocks");
  p.exchange_authority = Address::from_hex(e.at("exchange_authority")).value();
  check_value(e, "params_hash", p.hash().hex());
  AccountModel state(p.hash());
  check_value(e, "empty_state_root", state.state_root().hex());
  state.put(Address::from_hex(e.at("account0")).value(),
            Account{u64_of(e, "balance0"), u64_of(e, "stake0"), u64_of(e, "nonce0"), 0, 0});
  check_value(e, "state_root_1", state.state_root().hex());
  state.put(Address::from_hex(e.at("account1")).value(),
            Account{u64_of(e, "balance1"), u64_of(e, "stake1"), u64_of(e, "nonce1"), 0, 0});
  check_value(e, "state_root_2", state.state_root().hex());
}

TEST_CASE("docs/protocol.md: the demo genesis hash", "[doc][genesis]") {
  auto examples = read_examples();
  const Example& e = examples.at("genesis");
  auto genesis = Genesis::load(std::filesystem::path(POS_SOURCE_DIR) / "keys" / "genesis.json");
  REQUIRE(genesis.ok());
  check_value(e, "state_root", genesis->block()->header().state_root.hex());
  check_value(e, "genesis_hash", genesis->hash().hex());
}
