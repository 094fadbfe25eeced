// The account state: address -> {balance, stake, nonce, unbonding, slashed, jailed}, with its
// commitment state_root maintained incrementally in a crit-bit Merkle tree (docs/protocol.md).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "pos/crypto.h"

namespace pos {

struct Account {
  std::uint64_t balance = 0;
  std::uint64_t stake = 0;
  std::uint64_t nonce = 0;
  // Unstaked, not yet spendable, and the height of the latest UNSTAKE that added to it: the
  // amount matures once that block is finalized deep enough (docs/consensus.md, "Unbonding").
  std::uint64_t unbonding = 0;
  std::uint64_t unbonding_height = 0;
  // Evidence on the chain burned its stake (docs/consensus.md, "Evidence and slashing"): it can
  // never stake again, so the account exists even when all else is zero.
  bool slashed = false;
  // Downtime jailed it (docs/consensus.md, "Downtime"): it keeps its stake but leaves the
  // validator sets until it sends a STAKE.
  bool jailed = false;

  bool empty() const {
    return balance == 0 && stake == 0 && nonce == 0 && unbonding == 0 && !slashed && !jailed;
  }
  bool operator==(const Account&) const = default;
};

// The flags byte of the state root's leaf and of the stored account: bit 0 slashed, bit 1 jailed.
inline std::uint8_t account_flags(const Account& a) {
  return static_cast<std::uint8_t>((a.slashed ? 1 : 0) | (a.jailed ? 2 : 0));
}

class AccountModel {
 public:
  explicit AccountModel(const Hash& params_hash);
  AccountModel(AccountModel&&) noexcept;
  AccountModel& operator=(AccountModel&&) noexcept;
  ~AccountModel();

  // The account, or an all-zero one when the address has none.
  Account get(const Address& address) const;
  bool contains(const Address& address) const;
  // Stores the account; an empty account is removed, so that existence is canonical.
  void put(const Address& address, const Account& account);

  // SHA-256("pos/state/v2" || params_hash || trie_root); recomputes only what changed.
  Hash state_root() const;

  std::size_t size() const;
  std::uint64_t total_stake() const { return total_stake_; }
  // Balances + stakes + unbonding of all accounts; the EXCHANGE rule keeps it within u64.
  std::uint64_t total_supply() const { return total_supply_; }
  // Addresses with stake > 0, ordered by public key bytes.
  const std::map<Address, std::uint64_t>& stakers() const { return stakers_; }
  // Counts changes to the staker set, so that leader draws can be cached per version.
  std::uint64_t stakers_version() const { return stakers_version_; }
  // Whether any account is marked slashed: most chains have none, and then a look-up of each
  // vote's signer for the mark is spared.
  bool any_slashed() const { return slashed_ > 0; }
  // The accounts whose unbonding amount comes from an UNSTAKE at or below `height`.
  std::vector<Address> unbonding_up_to(std::uint64_t height) const;
  void for_each(const std::function<void(const Address&, const Account&)>& fn) const;

 private:
  struct Trie;
  Hash params_hash_;
  std::unique_ptr<Trie> trie_;
  std::map<Address, std::uint64_t> stakers_;
  std::map<std::uint64_t, std::set<Address>> releases_;
  std::uint64_t total_stake_ = 0;
  std::uint64_t total_supply_ = 0;
  std::uint64_t stakers_version_ = 0;
  std::size_t slashed_ = 0;  // accounts marked slashed
};

// The prior value of each account a block touched, so that the block can be undone.
struct UndoRecord {
  std::vector<std::pair<Address, Account>> prior;
};

}  // namespace pos
