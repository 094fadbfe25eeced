// A peer that speaks the wire protocol and lies: forged transaction signatures, batches over the
// limit, equivocating blocks, blocks far in the future, slow-drip frames, and coming back after
// a ban. Honest nodes stay up, drop and ban it, keep consensus, and keep the evidence.
#include <catch2/catch.hpp>

#include <future>
#include <mutex>

#include "peer_test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

// Transfers of 1 from user 0 to user 1, with the nonces from, from + 1, ... (count of them).
std::vector<TransactionPtr> transfers(const Fixture& f, std::uint64_t from, std::uint64_t count) {
  std::vector<TransactionPtr> out;
  for (std::uint64_t nonce = from; nonce < from + count; ++nonce)
    out.push_back(f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1,
                                           nonce, nonce));
  return out;
}

// A transfer from users[0] with a signature that does not verify.
TransactionPtr forged_transfer(const Fixture& f, std::uint64_t nonce) {
  auto good = transfers(f, nonce, 1)[0];
  Signature bad = good->signature();
  bad.bytes[5] ^= 0x40;
  return Transaction::make(good->fields(), bad);
}

// A properly signed empty block on the genesis for `slot`, by that slot's leader.
// A block on genesis (the tip of f.keys' chain) for `slot`, by its leader.
BlockPtr block_for_slot(Fixture& f, std::uint64_t slot, std::uint64_t offset_ms) {
  REQUIRE(f.keys.chain->height() == 0);
  std::optional<PublicKey> leader = f.keys.chain->leader(slot);
  REQUIRE(leader);
  BlockHeader h = f.keys.craft({})->header();
  h.slot = slot;
  h.timestamp_ms = f.keys.genesis.params.slot_start_ms(slot) + offset_ms;
  h.forger = *leader;
  return f.keys.resign(h, {});
}

}  // namespace

TEST_CASE("an adversarial peer is dropped and banned; honest nodes keep consensus",
          "[p2p][net][hostile][adversary]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  PeerNode& b = f.start(f.config({Fixture::address(a)}));
  REQUIRE(eventually([&] { return peer_count(a) == 1 && peer_count(b) == 1; }));

  SECTION("transactions with forged signatures") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 21));
    evil.send(p2p::Txs{{forged_transfer(f, 0)}});
    CHECK(evil.closed_by_node());
    CHECK(a.status().pool_size == 0);
  }
  SECTION("a transaction batch over the limit") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 22));
    std::vector<TransactionPtr> many;
    for (std::uint64_t n = 0; n <= p2p::kMaxTxsPerMessage; ++n)
      many.push_back(
          f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1, n, n));
    evil.send(p2p::Txs{many});
    CHECK(evil.closed_by_node());
    CHECK(a.status().pool_size == 0);
  }
  SECTION("blocks far in the future: refused, not held, and the peer banned for them") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 23));
    // The fixture's clock is far past genesis: a day of slots beyond it is no clock skew.
    std::uint64_t now_slot = f.keys.genesis.params.slot_at(f.clock.now_ms());
    std::uint64_t ahead = 86'400'000 / f.keys.genesis.params.slot_ms;
    bool closed = false;
    for (std::uint64_t i = 0; i < 40 && !closed; ++i) {
      evil.send(p2p::NewBlock{block_for_slot(f, now_slot + ahead + i, 0)});
      closed = evil.closed_by_node(0.05);
    }
    CHECK((closed || evil.closed_by_node()));
    CHECK(a.status().held_back_blocks == 0);
    CHECK(a.status().height == 0);
  }
  SECTION("a block signed by its slot's leader with a VRF proof for another slot") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 26));
    std::uint64_t slot = f.keys.genesis.params.slot_at(f.clock.now_ms());
    BlockPtr good = block_for_slot(f, slot, 0);
    BlockHeader h = good->header();
    const Wallet& leader = f.keys.wallet_of(h.forger);
    h.vrf_proof = vrf_prove(leader.secret_key(),
                            vrf_input(h.chain_id, f.keys.chain->epoch_nonce(slot), slot + 1));
    Signature sig = leader.secret_key().sign(h.signing_bytes());
    evil.send(p2p::NewBlock{Block::make(h, sig, {})});
    CHECK(evil.closed_by_node());
    CHECK(a.status().height == 0);
    CHECK(a.status().counters.blocks_received == 0);
  }
  SECTION("a frame dripped one byte at a time is cut off by the idle timeout") {
    PeerNodeConfig quick = f.config();
    quick.network.idle_timeout_ms = 600;
    PeerNode& q = f.start(quick);
    RawPeer evil(q.port());
    evil.send(hello_for(f, 24));
    Bytes frame = p2p::encode_frame(p2p::NewBlock{f.keys.craft({})});
    // Ten bytes a second of the node's clock: no frame completes within the 600 ms timeout.
    bool closed = false;
    std::size_t sent = 0;
    for (; sent + 1 < frame.size() && !closed; ++sent) {
      evil.send_bytes(Bytes{frame[sent]});
      f.clock.advance(100);
      closed = evil.closed_by_node(0.3);
    }
    CHECK(closed);
    CHECK(sent <= 10);
  }
  SECTION("after a ban, the same node id is turned away at once") {
    {
      RawPeer evil(a.port());
      evil.send(hello_for(f, 25));
      evil.send(p2p::Txs{{forged_transfer(f, 1)}});
      REQUIRE(evil.closed_by_node());
    }
    RawPeer again(a.port());
    again.send(hello_for(f, 25));
    CHECK(again.closed_by_node(5));
  }
  // Whatever the adversary did: the honest pair still relays and agrees.
  auto tx = f.keys.users[1].transfer(f.keys.chain_id(), f.keys.users[0].public_key(), 4, 1, 0, 7);
  REQUIRE(a.submit(tx).ok());
  CHECK(eventually([&] { return b.pool().contains(tx->id()); }));
  f.forge(a);
  CHECK(eventually([&] { return b.status().tip == a.status().tip; }));
  CHECK(peer_count(a) == 1);
}

