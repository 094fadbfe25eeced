// pos-wallet: keys, signing and sending, through a node's RPC only.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
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

constexpr const char* kUsage = R"(usage: pos-wallet [--node URL] [--json] COMMAND ...

  keygen --out FILE [--encrypt]             a new Ed25519 key (PKCS#8 PEM, mode 0600);
                                            --encrypt: Argon2id + XChaCha20-Poly1305, with a
                                            passphrase from the terminal or POS_PASSPHRASE
  address --key FILE                        the key's address
  account ADDRESS                           balance, stake, nonce
  send --key FILE --to ADDRESS --amount N   a TRANSFER
  stake --key FILE --amount N               a STAKE
  unstake --key FILE --amount N             an UNSTAKE
  exchange --key FILE --to ADDRESS --amount N   an EXCHANGE (the exchange authority mints)
      these four also take [--fee N] [--nonce N] [--wait [included|final]]; the nonce
      comes from the node
  sign COMMAND ...                          any of the four, offline: prints the signed JSON;
                                            needs --nonce and --chain-id ID (or --genesis FILE)
  submit FILE [--wait [included|final]]     sends a signed transaction JSON file
  verify FILE (--chain-id ID | --genesis FILE)   checks a signed transaction JSON file
  status TXID                               pending, included (with height) or unknown

  --node URL      the node's API (default http://127.0.0.1:5000)
  --json          machine-readable output
  --wait [MODE]   wait until the transaction is "included" in a block (bare --wait) or
                  "final": included, and that block finalized by the validators' votes
  --timeout S     how long --wait waits (default 60)

exit codes: 0 done, 1 refused by the node, 2 bad arguments, 3 node unreachable,
            4 bad key file, 5 not included (or not final) in time
)";

enum Exit { kOk = 0, kRefused = 1, kBadArgs = 2, kUnreachable = 3, kBadKey = 4, kTimeout = 5 };

bool g_json = false;

[[noreturn]] void fail(Exit code, const std::string& message) {
  if (g_json) {
    std::string escaped;
    for (char c : message)
      escaped += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    fmt::print("{{\"error\":{{\"exit\":{},\"message\":\"{}\"}}}}\n", static_cast<int>(code),
               escaped);
  }
  pos::apps::fail("pos-wallet", code, message);
}

[[noreturn]] void fail_from(const pos::Error& e) {
  if (e.reason == pos::Reason::kIoError && e.message.rfind("node unreachable", 0) == 0)
    fail(kUnreachable, e.message);
  fail(kRefused, fmt::format("refused: {}", e));
}

struct Args {
  std::vector<std::string> words;
  std::map<std::string, std::string> options;
  std::map<std::string, bool> flags;
  // --wait's mode: "included" (bare --wait) or "final"; empty without --wait.
  std::string wait_mode;
  // The index in words of the argument right after a bare --wait that was not a mode: it may
  // be submit's FILE, or a misspelt mode (see check_wait_word).
  std::optional<std::size_t> word_after_wait;

