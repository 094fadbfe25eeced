// The FFG fixpoint of one chain: justification by a double supermajority, k-finality, votes
// counted whatever their order, expiry, and states of sibling blocks kept apart.
#include <catch2/catch.hpp>

#include <vector>

#include "pos/finality.h"

using namespace pos;

namespace {

constexpr std::uint64_t kEpochSlots = 8;

PublicKey validator(std::size_t i) {
  PublicKey key;
  key.bytes[0] = static_cast<std::uint8_t>(i + 1);
  return key;
}

// A chain of blocks one slot apart, block h in slot h, with the FFG state after each.
struct Chain {
  std::vector<FinalityState> states{FinalityState::genesis(hash_of(0))};

  static Hash hash_of(std::uint64_t height) {
    Hash h;
    for (int i = 0; i < 8; ++i)
      h.bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(height >> (8 * i));
    h.bytes[31] = 0xcc;
    return h;
  }
  static Checkpoint at(std::uint64_t height) { return Checkpoint{hash_of(height), height, height}; }
  const FinalityState& tip() const { return states.back(); }
  std::uint64_t height() const { return states.size() - 1; }
  // Adds the next block carrying `votes`.
  void add(const std::vector<CountedVote>& votes) {
    std::uint64_t h = height() + 1;
    states.push_back(tip().child(at(h), votes, kEpochSlots));
  }
};

// `weights[i]` of validator i in both sets (the sets being the same), voting source -> target.
std::vector<CountedVote> votes(std::uint64_t source, std::uint64_t target,
                               const std::vector<std::uint64_t>& weights,
                               const std::vector<std::size_t>& voters) {
  std::uint64_t total = 0;
  for (auto w : weights) total += w;
  std::vector<CountedVote> out;
  for (std::size_t v : voters)
    out.push_back(CountedVote{validator(v), Chain::at(source), Chain::at(target), weights[v],
                              weights[v], total, total});
  return out;
}

std::vector<CountedVote> concat(std::vector<CountedVote> a, const std::vector<CountedVote>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<std::uint64_t> kFour = {1, 1, 1, 1};

}  // namespace

TEST_CASE("finality: genesis is justified and finalized", "[finality]") {
  Chain c;
  CHECK(c.tip().justified() == Chain::at(0));
  CHECK(c.tip().finalized() == Chain::at(0));
  CHECK(c.tip().is_justified(0));
  CHECK_FALSE(c.tip().is_justified(1));
}

TEST_CASE("finality: is_supermajority is 3w > 2t exactly, without overflow", "[finality]") {
  CHECK(is_supermajority(3, 4));
  CHECK_FALSE(is_supermajority(2, 3));
  CHECK(is_supermajority(3, 3));
  CHECK_FALSE(is_supermajority(0, 0));
  CHECK_FALSE(is_supermajority(4, 6));
  CHECK(is_supermajority(5, 6));
  const std::uint64_t max = UINT64_MAX;
  CHECK(is_supermajority(max, max));
  CHECK_FALSE(is_supermajority(max / 3 * 2, max));
  CHECK(is_supermajority(max / 3 * 2 + 1, max));
}

TEST_CASE(
    "finality: with every validator voting for its parent, a block is justified by the "
    "next and finalized by the one after",
    "[finality]") {
  Chain c;
  c.add({});
  for (std::uint64_t h = 2; h <= 40; ++h) {
    std::uint64_t source = c.tip().justified().height;
    c.add(votes(source, h - 1, kFour, {0, 1, 2, 3}));
    CHECK(c.tip().justified() == Chain::at(h - 1));
    CHECK(c.tip().finalized() == Chain::at(h - 2));
  }
}

TEST_CASE(
    "finality: three of four equal validators justify, two do not; weights count, not "
    "heads",
    "[finality]") {
  Chain c;
  c.add({});
  c.add(votes(0, 1, kFour, {0, 1}));
  CHECK(c.tip().justified().height == 0);
  c.add(votes(0, 1, kFour, {2}));  // the third vote, in a later block of the window
  CHECK(c.tip().justified().height == 1);

  Chain w;
  const std::vector<std::uint64_t> weights = {1, 1, 1, 3};  // total 6: 4 is not > 2/3, 5 is
  w.add({});
  w.add(votes(0, 1, weights, {3, 0}));
  CHECK(w.tip().justified().height == 0);
  w.add(votes(0, 1, weights, {1}));
  CHECK(w.tip().justified().height == 1);
}

TEST_CASE("finality: across a validator-set change both sets need a supermajority", "[finality]") {
  // Validators 0..3 in the target's set, 2..5 in the set before: 0 and 1 are new, 4 and 5 left.
  auto vote_of = [](std::size_t v) {
    bool now = v <= 3, before = v >= 2;
    return CountedVote{
        validator(v), Chain::at(0), Chain::at(1), now ? 1u : 0u, before ? 1u : 0u, 4, 4};
  };
  Chain c;
  c.add({});
  c.add({vote_of(0), vote_of(1), vote_of(2)});  // 3/4 of the new set, 1/4 of the old
  CHECK(c.tip().justified().height == 0);
  c.add({vote_of(4), vote_of(5)});  // now 3/4 of the old set too
  CHECK(c.tip().justified().height == 1);
}

TEST_CASE("finality: votes count whatever their order: a link waits for its source", "[finality]") {
  auto all = std::vector<std::size_t>{0, 1, 2, 3};
  Chain forward, backward;
  forward.add({});
  forward.add({});
  backward.add({});
  backward.add({});
  // forward: 0 -> 1 first, then 1 -> 2; backward: 1 -> 2 first (1 not yet justified).
  forward.add(votes(0, 1, kFour, all));
  forward.add(votes(1, 2, kFour, all));
  backward.add(votes(1, 2, kFour, all));
  CHECK(backward.tip().justified().height == 0);
  CHECK_FALSE(backward.tip().is_justified(2));
  backward.add(votes(0, 1, kFour, all));
  for (const Chain* c : {&forward, &backward}) {
    CHECK(c->tip().justified() == Chain::at(2));
    CHECK(c->tip().finalized() == Chain::at(1));
    CHECK(c->tip().is_justified(1));
  }
  // And within one block.
  Chain one;
  one.add({});
  one.add({});
  one.add(concat(votes(1, 2, kFour, all), votes(0, 1, kFour, all)));
  CHECK(one.tip().justified() == Chain::at(2));
  CHECK(one.tip().finalized() == Chain::at(1));
}

TEST_CASE("finality: k-finality needs every block between source and target justified",
          "[finality]") {
  auto all = std::vector<std::size_t>{0, 1, 2, 3};
  Chain c;
  for (int i = 0; i < 3; ++i) c.add({});
  c.add(votes(0, 1, kFour, all));
  c.add(votes(1, 3, kFour, all));  // 3 justified from 1, but 2 is not justified
  CHECK(c.tip().justified() == Chain::at(3));
  CHECK(c.tip().finalized() == Chain::at(0));
  CHECK_FALSE(c.tip().is_justified(2));
  c.add(votes(0, 2, kFour, all));  // now 2 is: 1 is finalized by the link 1 -> 3
  CHECK(c.tip().is_justified(2));
  CHECK(c.tip().finalized() == Chain::at(1));
  CHECK(c.tip().justified() == Chain::at(3));
}

TEST_CASE("finality: a link collects votes for an epoch after its target's, then no more",
          "[finality]") {
  auto add_until_slot = [](Chain& c, std::uint64_t slot) {
    while (c.height() < slot) c.add({});
  };
  Chain c;
  add_until_slot(c, 3);  // block 3 in epoch 0
  c.add(votes(0, 3, kFour, {0, 1}));
  add_until_slot(c, 2 * kEpochSlots - 1);  // the last block of epoch 1
  c.add(votes(0, 3, kFour, {2}));          // a block of epoch 2: the target's window is over
  CHECK_FALSE(c.tip().is_justified(3));

  Chain d;
  add_until_slot(d, 3);
  d.add(votes(0, 3, kFour, {0, 1}));
  add_until_slot(d, 2 * kEpochSlots - 2);
  d.add(votes(0, 3, kFour, {2}));  // epoch 1: still counts
  CHECK(d.tip().is_justified(3));
}

TEST_CASE("finality: sibling blocks keep their own states; the parent's does not change",
          "[finality]") {
  Chain c;
  c.add({});
  c.add({});
  FinalityState parent = c.tip();
  FinalityState left = parent.child(Chain::at(3), votes(0, 1, kFour, {0, 1, 2}), kEpochSlots);
  FinalityState right = parent.child(Chain::at(3), votes(0, 2, kFour, {0, 1, 2}), kEpochSlots);
  CHECK(left.is_justified(1));
  CHECK_FALSE(left.is_justified(2));
  CHECK(right.is_justified(2));
  CHECK_FALSE(right.is_justified(1));
  CHECK_FALSE(parent.is_justified(1));
  CHECK_FALSE(parent.is_justified(2));
  CHECK(parent.block() == Chain::at(2));
}

TEST_CASE("finality: a child must be the next height, and votes must point below it",
          "[finality]") {
  Chain c;
  c.add({});
  CHECK_THROWS_AS(c.tip().child(Chain::at(3), {}, kEpochSlots), std::invalid_argument);
  auto bad = votes(0, 2, kFour, {0});
  CHECK_THROWS_AS(c.tip().child(Chain::at(2), bad, kEpochSlots), std::invalid_argument);
  auto backwards = votes(1, 1, kFour, {0});
  CHECK_THROWS_AS(c.tip().child(Chain::at(2), backwards, kEpochSlots), std::invalid_argument);
}

TEST_CASE("finality: a long chain keeps every justified height, across the set's growth",
          "[finality]") {
  // 270,000 blocks: past the first leaf (4,096 heights) and the first level (262,144).
  Chain c;
  c.states.reserve(1);
  FinalityState s = c.tip();
  const std::uint64_t n = 270'000;
  for (std::uint64_t h = 1; h <= n; ++h) {
    std::vector<CountedVote> v;
    // Every block but those at multiples of 1,000 is justified by the next one's votes.
    if (h >= 2 && (h - 1) % 1000 != 0) v = votes(s.justified().height, h - 1, kFour, {0, 1, 2});
    s = s.child(Chain::at(h), v, kEpochSlots);
  }
  CHECK(s.justified() == Chain::at(n - 1));
  CHECK(s.finalized() == Chain::at(n - 2));
  for (std::uint64_t h : {1ull, 4095ull, 4096ull, 4097ull, 262'143ull, 262'144ull, 262'145ull})
    CHECK(s.is_justified(h));
  for (std::uint64_t h : {1000ull, 5000ull, 262'000ull}) CHECK_FALSE(s.is_justified(h));
  CHECK_FALSE(s.is_justified(n));
  CHECK_FALSE(s.is_justified(n + 1));
  CHECK_FALSE(s.is_justified(UINT64_MAX));
}

TEST_CASE("finality: the chain remembers who voted for a target height while its votes may come",
          "[finality]") {
  Chain c;
  c.add({});
  c.add(votes(0, 1, kFour, {0, 2}));
  CHECK(c.tip().has_vote(validator(0), 1));
  CHECK(c.tip().has_vote(validator(2), 1));
  CHECK_FALSE(c.tip().has_vote(validator(1), 1));
  CHECK_FALSE(c.tip().has_vote(validator(0), 2));
  while (c.height() < 2 * kEpochSlots - 1) c.add({});
  CHECK(c.tip().has_vote(validator(0), 1));  // epoch 1: a vote for block 1 could still come
  c.add({});                                 // epoch 2: it could not
  CHECK_FALSE(c.tip().has_vote(validator(0), 1));
}
