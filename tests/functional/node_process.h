// Real pos-node processes for the functional tests: free loopback ports, a test genesis with
// short slots, keys on disk, and start / stop / kill of each node.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../unit/test_support.h"
#include "pos/rpc_client.h"

namespace pos::functional {

// Binds fd to a loopback port the system picks, and returns that port.
std::uint16_t bind_loopback(int fd);

// A loopback port held bound but not listening: a connection to it is refused, and no other
// process can take it while this lives. For "nothing answers there" tests.
class ClosedPort {
 public:
  ClosedPort();
  ~ClosedPort();
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A network's files: genesis (slot_ms short, three equal validators, funded users) and keys.
struct TestNetwork {
  explicit TestNetwork(std::uint64_t slot_ms = 500, std::size_t validators = 3,
                       std::size_t users = 4, std::uint64_t epoch_slots = 32);
  // The demo network of keys/: its genesis and validator keys.
  static std::unique_ptr<TestNetwork> demo();
  test::TempDir dir;
  Genesis genesis;
  std::vector<Wallet> validators;
  std::vector<Wallet> users;
  std::filesystem::path genesis_file;
  std::filesystem::path key_file(std::size_t validator) const;
  std::filesystem::path keys_dir;  // where key_file() looks
  std::uint64_t slot_now() const;
  // pos-node arguments of every node of this network: the demo's genesis is older than the
  // weak-subjectivity period, so its nodes sync without a checkpoint.
  std::vector<std::string> node_args;
};

class NodeProcess {
 public:
  // extra: more pos-node arguments (--key, --peer, ...). Ports 0: the node picks them (read back
  // from its --ports-file) on its first start and keeps them on restarts. Waits until /health
  // answers. positional: the teaching project's form (HOST P2P_PORT RPC_PORT [KEY]), put first;
  // the flags that follow still choose the ports and files.
  NodeProcess(const TestNetwork& net, std::string name, std::vector<std::string> extra,
              std::uint16_t p2p = 0, std::uint16_t rpc = 0,
              std::vector<std::string> positional = {});
  ~NodeProcess();

  void start();   // (again) with the same ports and data dir
  void stop();    // SIGTERM, wait for exit 0
  void kill();    // SIGKILL
  void pause();   // SIGSTOP: the process holds its sockets but answers nothing
  void resume();  // SIGCONT
  // The extra arguments of the next start().
  void set_args(std::vector<std::string> extra) { extra_ = std::move(extra); }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  std::string p2p_address() const { return "127.0.0.1:" + std::to_string(p2p_); }
  std::uint16_t p2p_port() const { return p2p_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(rpc_); }
  RpcClient& rpc() { return *client_; }
  std::string log() const;
  const std::filesystem::path& data_dir() const { return data_dir_; }

 private:
  const TestNetwork& net_;
  std::string name_;
  std::vector<std::string> extra_;
  std::vector<std::string> positional_;
  std::uint16_t p2p_;
  std::uint16_t rpc_;
  std::filesystem::path data_dir_;
  std::filesystem::path log_file_;
  std::filesystem::path ports_file_;
  pid_t pid_ = -1;
  std::unique_ptr<RpcClient> client_;
};

// Starts validators 0 .. count-1 of `net` as nodes "v0", "v1", ..., each dialling the ones
// before it.
std::vector<std::unique_ptr<NodeProcess>> start_validators(const TestNetwork& net,
                                                           std::size_t count);

// Starts args[0] with the arguments that follow, its stdout and stderr appended to `log`, in
// `dir` when one is given; returns its pid.
pid_t spawn(std::vector<std::string> args, const std::filesystem::path& log,
            const std::filesystem::path& dir = {});

// Runs the program with arguments; returns its exit code and what it printed on stderr.
std::pair<int, std::string> run_pos_node(const std::vector<std::string>& args);

using test::eventually;

}  // namespace pos::functional
