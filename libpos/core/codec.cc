#include "pos/codec.h"

#include "byte_reader.h"
#include "encoding.h"
#include "pos/consensus.h"

namespace pos {
namespace {

Error malformed(const char* what, const detail::ByteReader& r) {
  return make_error(Reason::kMalformed, std::string(what) + ": truncated or invalid at byte " +
                                            std::to_string(r.offset()));
}

Result<TransactionPtr> read_transaction(detail::ByteReader& r) {
  TxFields f;
  if (!r.expect("pos/tx/v1")) return malformed("transaction tag", r);
  f.chain_id = r.str();
  std::uint8_t type = r.u8();
  if (type < 1 || type > 4)
    return make_error(Reason::kUnknownType, "unknown transaction type " + std::to_string(type));
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
  return out;
}

Result<TransactionPtr> decode_transaction(ByteView bytes) {
  detail::ByteReader r(bytes);
  auto tx = read_transaction(r);
  if (tx.ok() && r.remaining() != 0)
    return make_error(Reason::kMalformed,
                      std::to_string(r.remaining()) + " bytes after the transaction");
  return tx;
}

Result<BlockPtr> decode_block(ByteView bytes) {
  if (bytes.size() > kMaxBlockBytes)
    return make_error(
        Reason::kBlockTooLarge,
        std::to_string(bytes.size()) + " bytes, the limit is " + std::to_string(kMaxBlockBytes));
  detail::ByteReader r(bytes);
  BlockHeader h;
  if (!r.expect("pos/block/v2")) return malformed("block tag", r);
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
  auto signature = r.fixed<Signature>();
  if (!r.ok()) return malformed("block header", r);
  if (h.vote_count != 0 || h.evidence_count != 0)
    return make_error(Reason::kMalformed,
                      "this protocol version carries no votes or evidence in blocks");
  if (h.tx_count > kMaxBlockTransactions)
    return make_error(Reason::kTooManyTransactions, std::to_string(h.tx_count) +
                                                        " transactions, the limit is " +
                                                        std::to_string(kMaxBlockTransactions));
  std::vector<TransactionPtr> txs;
  txs.reserve(h.tx_count);
  for (std::uint32_t i = 0; i < h.tx_count; ++i) {
    auto tx = read_transaction(r);
    if (!tx.ok())
      return make_error(tx.reason(),
                        "transaction " + std::to_string(i) + ": " + tx.error().message);
    txs.push_back(std::move(*tx));
  }
  if (r.remaining() != 0)
    return make_error(Reason::kMalformed,
                      std::to_string(r.remaining()) + " bytes after the last transaction");
  return Block::make(std::move(h), signature, std::move(txs));
}

}  // namespace pos
