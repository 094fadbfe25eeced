// Epoch nonces (pos/epoch.h) against the formulas of docs/protocol.md, computed step by step.
#include <catch2/catch.hpp>

#include "pos/epoch.h"
#include "test_support.h"

using namespace pos;

namespace {

VrfOutput output(int i) {
  VrfOutput out;
  out.bytes[0] = static_cast<std::uint8_t>(i);
  return out;
}

}  // namespace

TEST_CASE("epoch nonces follow the formulas across gaps, in any order of asking", "[epoch]") {
  Hash genesis = sha256(std::string_view("genesis"));
  const Hash empty = sha256(ByteView());
  Hash n0 = initial_nonce(genesis);
  // Blocks in epoch 0 (two) and epoch 3 (one); none in 1 and 2.
  EpochState s = EpochState::genesis(genesis).child(0, output(1)).child(0, output(2));
  Hash digest0 = Sha256().update(output(1).view()).update(output(2).view()).finish();
  Hash n2 = next_nonce(n0, digest0);
  Hash n3 = next_nonce(n2, empty);
  Hash n4 = next_nonce(n3, empty);
  CHECK(s.nonce_of(0) == n0);
  CHECK(s.nonce_of(1) == n0);
  // Far first, then nearer, then far again: the memo never gives a stale value.
  Hash n40 = n4;
  for (int e = 5; e <= 40; ++e) n40 = next_nonce(n40, empty);
  CHECK(s.nonce_of(40) == n40);
  CHECK(s.nonce_of(3) == n3);
  CHECK(s.nonce_of(2) == n2);
  CHECK(s.nonce_of(40) == n40);
  CHECK(s.nonce_of(4) == n4);
  EpochState later = s.child(3, output(3));
  CHECK(later.nonce() == n3);
  CHECK(later.next_nonce() == n4);  // epoch 2 had no block
  CHECK(later.nonce_of(5) == next_nonce(n4, Sha256().update(output(3).view()).finish()));
}
