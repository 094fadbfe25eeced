// pos-node: one validator node. Parses the command line into a NodeConfig, starts the Node,
// waits for SIGINT or SIGTERM, then stops it gracefully. Any bad input: one line, exit code 2.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/cli.h"
#include "../common/passphrase.h"
#include "pos/crypto.h"
#include "pos/node.h"
#include "pos/version.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage = R"(usage: pos-node [options]
       pos-node HOST P2P_PORT RPC_PORT [KEY.pem]     (the teaching project's form)

  The teaching form runs the teaching network (keys/teaching-genesis.json: the genesis key,
  keys/genesisPrivateKey.pem, holds the stake) with the API on 127.0.0.1:RPC_PORT, and implies
  --sync-without-checkpoint. Given no --peer (and no config naming peers), it dials HOST:10001,
  the teaching network's initial node, unless it is that node. Flags may follow it. The flag
  form dials only what it is told (--peer, or peers that those tell about).

  --p2p HOST:PORT       where peers connect (default 127.0.0.1:7000)
  --rpc HOST:PORT       the HTTP API (default 127.0.0.1:5000; loopback unless told otherwise)
  --key FILE            the validator's Ed25519 PEM key; without it the node never forges
                        (an encrypted key asks for its passphrase, or takes POS_PASSPHRASE)
  --data-dir DIR        chain, state and pool (default pos-data/P2P_PORT)
  --genesis FILE        the network's genesis (default keys/genesis.json, the demo network;
                        keys/teaching-genesis.json in the teaching form)
  --peer HOST:PORT      a peer to dial; repeat for more
  --no-discovery        dial only the --peer addresses, never those that peers tell about
  --forge-min-peers N   forge only with at least N connected peers (default 0); 1 keeps a
                        validator cut off from the network from building a branch of its own
  --checkpoint HEIGHT:HASH
                        refuse every chain without this block: a recent finalized block from
                        a source you trust, for a node that has been away longer than the
                        unbonding period or starts on an old network
  --sync-without-checkpoint
                        never refuse peers' blocks for a finalized block older than the
                        unbonding period (a new node on an old network has one): trust the
                        peers' history instead of a checkpoint (a test or demo network only)
  --log-level LEVEL     error, warn, info (default) or debug
  --log-format FORMAT   text (default: time, level, component, message, key=value fields) or
                        json (one JSON object per line), on stderr
  --ports-file FILE     once both listeners are bound, write {"p2p": PORT, "rpc": PORT} to
                        FILE (for scripts that ask for port 0 and need the one chosen)
  --config FILE         a JSON file with the same keys ("p2p", "rpc", "key", "data_dir",
                        "genesis", "peers", "log_level", "log_format", "discovery",
                        "forge_min_peers", "checkpoint", "sync_without_checkpoint");
                        flags win
  --help, --version
)";

[[noreturn]] void fail(const std::string& message) {
  pos::apps::fail("pos-node", 2, message);
}

// keys/ of the working directory first, then the installed copy, then the source tree's.
fs::path default_genesis(bool teaching) {
  const char* local = teaching ? "keys/teaching-genesis.json" : "keys/genesis.json";
  const char* installed = teaching ? POS_DEMO_TEACHING_GENESIS : POS_DEMO_GENESIS;
  const char* source = teaching ? POS_SOURCE_TEACHING_GENESIS : POS_SOURCE_GENESIS;
  for (const char* candidate : {local, installed, source})
    if (fs::exists(candidate)) return candidate;
  return local;
}

// The teaching project's initial node: every other node of its network dials it.
constexpr const char* kTeachingInitialPort = "10001";

std::string read_file(const std::string& path) {
  auto text = pos::apps::read_text_file(path);
  if (!text.ok()) fail("cannot read the config file " + path);
  return *text;
}

struct Options {
  pos::NodeConfig config;
  std::optional<fs::path> ports_file;
};

// Written whole under another name, then renamed: a reader never sees half a file. Returns
// what went wrong, or nothing.
std::optional<std::string> write_ports_file(const fs::path& file, std::uint16_t p2p,
                                            std::uint16_t rpc) {
  fs::path tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "{\"p2p\": " << p2p << ", \"rpc\": " << rpc << "}\n";
    if (!out) return "cannot write the ports file " + tmp.string();
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) return "cannot write the ports file " + file.string() + ": " + ec.message();
  return std::nullopt;
}

