#include <catch2/catch.hpp>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

const std::string kChain = "pos-test";

// A header of the offender's (key 1) for `slot`; `variant` changes the state root only.
BlockHeader header(std::uint64_t slot, std::uint8_t variant, const std::string& chain = kChain) {
  BlockHeader h;
  h.chain_id = chain;
  h.height = 7;
  h.parent = filled(0x01);
  h.slot = slot;
  h.timestamp_ms = kGenesisTime + slot * 1000;
  h.forger = key_from_index(1).public_key();
  h.vrf_proof.bytes.fill(0x5a);  // evidence does not look at the proof
  h.tx_root = merkle_root({});
  h.vote_root = merkle_root({});
  h.evidence_root = merkle_root({});
  h.state_root = filled(variant);
  return h;
}

Signature sign_header(const BlockHeader& h, std::uint32_t key = 1) {
  return key_from_index(key).sign(h.signing_bytes());
}

VotePtr vote(std::uint64_t source, std::uint64_t target, std::uint8_t target_byte = 0x22,
             std::uint32_t key = 1, const std::string& chain = kChain) {
  VoteFields f;
  f.chain_id = chain;
  f.source_hash = filled(0x11);
  f.source_height = source;
  f.target_hash = filled(target_byte);
  f.target_height = target;
  return Vote::sign(f, key_from_index(key));
}

Bytes be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

EvidencePtr valid_double_block() {
  BlockHeader x = header(9, 0x33);
  BlockHeader y = header(9, 0x44);
  return Evidence::double_block(x, sign_header(x), y, sign_header(y)).value();
}

EvidencePtr valid_double_vote() {
  return Evidence::double_vote(vote(4, 5, 0x22), vote(4, 5, 0x23)).value();
}

EvidencePtr valid_surround_vote() {
  return Evidence::surround_vote(vote(2, 9), vote(3, 8)).value();
}

// The same evidence with some parts replaced.
EvidencePtr remade(const Evidence& e, std::optional<Bytes> a, std::optional<Signature> sig_a,
                   std::optional<Bytes> b, std::optional<Signature> sig_b) {
  return Evidence::make(e.kind(), e.offender(), a.value_or(e.a()), sig_a.value_or(e.sig_a()),
                        b.value_or(e.b()), sig_b.value_or(e.sig_b()));
}

Reason refusal(const Evidence& e, const std::string& chain = kChain) {
  Status s = e.check(chain);
  REQUIRE_FALSE(s.ok());
  return s.reason();
}

}  // namespace

TEST_CASE("evidence bytes and id follow the layout of docs/protocol.md", "[evidence]") {
  auto e = valid_double_vote();
  Bytes expected =
      concat({text("pos/evidence/v1"), Bytes{2}, e->offender().view(),
              be32(static_cast<std::uint32_t>(e->a().size())), e->a(), e->sig_a().view(),
              be32(static_cast<std::uint32_t>(e->b().size())), e->b(), e->sig_b().view()});
  CHECK(e->bytes() == expected);
  CHECK(e->bytes().size() == 15 + 1 + 32 + 2 * (4 + 101 + 64));
  CHECK(e->id() == sha256(expected));
  CHECK(encode(*e) == expected);
  CHECK(e->offender() == key_from_index(1).public_key());
  // The id covers the signatures: a second valid signature would be a second id.
  auto other_sig = Evidence::make(e->kind(), e->offender(), e->a(), e->sig_b(), e->b(), e->sig_a());
  CHECK(other_sig->id() != e->id());
}

TEST_CASE("evidence kinds have names", "[evidence]") {
  CHECK(evidence_kind_name(EvidenceKind::kDoubleBlock) == "double_block");
  CHECK(evidence_kind_name(EvidenceKind::kDoubleVote) == "double_vote");
  CHECK(evidence_kind_name(EvidenceKind::kSurroundVote) == "surround_vote");
  CHECK(parse_evidence_kind("surround_vote") == EvidenceKind::kSurroundVote);
  CHECK_FALSE(parse_evidence_kind("unknown").has_value());
  CHECK_FALSE(parse_evidence_kind("DOUBLE_VOTE").has_value());
  CHECK(static_cast<int>(EvidenceKind::kDoubleBlock) == 1);
  CHECK(static_cast<int>(EvidenceKind::kDoubleVote) == 2);
  CHECK(static_cast<int>(EvidenceKind::kSurroundVote) == 3);
}

