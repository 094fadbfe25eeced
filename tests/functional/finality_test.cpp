// Finality by votes with real pos-node processes on loopback (docs/consensus.md, "Votes and
// finality"): four validators of equal stake finalize close behind the head; with one of them
// stopped (25% of the stake) finality goes on; with two (50%) the chain grows but finality
// waits, and resumes when they return.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "../unit/peer_test_support.h"
#include "node_process.h"

using namespace pos;
using namespace pos::functional;

namespace {

struct Heights {
  std::uint64_t height = 0;
  std::uint64_t finalized = 0;
};

std::optional<Heights> heights(NodeProcess& n) {
  auto info = n.rpc().info();
  if (!info.ok()) return std::nullopt;
  return Heights{info->height, info->finalized_height};
}

// Four validators, each dialling the ones before it.
struct FourValidators {
  TestNetwork net{500, 4};
  std::vector<std::unique_ptr<NodeProcess>> nodes = start_validators(net, 4);
  FourValidators() {
    REQUIRE(eventually([&] {
      for (auto& n : nodes)
        if (n->rpc().info()->peers != 3) return false;
      return true;
    }));
  }
  // The finalized height of node i once it has passed `above`.
  bool finalizes_above(std::size_t i, std::uint64_t above, double seconds = 30) {
    return eventually(
        [&] {
          auto h = heights(*nodes[i]);
          return h && h->finalized > above;
        },
        seconds);
  }
};

}  // namespace

TEST_CASE("four validators finalize within 3 blocks of the head, the same blocks on every node",
          "[functional][finality]") {
  FourValidators f;
  for (std::size_t i = 0; i < 4; ++i) REQUIRE(f.finalizes_above(i, 3));
  // One sample per new head of v0: how far finality trails it.
  std::vector<std::uint64_t> lags;
  std::uint64_t last = 0;
  while (lags.size() < 12) {
    std::optional<Heights> h;
    REQUIRE(eventually([&] {
      h = heights(*f.nodes[0]);
      return h && h->height > last;
    }));
    last = h->height;
    lags.push_back(h->height - h->finalized);
  }
  std::sort(lags.begin(), lags.end());
  INFO("lags behind the head, sorted: " << ::Catch::Detail::stringify(lags));
  CHECK(lags[lags.size() / 2] <= 3);  // the median; 2 with every vote on time
  CHECK(lags.back() <= 6);
  // Every node finalized the same block at a height all have finalized.
  std::uint64_t common = UINT64_MAX;
  for (auto& n : f.nodes) common = std::min(common, heights(*n)->finalized);
  auto expected = f.nodes[0]->rpc().block(common);
  REQUIRE(expected.ok());
  for (auto& n : f.nodes) {
    auto block = n->rpc().block(common);
    REQUIRE(block.ok());
    CHECK((*block)->hash() == (*expected)->hash());
    auto fin = n->rpc().finality();
    REQUIRE(fin.ok());
    CHECK(fin->justified.height >= fin->finalized.height);
  }
}

TEST_CASE("finality goes on with 3 of 4 validators, waits with 2 of 4, resumes when they return",
          "[functional][finality]") {
  FourValidators f;
  REQUIRE(f.finalizes_above(0, 2));

  // 25% of the stake stopped: more than 2/3 still votes.
  f.nodes[3]->stop();
  std::uint64_t before = heights(*f.nodes[0])->finalized;
  CHECK(f.finalizes_above(0, before + 4));

  // 50% stopped: the chain grows, nothing more is finalized.
  f.nodes[2]->stop();
  Heights stalled = *heights(*f.nodes[0]);
  // The last votes cast before the stop may still finalize a block or two.
  REQUIRE(eventually([&] { return heights(*f.nodes[0])->height >= stalled.height + 3; }));
  Heights settled = *heights(*f.nodes[0]);
  REQUIRE(eventually([&] { return heights(*f.nodes[0])->height >= settled.height + 6; }));
  Heights later = *heights(*f.nodes[0]);
  CHECK(later.finalized == settled.finalized);
  CHECK(later.height > settled.height);

  // They return: votes justify the head again and finality resumes past where it stopped.
  f.nodes[2]->start();
  f.nodes[3]->start();
  for (std::size_t i = 0; i < 4; ++i) CHECK(f.finalizes_above(i, later.finalized + 2, 60));
}

