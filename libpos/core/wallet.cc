#include "pos/wallet.h"

#include "pos/keys.h"

namespace pos {

Wallet Wallet::generate() {
  return Wallet(SecretKey::generate());
}

Result<Wallet> Wallet::load(const std::filesystem::path& pem_path,
                            const PassphraseSource& passphrase) {
  auto key = load_private_key(pem_path, passphrase);
  if (!key.ok()) return key.error();
  return Wallet(std::move(*key));
}

Status Wallet::save(const std::filesystem::path& pem_path,
                    std::optional<std::string_view> passphrase) const {
  return save_private_key(pem_path, key_, passphrase);
}

TransactionPtr Wallet::create_transaction(TxFields fields) const {
  fields.sender = public_key();
  return Transaction::sign(std::move(fields), key_);
}

namespace {

TxFields fields_of(const std::string& chain_id, TxType type, const Address& to,
                   std::uint64_t amount, std::uint64_t fee, std::uint64_t nonce,
                   std::uint64_t timestamp_ms) {
  TxFields f;
  f.chain_id = chain_id;
  f.type = type;
  f.receiver = to;
  f.amount = amount;
  f.fee = fee;
  f.nonce = nonce;
  f.timestamp_ms = timestamp_ms;
  return f;
}

}  // namespace

TransactionPtr Wallet::transfer(const std::string& chain_id, const Address& to,
                                std::uint64_t amount, std::uint64_t fee, std::uint64_t nonce,
                                std::uint64_t timestamp_ms) const {
  return create_transaction(
      fields_of(chain_id, TxType::kTransfer, to, amount, fee, nonce, timestamp_ms));
}

TransactionPtr Wallet::stake(const std::string& chain_id, std::uint64_t amount, std::uint64_t fee,
                             std::uint64_t nonce, std::uint64_t timestamp_ms) const {
  return create_transaction(
      fields_of(chain_id, TxType::kStake, public_key(), amount, fee, nonce, timestamp_ms));
}

TransactionPtr Wallet::unstake(const std::string& chain_id, std::uint64_t amount, std::uint64_t fee,
                               std::uint64_t nonce, std::uint64_t timestamp_ms) const {
  return create_transaction(
      fields_of(chain_id, TxType::kUnstake, public_key(), amount, fee, nonce, timestamp_ms));
}

TransactionPtr Wallet::exchange(const std::string& chain_id, const Address& to,
                                std::uint64_t amount, std::uint64_t fee, std::uint64_t nonce,
                                std::uint64_t timestamp_ms) const {
  return create_transaction(
      fields_of(chain_id, TxType::kExchange, to, amount, fee, nonce, timestamp_ms));
}

BlockPtr Wallet::sign_block(BlockHeader header, std::vector<TransactionPtr> transactions) const {
  return Block::sign(std::move(header), std::move(transactions), key_);
}

}  // namespace pos
