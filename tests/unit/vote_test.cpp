#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

VoteFields sample_fields() {
  VoteFields f;
  f.chain_id = "pos-test";
  f.validator = key_from_index(1).public_key();
  f.source_hash = filled(0x11);
  f.source_height = 4;
  f.target_hash = filled(0x22);
  f.target_height = 0x0102;
  return f;
}

VotePtr sample_vote() {
  return Vote::sign(sample_fields(), key_from_index(1));
}

std::string sample_json() {
  return to_json(*sample_vote(), false);
}

std::string edited(const std::string& from, const std::string& to) {
  return replace_first(sample_json(), from, to);
}

Reason refusal(const std::string& json) {
  auto vote = vote_from_json(json, "pos-test");
  REQUIRE_FALSE(vote.ok());
  return vote.reason();
}

}  // namespace

TEST_CASE("vote signing bytes and id follow the layout of docs/protocol.md", "[vote]") {
  VoteFields f = sample_fields();
  auto vote = sample_vote();
  const Bytes& b = vote->signing_bytes();
  REQUIRE(b.size() == 11 + 2 + 8 + 32 + 8 + 32 + 8);
  CHECK(std::string(b.begin(), b.begin() + 11) == "pos/vote/v1");
  CHECK(b[11] == 0);
  CHECK(b[12] == 8);
  CHECK(std::string(b.begin() + 13, b.begin() + 21) == "pos-test");
  CHECK(std::all_of(b.begin() + 21, b.begin() + 53, [](auto x) { return x == 0x11; }));
  CHECK(std::all_of(b.begin() + 53, b.begin() + 60, [](auto x) { return x == 0; }));
  CHECK(b[60] == 4);  // source_height, big-endian
  CHECK(std::all_of(b.begin() + 61, b.begin() + 93, [](auto x) { return x == 0x22; }));
  CHECK(std::all_of(b.begin() + 93, b.begin() + 99, [](auto x) { return x == 0; }));
  CHECK(b[99] == 0x01);
  CHECK(b[100] == 0x02);  // target_height 0x0102
  CHECK(f.signing_bytes() == b);

  CHECK(vote->id() == sha256(concat({b, f.validator.view()})));
  CHECK(f.id() == vote->id());
  CHECK(vote->id() != sha256(b));  // the validator is in the id
  CHECK(verify(f.validator, b, vote->signature()));
  CHECK(vote->signature() == key_from_index(1).sign(b));
  CHECK(vote->encoded_size() == b.size() + 32 + 64);
}

TEST_CASE("Vote::sign makes the signing key the validator", "[vote]") {
  VoteFields f = sample_fields();
  f.validator = key_from_index(7).public_key();
  auto vote = Vote::sign(f, key_from_index(2));
  CHECK(vote->validator() == key_from_index(2).public_key());
  CHECK(vote->check().ok());
}

TEST_CASE("a vote's signature binds every field and the chain", "[vote]") {
  auto vote = sample_vote();
  REQUIRE(vote->check_signature().ok());
  REQUIRE(vote->check().ok());
  std::vector<std::function<void(VoteFields&)>> edits = {
      [](VoteFields& f) { f.chain_id = "pos-other"; },
      [](VoteFields& f) { f.validator = key_from_index(2).public_key(); },
      [](VoteFields& f) { f.source_hash.bytes[3] ^= 1; },
      [](VoteFields& f) { f.source_height += 1; },
      [](VoteFields& f) { f.target_hash.bytes[31] ^= 1; },
      [](VoteFields& f) { f.target_height += 1; },
  };
  for (std::size_t i = 0; i < edits.size(); ++i) {
    INFO("edit " << i);
    VoteFields f = sample_fields();
    edits[i](f);
    auto moved = Vote::make(f, vote->signature());
    CHECK(moved->id() != vote->id());
    CHECK(moved->check_signature().reason() == Reason::kBadSignature);
    CHECK(moved->check().reason() == Reason::kBadSignature);
  }
  Signature sig = vote->signature();
  sig.bytes[0] ^= 1;
  auto tampered = Vote::make(sample_fields(), sig);
  CHECK(tampered->id() == vote->id());  // the id does not cover the signature
  CHECK(tampered->check_signature().reason() == Reason::kBadSignature);
  CHECK(tampered->check_signature().error().message.find("signature") != std::string::npos);
}