TEST_CASE("double block evidence from two headers of one slot, in either order", "[evidence]") {
  BlockHeader x = header(9, 0x44);
  BlockHeader y = header(9, 0x33);  // y's bytes are below x's
  auto e = Evidence::double_block(x, sign_header(x), y, sign_header(y));
  REQUIRE(e.ok());
  CHECK((*e)->kind() == EvidenceKind::kDoubleBlock);
  CHECK((*e)->offender() == x.forger);
  CHECK((*e)->a() == y.signing_bytes());
  CHECK((*e)->sig_a() == sign_header(y));
  CHECK((*e)->b() == x.signing_bytes());
  CHECK((*e)->sig_b() == sign_header(x));
  CHECK((*e)->check(kChain).ok());
  auto swapped = Evidence::double_block(y, sign_header(y), x, sign_header(x));
  REQUIRE(swapped.ok());
  CHECK((*swapped)->id() == (*e)->id());
  // Heights may differ: one slot is the offence.
  BlockHeader higher = header(9, 0x33);
  higher.height = 8;
  CHECK(Evidence::double_block(x, sign_header(x), higher, sign_header(higher)).ok());
  // From blocks too.
  auto bx = Block::make(x, sign_header(x), {});
  auto by = Block::make(y, sign_header(y), {});
  auto from_blocks = Evidence::double_block(bx, by);
  REQUIRE(from_blocks.ok());
  CHECK((*from_blocks)->id() == (*e)->id());
}

TEST_CASE("double vote evidence from two votes of one target height, in either order",
          "[evidence]") {
  auto x = vote(4, 5, 0x23);
  auto y = vote(4, 5, 0x22);
  auto e = Evidence::double_vote(x, y);
  REQUIRE(e.ok());
  CHECK((*e)->kind() == EvidenceKind::kDoubleVote);
  CHECK((*e)->offender() == x->validator());
  CHECK((*e)->a() == y->signing_bytes());
  CHECK((*e)->sig_a() == y->signature());
  CHECK((*e)->b() == x->signing_bytes());
  CHECK((*e)->sig_b() == x->signature());
  CHECK((*e)->check(kChain).ok());
  CHECK(Evidence::double_vote(y, x).value()->id() == (*e)->id());
  // Different sources for one target are a double vote too.
  CHECK(Evidence::double_vote(vote(4, 5), vote(3, 5)).ok());
}

TEST_CASE("surround vote evidence puts the surrounding vote first", "[evidence]") {
  auto outer = vote(2, 9);
  auto inner = vote(3, 8);
  for (auto [x, y] : {std::pair{outer, inner}, std::pair{inner, outer}}) {
    auto e = Evidence::surround_vote(x, y);
    REQUIRE(e.ok());
    CHECK((*e)->kind() == EvidenceKind::kSurroundVote);
    CHECK((*e)->a() == outer->signing_bytes());
    CHECK((*e)->sig_a() == outer->signature());
    CHECK((*e)->b() == inner->signing_bytes());
    CHECK((*e)->sig_b() == inner->signature());
    CHECK((*e)->check(kChain).ok());
  }
  // Order is by surround, not by bytes: here the surrounding vote's bytes are the higher.
  VoteFields f = outer->fields();
  f.source_hash = filled(0x99);
  auto high_outer = Vote::sign(f, key_from_index(1));
  REQUIRE(inner->signing_bytes() < high_outer->signing_bytes());
  auto e2 = Evidence::surround_vote(inner, high_outer);
  REQUIRE(e2.ok());
  CHECK((*e2)->a() == high_outer->signing_bytes());
  CHECK((*e2)->check(kChain).ok());
}

