#include "pos/vote.h"

#include "codec.h"
#include "encoding.h"
#include "json_util.h"
#include "pos/consensus.h"
#include "pos_fmt.h"

namespace pos {

Bytes VoteFields::signing_bytes() const {
  detail::ByteWriter w(11 + 2 + chain_id.size() + 32 + 8 + 32 + 8);
  w.raw(std::string_view("pos/vote/v1"))
      .str(chain_id)
      .raw(source_hash.view())
      .u64(source_height)
      .raw(target_hash.view())
      .u64(target_height);
  return std::move(w).take();
}

Hash VoteFields::id() const {
  return Sha256().update(signing_bytes()).update(validator.view()).finish();
}

Vote::Vote(VoteFields fields, const Signature& signature)
    : fields_(std::move(fields)), signature_(signature), signing_bytes_(fields_.signing_bytes()) {
  id_ = Sha256().update(signing_bytes_).update(fields_.validator.view()).finish();
}

VotePtr Vote::make(VoteFields fields, const Signature& signature) {
  return std::make_shared<const Vote>(std::move(fields), signature);
}

VotePtr Vote::sign(VoteFields fields, const SecretKey& key) {
  fields.validator = key.public_key();
  Signature sig = key.sign(fields.signing_bytes());
  return make(std::move(fields), sig);
}

Status Vote::check_signature() const {
  std::int8_t verdict = signature_verdict_.load(std::memory_order_relaxed);
  if (verdict == 0) {
    verdict = verify(validator(), signing_bytes_, signature_) ? 1 : -1;
    signature_verdict_.store(verdict, std::memory_order_relaxed);
  }
  if (verdict < 0)
    return make_error(Reason::kBadSignature, "vote " + id_.hex() +
                                                 ": the signature does not verify for validator " +
                                                 validator().hex() + " on chain " + chain_id());
  return {};
}

Status Vote::check() const {
  if (auto ok = check_form(); !ok.ok()) return ok;
  return check_signature();
}

Status Vote::check_form() const {
  if (chain_id().empty() || chain_id().size() > kMaxChainIdLength)
    return make_error(Reason::kWrongChain, fmt::format("vote {}: a chain id of {} bytes (1 to {})",
                                                       id_, chain_id().size(), kMaxChainIdLength));
  // A link must go up: an honest validator never signs one that does not.
  if (source_height() >= target_height())
    return make_error(Reason::kBadVote,
                      fmt::format("vote {}: source height {} is not below target height {}", id_,
                                  source_height(), target_height()));
  return {};
}

namespace detail {

// Shared with the block JSON, which lists votes inside blocks.
void write_vote(JsonWriter& w, const Vote& vote, bool with_id) {
  w.StartObject();
  write_key(w, "validator");
  write_string(w, vote.validator().hex());
  write_key(w, "source_hash");
  write_string(w, vote.source_hash().hex());
  write_key(w, "source_height");
  w.Uint64(vote.source_height());
  write_key(w, "target_hash");
  write_string(w, vote.target_hash().hex());
  write_key(w, "target_height");
  w.Uint64(vote.target_height());
  write_key(w, "signature");
  write_string(w, vote.signature().hex());
  if (with_id) {
    write_key(w, "id");
    write_string(w, vote.id().hex());
  }
  w.EndObject();
}

Result<VotePtr> vote_from_value(const rapidjson::Value& value, std::string_view chain_id) {
  auto obj = JsonObject::open(value, "vote");
  if (!obj.ok()) return obj.error();
  VoteFields f;
  f.chain_id = std::string(chain_id);
  struct {
    const char* name;
    Hash* out;
  } hashes[] = {{"source_hash", &f.source_hash}, {"target_hash", &f.target_hash}};
  for (auto& h : hashes) {
    auto v = obj->fixed_hex<Hash>(h.name);
    if (!v.ok()) return v.error();
    *h.out = *v;
  }
  struct {
    const char* name;
    std::uint64_t* out;
  } numbers[] = {{"source_height", &f.source_height}, {"target_height", &f.target_height}};
  for (auto& n : numbers) {
    auto v = obj->u64(n.name);
    if (!v.ok()) return v.error();
    *n.out = *v;
  }
  auto validator = obj->fixed_hex<PublicKey>("validator");
  if (!validator.ok()) return validator.error();
  f.validator = *validator;
  auto signature = obj->fixed_hex<Signature>("signature");
  if (!signature.ok()) return signature.error();
  auto stated_id = obj->optional_fixed_hex<Hash>("id");
  if (!stated_id.ok()) return stated_id.error();
  if (auto done = obj->finish(); !done.ok()) return done.error();
  auto vote = Vote::make(std::move(f), *signature);
  if (*stated_id && **stated_id != vote->id())
    return make_error(Reason::kIdMismatch, "stated vote id " + (*stated_id)->hex() +
                                               " differs from the computed id " + vote->id().hex());
  return vote;
}

}  // namespace detail

std::string to_json(const Vote& vote, bool with_id) {
  rapidjson::StringBuffer buffer;
  detail::JsonWriter w(buffer);
  detail::write_vote(w, vote, with_id);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<VotePtr> vote_from_json(std::string_view json, std::string_view chain_id) {
  rapidjson::Document doc;
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok()) return parsed.error();
  return detail::vote_from_value(doc, chain_id);
}

}  // namespace pos
