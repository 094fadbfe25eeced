// Real listening nodes on loopback ports chosen by the system: each PeerNode runs its own event
// loop thread; the tests talk to them as the node program will, and speak the wire protocol
// themselves over plain sockets to play a hostile peer.
#include <catch2/catch.hpp>

#include <atomic>

#include "peer_test_support.h"

using namespace pos;
using namespace pos::test;
using namespace std::chrono_literals;

TEST_CASE("three nodes in a line relay a transaction and a block end to end", "[p2p][net]") {
  Fixture f;
  PeerNode& a = f.start(f.config({}, false));
  PeerNode& b = f.start(f.config({Fixture::address(a)}, false));
  PeerNode& c = f.start(f.config({Fixture::address(b)}, false));
  REQUIRE(
      eventually([&] { return peer_count(a) == 1 && peer_count(b) == 2 && peer_count(c) == 1; }));

  auto tx = f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 7, 1, 0, 1);
  REQUIRE(a.submit(tx).ok());
  CHECK(eventually([&] { return c.pool().contains(tx->id()); }));

  BlockPtr block = f.forge(a);
  CHECK(block->transactions().size() == 1);
  CHECK(eventually([&] { return c.status().tip == block->hash(); }));
  CHECK(c.status().state_root == a.status().state_root);
  CHECK(eventually([&] { return !c.pool().contains(tx->id()); }));
  // Still a line: discovery was off.
  CHECK(peer_count(a) == 1);
  CHECK(peer_count(c) == 1);
}

TEST_CASE("transactions submitted one at a time are relayed together, within a peer's message rate",
          "[p2p][net]") {
  Fixture f;
  PeerNode& a = f.start(f.config({}, false));
  PeerNodeConfig strict = f.config({Fixture::address(a)}, false);
  strict.network.max_messages_per_second = 20;  // a message a transaction would be banned
  PeerNode& b = f.start(std::move(strict));
  REQUIRE(eventually([&] { return peer_count(a) == 1 && peer_count(b) == 1; }));

  std::vector<TransactionPtr> sent;
  for (std::uint64_t nonce = 0; nonce < 60; ++nonce)
    for (std::size_t u = 0; u < 2; ++u) {
      sent.push_back(f.keys.users[u].transfer(f.keys.chain_id(), f.keys.users[1 - u].public_key(),
                                              1, 1, nonce, 1 + nonce));
      REQUIRE(a.submit(sent.back()).ok());
    }
  CHECK(eventually([&] {
    return std::all_of(sent.begin(), sent.end(),
                       [&](const TransactionPtr& tx) { return b.pool().contains(tx->id()); });
  }));
  auto peers = b.status().peers;
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].misbehaviour == 0);
}

TEST_CASE("a node started after 500 blocks syncs to the same tip and state root",
          "[p2p][net][sync]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  for (int i = 0; i < 500; ++i) {
    if (i % 10 == 0) {
      const Wallet& u = f.keys.users[static_cast<std::size_t>(i / 10) % 2];
      std::uint64_t nonce = 0;
      a.inspect([&](const Blockchain& chain, const TransactionPool&) {
        nonce = chain.state().get(u.public_key()).nonce;
      });
      REQUIRE(a.submit(u.transfer(f.keys.chain_id(), f.keys.validators[1].public_key(), 1, 0, nonce,
                                  static_cast<std::uint64_t>(i)))
                  .ok());
    }
    f.forge(a);
  }
  REQUIRE(a.status().height == 500);
  PeerNode& d = f.start(f.config({Fixture::address(a)}));
  CHECK(eventually([&] { return d.status().height == 500; }, 60));
  CHECK(d.status().tip == a.status().tip);
  CHECK(d.status().state_root == a.status().state_root);
}

TEST_CASE("discovery: a node given one seed connects to that seed's peers", "[p2p][net]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  PeerNode& b = f.start(f.config({Fixture::address(a)}));
  PeerNode& c = f.start(f.config({Fixture::address(a)}));
  REQUIRE(
      eventually([&] { return peer_count(a) == 2 && peer_count(b) >= 1 && peer_count(c) >= 1; }));
  PeerNode& d = f.start(f.config({Fixture::address(a)}));
  CHECK(eventually([&] { return peer_count(d) == 3; }));
  std::set<Hash> ids;
  for (const auto& p : d.status().peers) ids.insert(p.node_id);
  CHECK(ids == std::set<Hash>{a.node_id(), b.node_id(), c.node_id()});
}

