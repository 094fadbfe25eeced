#include "pos/block.h"

#include "codec.h"
#include "encoding.h"
#include "pos/consensus.h"
#include "pos_fmt.h"

namespace pos {

Bytes BlockHeader::signing_bytes() const {
  detail::ByteWriter w(12 + 2 + chain_id.size() + 8 + 32 + 8 + 8 + 32 + 80 + 32 * 4 + 4 * 3);
  w.raw(std::string_view("pos/block/v2"))
      .str(chain_id)
      .u64(height)
      .raw(parent.view())
      .u64(slot)
      .u64(timestamp_ms)
      .raw(forger.view())
      .raw(vrf_proof.view())
      .raw(tx_root.view())
      .raw(vote_root.view())
      .raw(evidence_root.view())
      .raw(state_root.view())
      .u32(tx_count)
      .u32(vote_count)
      .u32(evidence_count);
  return std::move(w).take();
}

Block::Block(BlockHeader header, const Signature& signature,
             std::vector<TransactionPtr> transactions, std::vector<VotePtr> votes,
             std::vector<EvidencePtr> evidence)
    : header_(std::move(header)),
      signature_(signature),
      transactions_(std::move(transactions)),
      votes_(std::move(votes)),
      evidence_(std::move(evidence)) {
  Bytes bytes = header_.signing_bytes();
  hash_ = sha256(bytes);
  encoded_size_ = bytes.size() + kBlockSignatureBytes;
  for (const auto& tx : transactions_) encoded_size_ += tx->encoded_size();
  for (const auto& vote : votes_) encoded_size_ += vote->encoded_size();
  for (const auto& e : evidence_) encoded_size_ += e->bytes().size();
}

BlockPtr Block::make(BlockHeader header, const Signature& signature,
                     std::vector<TransactionPtr> transactions, std::vector<VotePtr> votes,
                     std::vector<EvidencePtr> evidence) {
  return std::make_shared<const Block>(std::move(header), signature, std::move(transactions),
                                       std::move(votes), std::move(evidence));
}

BlockPtr Block::sign(BlockHeader header, std::vector<TransactionPtr> transactions,
                     const SecretKey& forger_key, std::vector<VotePtr> votes,
                     std::vector<EvidencePtr> evidence) {
  header.tx_root = transactions_root(transactions);
  header.tx_count = static_cast<std::uint32_t>(transactions.size());
  header.vote_root = votes_root(votes);
  header.vote_count = static_cast<std::uint32_t>(votes.size());
  header.evidence_root = pos::evidence_root(evidence);
  header.evidence_count = static_cast<std::uint32_t>(evidence.size());
  header.forger = forger_key.public_key();
  Signature sig = forger_key.sign(header.signing_bytes());
  return make(std::move(header), sig, std::move(transactions), std::move(votes),
              std::move(evidence));
}

Result<VrfOutput> Block::vrf_output() const {
  if (header_.height == 0) return VrfOutput{};
  return vrf_proof_to_hash(header_.vrf_proof);
}

Result<VrfOutput> Block::verify_vrf(ByteView alpha) const {
  const Hash key = sha256(alpha);
  std::lock_guard lock(vrf_mutex_);
  if (!vrf_verdict_ || vrf_verdict_->first != key)
    vrf_verdict_.emplace(key, vrf_verify(header_.forger, alpha, header_.vrf_proof));
  return vrf_verdict_->second;
}

Status Block::check_signature() const {
  std::int8_t verdict = signature_verdict_.load(std::memory_order_relaxed);
  if (verdict == 0) {
    verdict = verify(header_.forger, header_.signing_bytes(), signature_) ? 1 : -1;
    signature_verdict_.store(verdict, std::memory_order_relaxed);
  }
  if (verdict < 0)
    return make_error(Reason::kBadBlockSignature,
                      "the block signature does not verify for forger " + header_.forger.hex());
  return {};
}

Status Block::check_body() const {
  if (auto ok = check_form(); !ok.ok()) return ok;
  return check_body_signatures();
}

Status Block::check_body_signatures() const {
  for (const auto& vote : votes_)
    if (auto ok = vote->check_signature(); !ok.ok())
      return make_error(ok.reason(), "vote " + vote->id().hex() + ": " + ok.error().message);
  for (const auto& e : evidence_)
    if (auto ok = e->check(header_.chain_id); !ok.ok())
      return make_error(ok.reason(), "evidence " + e->id().hex() + ": " + ok.error().message);
  return {};
}

Status Block::check_form() const {
  if (form_passed_.load(std::memory_order_acquire)) return {};
  Status ok = compute_form();
  if (ok.ok()) form_passed_.store(true, std::memory_order_release);
  return ok;
}

Status Block::compute_form() const {
  if (transactions_.size() > kMaxBlockTransactions)
    return make_error(Reason::kTooManyTransactions,
                      fmt::format("{} transactions, the limit is {}", transactions_.size(),
                                  kMaxBlockTransactions));
  if (header_.tx_count != transactions_.size())
    return make_error(Reason::kBadTxCount,
                      fmt::format("header says {} transactions, the block has {}", header_.tx_count,
                                  transactions_.size()));
  if (encoded_size_ > kMaxBlockBytes)
    return make_error(Reason::kBlockTooLarge,
                      fmt::format("{} bytes, the limit is {}", encoded_size_, kMaxBlockBytes));
  for (const auto& tx : transactions_)
    if (tx->chain_id() != header_.chain_id)
      return make_error(Reason::kWrongChain, "transaction " + tx->id().hex() + " is for chain \"" +
                                                 tx->chain_id() + "\"");
  if (transactions_root(transactions_) != header_.tx_root)
    return make_error(Reason::kBadTxRoot, "the tx root does not match the transactions");
  if (header_.vote_count != votes_.size())
    return make_error(Reason::kMalformed, fmt::format("header says {} votes, the block has {}",
                                                      header_.vote_count, votes_.size()));
  if (evidence_.size() > kMaxBlockEvidence)
    return make_error(Reason::kMalformed, fmt::format("{} pieces of evidence, the limit is {}",
                                                      evidence_.size(), kMaxBlockEvidence));
  if (header_.evidence_count != evidence_.size())
    return make_error(Reason::kMalformed,
                      fmt::format("header says {} pieces of evidence, the block has {}",
                                  header_.evidence_count, evidence_.size()));
  if (votes_root(votes_) != header_.vote_root)
    return make_error(Reason::kMalformed, "the vote root does not match the votes");
  if (pos::evidence_root(evidence_) != header_.evidence_root)
    return make_error(Reason::kMalformed, "the evidence root does not match the evidence");
  for (const auto& vote : votes_) {
    if (vote->chain_id() != header_.chain_id)
      return make_error(Reason::kWrongChain,
                        "vote " + vote->id().hex() + " is for chain \"" + vote->chain_id() + "\"");
    if (auto ok = vote->check_form(); !ok.ok())
      return make_error(ok.reason(), "vote " + vote->id().hex() + ": " + ok.error().message);
  }
  return {};
}

namespace {

Hash leaf_hash(const Hash& id) {
  std::uint8_t prefix = 0x00;
  return Sha256().update(ByteView(&prefix, 1)).update(id.view()).finish();
}

Hash merkle_range(std::span<const Hash> ids) {
  if (ids.size() == 1) return leaf_hash(ids[0]);
  std::size_t k = 1;
  while (k * 2 < ids.size()) k *= 2;
  Hash left = merkle_range(ids.subspan(0, k));
  Hash right = merkle_range(ids.subspan(k));
  std::uint8_t prefix = 0x01;
  return Sha256().update(ByteView(&prefix, 1)).update(left.view()).update(right.view()).finish();
}

}  // namespace

Hash merkle_root(std::span<const Hash> ids) {
  if (ids.empty()) return sha256(ByteView());
  return merkle_range(ids);
}

namespace {

template <class Items>
Hash root_of_ids(const Items& items) {
  std::vector<Hash> ids;
  ids.reserve(items.size());
  for (const auto& item : items) ids.push_back(item->id());
  return merkle_root(ids);
}

}  // namespace

Hash transactions_root(const std::vector<TransactionPtr>& transactions) {
  return root_of_ids(transactions);
}

Hash votes_root(const std::vector<VotePtr>& votes) {
  return root_of_ids(votes);
}

Hash evidence_root(const std::vector<EvidencePtr>& evidence) {
  return root_of_ids(evidence);
}

namespace {

bool is_unsigned_genesis(const BlockHeader& header, const Signature& signature) {
  return header.height == 0 && header.forger.is_zero() && signature.is_zero();
}

}  // namespace

std::string to_json(const Block& block, BlockJson form) {
  using detail::write_key;
  using detail::write_string;
  rapidjson::StringBuffer buffer;
  detail::JsonWriter w(buffer);
  const BlockHeader& h = block.header();
  w.StartObject();
  write_key(w, "height");
  w.Uint64(h.height);
  write_key(w, "hash");
  write_string(w, block.hash().hex());
  write_key(w, "parent");
  write_string(w, h.parent.hex());
  write_key(w, "slot");
  w.Uint64(h.slot);
  write_key(w, "timestamp");
  w.Uint64(h.timestamp_ms);
  write_key(w, "forger");
  write_string(w, h.forger.hex());
  write_key(w, "vrf_proof");
  write_string(w, h.vrf_proof.hex());
  write_key(w, "vrf_output");
  auto output = block.vrf_output();
  write_string(w, (output.ok() ? *output : VrfOutput{}).hex());
  write_key(w, "tx_root");
  write_string(w, h.tx_root.hex());
  write_key(w, "vote_root");
  write_string(w, h.vote_root.hex());
  write_key(w, "evidence_root");
  write_string(w, h.evidence_root.hex());
  write_key(w, "state_root");
  write_string(w, h.state_root.hex());
  write_key(w, "tx_count");
  w.Uint64(h.tx_count);
  write_key(w, "vote_count");
  w.Uint64(h.vote_count);
  write_key(w, "evidence_count");
  w.Uint64(h.evidence_count);
  write_key(w, "signature");
  write_string(w, is_unsigned_genesis(h, block.signature()) ? "" : block.signature().hex());
  if (form == BlockJson::kFull) {
    write_key(w, "transactions");
    w.StartArray();
    for (const auto& tx : block.transactions()) detail::write_transaction(w, *tx, true);
    w.EndArray();
    write_key(w, "votes");
    w.StartArray();
    for (const auto& vote : block.votes()) detail::write_vote(w, *vote, true);
    w.EndArray();
    write_key(w, "evidence");
    w.StartArray();
    for (const auto& e : block.evidence()) detail::write_evidence(w, *e, true);
    w.EndArray();
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<BlockPtr> block_from_json(std::string_view json, std::string_view chain_id) {
  rapidjson::Document doc;
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok()) return parsed.error();
  auto obj = detail::JsonObject::open(doc, "block");
  if (!obj.ok()) return obj.error();
  BlockHeader h;
  h.chain_id = std::string(chain_id);
  struct {
    const char* name;
    std::uint64_t* out;
  } numbers[] = {{"height", &h.height}, {"slot", &h.slot}, {"timestamp", &h.timestamp_ms}};
  for (auto& n : numbers) {
    auto v = obj->u64(n.name);
    if (!v.ok()) return v.error();
    *n.out = *v;
  }
  struct {
    const char* name;
    std::uint32_t* out;
  } counts[] = {{"tx_count", &h.tx_count},
                {"vote_count", &h.vote_count},
                {"evidence_count", &h.evidence_count}};
  for (auto& n : counts) {
    auto v = obj->u64(n.name);
    if (!v.ok()) return v.error();
    if (*v > 0xffffffffULL) return obj->field_error(n.name, "exceeds u32");
    *n.out = static_cast<std::uint32_t>(*v);
  }
  struct {
    const char* name;
    Hash* out;
  } hashes[] = {{"parent", &h.parent},
                {"tx_root", &h.tx_root},
                {"vote_root", &h.vote_root},
                {"evidence_root", &h.evidence_root},
                {"state_root", &h.state_root}};
  for (auto& f : hashes) {
    auto v = obj->fixed_hex<Hash>(f.name);
    if (!v.ok()) return v.error();
    *f.out = *v;
  }
  auto forger = obj->fixed_hex<PublicKey>("forger");
  if (!forger.ok()) return forger.error();
  h.forger = *forger;
  auto proof = obj->fixed_hex<VrfProof>("vrf_proof");
  if (!proof.ok()) return proof.error();
  h.vrf_proof = *proof;
  Signature signature;
  auto sig_text = obj->string("signature");
  if (!sig_text.ok()) return sig_text.error();
  if (!sig_text->empty() || h.height != 0) {
    auto sig = Signature::from_hex(*sig_text);
    if (!sig.ok()) return obj->field_error("signature", sig.error().message);
    signature = *sig;
  }
  auto txs_value = obj->array("transactions");
  if (!txs_value.ok()) return txs_value.error();
  const rapidjson::Value& txs_array = **txs_value;
  if (txs_array.Size() > kMaxBlockTransactions)
    return make_error(
        Reason::kTooManyTransactions,
        fmt::format("{} transactions, the limit is {}", txs_array.Size(), kMaxBlockTransactions));
  std::vector<TransactionPtr> txs;
  txs.reserve(txs_array.Size());
  for (rapidjson::SizeType i = 0; i < txs_array.Size(); ++i) {
    auto tx = detail::transaction_from_value(txs_array[i], chain_id);
    if (!tx.ok())
      return make_error(tx.reason(), fmt::format("transaction {}: {}", i, tx.error().message));
    txs.push_back(std::move(*tx));
  }
  auto votes_value = obj->array("votes");
  if (!votes_value.ok()) return votes_value.error();
  std::vector<VotePtr> votes;
  for (rapidjson::SizeType i = 0; i < (*votes_value)->Size(); ++i) {
    auto vote = detail::vote_from_value((**votes_value)[i], chain_id);
    if (!vote.ok())
      return make_error(vote.reason(), fmt::format("vote {}: {}", i, vote.error().message));
    votes.push_back(std::move(*vote));
  }
  auto evidence_value = obj->array("evidence");
  if (!evidence_value.ok()) return evidence_value.error();
  if ((*evidence_value)->Size() > kMaxBlockEvidence)
    return obj->field_error("evidence", fmt::format("more than {}", kMaxBlockEvidence));
  std::vector<EvidencePtr> evidence;
  for (rapidjson::SizeType i = 0; i < (*evidence_value)->Size(); ++i) {
    auto e = detail::evidence_from_value((**evidence_value)[i]);
    if (!e.ok())
      return make_error(e.reason(), fmt::format("evidence {}: {}", i, e.error().message));
    evidence.push_back(std::move(*e));
  }
  auto stated_output = obj->optional_fixed_hex<VrfOutput>("vrf_output");
  if (!stated_output.ok()) return stated_output.error();
  auto stated_hash = obj->optional_fixed_hex<Hash>("hash");
  if (!stated_hash.ok()) return stated_hash.error();
  if (auto done = obj->finish(); !done.ok()) return done.error();
  auto block =
      Block::make(std::move(h), signature, std::move(txs), std::move(votes), std::move(evidence));
  if (*stated_hash && **stated_hash != block->hash())
    return make_error(Reason::kIdMismatch, "stated hash " + (*stated_hash)->hex() +
                                               " differs from the computed hash " +
                                               block->hash().hex());
  // Every block but genesis has a proof that decodes, or its JSON would not round-trip.
  auto output = block->vrf_output();
  if (!output.ok()) return obj->field_error("vrf_proof", output.error().message);
  if (*stated_output && *output != **stated_output)
    return obj->field_error("vrf_output", "does not match the block's VRF proof");
  return block;
}

}  // namespace pos
