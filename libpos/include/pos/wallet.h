// A Wallet owns one Ed25519 key: its address, key files, and signing transactions and blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pos/block.h"
#include "pos/crypto.h"
#include "pos/keys.h"
#include "pos/status.h"
#include "pos/transaction.h"

namespace pos {

class Wallet {
 public:
  static Wallet generate();
  // An encrypted key file asks `passphrase` for its passphrase.
  static Result<Wallet> load(const std::filesystem::path& pem_path,
                             const PassphraseSource& passphrase = {});
  explicit Wallet(SecretKey key) : key_(std::move(key)) {}

  // Encrypted (Argon2id + XChaCha20-Poly1305) when a passphrase is given.
  Status save(const std::filesystem::path& pem_path,
              std::optional<std::string_view> passphrase = std::nullopt) const;
  const PublicKey& public_key() const { return key_.public_key(); }
  std::string address() const { return key_.public_key().hex(); }
  const SecretKey& secret_key() const { return key_; }

  // Signs fields after setting their sender to this wallet's address.
  TransactionPtr create_transaction(TxFields fields) const;
  TransactionPtr transfer(const std::string& chain_id, const Address& to, std::uint64_t amount,
                          std::uint64_t fee, std::uint64_t nonce, std::uint64_t timestamp_ms) const;
  TransactionPtr stake(const std::string& chain_id, std::uint64_t amount, std::uint64_t fee,
                       std::uint64_t nonce, std::uint64_t timestamp_ms) const;
  TransactionPtr unstake(const std::string& chain_id, std::uint64_t amount, std::uint64_t fee,
                         std::uint64_t nonce, std::uint64_t timestamp_ms) const;
  TransactionPtr exchange(const std::string& chain_id, const Address& to, std::uint64_t amount,
                          std::uint64_t fee, std::uint64_t nonce, std::uint64_t timestamp_ms) const;
  BlockPtr sign_block(BlockHeader header, std::vector<TransactionPtr> transactions) const;

 private:
  SecretKey key_;
};

}  // namespace pos