TEST_CASE("a restarted node dials the outbound peers of its last run (anchors) without seeds",
          "[p2p][net]") {
  Fixture f;
  TempDir dir;
  const auto anchors = dir.path() / "anchors";
  PeerNode& b = f.start(f.config());
  auto with_anchors = [&](std::vector<std::string> seeds) {
    PeerNodeConfig c = f.config(std::move(seeds));
    c.network.anchors_file = anchors;
    return c;
  };
  f.start(with_anchors({Fixture::address(b)}));
  REQUIRE(eventually([&] { return peer_count(*f.nodes.back()) == 1; }));
  CHECK(eventually([&] { return std::filesystem::exists(anchors); }));
  CHECK(read_text(anchors) == Fixture::address(b) + "\n");
  f.nodes.pop_back();  // stopped
  REQUIRE(eventually([&] { return peer_count(b) == 0; }));
  // No seed now, an empty address book: the anchor is dialled all the same.
  f.start(with_anchors({}));
  CHECK(eventually([&] { return peer_count(*f.nodes.back()) == 1; }));
  f.nodes.pop_back();
  REQUIRE(eventually([&] { return peer_count(b) == 0; }));
  // A line that is not host:port is passed over, the rest still dialled.
  write_text(anchors, "not an address\n" + Fixture::address(b) + "\n");
  f.start(with_anchors({}));
  CHECK(eventually([&] { return peer_count(*f.nodes.back()) == 1; }));
}

TEST_CASE("a node drops self-connections and refuses another chain", "[p2p][net]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  auto dropped = [](const PeerNode& n) { return n.status().counters.connections_dropped; };
  a.connect(Fixture::address(a));
  // Both ends of the connection are a's: each hears a hello with its own id and drops it.
  REQUIRE(eventually([&] { return dropped(a) == 2; }));
  CHECK(peer_count(a) == 0);

  NetOptions other_options;
  other_options.users = 3;  // a different allocation: another genesis
  TestNet other(other_options);
  auto stranger = PeerNode::start(other.genesis, std::make_unique<MemoryStorage>(),
                                  f.config({Fixture::address(a)}), f.clock);
  REQUIRE(stranger.ok());
  // a refuses the stranger's hello; the stranger, told so, drops its end too.
  REQUIRE(eventually([&] { return dropped(a) >= 3 && dropped(**stranger) >= 1; }));
  CHECK(peer_count(a) == 0);
  CHECK((*stranger)->status().peers.empty());
}

TEST_CASE("hostile input on the p2p port: the node stays up, drops the offender, serves others",
          "[p2p][net][hostile]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  PeerNode& b = f.start(f.config({Fixture::address(a)}));
  REQUIRE(eventually([&] { return peer_count(a) == 1 && peer_count(b) == 1; }));
  std::uint64_t nonce = 0;
  auto honest_peer_still_served = [&]() {
    std::uint64_t n = nonce++;
    auto tx =
        f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 0, n, 100 + n);
    REQUIRE(a.submit(tx).ok());
    return eventually([&] { return b.pool().contains(tx->id()); });
  };

  SECTION("random garbage") {
    RawPeer evil(a.port());
    Bytes garbage(4096);
    for (std::size_t i = 0; i < garbage.size(); ++i)
      garbage[i] = static_cast<std::uint8_t>(i * 7 + 3);
    evil.send_bytes(garbage);
    CHECK(evil.closed_by_node());
  }
  SECTION("a frame declaring a huge size") {
    RawPeer evil(a.port());
    evil.send_bytes({0, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f});
    CHECK(evil.closed_by_node());
  }
  SECTION("a truncated frame, then silence") {
    PeerNodeConfig quick = f.config();
    quick.network.handshake_timeout_ms = 300;
    PeerNode& q = f.start(quick);
    RawPeer evil(q.port());
    Bytes frame = p2p::encode_frame(hello_for(f, 9));
    frame.resize(frame.size() / 2);
    evil.send_bytes(frame);
    // The node's clock passes the handshake timeout (again, if the connection was accepted
    // after the first step); each step waits for the socket to close, not for time.
    bool closed = false;
    for (int step = 0; step < 5 && !closed; ++step) {
      f.clock.advance(400);
      closed = evil.closed_by_node(1);
    }
    CHECK(closed);
  }
  SECTION("a valid frame of the wrong kind before hello") {
    RawPeer evil(a.port());
    evil.send(p2p::Ping{1});
    CHECK(evil.closed_by_node());
  }
  SECTION("a hello for another chain is answered with reject") {
    RawPeer evil(a.port());
    p2p::Hello h = hello_for(f, 9);
    h.chain_id = "pos-elsewhere";
    evil.send(h);
    std::vector<p2p::Message> got;
    CHECK(evil.closed_by_node(10, &got));
    bool rejected = false;
    for (const auto& m : got)
      if (auto* r = std::get_if<p2p::Reject>(&m)) rejected = r->code == "wrong_chain";
    CHECK(rejected);
  }
  SECTION("a hello flood") {
    RawPeer evil(a.port());
    for (int i = 0; i < 10; ++i) evil.send(hello_for(f, 9));
    CHECK(evil.closed_by_node());
  }
  SECTION("an oversized blocks message") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 9));
    std::vector<BlockPtr> many(p2p::kMaxBlocksPerMessage + 1, f.keys.genesis.block());
    evil.send(p2p::Blocks{many});
    CHECK(evil.closed_by_node());
  }
  SECTION("a block with a bad signature") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 9));
    BlockPtr good = f.keys.craft({});
    Signature sig = good->signature();
    sig.bytes[0] ^= 1;
    evil.send(p2p::NewBlock{Block::make(good->header(), sig, {})});
    CHECK(evil.closed_by_node());
  }
  SECTION("a block from the wrong leader") {
    RawPeer evil(a.port());
    evil.send(hello_for(f, 9));
    BlockPtr good = f.keys.craft({});
    for (const auto& v : f.keys.validators) {
      if (v.public_key() == good->forger()) continue;
      BlockHeader h = good->header();
      h.forger = v.public_key();
      evil.send(p2p::NewBlock{f.keys.resign(h, {})});
      break;
    }
    CHECK(evil.closed_by_node());
  }
  CHECK(a.status().height == 0);
  CHECK(honest_peer_still_served());
  CHECK(peer_count(a) == 1);
}