TEST_CASE("equivocating blocks: both are taken, and the evidence is relayed and slashes",
          "[p2p][net][hostile][adversary][evidence]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  PeerNode& b = f.start(f.config({Fixture::address(a)}));
  REQUIRE(eventually([&] { return peer_count(a) == 1 && peer_count(b) == 1; }));
  std::uint64_t slot = f.keys.genesis.params.slot_at(f.clock.now_ms());
  // Two blocks by one forger for one slot, both validly signed, different timestamps.
  BlockPtr first = block_for_slot(f, slot, 0);
  BlockPtr second = block_for_slot(f, slot, 1);
  REQUIRE(first->hash() != second->hash());
  const PublicKey offender = first->forger();

  RawPeer evil(a.port());
  evil.send(hello_for(f, 31));
  evil.send(p2p::NewBlock{first});
  REQUIRE(eventually([&] { return a.status().tip == first->hash(); }));
  evil.send(p2p::NewBlock{second});
  // Both blocks are valid: both reach b, and the pair is evidence on both nodes.
  REQUIRE(eventually([&] { return a.status().pending_evidence == 1; }));
  REQUIRE(eventually([&] { return b.status().pending_evidence == 1; }));
  CHECK(eventually([&] {
    bool both = false;
    b.inspect([&](const Blockchain& chain, const TransactionPool&) {
      both = chain.knows(first->hash()) && chain.knows(second->hash());
    });
    return both;
  }));
  a.inspect([&](const Blockchain& chain, const TransactionPool&) {
    auto pending = chain.pending_evidence();
    REQUIRE(pending.size() == 1);
    CHECK(pending[0]->kind() == EvidenceKind::kDoubleBlock);
    CHECK(pending[0]->offender() == offender);
  });
  // More blocks for the same slot add no more evidence: one piece per offender slashes it.
  for (std::uint64_t offset = 2; offset < 12; ++offset)
    evil.send(p2p::NewBlock{block_for_slot(f, slot, offset)});
  REQUIRE(evil.round_trip(1));
  CHECK(a.status().pending_evidence == 1);
  CHECK(peer_count(a) == 2);

  // The next block carries the evidence; the offender is slashed on both nodes.
  BlockPtr next = f.forge(a);
  CHECK(next->evidence().size() == 1);
  CHECK(eventually([&] { return b.status().tip == a.status().tip; }));
  for (PeerNode* node : {&a, &b}) {
    node->inspect([&](const Blockchain& chain, const TransactionPool&) {
      CHECK(chain.state().get(offender).slashed);
      CHECK(chain.state().get(offender).stake == 0);
      CHECK(chain.pending_evidence().empty());
    });
  }
}

TEST_CASE("a refused vote costs its sender the reason's penalty; at 100 it is banned",
          "[p2p][net][hostile][adversary][votes]") {
  Fixture f;
  // The stand-in node refuses votes by their target height, as the real one would for these
  // reasons: 1000 has a bad signature (penalty 100), 2000 is below finality (penalty 20), 3000
  // is for a block it does not know (no blame: an ok verdict, as honest races cause).
  BareNetwork n(f, {}, [](const Vote& v) -> Status {
    if (v.target_height() == 1000) return make_error(Reason::kBadSignature, "bad signature");
    if (v.target_height() == 2000) return make_error(Reason::kConflictsFinalized, "below finality");
    return {};
  });
  RawPeer honest(n.port());
  honest.send(hello_for(f, 52));
  RawPeer evil(n.port());
  evil.send(hello_for(f, 51));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  evil.send(p2p::Votes{{vote_for(f, 3000)}});
  REQUIRE(evil.round_trip(1));
  CHECK(n.misbehaviour(51) == 0);
  evil.send(p2p::Votes{{vote_for(f, 2000)}});
  REQUIRE(evil.round_trip(2));
  CHECK(n.misbehaviour(51) == reason_info(Reason::kConflictsFinalized).peer_penalty);
  // A bad signature, sent after a good vote in the same message: the good one is handed over
  // (and relayed), the bad one bans the sender.
  VotePtr good = vote_for(f, 4000);
  evil.send(p2p::Votes{{good, vote_for(f, 1000)}});
  CHECK(evil.closed_by_node());
  CHECK(eventually([&] { return n.status().banned == 1; }));
  CHECK(n.handler().received_count() == 4);
  CHECK(honest.receive(
      [&](const p2p::Message& m) { return vote_ids({m}) == std::vector{good->id()}; }));
  // Banned: the same node id is turned away at once.
  RawPeer again(n.port());
  again.send(hello_for(f, 51));
  CHECK(again.closed_by_node(5));
  CHECK(n.misbehaviour(52) == 0);
  CHECK(honest.round_trip(3));
}

