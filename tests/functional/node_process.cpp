#include "node_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace pos::functional {

// Ports below Linux's ephemeral range (32768 and up): a port the system hands out to client
// connections could be taken as a local port by one of them and then sit in TIME_WAIT, blocking
// a node's restart on it. Each test process starts at its own offset to avoid the others.
std::uint16_t free_port() {
  static std::uint16_t next = static_cast<std::uint16_t>(20000 + (getpid() % 600) * 20);
  for (int tries = 0; tries < 12000; ++tries) {
    std::uint16_t port = next++;
    if (next >= 32000) next = 20000;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok) return port;
  }
  FAIL("no free port below 32000");
  return 0;
}

TestNetwork::TestNetwork(std::uint64_t slot_ms, std::size_t count, std::size_t user_count,
                         std::uint64_t finality_depth) {
  for (std::size_t i = 0; i < count; ++i)
    validators.emplace_back(test::key_from_index(static_cast<std::uint32_t>(i)));
  for (std::size_t i = 0; i < user_count; ++i)
    users.emplace_back(test::key_from_index(static_cast<std::uint32_t>(2000 + i)));
  genesis.params.chain_id = "pos-functional";
  genesis.params.genesis_time_ms = SystemClock().now_ms() - 10 * slot_ms;
  genesis.params.slot_ms = slot_ms;
  genesis.params.finality_depth = finality_depth;
  genesis.params.unbonding_blocks = 5;
  if (count == 0) return;  // demo(): the genesis comes from keys/
  genesis.params.exchange_authority = validators[0].public_key();
  for (const auto& v : validators) genesis.allocations.push_back({v.public_key(), 1'000'000, 100});
  for (const auto& u : users) genesis.allocations.push_back({u.public_key(), 100'000, 0});
  genesis = Genesis::parse(genesis.to_json()).value();
  genesis_file = dir.path() / "genesis.json";
  test::write_text(genesis_file, genesis.to_json());
  keys_dir = dir.path();
  for (std::size_t i = 0; i < count; ++i) REQUIRE(validators[i].save(key_file(i)).ok());
}

std::unique_ptr<TestNetwork> TestNetwork::demo() {
  auto net = std::make_unique<TestNetwork>(1000, 0);
  net->keys_dir = std::filesystem::path(POS_SOURCE_DIR) / "keys";
  net->genesis_file = net->keys_dir / "genesis.json";
  net->genesis = Genesis::load(net->genesis_file).value();
  return net;
}

std::filesystem::path TestNetwork::key_file(std::size_t i) const {
  return keys_dir / ("validator" + std::to_string(i) + ".pem");
}

std::uint64_t TestNetwork::slot_now() const {
  return genesis.params.slot_at(SystemClock().now_ms());
}

NodeProcess::NodeProcess(const TestNetwork& net, std::string name, std::vector<std::string> extra,
                         std::uint16_t p2p, std::uint16_t rpc)
    : net_(net),
      name_(std::move(name)),
      extra_(std::move(extra)),
      p2p_(p2p ? p2p : free_port()),
      rpc_(rpc ? rpc : free_port()),
      data_dir_(net.dir.path() / ("data-" + name_)),
      log_file_(net.dir.path() / (name_ + ".log")) {
  start();
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) kill();
}

void NodeProcess::start() {
  std::vector<std::string> args = {POS_NODE_BINARY,
                                   "--p2p",
                                   p2p_address(),
                                   "--rpc",
                                   "127.0.0.1:" + std::to_string(rpc_),
                                   "--genesis",
                                   net_.genesis_file.string(),
                                   "--data-dir",
                                   data_dir_.string(),
                                   "--log-level",
                                   "debug"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    int fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  client_ = std::make_unique<RpcClient>(url(), 2000);
  bool up = eventually([&] {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    auto r = client_->get("/health");
    return r.ok() && r->status == 200;
  });
  INFO(name_ << " log:\n" << log());
  REQUIRE(up);
  REQUIRE(pid_ > 0);
}

void NodeProcess::stop() {
  REQUIRE(pid_ > 0);
  client_.reset();  // our keep-alive connection would hold the port in FIN_WAIT2
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  INFO(name_ << " log:\n" << log());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

void NodeProcess::kill() {
  client_.reset();
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void NodeProcess::pause() {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGSTOP);
}

void NodeProcess::resume() {
  REQUIRE(pid_ > 0);
  ::kill(pid_, SIGCONT);
}

std::string NodeProcess::log() const {
  return test::read_text(log_file_);
}

std::pair<int, std::string> run_pos_node(const std::vector<std::string>& args) {
  test::TempDir dir;
  auto err = dir.path() / "stderr";
  std::string command = std::string(POS_NODE_BINARY);
  for (const auto& a : args) command += " '" + a + "'";
  command += " 2>" + err.string() + " >/dev/null";
  int code = test::run_command("cd " + dir.path().string() + " && " + command);
  return {code, test::read_text(err)};
}

}  // namespace pos::functional