TEST_CASE(
    "partition and heal: all converge on the longer branch, the shorter's transactions "
    "return to the pools",
    "[p2p][net][partition]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  PeerNode& b = f.start(f.config({Fixture::address(a)}));
  PeerNode& c = f.start(f.config({Fixture::address(a)}));
  PeerNode& d = f.start(f.config({Fixture::address(a)}));
  REQUIRE(eventually([&] { return peer_count(d) == 3 && peer_count(a) == 3; }));

  for (PeerNode* n : {&a, &b, &c, &d}) n->isolate();
  REQUIRE(eventually(
      [&] { return peer_count(a) + peer_count(b) + peer_count(c) + peer_count(d) == 0; }));
  b.connect(Fixture::address(a));
  d.connect(Fixture::address(c));
  REQUIRE(eventually([&] { return peer_count(a) == 1 && peer_count(c) == 1; }));

  // Group A-B: 3 blocks in odd slots, one with tx1. Group C-D: 5 blocks in even slots with tx2.
  auto tx1 = f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 5, 1, 0, 1);
  auto tx2 = f.keys.users[1].transfer(f.keys.chain_id(), f.keys.users[0].public_key(), 6, 1, 0, 2);
  REQUIRE(a.submit(tx1).ok());
  REQUIRE(c.submit(tx2).ok());
  REQUIRE(eventually([&] { return b.pool().contains(tx1->id()) && d.pool().contains(tx2->id()); }));
  for (int i = 0; i < 3; ++i) f.forge(a, 1);
  for (int i = 0; i < 5; ++i) f.forge(c, 0);
  REQUIRE(eventually([&] { return b.status().height == 3 && d.status().height == 5; }));
  CHECK(b.status().tip != d.status().tip);
  CHECK_FALSE(b.pool().contains(tx1->id()));

  a.connect(Fixture::address(c));  // heal
  Hash tip = c.status().tip;
  CHECK(eventually([&] {
    for (PeerNode* n : {&a, &b, &c, &d})
      if (n->status().tip != tip) return false;
    return true;
  }));
  Hash root = c.status().state_root;
  for (PeerNode* n : {&a, &b, &d}) CHECK(n->status().state_root == root);
  CHECK(eventually([&] { return a.pool().contains(tx1->id()) && b.pool().contains(tx1->id()); }));
}

