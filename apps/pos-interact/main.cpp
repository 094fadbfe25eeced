// pos-interact: replays the teaching project's demo flow against a node, through its RPC only.
//   pos-interact demo [--node URL] [--keys DIR] [--timeout SECONDS]
// The demo: the exchange authority (validator1) gives alice 100, bob 100 and bob 10; alice stakes
// 25; alice sends bob 1, twice. Each step prints its transaction id and the height that included
// it; at the end the balances and stakes. Exit codes: 0 done, 1 a step refused or timed out,
// 2 bad arguments or key files, 3 node unreachable.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "pos/pos.h"
#include "pos/rpc_client.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: pos-interact demo [--node URL] [--keys DIR] [--timeout SECONDS]\n"
    "  --node URL         the node's API (default http://127.0.0.1:5000)\n"
    "  --keys DIR         where validator1.pem, alice.pem and bob.pem are (default keys)\n"
    "  --timeout SECONDS  how long to wait for each transaction's inclusion (default 60)\n";

[[noreturn]] void fail(int code, const std::string& message) {
  std::fprintf(stderr, "pos-interact: %s\n", message.c_str());
  std::exit(code);
}

std::uint64_t now_ms() {
  return pos::SystemClock().now_ms();
}

struct Demo {
  pos::RpcClient rpc;
  std::string chain_id;
  double timeout_s;

  std::uint64_t next_nonce(const pos::Wallet& w) {
    auto account = rpc.account(w.public_key());
    if (!account.ok()) fail(3, account.error().message);
    return account->nonce;
  }

  // Submits, waits for inclusion, prints the step.
  void step(const std::string& what, const pos::TransactionPtr& tx) {
    auto id = rpc.submit(*tx);
    if (!id.ok()) {
      if (id.reason() == pos::Reason::kIoError) fail(3, id.error().message);
      fail(1, what + ": refused: " + id.error().to_string());
    }
    std::printf("%-36s tx %s ", what.c_str(), id->hex().c_str());
    std::fflush(stdout);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      auto status = rpc.transaction_status(*id);
      if (status.ok() && status->status == "included") {
        std::printf("included at height %llu\n", static_cast<unsigned long long>(*status->height));
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::printf("\n");
    fail(1, what + ": not included within " + std::to_string(static_cast<int>(timeout_s)) + " s");
  }

  void show(const std::string& name, const pos::Wallet& w) {
    auto a = rpc.account(w.public_key());
    if (!a.ok()) fail(3, a.error().message);
    std::printf("  %-11s %s  balance %llu  stake %llu  nonce %llu\n", name.c_str(),
                w.address().substr(0, 16).c_str(), static_cast<unsigned long long>(a->balance),
                static_cast<unsigned long long>(a->stake),
                static_cast<unsigned long long>(a->nonce));
  }
};

pos::Wallet load(const fs::path& dir, const char* name) {
  auto w = pos::Wallet::load(dir / (std::string(name) + ".pem"));
  if (!w.ok()) fail(2, w.error().message);
  return std::move(*w);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "demo") fail(2, "unknown command \"" + args[0] + "\" (see --help)");
  std::string node = "http://127.0.0.1:5000";
  fs::path keys = "keys";
  double timeout_s = 60;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto value = [&]() {
      if (i + 1 >= args.size()) fail(2, args[i] + " needs a value");
      return args[++i];
    };
    if (args[i] == "--node")
      node = value();
    else if (args[i] == "--keys")
      keys = value();
    else if (args[i] == "--timeout") {
      try {
        timeout_s = std::stod(value());
      } catch (...) {
        fail(2, "--timeout needs a number of seconds");
      }
    } else {
      fail(2, "unknown argument \"" + args[i] + "\" (see --help)");
    }
  }
  if (!pos::init().ok()) fail(2, "libsodium failed to start");
  pos::Wallet exchange = load(keys, "validator1");
  pos::Wallet alice = load(keys, "alice");
  pos::Wallet bob = load(keys, "bob");

  Demo demo{pos::RpcClient(node), "", timeout_s};
  auto info = demo.rpc.info();
  if (!info.ok()) fail(3, info.error().message);
  demo.chain_id = info->chain_id;
  std::printf("demo against %s: chain %s, height %llu\n", node.c_str(), info->chain_id.c_str(),
              static_cast<unsigned long long>(info->height));

  const std::string& c = demo.chain_id;
  std::uint64_t n = demo.next_nonce(exchange);
  demo.step("exchange gives alice 100",
            exchange.exchange(c, alice.public_key(), 100, 0, n, now_ms()));
  demo.step("exchange gives bob 100",
            exchange.exchange(c, bob.public_key(), 100, 0, n + 1, now_ms()));
  demo.step("exchange gives bob 10",
            exchange.exchange(c, bob.public_key(), 10, 0, n + 2, now_ms()));
  std::uint64_t a = demo.next_nonce(alice);
  demo.step("alice stakes 25", alice.stake(c, 25, 0, a, now_ms()));
  demo.step("alice sends bob 1", alice.transfer(c, bob.public_key(), 1, 0, a + 1, now_ms()));
  demo.step("alice sends bob 1 again", alice.transfer(c, bob.public_key(), 1, 0, a + 2, now_ms()));

  std::printf("final state:\n");
  demo.show("alice", alice);
  demo.show("bob", bob);
  demo.show("validator1", exchange);
  return 0;
}