TEST_CASE("a vote flood beyond the per-peer budget is cut before the node and penalised",
          "[p2p][net][hostile][adversary][votes]") {
  Fixture f;
  PeerNetworkConfig defaults;
  const std::size_t burst = defaults.max_vote_burst;
  const std::size_t rate = defaults.max_votes_per_second;
  REQUIRE(burst == 4000);
  REQUIRE(rate == 2000);
  BareNetwork n(f);
  RawPeer evil(n.port());
  evil.send(hello_for(f, 61));
  RawPeer other(n.port());
  other.send(hello_for(f, 62));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));
  const int over = reason_info(Reason::kRateLimited).peer_penalty;
  REQUIRE(over > 0);

  // Four full messages at once (the node's clock stands still): the burst passes, the rest of
  // the fourth is dropped, and the message costs rate_limited's penalty once.
  auto flood = votes_for(f, 1, 4 * p2p::kMaxVotesPerMessage);
  for (std::size_t i = 0; i < 4; ++i)
    evil.send(p2p::Votes{{flood.begin() + static_cast<long>(i * p2p::kMaxVotesPerMessage),
                          flood.begin() + static_cast<long>((i + 1) * p2p::kMaxVotesPerMessage)}});
  REQUIRE(evil.round_trip(1));
  CHECK(n.handler().received_count() == burst);
  CHECK(n.misbehaviour(61) == over);
  auto received = n.handler().received();
  CHECK(received.back().second->id() == flood[burst - 1]->id());

  // Half a second of the node's clock refills half the rate.
  f.clock.advance(500);
  auto more = votes_for(f, 100'000, p2p::kMaxVotesPerMessage);
  evil.send(p2p::Votes{more});
  REQUIRE(evil.round_trip(2));
  CHECK(n.handler().received_count() == burst + rate / 2);
  CHECK(n.misbehaviour(61) == 2 * over);

  // The dropped votes were not read, not even into the seen-set: from a peer within its budget
  // they reach the node.
  std::vector<VotePtr> dropped(flood.begin() + static_cast<long>(burst), flood.end());
  other.send(p2p::Votes{dropped});
  REQUIRE(other.round_trip(3));
  CHECK(n.handler().received_count() == burst + rate / 2 + dropped.size());
  CHECK(n.misbehaviour(62) == 0);

  // A flood that goes on is banned: every message over the budget costs the penalty again.
  std::uint64_t height = 200'000;
  bool closed = false;
  for (int i = 0; i < 100 / over + 1 && !closed; ++i) {
    evil.send(p2p::Votes{{vote_for(f, height++, false)}});
    closed = !evil.round_trip(10 + static_cast<std::uint64_t>(i), 5);
  }
  CHECK(closed);
  CHECK(n.handler().received_count() == burst + rate / 2 + dropped.size());
  CHECK(n.misbehaviour(62) == 0);
  CHECK(n.status().peers.size() == 1);
}

namespace {

// A raw peer that says in its hello that its chain is as high as can be.
std::unique_ptr<RawPeer> tall_liar(const Fixture& f, const PeerNode& node) {
  auto liar = std::make_unique<RawPeer>(node.port());
  p2p::Hello hello = hello_for(f, 9);
  hello.best_height = UINT64_MAX;
  liar->send(hello);
  return liar;
}

bool is_get_blocks(const p2p::Message& m) {
  return std::holds_alternative<p2p::GetBlocks>(m);
}

// The misbehaviour `node` counts against the peer whose node id starts with `id`.
int misbehaviour_of(const PeerNode& node, std::uint8_t id) {
  for (const auto& p : node.status().peers)
    if (p.node_id.bytes[0] == id) return p.misbehaviour;
  return -1;
}

// An honest node 20 blocks ahead, and a node `n` whose first peer is the tall liar, which `n`
// asks for blocks (the sync goes to the first peer ahead).
struct LiarFirst {
  Fixture f;
  PeerNode* honest = nullptr;
  PeerNode* n = nullptr;
  std::unique_ptr<RawPeer> liar;

  LiarFirst() {
    honest = &f.start(f.config());
    for (int i = 0; i < 20; ++i) f.forge(*honest);
    n = &f.start(f.config({}, false));
    liar = tall_liar(f, *n);
    REQUIRE(liar->receive(is_get_blocks));
  }
};

}  // namespace