TEST_CASE("a peer that disconnects mid-sync is replaced by another", "[p2p][net][sync]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  for (int i = 0; i < 1500; ++i) f.forge(a);
  auto b = PeerNode::start(f.keys.genesis, std::make_unique<MemoryStorage>(),
                           f.config({Fixture::address(a)}), f.clock);
  REQUIRE(b.ok());
  REQUIRE(eventually([&] { return (*b)->status().height == 1500; }, 60));

  PeerNodeConfig slow =
      f.config({Fixture::address(a), "127.0.0.1:" + std::to_string((*b)->port())});
  slow.network.sync_batch_blocks = 5;
  PeerNode& n = f.start(slow);
  std::optional<Hash> source;
  REQUIRE(eventually(
      [&] {
        auto s = n.status();
        if (s.height > 0 && s.syncing_from) source = s.syncing_from;
        return source.has_value();
      },
      20));
  // Stop whichever node n is syncing from.
  if (*source == a.node_id())
    a.isolate();
  else
    b->reset();
  CHECK(n.status().height < 1500);
  CHECK(eventually([&] { return n.status().height == 1500; }, 60));
}

TEST_CASE("a block ahead of the clock is held back, then applied when its slot comes",
          "[p2p][net]") {
  Fixture f;
  ManualClock slow(f.keys.genesis.params.slot_start_ms(1));  // this node's clock is behind
  auto late = PeerNode::start(f.keys.genesis, std::make_unique<MemoryStorage>(), f.config(), slow);
  REQUIRE(late.ok());
  PeerNode& a = f.start(f.config({"127.0.0.1:" + std::to_string((*late)->port())}));
  REQUIRE(eventually([&] { return peer_count(a) == 1; }));
  // a forges in slot 5: three slots past the late node's clock.
  std::optional<PublicKey> leader;
  a.inspect([&](const Blockchain& chain, const TransactionPool&) { leader = chain.leader(5); });
  auto block = a.forge(f.keys.wallet_of(*leader).secret_key(), 5);
  REQUIRE(block.ok());
  REQUIRE(eventually([&] { return (*late)->status().held_back_blocks == 1; }));
  CHECK((*late)->status().height == 0);
  CHECK(peer_count(a) == 1);  // held, not a reason to drop the peer
  CHECK((*late)->status().max_slots_ahead == 4);
  CHECK_FALSE((*late)->status().clock_behind);  // one block, 4 slots ahead: not yet
  slow.set(f.keys.genesis.params.slot_start_ms(4));
  CHECK(eventually([&] { return (*late)->status().tip == (*block)->hash(); }));
}

TEST_CASE("a validator told to need a peer does not forge alone, and does once connected",
          "[p2p][net][forging]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  ForgingOptions options;
  options.min_peers = 1;
  a.start_forging(SecretKey::from_seed(f.keys.validators[0].secret_key().seed()), options);
  // Walks the clock through `slots` slots, each decided by the slot clock before the next;
  // validator 0 leads about a third.
  auto walk = [&](int slots) {
    for (int i = 0; i < slots; ++i) {
      f.clock.set(f.clock.now_ms() + f.keys.genesis.params.slot_ms);
      std::uint64_t slot = f.keys.genesis.params.slot_at(f.clock.now_ms());
      REQUIRE(eventually([&] { return a.status().forge_decided_slot == slot; }));
    }
  };
  walk(20);
  CHECK(a.status().height == 0);
  PeerNode& b = f.start(f.config({Fixture::address(a)}));
  REQUIRE(eventually([&] { return peer_count(a) == 1; }));
  walk(20);
  CHECK(a.status().height > 0);
  CHECK(eventually([&] { return b.status().tip == a.status().tip; }));
}

TEST_CASE("votes from a peer reach the node once and are relayed to the others, not the sender",
          "[p2p][net][votes]") {
  Fixture f;
  BareNetwork n(f);
  RawPeer sender(n.port());
  RawPeer third(n.port());
  sender.send(hello_for(f, 41));
  third.send(hello_for(f, 42));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  std::vector<VotePtr> votes = {vote_for(f, 5), vote_for(f, 6)};
  std::vector<Hash> ids = {votes[0]->id(), votes[1]->id()};
  sender.send(p2p::Votes{votes});
  std::vector<Hash> relayed;
  CHECK(third.receive([&](const p2p::Message& m) {
    relayed = vote_ids({m});
    return !relayed.empty();
  }));
  CHECK(relayed == ids);
  auto received = n.handler().received();
  REQUIRE(received.size() == 2);
  CHECK(received[0].second->id() == ids[0]);
  CHECK(received[1].second->id() == ids[1]);
  CHECK(received[0].first == received[1].first);
  CHECK(received[0].first != 0);

  // Nothing came back to the sender before the answer to its next message; sending the same
  // votes again, or echoing them from the third peer, does not reach the node again.
  std::vector<p2p::Message> back;
  sender.send(p2p::Votes{votes});
  REQUIRE(sender.round_trip(1, 10, f.keys.chain_id(), &back));
  CHECK(vote_ids(back).empty());
  third.send(p2p::Votes{{votes[1]}});
  REQUIRE(third.round_trip(2));
  CHECK(n.handler().calls() == 1);
  CHECK(n.handler().received_count() == 2);
  CHECK(n.misbehaviour(41) == 0);
  CHECK(n.misbehaviour(42) == 0);

  // A mix of known and new votes hands over only the new one, from the peer that sent it.
  VotePtr fresh = vote_for(f, 7);
  third.send(p2p::Votes{{votes[0], fresh}});
  CHECK(sender.receive(
      [&](const p2p::Message& m) { return vote_ids({m}) == std::vector{fresh->id()}; }));
  received = n.handler().received();
  REQUIRE(received.size() == 3);
  CHECK(received[2].second->id() == fresh->id());
  CHECK(received[2].first != received[0].first);
}

