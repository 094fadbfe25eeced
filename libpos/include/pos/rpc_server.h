// The node's HTTP/1.1 JSON API (docs/rpc.md) over a NodeApi. Handlers run on a bounded
// pool of worker threads and reach the chain through the node's event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pos/crypto.h"
#include "pos/log.h"
#include "pos/node_api.h"
#include "pos/status.h"

namespace pos {

struct RpcOptions {
  std::string host = "127.0.0.1";  // loopback only unless told otherwise
  std::uint16_t port = 5000;       // 0: the system picks; see RpcServer::port()
  std::size_t threads = 4;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_batch = 1000;  // transactions in one POST /transactions
  std::size_t max_page = 100;    // blocks or transactions in one page
  std::uint64_t timeout_ms = 10'000;
  // Every request at debug (method, path, status, milliseconds); a handler that could not
  // answer at warn. Nothing by default.
  Logger log;
};

// What /info tells about the node itself.
struct RpcIdentity {
  std::string version;
  std::optional<Address> forger;  // the node's address when it has a key
  // The peer-to-peer protocol version of the node's Hello (p2p::kProtocolVersion), which /info
  // shows when given: the RPC layer does not see the p2p layer, so the node passes it.
  std::optional<std::uint16_t> protocol_version = std::nullopt;
};

class RpcServer {
 public:
  // Binds host:port (refused with kIoError if in use) and serves on its own threads.
  static Result<std::unique_ptr<RpcServer>> start(NodeApi& node, RpcOptions options,
                                                  RpcIdentity identity);
  // Stops accepting, lets running requests finish, joins the threads.
  ~RpcServer();
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  std::uint16_t port() const;

 private:
  struct Impl;
  explicit RpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pos
