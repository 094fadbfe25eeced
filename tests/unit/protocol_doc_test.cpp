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
// A key the example may leave out, meaning 0.
std::uint64_t u64_or_zero(const Example& e, const std::string& key) {
  return e.count(key) ? u64_of(e, key) : 0;
}
SecretKey key_of(const Example& e, const std::string& key) {
  return SecretKey::from_seed(from_hex(e.at(key)).value());
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

TEST_CASE("docs/protocol.md: the vote example", "[doc][vote]") {
  auto examples = read_examples();
  const Example& e = examples.at("vote");
  SecretKey key = key_of(e, "validator_seed");
  VoteFields f;
  f.chain_id = e.at("chain_id");
  f.source_hash = hash_of(e, "source_hash");
  f.source_height = u64_of(e, "source_height");
  f.target_hash = hash_of(e, "target_hash");
  f.target_height = u64_of(e, "target_height");
  auto vote = Vote::sign(f, key);
  check_value(e, "validator", vote->validator().hex());
  check_value(e, "signing_bytes", to_hex(vote->signing_bytes()));
  check_value(e, "id", vote->id().hex());
  check_value(e, "signature", vote->signature().hex());
  check_value(e, "encoded", to_hex(encode(*vote)));
  check_value(e, "json", to_json(*vote));
  CHECK(vote->check().ok());
  // What the page shows reads back as the same vote.
  auto decoded = decode_vote(from_hex(e.at("encoded")).value());
  REQUIRE(decoded.ok());
  CHECK((*decoded)->id() == vote->id());
  auto parsed = vote_from_json(e.at("json"), f.chain_id);
  REQUIRE(parsed.ok());
  CHECK((*parsed)->check().ok());
}

TEST_CASE("docs/protocol.md: the evidence example", "[doc][evidence]") {
  auto examples = read_examples();
  const Example& e = examples.at("evidence");
  SecretKey key = key_of(e, "offender_seed");
  std::vector<VotePtr> votes;
  for (std::string v : {"vote1", "vote2"}) {
    VoteFields f;
    f.chain_id = e.at("chain_id");
    f.source_hash = hash_of(e, v + "_source_hash");
    f.source_height = u64_of(e, v + "_source_height");
    f.target_hash = hash_of(e, v + "_target_hash");
    f.target_height = u64_of(e, v + "_target_height");
    votes.push_back(Vote::sign(f, key));
  }
  REQUIRE(e.at("kind") == "double_vote");
  auto evidence = Evidence::double_vote(votes[0], votes[1]);
  REQUIRE(evidence.ok());
  const Evidence& ev = **evidence;
  check_value(e, "offender", ev.offender().hex());
  check_value(e, "a", to_hex(ev.a()));
  check_value(e, "sig_a", ev.sig_a().hex());
  check_value(e, "b", to_hex(ev.b()));
  check_value(e, "sig_b", ev.sig_b().hex());
  check_value(e, "evidence_bytes", to_hex(ev.bytes()));
  check_value(e, "id", ev.id().hex());
  check_value(e, "json", to_json(ev));
  CHECK(ev.check(e.at("chain_id")).ok());
  auto decoded = decode_evidence(from_hex(e.at("evidence_bytes")).value());
  REQUIRE(decoded.ok());
  CHECK((*decoded)->check(e.at("chain_id")).ok());
  auto parsed = evidence_from_json(e.at("json"));
  REQUIRE(parsed.ok());
  CHECK((*parsed)->id() == ev.id());
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
  SecretKey key = key_of(e, "forger_seed");
  BlockHeader h;
  h.chain_id = e.at("chain_id");
  h.height = u64_of(e, "height");
  h.parent = hash_of(e, "parent");
  h.slot = u64_of(e, "slot");
  h.timestamp_ms = u64_of(e, "timestamp");
  h.forger = key.public_key();
  Bytes alpha = vrf_input(h.chain_id, hash_of(e, "nonce"), h.slot);
  h.vrf_proof = vrf_prove(key, alpha);
  h.tx_root = hash_of(e, "tx_root");
  h.vote_root = merkle_root({});
  h.evidence_root = merkle_root({});
  h.state_root = hash_of(e, "state_root");
  h.tx_count = static_cast<std::uint32_t>(u64_of(e, "tx_count"));
  h.vote_count = static_cast<std::uint32_t>(u64_of(e, "vote_count"));
  h.evidence_count = static_cast<std::uint32_t>(u64_of(e, "evidence_count"));
  check_value(e, "forger", h.forger.hex());
  check_value(e, "vrf_input", to_hex(alpha));
  check_value(e, "vrf_proof", h.vrf_proof.hex());
  auto output = vrf_verify(h.forger, alpha, h.vrf_proof);
  REQUIRE(output.ok());
  check_value(e, "vrf_output", output->hex());
  check_value(e, "vote_root", h.vote_root.hex());
  check_value(e, "evidence_root", h.evidence_root.hex());
  check_value(e, "header_bytes", to_hex(h.signing_bytes()));
  check_value(e, "hash", h.hash().hex());
  Signature signature = key.sign(h.signing_bytes());
  check_value(e, "signature", signature.hex());
  // The block built from the header derives the same output and hash.
  BlockPtr block = Block::make(h, signature, {});
  CHECK(block->vrf_output().value() == *output);
  CHECK(block->hash().hex() == e.at("hash"));
  CHECK(block->check_signature().ok());
}

TEST_CASE("docs/protocol.md: the VRF example", "[doc][vrf]") {
  auto examples = read_examples();
  const Example& e = examples.at("vrf");
  SecretKey key = key_of(e, "seed");
  check_value(e, "public_key", key.public_key().hex());
  Bytes alpha = vrf_input(e.at("chain_id"), hash_of(e, "nonce"), u64_of(e, "slot"));
  check_value(e, "alpha", to_hex(alpha));
  VrfProof proof = vrf_prove(key, alpha);
  check_value(e, "proof", proof.hex());
  auto output = vrf_verify(key.public_key(), alpha, proof);
  REQUIRE(output.ok());
  check_value(e, "output", output->hex());
  CHECK(vrf_proof_to_hash(proof).value() == *output);
}

TEST_CASE("docs/protocol.md: the epoch nonce example", "[doc][epoch]") {
  auto examples = read_examples();
  const Example& e = examples.at("nonce");
  Hash genesis_hash = hash_of(e, "genesis_hash");
  // The example starts from the demo chain's genesis hash.
  CHECK(e.at("genesis_hash") == examples.at("genesis").at("genesis_hash"));
  Hash nonce0 = initial_nonce(genesis_hash);
  check_value(e, "nonce0", nonce0.hex());
  check_value(e, "nonce1", nonce0.hex());
  auto out0 = VrfOutput::from_hex(e.at("epoch0_output0")).value();
  auto out1 = VrfOutput::from_hex(e.at("epoch0_output1")).value();
  Hash digest0 = Sha256().update(out0.view()).update(out1.view()).finish();
  check_value(e, "epoch0_digest", digest0.hex());
  Hash nonce2 = next_nonce(nonce0, digest0);
  check_value(e, "nonce2", nonce2.hex());
  Hash digest1 = sha256(ByteView());
  check_value(e, "epoch1_digest", digest1.hex());
  Hash nonce3 = next_nonce(nonce2, digest1);
  check_value(e, "nonce3", nonce3.hex());

  // The chain walk gives the same: two blocks in epoch 0, none in epoch 1, then one in epoch 2.
  EpochState s = EpochState::genesis(genesis_hash).child(0, out0).child(0, out1);
  CHECK(s.nonce_of(0) == nonce0);
  CHECK(s.nonce_of(1) == nonce0);
  CHECK(s.nonce_of(2) == nonce2);
  CHECK(s.nonce_of(3) == nonce3);
  EpochState in_epoch2 = s.child(2, out0);
  CHECK(in_epoch2.nonce() == nonce2);
  CHECK(in_epoch2.next_nonce() == nonce3);
}

TEST_CASE("docs/protocol.md: the leader draw example", "[doc][pos]") {
  auto examples = read_examples();
  const Example& e = examples.at("leader");
  Hash nonce = hash_of(e, "nonce");
  std::uint64_t slot = u64_of(e, "slot");
  std::map<PublicKey, std::uint64_t> validators;
  for (int i = 0; i < 3; ++i) {
    auto key = PublicKey::from_hex(e.at("validator" + std::to_string(i))).value();
    validators[key] = u64_of(e, "weight" + std::to_string(i));
  }
  ProofOfStake pos(validators);
  Hash seed = ProofOfStake::seed(nonce, slot);
  check_value(e, "seed", seed.hex());
  check_value(e, "total_weight", std::to_string(pos.total_stake()));
  std::uint64_t r = ProofOfStake::draw(seed, pos.total_stake());
  check_value(e, "r_mod_total", std::to_string(r));
  check_value(e, "leader", pos.leader(nonce, slot)->hex());
}

TEST_CASE("docs/protocol.md: the state root example", "[doc][state]") {
  auto examples = read_examples();
  const Example& e = examples.at("state_root");
  ChainParams p;
  p.chain_id = e.at("chain_id");
  p.genesis_time_ms = u64_of(e, "genesis_time");
  p.slot_ms = u64_of(e, "slot_ms");
  p.unbonding_epochs = u64_of(e, "unbonding_epochs");
  p.epoch_slots = u64_of(e, "epoch_slots");
  p.max_block_txs = u64_of(e, "max_block_txs");
  p.exchange_authority = Address::from_hex(e.at("exchange_authority")).value();
  check_value(e, "params_hash", p.hash().hex());
  AccountModel state(p.hash());
  check_value(e, "empty_state_root", state.state_root().hex());
  for (int i = 0; i < 3; ++i) {
    std::string n = std::to_string(i);
    state.put(Address::from_hex(e.at("account" + n)).value(),
              Account{u64_of(e, "balance" + n), u64_of(e, "stake" + n), u64_of(e, "nonce" + n),
                      u64_or_zero(e, "unbonding" + n), u64_or_zero(e, "unbonding_height" + n),
                      u64_or_zero(e, "slashed" + n) == 1, u64_or_zero(e, "jailed" + n) == 1});
    check_value(e, "state_root_" + std::to_string(i + 1), state.state_root().hex());
  }
}

TEST_CASE("docs/protocol.md: the demo genesis hash", "[doc][genesis]") {
  auto examples = read_examples();
  const Example& e = examples.at("genesis");
  auto genesis = Genesis::load(std::filesystem::path(POS_SOURCE_DIR) / "keys" / "genesis.json");
  REQUIRE(genesis.ok());
  BlockPtr block = genesis->block();
  check_value(e, "params_hash", genesis->params.hash().hex());
  check_value(e, "state_root", block->header().state_root.hex());
  check_value(e, "header_bytes", to_hex(block->header().signing_bytes()));
  check_value(e, "genesis_hash", genesis->hash().hex());
}