TEST_CASE("broadcast_votes sends every ready peer the votes in messages of at most the limit",
          "[p2p][net][votes]") {
  Fixture f;
  BareNetwork n(f);
  RawPeer a(n.port());
  RawPeer b(n.port());
  a.send(hello_for(f, 43));
  b.send(hello_for(f, 44));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  auto votes = votes_for(f, 1, p2p::kMaxVotesPerMessage + 5);
  std::vector<Hash> ids;
  for (const auto& v : votes) ids.push_back(v->id());
  n.broadcast_votes(votes);
  for (RawPeer* peer : {&a, &b}) {
    std::vector<std::size_t> sizes;
    std::vector<Hash> got;
    CHECK(peer->receive([&](const p2p::Message& m) {
      if (const auto* v = std::get_if<p2p::Votes>(&m)) sizes.push_back(v->votes.size());
      for (const auto& id : vote_ids({m})) got.push_back(id);
      return got.size() >= ids.size();
    }));
    CHECK(sizes == std::vector<std::size_t>{p2p::kMaxVotesPerMessage, 5});
    CHECK(got == ids);
  }
  // Broadcast votes are remembered: a peer echoing one does not hand it to the node.
  a.send(p2p::Votes{{votes[3]}});
  REQUIRE(a.round_trip(1));
  CHECK(n.handler().calls() == 0);
  // Except means except: the peer named is left out.
  VotePtr one = vote_for(f, 9000);
  b.send(p2p::Votes{{one}});  // so that the handler learns b's PeerId
  REQUIRE(eventually([&] { return n.handler().received_count() == 1; }));
  PeerId b_id = n.handler().received()[0].first;
  VotePtr two = vote_for(f, 9001);
  n.broadcast_votes({two}, b_id);
  CHECK(a.receive([&](const p2p::Message& m) { return vote_ids({m}) == std::vector{two->id()}; }));
  std::vector<p2p::Message> got_b;
  REQUIRE(b.round_trip(2, 10, f.keys.chain_id(), &got_b));
  CHECK(vote_ids(got_b).empty());
}

TEST_CASE("evidence from a peer reaches the node once and is relayed to the others, not the sender",
          "[p2p][net][evidence]") {
  Fixture f;
  BareNetwork n(f);
  RawPeer sender(n.port());
  RawPeer third(n.port());
  sender.send(hello_for(f, 71));
  third.send(hello_for(f, 72));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  std::vector<EvidencePtr> evidence = {double_vote_for(f, 5), double_vote_for(f, 6)};
  std::vector<Hash> ids = {evidence[0]->id(), evidence[1]->id()};
  sender.send(p2p::EvidenceList{evidence});
  std::vector<Hash> relayed;
  CHECK(third.receive([&](const p2p::Message& m) {
    relayed = evidence_ids({m});
    return !relayed.empty();
  }));
  CHECK(relayed == ids);
  auto received = n.handler().received_evidence();
  REQUIRE(received.size() == 2);
  CHECK(received[0].second->id() == ids[0]);
  CHECK(received[1].second->id() == ids[1]);
  CHECK(received[0].first == received[1].first);
  CHECK(received[0].first != 0);

  // Nothing came back to the sender; the same evidence again, or echoed by the third peer, does
  // not reach the node again.
  std::vector<p2p::Message> back;
  sender.send(p2p::EvidenceList{evidence});
  REQUIRE(sender.round_trip(1, 10, f.keys.chain_id(), &back));
  CHECK(evidence_ids(back).empty());
  third.send(p2p::EvidenceList{{evidence[1]}});
  REQUIRE(third.round_trip(2));
  CHECK(n.handler().evidence_calls() == 1);
  CHECK(n.handler().received_evidence_count() == 2);
  CHECK(n.misbehaviour(71) == 0);
  CHECK(n.misbehaviour(72) == 0);

  // A mix of known and new evidence hands over only the new one, from the peer that sent it.
  EvidencePtr fresh = double_vote_for(f, 7);
  third.send(p2p::EvidenceList{{evidence[0], fresh}});
  CHECK(sender.receive(
      [&](const p2p::Message& m) { return evidence_ids({m}) == std::vector{fresh->id()}; }));
  received = n.handler().received_evidence();
  REQUIRE(received.size() == 3);
  CHECK(received[2].second->id() == fresh->id());
  CHECK(received[2].first != received[0].first);
  // Votes and evidence keep apart: no vote reached the node.
  CHECK(n.handler().received_count() == 0);
}

