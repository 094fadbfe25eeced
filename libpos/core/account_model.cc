// The state root is the root of a crit-bit (PATRICIA) Merkle tree over the accounts, keyed by
// address bits, most significant bit first. Its shape depends only on the set of addresses, so
// every node computes the same root however the accounts arrived; each change re-hashes only the
// path from its leaf to the root (about log2(accounts) nodes), lazily at the next state_root().
//   leaf     = SHA-256(0x00 || address || u64 balance || u64 stake || u64 nonce
//                      || u64 unbonding || u64 unbonding_height || u8 flags)
//              flags: bit 0 slashed, bit 1 jailed; the other bits are zero
//   internal = SHA-256(0x01 || u8 critical_bit || left || right)
//   empty    = SHA-256("")
//   state_root = SHA-256("pos/state/v2" || params_hash || trie root)
#include "pos/account_model.h"

#include <absl/container/flat_hash_map.h>

#include "encoding.h"

namespace pos {
namespace {

struct Node {
  bool leaf = true;
  std::uint8_t bit = 0;  // internal: the first bit in which the two subtrees differ
  std::unique_ptr<Node> child[2];
  Address key;
  Account account;
  Hash hash;
  bool dirty = true;
};

int bit_of(const Address& key, unsigned bit) {
  return (key.bytes[bit / 8] >> (7 - bit % 8)) & 1;
}

unsigned critical_bit(const Address& a, const Address& b) {
  for (unsigned i = 0; i < 32; ++i) {
    std::uint8_t diff = a.bytes[i] ^ b.bytes[i];
    if (diff != 0) {
      unsigned bit = 0;
      while ((diff & 0x80) == 0) {
        diff = static_cast<std::uint8_t>(diff << 1);
        ++bit;
      }
      return i * 8 + bit;
    }
  }
  return 256;
}

const Hash& node_hash(Node& n) {
  if (!n.dirty) return n.hash;
  if (n.leaf) {
    detail::ByteWriter w(1 + 32 + 40 + 1);
    w.u8(0x00)
        .raw(n.key.view())
        .u64(n.account.balance)
        .u64(n.account.stake)
        .u64(n.account.nonce)
        .u64(n.account.unbonding)
        .u64(n.account.unbonding_height)
        .u8(account_flags(n.account));
    n.hash = sha256(std::move(w).take());
  } else {
    const Hash& left = node_hash(*n.child[0]);
    const Hash& right = node_hash(*n.child[1]);
    std::uint8_t prefix[2] = {0x01, n.bit};
    n.hash = Sha256().update(ByteView(prefix, 2)).update(left.view()).update(right.view()).finish();
  }
  n.dirty = false;
  return n.hash;
}

}  // namespace

struct AccountModel::Trie {
  std::unique_ptr<Node> root;
  // Open addressing: get() is the hottest look-up of block application and vote weighing.
  absl::flat_hash_map<Address, Node*, std::hash<Address>> leaves;

  void upsert(const Address& key, const Account& account) {
    if (auto it = leaves.find(key); it != leaves.end()) {
      it->second->account = account;
      mark_path(key);
      return;
    }
    auto leaf = std::make_unique<Node>();
    leaf->key = key;
    leaf->account = account;
    leaves.emplace(key, leaf.get());
    if (!root) {
      root = std::move(leaf);
      return;
    }
    Node* closest = root.get();
    while (!closest->leaf) closest = closest->child[bit_of(key, closest->bit)].get();
    unsigned crit = critical_bit(key, closest->key);
    std::unique_ptr<Node>* slot = &root;
    while (!(*slot)->leaf && (*slot)->bit < crit) {
      (*slot)->dirty = true;
      slot = &(*slot)->child[bit_of(key, (*slot)->bit)];
    }
    auto internal = std::make_unique<Node>();
    internal->leaf = false;
    internal->bit = static_cast<std::uint8_t>(crit);
    int dir = bit_of(key, crit);
    internal->child[dir] = std::move(leaf);
    internal->child[1 - dir] = std::move(*slot);
    *slot = std::move(internal);
  }

  void erase(const Address& key) {
    if (!leaves.erase(key)) return;
    std::unique_ptr<Node>* slot = &root;
    std::unique_ptr<Node>* parent_slot = nullptr;
    int dir = 0;
    while (!(*slot)->leaf) {
      (*slot)->dirty = true;
      parent_slot = slot;
      dir = bit_of(key, (*slot)->bit);
      slot = &(*slot)->child[dir];
    }
    if (parent_slot == nullptr) {
      root.reset();
    } else {
      // Replace the parent by the leaf's sibling; the parent and the leaf are freed.
      *parent_slot = std::move((*parent_slot)->child[1 - dir]);
    }
  }

  void mark_path(const Address& key) {
    Node* n = root.get();
    while (true) {
      n->dirty = true;
      if (n->leaf) return;
      n = n->child[bit_of(key, n->bit)].get();
    }
  }

  Hash root_hash() const {
    if (!root) return sha256(ByteView());
    return node_hash(*root);
  }
};

AccountModel::AccountModel(const Hash& params_hash)
    : params_hash_(params_hash), trie_(std::make_unique<Trie>()) {}
AccountModel::AccountModel(AccountModel&&) noexcept = default;
AccountModel& AccountModel::operator=(AccountModel&&) noexcept = default;
AccountModel::~AccountModel() = default;

Account AccountModel::get(const Address& address) const {
  auto it = trie_->leaves.find(address);
  return it == trie_->leaves.end() ? Account{} : it->second->account;
}

bool AccountModel::contains(const Address& address) const {
  return trie_->leaves.contains(address);
}

void AccountModel::put(const Address& address, const Account& account) {
  Account old = get(address);
  if (old == account) return;
  total_supply_ = total_supply_ - old.balance - old.stake - old.unbonding + account.balance +
                  account.stake + account.unbonding;
  if (old.stake != account.stake) {
    total_stake_ = total_stake_ - old.stake + account.stake;
    if (account.stake == 0)
      stakers_.erase(address);
    else
      stakers_[address] = account.stake;
    ++stakers_version_;
  }
  if (old.slashed != account.slashed) account.slashed ? ++slashed_ : --slashed_;
  if (old.unbonding != 0) {
    auto it = releases_.find(old.unbonding_height);
    if (it != releases_.end()) {
      it->second.erase(address);
      if (it->second.empty()) releases_.erase(it);
    }
  }
  if (account.unbonding != 0) releases_[account.unbonding_height].insert(address);
  if (account.empty())
    trie_->erase(address);
  else
    trie_->upsert(address, account);
}

Hash AccountModel::state_root() const {
  Hash trie_root = trie_->root_hash();
  return Sha256()
      .update(std::string_view("pos/state/v2"))
      .update(params_hash_.view())
      .update(trie_root.view())
      .finish();
}

std::size_t AccountModel::size() const {
  return trie_->leaves.size();
}

std::vector<Address> AccountModel::unbonding_up_to(std::uint64_t height) const {
  std::vector<Address> out;
  for (auto it = releases_.begin(); it != releases_.end() && it->first <= height; ++it)
    out.insert(out.end(), it->second.begin(), it->second.end());
  return out;
}

void AccountModel::for_each(const std::function<void(const Address&, const Account&)>& fn) const {
  for (const auto& [address, node] : trie_->leaves) fn(address, node->account);
}

}  // namespace pos
