#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

Hash h(int i) {
  Hash out;
  out.bytes[31] = static_cast<std::uint8_t>(i);
  return out;
}

Hash leaf(const Hash& id) {
  Bytes b = {0x00};
  b.insert(b.end(), id.bytes.begin(), id.bytes.end());
  return sha256(b);
}

Hash node(const Hash& l, const Hash& r) {
  Bytes b = {0x01};
  b.insert(b.end(), l.bytes.begin(), l.bytes.end());
  b.insert(b.end(), r.bytes.begin(), r.bytes.end());
  return sha256(b);
}

}  // namespace

TEST_CASE("the tx root is the RFC 6962 Merkle tree hash", "[block][merkle]") {
  CHECK(merkle_root({}) == sha256(std::string_view("")));
  std::vector<Hash> ids = {h(0), h(1), h(2), h(3), h(4)};
  CHECK(merkle_root(std::span(ids).first(1)) == leaf(h(0)));
  CHECK(merkle_root(std::span(ids).first(2)) == node(leaf(h(0)), leaf(h(1))));
  // n = 3 splits at 2; n = 5 splits at 4.
  CHECK(merkle_root(std::span(ids).first(3)) == node(node(leaf(h(0)), leaf(h(1))), leaf(h(2))));
  Hash four = node(node(leaf(h(0)), leaf(h(1))), node(leaf(h(2)), leaf(h(3))));
  CHECK(merkle_root(ids) == node(four, leaf(h(4))));
}

TEST_CASE("a forged block passes the body and signature checks and round-trips JSON",
          "[block][json]") {
  TestNet net;
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 10, 1, 0, 1);
  REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
  BlockPtr block = net.forge(net.next_slot(0));
  REQUIRE(block->check_body().ok());
  REQUIRE(block->check_signature().ok());
  CHECK(block->transactions().size() == 1);
  auto back = block_from_json(to_json(*block), net.chain_id());
  REQUIRE(back.ok());
  CHECK((*back)->hash() == block->hash());
  CHECK((*back)->signature() == block->signature());
  CHECK((*back)->transactions()[0]->id() == tx->id());
  CHECK((*back)->check_body().ok());
  CHECK((*back)->check_signature().ok());
}

TEST_CASE("block JSON with a VRF proof that does not decode is refused", "[block][json]") {
  TestNet net;
  BlockPtr block = net.craft({});
  std::string json = to_json(*block);
  std::string proof = block->header().vrf_proof.hex();
  json.replace(json.find(proof), proof.size(), std::string(proof.size(), 'f'));
  auto vrf_output = json.find("\"vrf_output\"");
  json.erase(vrf_output, json.find(',', vrf_output) - vrf_output + 1);
  auto hash = json.find("\"hash\"");
  json.erase(hash, json.find(',', hash) - hash + 1);
  auto back = block_from_json(json, net.chain_id());
  REQUIRE_FALSE(back.ok());
  CHECK_THAT(back.error().message, Catch::Contains("vrf_proof"));
}

TEST_CASE("the genesis block has an empty signature in JSON", "[block][json]") {
  TestNet net;
  BlockPtr genesis = net.genesis.block();
  std::string json = to_json(*genesis);
  CHECK(json.find("\"signature\":\"\"") != std::string::npos);
  auto back = block_from_json(json, net.chain_id());
  REQUIRE(back.ok());
  CHECK((*back)->hash() == genesis->hash());
}