TEST_CASE("the evidence helpers refuse pairs that do not conflict", "[evidence]") {
  auto bad = [](const Result<EvidencePtr>& r) {
    REQUIRE_FALSE(r.ok());
    return r.reason();
  };
  SECTION("double block") {
    BlockHeader x = header(9, 0x33);
    BlockHeader other_slot = header(10, 0x44);
    CHECK(bad(Evidence::double_block(x, sign_header(x), other_slot, sign_header(other_slot))) ==
          Reason::kBadEvidence);
    CHECK(bad(Evidence::double_block(x, sign_header(x), x, sign_header(x))) ==
          Reason::kBadEvidence);
    BlockHeader other_forger = header(9, 0x44);
    other_forger.forger = key_from_index(2).public_key();
    CHECK(bad(Evidence::double_block(x, sign_header(x), other_forger,
                                     sign_header(other_forger, 2))) == Reason::kBadEvidence);
    BlockHeader other_chain = header(9, 0x44, "pos-other");
    CHECK(bad(Evidence::double_block(x, sign_header(x), other_chain, sign_header(other_chain))) ==
          Reason::kBadEvidence);
    // A conflicting pair with one bad signature is no proof.
    BlockHeader y = header(9, 0x44);
    Signature forged = sign_header(y);
    forged.bytes[10] ^= 1;
    CHECK(bad(Evidence::double_block(x, sign_header(x), y, forged)) == Reason::kBadEvidence);
    CHECK(bad(Evidence::double_block(x, sign_header(x, 2), y, sign_header(y))) ==
          Reason::kBadEvidence);
    CHECK(bad(Evidence::double_block(BlockPtr{}, Block::make(y, sign_header(y), {}))) ==
          Reason::kInvalidArgument);
  }
  SECTION("double vote") {
    CHECK(bad(Evidence::double_vote(vote(4, 5), vote(4, 6))) == Reason::kBadEvidence);
    CHECK(bad(Evidence::double_vote(vote(4, 5), vote(4, 5))) == Reason::kBadEvidence);
    CHECK(bad(Evidence::double_vote(vote(4, 5, 0x22, 1), vote(4, 5, 0x23, 2))) ==
          Reason::kBadEvidence);
    CHECK(bad(Evidence::double_vote(vote(4, 5, 0x22), vote(4, 5, 0x23, 1, "pos-other"))) ==
          Reason::kBadEvidence);
    // Votes that are each fine but a double vote only with another validator's signature.
    auto x = vote(4, 5, 0x22);
    auto y = vote(4, 5, 0x23);
    auto forged = Vote::make(y->fields(), vote(4, 5, 0x23, 2)->signature());
    CHECK(bad(Evidence::double_vote(x, forged)) == Reason::kBadEvidence);
    CHECK(bad(Evidence::double_vote(x, nullptr)) == Reason::kInvalidArgument);
  }
  SECTION("surround vote") {
    CHECK(bad(Evidence::surround_vote(vote(2, 5), vote(5, 9))) == Reason::kBadEvidence);
    CHECK(bad(Evidence::surround_vote(vote(2, 9), vote(3, 9, 0x23))) == Reason::kBadEvidence);
    CHECK(bad(Evidence::surround_vote(vote(2, 9), vote(2, 8))) == Reason::kBadEvidence);
    CHECK(bad(Evidence::surround_vote(vote(2, 9), vote(2, 9))) == Reason::kBadEvidence);
    CHECK(bad(Evidence::surround_vote(vote(2, 9, 0x22, 1), vote(3, 8, 0x22, 2))) ==
          Reason::kBadEvidence);
    auto forged = Vote::make(vote(3, 8)->fields(), vote(3, 8, 0x22, 2)->signature());
    CHECK(bad(Evidence::surround_vote(vote(2, 9), forged)) == Reason::kBadEvidence);
  }
}