Options parse(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Options options;
  pos::NodeConfig& config = options.config;
  // The teaching project's positional form may be followed by flags.
  std::size_t positional = 0;
  while (positional < args.size() && args[positional].rfind("--", 0) != 0) ++positional;
  config.genesis = default_genesis(positional > 0);
  bool data_dir_given = false;

  // --config first, so that flags override it.
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--config") continue;
    if (i + 1 >= args.size()) fail("--config needs a file");
    auto loaded = pos::NodeConfig::from_json(read_file(args[i + 1]), config);
    if (!loaded.ok()) fail(args[i + 1] + ": " + loaded.error().message);
    config = *loaded;
    data_dir_given = read_file(args[i + 1]).find("\"data_dir\"") != std::string::npos;
  }

  if (positional > 0) {
    if (positional < 3 || positional > 4)
      fail("the short form is: HOST P2P_PORT RPC_PORT [KEY.pem]");
    config.p2p = args[0] + ":" + args[1];
    config.rpc = "127.0.0.1:" + args[2];
    if (positional == 4) config.key = args[3];
    config.sync_without_checkpoint = true;
  }
  {
    for (std::size_t i = positional; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= args.size()) fail(a + " needs a value");
        return args[++i];
      };
      if (a == "--help") {
        std::fputs(kUsage, stdout);
        std::exit(0);
      } else if (a == "--version") {
        fmt::print("pos-node {}\n", pos::kVersion);
        std::exit(0);
      } else if (a == "--p2p") {
        config.p2p = value();
      } else if (a == "--rpc") {
        config.rpc = value();
      } else if (a == "--key") {
        config.key = value();
      } else if (a == "--data-dir") {
        config.data_dir = value();
        data_dir_given = true;
      } else if (a == "--genesis") {
        config.genesis = value();
      } else if (a == "--peer") {
        config.peers.push_back(value());
      } else if (a == "--log-level") {
        auto level = pos::parse_log_level(value());
        if (!level) fail("--log-level must be error, warn, info or debug");
        config.log_level = *level;
      } else if (a == "--log-format") {
        auto format = pos::parse_log_format(value());
        if (!format) fail("--log-format must be text or json");
        config.log_format = *format;
      } else if (a == "--ports-file") {
        options.ports_file = value();
      } else if (a == "--allow-empty-blocks") {
        fail(
            "--allow-empty-blocks was removed in protocol v2: a leader forges in every slot it "
            "leads, empty or not");
      } else if (a == "--no-discovery") {
        config.discovery = false;
      } else if (a == "--forge-min-peers") {
        std::string n = value();
        if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos)
          fail("--forge-min-peers needs a whole number up to 1000");
        config.forge_min_peers = std::stoul(n);
        if (config.forge_min_peers > 1000)
          fail("--forge-min-peers needs a whole number up to 1000");
      } else if (a == "--checkpoint") {
        auto block = pos::TrustedBlock::parse(value());
        if (!block.ok()) fail("--checkpoint: " + block.error().message);
        config.checkpoint = *block;
      } else if (a == "--sync-without-checkpoint") {
        config.sync_without_checkpoint = true;
      } else if (a == "--config") {
        ++i;
      } else {
        fail("unknown argument \"" + a + "\" (see --help)");
      }
    }
  }
  // As in the teaching project, where every node dials the initial one.
  if (positional > 0 && config.peers.empty() && args[1] != kTeachingInitialPort)
    config.peers.push_back(args[0] + ":" + kTeachingInitialPort);
  if (!data_dir_given) {
    auto colon = config.p2p.rfind(':');
    config.data_dir = fs::path("pos-data") /
                      (colon == std::string::npos ? config.p2p : config.p2p.substr(colon + 1));
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  pos::NodeConfig& config = options.config;
  config.passphrase = [] { return pos::apps::read_passphrase("passphrase of the node's key: "); };
  if (!pos::init().ok()) fail("libsodium failed to start");
  // SIGINT and SIGTERM are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // A ports file that cannot be written is refused before the node writes anything.
  if (options.ports_file) {
    fs::path probe = *options.ports_file;
    probe += ".tmp";
    if (!std::ofstream(probe)) fail("cannot write the ports file " + options.ports_file->string());
    fs::remove(probe);
  }
  auto node =
      pos::Node::start(config, pos::stream_log_sink(stderr, config.log_level, config.log_format));
  if (!node.ok()) fail(node.error().message);
  if (options.ports_file) {
    auto error = write_ports_file(*options.ports_file, (*node)->p2p_port(), (*node)->rpc_port());
    if (error) {
      node->reset();
      fail(*error);
    }
  }
  int received = 0;
  sigwait(&signals, &received);
  node->reset();
  return 0;
}
