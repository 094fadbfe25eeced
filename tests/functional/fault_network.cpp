#include "fault_network.h"

#include <netinet/in.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace pos::functional {

// ---- Link ----------------------------------------------------------------------------------

Link::Link(std::uint16_t target_port) : target_(target_port) {
  REQUIRE(pipe(wake_) == 0);
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  port_ = bind_loopback(listen_fd_);
  REQUIRE(listen(listen_fd_, 16) == 0);
  thread_ = std::thread([this] { run(); });
}

void Link::cut() {
  cut_ = true;
  std::lock_guard lock(mutex_);
  // shutdown() wakes the relay threads blocked in read() or send(); they close and exit.
  for (const auto& p : pairs_) {
    ::shutdown(p->in, SHUT_RDWR);
    ::shutdown(p->out, SHUT_RDWR);
  }
}

void Link::heal() {
  cut_ = false;
}

namespace {

int connect_loopback(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Copies `from` to `to` until either end closes; then shuts both down so that the thread of the
// other direction ends too. One thread per direction: a relay that waits on one direction while
// the other fills up would deadlock two nodes that both send.
void relay(int from, int to) {
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = read(from, buffer, sizeof buffer);
    if (n <= 0) break;
    ssize_t sent = 0;
    while (sent < n) {
      ssize_t w = send(to, buffer + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
      if (w <= 0) break;
      sent += w;
    }
    if (sent < n) break;
  }
  ::shutdown(from, SHUT_RDWR);
  ::shutdown(to, SHUT_RDWR);
}

}  // namespace

void Link::run() {
  while (!stop_) {
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (poll(fds.data(), fds.size(), 200) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      (void)!read(wake_[0], drain, sizeof drain);
    }
    if (!(fds[1].revents & POLLIN)) continue;
    int in = accept(listen_fd_, nullptr, nullptr);
    if (in < 0) continue;
    int out = cut_ ? -1 : connect_loopback(target_);
    if (out < 0) {
      close(in);
      continue;
    }
    auto pair = std::make_unique<Pair>();
    pair->in = in;
    pair->out = out;
    pair->up = std::thread(relay, in, out);
    pair->down = std::thread(relay, out, in);
    std::lock_guard lock(mutex_);
    pairs_.push_back(std::move(pair));
  }
}

Link::~Link() {
  stop_ = true;
  (void)!write(wake_[1], "x", 1);
  thread_.join();
  cut();
  for (auto& p : pairs_) {
    p->up.join();
    p->down.join();
    close(p->in);
    close(p->out);
  }
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

// ---- Verdicts ------------------------------------------------------------------------------

void Verdicts::check(bool ok, const std::string& invariant, const std::string& detail) {
  (ok ? held : broken).push_back(invariant + (detail.empty() ? "" : ": " + detail));
}

// ---- FaultNetwork --------------------------------------------------------------------------

FaultNetwork::FaultNetwork(std::size_t nodes, std::size_t users, std::uint64_t slot_ms,
                           std::uint64_t epoch_slots)
    : net_(slot_ms, nodes, users, epoch_slots), stayed_up_(nodes, true), down_(nodes, false) {
  // Faults here outlast the weak-subjectivity period of these short epochs (5 epochs of a few
  // seconds) by design: a node cut off that long would rightly refuse its peers for want of a
  // checkpoint (node_test covers that), which is not what these tests are about.
  net_.node_args = {"--sync-without-checkpoint"};
  // Node i dials every lower-numbered node through its own link, made when that node started.
  for (std::size_t i = 0; i < nodes; ++i) {
    nodes_.push_back(
        std::make_unique<NodeProcess>(net_, "n" + std::to_string(i), peer_args(i, true)));
    for (std::size_t from = i + 1; from < nodes; ++from)
      links_[{from, i}] = std::make_unique<Link>(nodes_[i]->p2p_port());
  }
  REQUIRE(eventually(
      [&] {
        for (auto& n : nodes_) {
          auto info = n->rpc().info();
          if (!info.ok() || info->peers + 1 < nodes_.size()) return false;
        }
        return true;
      },
      30));
}

FaultNetwork::~FaultNetwork() {
  stop_load();
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->running()) nodes_[i]->resume();  // a SIGSTOPped process ignores SIGKILL's wait
}

std::vector<std::string> FaultNetwork::peer_args(std::size_t i, bool with_peers) const {
  std::vector<std::string> args = {"--key", net_.key_file(i).string(), "--no-discovery",
                                   "--forge-min-peers", "1"};
  if (!with_peers) return args;
  for (std::size_t to = 0; to < i; ++to) {
    auto it = links_.find({i, to});
    if (it != links_.end()) {
      args.push_back("--peer");
      args.push_back("127.0.0.1:" + std::to_string(it->second->port()));
    }
  }
  return args;
}

bool FaultNetwork::up(std::size_t i) const {
  std::lock_guard lock(mutex_);
  return !down_[i];
}

void FaultNetwork::kill(std::size_t i) {
  {
    std::lock_guard lock(mutex_);
    down_[i] = true;
    stayed_up_[i] = false;
  }
  nodes_[i]->kill();
}

void FaultNetwork::restart(std::size_t i, bool with_peers) {
  nodes_[i]->set_args(peer_args(i, with_peers));
  nodes_[i]->start();
  std::lock_guard lock(mutex_);
  down_[i] = false;
}

void FaultNetwork::pause(std::size_t i) {
  {
    std::lock_guard lock(mutex_);
    down_[i] = true;
    stayed_up_[i] = false;
  }
  nodes_[i]->pause();
}

void FaultNetwork::resume(std::size_t i) {
  nodes_[i]->resume();
  std::lock_guard lock(mutex_);
  down_[i] = false;
}

void FaultNetwork::partition(const std::set<std::size_t>& side) {
  for (auto& [ends, link] : links_)
    if (side.contains(ends.first) != side.contains(ends.second)) link->cut();
}

void FaultNetwork::heal() {
  for (auto& [ends, link] : links_) link->heal();
}

std::uint64_t FaultNetwork::height(std::size_t i) {
  auto info = nodes_[i]->rpc().info();
  return info.ok() ? info->height : 0;
}

bool FaultNetwork::grows(std::size_t i, std::uint64_t blocks, double seconds) {
  std::uint64_t from = height(i);
  return eventually([&] { return height(i) >= from + blocks; }, seconds);
}

std::size_t FaultNetwork::included_count() {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(txs_.begin(), txs_.end(), [](const LoadTx& t) { return t.included; }));
}

