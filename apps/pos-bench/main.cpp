// pos-bench: load generator. Funds M accounts, pre-signs N transfers, submits them through the
// batch RPC at a target rate (or as fast as the nodes accept), and measures accepted tx/s,
// committed tx/s (until the last is in a block on every node), submit-to-commit latency,
// submit-to-final latency and finalized tx/s (until the last is finalized on every node).
//   pos-bench local [--nodes K] [options]     starts K pos-node processes on free loopback ports
//   pos-bench run --node URL [--node URL...] --authority KEY.pem [options]
//   pos-bench micro [--block-txs N (10000)] [--quick]   core and storage micro-benchmarks
// options: --accounts M (100) --txs N (2000) --rate R tx/s (0: as fast as accepted)
//          --batch B (200) --out DIR (pos-bench-out) --slot-ms S (local; 500)
// Writes DIR/report.json and DIR/throughput.svg. Exit codes: 0 done, 1 a run that did not
// finish (refusals, or a timeout: commit or finality), 2 bad arguments, 3 node unreachable.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../common/cli.h"
#include "micro.h"
#include "pos/pos.h"
#include "pos/rpc_client.h"
#include "pos_fmt.h"

namespace {

namespace fs = std::filesystem;
using Timer = std::chrono::steady_clock;

[[noreturn]] void fail(int code, const std::string& message) {
  pos::apps::fail("pos-bench", code, message);
}

double since(Timer::time_point t) {
  return std::chrono::duration<double>(Timer::now() - t).count();
}

struct Options {
  std::vector<std::string> nodes;
  std::string authority;
  std::size_t local_nodes = 3;
  std::size_t accounts = 100;
  std::size_t txs = 2000;
  double rate = 0;
  std::size_t batch = 200;
  std::uint64_t slot_ms = 500;
  fs::path out = "pos-bench-out";
  bool same_machine = false;  // the nodes share this machine's cores (local)
};

std::size_t number(const std::string& flag, const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    fail(2, flag + " needs a whole number");
  return std::stoul(text);
}

// ---- a local network of real pos-node processes ----------------------------------------------

// The ports a node started on port 0 wrote to its --ports-file: {"p2p": N, "rpc": M}.
struct Ports {
  std::uint16_t p2p = 0;
  std::uint16_t rpc = 0;
};

std::optional<Ports> read_ports(const fs::path& file) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned p2p = 0, rpc = 0;
  if (std::sscanf(text.c_str(), "{\"p2p\": %u, \"rpc\": %u}", &p2p, &rpc) != 2) return std::nullopt;
  return Ports{static_cast<std::uint16_t>(p2p), static_cast<std::uint16_t>(rpc)};
}

fs::path pos_node_binary() {
  fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
  for (fs::path candidate : {self / "pos-node", self.parent_path() / "pos-node" / "pos-node"})
    if (fs::exists(candidate)) return candidate;
  return "pos-node";  // from PATH
}

// The node processes of `local`, stopped at every exit (fail() included).
std::vector<pid_t> g_children;
void stop_children() {
  for (pid_t p : g_children) kill(p, SIGTERM);
  for (pid_t p : g_children) waitpid(p, nullptr, 0);
  g_children.clear();
}

struct LocalNetwork {
  std::vector<std::string> urls;
  fs::path authority;
};

