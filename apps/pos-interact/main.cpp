// pos-interact: replays scripted flows against nodes, through their RPC only.
//   pos-interact demo [--node URL] [--keys DIR] [--timeout SECONDS]
//   pos-interact run SCENARIO.json [--node URL] [--timeout SECONDS]
// `demo` is the teaching project's flow as a built-in scenario (examples/scenarios/demo.json
// is the same one as a file). Exit codes: 0 done, 1 a step refused, timed out or an expectation
// failed, 2 bad arguments, scenario or key files, 3 node unreachable.
#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../common/cli.h"
#include "../common/finality_wait.h"
#include "../common/passphrase.h"
#include "pos/pos.h"
#include "pos/rpc_client.h"
#include "pos_fmt.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: pos-interact demo [--node URL] [--keys DIR] [--timeout SECONDS]\n"
    "       pos-interact run SCENARIO.json [--node URL] [--timeout SECONDS]\n"
    "  --node URL         the node's API (default http://127.0.0.1:5000); a scenario's own\n"
    "                     \"nodes\" list, if any, is used for expectations on \"all\" nodes\n"
    "  --keys DIR         demo: where validator1.pem, alice.pem and bob.pem are (default keys)\n"
    "  --timeout SECONDS  how long a wait may take (default 60)\n"
    "A scenario: {\"keys\": {NAME: PEM path}, \"nodes\": [URL...], \"steps\": [STEP...]}, a STEP\n"
    "one of {\"do\": \"send\"|\"exchange\", \"from\", \"to\", \"amount\", \"fee\"?, \"wait\"?},\n"
    "{\"do\": \"stake\"|\"unstake\", \"from\", \"amount\", \"fee\"?, \"wait\"?} (\"wait\": true\n"
    "or \"included\" waits for inclusion, \"final\" for finality), {\"do\": \"wait_included\"},\n"
    "{\"do\": \"wait_final\"}, {\"do\": \"wait_height\", \"height\"},\n"
    "{\"do\": \"wait_finalized_height\", \"height\"}, {\"do\": \"expect\", \"account\"?, "
    "\"balance\"?,\n"
    "\"stake\"?, \"nonce\"?, \"min_height\"?, \"node\"?: \"all\"|index}; see docs/tools.md.\n";

[[noreturn]] void fail(int code, const std::string& message) {
  pos::apps::fail("pos-interact", code, message);
}

std::string read_file(const fs::path& path) {
  auto text = pos::apps::read_text_file(path);
  if (!text.ok()) fail(2, text.error().message);
  return *text;
}

// The teaching project's flow, with key paths filled in from --keys.
std::string demo_scenario(const fs::path& keys) {
  auto key = [&](const char* name) { return "\"" + (keys / name).string() + "\""; };
  return "{\"keys\": {\"exchange\": " + key("validator1.pem") + ", \"alice\": " + key("alice.pem") +
         ", \"bob\": " + key("bob.pem") +
         "},\n\"steps\": [\n"
         "{\"do\": \"exchange\", \"from\": \"exchange\", \"to\": \"alice\", \"amount\": 100, "
         "\"wait\": true},\n"
         "{\"do\": \"exchange\", \"from\": \"exchange\", \"to\": \"bob\", \"amount\": 100, "
         "\"wait\": true},\n"
         "{\"do\": \"exchange\", \"from\": \"exchange\", \"to\": \"bob\", \"amount\": 10, "
         "\"wait\": true},\n"
         "{\"do\": \"stake\", \"from\": \"alice\", \"amount\": 25, \"wait\": true},\n"
         "{\"do\": \"send\", \"from\": \"alice\", \"to\": \"bob\", \"amount\": 1, \"wait\": "
         "true},\n"
         "{\"do\": \"send\", \"from\": \"alice\", \"to\": \"bob\", \"amount\": 1, \"wait\": "
         "true},\n"
         "{\"do\": \"show\"}]}";
}

constexpr const char* kKeysShape =
    "\"keys\" must map names to PEM files or to {\"generate\": true}";

bool is_generate(const rapidjson::Value& v) {
  return v.IsObject() && v.MemberCount() == 1 && v.HasMember("generate") &&
         v["generate"].IsBool() && v["generate"].GetBool();
}

