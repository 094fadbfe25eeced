#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "pos/p2p_messages.h"
#include "test_support.h"

using namespace pos;
using namespace pos::p2p;
using namespace pos::test;

namespace {

Message round_trip(const Message& m, const std::string& chain_id) {
  Bytes frame = encode_frame(m);
  auto size = frame_size(frame);
  REQUIRE(size.ok());
  REQUIRE(size->has_value());
  CHECK(**size == frame.size());
  auto back = decode_frame(frame, chain_id);
  INFO((back.ok() ? std::string("ok") : back.error().to_string()));
  REQUIRE(back.ok());
  CHECK(back->index() == m.index());
  return *back;
}

std::uint32_t le32(const Bytes& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | static_cast<std::uint32_t>(b[at + 1]) << 8 |
         static_cast<std::uint32_t>(b[at + 2]) << 16 | static_cast<std::uint32_t>(b[at + 3]) << 24;
}

}  // namespace

TEST_CASE("every message kind survives its frame", "[p2p][wire]") {
  TestNet net;
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 5, 1, 0, 9);
  REQUIRE(net.pool.add(tx, net.chain->state(), net.now()).ok());
  BlockPtr block = net.advance();

  Hello hello{kProtocolVersion,   net.chain_id(),
              net.genesis.hash(), sha256(std::string_view("n")),
              "127.0.0.1:7000",   1,
              block->hash()};
  auto h = std::get<Hello>(round_trip(hello, net.chain_id()));
  CHECK(h.chain_id == net.chain_id());
  CHECK(h.genesis_hash == net.genesis.hash());
  CHECK(h.node_id == hello.node_id);
  CHECK(h.listen_address == "127.0.0.1:7000");
  CHECK(h.best_height == 1);
  CHECK(h.best_hash == block->hash());

  round_trip(GetPeers{}, net.chain_id());
  auto peers = std::get<Peers>(
      round_trip(Peers{{{"10.0.0.1", 7000}, {"node.example", 7001}}}, net.chain_id()));
  CHECK(peers.peers == std::vector<PeerAddress>{{"10.0.0.1", 7000}, {"node.example", 7001}});
  auto txs = std::get<Txs>(round_trip(Txs{{tx}}, net.chain_id()));
  REQUIRE(txs.txs.size() == 1);
  CHECK(txs.txs[0]->id() == tx->id());
  auto nb = std::get<NewBlock>(round_trip(NewBlock{block}, net.chain_id()));
  CHECK(nb.block->hash() == block->hash());
  auto gb = std::get<GetBlocks>(
      round_trip(GetBlocks{{block->hash(), net.genesis.hash()}, 100}, net.chain_id()));
  CHECK(gb.locator == std::vector<Hash>{block->hash(), net.genesis.hash()});
  CHECK(gb.max_blocks == 100);
  auto bs = std::get<Blocks>(round_trip(Blocks{{net.genesis.block(), block}}, net.chain_id()));
  REQUIRE(bs.blocks.size() == 2);
  CHECK(bs.blocks[1]->hash() == block->hash());
  CHECK(std::get<Ping>(round_trip(Ping{42}, net.chain_id())).nonce == 42);
  CHECK(std::get<Pong>(round_trip(Pong{43}, net.chain_id())).nonce == 43);
  auto r = std::get<Reject>(round_trip(Reject{"wrong_chain", "go away"}, net.chain_id()));
  CHECK(r.code == "wrong_chain");
  CHECK(message_kind(Message(r)) == "reject");
}

TEST_CASE("frame sizes are known from the segment table, before any allocation", "[p2p][wire]") {
  Bytes frame = encode_frame(Ping{1});
  for (std::size_t n = 0; n < 8; ++n) {
    auto size = frame_size(ByteView(frame.data(), n));
    REQUIRE(size.ok());
    CHECK_FALSE(size->has_value());
  }
  // A frame that declares 1 GiB in its segment table is refused from its first 8 bytes.
  Bytes huge = {0, 0, 0, 0, 0, 0, 0, 0x08};  // one segment of 0x08000000 words
  auto size = frame_size(huge);
  REQUIRE_FALSE(size.ok());
  CHECK_THAT(size.error().message, Catch::Contains("limit"));
  // So is one that declares too many segments.
  Bytes many = {0xff, 0xff, 0, 0};
  CHECK_FALSE(frame_size(many).ok());
}