void start_local(LocalNetwork& net, const Options& o) {
  fs::path dir = o.out / "network";
  fs::remove_all(dir);
  fs::create_directories(dir);
  pos::Genesis genesis;
  genesis.params.chain_id = "pos-bench";
  genesis.params.genesis_time_ms = pos::SystemClock().now_ms();
  genesis.params.slot_ms = o.slot_ms;
  std::vector<fs::path> keys;
  for (std::size_t i = 0; i < o.local_nodes; ++i) {
    pos::Wallet w = pos::Wallet::generate();
    keys.push_back(dir / fmt::format("validator{}.pem", i));
    if (!w.save(keys.back()).ok()) fail(2, "cannot write keys in " + dir.string());
    genesis.allocations.push_back({w.public_key(), i == 0 ? 1'000'000'000'000ULL : 0, 100});
    if (i == 0) genesis.params.exchange_authority = w.public_key();
  }
  genesis = pos::Genesis::parse(genesis.to_json()).value();
  std::ofstream(dir / "genesis.json") << genesis.to_json();
  net.authority = keys[0];
  std::string first_p2p;
  fs::path binary = pos_node_binary();
  for (std::size_t i = 0; i < o.local_nodes; ++i) {
    fs::path ports_file = dir / fmt::format("node{}.ports", i);
    std::vector<std::string> args = {binary.string(),
                                     "--p2p",
                                     "127.0.0.1:0",
                                     "--rpc",
                                     "127.0.0.1:0",
                                     "--ports-file",
                                     ports_file.string(),
                                     "--genesis",
                                     (dir / "genesis.json").string(),
                                     "--data-dir",
                                     (dir / fmt::format("node{}", i)).string(),
                                     "--key",
                                     keys[i].string()};
    if (i > 0) args.insert(args.end(), {"--peer", first_p2p});
    pid_t pid = fork();
    if (pid == 0) {
      std::string log = (dir / fmt::format("node{}.log", i)).string();
      if (!freopen(log.c_str(), "w", stderr)) _exit(127);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      execvp("pos-node", argv.data());
      _exit(127);
    }
    g_children.push_back(pid);
    // Each node's ports before the next starts: the others dial the first one.
    auto start = Timer::now();
    std::optional<Ports> ports;
    while (!(ports = read_ports(ports_file))) {
      if (since(start) > 20 || waitpid(pid, nullptr, WNOHANG) == pid)
        fail(3, fmt::format("the local node {} did not start; logs in {}", i, dir.string()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (i == 0) first_p2p = fmt::format("127.0.0.1:{}", ports->p2p);
    net.urls.push_back(fmt::format("http://127.0.0.1:{}", ports->rpc));
  }
  for (const auto& url : net.urls) {
    pos::RpcClient c(url, 1000);
    auto start = Timer::now();
    while (!c.info().ok()) {
      if (since(start) > 20)
        fail(3, "the local node " + url + " did not start; logs in " + dir.string());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  fmt::print("local network: {} nodes ({} ...), logs in {}\n", net.urls.size(), net.urls[0],
             dir.string());
}

// ---- the run -----------------------------------------------------------------------------------

struct Sample {
  double t;  // seconds since the first submission
  std::size_t committed;
  double latency_p50_ms;
};

// `count` new accounts, funded with EXCHANGE from the authority, in rounds within the pool's
// nonce-gap limit, each waited for.
std::vector<pos::Wallet> fund_accounts(pos::RpcClient& client, const pos::Wallet& authority,
                                       const std::string& chain, std::size_t count) {
  std::vector<pos::Wallet> accounts;
  for (std::size_t i = 0; i < count; ++i) accounts.push_back(pos::Wallet::generate());
  auto authority_account = client.account(authority.public_key());
  if (!authority_account.ok()) fail(3, authority_account.error().message);
  std::uint64_t nonce = authority_account->nonce;
  std::uint64_t now = pos::SystemClock().now_ms();
  const std::size_t round = 50;
  for (std::size_t first = 0; first < count; first += round) {
    std::vector<pos::TransactionPtr> funding;
    for (std::size_t i = first; i < std::min(first + round, count); ++i)
      funding.push_back(
          authority.exchange(chain, accounts[i].public_key(), 1'000'000, 0, nonce + i, now));
    auto r = client.submit_batch(funding);
    if (!r.ok()) fail(3, r.error().message);
    for (const auto& verdict : *r)
      if (!verdict.ok()) fail(1, fmt::format("funding refused: {}", verdict.error()));
    auto funded = Timer::now();
    for (;;) {
      auto status = client.transaction_status(funding.back()->id());
      if (!status.ok()) fail(3, status.error().message);
      if (status->status == "included") break;
      if (since(funded) > 120) fail(1, "funding transactions were not included within 120 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return accounts;
}

// `count` transfers signed ahead, round-robin over the accounts.
std::vector<pos::TransactionPtr> presign_transfers(const std::vector<pos::Wallet>& accounts,
                                                   const std::string& chain, std::size_t count) {
  std::vector<pos::TransactionPtr> txs;
  txs.reserve(count);
  std::uint64_t now = pos::SystemClock().now_ms();
  for (std::size_t i = 0; i < count; ++i) {
    const pos::Wallet& from = accounts[i % accounts.size()];
    txs.push_back(from.transfer(chain, accounts[(i + 1) % accounts.size()].public_key(), 1, 1,
                                i / accounts.size(), now + i));
  }
  return txs;
}

// The plot: committed transactions (blue) and median latency (orange) over time.
void write_plot(const fs::path& file, const std::vector<Sample>& samples, double seconds,
                std::size_t transactions) {
  double w = 640, h = 320, tmax = std::max(1.0, seconds);
  double lmax = 1;
  for (const auto& s : samples) lmax = std::max(lmax, s.latency_p50_ms);
  std::ofstream svg(file);
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h + 40
      << "'><rect width='100%' height='100%' fill='white'/>"
      << "<text x='10' y='20' font-family='sans-serif' font-size='14'>pos-bench: committed "
         "transactions (blue) and median latency (orange, max "
      << static_cast<int>(lmax) << " ms) over " << static_cast<int>(tmax) << " s</text>";
  auto line = [&](const char* colour, auto value, double vmax) {
    svg << "<polyline fill='none' stroke='" << colour << "' stroke-width='2' points='";
    for (const auto& s : samples)
      svg << 10 + (w - 20) * s.t / tmax << "," << 30 + h - (h - 10) * value(s) / vmax << " ";
    svg << "'/>";
  };
  line(
      "#1f77b4", [](const Sample& s) { return static_cast<double>(s.committed); },
      std::max(1.0, static_cast<double>(transactions)));
  line(
      "#ff7f0e", [](const Sample& s) { return s.latency_p50_ms; }, lmax);
  svg << "</svg>\n";
}

// Each node's finalized height over the run, read from GET /info every 50 ms on a thread of its
// own, so that the submission loop's pace does not blur it: the times at which it rose.
class FinalityWatch {
 public:
  FinalityWatch(const std::vector<std::string>& urls, Timer::time_point start)
      : rises_(urls.size()), thread_([this, urls, start](std::stop_token stop) {
          std::vector<pos::RpcClient> clients;
          for (const auto& url : urls) clients.emplace_back(url, 2000);
          while (!stop.stop_requested()) {
            for (std::size_t n = 0; n < clients.size(); ++n) {
              auto info = clients[n].info();
              if (!info.ok()) continue;  // a busy node: the next poll tells
              // Taken after the answer: the height was reached at most this late.
              double t = since(start);
              std::lock_guard lock(mutex_);
              if (rises_[n].empty() || info->finalized_height > rises_[n].back().height)
                rises_[n].push_back({t, info->finalized_height});
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {}

  std::uint64_t finalized(std::size_t node) const {
    std::lock_guard lock(mutex_);
    return rises_[node].empty() ? 0 : rises_[node].back().height;
  }
  // When node `node` was first seen with `height` finalized (seconds from the start).
  std::optional<double> reached(std::size_t node, std::uint64_t height) const {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(rises_[node].begin(), rises_[node].end(),
                           [&](const Rise& r) { return r.height >= height; });
    if (it == rises_[node].end()) return std::nullopt;
    return it->t;
  }

 private:
  struct Rise {
    double t;
    std::uint64_t height;
  };
  mutable std::mutex mutex_;
  std::vector<std::vector<Rise>> rises_;
  std::jthread thread_;  // last: joined before the members it uses go
};

// Until every node has finalized `height`; a run whose transactions do not finalize failed.
void wait_finalized(const FinalityWatch& watch, const std::vector<std::string>& urls,
                    std::uint64_t height, double timeout_s) {
  auto begin = Timer::now();
  for (std::size_t n = 0; n < urls.size(); ++n)
    while (watch.finalized(n) < height) {
      if (since(begin) > timeout_s)
        fail(1, fmt::format("finality: node {} did not finalize height {} (holding submitted "
                            "transactions) within {} s of their commit; its finalized height is {}",
                            urls[n], height, static_cast<int>(timeout_s), watch.finalized(n)));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// `run` has no genesis file. A block's timestamp lies in its slot, [genesis time + slot ×
// slot_ms, + slot_ms), so (timestamp − genesis time) / slot, rounded down, is slot_ms once the
// slot number is at least slot_ms, and a little above it before.
double chain_slot_ms(pos::RpcClient& client, std::uint64_t height) {
  auto genesis = client.block(0);
  auto block = client.block(height);
  if (!genesis.ok() || !block.ok() || (*block)->slot() == 0)
    fail(3, fmt::format("cannot read the slot length from blocks 0 and {}", height));
  return static_cast<double>(((*block)->header().timestamp_ms - (*genesis)->header().timestamp_ms) /
                             (*block)->slot());
}

double percentile(const std::vector<double>& sorted, double p) {
  return sorted.empty()
             ? 0.0
             : sorted[std::min(sorted.size() - 1,
                               static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

// What a load run measured.
struct LoadResult {
  std::size_t transactions = 0, accepted = 0, refused = 0, included = 0;
  double submit_done = 0, commit_done = 0, all_nodes = 0;  // seconds from the first submission
  std::vector<double> latencies_ms;                        // of each committed transaction
  std::vector<Sample> samples;
  double all_final = 0;                    // seconds until every node finalized them all
  std::vector<double> final_latencies_ms;  // submission to finalized on the accepting node
  double slot_ms = 0;
};

// The table on stdout, report.json and throughput.svg in o.out.
void report(const Options& o, LoadResult r, std::size_t nodes, double raw_all_cores) {
  std::vector<double>& lat = r.latencies_ms;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return percentile(lat, p); };
  std::vector<double>& final_lat = r.final_latencies_ms;
  std::sort(final_lat.begin(), final_lat.end());
  double final_p50 = percentile(final_lat, 0.5), final_p99 = percentile(final_lat, 0.99);
  double accepted_rate = static_cast<double>(r.accepted) / std::max(r.submit_done, 1e-9);
  double committed_rate = static_cast<double>(r.included) / std::max(r.all_nodes, 1e-9);
  double finalized_rate = static_cast<double>(r.included) / std::max(r.all_final, 1e-9);
  fmt::print("\n{:<28} {:>12}\n", "figure", "value");
  fmt::print("{:<28} {:12}\n", "transactions", r.transactions);
  fmt::print("{:<28} {:12}\n", "accepted (202)", r.accepted);
  fmt::print("{:<28} {:12}\n", "refused", r.refused);
  fmt::print("{:<28} {:12.0f}\n", "accepted tx/s", accepted_rate);
  fmt::print("{:<28} {:12.0f}\n", "committed tx/s (all nodes)", committed_rate);
  fmt::print("{:<28} {:12.0f}\n", "latency p50 ms", pct(0.5));
  fmt::print("{:<28} {:12.0f}\n", "latency p90 ms", pct(0.9));
  fmt::print("{:<28} {:12.0f}\n", "latency p99 ms", pct(0.99));
  fmt::print("{:<28} {:12.0f}\n", "finalized tx/s (all nodes)", finalized_rate);
  fmt::print("{:<28} {:12.0f}  ({:.2f} slots of {:.0f} ms)\n", "final latency p50 ms", final_p50,
             final_p50 / r.slot_ms, r.slot_ms);
  fmt::print("{:<28} {:12.0f}  ({:.2f} slots)\n", "final latency p99 ms", final_p99,
             final_p99 / r.slot_ms);
  double ceiling = raw_all_cores / static_cast<double>(nodes);
  if (o.same_machine) {
    fmt::print("{:<28} {:12.0f}\n", "raw verify/s, all cores", raw_all_cores);
    fmt::print("{:<28} {:12.3f}  (committed tx/s over raw verify/s on all cores / {} nodes)\n",
               "committed / ceiling", committed_rate / ceiling, nodes);
    fmt::print("{:<28} {:12.3f}  (finalized tx/s, the same way)\n", "finalized / ceiling",
               finalized_rate / ceiling);
  }

  fs::create_directories(o.out);
  std::ofstream json(o.out / "report.json");
  json << "{\"nodes\": " << nodes << ", \"accounts\": " << o.accounts
       << ", \"transactions\": " << r.transactions << ", \"accepted\": " << r.accepted
       << ", \"refused\": " << r.refused << ", \"committed\": " << r.included
       << ", \"accepted_tx_per_s\": " << accepted_rate
       << ", \"committed_tx_per_s\": " << committed_rate
       << ", \"latency_ms\": {\"p50\": " << pct(0.5) << ", \"p90\": " << pct(0.9)
       << ", \"p99\": " << pct(0.99) << "}, \"finalized\": " << r.included
       << ", \"finalized_tx_per_s\": " << finalized_rate << ", \"slot_ms\": " << r.slot_ms
       << ", \"final_latency_ms\": {\"p50\": " << final_p50 << ", \"p99\": " << final_p99
       << "}, \"final_latency_slots\": {\"p50\": " << final_p50 / r.slot_ms
       << ", \"p99\": " << final_p99 / r.slot_ms << "}, \"seconds\": {\"submit\": " << r.submit_done
       << ", \"commit\": " << r.commit_done << ", \"all_nodes\": " << r.all_nodes
       << ", \"all_final\": " << r.all_final << "}";
  if (o.same_machine)
    json << ", \"raw_verify_per_s_all_cores\": " << raw_all_cores
         << ", \"committed_over_ceiling\": " << committed_rate / ceiling
         << ", \"finalized_over_ceiling\": " << finalized_rate / ceiling;
  json << "}\n";
  write_plot(o.out / "throughput.svg", r.samples, r.all_nodes, r.transactions);
  fmt::print("report: {}, plot: {}\n", (o.out / "report.json").string(),
             (o.out / "throughput.svg").string());
}

int run(const Options& o) {
  std::vector<pos::RpcClient> clients;
  for (const auto& url : o.nodes) clients.emplace_back(url, 10'000);
  auto info = clients[0].info();
  if (!info.ok()) fail(3, info.error().message);
  const std::string chain = info->chain_id;
  auto authority = pos::Wallet::load(o.authority);
  if (!authority.ok()) fail(2, authority.error().message);

  std::vector<pos::Wallet> accounts = fund_accounts(clients[0], *authority, chain, o.accounts);
  fmt::print("funded {} accounts\n", o.accounts);
  // The ceiling, measured now in this run: every node checks every signature once, so K nodes
  // on this machine can commit at most (raw verify rate on all cores) / K transactions a second.
  double raw_all_cores = o.same_machine ? pos::bench::raw_verify_rate_all_cores() : 0;
  std::vector<pos::TransactionPtr> txs = presign_transfers(accounts, chain, o.txs);
  std::unordered_map<pos::Hash, std::size_t> index;
  for (std::size_t i = 0; i < txs.size(); ++i) index[txs[i]->id()] = i;

  // 3. Submit at the target rate, in batches, to the nodes in turn, while following blocks.
  std::vector<double> submitted(txs.size(), -1), committed(txs.size(), -1);
  std::vector<std::size_t> accepted_by(txs.size());  // the node whose finality a client waits on
  std::vector<std::uint64_t> block_of(txs.size());   // the height of node 0's block holding it
  std::size_t accepted = 0, refused = 0, included = 0, next = 0, node = 0;
  auto tip_before = clients[0].info();
  if (!tip_before.ok()) fail(3, tip_before.error().message);
  std::uint64_t height = tip_before->height;
  // The last block followed; a block whose parent is not it means node 0 reorganised.
  pos::Hash followed = tip_before->tip;
  bool reorganised = false;
  std::vector<Sample> samples;
  auto start = Timer::now();
  FinalityWatch watch(o.nodes, start);
  auto last_print = start;
  auto last_retry = start;
  double submit_done = 0;
  std::vector<std::size_t> retry;
  auto submit = [&](const std::vector<pos::TransactionPtr>& part,
                    const std::vector<std::size_t>& ids) {
    std::size_t to = node++ % clients.size();
    auto r = clients[to].submit_batch(part);
    if (!r.ok()) fail(3, r.error().message);
    for (std::size_t k = 0; k < r->size(); ++k) {
      if (submitted[ids[k]] < 0) submitted[ids[k]] = since(start);
      if ((*r)[k].ok()) {
        ++accepted;
        accepted_by[ids[k]] = to;
        continue;
      }
      pos::Reason why = (*r)[k].reason();
      if (why == pos::Reason::kNonceGap || why == pos::Reason::kPoolFull ||
          why == pos::Reason::kSenderLimit)
        retry.push_back(ids[k]);
      else
        ++refused;
    }
  };
  while (included < accepted || next < txs.size() || !retry.empty()) {
    double t = since(start);
    if (next < txs.size() && (o.rate <= 0 || static_cast<double>(next) < o.rate * t + 1)) {
      std::size_t end = std::min(next + o.batch, txs.size());
      if (o.rate > 0) end = std::min(end, static_cast<std::size_t>(o.rate * t) + 1);
      end = std::max(end, next + 1);
      std::vector<pos::TransactionPtr> part(txs.begin() + static_cast<long>(next),
                                            txs.begin() + static_cast<long>(end));
      std::vector<std::size_t> ids;
      for (std::size_t k = next; k < end; ++k) ids.push_back(k);
      next = end;
      submit(part, ids);
    } else if (!retry.empty() && since(last_retry) > 0.05) {
      // What the nodes could not take yet (a nonce too far ahead, a full pool), again.
      last_retry = Timer::now();
      std::size_t take = std::min(retry.size(), o.batch);
      std::vector<std::size_t> ids(retry.begin(), retry.begin() + static_cast<long>(take));
      retry.erase(retry.begin(), retry.begin() + static_cast<long>(take));
      std::vector<pos::TransactionPtr> part;
      for (std::size_t k : ids) part.push_back(txs[k]);
      submit(part, ids);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (submit_done == 0 && next == txs.size() && retry.empty()) submit_done = since(start);
    // Follow node 0's new blocks.
    auto tip = clients[0].info();
    if (!tip.ok()) fail(3, tip.error().message);
    while (height < tip->height) {
      auto block = clients[0].block(height + 1);
      if (!block.ok()) break;  // read again on the next turn
      ++height;
      if ((*block)->parent() != followed) reorganised = true;
      followed = (*block)->hash();
      for (const auto& tx : (*block)->transactions()) {
        auto it = index.find(tx->id());
        if (it != index.end() && committed[it->second] < 0) {
          committed[it->second] = since(start);
          block_of[it->second] = height;
          ++included;
        }
      }
    }
    if (since(last_print) >= 1) {
      last_print = Timer::now();
      std::vector<double> lat;
      for (std::size_t i = 0; i < txs.size(); ++i)
        if (committed[i] >= 0) lat.push_back((committed[i] - submitted[i]) * 1000);
      std::sort(lat.begin(), lat.end());
      samples.push_back({since(start), included, lat.empty() ? 0 : lat[lat.size() / 2]});
      fmt::print(stderr, "\r{:6.1f} s  submitted {}/{}  accepted {}  refused {}  committed {}   ",
                 since(start), next, txs.size(), accepted, refused, included);
    }
    if (since(start) > 600) fail(1, "not all accepted transactions were committed within 600 s");
  }
  double commit_done = since(start);
  // Every node must have the last block that carried one of them.
  std::uint64_t final_height = height;
  for (auto& c : clients) {
    auto wait = Timer::now();
    while (c.info()->height < final_height) {
      if (since(wait) > 60) fail(1, fmt::format("a node did not reach height {}", final_height));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  double all_nodes = since(start);
  fmt::print(stderr, "\n");

  // Finality: every node must finalize the blocks followed. If node 0 left them meanwhile (a
  // reorganisation), they are not the ones finalized: ask it where each transaction is now.
  double slot_ms =
      o.same_machine ? static_cast<double>(o.slot_ms) : chain_slot_ms(clients[0], height);
  double final_timeout = std::max(60.0, 20 * slot_ms / 1000);
  wait_finalized(watch, o.nodes, height, final_timeout);
  auto followed_now = clients[0].block(height);
  if (!followed_now.ok()) fail(3, followed_now.error().message);
  if (reorganised || (*followed_now)->hash() != followed) {
    fmt::print("node 0 reorganised the blocks followed; reading each transaction's block\n");
    auto wait = Timer::now();
    for (std::size_t i = 0; i < txs.size(); ++i)
      while (committed[i] >= 0) {
        auto status = clients[0].transaction_status(txs[i]->id());
        if (!status.ok()) fail(3, status.error().message);
        if (status->status == "included") {
          block_of[i] = *status->height;
          break;
        }
        if (since(wait) > final_timeout)
          fail(1, "finality: a transaction committed before a reorganisation is not in a block");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
  }
  std::uint64_t top = *std::max_element(block_of.begin(), block_of.end());
  wait_finalized(watch, o.nodes, top, final_timeout);  // at once unless they moved up
  double all_final = 0;
  if (included > 0)
    for (std::size_t n = 0; n < clients.size(); ++n)
      all_final = std::max(all_final, watch.reached(n, top).value());

  LoadResult result{txs.size(),         accepted,    refused,   included,
                    submit_done,        commit_done, all_nodes, {},
                    std::move(samples), all_final,   {},        slot_ms};
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (committed[i] < 0) continue;
    result.latencies_ms.push_back((committed[i] - submitted[i]) * 1000);
    double final_at = watch.reached(accepted_by[i], block_of[i]).value();
    result.final_latencies_ms.push_back((final_at - submitted[i]) * 1000);
  }
  report(o, result, clients.size(), raw_all_cores);
  return included == accepted && accepted > 0 ? 0 : 1;
}

}  // namespace

constexpr const char* kUsage = R"(usage: pos-bench micro [--block-txs N] [--quick]
       pos-bench local [--nodes K] [options]
       pos-bench run --node URL [--node URL ...] --authority KEY.pem [options]

  micro                 core and storage micro-benchmarks beside libsodium's raw verify rate;
                        --block-txs N: the block validated (default 10000), --quick: small
                        sizes, rough figures
  local                 starts its own network of K real pos-node processes (default 3)
  run                   loads running nodes; KEY.pem is their exchange authority's key

options of local and run:
  --accounts M          funded sender accounts (default 100)
  --txs N               pre-signed transfers (default 2000)
  --rate R              transfers a second (default 0: as fast as they are accepted)
  --batch B             transfers a request (default 200)
  --slot-ms S           the local network's slot length (default 500)
  --out DIR             report.json and throughput.svg (default pos-bench-out)
  --help
)";

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.empty() || (args[0] != "local" && args[0] != "run" && args[0] != "micro"))
    fail(2, "needs micro, local or run (see --help)");
  if (args[0] == "micro") {
    pos::bench::MicroOptions micro;
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--quick")
        micro.quick = true;
      else if (args[i] == "--block-txs" && i + 1 < args.size())
        micro.block_txs = number(args[i], args[i + 1]), ++i;
      else
        fail(2, "unknown or incomplete argument \"" + args[i] + "\" for micro");
    }
    if (micro.block_txs == 0 || micro.block_txs > 10'000)
      fail(2, "--block-txs must be 1 to 10000 (a block's limit)");
    if (!pos::init().ok()) fail(2, "libsodium failed to start");
    return pos::bench::run_micro(micro);
  }
  Options o;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto value = [&]() {
      if (i + 1 >= args.size()) fail(2, args[i] + " needs a value");
      return args[++i];
    };
    const std::string flag = args[i];
    if (flag == "--node")
      o.nodes.push_back(value());
    else if (flag == "--authority")
      o.authority = value();
    else if (flag == "--nodes")
      o.local_nodes = number(flag, value());
    else if (flag == "--accounts")
      o.accounts = number(flag, value());
    else if (flag == "--txs")
      o.txs = number(flag, value());
    else if (flag == "--rate")
      o.rate = static_cast<double>(number(flag, value()));
    else if (flag == "--batch")
      o.batch = number(flag, value());
    else if (flag == "--slot-ms")
      o.slot_ms = number(flag, value());
    else if (flag == "--out")
      o.out = value();
    else
      fail(2, "unknown argument \"" + flag + "\"");
  }
  if (o.accounts == 0 || o.txs == 0 || o.batch == 0 || o.local_nodes == 0 || o.slot_ms == 0)
    fail(2, "--accounts, --txs, --batch, --nodes and --slot-ms must be positive");
  if (!pos::init().ok()) fail(2, "libsodium failed to start");
  signal(SIGPIPE, SIG_IGN);
  if (args[0] == "local") {
    std::atexit(stop_children);
    LocalNetwork net;
    start_local(net, o);
    o.nodes = net.urls;
    o.authority = net.authority.string();
    o.same_machine = true;
    int code = run(o);
    stop_children();
    return code;
  }
  if (o.nodes.empty() || o.authority.empty())
    fail(2, "run needs --node URL and --authority KEY.pem");
  return run(o);
}