  std::optional<std::string> get(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
  std::string need(const std::string& name) const {
    auto v = get(name);
    if (!v) fail(kBadArgs, "--" + name + " is required");
    return *v;
  }
  std::uint64_t number(const std::string& name, std::optional<std::uint64_t> fallback = {}) const {
    auto v = get(name);
    if (!v) {
      if (fallback) return *fallback;
      fail(kBadArgs, "--" + name + " is required");
    }
    if (v->empty() || v->find_first_not_of("0123456789") != std::string::npos || v->size() > 20)
      fail(kBadArgs, "--" + name + " must be a whole number, got \"" + *v + "\"");
    try {
      return std::stoull(*v);
    } catch (...) {
      fail(kBadArgs, "--" + name + " is over 2^64-1");
    }
  }
};

Args parse(int argc, char** argv) {
  static const std::vector<std::string> kValued = {
      "node", "key", "to", "amount", "fee", "nonce", "out", "chain-id", "genesis", "timeout"};
  static const std::vector<std::string> kFlags = {"json", "help", "encrypt"};
  auto bad_mode = [](const std::string& mode) {
    fail(kBadArgs, "--wait takes included or final, got \"" + mode + "\"");
  };
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      if (name == "wait") {
        // --wait, --wait included, --wait final (and --wait=MODE).
        a.wait_mode = "included";
        if (i + 1 < argc) {
          std::string next = argv[i + 1];
          if (next == "included" || next == "final") {
            a.wait_mode = next;
            ++i;
          } else if (next.rfind("-", 0) != 0) {
            a.word_after_wait = a.words.size();
          }
        }
      } else if (name.rfind("wait=", 0) == 0) {
        std::string mode = name.substr(5);
        if (mode != "included" && mode != "final") bad_mode(mode);
        a.wait_mode = mode;
      } else if (std::find(kFlags.begin(), kFlags.end(), name) != kFlags.end()) {
        a.flags[name] = true;
      } else if (std::find(kValued.begin(), kValued.end(), name) != kValued.end()) {
        if (i + 1 >= argc) fail(kBadArgs, arg + " needs a value");
        a.options[name] = argv[++i];
      } else {
        fail(kBadArgs, "unknown option " + arg + " (see --help)");
      }
    } else {
      a.words.push_back(arg);
    }
  }
  return a;
}

pos::Wallet load_key(const Args& a) {
  auto w = pos::Wallet::load(a.need("key"),
                             [] { return pos::apps::read_passphrase("passphrase of the key: "); });
  if (!w.ok()) fail(kBadKey, w.error().message);
  if (auto private_only = pos::check_private_key_mode(a.need("key")); !private_only.ok())
    fail(kBadKey, private_only.error().message);
  return std::move(*w);
}

pos::Address address_of(const std::string& text, const char* what) {
  auto address = pos::Address::from_hex(text);
  if (!address.ok())
    fail(kBadArgs, std::string(what) + " is not an address: " + address.error().message);
  return *address;
}

std::string chain_id_offline(const Args& a) {
  if (auto id = a.get("chain-id")) return *id;
  if (auto g = a.get("genesis")) {
    auto genesis = pos::Genesis::load(*g);
    if (!genesis.ok()) fail(kBadArgs, genesis.error().message);
    return genesis->params.chain_id;
  }
  fail(kBadArgs, "offline, the chain needs --chain-id ID or --genesis FILE");
}

std::uint64_t now_ms() {
  return pos::SystemClock().now_ms();
}

// Builds and signs the transaction of a send/stake/unstake/exchange command.
pos::TransactionPtr build(const std::string& kind, const Args& a, const std::string& chain_id,
                          std::uint64_t nonce) {
  pos::Wallet w = load_key(a);
  std::uint64_t amount = a.number("amount");
  std::uint64_t fee = a.number("fee", 0);
  if (kind == "send")
    return w.transfer(chain_id, address_of(a.need("to"), "--to"), amount, fee, nonce, now_ms());
  if (kind == "stake") return w.stake(chain_id, amount, fee, nonce, now_ms());
  if (kind == "unstake") return w.unstake(chain_id, amount, fee, nonce, now_ms());
  return w.exchange(chain_id, address_of(a.need("to"), "--to"), amount, fee, nonce, now_ms());
}

bool is_tx_command(const std::string& c) {
  return c == "send" || c == "stake" || c == "unstake" || c == "exchange";
}

// A word after a bare --wait is submit's FILE when the command needs one there; past the
// words the command takes, it was meant as --wait's mode and is not one.
void check_wait_word(const Args& a, std::size_t words_taken) {
  if (a.word_after_wait && *a.word_after_wait >= words_taken && *a.word_after_wait < a.words.size())
    fail(kBadArgs, "--wait takes included or final, got \"" + a.words[*a.word_after_wait] + "\"");
}