TEST_CASE("a vote's source must be below its target and its chain id of valid length", "[vote]") {
  SecretKey key = key_from_index(1);
  VoteFields f = sample_fields();
  f.source_height = f.target_height;
  CHECK(Vote::sign(f, key)->check().reason() == Reason::kBadVote);
  f.source_height = f.target_height + 1;
  CHECK(Vote::sign(f, key)->check().reason() == Reason::kBadVote);
  f.source_height = f.target_height - 1;
  CHECK(Vote::sign(f, key)->check().ok());
  f.source_height = 0;
  f.target_height = 0;
  CHECK(Vote::sign(f, key)->check().reason() == Reason::kBadVote);
  // The height rule comes before the signature, so its reason is the one reported.
  f = sample_fields();
  f.source_height = f.target_height;
  auto unsigned_vote = Vote::make(f, Signature{});
  CHECK(unsigned_vote->check().reason() == Reason::kBadVote);

  f = sample_fields();
  f.chain_id = "";
  CHECK(Vote::sign(f, key)->check().reason() == Reason::kWrongChain);
  f.chain_id = std::string(kMaxChainIdLength + 1, 'c');
  CHECK(Vote::sign(f, key)->check().reason() == Reason::kWrongChain);
  f.chain_id = std::string(kMaxChainIdLength, 'c');
  CHECK(Vote::sign(f, key)->check().ok());
}

TEST_CASE("votes round-trip through their binary form", "[vote][codec]") {
  auto vote = sample_vote();
  Bytes bytes = encode(*vote);
  CHECK(bytes ==
        concat({vote->signing_bytes(), vote->validator().view(), vote->signature().view()}));
  CHECK(bytes.size() == vote->encoded_size());
  auto back = decode_vote(bytes);
  REQUIRE(back.ok());
  CHECK((*back)->id() == vote->id());
  CHECK((*back)->fields().chain_id == "pos-test");
  CHECK((*back)->source_hash() == vote->source_hash());
  CHECK((*back)->source_height() == vote->source_height());
  CHECK((*back)->target_hash() == vote->target_hash());
  CHECK((*back)->target_height() == vote->target_height());
  CHECK((*back)->validator() == vote->validator());
  CHECK((*back)->signature() == vote->signature());
  CHECK((*back)->check().ok());
}

TEST_CASE("vote decoding refuses truncations, trailing bytes, bad tags and chain ids",
          "[vote][codec]") {
  Bytes bytes = encode(*sample_vote());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(decode_vote(ByteView(bytes.data(), n)).reason() == Reason::kMalformed);
  }
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK(decode_vote(longer).reason() == Reason::kMalformed);
  for (std::size_t at : {0, 5, 10}) {
    Bytes bad_tag = bytes;
    bad_tag[at] ^= 0x20;
    CHECK(decode_vote(bad_tag).reason() == Reason::kMalformed);
  }
  // A transaction's bytes are not a vote.
  CHECK(decode_vote(concat({text("pos/tx/v1"), ByteView(bytes).subspan(11)})).reason() ==
        Reason::kMalformed);

  auto with_chain = [](const std::string& chain_id) {
    VoteFields f = sample_fields();
    f.chain_id = chain_id;
    return encode(*Vote::sign(f, key_from_index(1)));
  };
  CHECK(decode_vote(with_chain("")).reason() == Reason::kMalformed);
  CHECK(decode_vote(with_chain(std::string(kMaxChainIdLength + 1, 'c'))).reason() ==
        Reason::kMalformed);
  CHECK(decode_vote(with_chain(std::string(kMaxChainIdLength, 'c'))).ok());
  // A chain id length that runs past the end.
  Bytes long_length = bytes;
  long_length[11] = 0xff;
  CHECK(decode_vote(long_length).reason() == Reason::kMalformed);
}