TEST_CASE(
    "a validator with a quarter of the stake that runs no node is jailed; finality goes on "
    "and the others lead every slot",
    "[functional][finality][downtime]") {
  // Epochs of 8 slots of 500 ms: the jail comes about two epochs after the first epoch whose
  // finality rose, and the sets drop the key three epochs after the jail is finalized.
  TestNetwork net(500, 4, 4, 8);
  const PublicKey absent = net.validators[3].public_key();
  std::vector<std::unique_ptr<NodeProcess>> nodes = start_validators(net, 3);
  auto jailed_on = [&](NodeProcess& n) {
    auto account = n.rpc().account(absent);
    return account.ok() && account->jailed && account->stake == 100;
  };
  REQUIRE(eventually([&] { return jailed_on(*nodes[0]); }, 60));
  for (auto& n : nodes) CHECK(eventually([&] { return jailed_on(*n); }));

  // The current set leaves it out once the jail's block is finalized and three epochs passed.
  std::uint64_t left_at = 0;
  REQUIRE(eventually(
      [&] {
        auto set = nodes[0]->rpc().validators();
        if (!set.ok()) return false;
        bool member = std::any_of(set->validators.begin(), set->validators.end(),
                                  [&](const ValidatorStake& v) { return v.address == absent; });
        left_at = set->epoch;
        return !member && set->total_stake == 300;
      },
      60));
  // From then on every slot has a running leader: the chain grows a block per slot, and
  // finality follows it.
  auto start = nodes[0]->rpc().info();
  REQUIRE(start.ok());
  const std::uint64_t epoch_slots = net.genesis.params.epoch_slots;
  REQUIRE(eventually([&] { return net.slot_now() >= (left_at + 4) * epoch_slots; }, 30));
  auto later = nodes[0]->rpc().info();
  REQUIRE(later.ok());
  INFO("heights " << start->height << " -> " << later->height << ", slots " << start->slot << " -> "
                  << later->slot);
  // A quarter of 24 slots or more would be 6 empty ones; a loaded machine may miss one or two.
  CHECK(later->height - start->height + 3 >= later->slot - start->slot);
  CHECK(later->finalized_height > start->finalized_height);
  for (auto& n : nodes) {
    auto info = n->rpc().info();
    REQUIRE(info.ok());
    CHECK(info->finalized_height + 6 >= later->height);
  }
}

namespace {

// The signing-state file's "word value" lines.
std::map<std::string, std::uint64_t> read_record(const std::filesystem::path& file) {
  std::istringstream in(test::read_text(file));
  std::map<std::string, std::uint64_t> record;
  std::string word;
  std::uint64_t value = 0;
  while (in >> word >> value) record[word] = value;
  return record;
}

}  // namespace

TEST_CASE(
    "signing-state: votes are recorded before they leave, a restart never votes below the "
    "record, and a damaged record stops the start",
    "[functional][finality]") {
  TestNetwork net(500, 1);  // one validator with all the stake: its own votes finalize
  NodeProcess v(net, "v", {"--key", net.key_file(0).string()});
  auto finalized = [&] { return v.rpc().info()->finalized_height; };
  REQUIRE(eventually([&] { return finalized() >= 3; }));
  v.stop();
  const auto file = v.data_dir() / "signing-state";
  auto record = read_record(file);
  REQUIRE(record.size() == 3);
  CHECK(record.at("last_signed_slot") > 0);
  CHECK(record.at("vote_target_height") >= 4);  // finalizing 3 took votes for 3 and 4
  CHECK(record.at("vote_source_height") < record.at("vote_target_height"));

  // A record ahead of the chain, as a restored older data dir would leave it: no vote until the
  // head passes the recorded target, so nothing more is finalized until then.
  const std::uint64_t ahead = record.at("vote_target_height") + 8;
  test::write_text(file, "last_signed_slot " + std::to_string(record.at("last_signed_slot")) +
                             "\nvote_source_height " +
                             std::to_string(record.at("vote_source_height")) +
                             "\nvote_target_height " + std::to_string(ahead) + "\n");
  v.start();
  const std::uint64_t resumed_at = finalized();
  REQUIRE(eventually([&] { return v.rpc().info()->height >= ahead; }, 30));
  CHECK(finalized() == resumed_at);
  CHECK_THAT(v.log(), Catch::Contains("could conflict with one signed before"));
  REQUIRE(eventually([&] { return finalized() > ahead; }, 30));
  v.stop();
  CHECK(read_record(file).at("vote_target_height") > ahead);

  test::write_text(file, "last_signed_slot 5\nvote_source_height x\n");
  auto [code, text] = run_pos_node({"--genesis", net.genesis_file.string(), "--data-dir",
                                    v.data_dir().string(), "--key", net.key_file(0).string(),
                                    "--p2p", "127.0.0.1:0", "--rpc", "127.0.0.1:0"});
  CHECK(code == 2);
  CHECK_THAT(text, Catch::Contains("is damaged"));
  CHECK(test::read_text(file) == "last_signed_slot 5\nvote_source_height x\n");
}