class Runner {
 public:
  Runner(const rapidjson::Document& scenario, const fs::path& base, const std::string& node,
         double timeout_s)
      : timeout_s_(timeout_s) {
    if (!scenario.IsObject() || !scenario.HasMember("steps") || !scenario["steps"].IsArray())
      fail(2, "a scenario is an object with a \"steps\" array");
    urls_.push_back(node);
    if (scenario.HasMember("nodes")) {
      if (!scenario["nodes"].IsArray()) fail(2, "\"nodes\" must be an array of URLs");
      urls_.clear();
      for (const auto& u : scenario["nodes"].GetArray()) {
        if (!u.IsString()) fail(2, "\"nodes\" must be an array of URLs");
        urls_.emplace_back(u.GetString());
      }
      if (urls_.empty()) fail(2, "\"nodes\" is empty");
    }
    for (const auto& u : urls_) clients_.emplace_back(u);
    if (scenario.HasMember("keys")) {
      if (!scenario["keys"].IsObject()) fail(2, kKeysShape);
      for (auto it = scenario["keys"].MemberBegin(); it != scenario["keys"].MemberEnd(); ++it) {
        if (is_generate(it->value)) {
          // A key made for this run: its account starts empty on any network, so a scenario
          // that funds it can run again and expect the same balances.
          auto w = pos::Wallet::generate();
          fmt::print("{}: a new key, address {}\n", it->name.GetString(), w.public_key());
          wallets_.emplace(it->name.GetString(), std::move(w));
          continue;
        }
        if (!it->value.IsString()) fail(2, kKeysShape);
        fs::path path = it->value.GetString();
        if (path.is_relative()) path = base / path;
        auto w = pos::Wallet::load(
            path, [] { return pos::apps::read_passphrase("passphrase of a scenario key: "); });
        if (!w.ok()) fail(2, w.error().message);
        wallets_.emplace(it->name.GetString(), std::move(*w));
      }
    }
    auto info = rpc().info();
    if (!info.ok()) fail(3, info.error().message);
    chain_id_ = info->chain_id;
    fmt::print("against {}: chain {}, height {}\n", urls_[0], chain_id_, info->height);
  }

  void run(const rapidjson::Value& steps) {
    for (rapidjson::SizeType i = 0; i < steps.Size(); ++i) {
      const auto& s = steps[i];
      if (!s.IsObject() || !s.HasMember("do") || !s["do"].IsString())
        fail(2, fmt::format("step {}: needs \"do\"", i + 1));
      step(std::to_string(i + 1), s);
    }
  }

 private:
  pos::RpcClient& rpc() { return clients_[0]; }

  std::uint64_t field(const rapidjson::Value& s, const char* name, const std::string& where,
                      std::optional<std::uint64_t> fallback = {}) {
    if (!s.HasMember(name)) {
      if (fallback) return *fallback;
      fail(2, where + ": needs \"" + name + "\"");
    }
    if (!s[name].IsUint64()) fail(2, where + ": \"" + name + "\" must be a whole number");
    return s[name].GetUint64();
  }
  std::string text(const rapidjson::Value& s, const char* name, const std::string& where) {
    if (!s.HasMember(name) || !s[name].IsString())
      fail(2, where + ": needs \"" + name + "\" as a string");
    return s[name].GetString();
  }
  const pos::Wallet& wallet(const std::string& name, const std::string& where) {
    auto it = wallets_.find(name);
    if (it == wallets_.end()) fail(2, where + ": no key named \"" + name + "\"");
    return it->second;
  }
  pos::Address address(const std::string& name_or_hex, const std::string& where) {
    if (auto it = wallets_.find(name_or_hex); it != wallets_.end()) return it->second.public_key();
    auto a = pos::Address::from_hex(name_or_hex);
    if (!a.ok()) fail(2, where + ": \"" + name_or_hex + "\" is neither a key name nor an address");
    return *a;
  }
  std::uint64_t next_nonce(const pos::Wallet& w) {
    auto it = nonces_.find(w.public_key());
    if (it == nonces_.end()) {
      auto account = rpc().account(w.public_key());
      if (!account.ok()) fail(3, account.error().message);
      it = nonces_.emplace(w.public_key(), account->nonce).first;
    }
    return it->second++;
  }