TEST_CASE("evidence check refuses what breaks the kind's rule", "[evidence]") {
  SECTION("wrong order") {
    for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
      INFO(evidence_kind_name(e->kind()));
      REQUIRE(e->check(kChain).ok());
      auto swapped = remade(*e, e->b(), e->sig_b(), e->a(), e->sig_a());
      CHECK(refusal(*swapped) == Reason::kBadEvidence);
    }
  }
  SECTION("the same item twice") {
    for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
      INFO(evidence_kind_name(e->kind()));
      CHECK(refusal(*remade(*e, {}, {}, e->a(), e->sig_a())) == Reason::kBadEvidence);
    }
  }
  SECTION("one bad signature") {
    for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
      INFO(evidence_kind_name(e->kind()));
      Signature sig = e->sig_a();
      sig.bytes[0] ^= 1;
      CHECK(refusal(*remade(*e, {}, sig, {}, {})) == Reason::kBadEvidence);
      sig = e->sig_b();
      sig.bytes[63] ^= 0x10;
      CHECK(refusal(*remade(*e, {}, {}, {}, sig)) == Reason::kBadEvidence);
      // Each signature must cover its own item.
      CHECK(refusal(*remade(*e, {}, e->sig_b(), {}, e->sig_a())) == Reason::kBadEvidence);
    }
  }
  SECTION("offender mismatch") {
    for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
      INFO(evidence_kind_name(e->kind()));
      auto blamed = Evidence::make(e->kind(), key_from_index(2).public_key(), e->a(), e->sig_a(),
                                   e->b(), e->sig_b());
      Status s = blamed->check(kChain);
      REQUIRE_FALSE(s.ok());
      CHECK(s.reason() == Reason::kBadEvidence);
    }
    // Two headers signed by key 2 but naming key 1 as forger: the forger must be the offender.
    BlockHeader x = header(9, 0x33);
    BlockHeader y = header(9, 0x44);
    auto e =
        Evidence::make(EvidenceKind::kDoubleBlock, key_from_index(2).public_key(),
                       x.signing_bytes(), sign_header(x, 2), y.signing_bytes(), sign_header(y, 2));
    Status s = e->check(kChain);
    REQUIRE_FALSE(s.ok());
    CHECK(s.reason() == Reason::kBadEvidence);
    CHECK(s.error().message.find("is not the offender") != std::string::npos);
  }
  SECTION("items of another chain") {
    for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
      INFO(evidence_kind_name(e->kind()));
      CHECK(refusal(*e, "pos-other") == Reason::kWrongChain);
      CHECK(refusal(*e, "pos-test2") == Reason::kWrongChain);
    }
    auto theirs =
        Evidence::double_vote(vote(4, 5, 0x22, 1, "pos-other"), vote(4, 5, 0x23, 1, "pos-other"));
    REQUIRE(theirs.ok());
    CHECK((*theirs)->check("pos-other").ok());
    CHECK(refusal(**theirs) == Reason::kWrongChain);
    // One item of each chain.
    auto mixed = remade(*valid_double_vote(), {}, {}, (*theirs)->b(), (*theirs)->sig_b());
    CHECK(refusal(*mixed) == Reason::kWrongChain);
  }
  SECTION("double block: not one forger and slot") {
    BlockHeader x = header(9, 0x33);
    BlockHeader y = header(10, 0x44);
    auto e = Evidence::make(EvidenceKind::kDoubleBlock, x.forger, x.signing_bytes(), sign_header(x),
                            y.signing_bytes(), sign_header(y));
    CHECK(refusal(*e) == Reason::kBadEvidence);
    BlockHeader z = header(9, 0x44);
    z.forger = key_from_index(2).public_key();
    e = Evidence::make(EvidenceKind::kDoubleBlock, x.forger, x.signing_bytes(), sign_header(x),
                       z.signing_bytes(), sign_header(z, 2));
    CHECK(refusal(*e) == Reason::kBadEvidence);
  }
  SECTION("double vote: different target heights") {
    auto x = vote(4, 5);
    auto y = vote(4, 6);
    auto e = Evidence::make(EvidenceKind::kDoubleVote, x->validator(), x->signing_bytes(),
                            x->signature(), y->signing_bytes(), y->signature());
    REQUIRE(x->signing_bytes() < y->signing_bytes());
    CHECK(refusal(*e) == Reason::kBadEvidence);
  }
  SECTION("surround vote: equal target heights, equal sources, or no surround") {
    auto as_surround = [](const VotePtr& x, const VotePtr& y) {
      return Evidence::make(EvidenceKind::kSurroundVote, x->validator(), x->signing_bytes(),
                            x->signature(), y->signing_bytes(), y->signature());
    };
    CHECK(refusal(*as_surround(vote(2, 9), vote(3, 9, 0x23))) == Reason::kBadEvidence);
    CHECK(refusal(*as_surround(vote(2, 9), vote(2, 8))) == Reason::kBadEvidence);
    CHECK(refusal(*as_surround(vote(3, 8), vote(2, 9))) == Reason::kBadEvidence);
    CHECK(refusal(*as_surround(vote(2, 5), vote(6, 9))) == Reason::kBadEvidence);
    CHECK(as_surround(vote(2, 9), vote(3, 8))->check(kChain).ok());
    // A double vote (same target height) is not a surround vote, nor the other way round.
    auto dv = valid_double_vote();
    CHECK(refusal(*Evidence::make(EvidenceKind::kSurroundVote, dv->offender(), dv->a(), dv->sig_a(),
                                  dv->b(), dv->sig_b())) == Reason::kBadEvidence);
    auto sv = valid_surround_vote();
    CHECK(refusal(*Evidence::make(EvidenceKind::kDoubleVote, sv->offender(), sv->a(), sv->sig_a(),
                                  sv->b(), sv->sig_b())) == Reason::kBadEvidence);
  }
  SECTION("unknown kinds") {
    auto e = valid_double_vote();
    for (int kind : {0, 4, 255}) {
      auto unknown = Evidence::make(static_cast<EvidenceKind>(kind), e->offender(), e->a(),
                                    e->sig_a(), e->b(), e->sig_b());
      CHECK(refusal(*unknown) == Reason::kBadEvidence);
    }
  }
}