TEST_CASE("truncated, padded and garbage frames are refused, never a crash", "[p2p][wire]") {
  TestNet net;
  Bytes frame = encode_frame(NewBlock{net.advance()});
  for (std::size_t n = 0; n < frame.size(); ++n)
    CHECK_FALSE(decode_frame(ByteView(frame.data(), n), net.chain_id()).ok());
  Bytes longer = frame;
  longer.insert(longer.end(), 8, 0);
  CHECK_FALSE(decode_frame(longer, net.chain_id()).ok());
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    Bytes garbage(8 + rng() % 300);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    if (i % 2 == 0) {  // a plausible segment table over garbage content
      garbage[0] = garbage[1] = garbage[2] = garbage[3] = 0;
      std::uint32_t words = static_cast<std::uint32_t>((garbage.size() - 8) / 8);
      garbage.resize(8 + 8 * words);
      for (int k = 0; k < 4; ++k)
        garbage[4 + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(words >> (8 * k));
    }
    auto decoded = decode_frame(garbage, net.chain_id());
    if (decoded.ok()) continue;  // garbage that happens to be a valid message is fine
    CHECK((decoded.reason() == Reason::kMalformed || decoded.reason() == Reason::kUnknownType ||
           decoded.reason() == Reason::kWrongChain ||
           decoded.reason() == Reason::kTooManyTransactions ||
           decoded.reason() == Reason::kBlockTooLarge));
  }
  // Flipping bytes of a valid frame never crashes either.
  for (std::size_t i = 0; i < frame.size(); i += 3) {
    Bytes flipped = frame;
    flipped[i] ^= 0xa5;
    (void)decode_frame(flipped, net.chain_id());
  }
  CHECK(le32(frame, 0) == 0);  // encode_frame writes one segment
}

TEST_CASE("messages over their limits or for another chain are refused", "[p2p][wire]") {
  TestNet net;
  auto tx = net.users[0].transfer(net.chain_id(), net.users[1].public_key(), 5, 1, 0, 9);
  CHECK(decode_frame(encode_frame(Txs{std::vector<TransactionPtr>(kMaxTxsPerMessage + 1, tx)}),
                     net.chain_id())
            .reason() == Reason::kMalformed);
  CHECK(decode_frame(encode_frame(GetBlocks{std::vector<Hash>(kMaxLocatorHashes + 1), 1}),
                     net.chain_id())
            .reason() == Reason::kMalformed);
  CHECK(decode_frame(encode_frame(Peers{std::vector<PeerAddress>(kMaxPeersPerMessage + 1)}),
                     net.chain_id())
            .reason() == Reason::kMalformed);
  CHECK(decode_frame(encode_frame(Reject{std::string(kMaxTextBytes + 1, 'x'), ""}), net.chain_id())
            .reason() == Reason::kMalformed);
  CHECK(decode_frame(encode_frame(Txs{{tx}}), "pos-other").reason() == Reason::kWrongChain);
  CHECK(decode_frame(encode_frame(NewBlock{net.advance()}), "pos-other").reason() ==
        Reason::kWrongChain);
  // A block batch past the frame limit is refused by its size alone.
  TxFields fat = tx->fields();
  std::vector<TransactionPtr> txs(9000, Transaction::make(fat, tx->signature()));
  BlockHeader h = net.genesis.block()->header();
  h.tx_count = static_cast<std::uint32_t>(txs.size());
  BlockPtr big = Block::make(h, Signature{}, txs);
  auto decoded = decode_frame(encode_frame(Blocks{std::vector<BlockPtr>(12, big)}), net.chain_id());
  REQUIRE_FALSE(decoded.ok());
  CHECK_THAT(decoded.error().message, Catch::Contains("limit"));
}

