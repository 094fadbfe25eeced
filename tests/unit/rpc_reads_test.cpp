// The RPC server reads the stored chain and the published status without waiting for the
// node's event loop: with the loop held busy (as a long sync would), GETs still answer.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "peer_test_support.h"
#include "pos/rpc_client.h"
#include "pos/rpc_server.h"

using namespace pos;
using namespace pos::test;

namespace {

// An RPC server on a port the system picks, for `node`, and a client of it.
struct Rpc {
  std::unique_ptr<RpcServer> server;
  std::unique_ptr<RpcClient> client;

  explicit Rpc(PeerNode& node) {
    RpcOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    auto started = RpcServer::start(node, options, RpcIdentity{"test", std::nullopt});
    REQUIRE(started.ok());
    server = std::move(*started);
    client =
        std::make_unique<RpcClient>("http://127.0.0.1:" + std::to_string(server->port()), 5000);
  }
};

// Holds the node's event loop busy, as a long sync would, from construction until release().
class LoopHold {
 public:
  explicit LoopHold(PeerNode& node)
      : released_(release_.get_future().share()), thread_([this, &node] {
          node.inspect([this](const Blockchain&, const TransactionPool&) {
            busy_ = true;
            released_.wait();
          });
        }) {
    REQUIRE(eventually([&] { return busy_.load(); }));
  }
  ~LoopHold() { release(); }
  void release() {
    if (!thread_.joinable()) return;
    release_.set_value();
    thread_.join();
  }

 private:
  std::atomic<bool> busy_{false};
  std::promise<void> release_;
  std::shared_future<void> released_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("RPC reads answer while the event loop is busy; writes wait for it", "[rpc][node]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  BlockPtr block = f.forge(a);
  Rpc rpc(a);
  RpcClient& client = *rpc.client;

  LoopHold hold(a);

  auto info = client.get("/info");
  REQUIRE(info.ok());
  CHECK(info->status == 200);
  CHECK_THAT(info->body, Catch::Contains("\"tip\":\"" + block->hash().hex() + "\""));
  auto by_height = client.get("/blocks/1");
  REQUIRE(by_height.ok());
  CHECK(by_height->status == 200);
  CHECK_THAT(by_height->body, Catch::Contains(block->hash().hex()));
  auto by_hash = client.get("/blocks/" + block->hash().hex());
  REQUIRE(by_hash.ok());
  CHECK(by_hash->status == 200);
  auto page = client.get("/blocks?from=0&limit=5");
  REQUIRE(page.ok());
  CHECK(page->status == 200);
  auto account = client.get("/accounts/" + f.keys.users[0].public_key().hex());
  REQUIRE(account.ok());
  CHECK(account->status == 200);
  CHECK_THAT(account->body, Catch::Contains("\"balance\":1000"));
  auto peers = client.peers();
  REQUIRE(peers.ok());
  CHECK(peers->empty());
  auto stakers = client.get("/stakers");
  REQUIRE(stakers.ok());
  CHECK(stakers->status == 200);
  auto missing = client.get("/blocks/2");
  REQUIRE(missing.ok());
  CHECK(missing->status == 404);

  // A write waits for the loop: it is answered once the loop is free again.
  auto tx = f.keys.users[0].transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1, 0, 1);
  std::future<Status> submitted = std::async(std::launch::async, [&] { return a.submit(tx); });
  CHECK(submitted.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready);
  hold.release();
  CHECK(submitted.get().ok());
  auto status = client.get("/transactions/" + tx->id().hex());
  REQUIRE(status.ok());
  CHECK_THAT(status->body, Catch::Contains("\"status\":\"pending\""));
}

TEST_CASE("RPC reads of the pool answer while the event loop is busy", "[rpc][node][pool]") {
  Fixture f;
  PeerNode& a = f.start(f.config());
  Rpc rpc(a);
  RpcClient& client = *rpc.client;
  const Wallet& alice = f.keys.users[0];
  auto first = alice.transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 1, 1, 0, 1);
  auto waiting = alice.transfer(f.keys.chain_id(), f.keys.users[1].public_key(), 2, 1, 2, 2);
  REQUIRE(a.submit(waiting).ok());  // nonce 2: waits for nonce 1, which nobody sent
  REQUIRE(a.submit(first).ok());

  LoopHold hold(a);

  auto pool = client.get("/transactionPool");
  REQUIRE(pool.ok());
  CHECK(pool->status == 200);
  CHECK_THAT(pool->body, Catch::Contains("\"size\":2"));
  // The executable one first, then the one waiting for an earlier nonce.
  auto at_first = pool->body.find(first->id().hex());
  auto at_waiting = pool->body.find(waiting->id().hex());
  REQUIRE(at_first != std::string::npos);
  REQUIRE(at_waiting != std::string::npos);
  CHECK(at_first < at_waiting);
  auto status = client.get("/transactions/" + first->id().hex());
  REQUIRE(status.ok());
  CHECK_THAT(status->body, Catch::Contains("\"status\":\"pending\""));
  auto history = client.get("/accounts/" + alice.public_key().hex() + "/transactions");
  REQUIRE(history.ok());
  CHECK(history->status == 200);
  CHECK_THAT(history->body, Catch::Contains(waiting->id().hex()));
}
