// The teaching project's README, its five steps run word for word with pos-node and
// pos-interact, on the ports it names, from a directory holding keys/ as its users' does:
//   1. python Main.py localhost 10001 5000 keys/genesisPrivateKey.pem   (the initial node)
//   2. python Main.py localhost 10002 5001                               (it connects to 1)
//   3. python Main.py localhost 10003 5002
//   4. python Interaction.py                                             (pos-interact demo)
//   5. python Main.py localhost 10003 5002   (a late node: the README repeats step 3's ports,
//      which pos-node refuses; 10004 5003 is what it meant)
// and checked against what that README promises: the connections, the demo's balances on every
// node, the late node agreeing, the transactions on localhost:5000/blockchain, and finality.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include "node_process.h"

using namespace pos;
using namespace pos::functional;
namespace fs = std::filesystem;

namespace {

bool port_free(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return free;
}

// `pos-node ARGS...` run in `dir` exactly as a user types it, its output in a log beside it;
// stopped with SIGTERM when it goes.
class TeachingNode {
 public:
  TeachingNode(const fs::path& dir, std::vector<std::string> args, std::uint16_t rpc_port)
      : log_(dir / ("node-" + args.at(1) + ".log")),
        rpc_(std::make_unique<RpcClient>("http://127.0.0.1:" + std::to_string(rpc_port), 2000)) {
    args.insert(args.begin(), POS_NODE_BINARY);
    pid_ = spawn(std::move(args), log_, dir);
    bool up = eventually([&] {
      auto r = rpc_->get("/health");
      return exited() || (r.ok() && r->status == 200);
    });
    INFO("log:\n" << test::read_text(log_));
    REQUIRE(up);
    REQUIRE_FALSE(exited());
  }
  ~TeachingNode() {
    rpc_.reset();
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  TeachingNode(const TeachingNode&) = delete;
  TeachingNode& operator=(const TeachingNode&) = delete;
  RpcClient& rpc() { return *rpc_; }

 private:
  bool exited() {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  }
  fs::path log_;
  std::unique_ptr<RpcClient> rpc_;
  pid_t pid_ = -1;
};

// The transactions of the main chain's blocks up to `up_to`, read as the teaching README says,
// from /blockchain on port 5000 (paged: following "next").
std::size_t transactions_on_blockchain(
    RpcClient& rpc, std::uint64_t up_to = std::numeric_limits<std::uint64_t>::max()) {
  std::size_t count = 0;
  for (std::uint64_t from = 0;;) {
    auto page = rpc.get("/blockchain?from=" + std::to_string(from) + "&limit=100");
    REQUIRE(page.ok());
    REQUIRE(page->status == 200);
    rapidjson::Document doc;
    doc.Parse(page->body.c_str());
    REQUIRE((!doc.HasParseError() && doc.IsObject() && doc["blocks"].IsArray()));
    for (const auto& block : doc["blocks"].GetArray())
      if (block["height"].GetUint64() <= up_to) count += block["transactions"].Size();
    if (!doc.HasMember("next") || !doc["next"].IsUint64()) return count;
    from = doc["next"].GetUint64();
  }
}

}  // namespace

TEST_CASE("the teaching project's five steps, word for word, on its ports",
          "[functional][demo][teaching]") {
  for (int port : {10001, 10002, 10003, 10004, 5000, 5001, 5002, 5003}) {
    if (!port_free(static_cast<std::uint16_t>(port))) {
      WARN("skipped: port " << port << " is taken on this machine, and the steps name it");
      return;
    }
  }
  // The user's directory: the repository's keys/ (the keys and the teaching genesis).
  test::TempDir dir;
  fs::create_directory_symlink(fs::path(POS_SOURCE_DIR) / "keys", dir.path() / "keys");

  // Steps 1-3: each later node dials the initial one, as the teaching project's did.
  TeachingNode first(dir.path(), {"localhost", "10001", "5000", "keys/genesisPrivateKey.pem"},
                     5000);
  TeachingNode second(dir.path(), {"localhost", "10002", "5001"}, 5001);
  TeachingNode third(dir.path(), {"localhost", "10003", "5002"}, 5002);
  CHECK(eventually([&] {
    auto a = first.rpc().peers(), b = second.rpc().peers(), c = third.rpc().peers();
    return a.ok() && b.ok() && c.ok() && a->size() == 2 && !b->empty() && !c->empty();
  }));

  // Step 4: Interaction.py's example transactions.
  const fs::path out = dir.path() / "interaction.txt";
  const int code =
      test::run_command("cd " + dir.path().string() + " && " + std::string(POS_INTERACT_BINARY) +
                        " demo > " + out.string() + " 2>&1");
  INFO(test::read_text(out));
  REQUIRE(code == 0);

  // The demo's balances, the same on every node: bob got 100 + 10 and two of alice's 1s; alice
  // staked 25 of her 100.
  std::vector<RpcClient*> nodes = {&first.rpc(), &second.rpc(), &third.rpc()};
  auto alice = Wallet::load(dir.path() / "keys" / "alice.pem").value().public_key();
  auto bob = Wallet::load(dir.path() / "keys" / "bob.pem").value().public_key();
  auto agree = [&] {
    for (RpcClient* node : nodes) {
      auto a = node->account(alice), b = node->account(bob);
      if (!a.ok() || !b.ok() || a->stake != 25 || b->balance != 112 ||
          a->balance != first.rpc().account(alice)->balance)
        return false;
    }
    return true;
  };
  CHECK(eventually(agree));

  // Step 5 as written repeats step 3's ports: refused, exit 2, saying why.
  auto [taken, said] = run_pos_node({"localhost", "10003", "5002"});
  CHECK(taken == 2);
  CHECK_THAT(said, Catch::Contains("10003"));
  // As meant: a late node that has all the previous transactions.
  TeachingNode late(dir.path(), {"localhost", "10004", "5003"}, 5003);
  nodes.push_back(&late.rpc());
  CHECK(eventually(agree, 60));
  CHECK(eventually([&] {
    auto a = first.rpc().info(), d = late.rpc().info();
    return a.ok() && d.ok() && d->height >= a->height - 1 && d->height > 0 &&
           late.rpc().block(d->height - 1).value()->hash() ==
               first.rpc().block(d->height - 1).value()->hash();
  }));

  // localhost:5000/blockchain holds the six transactions of the demo: three EXCHANGEs, a STAKE
  // and two TRANSFERs.
  CHECK(transactions_on_blockchain(first.rpc()) == 6);
  // And they are final: the genesis key holds more than 2/3 of the stake (1,000 of 1,025 once
  // alice stakes), so its votes alone finalize.
  CHECK(eventually([&] {
    auto finality = first.rpc().finality();
    return finality.ok() && finality->finalized.height > 0 &&
           transactions_on_blockchain(first.rpc(), finality->finalized.height) == 6;
  }));
}