TEST_CASE("evidence check refuses items that do not parse exactly", "[evidence]") {
  auto block_e = valid_double_block();
  auto vote_e = valid_double_vote();
  SECTION("a truncated or extended header") {
    Bytes cut(block_e->a().begin(), block_e->a().end() - 1);
    CHECK(refusal(*remade(*block_e, cut, {}, {}, {})) == Reason::kBadEvidence);
    Bytes longer = block_e->b();
    longer.push_back(0);
    CHECK(refusal(*remade(*block_e, {}, {}, longer, {})) == Reason::kBadEvidence);
    // Signed as given: still not a header.
    SecretKey key = key_from_index(1);
    auto e = Evidence::make(EvidenceKind::kDoubleBlock, key.public_key(), cut, key.sign(cut),
                            block_e->b(), block_e->sig_b());
    CHECK(refusal(*e) == Reason::kBadEvidence);
    CHECK(refusal(*remade(*block_e, Bytes{}, {}, {}, {})) == Reason::kBadEvidence);
  }
  SECTION("a header with the v1 tag") {
    Bytes v1 = block_e->a();
    v1[11] = '1';  // "pos/block/v1"
    SecretKey key = key_from_index(1);
    REQUIRE(v1 < block_e->b());
    auto e = Evidence::make(EvidenceKind::kDoubleBlock, key.public_key(), v1, key.sign(v1),
                            block_e->b(), block_e->sig_b());
    CHECK(refusal(*e) == Reason::kBadEvidence);
  }
  SECTION("a vote where a header belongs, and the reverse") {
    CHECK(refusal(*Evidence::make(EvidenceKind::kDoubleBlock, vote_e->offender(), vote_e->a(),
                                  vote_e->sig_a(), vote_e->b(), vote_e->sig_b())) ==
          Reason::kBadEvidence);
    CHECK(refusal(*Evidence::make(EvidenceKind::kDoubleVote, block_e->offender(), block_e->a(),
                                  block_e->sig_a(), block_e->b(), block_e->sig_b())) ==
          Reason::kBadEvidence);
  }
  SECTION("a vote's binary form instead of its signing bytes") {
    auto x = vote(4, 5, 0x22);
    auto y = vote(4, 5, 0x23);
    SecretKey key = key_from_index(1);
    Bytes ex = encode(*x);
    Bytes ey = encode(*y);
    auto e = Evidence::make(EvidenceKind::kDoubleVote, key.public_key(), ex, key.sign(ex), ey,
                            key.sign(ey));
    CHECK(refusal(*e) == Reason::kBadEvidence);
  }
  SECTION("items over the length limit") {
    Bytes huge(kMaxEvidenceItemBytes + 1, 0);
    Status s = remade(*vote_e, {}, {}, huge, {})->check(kChain);
    REQUIRE_FALSE(s.ok());
    CHECK(s.reason() == Reason::kBadEvidence);
    CHECK(s.error().message.find("longer than 1024") != std::string::npos);
  }
}

