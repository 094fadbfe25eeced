// The demo as an integration test: three validators of the demo network, pos-interact demo, a
// fourth node that syncs; the final balances and stakes asserted on all four nodes.
#include <catch2/catch.hpp>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;

namespace {

// The demo network's three validators, connected.
struct DemoValidators {
  std::unique_ptr<TestNetwork> net = TestNetwork::demo();
  NodeProcess v1{*net, "validator1", {"--key", net->key_file(1).string()}};
  NodeProcess v2{
      *net, "validator2", {"--key", net->key_file(2).string(), "--peer", v1.p2p_address()}};
  NodeProcess v3{
      *net, "validator3", {"--key", net->key_file(3).string(), "--peer", v1.p2p_address()}};
  DemoValidators() {
    REQUIRE(eventually([&] { return v1.rpc().info()->peers == 2; }));
  }
};

}  // namespace

TEST_CASE("the demo: pos-interact replays the teaching flow; four nodes agree on the result",
          "[functional][demo]") {
  DemoValidators demo;
  auto& [net, v1, v2, v3] = demo;

  test::TempDir out;
  int code = test::run_command(std::string(POS_INTERACT_BINARY) + " demo --node " + v1.url() +
                               " --keys " + net->keys_dir.string() + " --timeout 30 > " +
                               (out.path() / "demo.txt").string() + " 2>&1");
  std::string printed = test::read_text(out.path() / "demo.txt");
  INFO(printed);
  REQUIRE(code == 0);
  CHECK_THAT(printed, Catch::Contains("alice sends bob 1"));
  CHECK_THAT(printed, Catch::Contains("included at height"));

  NodeProcess observer(*net, "observer", {"--peer", v1.p2p_address()});
  std::uint64_t height = v1.rpc().info()->height;
  REQUIRE(eventually([&] { return observer.rpc().info()->height >= height; }, 30));

  auto alice = Wallet::load(net->keys_dir / "alice.pem").value();
  auto bob = Wallet::load(net->keys_dir / "bob.pem").value();
  Hash tip = v1.rpc().info()->tip;
  for (NodeProcess* n : {&v1, &v2, &v3, &observer}) {
    REQUIRE(eventually([&] { return n->rpc().info()->tip == tip; }));
    auto a = n->rpc().account(alice.public_key());
    auto b = n->rpc().account(bob.public_key());
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a->balance == 73);
    CHECK(a->stake == 25);
    CHECK(a->nonce == 3);
    CHECK(b->balance == 112);
    CHECK(b->stake == 0);
  }
}

TEST_CASE("pos-interact: bad arguments, bad keys and an unreachable node have their exit codes",
          "[functional][demo]") {
  auto net = TestNetwork::demo();
  std::string bin = POS_INTERACT_BINARY;
  std::string quiet = " >/dev/null 2>&1";
  CHECK(test::run_command(bin + quiet) == 2);
  CHECK(test::run_command(bin + " dance" + quiet) == 2);
  CHECK(test::run_command(bin + " demo --bogus" + quiet) == 2);
  CHECK(test::run_command(bin + " demo --keys /nonexistent" + quiet) == 2);
  ClosedPort nobody;
  CHECK(test::run_command(bin + " demo --node " + nobody.url() + " --keys " +
                          net->keys_dir.string() + quiet) == 3);
}