TEST_CASE("block JSON is parsed strictly", "[block][json]") {
  TestNet net;
  std::string json = to_json(*net.forge(net.next_slot(0)));
  auto reason = [&](std::string text) {
    auto b = block_from_json(text, net.chain_id());
    REQUIRE_FALSE(b.ok());
    return b.reason();
  };
  auto replace = [&](const std::string& from, const std::string& to) {
    return replace_first(json, from, to);
  };
  CHECK(reason(replace("\"height\":1", "\"height\":1.0")) == Reason::kMalformed);
  std::string proof = block_from_json(json, net.chain_id()).value()->header().vrf_proof.hex();
  CHECK(reason(replace(proof, proof.substr(0, 158))) == Reason::kMalformed);  // truncated
  CHECK(reason(replace(proof, proof + "00")) == Reason::kMalformed);          // too long

  CHECK(reason(replace("\"height\":1", "\"height\":-1")) == Reason::kMalformed);
  CHECK(reason(replace("\"tx_count\":0", "\"tx_count\":4294967296")) == Reason::kMalformed);
  CHECK(reason(replace("\"transactions\":[]", "\"transactions\":{}")) == Reason::kMalformed);
  CHECK(reason(replace("\"slot\":", "\"extra\":1,\"slot\":")) == Reason::kMalformed);
  CHECK(reason(replace("\"height\":1", "\"height\":2")) == Reason::kIdMismatch);
  CHECK(reason(replace("\"signature\":\"", "\"signature\":\"zz")) == Reason::kMalformed);
  CHECK(reason(replace("\"transactions\":[]", "\"transactions\":[{}]")) == Reason::kMalformed);
}

TEST_CASE("context-free checks catch count, root, signature and chain", "[block]") {
  TestNet net;
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 10, 1, 0, 1);
  SECTION("tx count") {
    BlockPtr b = net.craft({tx}, [](BlockHeader& hd) { hd.tx_count = 2; });
    CHECK(b->check_body().reason() == Reason::kBadTxCount);
  }
  SECTION("tx root") {
    BlockPtr b = net.craft({tx}, [](BlockHeader& hd) { hd.tx_root.bytes[0] ^= 1; });
    CHECK(b->check_body().reason() == Reason::kBadTxRoot);
    // A failed form is not kept as a pass: asked again, the block fails again.
    CHECK(b->check_form().reason() == Reason::kBadTxRoot);
  }
  SECTION("a block's form passes again once it passed") {
    BlockPtr b = net.craft({tx});
    CHECK(b->check_form().ok());
    CHECK(b->check_form().ok());
  }
  SECTION("signature") {
    BlockPtr b = net.craft({tx});
    Signature sig = b->signature();
    sig.bytes[5] ^= 1;
    CHECK(Block::make(b->header(), sig, b->transactions())->check_signature().reason() ==
          Reason::kBadBlockSignature);
  }
  SECTION("a transaction of another chain") {
    auto other = net.users[0].transfer("pos-other", net.users[1].public_key(), 10, 1, 0, 1);
    BlockPtr b = net.craft({other});
    CHECK(b->check_body().reason() == Reason::kWrongChain);
  }
  SECTION("too many transactions") {
    std::vector<TransactionPtr> many(kMaxBlockTransactions + 1, tx);
    BlockPtr b = net.craft(many);
    CHECK(b->check_body().reason() == Reason::kTooManyTransactions);
  }
  SECTION("too many bytes") {
    TxFields f = tx->fields();
    f.chain_id = std::string(40000, 'x');
    auto fat = Transaction::make(f, tx->signature());
    BlockPtr b = net.craft(std::vector<TransactionPtr>(200, fat),
                           [](BlockHeader& hd) { hd.chain_id = std::string(40000, 'x'); });
    CHECK(b->encoded_size() > kMaxBlockBytes);
    CHECK(b->check_body().reason() == Reason::kBlockTooLarge);
  }
}