TEST_CASE("a fresh node that took a longer private chain without votes moves to the honest one",
          "[functional][finality][adversary]") {
  TestNetwork net(500, 4);
  // Three of four validators run: 75% of the weight finalizes, and fills 75% of the slots.
  std::vector<std::unique_ptr<NodeProcess>> honest = start_validators(net, 3);
  REQUIRE(eventually([&] { return honest[0]->rpc().info()->finalized_height >= 6; }, 60));

  // The attacker holds every key (say, keys that have since unbonded) and signs a block in
  // every slot since genesis, with no votes: a chain longer than the honest one.
  ManualClock clock(net.genesis.params.genesis_time_ms);
  MemoryStorage storage;
  auto fake = Blockchain::open(net.genesis, storage, clock).value();
  TransactionPool empty(net.genesis.params);
  std::vector<BlockPtr> fake_chain = {fake->block_at(0)};
  std::uint64_t last_slot = net.slot_now() - 1;
  for (std::uint64_t slot = 1; slot <= last_slot; ++slot) {
    clock.set(net.genesis.params.slot_start_ms(slot) + 1);
    const PublicKey leader = *fake->leader(slot);
    const Wallet* key = nullptr;
    for (const auto& v : net.validators)
      if (v.public_key() == leader) key = &v;
    BlockPtr block = fake->forge(key->secret_key(), slot, empty, clock.now_ms()).value();
    REQUIRE(fake->apply(block).ok());
    fake_chain.push_back(block);
  }
  const std::uint64_t fake_height = fake->height();
  REQUIRE(fake_height > honest[0]->rpc().info()->height + 4);

  // A fresh node meets the attacker first and takes its chain: it is longer, and the node has
  // nothing better.
  NodeProcess fresh(net, "fresh", {});
  {
    test::RawPeer attacker(fresh.p2p_port());
    p2p::Hello hello;
    hello.chain_id = net.genesis.params.chain_id;
    hello.genesis_hash = net.genesis.hash();
    hello.node_id.bytes[0] = 0x66;
    hello.best_height = fake_height;
    hello.best_hash = fake->tip_hash();
    attacker.send(hello);
    while (fresh.rpc().info()->tip != fake->tip_hash()) {
      std::optional<p2p::GetBlocks> asked;
      REQUIRE(attacker.receive(
          [&](const p2p::Message& m) {
            if (const auto* g = std::get_if<p2p::GetBlocks>(&m)) asked = *g;
            return asked.has_value();
          },
          20, net.genesis.params.chain_id));
      std::uint64_t from = 1;
      for (const Hash& h : asked->locator) {
        auto at = std::find_if(fake_chain.begin(), fake_chain.end(),
                               [&](const BlockPtr& b) { return b->hash() == h; });
        if (at != fake_chain.end()) {
          from = (*at)->height() + 1;
          break;
        }
      }
      p2p::Blocks answer;
      for (std::uint64_t h = from; h < fake_chain.size() && answer.blocks.size() < 400; ++h)
        answer.blocks.push_back(fake_chain[h]);
      attacker.send(answer);
      REQUIRE(eventually(
          [&] { return fresh.rpc().info()->height >= from - 1 + answer.blocks.size(); }));
    }
  }
  REQUIRE(fresh.rpc().info()->height == fake_height);

  // Then it meets an honest node. The honest chain is shorter but justified: fork choice takes
  // it, and the node finalizes what the honest nodes finalize.
  fresh.stop();
  fresh.set_args({"--peer", honest[0]->p2p_address()});
  fresh.start();
  if (!eventually([&] { return fresh.rpc().info()->finalized_height >= 6; }, 60))
    FAIL(fresh.log() << "\n---- v0:\n" << honest[0]->log());
  auto info = fresh.rpc().info();
  INFO("the fresh node moved at height " << info->height << "; the private chain has "
                                         << fake_height);
  CHECK(info->height < fake_height);  // it moved to a shorter chain, for its votes
  auto mine = fresh.rpc().block(info->finalized_height);
  auto theirs = honest[0]->rpc().block(info->finalized_height);
  REQUIRE(mine.ok());
  REQUIRE(theirs.ok());
  CHECK((*mine)->hash() == (*theirs)->hash());
  for (auto& n : honest) CHECK(n->rpc().get("/health")->status == 200);
}