TEST_CASE("vote signing bytes parse alone, for this chain only", "[vote][codec]") {
  auto vote = sample_vote();
  auto fields = parse_vote_signing_bytes(vote->signing_bytes(), "pos-test");
  REQUIRE(fields.ok());
  CHECK(fields->chain_id == "pos-test");
  CHECK(fields->validator.is_zero());
  CHECK(fields->source_hash == vote->source_hash());
  CHECK(fields->source_height == vote->source_height());
  CHECK(fields->target_hash == vote->target_hash());
  CHECK(fields->target_height == vote->target_height());
  fields->validator = vote->validator();
  CHECK(fields->id() == vote->id());

  CHECK(parse_vote_signing_bytes(vote->signing_bytes(), "pos-other").reason() ==
        Reason::kWrongChain);
  CHECK(parse_vote_signing_bytes(vote->signing_bytes(), "pos-tes").reason() == Reason::kWrongChain);
  const Bytes& b = vote->signing_bytes();
  for (std::size_t n = 0; n < b.size(); ++n) {
    INFO("first " << n << " bytes");
    CHECK(parse_vote_signing_bytes(ByteView(b.data(), n), "pos-test").reason() ==
          Reason::kMalformed);
  }
  // The binary form has the validator and signature after: not the signing bytes alone.
  CHECK(parse_vote_signing_bytes(encode(*vote), "pos-test").reason() == Reason::kMalformed);
  Bytes bad_tag = b;
  bad_tag[4] = 'V';
  CHECK(parse_vote_signing_bytes(bad_tag, "pos-test").reason() == Reason::kMalformed);
  // Parsing does not judge heights: evidence takes votes as signed.
  VoteFields down = sample_fields();
  down.source_height = 9;
  down.target_height = 3;
  auto parsed = parse_vote_signing_bytes(down.signing_bytes(), "pos-test");
  REQUIRE(parsed.ok());
  CHECK(parsed->source_height == 9);
  CHECK(parsed->target_height == 3);
}

TEST_CASE("vote JSON round-trips", "[vote][json]") {
  auto vote = sample_vote();
  std::string json = to_json(*vote);
  CHECK(json == "{\"validator\":\"" + vote->validator().hex() + "\",\"source_hash\":\"" +
                    std::string(64, '1') + "\",\"source_height\":4,\"target_hash\":\"" +
                    std::string(64, '2') + "\",\"target_height\":258,\"signature\":\"" +
                    vote->signature().hex() + "\",\"id\":\"" + vote->id().hex() + "\"}");
  for (bool with_id : {true, false}) {
    auto back = vote_from_json(to_json(*vote, with_id), "pos-test");
    REQUIRE(back.ok());
    CHECK((*back)->id() == vote->id());
    CHECK((*back)->signature() == vote->signature());
    CHECK((*back)->check().ok());
  }
  // The chain comes from the node: the same JSON on another chain is another vote.
  auto elsewhere = vote_from_json(json, "pos-other");
  CHECK(elsewhere.reason() == Reason::kIdMismatch);
  auto elsewhere_no_id = vote_from_json(to_json(*vote, false), "pos-other");
  REQUIRE(elsewhere_no_id.ok());
  CHECK((*elsewhere_no_id)->check().reason() == Reason::kBadSignature);
}