namespace {

// A signed vote of `chain_id` by test key `signer` to a made-up target at `target_height`.
VotePtr sample_vote(const std::string& chain_id, std::uint64_t target_height,
                    std::uint32_t signer = 1) {
  VoteFields f;
  f.chain_id = chain_id;
  f.source_hash = filled(0x11);
  f.source_height = 1;
  f.target_hash = filled(static_cast<std::uint8_t>(target_height));
  f.target_height = target_height;
  return Vote::sign(f, key_from_index(signer));
}

// Where `part` starts in `bytes` (it must be there).
std::size_t offset_of(const Bytes& bytes, const Bytes& part) {
  auto at = std::search(bytes.begin(), bytes.end(), part.begin(), part.end());
  REQUIRE(at != bytes.end());
  return static_cast<std::size_t>(at - bytes.begin());
}

}  // namespace

TEST_CASE("a Votes message survives its frame: each vote's bytes, id and order", "[p2p][wire]") {
  std::vector<VotePtr> votes = {sample_vote("pos-test", 5, 1), sample_vote("pos-test", 5, 2),
                                sample_vote("pos-test", 6, 1)};
  auto back = std::get<Votes>(round_trip(Votes{votes}, "pos-test"));
  REQUIRE(back.votes.size() == votes.size());
  for (std::size_t i = 0; i < votes.size(); ++i) {
    CHECK(back.votes[i]->id() == votes[i]->id());
    CHECK(back.votes[i]->validator() == votes[i]->validator());
    CHECK(back.votes[i]->signature() == votes[i]->signature());
    CHECK(encode(*back.votes[i]) == encode(*votes[i]));
    CHECK(back.votes[i]->check_signature().ok());
  }
  CHECK(message_kind(Message(back)) == "votes");
  CHECK(std::get<Votes>(round_trip(Votes{}, "pos-test")).votes.empty());
  // A full message of the largest votes (the longest chain id) is far below the frame limit.
  std::vector<VotePtr> full;
  for (std::uint64_t h = 1; h <= kMaxVotesPerMessage; ++h)
    full.push_back(sample_vote(std::string(kMaxChainIdLength, 'c'), h));
  Bytes frame = encode_frame(Votes{full});
  CHECK(frame.size() < kMaxFrameBytes / 32);
  auto decoded = decode_frame(frame, std::string(kMaxChainIdLength, 'c'));
  REQUIRE(decoded.ok());
  CHECK(std::get<Votes>(*decoded).votes.size() == kMaxVotesPerMessage);
}

