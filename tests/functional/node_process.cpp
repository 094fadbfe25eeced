#include "node_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include <chrono>
#include <thread>

namespace pos::functional {

std::uint16_t bind_loopback(int fd) {
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t size = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0);
  return ntohs(addr.sin_port);
}

ClosedPort::ClosedPort() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  port_ = bind_loopback(fd_);
}

ClosedPort::~ClosedPort() {
  close(fd_);
}

TestNetwork::TestNetwork(std::uint64_t slot_ms, std::size_t count, std::size_t user_count,
                         std::uint64_t epoch_slots) {
  for (std::size_t i = 0; i < count; ++i)
    validators.emplace_back(test::key_from_index(static_cast<std::uint32_t>(i)));
  for (std::size_t i = 0; i < user_count; ++i)
    users.emplace_back(test::key_from_index(static_cast<std::uint32_t>(2000 + i)));
  genesis.params.chain_id = "pos-functional";
  genesis.params.genesis_time_ms = SystemClock().now_ms() - 10 * slot_ms;
  genesis.params.slot_ms = slot_ms;
  genesis.params.unbonding_epochs = 5;
  genesis.params.epoch_slots = epoch_slots;
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
  net->node_args = {"--sync-without-checkpoint"};
  return net;
}

std::filesystem::path TestNetwork::key_file(std::size_t i) const {
  return keys_dir / ("validator" + std::to_string(i) + ".pem");
}

std::uint64_t TestNetwork::slot_now() const {
  return genesis.params.slot_at(SystemClock().now_ms());
}

NodeProcess::NodeProcess(const TestNetwork& net, std::string name, std::vector<std::string> extra,
                         std::uint16_t p2p, std::uint16_t rpc, std::vector<std::string> positional)
    : net_(net),
      name_(std::move(name)),
      extra_(std::move(extra)),
      positional_(std::move(positional)),
      p2p_(p2p),
      rpc_(rpc),
      data_dir_(net.dir.path() / ("data-" + name_)),
      log_file_(net.dir.path() / (name_ + ".log")),
      ports_file_(net.dir.path() / (name_ + ".ports")) {
  start();
}

NodeProcess::~NodeProcess() {
  if (pid_ > 0) kill();
}

void NodeProcess::start() {
  // Port 0 on the first start: the node binds what the system gives and writes it to the ports
  // file; a restart asks for the same ports again, since peers know the node by them.
  std::filesystem::remove(ports_file_);
  std::vector<std::string> args = {POS_NODE_BINARY};
  args.insert(args.end(), positional_.begin(), positional_.end());
  args.insert(args.end(),
              {"--p2p", p2p_address(), "--rpc", "127.0.0.1:" + std::to_string(rpc_), "--ports-file",
               ports_file_.string(), "--genesis", net_.genesis_file.string(), "--data-dir",
               data_dir_.string(), "--log-level", "debug"});
  args.insert(args.end(), net_.node_args.begin(), net_.node_args.end());
  args.insert(args.end(), extra_.begin(), extra_.end());
  pid_ = spawn(std::move(args), log_file_);
  auto exited = [&] {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    pid_ = -1;
    return true;
  };
  bool bound = eventually([&] { return exited() || std::filesystem::exists(ports_file_); });
  INFO(name_ << " log:\n" << log());
  REQUIRE(bound);
  REQUIRE(pid_ > 0);
  rapidjson::Document ports;
  ports.Parse(test::read_text(ports_file_).c_str());
  REQUIRE((!ports.HasParseError() && ports.IsObject() && ports.HasMember("p2p") &&
           ports.HasMember("rpc") && ports["p2p"].IsUint() && ports["rpc"].IsUint()));
  p2p_ = static_cast<std::uint16_t>(ports["p2p"].GetUint());
  rpc_ = static_cast<std::uint16_t>(ports["rpc"].GetUint());
  client_ = std::make_unique<RpcClient>(url(), 2000);
  bool up = eventually([&] {
    if (exited()) return true;
    auto r = client_->get("/health");
    return r.ok() && r->status == 200;
  });
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

pid_t spawn(std::vector<std::string> args, const std::filesystem::path& log,
            const std::filesystem::path& dir) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!dir.empty() && chdir(dir.c_str()) != 0) _exit(127);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::vector<std::unique_ptr<NodeProcess>> start_validators(const TestNetwork& net,
                                                           std::size_t count) {
  std::vector<std::unique_ptr<NodeProcess>> nodes;
  for (std::size_t i = 0; i < count; ++i) {
    std::vector<std::string> args = {"--key", net.key_file(i).string()};
    for (const auto& before : nodes) {
      args.push_back("--peer");
      args.push_back(before->p2p_address());
    }
    nodes.push_back(std::make_unique<NodeProcess>(net, "v" + std::to_string(i), args));
  }
  return nodes;
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