void wait_included(pos::RpcClient& rpc, const pos::Hash& id, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = rpc.transaction_status(id);
    if (!s.ok()) fail_from(s.error());
    if (s->status == "included") {
      if (g_json)
        fmt::print("{{\"id\":\"{}\",\"status\":\"included\",\"height\":{},\"block\":\"{}\"}}\n", id,
                   *s->height, *s->block);
      else
        fmt::print("included at height {} in block {}\n", *s->height, *s->block);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  fail(kTimeout,
       fmt::format("transaction {} not included within {} s", id, static_cast<int>(timeout_s)));
}

// Until the transaction is final (FinalityWatch): exit 5 with the heights if it is not within
// the timeout, or "not included" if it never was.
void wait_final(pos::RpcClient& rpc, const pos::Hash& id, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pos::apps::FinalityWatch watch(rpc, id);
  while (std::chrono::steady_clock::now() < deadline) {
    auto final = watch.poll();
    if (!final.ok()) fail_from(final.error());
    if (*final) {
      std::uint64_t height = *watch.included_height();
      if (g_json)
        fmt::print(
            "{{\"id\":\"{}\",\"status\":\"final\",\"height\":{},\"block\":\"{}\","
            "\"finalized_height\":{}}}\n",
            id, height, watch.block(), watch.finalized_height());
      else
        fmt::print("final at height {} in block {}\n", height, watch.block());
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  int seconds = static_cast<int>(timeout_s);
  if (!watch.included_height())
    fail(kTimeout, fmt::format("transaction {} not included within {} s", id, seconds));
  fail(kTimeout,
       fmt::format("transaction {} not final after {} s: finalized height {}, included at {}", id,
                   seconds, watch.finalized_height(), *watch.included_height()));
}

void submit_and_report(pos::RpcClient& rpc, const pos::Transaction& tx, const Args& a) {
  auto id = rpc.submit(tx);
  if (!id.ok()) fail_from(id.error());
  bool wait = !a.wait_mode.empty();
  if (g_json && !wait)
    fmt::print("{{\"id\":\"{}\",\"status\":\"pending\"}}\n", *id);
  else if (!g_json)
    fmt::print("sent {} ({})\n", *id, pos::tx_type_name(tx.type()));
  if (wait) {
    double timeout = static_cast<double>(a.number("timeout", 60));
    if (a.wait_mode == "final")
      wait_final(rpc, *id, timeout);
    else
      wait_included(rpc, *id, timeout);
  }
}

std::string read_file(const std::string& path) {
  auto text = pos::apps::read_text_file(path);
  if (!text.ok()) fail(kBadArgs, text.error().message);
  return *text;
}

// One function per command; each fails (exits) with its code or returns normally.

void keygen(const Args& a) {
  pos::Wallet w = pos::Wallet::generate();
  fs::path out = a.need("out");
  std::optional<std::string> passphrase;
  if (a.flags.count("encrypt")) {
    auto first = pos::apps::read_passphrase("new passphrase: ",
                                            "--encrypt needs a passphrase for the new key");
    if (!first.ok()) fail(kBadArgs, first.error().message);
    if (!std::getenv("POS_PASSPHRASE")) {
      auto again = pos::apps::read_passphrase("the same again: ");
      if (!again.ok() || *again != *first) fail(kBadArgs, "the passphrases differ");
    }
    if (first->empty()) fail(kBadArgs, "an empty passphrase protects nothing");
    passphrase = *first;
  }
  if (auto ok = w.save(out, passphrase); !ok.ok()) fail(kBadArgs, ok.error().message);
  if (g_json)
    fmt::print("{{\"address\":\"{}\",\"file\":\"{}\"}}\n", w.address(), out.string());
  else
    fmt::print("new key in {}\naddress {}\n", out.string(), w.address());
}

void show_address(const Args& a) {
  pos::Wallet w = load_key(a);
  if (g_json)
    fmt::print("{{\"address\":\"{}\"}}\n", w.address());
  else
    fmt::print("{}\n", w.address());
}

void show_account(const Args& a, pos::RpcClient& rpc) {
  if (a.words.size() != 2) fail(kBadArgs, "usage: account ADDRESS");
  auto account = rpc.account(address_of(a.words[1], "ADDRESS"));
  if (!account.ok()) fail_from(account.error());
  if (g_json)
    fmt::print("{{\"address\":\"{}\",\"balance\":{},\"stake\":{},\"nonce\":{}}}\n", a.words[1],
               account->balance, account->stake, account->nonce);
  else
    fmt::print("address {}\nbalance {}\nstake   {}\nnonce   {}\n", a.words[1], account->balance,
               account->stake, account->nonce);
}

// send, stake, unstake, exchange: signed with the key's next nonce (or --nonce) and submitted.
void send_transaction(const std::string& command, const Args& a, pos::RpcClient& rpc) {
  check_wait_word(a, 1);
  auto info = rpc.info();
  if (!info.ok()) fail_from(info.error());
  pos::Wallet w = load_key(a);
  std::uint64_t nonce;
  if (a.get("nonce")) {
    nonce = a.number("nonce");
  } else {
    auto account = rpc.account(w.public_key());
    if (!account.ok()) fail_from(account.error());
    nonce = account->nonce;
  }
  auto tx = build(command, a, info->chain_id, nonce);
  submit_and_report(rpc, *tx, a);
}

void sign_offline(const Args& a) {
  if (a.words.size() != 2 || !is_tx_command(a.words[1]))
    fail(kBadArgs, "usage: sign (send|stake|unstake|exchange) ... --nonce N --chain-id ID");
  auto tx = build(a.words[1], a, chain_id_offline(a), a.number("nonce"));
  fmt::print("{}\n", pos::to_json(*tx, true));
}

void submit_file(const Args& a, pos::RpcClient& rpc) {
  check_wait_word(a, 2);
  if (a.words.size() != 2) fail(kBadArgs, "usage: submit FILE");
  auto info = rpc.info();
  if (!info.ok()) fail_from(info.error());
  auto tx = pos::transaction_from_json(read_file(a.words[1]), info->chain_id);
  if (!tx.ok()) fail(kBadArgs, fmt::format("{}: {}", a.words[1], tx.error()));
  submit_and_report(rpc, **tx, a);
}

void verify_file(const Args& a) {
  if (a.words.size() != 2) fail(kBadArgs, "usage: verify FILE (--chain-id ID | --genesis FILE)");
  auto tx = pos::transaction_from_json(read_file(a.words[1]), chain_id_offline(a));
  if (!tx.ok()) fail(kBadArgs, fmt::format("{}: {}", a.words[1], tx.error()));
  auto ok = (*tx)->check_signature();
  if (!ok.ok()) fail(kRefused, ok.error().to_string());
  if (g_json)
    fmt::print("{{\"id\":\"{}\",\"valid\":true}}\n", (*tx)->id());
  else
    fmt::print("valid signature; id {}\n", (*tx)->id());
}

void show_status(const Args& a, pos::RpcClient& rpc) {
  if (a.words.size() != 2) fail(kBadArgs, "usage: status TXID");
  auto id = pos::Hash::from_hex(a.words[1]);
  if (!id.ok()) fail(kBadArgs, "TXID is not a transaction id: " + id.error().message);
  auto s = rpc.transaction_status(*id);
  if (!s.ok()) fail_from(s.error());
  if (g_json)
    fmt::print("{{\"id\":\"{}\",\"status\":\"{}\"{}}}\n", *id, s->status,
               s->height ? fmt::format(",\"height\":{}", *s->height) : "");
  else if (s->height)
    fmt::print("{}: included at height {}\n", *id, *s->height);
  else
    fmt::print("{}: {}\n", *id, s->status);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  g_json = a.flags.count("json") > 0;
  if (a.flags.count("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (a.words.empty()) {
    std::fputs(kUsage, stderr);
    return kBadArgs;
  }
  if (!pos::init().ok()) fail(kBadArgs, "libsodium failed to start");
  const std::string& command = a.words[0];
  pos::RpcClient rpc(a.get("node").value_or("http://127.0.0.1:5000"));
  if (command == "keygen")
    keygen(a);
  else if (command == "address")
    show_address(a);
  else if (command == "account")
    show_account(a, rpc);
  else if (is_tx_command(command))
    send_transaction(command, a, rpc);
  else if (command == "sign")
    sign_offline(a);
  else if (command == "submit")
    submit_file(a, rpc);
  else if (command == "verify")
    verify_file(a);
  else if (command == "status")
    show_status(a, rpc);
  else
    fail(kBadArgs, "unknown command \"" + command + "\" (see --help)");
  return kOk;
}