  void step(const std::string& n, const rapidjson::Value& s) {
    std::string kind = s["do"].GetString();
    std::string where = "step " + n + " (" + kind + ")";
    if (kind == "send" || kind == "exchange" || kind == "stake" || kind == "unstake") {
      const pos::Wallet& from = wallet(text(s, "from", where), where);
      std::uint64_t amount = field(s, "amount", where);
      std::uint64_t fee = field(s, "fee", where, 0);
      std::uint64_t nonce = next_nonce(from);
      std::uint64_t now = pos::SystemClock().now_ms();
      pos::TransactionPtr tx;
      std::string label;
      if (kind == "send" || kind == "exchange") {
        std::string to = text(s, "to", where);
        tx = kind == "send" ? from.transfer(chain_id_, address(to, where), amount, fee, nonce, now)
                            : from.exchange(chain_id_, address(to, where), amount, fee, nonce, now);
        label = fmt::format("{} {} {} {}", text(s, "from", where),
                            kind == "send" ? "sends" : "(exchange) gives", to, amount);
      } else {
        tx = kind == "stake" ? from.stake(chain_id_, amount, fee, nonce, now)
                             : from.unstake(chain_id_, amount, fee, nonce, now);
        label = fmt::format("{} {}s {}", text(s, "from", where), kind, amount);
      }
      std::string wait = wait_mode(s, where);
      auto id = rpc().submit(*tx);
      if (!id.ok()) {
        if (id.reason() == pos::Reason::kIoError) fail(3, id.error().message);
        fail(1, fmt::format("{}: refused: {}", where, id.error()));
      }
      pending_.push_back(*id);
      fmt::print("{:<3} {:<34} tx {}", n, label, *id);
      if (wait == "included")
        fmt::print("  included at height {}", wait_included(*id, where));
      else if (wait == "final")
        fmt::print("  final at height {}", wait_final(*id, where));
      fmt::print("\n");
    } else if (kind == "wait_included") {
      for (const auto& id : pending_) wait_included(id, where);
      fmt::print("{:<3} all {} transactions included\n", n, pending_.size());
    } else if (kind == "wait_final") {
      for (const auto& id : pending_) wait_final(id, where);
      fmt::print("{:<3} all {} transactions final\n", n, pending_.size());
    } else if (kind == "wait_finalized_height") {
      std::uint64_t height = field(s, "height", where);
      wait_for(where, [&] {
        auto finality = rpc().finality();
        if (!finality.ok() && finality.reason() == pos::Reason::kIoError)
          fail(3, finality.error().message);
        return finality.ok() && finality->finalized.height >= height;
      });
      fmt::print("{:<3} finalized height {} reached\n", n, height);
    } else if (kind == "wait_height") {
      std::uint64_t height = field(s, "height", where);
      wait_for(where, [&] {
        auto info = rpc().info();
        return info.ok() && info->height >= height;
      });
      fmt::print("{:<3} height {} reached\n", n, height);
    } else if (kind == "expect") {
      expect(n, s, where);
    } else if (kind == "show") {
      fmt::print("final state:\n");
      for (const auto& [name, w] : wallets_) {
        auto a = rpc().account(w.public_key());
        if (!a.ok()) fail(3, a.error().message);
        fmt::print("  {:<11} {}  balance {}  stake {}  nonce {}", name, w.address().substr(0, 16),
                   a->balance, a->stake, a->nonce);
        if (a->unbonding > 0) fmt::print("  unbonding {}", a->unbonding);
        fmt::print("\n");
      }
    } else {
      fail(2, where + ": unknown step");
    }
  }

  template <class F>
  void wait_for(const std::string& where, F done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    fail(1, fmt::format("{}: not done within {} s", where, static_cast<int>(timeout_s_)));
  }

  std::uint64_t wait_included(const pos::Hash& id, const std::string& where) {
    std::uint64_t height = 0;
    wait_for(where + " waiting for " + id.hex(), [&] {
      auto status = rpc().transaction_status(id);
      if (!status.ok() && status.reason() == pos::Reason::kIoError) fail(3, status.error().message);
      if (status.ok() && status->status == "included") height = *status->height;
      return height > 0;
    });
    return height;
  }

  // A transaction step's "wait": absent or false (none), true or "included", "final".
  std::string wait_mode(const rapidjson::Value& s, const std::string& where) {
    if (!s.HasMember("wait")) return "";
    const auto& w = s["wait"];
    if (w.IsBool()) return w.GetBool() ? "included" : "";
    if (w.IsString()) {
      std::string mode = w.GetString();
      if (mode == "included" || mode == "final") return mode;
    }
    fail(2, where + ": \"wait\" must be true, false, \"included\" or \"final\"");
  }