TEST_CASE("vote JSON is parsed strictly", "[vote][json]") {
  SECTION("not JSON") {
    CHECK(refusal("{\"validator\":") == Reason::kMalformed);
  }
  SECTION("not an object") {
    CHECK(refusal("[1,2]") == Reason::kMalformed);
    CHECK(refusal("\"vote\"") == Reason::kMalformed);
  }
  SECTION("each field missing") {
    for (const char* name : {"validator", "source_hash", "source_height", "target_hash",
                             "target_height", "signature"}) {
      INFO(name);
      std::string json = sample_json();
      auto at = json.find(std::string("\"") + name + "\":");
      REQUIRE(at != std::string::npos);
      auto end = json.find_first_of(",}", json.find(':', at));
      if (json[end] == ',') ++end;
      std::string without = json.substr(0, at) + json.substr(end);
      if (without[without.size() - 2] == ',') without.erase(without.size() - 2, 1);
      CHECK(refusal(without) == Reason::kMalformed);
    }
  }
  SECTION("unknown field") {
    CHECK(refusal(edited("\"source_height\":4,", "\"source_height\":4,\"memo\":\"x\",")) ==
          Reason::kMalformed);
    CHECK(refusal(edited("{", "{\"chain_id\":\"pos-test\",")) == Reason::kMalformed);
  }
  SECTION("duplicate field") {
    CHECK(refusal(edited("\"source_height\":4,", "\"source_height\":4,\"source_height\":4,")) ==
          Reason::kMalformed);
  }
  SECTION("negative number") {
    CHECK(refusal(edited("\"source_height\":4", "\"source_height\":-4")) == Reason::kMalformed);
  }
  SECTION("fractional number") {
    CHECK(refusal(edited("\"source_height\":4", "\"source_height\":4.5")) == Reason::kMalformed);
    CHECK(refusal(edited("\"source_height\":4", "\"source_height\":4.0")) == Reason::kMalformed);
    CHECK(refusal(edited("\"target_height\":258", "\"target_height\":2.58e2")) ==
          Reason::kMalformed);
  }
  SECTION("string number") {
    CHECK(refusal(edited("\"target_height\":258", "\"target_height\":\"258\"")) ==
          Reason::kMalformed);
  }
  SECTION("over u64") {
    CHECK(refusal(edited("\"target_height\":258", "\"target_height\":18446744073709551616")) ==
          Reason::kMalformed);
    auto max = vote_from_json(
        edited("\"target_height\":258", "\"target_height\":18446744073709551615"), "pos-test");
    REQUIRE(max.ok());
    CHECK((*max)->target_height() == 18446744073709551615ULL);
  }
  SECTION("non-hex") {
    std::string json = sample_json();
    json[json.find("\"source_hash\":\"") + 15] = 'g';
    CHECK(refusal(json) == Reason::kMalformed);
  }
  SECTION("upper-case hex") {
    std::string json = sample_json();
    json[json.find("\"signature\":\"") + 13] = 'A';
    CHECK(refusal(json) == Reason::kMalformed);
  }
  SECTION("wrong lengths") {
    for (const char* name : {"validator", "source_hash", "target_hash", "signature"}) {
      INFO(name);
      std::string key = std::string("\"") + name + "\":\"";
      CHECK(refusal(edited(key, key + "00")) == Reason::kMalformed);
      std::string json = sample_json();
      json.erase(json.find(key) + key.size(), 2);
      CHECK(refusal(json) == Reason::kMalformed);
    }
  }
  SECTION("a number where a string belongs") {
    std::string json = sample_json();
    auto at = json.find("\"validator\":\"") + 12;
    json.replace(at, 66, "7");
    CHECK(refusal(json) == Reason::kMalformed);
  }
  SECTION("id") {
    auto vote = sample_vote();
    std::string json = to_json(*vote);
    CHECK(vote_from_json(json, "pos-test").ok());
    json.replace(json.find(vote->id().hex()), 64, std::string(64, '0'));
    CHECK(refusal(json) == Reason::kIdMismatch);
    std::string short_id = to_json(*vote);
    short_id.replace(short_id.find(vote->id().hex()), 64, "00");
    CHECK(refusal(short_id) == Reason::kMalformed);
  }
  SECTION("deep nesting does not crash") {
    CHECK(refusal(std::string(100000, '[') + std::string(100000, ']')) == Reason::kMalformed);
  }
}