TEST_CASE("broadcast_evidence sends every ready peer the evidence in messages of at most the limit",
          "[p2p][net][evidence]") {
  Fixture f;
  BareNetwork n(f);
  RawPeer a(n.port());
  RawPeer b(n.port());
  a.send(hello_for(f, 73));
  b.send(hello_for(f, 74));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));

  auto evidence = double_votes_for(f, 1, p2p::kMaxEvidencePerMessage + 5);
  std::vector<Hash> ids;
  for (const auto& e : evidence) ids.push_back(e->id());
  n.broadcast_evidence(evidence);
  for (RawPeer* peer : {&a, &b}) {
    std::vector<std::size_t> sizes;
    std::vector<Hash> got;
    CHECK(peer->receive([&](const p2p::Message& m) {
      if (const auto* e = std::get_if<p2p::EvidenceList>(&m)) sizes.push_back(e->evidence.size());
      for (const auto& id : evidence_ids({m})) got.push_back(id);
      return got.size() >= ids.size();
    }));
    CHECK(sizes == std::vector<std::size_t>{p2p::kMaxEvidencePerMessage, 5});
    CHECK(got == ids);
  }
  // Broadcast evidence is remembered: a peer echoing it does not hand it to the node.
  a.send(p2p::EvidenceList{{evidence[3]}});
  REQUIRE(a.round_trip(1));
  CHECK(n.handler().evidence_calls() == 0);
  // Except means except: the peer named is left out.
  EvidencePtr one = double_vote_for(f, 9000);
  b.send(p2p::EvidenceList{{one}});  // so that the handler learns b's PeerId
  REQUIRE(eventually([&] { return n.handler().received_evidence_count() == 1; }));
  PeerId b_id = n.handler().received_evidence()[0].first;
  EvidencePtr two = double_vote_for(f, 9001);
  n.broadcast_evidence({two}, b_id);
  CHECK(a.receive(
      [&](const p2p::Message& m) { return evidence_ids({m}) == std::vector{two->id()}; }));
  std::vector<p2p::Message> got_b;
  REQUIRE(b.round_trip(2, 10, f.keys.chain_id(), &got_b));
  CHECK(evidence_ids(got_b).empty());
}

TEST_CASE("refused evidence costs its sender the reason's penalty; at 100 it is banned",
          "[p2p][net][hostile][evidence]") {
  Fixture f;
  // The stand-in node judges evidence as the real one would: `bad` fails Evidence::check
  // (bad_evidence, penalty 100), `stale` slashes no one here (an ok verdict: honest peers send
  // it during forks), and `blamed` gets a reason with a smaller penalty, to show that the
  // network charges whatever reason the node gives.
  EvidencePtr bad = double_vote_for(f, 1000);
  EvidencePtr stale = double_vote_for(f, 3000);
  EvidencePtr blamed = double_vote_for(f, 2000);
  BareNetwork n(f, {}, {}, [&](const Evidence& e) -> Status {
    if (e.id() == bad->id()) return make_error(Reason::kBadEvidence, "bad signature");
    if (e.id() == blamed->id()) return make_error(Reason::kConflictsFinalized, "a test reason");
    return {};
  });
  RawPeer honest(n.port());
  honest.send(hello_for(f, 82));
  RawPeer evil(n.port());
  evil.send(hello_for(f, 81));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));
  REQUIRE(reason_info(Reason::kBadEvidence).peer_penalty == 100);

  evil.send(p2p::EvidenceList{{stale}});
  REQUIRE(evil.round_trip(1));
  CHECK(n.misbehaviour(81) == 0);
  evil.send(p2p::EvidenceList{{blamed}});
  REQUIRE(evil.round_trip(2));
  CHECK(n.misbehaviour(81) == reason_info(Reason::kConflictsFinalized).peer_penalty);
  // Refused evidence enters the seen-set: sent again, it is not judged (nor charged) again.
  evil.send(p2p::EvidenceList{{blamed}});
  REQUIRE(evil.round_trip(3));
  CHECK(n.handler().received_evidence_count() == 2);
  CHECK(n.misbehaviour(81) == reason_info(Reason::kConflictsFinalized).peer_penalty);
  // Bad evidence after good in one message: the good one is handed over (and relayed), the bad
  // one bans the sender.
  EvidencePtr good = double_vote_for(f, 4000);
  evil.send(p2p::EvidenceList{{good, bad}});
  CHECK(evil.closed_by_node());
  CHECK(eventually([&] { return n.status().banned == 1; }));
  CHECK(n.handler().received_evidence_count() == 4);
  CHECK(honest.receive(
      [&](const p2p::Message& m) { return evidence_ids({m}) == std::vector{good->id()}; }));
  RawPeer again(n.port());
  again.send(hello_for(f, 81));
  CHECK(again.closed_by_node(5));
  CHECK(n.misbehaviour(82) == 0);
  CHECK(honest.round_trip(4));
}