  // Until the transaction is final (apps/common/finality_wait.h); a timeout names finality.
  std::uint64_t wait_final(const pos::Hash& id, const std::string& where) {
    pos::apps::FinalityWatch watch(rpc(), id);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    while (std::chrono::steady_clock::now() < deadline) {
      auto final = watch.poll();
      if (!final.ok()) {
        if (final.reason() == pos::Reason::kIoError) fail(3, final.error().message);
        fail(1, fmt::format("{}: {}", where, final.error()));
      }
      if (*final) return *watch.included_height();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    int seconds = static_cast<int>(timeout_s_);
    if (!watch.included_height())
      fail(1, fmt::format("{} waiting for {}: not included within {} s", where, id, seconds));
    fail(1, fmt::format("{} waiting for {}: not final after {} s: finalized height {}, "
                        "included at {}",
                        where, id, seconds, watch.finalized_height(), *watch.included_height()));
  }

  void expect(const std::string& n, const rapidjson::Value& s, const std::string& where) {
    std::vector<std::size_t> which;
    if (s.HasMember("node") && s["node"].IsString() &&
        std::string(s["node"].GetString()) == "all") {
      for (std::size_t i = 0; i < clients_.size(); ++i) which.push_back(i);
    } else {
      std::size_t index = static_cast<std::size_t>(field(s, "node", where, 0));
      if (index >= clients_.size()) fail(2, fmt::format("{}: no node {}", where, index));
      which.push_back(index);
    }
    std::vector<std::string> differences;
    for (std::size_t i : which) {
      pos::RpcClient& c = clients_[i];
      if (s.HasMember("min_height")) {
        std::uint64_t want = field(s, "min_height", where);
        auto info = c.info();
        if (!info.ok()) fail(3, info.error().message);
        if (info->height < want)
          differences.push_back(
              fmt::format("{}: height {}, expected at least {}", urls_[i], info->height, want));
      }
      if (s.HasMember("account")) {
        std::string name = text(s, "account", where);
        auto a = c.account(address(name, where));
        if (!a.ok()) fail(3, a.error().message);
        for (auto [key, got] : {std::pair<const char*, std::uint64_t>{"balance", a->balance},
                                {"stake", a->stake},
                                {"nonce", a->nonce},
                                {"unbonding", a->unbonding}}) {
          if (!s.HasMember(key)) continue;
          std::uint64_t want = field(s, key, where);
          if (got != want)
            differences.push_back(
                fmt::format("{}: {} {} is {}, expected {}", urls_[i], name, key, got, want));
        }
      }
    }
    if (!differences.empty()) {
      for (const auto& d : differences) fmt::print(stderr, "pos-interact: {}: {}\n", where, d);
      std::exit(1);
    }
    fmt::print("{:<3} expectation met on {} node(s)\n", n, which.size());
  }

  double timeout_s_;
  std::vector<std::string> urls_;
  std::vector<pos::RpcClient> clients_;
  std::map<std::string, pos::Wallet> wallets_;
  std::map<pos::Address, std::uint64_t> nonces_;
  std::vector<pos::Hash> pending_;
  std::string chain_id_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  if (command != "demo" && command != "run")
    fail(2, "unknown command \"" + command + "\" (see --help)");
  std::size_t first = 1;
  fs::path scenario_file;
  if (command == "run") {
    if (args.size() < 2 || args[1].rfind("--", 0) == 0) fail(2, "usage: run SCENARIO.json");
    scenario_file = args[1];
    first = 2;
  }
  std::string node = "http://127.0.0.1:5000";
  fs::path keys = "keys";
  double timeout_s = 60;
  for (std::size_t i = first; i < args.size(); ++i) {
    auto value = [&]() {
      if (i + 1 >= args.size()) fail(2, args[i] + " needs a value");
      return args[++i];
    };
    if (args[i] == "--node") {
      node = value();
    } else if (args[i] == "--keys" && command == "demo") {
      keys = value();
    } else if (args[i] == "--timeout") {
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
  std::string text = command == "demo" ? demo_scenario(keys) : read_file(scenario_file);
  rapidjson::Document scenario;
  scenario.Parse(text.c_str());
  if (scenario.HasParseError()) fail(2, scenario_file.string() + ": not valid JSON");
  fs::path base = command == "demo" ? fs::current_path() : scenario_file.parent_path();
  Runner runner(scenario, base, node, timeout_s);
  runner.run(scenario["steps"]);
  return 0;
}