TEST_CASE("a block carries votes and evidence under its roots, in binary and JSON",
          "[block][vote][evidence]") {
  TestNet net;
  std::vector<VotePtr> votes = {vote_by(net, net.validators[0], 0, 1),
                                vote_by(net, net.validators[1], 0, 1)};
  auto evidence = Evidence::double_vote(vote_by(net, net.validators[2], 0, 3),
                                        vote_by(net, net.validators[2], 1, 3));
  REQUIRE(evidence.ok());
  BlockPtr block = net.forge_next(votes, {*evidence});
  CHECK(block->header().vote_count == 2);
  CHECK(block->header().evidence_count == 1);
  CHECK(block->header().vote_root ==
        merkle_root(std::vector<Hash>{votes[0]->id(), votes[1]->id()}));
  CHECK(block->header().evidence_root == merkle_root(std::vector<Hash>{(*evidence)->id()}));
  REQUIRE(block->check_body().ok());

  Bytes bytes = encode(*block);
  CHECK(bytes.size() == block->encoded_size());
  auto binary = decode_block(bytes);
  REQUIRE(binary.ok());
  auto json = block_from_json(to_json(*block), net.chain_id());
  REQUIRE(json.ok());
  for (const BlockPtr& back : {*binary, *json}) {
    CHECK(back->hash() == block->hash());
    REQUIRE(back->votes().size() == 2);
    CHECK(back->votes()[1]->id() == votes[1]->id());
    CHECK(back->votes()[1]->signature() == votes[1]->signature());
    REQUIRE(back->evidence().size() == 1);
    CHECK(back->evidence()[0]->id() == (*evidence)->id());
    CHECK(back->check_body().ok());
    CHECK(back->check_signature().ok());
  }
  for (std::size_t n = 0; n < bytes.size(); ++n)
    REQUIRE_FALSE(decode_block(ByteView(bytes.data(), n)).ok());
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK(decode_block(longer).reason() == Reason::kMalformed);
}

TEST_CASE("a block's votes and evidence are checked against its header and on their own",
          "[block][vote][evidence]") {
  TestNet net;
  VotePtr a = vote_by(net, net.validators[0], 0, 1), b = vote_by(net, net.validators[1], 0, 1);
  auto reason = [](const BlockPtr& block) {
    Status s = block->check_body();
    REQUIRE_FALSE(s.ok());
    INFO(s.error().to_string());
    return s.reason();
  };
  BlockPtr good = net.forge_next({a, b}, {});
  const Signature& sig = good->signature();
  // The body disagrees with the header: one vote fewer, or the votes in another order.
  CHECK(reason(Block::make(good->header(), sig, {}, {a}, {})) == Reason::kMalformed);
  CHECK(reason(Block::make(good->header(), sig, {}, {b, a}, {})) == Reason::kMalformed);
  BlockHeader counted = good->header();
  counted.evidence_count = 1;
  CHECK(reason(Block::make(counted, sig, {}, {a, b}, {})) == Reason::kMalformed);

  Signature forged = b->signature();
  forged.bytes[0] ^= 1;
  VotePtr bad_signature = Vote::make(b->fields(), forged);
  CHECK(reason(net.forge_next({a, bad_signature}, {})) == Reason::kBadSignature);
  VoteFields elsewhere = a->fields();
  elsewhere.chain_id = "pos-other";
  CHECK(reason(net.forge_next({Vote::sign(elsewhere, net.validators[0].secret_key())}, {})) ==
        Reason::kWrongChain);
  CHECK(reason(net.forge_next({vote_by(net, net.validators[0], 3, 3)}, {})) == Reason::kBadVote);

  auto e = Evidence::double_vote(vote_by(net, net.validators[2], 0, 3),
                                 vote_by(net, net.validators[2], 1, 3));
  REQUIRE(e.ok());
  Signature bad = (*e)->sig_b();
  bad.bytes[7] ^= 1;
  auto broken =
      Evidence::make((*e)->kind(), (*e)->offender(), (*e)->a(), (*e)->sig_a(), (*e)->b(), bad);
  CHECK(reason(net.forge_next({}, {broken})) == Reason::kBadEvidence);
  std::vector<EvidencePtr> too_many(kMaxBlockEvidence + 1, *e);
  CHECK(reason(net.forge_next({}, too_many)) == Reason::kMalformed);
  CHECK(net.forge_next({}, std::vector<EvidencePtr>(kMaxBlockEvidence, *e))->check_body().ok());
}
