#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

Address random_address(std::mt19937_64& rng) {
  Address a;
  for (auto& b : a.bytes) b = static_cast<std::uint8_t>(rng());
  return a;
}

}  // namespace

TEST_CASE("the state root depends on the accounts, not on the order of changes", "[state]") {
  std::mt19937_64 rng(7);
  std::vector<std::pair<Address, Account>> accounts;
  for (int i = 0; i < 300; ++i)
    accounts.emplace_back(random_address(rng),
                          Account{rng() % 1000 + 1, rng() % 10, rng() % 5, 0, 0});
  Hash params = sha256(std::string_view("params"));
  AccountModel a(params);
  for (const auto& [addr, acc] : accounts) a.put(addr, acc);
  Hash root_a = a.state_root();
  std::shuffle(accounts.begin(), accounts.end(), rng);
  AccountModel b(params);
  // Interleave noise that is later removed or overwritten.
  for (const auto& [addr, acc] : accounts) {
    b.put(addr, Account{1, 2, 3, 0, 0});
    Address noise = random_address(rng);
    b.put(noise, Account{5, 0, 0, 0, 0});
    (void)b.state_root();
    b.put(noise, Account{});
    b.put(addr, acc);
  }
  CHECK(b.state_root() == root_a);
  CHECK(b.size() == accounts.size());
  CHECK(AccountModel(sha256(std::string_view("other"))).state_root() !=
        AccountModel(params).state_root());
}

TEST_CASE("every field of every account changes the state root", "[state]") {
  Hash params = sha256(std::string_view("params"));
  AccountModel m(params);
  Address x = key_from_index(1).public_key();
  Address y = key_from_index(2).public_key();
  m.put(x, Account{10, 0, 0, 0, 0});
  m.put(y, Account{10, 0, 0, 0, 0});
  Hash base = m.state_root();
  for (int field = 0; field < 5; ++field) {
    Account changed{10, 0, 0, 0, 0};
    std::uint64_t* f[] = {&changed.balance, &changed.stake, &changed.nonce, &changed.unbonding,
                          &changed.unbonding_height};
    *f[field] += 1;
    if (field == 4) changed.unbonding = 1;
    m.put(y, changed);
    CHECK(m.state_root() != base);
    m.put(y, Account{10, 0, 0, 0, 0});
    CHECK(m.state_root() == base);
  }
}

TEST_CASE("empty accounts are removed and the empty state has a fixed root", "[state]") {
  Hash params = sha256(std::string_view("params"));
  AccountModel m(params);
  Hash empty = m.state_root();
  Address x = key_from_index(1).public_key();
  m.put(x, Account{1, 0, 0, 0, 0});
  CHECK(m.contains(x));
  m.put(x, Account{});
  CHECK_FALSE(m.contains(x));
  CHECK(m.size() == 0);
  CHECK(m.state_root() == empty);
  CHECK(m.get(x) == Account{});
}

TEST_CASE("totals, stakers and release schedule follow every change", "[state]") {
  AccountModel m(sha256(std::string_view("params")));
  Address x = key_from_index(1).public_key();
  Address y = key_from_index(2).public_key();
  m.put(x, Account{100, 50, 0, 0, 0});
  m.put(y, Account{10, 0, 0, 5, 9});
  CHECK(m.total_supply() == 165);
  CHECK(m.total_stake() == 50);
  CHECK(m.stakers().size() == 1);
  CHECK(m.unbonding_up_to(9) == std::vector<Address>{y});
  CHECK(m.unbonding_up_to(100) == std::vector<Address>{y});
  CHECK(m.unbonding_up_to(8).empty());
  std::uint64_t version = m.stakers_version();
  m.put(x, Account{100, 0, 0, 0, 0});
  CHECK(m.stakers().empty());
  CHECK(m.stakers_version() != version);
  m.put(y, Account{15, 0, 0, 0, 0});
  CHECK(m.unbonding_up_to(9).empty());
  CHECK(m.total_supply() == 115);
}

TEST_CASE("any_slashed counts the accounts marked slashed, through every change of them",
          "[state]") {
  std::mt19937_64 rng(11);
  AccountModel state(sha256(std::string_view("params")));
  const Address a = random_address(rng), b = random_address(rng);
  CHECK_FALSE(state.any_slashed());
  Account slashed{0, 0, 3, 0, 0};
  slashed.slashed = true;
  state.put(a, slashed);
  CHECK(state.any_slashed());
  state.put(b, slashed);
  Account richer = slashed;
  richer.balance = 10;
  state.put(a, richer);     // still slashed: counted once
  state.put(b, Account{});  // erased, as an undo erases it
  CHECK(state.any_slashed());
  richer.slashed = false;  // an undone slashing
  state.put(a, richer);
  CHECK_FALSE(state.any_slashed());
  CHECK(state.get(a).balance == 10);
}