TEST_CASE("pos-interact run: scenario files, expectations on all nodes, failures explained",
          "[functional][demo][scenario]") {
  DemoValidators demo;
  auto& [net, v1, v2, v3] = demo;
  test::TempDir dir;
  auto run = [&](const std::string& args) {
    auto out = dir.path() / "out.txt";
    int code = test::run_command(std::string(POS_INTERACT_BINARY) + " run " + args +
                                 " --timeout 30 > " + out.string() + " 2>&1");
    return std::make_pair(code, test::read_text(out));
  };
  std::string examples = std::string(POS_SOURCE_DIR) + "/examples/scenarios/";
  auto staking = run(examples + "stake-unstake.json --node " + v1.url());
  INFO(staking.second);
  CHECK(staking.first == 0);
  CHECK_THAT(staking.second, Catch::Contains("expectation met"));

  std::string keys = std::string(POS_SOURCE_DIR) + "/keys/";
  auto scenario = dir.path() / "all.json";
  test::write_text(scenario, "{\"nodes\": [\"" + v1.url() + "\", \"" + v2.url() + "\", \"" +
                                 v3.url() + "\"], \"keys\": {\"x\": \"" + keys +
                                 "validator1.pem\", \"bob\": \"" + keys +
                                 "bob.pem\"}, \"steps\": ["
                                 "{\"do\": \"exchange\", \"from\": \"x\", \"to\": \"bob\", "
                                 "\"amount\": 4}, {\"do\": \"wait_included\"},"
                                 "{\"do\": \"wait_height\", \"height\": 1},"
                                 "{\"do\": \"expect\", \"min_height\": 1, \"node\": \"all\"}]}");
  auto all = run(scenario.string());
  INFO(all.second);
  CHECK(all.first == 0);
  CHECK_THAT(all.second, Catch::Contains("expectation met on 3 node(s)"));

  auto wrong = dir.path() / "wrong.json";
  test::write_text(wrong, "{\"keys\": {\"bob\": \"" + keys +
                              "bob.pem\"}, \"steps\": ["
                              "{\"do\": \"expect\", \"account\": \"bob\", \"balance\": 999999}]}");
  auto failed = run(wrong.string() + " --node " + v1.url());
  CHECK(failed.first == 1);
  CHECK_THAT(failed.second, Catch::Contains("expected 999999"));

  auto bad = dir.path() / "bad.json";
  test::write_text(bad, "{\"steps\": [{\"do\": \"dance\"}]}");
  CHECK(run(bad.string() + " --node " + v1.url()).first == 2);
  test::write_text(bad, "{\"steps\": 5}");
  CHECK(run(bad.string() + " --node " + v1.url()).first == 2);
  test::write_text(bad, "{\"keys\": {\"x\": {\"generate\": false}}, \"steps\": []}");
  auto not_generated = run(bad.string() + " --node " + v1.url());
  CHECK(not_generated.first == 2);
  CHECK_THAT(not_generated.second, Catch::Contains("{\"generate\": true}"));
  CHECK(run("/nonexistent.json").first == 2);
}

TEST_CASE(
    "the teaching project's form (pos-node HOST P2P_PORT RPC_PORT KEY) joins the demo network, "
    "whose genesis is older than the weak-subjectivity period",
    "[functional][demo][checkpoint]") {
  auto net = TestNetwork::demo();
  net->node_args.clear();  // the form itself implies --sync-without-checkpoint
  auto teaching = [&](std::size_t validator) {
    return std::vector<std::string>{"127.0.0.1", "0", "0", net->key_file(validator).string()};
  };
  // Given no peer the form dials port 10001 (the teaching network's initial node), where another
  // test may run one: v1 is given a peer that refuses instead.
  ClosedPort nobody;
  NodeProcess v1(*net, "v1", {"--peer", "127.0.0.1:" + std::to_string(nobody.port())}, 0, 0,
                 teaching(1));
  NodeProcess v2(*net, "v2", {"--peer", v1.p2p_address()}, 0, 0, teaching(2));
  // Each takes the other's blocks: one chain, though each node's finalized block is the
  // months-old genesis and two of three validators cannot finalize.
  REQUIRE(eventually(
      [&] {
        auto a = v1.rpc().info(), b = v2.rpc().info();
        return a.ok() && b.ok() && a->height >= 3 && a->tip == b->tip;
      },
      60));
  CHECK_THAT(v2.rpc().get("/health")->body, Catch::Contains("\"checkpoint_required\":false"));
}