void FaultNetwork::start_load() {
  load_running_ = true;
  driver_ = std::thread([this] { drive(); });
  watcher_ = std::thread([this] { watch_finality(); });
}

void FaultNetwork::stop_load() {
  load_running_ = false;
  if (driver_.joinable()) driver_.join();
  if (watcher_.joinable()) watcher_.join();
}

void FaultNetwork::drive() {
  using Clock = std::chrono::steady_clock;
  std::vector<std::unique_ptr<RpcClient>> clients;
  for (auto& n : nodes_) clients.push_back(std::make_unique<RpcClient>(n->url(), 1500));
  struct User {
    std::uint64_t nonce = 0;
    std::optional<std::size_t> in_flight;  // index into txs_
    Clock::time_point offered;
  };
  std::vector<User> users(net_.users.size());
  std::mt19937 rng(7);
  const std::string& chain = net_.genesis.params.chain_id;
  auto any_up = [&]() -> std::optional<std::size_t> {
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (up(i)) live.push_back(i);
    if (live.empty()) return std::nullopt;
    return live[rng() % live.size()];
  };
  while (load_running_) {
    for (std::size_t u = 0; u < users.size() && load_running_; ++u) {
      User& user = users[u];
      auto target = any_up();
      if (!target) break;
      if (!user.in_flight) {
        std::size_t to = (u + 1 + rng() % (users.size() - 1)) % users.size();
        auto tx = net_.users[u].transfer(chain, net_.users[to].public_key(), 1, 1, user.nonce,
                                         SystemClock().now_ms());
        auto verdict = clients[*target]->submit(*tx);
        if (!verdict.ok() &&
            (verdict.reason() == Reason::kIoError || verdict.reason() == Reason::kUnavailable))
          continue;  // the node went down meanwhile: nothing was accepted
        std::lock_guard lock(mutex_);
        txs_.push_back(LoadTx{tx, {}, std::nullopt, false});
        if (verdict.ok()) {
          txs_.back().accepted_by.insert(*target);
          user.in_flight = txs_.size() - 1;
          user.offered = Clock::now();
        } else {
          txs_.back().refused = std::string(reason_code(verdict.reason()));
        }
        continue;
      }
      LoadTx snapshot;
      {
        std::lock_guard lock(mutex_);
        snapshot = txs_[*user.in_flight];
      }
      auto status = clients[*target]->transaction_status(snapshot.tx->id());
      if (status.ok() && status->status == "included") {
        std::lock_guard lock(mutex_);
        txs_[*user.in_flight].included = true;
        user.in_flight.reset();
        ++user.nonce;
      } else if (Clock::now() - user.offered > std::chrono::seconds(4)) {
        // Offered again to another node: the one that took it may have died with it.
        auto verdict = clients[*target]->submit(*snapshot.tx);
        user.offered = Clock::now();
        if (verdict.ok()) {
          std::lock_guard lock(mutex_);
          txs_[*user.in_flight].accepted_by.insert(*target);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void FaultNetwork::watch_finality() {
  std::vector<std::unique_ptr<RpcClient>> clients;
  for (auto& n : nodes_) clients.push_back(std::make_unique<RpcClient>(n->url(), 1500));
  std::vector<std::uint64_t> checked(nodes_.size(), 0);  // next height to read, per node
  while (load_running_) {
    for (std::size_t i = 0; i < nodes_.size() && load_running_; ++i) {
      if (!up(i)) continue;
      auto info = clients[i]->info();
      if (!info.ok()) continue;
      while (checked[i] <= info->finalized_height && load_running_) {
        auto page = clients[i]->get("/blocks?from=" + std::to_string(checked[i]) + "&limit=50");
        if (!page.ok() || page->status != 200) break;
        rapidjson::Document doc;
        doc.Parse(page->body.c_str());
        if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("blocks")) break;
        for (const auto& b : doc["blocks"].GetArray()) {
          if (b["height"].GetUint64() > info->finalized_height) break;
          auto block = Hash::from_hex(b["hash"].GetString());
          if (!block.ok()) break;
          std::lock_guard lock(mutex_);
          for (const auto& t : b["transactions"].GetArray()) {
            auto id = Hash::from_hex(t["id"].GetString());
            if (!id.ok()) continue;
            auto [it, fresh] = final_.try_emplace(*id, *block);
            if (!fresh && it->second != *block)
              finality_violation_ = "transaction " + id->hex() + " final in blocks " +
                                    it->second.hex() + " and " + block->hex();
          }
          checked[i] = b["height"].GetUint64() + 1;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

Verdicts FaultNetwork::settle_and_check(double seconds) {
  Verdicts v;
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (up(i)) live.push_back(i);
  std::vector<LoadTx> txs;
  std::map<Hash, Hash> final_txs;
  std::string violation;
  {
    std::lock_guard lock(mutex_);
    txs = txs_;
    final_txs = final_;
    violation = finality_violation_;
  }
  // Every accepted transaction that a node which stayed up took must reach a block everywhere.
  auto must_include = [&](const LoadTx& t) {
    if (t.refused || t.included) return t.included;
    for (std::size_t n : t.accepted_by)
      if (stayed_up_[n]) return true;
    return false;
  };
  bool converged = eventually(
      [&] {
        std::optional<RpcInfo> first;
        for (std::size_t i : live) {
          auto info = nodes_[i]->rpc().info();
          if (!info.ok()) return false;
          if (!first) first = *info;
          if (info->tip != first->tip) return false;
        }
        for (const auto& t : txs)
          if (must_include(t)) {
            auto s = nodes_[live[0]]->rpc().transaction_status(t.tx->id());
            if (!s.ok() || s->status != "included") return false;
          }
        return true;
      },
      seconds);
  std::vector<RpcInfo> infos;
  for (std::size_t i : live) infos.push_back(nodes_[i]->rpc().info().value());
  std::string tips;
  for (std::size_t k = 0; k < live.size(); ++k)
    tips += " n" + std::to_string(live[k]) + "@" + std::to_string(infos[k].height) + ":" +
            infos[k].tip.hex().substr(0, 8);
  v.check(converged, "the live nodes converge on one tip", tips);
  bool roots = std::all_of(infos.begin(), infos.end(),
                           [&](const RpcInfo& i) { return i.state_root == infos[0].state_root; });
  v.check(roots, "their state roots are equal");

  bool final_kept = violation.empty();
  std::string lost_final = violation;
  for (const auto& [id, block] : final_txs) {
    for (std::size_t i : live) {
      auto s = nodes_[i]->rpc().transaction_status(id);
      if (!s.ok() || s->status != "included" || !s->block || *s->block != block) {
        final_kept = false;
        lost_final = id.hex();
      }
    }
  }
  v.check(final_kept && !final_txs.empty(),
          "no transaction in a final block disappears or moves (" +
              std::to_string(final_txs.size()) + " final transactions)",
          lost_final);

  std::uint64_t minted = 0;
  for (const auto& a : net_.genesis.allocations) minted += a.balance + a.stake;
  std::vector<Address> addresses;
  for (const auto* group : {&net_.validators, &net_.users})
    for (const auto& w : *group) addresses.push_back(w.public_key());
  for (std::size_t i : live) {
    std::uint64_t total = 0;
    bool bounded = true;
    for (const auto& a : addresses) {
      auto acc = nodes_[i]->rpc().account(a).value();
      total += acc.balance + acc.stake + acc.unbonding;
      bounded = bounded && acc.balance <= minted && acc.stake <= minted;
    }
    v.check(total == minted, "n" + std::to_string(i) + ": total supply equals what was minted",
            std::to_string(total) + " vs " + std::to_string(minted));
    v.check(bounded, "n" + std::to_string(i) + ": no account is negative (wrapped)");
  }

  std::size_t owed = 0, missing = 0, refused = 0, lost = 0;
  std::string first_missing;
  for (const auto& t : txs) {
    if (t.refused) ++refused;
    if (!must_include(t)) {
      if (!t.refused && !t.accepted_by.empty() && !t.included) ++lost;
      continue;
    }
    ++owed;
    auto s = nodes_[live[0]]->rpc().transaction_status(t.tx->id());
    if (!s.ok() || s->status != "included") {
      ++missing;
      if (first_missing.empty()) first_missing = t.tx->id().hex();
    }
  }
  v.check(missing == 0 && owed > 0,
          "every transaction a node that stayed up accepted is included (" + std::to_string(owed) +
              " owed, " + std::to_string(refused) + " refused with a reason, " +
              std::to_string(lost) + " taken only by downed nodes and not yet offered again)",
          first_missing);
  if (!v.broken.empty()) {
    // The nodes' logs outlive the test's temporary dir, for the post-mortem.
    auto keep =
        std::filesystem::temp_directory_path() / ("pos-fault-logs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(keep);
    for (auto& n : nodes_) test::write_text(keep / (n->name() + ".log"), n->log());
    v.broken.push_back("the nodes' logs are in " + keep.string());
  }
  return v;
}

}  // namespace pos::functional