TEST_CASE("evidence beyond the per-peer budget is cut before the node and penalised",
          "[p2p][net][hostile][evidence]") {
  Fixture f;
  PeerNetworkConfig defaults;
  const std::size_t burst = defaults.max_evidence_burst;
  const std::size_t rate = defaults.max_evidence_per_second;
  REQUIRE(burst == 128);
  REQUIRE(rate == 20);
  BareNetwork n(f);
  RawPeer evil(n.port());
  evil.send(hello_for(f, 91));
  RawPeer other(n.port());
  other.send(hello_for(f, 92));
  REQUIRE(eventually([&] { return n.status().peers.size() == 2; }));
  const int over = reason_info(Reason::kRateLimited).peer_penalty;
  REQUIRE(over > 0);

  // Three full messages at once (the node's clock stands still): the burst passes, the third is
  // dropped whole, and that message costs rate_limited's penalty once.
  const std::size_t per = p2p::kMaxEvidencePerMessage;
  auto flood = double_votes_for(f, 1, 3 * per);
  for (std::size_t i = 0; i < 3; ++i)
    evil.send(p2p::EvidenceList{{flood.begin() + static_cast<long>(i * per),
                                 flood.begin() + static_cast<long>((i + 1) * per)}});
  REQUIRE(evil.round_trip(1));
  CHECK(n.handler().received_evidence_count() == burst);
  CHECK(n.misbehaviour(91) == over);
  CHECK(n.handler().received_evidence().back().second->id() == flood[burst - 1]->id());

  // Half a second of the node's clock refills half the rate: 10 of the next 64 pass.
  f.clock.advance(500);
  auto more = double_votes_for(f, 10'000, per);
  evil.send(p2p::EvidenceList{more});
  REQUIRE(evil.round_trip(2));
  CHECK(n.handler().received_evidence_count() == burst + rate / 2);
  CHECK(n.misbehaviour(91) == 2 * over);

  // The dropped evidence was not read, not even into the seen-set: from a peer within its budget
  // it reaches the node.
  std::vector<EvidencePtr> dropped(flood.begin() + static_cast<long>(burst), flood.end());
  other.send(p2p::EvidenceList{dropped});
  REQUIRE(other.round_trip(3));
  CHECK(n.handler().received_evidence_count() == burst + rate / 2 + dropped.size());
  CHECK(n.misbehaviour(92) == 0);
  // The vote budget is untouched by evidence: the flooder's votes still pass.
  evil.send(p2p::Votes{{vote_for(f, 5)}});
  REQUIRE(evil.round_trip(4));
  CHECK(n.handler().received_count() == 1);
  CHECK(n.misbehaviour(91) == 2 * over);
}

TEST_CASE("a peer on a chain that conflicts with our finalized block pays once, not per block",
          "[p2p][net][hostile]") {
  Fixture f;
  std::vector<BlockPtr> blocks;
  for (std::uint64_t slot = 1; slot <= 6; ++slot) blocks.push_back(f.keys.forge(slot));
  std::atomic<int> judged = 0;
  BareNetwork n(f, {}, {}, {}, [&](const Block&) -> Status {
    ++judged;
    return make_error(Reason::kConflictsFinalized, "a test reason");
  });
  RawPeer victim(n.port());
  victim.send(hello_for(f, 83));
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  const int penalty = reason_info(Reason::kConflictsFinalized).peer_penalty;
  REQUIRE(penalty > 0);
  // A node fed a bad chain goes on forging there: one penalty, not a ban after a few blocks,
  // and its next blocks are not even judged for a while.
  for (std::size_t i = 0; i < 5; ++i) victim.send(p2p::NewBlock{blocks[i]});
  REQUIRE(victim.round_trip(1));
  CHECK(n.misbehaviour(83) == penalty);
  CHECK(judged == 1);
  // A minute later it is heard again (it may have taken our chain since), and pays again if not.
  for (std::uint64_t second = 0; second <= 60; ++second) {
    f.clock.advance(1000);
    REQUIRE(victim.round_trip(100 + second));
  }
  victim.send(p2p::NewBlock{blocks[5]});
  REQUIRE(victim.round_trip(2));
  CHECK(judged == 2);
  CHECK(n.misbehaviour(83) == 2 * penalty);
  CHECK(n.status().banned == 0);
}

TEST_CASE("a sync batch on a chain that conflicts with our finalized block is judged whole, once",
          "[p2p][net][hostile]") {
  Fixture f;
  std::vector<BlockPtr> blocks;
  for (std::uint64_t slot = 1; slot <= 12; ++slot) blocks.push_back(f.keys.forge(slot));
  std::atomic<int> judged = 0;
  PeerNetworkConfig config;
  config.sync_batch_blocks = 6;  // so that a batch of 6 is full, and the next is asked for early
  BareNetwork n(f, config, {}, {}, [&](const Block&) -> Status {
    ++judged;
    return make_error(Reason::kConflictsFinalized, "a test reason");
  });
  auto asks_for_blocks = [](const p2p::Message& m) {
    return std::holds_alternative<p2p::GetBlocks>(m);
  };
  RawPeer peer(n.port());
  p2p::Hello hello = hello_for(f, 85);
  hello.best_height = 50;
  peer.send(hello);
  REQUIRE(peer.receive(asks_for_blocks));
  peer.send(p2p::Blocks{{blocks.begin(), blocks.begin() + 6}});
  // A full batch: the next is asked for before this one is judged (pipelining).
  REQUIRE(peer.receive(asks_for_blocks));
  // Every block of the batch reaches the handler, which looks in each for votes that pair with
  // its own record (conflicting finalized chains are how more than 1/3 equivocating is found).
  REQUIRE(eventually([&] { return judged == 6; }));
  CHECK(n.misbehaviour(85) == reason_info(Reason::kConflictsFinalized).peer_penalty);
  // The batch asked for early is more of that chain: dropped unjudged, and nothing more asked.
  peer.send(p2p::Blocks{{blocks.begin() + 6, blocks.end()}});
  std::vector<p2p::Message> got;
  REQUIRE(peer.round_trip(1, 10, f.keys.chain_id(), &got));
  CHECK(judged == 6);
  CHECK(std::none_of(got.begin(), got.end(), asks_for_blocks));
  CHECK(n.misbehaviour(85) == reason_info(Reason::kConflictsFinalized).peer_penalty);
}

TEST_CASE("a node that needs a checkpoint asks no peer for blocks and judges none it is sent",
          "[p2p][net][checkpoint]") {
  Fixture f;
  std::atomic<int> judged = 0;
  BareNetwork n(f, {}, {}, {}, [&](const Block&) -> Status {
    ++judged;
    return {};
  });
  n.set_takes_blocks(false);
  RawPeer peer(n.port());
  p2p::Hello hello = hello_for(f, 84);
  hello.best_height = 50;  // ahead: a node that takes blocks asks for them at once
  peer.send(hello);
  REQUIRE(eventually([&] { return n.status().peers.size() == 1; }));
  peer.send(p2p::NewBlock{f.keys.forge(1)});
  std::vector<p2p::Message> got;
  REQUIRE(peer.round_trip(1, 10, f.keys.chain_id(), &got));
  CHECK(judged == 0);
  CHECK(std::none_of(got.begin(), got.end(), [](const p2p::Message& m) {
    return std::holds_alternative<p2p::GetBlocks>(m);
  }));
  CHECK(n.misbehaviour(84) == 0);
  // Taking blocks again (a restart with a checkpoint, or its own finality): the peer ahead is
  // asked for them.
  n.set_takes_blocks(true);
  CHECK(peer.receive(
      [](const p2p::Message& m) { return std::holds_alternative<p2p::GetBlocks>(m); }));
}
