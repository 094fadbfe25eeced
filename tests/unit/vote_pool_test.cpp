// VotePool: what it keeps, in which order, what it refuses without blame, and its bounds.
#include <catch2/catch.hpp>

#include "pos/vote_pool.h"
#include "test_keys.h"
#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

VotePtr vote(const SecretKey& key, std::uint64_t source, std::uint64_t target,
             std::uint8_t target_byte = 1) {
  return Vote::sign(VoteFields{"pool-test", {}, filled(0), source, filled(target_byte), target},
                    key);
}

}  // namespace

TEST_CASE("vote pool: keeps each vote once, in leader order", "[vote_pool]") {
  VotePool pool;
  SecretKey a = key_from_index(0), b = key_from_index(1);
  VotePtr low = vote(a, 0, 1), high = vote(a, 1, 5), other = vote(b, 0, 5);
  REQUIRE(pool.add(low).ok());
  REQUIRE(pool.add(high).ok());
  REQUIRE(pool.add(other).ok());
  CHECK(pool.add(high).reason() == Reason::kAlreadyKnown);
  CHECK(pool.size() == 3);
  auto ordered = pool.by_priority();
  REQUIRE(ordered.size() == 3);
  CHECK(ordered[2] == low);  // highest target first
  CHECK(ordered[0]->target_height() == 5);
  CHECK(ordered[0]->id() < ordered[1]->id());  // then lowest id
  CHECK(pool.for_target(filled(1)).size() == 3);
  CHECK(pool.for_target(filled(2)).empty());
}

TEST_CASE("vote pool: a second vote at one target height is kept out and found", "[vote_pool]") {
  VotePool pool;
  SecretKey a = key_from_index(0);
  VotePtr first = vote(a, 0, 3, 1), second = vote(a, 0, 3, 2);
  REQUIRE(pool.add(first).ok());
  CHECK(pool.add(second).reason() == Reason::kDuplicate);
  CHECK_FALSE(pool.contains(second->id()));
  CHECK(pool.conflicting(*second) == first);
  CHECK(pool.conflicting(*first) == nullptr);
}

TEST_CASE("vote pool: one validator's quota keeps its highest targets", "[vote_pool]") {
  VotePool pool(VotePoolLimits{3});
  SecretKey a = key_from_index(0), b = key_from_index(1);
  for (std::uint64_t t : {10, 11, 12}) REQUIRE(pool.add(vote(a, 0, t)).ok());
  CHECK(pool.add(vote(a, 0, 9)).reason() == Reason::kPoolFull);
  REQUIRE(pool.add(vote(a, 0, 13)).ok());  // replaces its lowest
  REQUIRE(pool.add(vote(b, 0, 1)).ok());   // another validator is not crowded out
  CHECK(pool.size() == 4);
  CHECK_FALSE(pool.contains(vote(a, 0, 10)->id()));
  CHECK(pool.contains(vote(a, 0, 13)->id()));
}

TEST_CASE("vote pool: finalized targets are dropped", "[vote_pool]") {
  VotePool pool;
  SecretKey a = key_from_index(0), b = key_from_index(1);
  for (std::uint64_t t : {1, 2, 3, 4}) REQUIRE(pool.add(vote(a, 0, t)).ok());
  REQUIRE(pool.add(vote(b, 0, 2)).ok());
  VotePtr dropped = vote(a, 0, 2);
  REQUIRE(pool.contains(dropped->id()));
  pool.drop_targets_through(2);
  CHECK(pool.size() == 2);
  CHECK_FALSE(pool.contains(dropped->id()));
  for (const auto& v : pool.by_priority()) CHECK(v->target_height() > 2);
  // Gone from the validators' lists too: b has nothing left to conflict with.
  CHECK(pool.conflicting(*vote(b, 1, 2)) == nullptr);
  REQUIRE(pool.add(vote(b, 1, 2, 7)).ok());
  CHECK(pool.for_target(vote(b, 1, 2, 7)->target_hash()).size() == 1);
  CHECK(pool.for_target(vote(a, 0, 3)->target_hash()).size() == 2);  // a's 3 and 4, same hash
  CHECK(pool.size() == 3);
}

TEST_CASE("vote pool: a vote around a held one, or inside it, is found; others are not",
          "[vote_pool]") {
  VotePool pool(VotePoolLimits{8});
  SecretKey a = key_from_index(0), b = key_from_index(1);
  // An honest history: sources never fall as targets rise.
  for (auto [s, t] : {std::pair{0, 2}, {2, 3}, {3, 5}, {5, 6}, {6, 9}})
    REQUIRE(pool.add(vote(a, s, t)).ok());
  auto around = [&](std::uint64_t s, std::uint64_t t) { return pool.surrounding(*vote(a, s, t)); };
  CHECK(around(1, 4) != nullptr);  // around 2->3
  CHECK(around(1, 4)->target_height() == 3);
  CHECK(around(4, 7) != nullptr);  // around 5->6
  CHECK(around(7, 8) != nullptr);  // inside 6->9
  CHECK(around(7, 8)->target_height() == 9);
  CHECK(around(1, 10) != nullptr);                      // around everything from 2->3 up
  CHECK(around(4, 5) == nullptr);                       // 3->5's target: a double, not a surround
  CHECK(pool.conflicting(*vote(a, 4, 5)) != nullptr);   // which conflicting() finds
  CHECK(around(9, 10) == nullptr);                      // the next honest vote
  CHECK(around(6, 10) == nullptr);                      // same source as the last: allowed
  CHECK(around(3, 4) == nullptr);                       // between 2->3 and 3->5, touching both
  CHECK(pool.surrounding(*vote(b, 0, 10)) == nullptr);  // another validator's
  // slashable_with: the double first, then the surround, each named as what it is.
  auto pair = pool.slashable_with(*vote(a, 4, 5));
  REQUIRE(pair.other != nullptr);
  CHECK(pair.double_vote);
  CHECK(pair.other->source_height() == 3);
  pair = pool.slashable_with(*vote(a, 1, 4));
  REQUIRE(pair.other != nullptr);
  CHECK_FALSE(pair.double_vote);
  CHECK(pair.other->target_height() == 3);
  CHECK(pool.slashable_with(*vote(a, 9, 10)).other == nullptr);
  CHECK(pool.slashable_with(*vote(b, 0, 10)).other == nullptr);
  CHECK(pool.slashable_with(*vote(a, 3, 5)).other == nullptr);  // the held vote itself
  auto all = pool.by_priority();  // sorted when asked: highest target first
  REQUIRE(all.size() == 5);
  CHECK(all.front()->target_height() == 9);
  CHECK(all.back()->target_height() == 2);
  // A quota of one replaces the only vote held.
  VotePool one(VotePoolLimits{1});
  REQUIRE(one.add(vote(a, 0, 2)).ok());
  REQUIRE(one.add(vote(a, 2, 3)).ok());
  CHECK(one.size() == 1);
  CHECK(one.contains(vote(a, 2, 3)->id()));
  CHECK(one.add(vote(a, 0, 1)).reason() == Reason::kPoolFull);
}
