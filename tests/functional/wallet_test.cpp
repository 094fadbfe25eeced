// pos-wallet against a real node: every command, and each error with its exit code.
#include <catch2/catch.hpp>

#include <algorithm>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;

namespace {

struct Run {
  int code;
  std::string out;
  std::string err;
};

// args may start with VAR=value assignments for the program's environment.
Run wallet(const std::string& args) {
  test::TempDir dir;
  auto out = dir.path() / "out";
  auto err = dir.path() / "err";
  std::string env;
  std::string rest = args;
  while (!rest.empty() && rest.find('=') != std::string::npos && rest.find('=') < rest.find(' ') &&
         rest.rfind("--", 0) != 0) {
    env += rest.substr(0, rest.find(' ') + 1);
    rest = rest.substr(rest.find(' ') + 1);
  }
  int code = test::run_command(env + std::string(POS_WALLET_BINARY) + " " + rest + " >" +
                               out.string() + " 2>" + err.string());
  return {code, test::read_text(out), test::read_text(err)};
}

}  // namespace

TEST_CASE("pos-wallet: every command against a node, and every error's exit code",
          "[functional][wallet]") {
  TestNetwork net;
  NodeProcess node(net, "a", {"--key", net.key_file(0).string()});
  NodeProcess b(net, "b", {"--key", net.key_file(1).string(), "--peer", node.p2p_address()});
  NodeProcess c(net, "c", {"--key", net.key_file(2).string(), "--peer", node.p2p_address()});
  std::string n = " --node " + node.url() + " ";
  test::TempDir dir;
  auto user_key = dir.path() / "user.pem";
  REQUIRE(net.users[0].save(user_key).ok());
  std::string user = net.users[0].address();
  std::string to = net.users[1].address();
  std::string authority = net.key_file(0).string();

  SECTION("keys") {
    auto made = wallet("keygen --out " + (dir.path() / "new.pem").string());
    CHECK(made.code == 0);
    auto address = wallet("address --key " + (dir.path() / "new.pem").string());
    CHECK(address.code == 0);
    CHECK(address.out.size() == 65);
    CHECK(wallet("keygen --out " + (dir.path() / "new.pem").string()).code == 2);  // exists
    CHECK(wallet("address --key /nonexistent.pem").code == 4);
    test::write_text(dir.path() / "rsa.pem",
                     "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
    auto bad = wallet("address --key " + (dir.path() / "rsa.pem").string());
    CHECK(bad.code == 4);
    CHECK_THAT(bad.err, Catch::Contains("RSA"));
    std::filesystem::permissions(dir.path() / "new.pem", std::filesystem::perms::others_read,
                                 std::filesystem::perm_options::add);
    auto readable = wallet("address --key " + (dir.path() / "new.pem").string());
    CHECK(readable.code == 4);
    CHECK_THAT(readable.err, Catch::Contains("chmod 600"));
  }
  SECTION("encrypted keys, in pos-wallet and pos-node") {
    auto enc = (dir.path() / "enc.pem").string();
    auto no_passphrase = wallet("keygen --encrypt --out " + enc + " < /dev/null");
    CHECK(no_passphrase.code == 2);
    CHECK_THAT(no_passphrase.err, Catch::Contains("--encrypt needs a passphrase for the new key"));
    CHECK(wallet("POS_PASSPHRASE= keygen --encrypt --out " + enc).code == 2);
    setenv("POS_PASSPHRASE", "s3cret", 1);
    auto made = wallet("keygen --encrypt --out " + enc);
    CHECK(made.code == 0);
    auto address = wallet("address --key " + enc);
    CHECK(address.code == 0);
    CHECK_THAT(test::read_text(enc), Catch::Contains("POS ENCRYPTED PRIVATE KEY"));
    setenv("POS_PASSPHRASE", "wrong", 1);
    auto wrong = wallet("address --key " + enc + " < /dev/null");
    CHECK(wrong.code == 4);
    CHECK_THAT(wrong.err, Catch::Contains("passphrase"));
    unsetenv("POS_PASSPHRASE");
    CHECK(wallet("address --key " + enc + " < /dev/null").code == 4);
    // pos-node loads it too.
    auto node_key = (dir.path() / "node.pem").string();
    REQUIRE(net.validators[0].save(node_key, std::string_view("n0de")).ok());
    setenv("POS_PASSPHRASE", "n0de", 1);
    NodeProcess encrypted(net, "encrypted", {"--key", node_key, "--peer", node.p2p_address()});
    unsetenv("POS_PASSPHRASE");
    CHECK(encrypted.rpc().info()->address == net.validators[0].public_key());
    // Read once, then wiped from the node's environment.
    std::string environ_text =
        test::read_text("/proc/" + std::to_string(encrypted.pid()) + "/environ");
    CHECK(environ_text.find("n0de") == std::string::npos);
    CHECK(environ_text.find("PATH=") != std::string::npos);  // the file was read
  }
  SECTION("account, send, stake, unstake, exchange, status") {
    auto account = wallet(n + "account " + user);
    CHECK(account.code == 0);
    CHECK_THAT(account.out, Catch::Contains("balance 100000"));
    auto json = wallet(n + "--json account " + user);
    CHECK_THAT(json.out, Catch::Contains("\"balance\":100000"));

    auto sent = wallet(n + "send --key " + user_key.string() + " --to " + to +
                       " --amount 5 --fee 1 --wait");
    INFO(sent.out << sent.err);
    CHECK(sent.code == 0);
    CHECK_THAT(sent.out, Catch::Contains("included at height"));
    CHECK(wallet(n + "stake --key " + user_key.string() + " --amount 40 --wait").code == 0);
    CHECK(wallet(n + "unstake --key " + user_key.string() + " --amount 10 --wait").code == 0);
    CHECK(wallet(n + "exchange --key " + authority + " --to " + to + " --amount 7 --wait").code ==
          0);
    auto state = node.rpc().account(net.users[0].public_key());
    CHECK(state->stake == 30);
    CHECK(state->nonce == 3);
    CHECK(node.rpc().account(net.users[1].public_key())->balance == 100'012);

    auto pending =
        wallet(n + "--json send --key " + user_key.string() + " --to " + to + " --amount 1");
    REQUIRE(pending.code == 0);
    std::string id = pending.out.substr(pending.out.find("\"id\":\"") + 6, 64);
    CHECK(eventually(
        [&] { return wallet(n + "status " + id).out.find("included") != std::string::npos; }));

    // Refusals and bad arguments.
    auto mint = wallet(n + "exchange --key " + user_key.string() + " --to " + to + " --amount 7");
    CHECK(mint.code == 1);
    CHECK_THAT(mint.err, Catch::Contains("unauthorized_exchange"));
    auto stale =
        wallet(n + "send --key " + user_key.string() + " --to " + to + " --amount 1 --nonce 0");
    CHECK(stale.code == 1);
    CHECK_THAT(stale.err, Catch::Contains("stale_nonce"));
    CHECK(wallet(n + "send --key " + user_key.string() + " --to nobody --amount 1").code == 2);
    CHECK(wallet(n + "send --key " + user_key.string() + " --to " + to + " --amount -3").code == 2);
    CHECK(wallet(n + "send --key " + user_key.string() + " --to " + to).code == 2);
    CHECK(wallet(n + "account xyz").code == 2);
    CHECK(wallet(n + "status 12").code == 2);
    CHECK(wallet(n + "dance").code == 2);
    CHECK(wallet(n + "account " + user + " --colour red").code == 2);
    CHECK(wallet("").code == 2);
    ClosedPort nobody;
    auto down = wallet("--node " + nobody.url() + " account " + user);
    CHECK(down.code == 3);
    // The whole reason, not httplib's one word.
    CHECK_THAT(down.err, Catch::Contains("node unreachable at " + nobody.url() +
                                         ": could not connect (connection refused, no route"));
  }
  SECTION("--wait final: included, then finalized by the three validators' votes") {
    auto sent =
        wallet(n + "send --key " + user_key.string() + " --to " + to + " --amount 2 --wait final");
    INFO(sent.out << sent.err);
    REQUIRE(sent.code == 0);
    auto at = sent.out.find("final at height ");
    REQUIRE(at != std::string::npos);
    std::uint64_t height = std::stoull(sent.out.substr(at + 16));
    CHECK(height >= 1);
    auto finality = node.rpc().finality();
    REQUIRE(finality.ok());
    CHECK(height <= finality->finalized.height);
    // The block at that height holds it.
    auto id = sent.out.substr(sent.out.find("sent ") + 5, 64);
    auto block = node.rpc().block(height);
    REQUIRE(block.ok());
    bool holds = false;
    for (const auto& tx : (*block)->transactions()) holds = holds || tx->id().hex() == id;
    CHECK(holds);

    // --json, and the explicit form of the old --wait.
    auto json = wallet(n + "--json stake --key " + user_key.string() + " --amount 3 --wait final");
    INFO(json.out << json.err);
    CHECK(json.code == 0);
    CHECK_THAT(json.out, Catch::Contains("\"status\":\"final\""));
    CHECK_THAT(json.out, Catch::Contains("\"finalized_height\":"));
    auto included =
        wallet(n + "unstake --key " + user_key.string() + " --amount 1 --wait included");
    CHECK(included.code == 0);
    CHECK_THAT(included.out, Catch::Contains("included at height"));

    // A bad mode: exit 2, one line, nothing sent.
    for (std::string bad : {" --wait finl", " --wait=soon"}) {
      auto refused =
          wallet(n + "send --key " + user_key.string() + " --to " + to + " --amount 1" + bad);
      INFO(bad << ": " << refused.out << refused.err);
      CHECK(refused.code == 2);
      CHECK(refused.out.empty());
      CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
      CHECK_THAT(refused.err, Catch::Contains("--wait takes included or final"));
    }
    CHECK(node.rpc().account(net.users[0].public_key())->nonce == 3);
  }
  SECTION("sign offline, verify (here and with PyNaCl), submit") {
    std::string chain = " --chain-id " + net.genesis.params.chain_id;
    auto signed_tx = wallet("sign send --key " + user_key.string() + " --to " + to +
                            " --amount 9 --nonce 0" + chain);
    REQUIRE(signed_tx.code == 0);
    auto file = dir.path() / "tx.json";
    test::write_text(file, signed_tx.out);
    CHECK(wallet("verify " + file.string() + chain).code == 0);
    CHECK(wallet("verify " + file.string() + " --genesis " + net.genesis_file.string()).code == 0);
    CHECK(wallet("verify " + file.string() + " --chain-id pos-other").code == 2);  // id differs
    std::string python = "/usr/bin/python3 " + std::string(POS_SOURCE_DIR) +
                         "/tests/functional/verify_signature.py ";
    CHECK(test::run_command(python + file.string() + " " + net.genesis.params.chain_id +
                            " >/dev/null") == 0);
    std::string tampered = signed_tx.out;
    tampered.replace(tampered.find("\"amount\":9"), 10, "\"amount\":8");
    auto bad_file = dir.path() / "bad.json";
    test::write_text(bad_file, tampered);
    CHECK(test::run_command(python + bad_file.string() + " " + net.genesis.params.chain_id +
                            " >/dev/null") != 0);
    CHECK(wallet("verify " + bad_file.string() + chain).code == 2);  // the id no longer matches
    CHECK(wallet("sign send --key " + user_key.string() + " --to " + to + " --amount 9" + chain)
              .code == 2);
    CHECK(wallet("sign send --key " + user_key.string() + " --to " + to + " --amount 9 --nonce 0")
              .code == 2);

    auto submitted = wallet(n + "submit --wait final " + file.string());
    INFO(submitted.out << submitted.err);
    CHECK(submitted.code == 0);
    CHECK_THAT(submitted.out, Catch::Contains("final at height"));
    // Bare --wait before the file still means "included" (the file is not a mode).
    auto again = wallet(n + "submit --wait " + file.string());
    CHECK(again.code == 1);  // already included: the node refuses it
    CHECK(wallet(n + "submit " + file.string() + " --wait soon").code == 2);
    CHECK(wallet(n + "submit " + (dir.path() / "missing.json").string()).code == 2);
  }
}

TEST_CASE("pos-wallet: --wait final times out, naming finality, when the votes cannot finalize",
          "[functional][wallet]") {
  // One validator of three (a third of the stake) forges, but its votes alone justify nothing.
  TestNetwork net(500, 3);
  NodeProcess node(net, "a", {"--key", net.key_file(0).string()});
  test::TempDir dir;
  auto user_key = dir.path() / "user.pem";
  REQUIRE(net.users[0].save(user_key).ok());
  auto late = wallet("--node " + node.url() + " send --key " + user_key.string() + " --to " +
                     net.users[1].address() + " --amount 1 --wait final --timeout 10");
  INFO(late.out << late.err);
  CHECK(late.code == 5);
  CHECK_THAT(late.err, Catch::Contains("not final after 10 s: finalized height 0, included at "));
  CHECK(node.rpc().finality()->finalized.height == 0);
}

TEST_CASE("every program's --help exits 0 with its usage on stdout; no command exits 2",
          "[functional][cli]") {
  for (const char* program : {POS_NODE_BINARY, POS_WALLET_BINARY, POS_INTERACT_BINARY,
                              POS_SIM_BINARY, POS_BENCH_BINARY}) {
    INFO(program);
    test::TempDir dir;
    auto out = dir.path() / "out";
    auto err = dir.path() / "err";
    CHECK(test::run_command(std::string(program) + " --help >" + out.string() + " 2>" +
                            err.string()) == 0);
    CHECK_THAT(test::read_text(out), Catch::Contains("usage"));
    CHECK(test::read_text(err).empty());
  }
  for (const char* program : {POS_WALLET_BINARY, POS_INTERACT_BINARY, POS_BENCH_BINARY}) {
    INFO(program);
    CHECK(test::run_command(std::string(program) + " >/dev/null 2>&1") == 2);
  }
}
