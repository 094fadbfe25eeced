#include "pos/evidence.h"

#include "codec.h"
#include "encoding.h"
#include "json_util.h"
#include "pos/codec.h"
#include "pos_fmt.h"

namespace pos {

std::string_view evidence_kind_name(EvidenceKind kind) {
  switch (kind) {
    case EvidenceKind::kDoubleBlock:
      return "double_block";
    case EvidenceKind::kDoubleVote:
      return "double_vote";
    case EvidenceKind::kSurroundVote:
      return "surround_vote";
  }
  return "unknown";
}

std::optional<EvidenceKind> parse_evidence_kind(std::string_view name) {
  for (EvidenceKind k :
       {EvidenceKind::kDoubleBlock, EvidenceKind::kDoubleVote, EvidenceKind::kSurroundVote})
    if (evidence_kind_name(k) == name) return k;
  return std::nullopt;
}

namespace {

bool known_kind(EvidenceKind kind) {
  return evidence_kind_name(kind) != "unknown";
}

// Whether vote x surrounds vote y (FFG's second slashing condition), heights as signed.
bool surrounds(const VoteFields& x, const VoteFields& y) {
  return x.source_height < y.source_height && y.target_height < x.target_height;
}

Error refused(const std::string& why) {
  return make_error(Reason::kBadEvidence, why);
}

}  // namespace

Evidence::Evidence(EvidenceKind kind, const PublicKey& offender, Bytes a, const Signature& sig_a,
                   Bytes b, const Signature& sig_b)
    : kind_(kind),
      offender_(offender),
      a_(std::move(a)),
      sig_a_(sig_a),
      b_(std::move(b)),
      sig_b_(sig_b) {
  // u32 lengths: make() is unchecked, but no item near 4 GiB ever reaches here from a decoder.
  detail::ByteWriter w(15 + 1 + 32 + 2 * (4 + 64) + a_.size() + b_.size());
  w.raw(std::string_view("pos/evidence/v1"))
      .u8(static_cast<std::uint8_t>(kind_))
      .raw(offender_.view())
      .u32(static_cast<std::uint32_t>(a_.size()))
      .raw(a_)
      .raw(sig_a_.view())
      .u32(static_cast<std::uint32_t>(b_.size()))
      .raw(b_)
      .raw(sig_b_.view());
  bytes_ = std::move(w).take();
  id_ = sha256(bytes_);
}

EvidencePtr Evidence::make(EvidenceKind kind, const PublicKey& offender, Bytes a,
                           const Signature& sig_a, Bytes b, const Signature& sig_b) {
  return std::make_shared<const Evidence>(kind, offender, std::move(a), sig_a, std::move(b), sig_b);
}

Status Evidence::check(std::string_view chain_id) const {
  const std::string what = "evidence " + id_.hex() + " (" + std::string(evidence_kind_name(kind_)) +
                           ", offender " + offender_.hex() + "): ";
  if (!known_kind(kind_))
    return refused(what + fmt::format("unknown kind {}", static_cast<int>(kind_)));
  if (a_.size() > kMaxEvidenceItemBytes || b_.size() > kMaxEvidenceItemBytes)
    return refused(what + fmt::format("an item is longer than {} bytes", kMaxEvidenceItemBytes));
  // Another chain's items keep kWrongChain: the sender may be on another network, not lying.
  auto item_error = [&](const char* name, const char* layout, const Error& e) {
    return make_error(e.reason == Reason::kWrongChain ? Reason::kWrongChain : Reason::kBadEvidence,
                      what + name + " is not " + layout + " of this chain: " + e.message);
  };
  if (kind_ == EvidenceKind::kDoubleBlock) {
    auto x = parse_header_bytes(a_, chain_id);
    if (!x.ok()) return item_error("a", "a header", x.error());
    auto y = parse_header_bytes(b_, chain_id);
    if (!y.ok()) return item_error("b", "a header", y.error());
    if (x->forger != y->forger)
      return refused(what + "the headers have different forgers, " + x->forger.hex() + " and " +
                     y->forger.hex());
    if (x->slot != y->slot)
      return refused(
          what + fmt::format("the headers are for different slots, {} and {}", x->slot, y->slot));
    if (x->forger != offender_)
      return refused(what + "the headers' forger " + x->forger.hex() + " is not the offender");
  } else {
    auto x = parse_vote_signing_bytes(a_, chain_id);
    if (!x.ok()) return item_error("a", "a vote", x.error());
    auto y = parse_vote_signing_bytes(b_, chain_id);
    if (!y.ok()) return item_error("b", "a vote", y.error());
    if (kind_ == EvidenceKind::kDoubleVote && x->target_height != y->target_height)
      return refused(what + fmt::format("the votes have different target heights, {} and {}",
                                        x->target_height, y->target_height));
    if (kind_ == EvidenceKind::kSurroundVote && !surrounds(*x, *y))
      return refused(what + fmt::format("vote a ({} -> {}) does not surround vote b ({} -> {})",
                                        x->source_height, x->target_height, y->source_height,
                                        y->target_height));
  }
  // A surround pair is ordered by the surrounding; the other kinds by bytes, so that one pair
  // has one layout.
  if (kind_ != EvidenceKind::kSurroundVote) {
    if (a_ == b_) return refused(what + "a and b are the same item");
    if (!(a_ < b_)) return refused(what + "a is not below b bytewise");
  }
  if (!verify(offender_, a_, sig_a_))
    return refused(what + "sig_a does not verify under the offender's key");
  if (!verify(offender_, b_, sig_b_))
    return refused(what + "sig_b does not verify under the offender's key");
  return {};
}

namespace {

// Orders a conflicting pair for the layout and checks what was built.
Result<EvidencePtr> build(EvidenceKind kind, const PublicKey& offender, const std::string& chain_id,
                          Bytes x, const Signature& sig_x, Bytes y, const Signature& sig_y,
                          bool x_first) {
  auto evidence = x_first
                      ? Evidence::make(kind, offender, std::move(x), sig_x, std::move(y), sig_y)
                      : Evidence::make(kind, offender, std::move(y), sig_y, std::move(x), sig_x);
  if (auto valid = evidence->check(chain_id); !valid.ok()) return valid.error();
  return evidence;
}

}  // namespace

Result<EvidencePtr> Evidence::double_block(const BlockHeader& x, const Signature& sig_x,
                                           const BlockHeader& y, const Signature& sig_y) {
  if (x.chain_id != y.chain_id)
    return refused("double block: the headers are for chains \"" + x.chain_id + "\" and \"" +
                   y.chain_id + "\"");
  if (x.forger != y.forger)
    return refused("double block: the headers have different forgers, no conflict");
  if (x.slot != y.slot)
    return refused("double block: the headers are for different slots, no conflict");
  Bytes bx = x.signing_bytes();
  Bytes by = y.signing_bytes();
  if (bx == by) return refused("double block: the same header twice, no conflict");
  bool x_first = bx < by;
  return build(EvidenceKind::kDoubleBlock, x.forger, x.chain_id, std::move(bx), sig_x,
               std::move(by), sig_y, x_first);
}

Result<EvidencePtr> Evidence::double_block(const BlockPtr& x, const BlockPtr& y) {
  if (!x || !y) return make_error(Reason::kInvalidArgument, "double block: a null block");
  return double_block(x->header(), x->signature(), y->header(), y->signature());
}

namespace {

Status same_signer(const char* what, const VotePtr& x, const VotePtr& y) {
  if (!x || !y) return make_error(Reason::kInvalidArgument, std::string(what) + ": a null vote");
  if (x->chain_id() != y->chain_id())
    return refused(std::string(what) + ": the votes are for chains \"" + x->chain_id() +
                   "\" and \"" + y->chain_id() + "\"");
  if (x->validator() != y->validator())
    return refused(std::string(what) + ": the votes are by different validators, no conflict");
  return {};
}

}  // namespace

Result<EvidencePtr> Evidence::double_vote(const VotePtr& x, const VotePtr& y) {
  if (auto same = same_signer("double vote", x, y); !same.ok()) return same.error();
  if (x->target_height() != y->target_height())
    return refused("double vote: the votes have different target heights, no conflict");
  if (x->signing_bytes() == y->signing_bytes())
    return refused("double vote: the same vote twice, no conflict");
  bool x_first = x->signing_bytes() < y->signing_bytes();
  return build(EvidenceKind::kDoubleVote, x->validator(), x->chain_id(), x->signing_bytes(),
               x->signature(), y->signing_bytes(), y->signature(), x_first);
}

Result<EvidencePtr> Evidence::surround_vote(const VotePtr& x, const VotePtr& y) {
  if (auto same = same_signer("surround vote", x, y); !same.ok()) return same.error();
  bool x_first = surrounds(x->fields(), y->fields());
  if (!x_first && !surrounds(y->fields(), x->fields()))
    return refused("surround vote: neither vote surrounds the other, no conflict");
  return build(EvidenceKind::kSurroundVote, x->validator(), x->chain_id(), x->signing_bytes(),
               x->signature(), y->signing_bytes(), y->signature(), x_first);
}

namespace detail {

// Shared with the block JSON, which lists evidence inside blocks.
void write_evidence(JsonWriter& w, const Evidence& evidence, bool with_id) {
  w.StartObject();
  write_key(w, "kind");
  write_string(w, evidence_kind_name(evidence.kind()));
  write_key(w, "offender");
  write_string(w, evidence.offender().hex());
  write_key(w, "a");
  write_string(w, to_hex(evidence.a()));
  write_key(w, "sig_a");
  write_string(w, evidence.sig_a().hex());
  write_key(w, "b");
  write_string(w, to_hex(evidence.b()));
  write_key(w, "sig_b");
  write_string(w, evidence.sig_b().hex());
  if (with_id) {
    write_key(w, "id");
    write_string(w, evidence.id().hex());
  }
  w.EndObject();
}

Result<EvidencePtr> evidence_from_value(const rapidjson::Value& value) {
  auto obj = JsonObject::open(value, "evidence");
  if (!obj.ok()) return obj.error();
  auto kind_name = obj->string("kind");
  if (!kind_name.ok()) return kind_name.error();
  auto kind = parse_evidence_kind(*kind_name);
  if (!kind)
    return obj->field_error("kind",
                            "must be \"double_block\", \"double_vote\" or "
                            "\"surround_vote\"");
  auto offender = obj->fixed_hex<PublicKey>("offender");
  if (!offender.ok()) return offender.error();
  Bytes items[2];
  Signature sigs[2];
  const char* item_names[2] = {"a", "b"};
  const char* sig_names[2] = {"sig_a", "sig_b"};
  for (int i = 0; i < 2; ++i) {
    auto text = obj->string(item_names[i]);
    if (!text.ok()) return text.error();
    // Checked before decoding, as the binary decoder checks the length before reading.
    if (text->size() > 2 * kMaxEvidenceItemBytes)
      return obj->field_error(item_names[i],
                              fmt::format("is longer than {} bytes", kMaxEvidenceItemBytes));
    auto raw = from_hex(*text);
    if (!raw.ok()) return obj->field_error(item_names[i], raw.error().message);
    items[i] = std::move(*raw);
    auto sig = obj->fixed_hex<Signature>(sig_names[i]);
    if (!sig.ok()) return sig.error();
    sigs[i] = *sig;
  }
  auto stated_id = obj->optional_fixed_hex<Hash>("id");
  if (!stated_id.ok()) return stated_id.error();
  if (auto done = obj->finish(); !done.ok()) return done.error();
  auto evidence =
      Evidence::make(*kind, *offender, std::move(items[0]), sigs[0], std::move(items[1]), sigs[1]);
  if (*stated_id && **stated_id != evidence->id())
    return make_error(Reason::kIdMismatch, "stated evidence id " + (*stated_id)->hex() +
                                               " differs from the computed id " +
                                               evidence->id().hex());
  return evidence;
}

}  // namespace detail

std::string to_json(const Evidence& evidence, bool with_id) {
  rapidjson::StringBuffer buffer;
  detail::JsonWriter w(buffer);
  detail::write_evidence(w, evidence, with_id);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<EvidencePtr> evidence_from_json(std::string_view json) {
  rapidjson::Document doc;
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok()) return parsed.error();
  return detail::evidence_from_value(doc);
}

}  // namespace pos