TEST_CASE("a Votes message over kMaxVotesPerMessage is refused from its count, before decoding",
          "[p2p][wire]") {
  VotePtr vote = sample_vote("pos-test", 5);
  std::vector<VotePtr> many(kMaxVotesPerMessage + 1, vote);
  Bytes frame = encode_frame(Votes{many});
  // The first vote's bytes are garbage: were any vote decoded first, that would be the refusal.
  Bytes first = encode(*vote);
  std::size_t at = offset_of(frame, first);
  for (std::size_t i = 0; i < first.size(); ++i) frame[at + i] = 0xee;
  auto decoded = decode_frame(frame, "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kMalformed);
  CHECK_THAT(decoded.error().message,
             Catch::Contains(std::to_string(kMaxVotesPerMessage + 1) + " votes") &&
                 Catch::Contains("limit is " + std::to_string(kMaxVotesPerMessage)));
}

TEST_CASE("a Votes message with garbage bytes in one vote is malformed", "[p2p][wire]") {
  std::vector<VotePtr> votes = {sample_vote("pos-test", 5), sample_vote("pos-test", 6),
                                sample_vote("pos-test", 7)};
  Bytes frame = encode_frame(Votes{votes});
  Bytes middle = encode(*votes[1]);
  std::size_t at = offset_of(frame, middle);

  SECTION("every byte of it garbage") {
    std::mt19937_64 rng(11);
    for (std::size_t i = 0; i < middle.size(); ++i)
      frame[at + i] = static_cast<std::uint8_t>(rng());
  }
  SECTION("its tag changed") {
    frame[at + 4] ^= 0x20;
  }
  SECTION("its chain id one byte longer than its bytes allow") {
    ++frame[at + 12];
  }
  auto decoded = decode_frame(frame, "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kMalformed);
}

TEST_CASE("a vote of another chain in a Votes message is refused as wrong_chain", "[p2p][wire]") {
  std::vector<VotePtr> votes = {sample_vote("pos-test", 5), sample_vote("pos-other", 6)};
  auto decoded = decode_frame(encode_frame(Votes{votes}), "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kWrongChain);
}

TEST_CASE("the same vote twice in one Votes message is malformed", "[p2p][wire]") {
  VotePtr a = sample_vote("pos-test", 5);
  VotePtr b = sample_vote("pos-test", 6);
  auto decoded = decode_frame(encode_frame(Votes{{a, b, a}}), "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kMalformed);
  CHECK_THAT(decoded.error().message, Catch::Contains(a->id().hex()));
  // Equal fields under another validator's key are another vote (another id): both pass.
  auto other = decode_frame(encode_frame(Votes{{a, sample_vote("pos-test", 5, 2)}}), "pos-test");
  CHECK(other.ok());
}

namespace {

// Double-vote evidence of `chain_id` against test key `signer`: two signed votes for target
// height `target_height` with different target hashes. Distinct heights make distinct ids.
EvidencePtr sample_evidence(const std::string& chain_id, std::uint64_t target_height,
                            std::uint32_t signer = 1) {
  auto vote = [&](std::uint8_t variant) {
    VoteFields f;
    f.chain_id = chain_id;
    f.source_hash = filled(0x11);
    f.source_height = 1;
    f.target_hash = filled(variant);
    f.target_hash.bytes[0] = static_cast<std::uint8_t>(target_height);
    f.target_height = target_height;
    return Vote::sign(f, key_from_index(signer));
  };
  auto evidence = Evidence::double_vote(vote(0x21), vote(0x22));
  REQUIRE(evidence.ok());
  return *evidence;
}

}  // namespace

TEST_CASE("an EvidenceList survives its frame: each evidence's bytes, id and order",
          "[p2p][wire][evidence]") {
  std::vector<EvidencePtr> evidence = {sample_evidence("pos-test", 5, 1),
                                       sample_evidence("pos-test", 5, 2),
                                       sample_evidence("pos-test", 6, 1)};
  auto back = std::get<EvidenceList>(round_trip(EvidenceList{evidence}, "pos-test"));
  REQUIRE(back.evidence.size() == evidence.size());
  for (std::size_t i = 0; i < evidence.size(); ++i) {
    CHECK(back.evidence[i]->id() == evidence[i]->id());
    CHECK(back.evidence[i]->bytes() == evidence[i]->bytes());
    CHECK(back.evidence[i]->kind() == EvidenceKind::kDoubleVote);
    CHECK(back.evidence[i]->offender() == evidence[i]->offender());
    CHECK(back.evidence[i]->check("pos-test").ok());
  }
  CHECK(message_kind(Message(back)) == "evidence");
  CHECK(std::get<EvidenceList>(round_trip(EvidenceList{}, "pos-test")).evidence.empty());
  // A full message of evidence with the longest chain id is far below the frame limit.
  std::vector<EvidencePtr> full;
  for (std::uint64_t h = 1; h <= kMaxEvidencePerMessage; ++h)
    full.push_back(sample_evidence(std::string(kMaxChainIdLength, 'c'), h));
  Bytes frame = encode_frame(EvidenceList{full});
  CHECK(frame.size() < kMaxFrameBytes / 64);
  auto decoded = decode_frame(frame, std::string(kMaxChainIdLength, 'c'));
  REQUIRE(decoded.ok());
  CHECK(std::get<EvidenceList>(*decoded).evidence.size() == kMaxEvidencePerMessage);
}

TEST_CASE("an EvidenceList over kMaxEvidencePerMessage is refused from its count, before decoding",
          "[p2p][wire][evidence]") {
  CHECK(kMaxEvidencePerMessage == 64);
  EvidencePtr one = sample_evidence("pos-test", 5);
  Bytes frame =
      encode_frame(EvidenceList{std::vector<EvidencePtr>(kMaxEvidencePerMessage + 1, one)});
  // The first evidence's bytes are garbage: were any decoded first, that would be the refusal.
  std::size_t at = offset_of(frame, one->bytes());
  for (std::size_t i = 0; i < one->bytes().size(); ++i) frame[at + i] = 0xee;
  auto decoded = decode_frame(frame, "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kMalformed);
  CHECK_THAT(decoded.error().message,
             Catch::Contains(std::to_string(kMaxEvidencePerMessage + 1) + " evidence") &&
                 Catch::Contains("limit is " + std::to_string(kMaxEvidencePerMessage)));
}

TEST_CASE("an EvidenceList with garbage bytes in one evidence is malformed",
          "[p2p][wire][evidence]") {
  std::vector<EvidencePtr> evidence = {sample_evidence("pos-test", 5),
                                       sample_evidence("pos-test", 6),
                                       sample_evidence("pos-test", 7)};
  Bytes frame = encode_frame(EvidenceList{evidence});
  const Bytes& middle = evidence[1]->bytes();
  std::size_t at = offset_of(frame, middle);
  // "pos/evidence/v1" (15 bytes), u8 kind, offender (32), then u32 len(a).
  constexpr std::size_t kKind = 15;
  constexpr std::size_t kLengthA = 15 + 1 + 32;

  SECTION("every byte of it garbage") {
    std::mt19937_64 rng(13);
    for (std::size_t i = 0; i < middle.size(); ++i)
      frame[at + i] = static_cast<std::uint8_t>(rng());
  }
  SECTION("its tag changed") {
    frame[at + 4] ^= 0x20;
  }
  SECTION("an unknown kind") {
    frame[at + kKind] = 9;
  }
  SECTION("item a longer than kMaxEvidenceItemBytes") {
    frame[at + kLengthA + 2] = 0x10;  // 4096 bytes and more
  }
  SECTION("item a one byte longer than its bytes allow") {
    ++frame[at + kLengthA + 3];
  }
  auto decoded = decode_frame(frame, "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kMalformed);
}

TEST_CASE("the same evidence twice in one EvidenceList is malformed", "[p2p][wire][evidence]") {
  EvidencePtr a = sample_evidence("pos-test", 5);
  EvidencePtr b = sample_evidence("pos-test", 6);
  auto decoded = decode_frame(encode_frame(EvidenceList{{a, b, a}}), "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kMalformed);
  CHECK_THAT(decoded.error().message, Catch::Contains(a->id().hex()));
  // The same offence by another key is other evidence (another id): both pass.
  CHECK(decode_frame(encode_frame(EvidenceList{{a, sample_evidence("pos-test", 5, 2)}}), "pos-test")
            .ok());
}

TEST_CASE("evidence of another chain is wrong_chain; items that do not parse are the node's",
          "[p2p][wire][evidence]") {
  EvidencePtr ours = sample_evidence("pos-test", 5);
  EvidencePtr theirs = sample_evidence("pos-other", 6);
  auto decoded = decode_frame(encode_frame(EvidenceList{{ours, theirs}}), "pos-test");
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.reason() == Reason::kWrongChain);
  // One item of another chain is enough, in either place.
  for (bool in_b : {false, true}) {
    Bytes a = in_b ? ours->a() : theirs->a();
    Bytes b = in_b ? theirs->b() : ours->b();
    auto mixed = Evidence::make(EvidenceKind::kDoubleVote, ours->offender(), a, ours->sig_a(), b,
                                ours->sig_b());
    CHECK(decode_frame(encode_frame(EvidenceList{{mixed}}), "pos-test").reason() ==
          Reason::kWrongChain);
  }
  // Items that are not this chain's layouts at all pass the decoder: Evidence::check at the node
  // refuses them (bad_evidence), as it refuses a bad signature.
  auto junk = Evidence::make(EvidenceKind::kDoubleVote, ours->offender(), Bytes{1, 2, 3},
                             ours->sig_a(), Bytes{4, 5, 6}, ours->sig_b());
  auto passed = decode_frame(encode_frame(EvidenceList{{junk}}), "pos-test");
  REQUIRE(passed.ok());
  REQUIRE(std::get<EvidenceList>(*passed).evidence.size() == 1);
  CHECK(std::get<EvidenceList>(*passed).evidence[0]->check("pos-test").reason() ==
        Reason::kBadEvidence);
}
