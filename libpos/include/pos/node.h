// pos::Node: one validator node as `pos-node` runs it: LMDB storage, the chain and pool on the
// peer network's event loop, the slot clock forging with the node's key, and the HTTP RPC.
// main() parses flags into a NodeConfig and calls Node::start; destroying the Node stops it
// gracefully (RPC closed, the block in progress finished, the pool saved, the store closed).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/finality.h"
#include "pos/keys.h"
#include "pos/log.h"
#include "pos/status.h"

namespace pos {

enum class LogFormat { kText, kJson };
// "text" or "json".
std::optional<LogFormat> parse_log_format(std::string_view text);
// One line per event at or above `threshold` on `out` (pos-node: stderr), written whole under a
// lock. Text: "2026-11-24T18:00:00.123Z warn p2p: banned a peer peer=10.0.0.9:7000 reason=...".
// JSON: {"time": "2026-11-24T18:00:00.123Z", "level": "warn", "component": "p2p", "message":
// "banned a peer", "peer": "10.0.0.9:7000", ...}, numbers as numbers (docs/operations.md).
std::shared_ptr<LogSink> stream_log_sink(std::FILE* out, LogLevel threshold, LogFormat format);

struct NodeConfig {
  std::string p2p = "127.0.0.1:7000";        // host:port of the peer listener
  std::string rpc = "127.0.0.1:5000";        // host:port of the HTTP API
  std::optional<std::filesystem::path> key;  // without a key the node never forges
  std::filesystem::path data_dir = "pos-data";
  std::filesystem::path genesis = "keys/genesis.json";
  std::vector<std::string> peers;  // host:port seeds
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  // Dial the addresses peers tell about; off: only `peers` (a fixed topology).
  bool discovery = true;
  // Forge only with at least this many connected peers (ForgingOptions::min_peers).
  std::size_t forge_min_peers = 0;
  // --checkpoint: refuse every chain without this block (docs/consensus.md, "Weak
  // subjectivity").
  std::optional<TrustedBlock> checkpoint;
  // --sync-without-checkpoint: never refuse peers' blocks for an old finalized block (a test or
  // demo network; ConsensusEngine::trust_peers_always).
  bool sync_without_checkpoint = false;
  // Asked for the passphrase when the key file is encrypted (not a config file key).
  PassphraseSource passphrase;

  // The --config file: a JSON object with the keys "p2p", "rpc", "key", "data_dir", "genesis",
  // "peers" (array), "log_level", "log_format", "discovery", "forge_min_peers", "checkpoint",
  // "sync_without_checkpoint". Unknown
  // keys are refused.
  // Keys absent from the file keep their value in `defaults`.
  static Result<NodeConfig> from_json(std::string_view json, NodeConfig defaults);
};

class Node {
 public:
  // Validates everything (genesis, key, both ports) before writing anything to the data dir.
  static Result<std::unique_ptr<Node>> start(const NodeConfig& config,
                                             std::shared_ptr<LogSink> log);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  std::uint16_t p2p_port() const;
  std::uint16_t rpc_port() const;

 private:
  struct Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pos