TEST_CASE(
    "a peer that claims a great height and answers no getBlocks holds the sync 10 s at most, "
    "pays sync_timeout, and is not asked again",
    "[p2p][adversarial][sync]") {
  LiarFirst setup;
  Fixture& f = setup.f;
  PeerNode& n = *setup.n;
  auto& liar = setup.liar;
  n.connect(Fixture::address(*setup.honest));
  REQUIRE(eventually([&] { return peer_count(n) == 2; }));
  REQUIRE(liar->round_trip(1));
  CHECK(n.status().height == 0);  // the sync is the liar's until it times out

  f.clock.set(f.clock.now_ms() + 10'001);
  CHECK(eventually([&] { return n.status().height == 20; }));
  CHECK(misbehaviour_of(n, 9) == reason_info(Reason::kSyncTimeout).peer_penalty);
  std::vector<p2p::Message> got;
  REQUIRE(liar->round_trip(2, 10, f.keys.chain_id(), &got));
  CHECK(std::none_of(got.begin(), got.end(), is_get_blocks));
}

TEST_CASE(
    "a peer that claims a great height and answers getBlocks with nothing is asked once, and "
    "the sync goes on with another",
    "[p2p][adversarial][sync]") {
  LiarFirst setup;
  Fixture& f = setup.f;
  PeerNode& n = *setup.n;
  auto& liar = setup.liar;
  liar->send(p2p::Blocks{});
  n.connect(Fixture::address(*setup.honest));
  CHECK(eventually([&] { return n.status().height == 20; }));
  std::vector<p2p::Message> got;
  REQUIRE(liar->round_trip(1, 10, f.keys.chain_id(), &got));
  CHECK(std::none_of(got.begin(), got.end(), is_get_blocks));
  CHECK(misbehaviour_of(n, 9) == 0);  // an empty answer is no offence: chains move
}

TEST_CASE("one address, or one network group, cannot take every inbound slot",
          "[p2p][adversarial][eclipse]") {
  Fixture f;
  PeerNodeConfig config = f.config({}, false);
  const bool per_ip = GENERATE(true, false);
  INFO((per_ip ? "per IP" : "per network group"));
  if (per_ip)
    config.network.max_inbound_per_ip = 2;
  else
    config.network.max_inbound_per_group = 2;
  PeerNode& n = f.start(config);
  // 127.0.0.1 and 127.0.0.2 share an address only in the per-IP case; both are in group 127.0.
  RawPeer first(n.port());
  RawPeer second(n.port(), per_ip ? "127.0.0.1" : "127.0.0.2");
  first.send(hello_for(f, 1));
  second.send(hello_for(f, 2));
  REQUIRE(first.round_trip(1));
  REQUIRE(second.round_trip(2));
  RawPeer third(n.port(), "127.0.0.1");
  CHECK(third.closed_by_node(5));
  // Another network group still gets in, and the first two stay.
  RawPeer elsewhere(n.port(), "127.1.0.1");
  elsewhere.send(hello_for(f, 4));
  CHECK(elsewhere.round_trip(4));
  CHECK(first.round_trip(5));
  CHECK(second.round_trip(6));
}

TEST_CASE("one network group's peers fill at most 64 entries of the address book",
          "[p2p][adversarial][eclipse]") {
  Fixture f;
  PeerNodeConfig config = f.config();
  config.network.max_outbound = 0;  // learn the addresses, dial none of them
  PeerNode& n = f.start(config);
  auto flood = [&](RawPeer& peer, std::uint16_t first_port) {
    for (std::uint16_t batch = 0; batch < 3; ++batch) {
      p2p::Peers message;
      for (std::uint16_t i = 0; i < p2p::kMaxPeersPerMessage; ++i)
        message.peers.push_back(p2p::PeerAddress{
            "127.0.0.1", static_cast<std::uint16_t>(first_port + batch * 100 + i)});
      peer.send(message);
    }
  };
  RawPeer one(n.port());
  one.send(hello_for(f, 1));
  flood(one, 20'000);
  REQUIRE(one.round_trip(1));
  CHECK(eventually([&] { return n.status().known_addresses == 64; }));
  // A second peer of the same group adds nothing; one of another group adds its own 64.
  RawPeer same(n.port());
  same.send(hello_for(f, 2));
  flood(same, 21'000);
  REQUIRE(same.round_trip(2));
  RawPeer other(n.port(), "127.1.0.1");
  other.send(hello_for(f, 3));
  flood(other, 22'000);
  REQUIRE(other.round_trip(3));
  CHECK(eventually([&] { return n.status().known_addresses == 128; }));
  REQUIRE(one.round_trip(4));
  CHECK(n.status().known_addresses == 128);
}

TEST_CASE("an inbound hello naming a seed's address does not stop the node dialling that seed",
          "[p2p][adversarial][eclipse]") {
  Fixture f;
  PeerNode& seed = f.start(f.config());
  PeerNode& n = f.start(f.config({Fixture::address(seed)}));
  REQUIRE(eventually([&] { return peer_count(n) == 1; }));
  seed.isolate();  // the seed goes away for a moment: n will redial it
  REQUIRE(eventually([&] { return peer_count(n) == 0; }));
  RawPeer impostor(n.port());
  p2p::Hello hello = hello_for(f, 7);
  hello.listen_address = Fixture::address(seed);
  impostor.send(hello);
  REQUIRE(impostor.round_trip(1));
  f.clock.set(f.clock.now_ms() + 1'000);  // past the redial backoff
  CHECK(eventually([&] {
    for (const auto& p : n.status().peers)
      if (p.node_id == seed.node_id()) return true;
    return false;
  }));
}

namespace {

// `count` distinct transfers from users[0], nonces from `first`, with signatures never checked
// here (the stand-in node judges them by tx_verdict): cheap to make in the thousands.
std::vector<TransactionPtr> unsigned_transfers(const Fixture& f, std::uint64_t first,
                                               std::size_t count) {
  std::vector<TransactionPtr> txs;
  for (std::uint64_t nonce = first; nonce < first + count; ++nonce) {
    TxFields fields;
    fields.chain_id = f.keys.chain_id();
    fields.sender = f.keys.users[0].public_key();
    fields.receiver = f.keys.users[1].public_key();
    fields.amount = 1;
    fields.fee = 1;
    fields.nonce = nonce;
    txs.push_back(Transaction::make(fields, Signature{}));
  }
  return txs;
}

Status refuse_as(Reason reason) {
  return make_error(reason, std::string(reason_code(reason)));
}

// Holds the verifier's batch thread in a batch of the test's own until release(), so that what a
// peer sends meanwhile is checked only then. Released at the latest when it goes: a failed
// REQUIRE must not leave the thread waiting.
class VerifierHold {
 public:
  explicit VerifierHold(SignatureVerifier& verifier) {
    verifier.verify_votes_async({}, [held = promise_.get_future().share()] { held.wait(); });
  }
  ~VerifierHold() { release(); }
  VerifierHold(const VerifierHold&) = delete;
  VerifierHold& operator=(const VerifierHold&) = delete;
  void release() {
    if (!std::exchange(released_, true)) promise_.set_value();
  }

 private:
  std::promise<void> promise_;
  bool released_ = false;
};

}  // namespace

TEST_CASE("transactions refused as unfunded draw on a budget: a flood of them is penalised",
          "[p2p][net][hostile][adversary][txs]") {
  Fixture f;
  PeerNetworkConfig defaults;
  REQUIRE(defaults.max_unfunded_tx_burst == 2000);
  REQUIRE(defaults.max_unfunded_txs_per_second == 200);
  BareNetwork n(f);
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kInsufficientFunds); });
  REQUIRE(reason_info(Reason::kInsufficientFunds).peer_penalty == 0);
  const int over = reason_info(Reason::kRateLimited).peer_penalty;
  RawPeer evil(n.port());
  evil.send(hello_for(f, 71));
  RawPeer other(n.port());
  other.send(hello_for(f, 72));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  // The burst: two full messages of unfunded transactions cost nothing (a peer on another tip
  // relays some in good faith), and none reaches a signature check or the node's pool.
  std::uint64_t nonce = 0;
  for (int i = 0; i < 2; ++i) {
    evil.send(p2p::Txs{unsigned_transfers(f, nonce, 1000)});
    nonce += 1000;
  }
  REQUIRE(evil.round_trip(1));
  CHECK(n.handler().txs_screened() == 2000);
  CHECK(n.handler().txs_received() == 0);
  CHECK(n.misbehaviour(71) == 0);
  // One more is over the budget: the message costs rate_limited's penalty once.
  evil.send(p2p::Txs{unsigned_transfers(f, nonce, 1000)});
  nonce += 1000;
  REQUIRE(evil.round_trip(2));
  CHECK(n.misbehaviour(71) == over);
  // A second of the node's clock refills 200.
  f.clock.advance(1000);
  evil.send(p2p::Txs{unsigned_transfers(f, nonce, 200)});
  nonce += 200;
  REQUIRE(evil.round_trip(3));
  CHECK(n.misbehaviour(71) == over);
  // A flood that goes on is banned; the other peer's few refusals cost it nothing.
  other.send(p2p::Txs{unsigned_transfers(f, 1'000'000, 10)});
  REQUIRE(other.round_trip(4));
  bool closed = false;
  for (int i = 0; i < 100 / over + 1 && !closed; ++i) {
    evil.send(p2p::Txs{unsigned_transfers(f, nonce, 10)});
    nonce += 10;
    closed = !evil.round_trip(10 + static_cast<std::uint64_t>(i), 5);
  }
  CHECK(closed);
  CHECK(n.misbehaviour(72) == 0);
  CHECK(n.status().peers.size() == 1);
  CHECK(n.handler().txs_received() == 0);
}

TEST_CASE("a block's transactions are seen once the node applied it: late copies cost no budget",
          "[p2p][net][adversary][txs]") {
  Fixture f;
  BareNetwork n(f);
  // Judged now, every copy would be stale: the block spent its nonces.
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kStaleNonce); });
  RawPeer late(n.port());
  late.send(hello_for(f, 78));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  // More than the unfunded burst, in a block the node applied and relayed.
  PeerNetworkConfig defaults;
  auto in_block = unsigned_transfers(f, 0, defaults.max_unfunded_tx_burst + 1000);
  n.broadcast_block(f.keys.craft(in_block));
  // An honest peer that sent them before it saw the block: each is seen, none screened.
  for (std::size_t i = 0; i < in_block.size(); i += p2p::kMaxTxsPerMessage)
    late.send(p2p::Txs{{in_block.begin() + static_cast<long>(i),
                        in_block.begin() + static_cast<long>(i + p2p::kMaxTxsPerMessage)}});
  REQUIRE(late.round_trip(1));
  CHECK(n.handler().txs_screened() == 0);
  CHECK(n.misbehaviour(78) == 0);
  // Stale transactions in no block are judged, and draw on the budget as before.
  late.send(p2p::Txs{unsigned_transfers(f, 100'000, 1000)});
  REQUIRE(late.round_trip(2));
  CHECK(n.handler().txs_screened() == 1000);
  CHECK(n.misbehaviour(78) == 0);
}

TEST_CASE("transactions a block spent while they waited for their signature checks cost nothing",
          "[p2p][net][adversary][txs]") {
  Fixture f;
  PeerNetworkConfig defaults;
  const std::size_t count = defaults.max_unfunded_tx_burst + 1000;
  std::vector<TransactionPtr> txs = transfers(f, 0, count);
  SignatureVerifier verifier(0);
  BareNetwork n(f);
  n.check_signatures_on(verifier);
  // They pass the cheap checks; by the time their signatures are checked, a block spent them.
  n.set_admit_verdict([](const Transaction&) { return refuse_as(Reason::kStaleNonce); });
  RawPeer peer(n.port());
  peer.send(hello_for(f, 79));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  for (std::size_t i = 0; i < txs.size(); i += p2p::kMaxTxsPerMessage)
    peer.send(p2p::Txs{
        {txs.begin() + static_cast<long>(i),
         txs.begin() + static_cast<long>(std::min(i + p2p::kMaxTxsPerMessage, txs.size()))}});
  REQUIRE(eventually([&] { return n.handler().txs_received() == count; }));
  REQUIRE(peer.round_trip(1));
  CHECK(n.misbehaviour(79) == 0);
}

TEST_CASE("transactions beyond the per-peer signature budget are dropped unchecked, unpenalised",
          "[p2p][net][hostile][adversary][txs]") {
  Fixture f;
  PeerNetworkConfig defaults;
  const std::size_t burst = defaults.max_tx_signature_burst;
  const std::size_t rate = defaults.max_tx_signatures_per_second;
  REQUIRE(burst == 10'000);
  REQUIRE(rate == 5'000);
  BareNetwork n(f);
  RawPeer busy(n.port());
  busy.send(hello_for(f, 73));
  RawPeer other(n.port());
  other.send(hello_for(f, 74));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  // Eleven full messages at once (the clock stands still): the burst reaches the node, the
  // eleventh message's transactions are dropped. Valid ones from an honest relay of a busy
  // network could go over too, so it costs nothing.
  auto flood = unsigned_transfers(f, 0, burst + p2p::kMaxTxsPerMessage);
  for (std::size_t i = 0; i < flood.size(); i += p2p::kMaxTxsPerMessage)
    busy.send(p2p::Txs{{flood.begin() + static_cast<long>(i),
                        flood.begin() + static_cast<long>(i + p2p::kMaxTxsPerMessage)}});
  REQUIRE(busy.round_trip(1));
  CHECK(n.handler().txs_received() == burst);
  CHECK(n.misbehaviour(73) == 0);
  // A tenth of a second refills a tenth of the rate.
  f.clock.advance(100);
  busy.send(p2p::Txs{unsigned_transfers(f, 100'000, p2p::kMaxTxsPerMessage)});
  REQUIRE(busy.round_trip(2));
  CHECK(n.handler().txs_received() == burst + rate / 10);
  // What was dropped was not remembered: from a peer within its budget it reaches the node.
  std::vector<TransactionPtr> dropped(flood.begin() + static_cast<long>(burst), flood.end());
  other.send(p2p::Txs{dropped});
  REQUIRE(other.round_trip(3));
  CHECK(n.handler().txs_received() == burst + rate / 10 + dropped.size());
  CHECK(n.misbehaviour(73) == 0);
  CHECK(n.misbehaviour(74) == 0);
}

TEST_CASE("frames beyond a peer's byte budget are not decoded and are penalised",
          "[p2p][net][hostile][adversary][txs]") {
  Fixture f;
  PeerNetworkConfig config;
  config.max_bytes_per_second = 1;  // the bucket still holds one frame of the largest size
  BareNetwork n(f, config);
  // Refusals that cost nothing and draw on no budget but the bytes (the pool is full, say).
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kPoolFull); });
  const int over = reason_info(Reason::kRateLimited).peer_penalty;
  RawPeer evil(n.port());
  evil.send(hello_for(f, 75));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  p2p::Txs message{unsigned_transfers(f, 0, p2p::kMaxTxsPerMessage)};
  const std::size_t frame = p2p::encode_frame(message).size();
  // The hello and the pings of round trips are small frames: one fewer big one fits.
  const std::size_t fit = p2p::kMaxFrameBytes / frame - 1;
  for (std::size_t i = 0; i < fit; ++i) evil.send(message);
  REQUIRE(evil.round_trip(1));
  CHECK(n.misbehaviour(75) == 0);
  CHECK(n.handler().txs_screened() == p2p::kMaxTxsPerMessage);  // the rest were seen before
  // Two frames of new transactions: the bucket holds one at most. A frame over it is not
  // decoded (its transactions are not screened) and costs the penalty.
  p2p::Txs fresh{unsigned_transfers(f, 10'000, p2p::kMaxTxsPerMessage)};
  evil.send(fresh);
  evil.send(fresh);
  REQUIRE(evil.round_trip(2));
  const std::size_t decoded =
      (n.handler().txs_screened() - p2p::kMaxTxsPerMessage) / p2p::kMaxTxsPerMessage;
  CHECK(decoded <= 1);
  CHECK(n.misbehaviour(75) == over * static_cast<int>(2 - decoded));
  // With time the bucket refills at the configured rate (1 byte a second here): not soon.
  f.clock.advance(1000);
  evil.send(fresh);
  REQUIRE(evil.round_trip(3));
  CHECK(n.misbehaviour(75) == over * static_cast<int>(3 - decoded));
}

TEST_CASE("the transaction seen-set forgets its oldest half, never everything at once",
          "[p2p][net][txs]") {
  Fixture f;
  PeerNetworkConfig config;
  config.max_bytes_per_second = 64 * 1024 * 1024;
  BareNetwork n(f, config);
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kPoolFull); });
  RawPeer peer(n.port());
  peer.send(hello_for(f, 76));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  // 101 messages of 1,000 new transactions: more than 100,000 ids.
  std::vector<p2p::Txs> messages;
  for (std::uint64_t i = 0; i < 101; ++i)
    messages.push_back(p2p::Txs{unsigned_transfers(f, i * 1000, 1000)});
  for (std::size_t i = 0; i < messages.size(); ++i) {
    peer.send(messages[i]);
    if (i % 20 == 19) REQUIRE(peer.round_trip(i));
  }
  REQUIRE(peer.round_trip(1000));
  REQUIRE(n.handler().txs_screened() == 101'000);
  // The latest 50,000 are remembered: seen before, they are not screened again.
  peer.send(messages[51]);
  peer.send(messages[100]);
  REQUIRE(peer.round_trip(1001));
  CHECK(n.handler().txs_screened() == 101'000);
  // The oldest are forgotten (at most 100,000 are held), and looked at again.
  peer.send(messages[0]);
  REQUIRE(peer.round_trip(1002));
  CHECK(n.handler().txs_screened() == 102'000);
  CHECK(n.misbehaviour(76) == 0);
}

TEST_CASE(
    "a peer that sends forged transactions and leaves before their check is banned all the same",
    "[p2p][net][hostile][adversary][txs]") {
  Fixture f;
  SignatureVerifier verifier(0);
  BareNetwork n(f);
  n.check_signatures_on(verifier);
  // The verifier's thread is held in a batch of the test's own until the peer has gone, so the
  // forged transaction's verdict comes after it left.
  VerifierHold hold(verifier);
  {
    RawPeer evil(n.port());
    evil.send(hello_for(f, 77));
    REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
    // The same forgery five times in one message: looked at once.
    auto forged = forged_transfer(f, 0);
    evil.send(p2p::Txs{std::vector<TransactionPtr>(5, forged)});
    REQUIRE(evil.round_trip(1));
    CHECK(n.handler().txs_screened() == 1);
  }
  REQUIRE(eventually([&] { return n.status().peers.empty(); }));
  CHECK(n.status().banned == 0);
  hold.release();
  CHECK(eventually([&] { return n.status().banned == 1; }));
  CHECK(n.handler().txs_received() == 1);
  RawPeer again(n.port());
  again.send(hello_for(f, 77));
  CHECK(again.closed_by_node(5));
  // The forgery's id is the genuine transaction's (an id does not cover the signature): the
  // network forgot it, so the genuine one relayed by an honest peer still reaches the node.
  RawPeer honest(n.port());
  honest.send(hello_for(f, 78));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  honest.send(p2p::Txs{
      {f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1, 0, 0)}});
  CHECK(eventually([&] { return n.handler().txs_received() == 2; }));
  CHECK(n.misbehaviour(78) == 0);
}

TEST_CASE("votes' signatures are checked off the loop; a forger that leaves first is banned",
          "[p2p][net][hostile][adversary][votes]") {
  Fixture f;
  SignatureVerifier verifier(0);
  BareNetwork n(f, {}, [](const Vote& v) { return v.check_signature(); });
  n.check_signatures_on(verifier);
  RawPeer honest(n.port());
  honest.send(hello_for(f, 81));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  // A good vote goes through the verifier to the node, and on to no one else (one peer).
  honest.send(p2p::Votes{{vote_for(f, 10)}});
  REQUIRE(eventually([&] { return n.handler().received_count() == 1; }));
  CHECK(n.misbehaviour(81) == 0);

  VerifierHold hold(verifier);
  {
    RawPeer evil(n.port());
    evil.send(hello_for(f, 82));
    REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));
    VotePtr good = vote_for(f, 11);
    evil.send(p2p::Votes{{Vote::make(good->fields(), vote_for(f, 12)->signature())}});
    REQUIRE(evil.round_trip(1));
    CHECK(n.handler().received_count() == 1);  // waiting for its check
  }
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  hold.release();
  CHECK(eventually([&] { return n.status().banned == 1; }));
  CHECK(n.handler().received_count() == 2);
  RawPeer again(n.port());
  again.send(hello_for(f, 82));
  CHECK(again.closed_by_node(5));
  // The genuine vote the forgery copied (same id: an id does not cover the signature) still
  // reaches the node from an honest peer.
  honest.send(p2p::Votes{{vote_for(f, 11)}});
  CHECK(eventually([&] { return n.handler().received_count() == 3; }));
  CHECK(n.misbehaviour(81) == 0);
}

TEST_CASE("a block whose header passes has its body checked off the loop; blocks keep their order",
          "[p2p][net][hostile][adversary][blocks]") {
  Fixture f;
  SignatureVerifier verifier(0);
  std::mutex mutex;
  // Each block the node was handed, with the signatures checked by then.
  std::vector<std::pair<Hash, std::uint64_t>> received;
  BareNetwork n(f, {}, {}, {}, [&](const Block& block) {
    std::lock_guard lock(mutex);
    received.emplace_back(block.hash(), verifier.verified());
    return Status{};
  });
  n.check_signatures_on(verifier);
  n.set_block_screen([](const Block& block) { return !block.transactions().empty(); });
  std::vector<TransactionPtr> txs = transfers(f, 0, 40);
  BlockPtr full = f.keys.craft(txs), empty = f.keys.craft({});
  auto handed = [&] {
    std::lock_guard lock(mutex);
    return received;
  };

  RawPeer peer(n.port());
  peer.send(hello_for(f, 90));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  VerifierHold hold(verifier);
  peer.send(p2p::NewBlock{full});
  peer.send(p2p::NewBlock{empty});
  // The loop answers while the first block's signatures wait, and the second waits behind it.
  REQUIRE(peer.round_trip(1));
  CHECK(handed().empty());
  hold.release();
  REQUIRE(eventually([&] { return handed().size() == 2; }));
  auto got = handed();
  CHECK(got[0] == std::make_pair(full->hash(), std::uint64_t{40}));
  CHECK(got[1].first == empty->hash());
  CHECK(n.misbehaviour(90) == 0);
}

TEST_CASE("a block whose transactions the cache knows is taken at once, not behind the verifier",
          "[p2p][net][hostile][adversary][blocks]") {
  Fixture f;
  SignatureVerifier verifier(0);
  std::mutex mutex;
  std::vector<Hash> received;
  BareNetwork n(f, {}, {}, {}, [&](const Block& block) {
    std::lock_guard lock(mutex);
    received.push_back(block.hash());
    return Status{};
  });
  n.check_signatures_on(verifier);
  n.set_block_screen([](const Block& block) { return !block.transactions().empty(); });
  std::vector<TransactionPtr> txs = transfers(f, 0, 40);
  // As if they had come through the pool: checked once, then the block's copies arrive.
  REQUIRE_FALSE(verifier.verify_all(txs).has_value());
  BlockPtr known = decode_block(encode(*f.keys.craft(txs))).value();
  auto handed = [&] {
    std::lock_guard lock(mutex);
    return received;
  };

  RawPeer peer(n.port());
  peer.send(hello_for(f, 91));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  VerifierHold hold(verifier);
  peer.send(p2p::NewBlock{known});
  REQUIRE(peer.round_trip(1));
  CHECK(handed() == std::vector<Hash>{known->hash()});
  CHECK(verifier.verified() == 40);
  CHECK(verifier.cache_hits() == 40);
  // One transaction the cache does not know sends the block to the verifier's thread, held.
  txs.push_back(transfers(f, 40, 1)[0]);
  BlockPtr unknown = decode_block(encode(*f.keys.craft(txs))).value();
  peer.send(p2p::NewBlock{unknown});
  REQUIRE(peer.round_trip(2));
  CHECK(handed().size() == 1);
  hold.release();
  REQUIRE(eventually([&] { return handed().size() == 2; }));
  CHECK(handed()[1] == unknown->hash());
  CHECK(verifier.verified() == 41);
  CHECK(n.misbehaviour(91) == 0);
}

TEST_CASE("a ban ends after its time and leaves no entry behind",
          "[p2p][net][hostile][adversary]") {
  Fixture f;
  PeerNetworkConfig config;
  config.ban_ms = 60'000;
  BareNetwork n(f, config);
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kWrongChain); });
  REQUIRE(reason_info(Reason::kWrongChain).peer_penalty >= 100);
  {
    RawPeer evil(n.port());
    evil.send(hello_for(f, 95));
    evil.send(p2p::Txs{{forged_transfer(f, 0)}});
    REQUIRE(evil.closed_by_node());
  }
  REQUIRE(eventually([&] { return n.status().banned == 1; }));
  RawPeer refused(n.port());
  refused.send(hello_for(f, 95));
  CHECK(refused.closed_by_node(5));
  f.clock.advance(config.ban_ms);
  CHECK(eventually([&] { return n.status().banned == 0; }));
  RawPeer back(n.port());
  back.send(hello_for(f, 95));
  CHECK(eventually([&] { return n.status().peers.size() == 1; }));
}

