#include "pos/transaction.h"

#include "codec.h"
#include "encoding.h"
#include "pos/consensus.h"
#include "pos_fmt.h"

namespace pos {

std::string_view tx_type_name(TxType type) {
  switch (type) {
    case TxType::kTransfer:
      return "TRANSFER";
    case TxType::kStake:
      return "STAKE";
    case TxType::kUnstake:
      return "UNSTAKE";
    case TxType::kExchange:
      return "EXCHANGE";
  }
  return "UNKNOWN";
}

std::optional<TxType> parse_tx_type(std::string_view name) {
  for (TxType t : {TxType::kTransfer, TxType::kStake, TxType::kUnstake, TxType::kExchange})
    if (tx_type_name(t) == name) return t;
  return std::nullopt;
}

Bytes TxFields::signing_bytes() const {
  detail::ByteWriter w(9 + 2 + chain_id.size() + 1 + 64 + 32);
  w.raw(std::string_view("pos/tx/v1"))
      .str(chain_id)
      .u8(static_cast<std::uint8_t>(type))
      .raw(sender.view())
      .raw(receiver.view())
      .u64(amount)
      .u64(fee)
      .u64(nonce)
      .u64(timestamp_ms);
  return std::move(w).take();
}

Transaction::Transaction(TxFields fields, const Signature& signature)
    : fields_(std::move(fields)), signature_(signature) {
  Bytes bytes = fields_.signing_bytes();
  id_ = sha256(bytes);
  encoded_size_ = bytes.size() + Signature::size();
}

TransactionPtr Transaction::make(TxFields fields, const Signature& signature) {
  return std::make_shared<const Transaction>(std::move(fields), signature);
}

TransactionPtr Transaction::sign(TxFields fields, const SecretKey& key) {
  Signature sig = key.sign(fields.signing_bytes());
  return make(std::move(fields), sig);
}

Status Transaction::check_signature() const {
  std::int8_t verdict = signature_verdict_.load(std::memory_order_relaxed);
  if (verdict == 0) {
    verdict = verify(sender(), fields_.signing_bytes(), signature_) ? 1 : -1;
    signature_verdict_.store(verdict, std::memory_order_relaxed);
  }
  if (verdict < 0)
    return make_error(Reason::kBadSignature, "transaction " + id_.hex() +
                                                 ": the signature does not verify for sender " +
                                                 sender().hex() + " on chain " + chain_id());
  return {};
}

Status Transaction::check_form(const Address& exchange_authority) const {
  if (tx_type_name(type()) == "UNKNOWN")
    return make_error(Reason::kUnknownType,
                      fmt::format("unknown transaction type {}", static_cast<int>(type())));
  if (chain_id().size() > kMaxChainIdLength)
    return make_error(Reason::kWrongChain,
                      fmt::format("chain id longer than {} bytes", kMaxChainIdLength));
  if (amount() == 0) return make_error(Reason::kZeroAmount, "the amount must be positive");
  if ((type() == TxType::kStake || type() == TxType::kUnstake) && receiver() != sender())
    return make_error(Reason::kBadReceiver,
                      std::string(tx_type_name(type())) + " must have receiver = sender");
  if (type() == TxType::kExchange && sender() != exchange_authority)
    return make_error(Reason::kUnauthorizedExchange,
                      "EXCHANGE sender " + sender().hex() + " is not the exchange authority");
  return {};
}

Status Transaction::check_stateless(const Address& exchange_authority) const {
  if (auto ok = check_form(exchange_authority); !ok.ok()) return ok;
  return check_signature();
}

namespace detail {

void write_transaction(JsonWriter& w, const Transaction& tx, bool with_id) {
  w.StartObject();
  if (with_id) {
    write_key(w, "id");
    write_string(w, tx.id().hex());
  }
  write_key(w, "type");
  write_string(w, tx_type_name(tx.type()));
  write_key(w, "sender");
  write_string(w, tx.sender().hex());
  write_key(w, "receiver");
  write_string(w, tx.receiver().hex());
  write_key(w, "amount");
  w.Uint64(tx.amount());
  write_key(w, "fee");
  w.Uint64(tx.fee());
  write_key(w, "nonce");
  w.Uint64(tx.nonce());
  write_key(w, "timestamp");
  w.Uint64(tx.timestamp_ms());
  write_key(w, "signature");
  write_string(w, tx.signature().hex());
  w.EndObject();
}

Result<TransactionPtr> transaction_from_value(const rapidjson::Value& value,
                                              std::string_view chain_id) {
  auto obj = JsonObject::open(value, "transaction");
  if (!obj.ok()) return obj.error();
  TxFields f;
  f.chain_id = std::string(chain_id);
  auto type = obj->string("type");
  if (!type.ok()) return type.error();
  auto parsed_type = parse_tx_type(*type);
  if (!parsed_type)
    return make_error(Reason::kUnknownType,
                      "unknown transaction type \"" + std::string(*type) +
                          "\" (expected TRANSFER, STAKE, UNSTAKE or EXCHANGE)");
  f.type = *parsed_type;
  auto sender = obj->fixed_hex<Address>("sender");
  if (!sender.ok()) return sender.error();
  f.sender = *sender;
  auto receiver = obj->fixed_hex<Address>("receiver");
  if (!receiver.ok()) return receiver.error();
  f.receiver = *receiver;
  struct {
    const char* name;
    std::uint64_t* out;
  } numbers[] = {
      {"amount", &f.amount}, {"fee", &f.fee}, {"nonce", &f.nonce}, {"timestamp", &f.timestamp_ms}};
  for (auto& n : numbers) {
    auto v = obj->u64(n.name);
    if (!v.ok()) return v.error();
    *n.out = *v;
  }
  auto signature = obj->fixed_hex<Signature>("signature");
  if (!signature.ok()) return signature.error();
  if (obj->has("chain_id")) {
    auto stated = obj->string("chain_id");
    if (!stated.ok()) return stated.error();
    if (*stated != chain_id)
      return make_error(Reason::kWrongChain, "transaction for chain \"" + std::string(*stated) +
                                                 "\", this chain is \"" + std::string(chain_id) +
                                                 "\"");
  }
  auto stated_id = obj->optional_fixed_hex<Hash>("id");
  if (!stated_id.ok()) return stated_id.error();
  if (auto done = obj->finish(); !done.ok()) return done.error();
  auto tx = Transaction::make(std::move(f), *signature);
  if (*stated_id && **stated_id != tx->id())
    return make_error(Reason::kIdMismatch, "stated id " + (*stated_id)->hex() +
                                               " differs from the computed id " + tx->id().hex());
  return tx;
}

}  // namespace detail

std::string to_json(const Transaction& tx, bool with_id) {
  rapidjson::StringBuffer buffer;
  detail::JsonWriter w(buffer);
  detail::write_transaction(w, tx, with_id);
  return std::string(buffer.GetString(), buffer.GetSize());
}

Result<TransactionPtr> transaction_from_json(std::string_view json, std::string_view chain_id) {
  rapidjson::Document doc;
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok()) return parsed.error();
  return detail::transaction_from_value(doc, chain_id);
}

Result<std::vector<Result<TransactionPtr>>> transactions_from_json_array(std::string_view json,
                                                                         std::string_view chain_id,
                                                                         std::size_t max_items) {
  rapidjson::Document doc;
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok()) return parsed.error();
  if (!doc.IsArray())
    return make_error(Reason::kMalformed, "expected a JSON array of transactions");
  if (doc.Size() > max_items)
    return make_error(
        Reason::kPayloadTooLarge,
        fmt::format("{} transactions, the limit per request is {}", doc.Size(), max_items));
  std::vector<Result<TransactionPtr>> out;
  out.reserve(doc.Size());
  for (const auto& item : doc.GetArray())
    out.push_back(detail::transaction_from_value(item, chain_id));
  return out;
}

}  // namespace pos
