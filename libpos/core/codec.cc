#include "pos/codec.h"

#include <algorithm>

#include "byte_reader.h"
#include "encoding.h"
#include "pos/consensus.h"
#include "pos_fmt.h"

namespace pos {
namespace {

// The shortest encodings (an empty chain id): bounds on what a count may reserve.
constexpr std::size_t kMinTransactionBytes = 9 + 2 + 1 + 32 + 32 + 4 * 8 + 64;
constexpr std::size_t kMinVoteBytes = 11 + 2 + 32 + 8 + 32 + 8 + 32 + 64;

Error malformed(const char* what, const detail::ByteReader& r) {
  return make_error(Reason::kMalformed,
                    fmt::format("{}: truncated or invalid at byte {}", what, r.offset()));
}

Result<TransactionPtr> read_transaction(detail::ByteReader& r) {
  TxFields f;
  if (!r.expect("pos/tx/v1")) return malformed("transaction tag", r);
  f.chain_id = r.str();
  std::uint8_t type = r.u8();
  if (type < 1 || type > 4)
    return make_error(Reason::kUnknownType, fmt::format("unknown transaction type {}", type));
  f.type = static_cast<TxType>(type);
  f.sender = r.fixed<Address>();
  f.receiver = r.fixed<Address>();
  f.amount = r.u64();
  f.fee = r.u64();
  f.nonce = r.u64();
  f.timestamp_ms = r.u64();
  auto signature = r.fixed<Signature>();
  if (!r.ok()) return malformed("transaction", r);
  return Transaction::make(std::move(f), signature);
}

// The header layout, without the signature; false on a bad tag (the reader then has failed).
bool read_header(detail::ByteReader& r, BlockHeader& h) {
  if (!r.expect("pos/block/v2")) return false;
  h.chain_id = r.str();
  h.height = r.u64();
  h.parent = r.fixed<Hash>();
  h.slot = r.u64();
  h.timestamp_ms = r.u64();
  h.forger = r.fixed<PublicKey>();
  h.vrf_proof = r.fixed<VrfProof>();
  h.tx_root = r.fixed<Hash>();
  h.vote_root = r.fixed<Hash>();
  h.evidence_root = r.fixed<Hash>();
  h.state_root = r.fixed<Hash>();
  h.tx_count = r.u32();
  h.vote_count = r.u32();
  h.evidence_count = r.u32();
  return true;
}

// The vote signing bytes; the validator stays zero.
VoteFields read_vote_fields(detail::ByteReader& r) {
  VoteFields f;
  if (!r.expect("pos/vote/v1")) return f;
  f.chain_id = r.str();
  f.source_hash = r.fixed<Hash>();
  f.source_height = r.u64();
  f.target_hash = r.fixed<Hash>();
  f.target_height = r.u64();
  return f;
}

Result<VotePtr> read_vote(detail::ByteReader& r) {
  VoteFields f = read_vote_fields(r);
  f.validator = r.fixed<PublicKey>();
  auto signature = r.fixed<Signature>();
  if (!r.ok()) return malformed("vote", r);
  // No chain has an empty or overlong id: refused here rather than stored.
  if (f.chain_id.empty() || f.chain_id.size() > kMaxChainIdLength)
    return make_error(Reason::kMalformed, fmt::format("vote: a chain id of {} bytes (1 to {})",
                                                      f.chain_id.size(), kMaxChainIdLength));
  return Vote::make(std::move(f), signature);
}

Result<EvidencePtr> read_evidence(detail::ByteReader& r) {
  if (!r.expect("pos/evidence/v1")) return malformed("evidence tag", r);
  std::uint8_t kind = r.u8();
  if (r.ok() && (kind < 1 || kind > 3))
    return make_error(Reason::kMalformed, fmt::format("unknown evidence kind {}", kind));
  auto offender = r.fixed<PublicKey>();
  Bytes items[2];
  Signature sigs[2];
  for (int i = 0; i < 2; ++i) {
    std::uint32_t length = r.u32();
    // Checked before reading: a forged length never sizes an allocation.
    if (r.ok() && length > kMaxEvidenceItemBytes)
      return make_error(Reason::kMalformed,
                        fmt::format("evidence item {} of {} bytes, the limit is {}",
                                    i == 0 ? "a" : "b", length, kMaxEvidenceItemBytes));
    ByteView item = r.take(length);
    items[i].assign(item.begin(), item.end());
    sigs[i] = r.fixed<Signature>();
  }
  if (!r.ok()) return malformed("evidence", r);
  return Evidence::make(static_cast<EvidenceKind>(kind), offender, std::move(items[0]), sigs[0],
                        std::move(items[1]), sigs[1]);
}

Status check_chain(std::string_view what, std::string_view stated, std::string_view chain_id) {
  if (stated != chain_id)
    return make_error(Reason::kWrongChain, std::string(what) + " for chain \"" +
                                               std::string(stated) + "\", this chain is \"" +
                                               std::string(chain_id) + "\"");
  return {};
}

Error trailing(const char* what, const detail::ByteReader& r) {
  return make_error(Reason::kMalformed, fmt::format("{} bytes after the {}", r.remaining(), what));
}

void append(Bytes& out, const Bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

}  // namespace

Bytes encode(const Transaction& tx) {
  Bytes out = tx.fields().signing_bytes();
  out.insert(out.end(), tx.signature().bytes.begin(), tx.signature().bytes.end());
  return out;
}

Bytes encode(const Block& block) {
  Bytes out = block.header().signing_bytes();
  out.reserve(block.encoded_size());
  out.insert(out.end(), block.signature().bytes.begin(), block.signature().bytes.end());
  for (const auto& tx : block.transactions()) append(out, encode(*tx));
  for (const auto& vote : block.votes()) append(out, encode(*vote));
  for (const auto& evidence : block.evidence()) append(out, evidence->bytes());
  return out;
}

Bytes encode(const Vote& vote) {
  Bytes out;
  out.reserve(vote.encoded_size());
  append(out, vote.signing_bytes());
  out.insert(out.end(), vote.validator().bytes.begin(), vote.validator().bytes.end());
  out.insert(out.end(), vote.signature().bytes.begin(), vote.signature().bytes.end());
  return out;
}

Bytes encode(const Evidence& evidence) {
  return evidence.bytes();
}

Result<TransactionPtr> decode_transaction(ByteView bytes) {
  detail::ByteReader r(bytes);
  auto tx = read_transaction(r);
  if (tx.ok() && r.remaining() != 0)
    return make_error(Reason::kMalformed,
                      fmt::format("{} bytes after the transaction", r.remaining()));
  return tx;
}

Result<BlockPtr> decode_block(ByteView bytes) {
  if (bytes.size() > kMaxBlockBytes)
    return make_error(Reason::kBlockTooLarge,
                      fmt::format("{} bytes, the limit is {}", bytes.size(), kMaxBlockBytes));
  detail::ByteReader r(bytes);
  BlockHeader h;
  if (!read_header(r, h)) return malformed("block tag", r);
  auto signature = r.fixed<Signature>();
  if (!r.ok()) return malformed("block header", r);
  if (h.evidence_count > kMaxBlockEvidence)
    return make_error(Reason::kMalformed, fmt::format("{} pieces of evidence, the limit is {}",
                                                      h.evidence_count, kMaxBlockEvidence));
  if (h.tx_count > kMaxBlockTransactions)
    return make_error(Reason::kTooManyTransactions, fmt::format("{} transactions, the limit is {}",
                                                                h.tx_count, kMaxBlockTransactions));
  std::vector<TransactionPtr> txs;
  txs.reserve(std::min<std::size_t>(h.tx_count, r.remaining() / kMinTransactionBytes));
  for (std::uint32_t i = 0; i < h.tx_count; ++i) {
    auto tx = read_transaction(r);
    if (!tx.ok())
      return make_error(tx.reason(), fmt::format("transaction {}: {}", i, tx.error().message));
    txs.push_back(std::move(*tx));
  }
  std::vector<VotePtr> votes;
  // A count sizes no allocation beyond what the bytes left could hold.
  votes.reserve(std::min<std::size_t>(h.vote_count, r.remaining() / kMinVoteBytes));
  for (std::uint32_t i = 0; i < h.vote_count; ++i) {
    auto vote = read_vote(r);
    if (!vote.ok())
      return make_error(vote.reason(), fmt::format("vote {}: {}", i, vote.error().message));
    votes.push_back(std::move(*vote));
  }
  std::vector<EvidencePtr> evidence;
  for (std::uint32_t i = 0; i < h.evidence_count; ++i) {
    auto e = read_evidence(r);
    if (!e.ok())
      return make_error(e.reason(), fmt::format("evidence {}: {}", i, e.error().message));
    evidence.push_back(std::move(*e));
  }
  if (r.remaining() != 0)
    return make_error(Reason::kMalformed,
                      fmt::format("{} bytes after the block's body", r.remaining()));
  return Block::make(std::move(h), signature, std::move(txs), std::move(votes),
                     std::move(evidence));
}

Result<VotePtr> decode_vote(ByteView bytes) {
  detail::ByteReader r(bytes);
  auto vote = read_vote(r);
  if (vote.ok() && r.remaining() != 0) return trailing("vote", r);
  return vote;
}

Result<EvidencePtr> decode_evidence(ByteView bytes) {
  detail::ByteReader r(bytes);
  auto evidence = read_evidence(r);
  if (evidence.ok() && r.remaining() != 0) return trailing("evidence", r);
  return evidence;
}

Result<BlockHeader> parse_header_bytes(ByteView bytes, std::string_view chain_id) {
  detail::ByteReader r(bytes);
  BlockHeader h;
  if (!read_header(r, h)) return malformed("header tag", r);
  if (!r.ok()) return malformed("header", r);
  if (r.remaining() != 0) return trailing("header", r);
  if (auto same = check_chain("header", h.chain_id, chain_id); !same.ok()) return same.error();
  return h;
}

Result<VoteFields> parse_vote_signing_bytes(ByteView bytes, std::string_view chain_id) {
  detail::ByteReader r(bytes);
  VoteFields f = read_vote_fields(r);
  if (!r.ok()) return malformed("vote signing bytes", r);
  if (r.remaining() != 0) return trailing("vote signing bytes", r);
  if (auto same = check_chain("vote", f.chain_id, chain_id); !same.ok()) return same.error();
  return f;
}

}  // namespace pos