TEST_CASE("evidence round-trips through its binary form", "[evidence][codec]") {
  for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
    INFO(evidence_kind_name(e->kind()));
    auto back = decode_evidence(encode(*e));
    REQUIRE(back.ok());
    CHECK((*back)->id() == e->id());
    CHECK((*back)->kind() == e->kind());
    CHECK((*back)->offender() == e->offender());
    CHECK((*back)->a() == e->a());
    CHECK((*back)->sig_a() == e->sig_a());
    CHECK((*back)->b() == e->b());
    CHECK((*back)->sig_b() == e->sig_b());
    CHECK((*back)->check(kChain).ok());
  }
}

TEST_CASE("evidence decoding refuses truncations, trailing bytes, bad tags, kinds and lengths",
          "[evidence][codec]") {
  Bytes bytes = valid_double_vote()->bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(decode_evidence(ByteView(bytes.data(), n)).reason() == Reason::kMalformed);
  }
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK(decode_evidence(longer).reason() == Reason::kMalformed);
  Bytes bad_tag = bytes;
  bad_tag[14] = '2';  // "pos/evidence/v2"
  CHECK(decode_evidence(bad_tag).reason() == Reason::kMalformed);
  for (std::uint8_t kind : std::initializer_list<std::uint8_t>{0, 4, 255}) {
    Bytes bad_kind = bytes;
    bad_kind[15] = kind;
    CHECK(decode_evidence(bad_kind).reason() == Reason::kMalformed);
  }
  // A length over the limit is refused before anything of that size is read or allocated.
  const std::size_t len_a = 15 + 1 + 32;
  const std::size_t len_b = len_a + 4 + bytes[len_a + 3] + 64;
  for (std::size_t at : {len_a, len_b}) {
    for (std::uint32_t length : {std::uint32_t{kMaxEvidenceItemBytes + 1}, 0xffffffffU}) {
      Bytes head(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(at));
      Bytes forged = concat({head, be32(length)});
      auto r = decode_evidence(forged);
      REQUIRE_FALSE(r.ok());
      CHECK(r.reason() == Reason::kMalformed);
      CHECK(r.error().message.find("the limit is 1024") != std::string::npos);
    }
  }
  // A length within the limit that runs past the end is a truncation.
  Bytes past = bytes;
  past[len_a + 3] = static_cast<std::uint8_t>(past[len_a + 3] + 1);
  CHECK(decode_evidence(past).reason() == Reason::kMalformed);
  // The largest item decodes; check() then judges it.
  Bytes max_item(kMaxEvidenceItemBytes, 0x7);
  auto big = Evidence::make(EvidenceKind::kDoubleVote, key_from_index(1).public_key(), max_item,
                            Signature{}, max_item, Signature{});
  auto decoded = decode_evidence(big->bytes());
  REQUIRE(decoded.ok());
  CHECK((*decoded)->id() == big->id());
  CHECK((*decoded)->check(kChain).reason() == Reason::kBadEvidence);
}

TEST_CASE("evidence JSON round-trips", "[evidence][json]") {
  for (auto e : {valid_double_block(), valid_double_vote(), valid_surround_vote()}) {
    INFO(evidence_kind_name(e->kind()));
    std::string json = to_json(*e);
    CHECK(json == "{\"kind\":\"" + std::string(evidence_kind_name(e->kind())) +
                      "\",\"offender\":\"" + e->offender().hex() + "\",\"a\":\"" + to_hex(e->a()) +
                      "\",\"sig_a\":\"" + e->sig_a().hex() + "\",\"b\":\"" + to_hex(e->b()) +
                      "\",\"sig_b\":\"" + e->sig_b().hex() + "\",\"id\":\"" + e->id().hex() +
                      "\"}");
    for (bool with_id : {true, false}) {
      auto back = evidence_from_json(to_json(*e, with_id));
      REQUIRE(back.ok());
      CHECK((*back)->id() == e->id());
      CHECK((*back)->check(kChain).ok());
    }
  }
}