TEST_CASE("all peers' frames together are read no faster than the shared budget; none dropped",
          "[p2p][net][hostile][adversary][txs]") {
  Fixture f;
  PeerNetworkConfig config;
  config.max_read_bytes_per_second = 512 * 1024;
  BareNetwork n(f, config);
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kPoolFull); });
  RawPeer first(n.port()), second(n.port());
  first.send(hello_for(f, 96));
  second.send(hello_for(f, 97));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));
  // 16 frames of 1,000 new transactions, 8 from each peer: about 4 times the budget a second.
  std::vector<p2p::Txs> messages;
  for (std::uint64_t m = 0; m < 16; ++m)
    messages.push_back(p2p::Txs{unsigned_transfers(f, 100'000 + m * 1000, p2p::kMaxTxsPerMessage)});
  const double frame = static_cast<double>(p2p::encode_frame(messages[0]).size());
  auto started = std::chrono::steady_clock::now();
  // Sent from threads: the node reads slowly, so the sockets fill and each send waits.
  std::thread one([&] {
    for (std::size_t m = 0; m < 8; ++m) first.send(messages[m]);
  });
  std::thread two([&] {
    for (std::size_t m = 8; m < 16; ++m) second.send(messages[m]);
  });
  // At any moment: at most the full bucket, what refilled since, and one frame in debt. Nothing
  // is dropped or blamed: the rest is read as the budget refills.
  const double rate = static_cast<double>(config.max_read_bytes_per_second);
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  bool within = true;
  CHECK(eventually([&] {
    const std::size_t screened = n.handler().txs_screened();
    const double read = static_cast<double>(screened / p2p::kMaxTxsPerMessage) * frame;
    if (read > rate * (1 + seconds()) + frame) within = false;
    return screened == 16 * p2p::kMaxTxsPerMessage;
  }));
  CHECK(within);
  CHECK(seconds() >= (16 * frame - rate - frame) / rate);
  one.join();
  two.join();
  CHECK(n.misbehaviour(96) == 0);
  CHECK(n.misbehaviour(97) == 0);
}

TEST_CASE("frames that declare megabytes and never send them cost the shared read budget nothing",
          "[p2p][net][hostile][adversary]") {
  Fixture f;
  PeerNetworkConfig config;
  config.max_read_bytes_per_second = 512 * 1024;
  BareNetwork n(f, config);
  // A segment table for one segment of 2^21 - 1 words: a frame of 16 MiB, the largest allowed.
  const Bytes declared = {0, 0, 0, 0, 0xFF, 0xFF, 0x1F, 0};
  REQUIRE(**p2p::frame_size(declared) == p2p::kMaxFrameBytes);
  // Seven peers (one address holds eight inbound slots) say hello, declare such a frame, and
  // hold their connections open without sending its body.
  std::vector<std::unique_ptr<RawPeer>> liars;
  for (std::uint8_t id = 100; id < 107; ++id) {
    liars.push_back(std::make_unique<RawPeer>(n.port()));
    Bytes bytes = p2p::encode_frame(hello_for(f, id));
    bytes.insert(bytes.end(), declared.begin(), declared.end());
    liars.back()->send_bytes(bytes);
    REQUIRE(eventually([&] { return n.status().peers.size() == liars.size(); }));
  }
  // Had each declared frame been charged, 112 MiB of debt would hold every read for minutes.
  RawPeer honest(n.port());
  honest.send(hello_for(f, 120));
  CHECK(honest.round_trip(1, 5));
}

TEST_CASE("what peers make a node log is bounded: 20 lines of a message each 10 s, then a count",
          "[p2p][net][hostile][adversary][log]") {
  Fixture f;
  std::mutex mutex;
  std::vector<std::string> lines;
  auto keep = [&](const LogEvent& e) {
    std::lock_guard lock(mutex);
    lines.push_back(std::string(e.message) + "|" + log_text("", e.fields));
  };
  auto count = [&](const std::string& prefix) {
    std::lock_guard lock(mutex);
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& line) { return line.starts_with(prefix); });
  };
  BareNetwork n(f, {}, {}, {}, {}, Logger(function_log_sink(keep), "p2p"));
  n.set_tx_verdict([](const Transaction&) { return refuse_as(Reason::kWrongChain); });
  // 30 peers, each banned for what it sends: 30 bans, of which 20 are written.
  for (std::uint8_t i = 0; i < 30; ++i) {
    RawPeer evil(n.port());
    evil.send(hello_for(f, static_cast<std::uint8_t>(100 + i)));
    evil.send(p2p::Txs{{forged_transfer(f, i)}});
    REQUIRE(evil.closed_by_node());
  }
  REQUIRE(eventually([&] { return n.status().banned == 30; }));
  CHECK(count("banned a peer|") == 20);
  CHECK(count("lines left out") == 0);
  // The window ends: the next tick says how many were left out, once.
  f.clock.advance(10'000);
  REQUIRE(eventually([&] {
    return count(
               "lines left out: too many of one message from peers| "
               "left_out_message=\"banned a peer\" left_out=10 seconds=10") == 1;
  }));
  // Then the budget is whole again.
  RawPeer evil(n.port());
  evil.send(hello_for(f, 200));
  evil.send(p2p::Txs{{forged_transfer(f, 30)}});
  REQUIRE(evil.closed_by_node());
  CHECK(eventually([&] { return count("banned a peer|") == 21; }));
}