TEST_CASE("evidence JSON is parsed strictly", "[evidence][json]") {
  auto e = valid_double_vote();
  std::string json = to_json(*e, false);
  auto refusal_of = [](const std::string& text) {
    auto r = evidence_from_json(text);
    REQUIRE_FALSE(r.ok());
    return r.reason();
  };
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string out = json;
    auto at = out.find(from);
    REQUIRE(at != std::string::npos);
    return out.replace(at, from.size(), to);
  };
  SECTION("not JSON, not an object") {
    CHECK(refusal_of("{\"kind\":") == Reason::kMalformed);
    CHECK(refusal_of("[]") == Reason::kMalformed);
  }
  SECTION("kind") {
    CHECK(refusal_of(edited("\"double_vote\"", "\"triple_vote\"")) == Reason::kMalformed);
    CHECK(refusal_of(edited("\"double_vote\"", "\"DOUBLE_VOTE\"")) == Reason::kMalformed);
    CHECK(refusal_of(edited("\"double_vote\"", "2")) == Reason::kMalformed);
    // Another known kind parses; check() then refuses it.
    auto other = evidence_from_json(edited("\"double_vote\"", "\"surround_vote\""));
    REQUIRE(other.ok());
    CHECK((*other)->check(kChain).reason() == Reason::kBadEvidence);
  }
  SECTION("unknown, duplicate and missing fields") {
    CHECK(refusal_of(edited("{", "{\"chain_id\":\"pos-test\",")) == Reason::kMalformed);
    CHECK(refusal_of(edited("{", "{\"kind\":\"double_vote\",")) == Reason::kMalformed);
    for (const char* name : {"kind", "offender", "a", "sig_a", "b", "sig_b"}) {
      INFO(name);
      std::string key = std::string("\"") + name + "\":";
      auto at = json.find(key);
      REQUIRE(at != std::string::npos);
      auto end = json.find_first_of(",}", at + key.size());
      std::string without = json.substr(0, at) + json.substr(json[end] == ',' ? end + 1 : end);
      if (without[without.size() - 2] == ',') without.erase(without.size() - 2, 1);
      CHECK(refusal_of(without) == Reason::kMalformed);
    }
  }
  SECTION("hex of wrong lengths") {
    for (const char* name : {"offender", "sig_a", "sig_b"}) {
      INFO(name);
      std::string key = std::string("\"") + name + "\":\"";
      CHECK(refusal_of(edited(key, key + "00")) == Reason::kMalformed);
    }
    CHECK(refusal_of(edited("\"a\":\"", "\"a\":\"0")) == Reason::kMalformed);  // odd length
    std::string upper = json;
    upper[upper.find("\"b\":\"") + 5] = 'A';
    CHECK(refusal_of(upper) == Reason::kMalformed);
    std::string over = edited("\"a\":\"" + to_hex(e->a()),
                              "\"a\":\"" + std::string(2 * kMaxEvidenceItemBytes + 2, '0'));
    CHECK(refusal_of(over) == Reason::kMalformed);
    std::string at_limit = edited("\"a\":\"" + to_hex(e->a()),
                                  "\"a\":\"" + std::string(2 * kMaxEvidenceItemBytes, '0'));
    auto parsed = evidence_from_json(at_limit);
    REQUIRE(parsed.ok());
    CHECK((*parsed)->a().size() == kMaxEvidenceItemBytes);
  }
  SECTION("id") {
    std::string with_id = to_json(*e);
    CHECK(evidence_from_json(with_id).ok());
    with_id.replace(with_id.find(e->id().hex()), 64, std::string(64, 'f'));
    CHECK(refusal_of(with_id) == Reason::kIdMismatch);
  }
}
