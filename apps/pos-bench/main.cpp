// pos-bench: load generator. Funds M accounts, pre-signs R rounds of N transfers, submits each
// round through the batch RPC at a target rate (or as fast as the nodes accept), and measures
// accepted tx/s, committed tx/s (until the last is in a block on every node), submit-to-commit
// latency, submit-to-final latency and finalized tx/s (until the last is finalized on every
// node); rates are medians over the rounds, with their spread.
//   pos-bench local [--nodes K] [options]     starts K pos-node processes on free loopback ports
//   pos-bench run --node URL [--node URL...] --authority KEY.pem [options]
//   pos-bench micro [--block-txs N (10000)] [--rounds R (5)] [--quick]   micro-benchmarks
// options: --accounts M (100) --txs N (2000) --rounds R (5) --clients C (2 a node) --rate R
//          tx/s (0: as fast as accepted) --window W (30000) --batch B (200) --out DIR
//          (pos-bench-out) --slot-ms S (local; 500)
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
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../common/cli.h"
#include "bench_support.h"
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
  std::size_t rounds = 5;
  std::size_t clients = 2;  // client threads per node
  // At most this many transactions accepted and not yet in a block followed (0: no bound).
  std::size_t window = 30'000;
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

// What one round of load measured; times in seconds from the round's first submission.
struct Round {
  std::size_t transactions = 0, accepted = 0, refused = 0, included = 0;
  double submit_done = 0, commit_done = 0, all_nodes = 0;
  double all_final = 0;  // until every node finalized them all
  // Transactions finalized on every node after the first of the round's blocks was, over the
  // time from then until the last was: the rate once finality flows, without the constant lag
  // (two to three slots) before the first block is final. 0 when one block held them all.
  double sustained_final_rate = 0;
  // Blocks the nodes forged during the round that are not on the chain they ended on: the forks
  // (every node's pos_blocks_forged_total, less node 0's growth; a block forged between the
  // reads can move it by one).
  std::int64_t off_chain_blocks = 0;
  std::vector<double> latencies_ms;        // of each committed transaction
  std::vector<double> final_latencies_ms;  // submission to finalized on the accepting node

  double committed_rate() const {
    return static_cast<double>(included) / std::max(all_nodes, 1e-9);
  }
  double finalized_rate() const {
    return static_cast<double>(included) / std::max(all_final, 1e-9);
  }
};

// Every round of a run, and (local) the raw verify rate on all cores measured before, between
// and after them: each round's ceiling is the mean of the two samples either side of it.
struct LoadResult {
  std::vector<Round> rounds;
  pos::bench::Ratio raw;  // measures: finalized tx/s; baselines: raw verify/s on all cores
  std::vector<Sample> samples;
  double seconds = 0;  // from the first round's first submission to the last round's finality
  double slot_ms = 0;
};

struct Spread {
  double median = 0, low = 0, high = 0;
};

Spread spread_of(std::vector<double> v) {
  if (v.empty()) return {};
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return {pos::bench::median(v), *lo, *hi};
}

std::string show(const Spread& s, int decimals) {
  return fmt::format("{:12.{}f}  ({:.{}f}-{:.{}f})", s.median, decimals, s.low, decimals, s.high,
                     decimals);
}

std::string json_spread(const Spread& s) {
  return fmt::format("{{\"median\": {}, \"low\": {}, \"high\": {}}}", s.median, s.low, s.high);
}

// The table on stdout, report.json and throughput.svg in o.out.
void report(const Options& o, const LoadResult& r, std::size_t nodes) {
  Round all;  // the rounds' counts and latencies together
  std::vector<double> accepted, committed, finalized, final_over_committed, sustained, forks;
  for (const auto& round : r.rounds) {
    all.transactions += round.transactions;
    all.accepted += round.accepted;
    all.refused += round.refused;
    all.included += round.included;
    all.latencies_ms.insert(all.latencies_ms.end(), round.latencies_ms.begin(),
                            round.latencies_ms.end());
    all.final_latencies_ms.insert(all.final_latencies_ms.end(), round.final_latencies_ms.begin(),
                                  round.final_latencies_ms.end());
    accepted.push_back(static_cast<double>(round.accepted) / std::max(round.submit_done, 1e-9));
    committed.push_back(round.committed_rate());
    finalized.push_back(round.finalized_rate());
    final_over_committed.push_back(round.finalized_rate() / round.committed_rate());
    if (round.sustained_final_rate > 0) sustained.push_back(round.sustained_final_rate);
    forks.push_back(static_cast<double>(round.off_chain_blocks));
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  std::sort(all.final_latencies_ms.begin(), all.final_latencies_ms.end());
  auto pct = [&](double p) { return percentile(all.latencies_ms, p); };
  auto final_pct = [&](double p) { return percentile(all.final_latencies_ms, p); };
  const Spread accepted_s = spread_of(accepted), committed_s = spread_of(committed),
               finalized_s = spread_of(finalized), ratio_s = spread_of(final_over_committed),
               sustained_s = spread_of(sustained), forks_s = spread_of(forks);

  if (r.rounds.size() > 1) {
    fmt::print("\n{:>5} {:>13} {:>13} {:>13} {:>16} {:>6}\n", "round", "committed/s", "finalized/s",
               "sustained/s", "final p99 ms", "forks");
    for (std::size_t i = 0; i < r.rounds.size(); ++i) {
      std::vector<double> final_ms = r.rounds[i].final_latencies_ms;
      std::sort(final_ms.begin(), final_ms.end());
      fmt::print("{:>5} {:13.0f} {:13.0f} {:13.0f} {:16.0f} {:6}\n", i + 1, committed[i],
                 finalized[i], r.rounds[i].sustained_final_rate, percentile(final_ms, 0.99),
                 r.rounds[i].off_chain_blocks);
    }
  }
  fmt::print(
      "\n{} round{} of {} transfers; rates are the median over the rounds (lowest-highest)\n",
      r.rounds.size(), r.rounds.size() == 1 ? "" : "s", r.rounds.front().transactions);
  fmt::print("{:<28} {:>12}\n", "figure", "value");
  fmt::print("{:<28} {:12}\n", "transactions", all.transactions);
  fmt::print("{:<28} {:12}\n", "accepted (202)", all.accepted);
  fmt::print("{:<28} {:12}\n", "refused", all.refused);
  fmt::print("{:<28} {}\n", "accepted tx/s", show(accepted_s, 0));
  fmt::print("{:<28} {}\n", "committed tx/s (all nodes)", show(committed_s, 0));
  fmt::print("{:<28} {}\n", "finalized tx/s (all nodes)", show(finalized_s, 0));
  fmt::print("{:<28} {}\n", "finalized / committed", show(ratio_s, 3));
  if (!sustained.empty())
    fmt::print("{:<28} {} once the first block was final ({} of {} rounds)\n",
               "finalized tx/s, sustained", show(sustained_s, 0), sustained.size(),
               r.rounds.size());
  fmt::print("{:<28} {:12.0f}  ({:.2f} slots of {:.0f} ms)\n", "commit latency p50 ms", pct(0.5),
             pct(0.5) / r.slot_ms, r.slot_ms);
  fmt::print("{:<28} {:12.0f}  ({:.2f} slots)\n", "commit latency p90 ms", pct(0.9),
             pct(0.9) / r.slot_ms);
  fmt::print("{:<28} {:12.0f}  ({:.2f} slots)\n", "commit latency p99 ms", pct(0.99),
             pct(0.99) / r.slot_ms);
  for (double p : {0.5, 0.9, 0.99})
    fmt::print("{:<28} {:12.0f}  ({:.2f} slots)\n",
               fmt::format("final latency p{} ms", static_cast<int>(p * 100)), final_pct(p),
               final_pct(p) / r.slot_ms);
  fmt::print("{:<28} {}  blocks forged during a round that are not on the final chain\n", "forks",
             show(forks_s, 0));
  Spread raw_s, committed_ceiling_s, finalized_ceiling_s, sustained_ceiling_s;
  if (o.same_machine) {
    // Every node checks every signature once, so K nodes on this machine can take at most
    // (raw verify rate on all cores) / K transactions a second; for one node that is the whole
    // machine's verify rate, shared with this load generator.
    std::vector<double> committed_ceiling, finalized_ceiling, sustained_ceiling;
    for (std::size_t i = 0; i < r.rounds.size(); ++i) {
      double ceiling =
          (r.raw.baselines[i] + r.raw.baselines[i + 1]) / 2 / static_cast<double>(nodes);
      committed_ceiling.push_back(committed[i] / ceiling);
      finalized_ceiling.push_back(finalized[i] / ceiling);
      if (r.rounds[i].sustained_final_rate > 0)
        sustained_ceiling.push_back(r.rounds[i].sustained_final_rate / ceiling);
    }
    raw_s = spread_of(r.raw.baselines);
    committed_ceiling_s = spread_of(committed_ceiling);
    finalized_ceiling_s = spread_of(finalized_ceiling);
    sustained_ceiling_s = spread_of(sustained_ceiling);
    fmt::print("{:<28} {} before, between and after the rounds\n", "raw verify/s, all cores",
               show(raw_s, 0));
    const std::string ceiling =
        nodes == 1 ? std::string("raw verify/s on all cores: the one node's ceiling")
                   : fmt::format("raw verify/s on all cores / {} nodes", nodes);
    fmt::print("{:<28} {} committed tx/s over {}, each round beside the samples either side\n",
               "committed / ceiling", show(committed_ceiling_s, 3), ceiling);
    fmt::print("{:<28} {} finalized tx/s, the same way\n", "finalized / ceiling",
               show(finalized_ceiling_s, 3));
    if (!sustained_ceiling.empty())
      fmt::print("{:<28} {} sustained finalized tx/s, the same way\n", "sustained / ceiling",
                 show(sustained_ceiling_s, 3));
  }

  fs::create_directories(o.out);
  std::ofstream json(o.out / "report.json");
  json << fmt::format(
      "{{\"nodes\": {}, \"accounts\": {}, \"rounds\": {}, \"transactions\": {}, \"accepted\": {}, "
      "\"refused\": {}, \"committed\": {}, \"finalized\": {}, \"accepted_tx_per_s\": {}, "
      "\"committed_tx_per_s\": {}, \"finalized_tx_per_s\": {}, "
      "\"sustained_finalized_tx_per_s\": {}, \"spread\": {{\"accepted_tx_per_s\": {}, "
      "\"committed_tx_per_s\": {}, \"finalized_tx_per_s\": {}, "
      "\"sustained_finalized_tx_per_s\": {}}}, \"slot_ms\": {}, "
      "\"latency_ms\": {{\"p50\": {}, \"p90\": {}, \"p99\": {}}}, "
      "\"final_latency_ms\": {{\"p50\": {}, \"p90\": {}, \"p99\": {}}}, "
      "\"final_latency_slots\": {{\"p50\": {}, \"p90\": {}, \"p99\": {}}}, \"seconds\": {{\"run\": "
      "{}, \"rounds\": [",
      nodes, o.accounts, r.rounds.size(), all.transactions, all.accepted, all.refused, all.included,
      all.included, accepted_s.median, committed_s.median, finalized_s.median, sustained_s.median,
      json_spread(accepted_s), json_spread(committed_s), json_spread(finalized_s),
      json_spread(sustained_s), r.slot_ms, pct(0.5), pct(0.9), pct(0.99), final_pct(0.5),
      final_pct(0.9), final_pct(0.99), final_pct(0.5) / r.slot_ms, final_pct(0.9) / r.slot_ms,
      final_pct(0.99) / r.slot_ms, r.seconds);
  for (std::size_t i = 0; i < r.rounds.size(); ++i)
    json << (i ? ", " : "")
         << fmt::format("{{\"submit\": {}, \"commit\": {}, \"all_nodes\": {}, \"all_final\": {}}}",
                        r.rounds[i].submit_done, r.rounds[i].commit_done, r.rounds[i].all_nodes,
                        r.rounds[i].all_final);
  json << "]}" << fmt::format(", \"forks\": {}", json_spread(forks_s));
  if (o.same_machine)
    json << fmt::format(
        ", \"raw_verify_per_s_all_cores\": {}, \"committed_over_ceiling\": {}, "
        "\"finalized_over_ceiling\": {}, \"sustained_finalized_over_ceiling\": {}, "
        "\"spread_over_ceiling\": {{\"raw_verify_per_s_all_cores\": {}, "
        "\"committed_over_ceiling\": {}, \"finalized_over_ceiling\": {}, "
        "\"sustained_finalized_over_ceiling\": {}}}",
        raw_s.median, committed_ceiling_s.median, finalized_ceiling_s.median,
        sustained_ceiling_s.median, json_spread(raw_s), json_spread(committed_ceiling_s),
        json_spread(finalized_ceiling_s), json_spread(sustained_ceiling_s));
  json << "}\n";
  write_plot(o.out / "throughput.svg", r.samples, r.seconds, all.transactions);
  fmt::print("report: {}, plot: {}\n", (o.out / "report.json").string(),
             (o.out / "throughput.svg").string());
}

// The load's clients: --clients threads per node, each posting the next batch (or the
// transactions to try again) to its node, so that the nodes check signatures side by side and
// while they answer, as a network's many clients make them. One client waiting on each answer in
// turn was the bottleneck: 3 nodes took 11,000 tx/s from it, each node using a third of a core.
class Submitters {
 public:
  struct Progress {
    std::size_t next = 0, accepted = 0, refused = 0;
    bool done = false;  // every transaction posted and answered, none left to try again
    std::optional<std::string> error;
  };

  Submitters(const Options& o, const std::vector<pos::TransactionPtr>& txs, Timer::time_point start)
      : o_(o), txs_(txs), start_(start), submitted_(txs.size(), -1), accepted_by_(txs.size()) {
    for (std::size_t c = 0; c < o.clients * o.nodes.size(); ++c)
      threads_.emplace_back(
          [this, n = c % o.nodes.size()](std::stop_token stop) { post_batches(stop, n); });
  }

  Progress progress() const {
    std::lock_guard lock(mutex_);
    Progress p{next_, accepted_, refused_, false, error_};
    p.done = next_ == txs_.size() && retry_.empty() && in_flight_ == 0;
    return p;
  }
  // Seconds from the start to the transaction's first posting (-1 before it); the node that
  // accepted it. Read once done.
  double submitted_at(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return submitted_[i];
  }
  std::size_t accepted_by(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return accepted_by_[i];
  }
  // How many of them node 0's followed chain holds: the window moves on.
  void note_committed(std::size_t committed) {
    std::lock_guard lock(mutex_);
    committed_ = committed;
  }

 private:
  // What to post next: new transactions at the target rate, else those to try again (at most
  // every 50 ms: a nonce too far ahead waits for its predecessors, a full pool for a block).
  std::vector<std::size_t> take() {
    std::lock_guard lock(mutex_);
    std::vector<std::size_t> ids;
    // The window: more outstanding than a pool holds would fill the pools, which then refuse
    // and evict, and the load would measure its own retries.
    if (o_.window > 0 && accepted_ + in_flight_ * o_.batch >= committed_ + o_.window) return ids;
    double t = since(start_);
    if (next_ < txs_.size() && (o_.rate <= 0 || static_cast<double>(next_) < o_.rate * t + 1)) {
      std::size_t end = std::min(next_ + o_.batch, txs_.size());
      if (o_.rate > 0) end = std::min(end, static_cast<std::size_t>(o_.rate * t) + 1);
      end = std::max(end, next_ + 1);
      for (std::size_t k = next_; k < end; ++k) ids.push_back(k);
      next_ = end;
    } else if (!retry_.empty() && since(last_retry_) > 0.05) {
      last_retry_ = Timer::now();
      std::size_t count = std::min(retry_.size(), o_.batch);
      ids.assign(retry_.begin(), retry_.begin() + static_cast<long>(count));
      retry_.erase(retry_.begin(), retry_.begin() + static_cast<long>(count));
    }
    if (!ids.empty()) ++in_flight_;
    return ids;
  }

  void post_batches(const std::stop_token& stop, std::size_t node) {
    pos::RpcClient client(o_.nodes[node], 10'000);
    while (!stop.stop_requested()) {
      std::vector<std::size_t> ids = take();
      if (ids.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      std::vector<pos::TransactionPtr> part;
      for (std::size_t k : ids) part.push_back(txs_[k]);
      const double posted = since(start_);
      auto r = client.submit_batch(part);
      std::lock_guard lock(mutex_);
      --in_flight_;
      if (!r.ok()) {
        error_ = r.error().message;
        return;
      }
      for (std::size_t k = 0; k < r->size(); ++k) {
        if (submitted_[ids[k]] < 0) submitted_[ids[k]] = posted;
        if ((*r)[k].ok()) {
          ++accepted_;
          accepted_by_[ids[k]] = node;
          continue;
        }
        pos::Reason why = (*r)[k].reason();
        if (why == pos::Reason::kNonceGap || why == pos::Reason::kPoolFull ||
            why == pos::Reason::kSenderLimit)
          retry_.push_back(ids[k]);
        else
          ++refused_;
      }
    }
  }

  const Options& o_;
  const std::vector<pos::TransactionPtr>& txs_;
  Timer::time_point start_;
  mutable std::mutex mutex_;  // guards everything below but the threads
  std::size_t next_ = 0, accepted_ = 0, refused_ = 0, in_flight_ = 0, committed_ = 0;
  std::vector<std::size_t> retry_;
  Timer::time_point last_retry_ = Timer::now();
  std::vector<double> submitted_;
  std::vector<std::size_t> accepted_by_;
  std::optional<std::string> error_;
  std::vector<std::jthread> threads_;  // last: stopped and joined before the members they use go
};

// Node 0's height and the blocks every node has forged, read together (as near as can be).
struct ForgedCount {
  std::uint64_t height = 0;
  std::uint64_t forged = 0;
};

ForgedCount forged_count(std::vector<pos::RpcClient>& clients) {
  ForgedCount count;
  auto tip = clients[0].info();
  if (!tip.ok()) fail(3, tip.error().message);
  count.height = tip->height;
  constexpr std::string_view kName = "\npos_blocks_forged_total ";
  for (auto& client : clients) {
    auto metrics = client.get("/metrics");
    if (!metrics.ok()) fail(3, metrics.error().message);
    auto at = metrics->body.find(kName);
    if (at == std::string::npos) fail(3, "a node's /metrics has no pos_blocks_forged_total");
    count.forged += std::stoull(metrics->body.substr(at + kName.size()));
  }
  return count;
}

// What the rounds of a run share: the nodes, the watch on their finality, the clock's origin
// (the watch's times are from it) and node 0's followed chain.
struct LoadContext {
  const Options& o;
  std::vector<pos::RpcClient>& clients;
  const FinalityWatch& watch;
  Timer::time_point origin;
  std::uint64_t height;  // node 0's tip as followed
  pos::Hash followed;    // its block there; a block whose parent is not it means a reorganisation
  double slot_ms;
  std::vector<Sample>& samples;
  std::size_t committed_before = 0;  // by earlier rounds, for the plot
};

// Submits `txs` at the target rate, in batches, to the nodes in turn, while following node 0's
// blocks; then waits until every node has the last block holding one and has finalized it.
Round load_round(LoadContext& c, const std::vector<pos::TransactionPtr>& txs) {
  const Options& o = c.o;
  std::unordered_map<pos::Hash, std::size_t> index;
  for (std::size_t i = 0; i < txs.size(); ++i) index[txs[i]->id()] = i;
  std::vector<double> committed(txs.size(), -1);
  std::vector<std::uint64_t> block_of(txs.size());  // the height of node 0's block holding it
  std::size_t included = 0;
  // The lowest height at which node 0 replaced a block followed (none: above every height).
  std::uint64_t replaced_from = std::numeric_limits<std::uint64_t>::max();
  auto start = Timer::now();
  const double offset = std::chrono::duration<double>(start - c.origin).count();
  auto last_print = start;
  double submit_done = 0;
  const ForgedCount forged_before = forged_count(c.clients);
  Submitters submitters(o, txs, start);
  const std::uint64_t first_height = c.height;
  std::map<std::uint64_t, pos::Hash> followed_at{{c.height, c.followed}};
  // A block of node 0's chain: its transactions of this round are committed, at its height.
  auto note_block = [&](const pos::Block& block, std::uint64_t height) {
    for (const auto& tx : block.transactions()) {
      auto it = index.find(tx->id());
      if (it != index.end() && committed[it->second] < 0) {
        committed[it->second] = since(start);
        block_of[it->second] = height;
        ++included;
      }
    }
  };
  for (;;) {
    Submitters::Progress progress = submitters.progress();
    if (progress.error) fail(3, *progress.error);
    if (submit_done == 0 && progress.done) submit_done = since(start);
    if (progress.done && included >= progress.accepted) break;
    // Follow node 0's new blocks.
    auto tip = c.clients[0].info();
    if (!tip.ok()) fail(3, tip.error().message);
    while (c.height < tip->height) {
      auto block = c.clients[0].block(c.height + 1);
      if (!block.ok()) break;  // read again on the next turn
      if ((*block)->parent() != c.followed) {
        // Node 0 reorganised: its blocks below this one that replaced those followed carry
        // transactions too, which nothing else would show (the loop would wait for them).
        replaced_from = std::min(replaced_from, c.height + 1);
        for (std::uint64_t h = c.height; h > first_height; --h) {
          auto replaced = c.clients[0].block(h);
          if (!replaced.ok()) fail(3, replaced.error().message);
          if (followed_at[h] == (*replaced)->hash()) break;
          followed_at[h] = (*replaced)->hash();
          replaced_from = h;
          note_block(**replaced, h);
        }
      }
      ++c.height;
      c.followed = followed_at[c.height] = (*block)->hash();
      note_block(**block, c.height);
    }
    submitters.note_committed(included);
    if (since(last_print) >= 1) {
      last_print = Timer::now();
      std::vector<double> lat;
      for (std::size_t i = 0; i < txs.size(); ++i) {
        double at = submitters.submitted_at(i);
        if (committed[i] >= 0 && at >= 0) lat.push_back((committed[i] - at) * 1000);
      }
      c.samples.push_back(
          {since(c.origin), c.committed_before + included, pos::bench::median(std::move(lat))});
      fmt::print(stderr, "\r{:6.1f} s  submitted {}/{}  accepted {}  refused {}  committed {}   ",
                 since(start), progress.next, txs.size(), progress.accepted, progress.refused,
                 included);
    }
    if (since(start) > 600) fail(1, "not all accepted transactions were committed within 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Submitters::Progress submitted_all = submitters.progress();
  const std::size_t accepted = submitted_all.accepted, refused = submitted_all.refused;
  double commit_done = since(start);
  // Every node must have the last block that carried one of them.
  for (auto& client : c.clients) {
    auto wait = Timer::now();
    while (client.info()->height < c.height) {
      if (since(wait) > 60) fail(1, fmt::format("a node did not reach height {}", c.height));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  double all_nodes = since(start);
  fmt::print(stderr, "\n");

  // Finality: every node must finalize the blocks followed. If node 0 left them meanwhile (a
  // reorganisation), they are not the ones finalized: ask it where each transaction is now.
  double final_timeout = std::max(60.0, 20 * c.slot_ms / 1000);
  wait_finalized(c.watch, o.nodes, c.height, final_timeout);
  auto followed_now = c.clients[0].block(c.height);
  if (!followed_now.ok()) fail(3, followed_now.error().message);
  // Transactions seen in a block that node 0 later replaced are in another block now: only those
  // at or above the lowest replaced height are asked for (the tip replaced here: all of them).
  if ((*followed_now)->hash() != c.followed) replaced_from = first_height;
  if (replaced_from != std::numeric_limits<std::uint64_t>::max()) {
    fmt::print(
        "node 0 reorganised the blocks followed from height {}; reading where their "
        "transactions are\n",
        replaced_from);
    c.followed = (*followed_now)->hash();
    // Node 0's blocks from there up say where each is now: one read per block, not one per
    // transaction (tens of thousands took minutes). One back in a pool is waited for.
    std::size_t moved = 0;
    for (std::size_t i = 0; i < txs.size(); ++i)
      if (committed[i] >= 0 && block_of[i] >= replaced_from) block_of[i] = 0, ++moved;
    auto wait = Timer::now();
    for (std::uint64_t h = replaced_from; moved > 0;) {
      auto tip = c.clients[0].info();
      if (!tip.ok()) fail(3, tip.error().message);
      for (; h <= tip->height && moved > 0; ++h) {
        auto block = c.clients[0].block(h);
        if (!block.ok()) fail(3, block.error().message);
        for (const auto& tx : (*block)->transactions())
          if (auto it = index.find(tx->id());
              it != index.end() && committed[it->second] >= 0 && block_of[it->second] == 0)
            block_of[it->second] = h, --moved;
      }
      if (moved == 0) break;
      if (since(wait) > final_timeout)
        fail(1, "finality: a transaction committed before a reorganisation is not in a block");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::uint64_t top = *std::max_element(block_of.begin(), block_of.end());
  wait_finalized(c.watch, o.nodes, top, final_timeout);  // at once unless they moved up
  const ForgedCount forged_after = forged_count(c.clients);
  Round round;
  round.off_chain_blocks = static_cast<std::int64_t>(forged_after.forged - forged_before.forged) -
                           static_cast<std::int64_t>(forged_after.height - forged_before.height);
  round.transactions = txs.size();
  round.accepted = accepted;
  round.refused = refused;
  round.included = included;
  round.submit_done = submit_done;
  round.commit_done = commit_done;
  round.all_nodes = all_nodes;
  std::vector<double> final_everywhere;  // of each committed transaction
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (committed[i] < 0) continue;
    const double submitted = submitters.submitted_at(i);
    round.latencies_ms.push_back((committed[i] - submitted) * 1000);
    double final_at = c.watch.reached(submitters.accepted_by(i), block_of[i]).value() - offset;
    round.final_latencies_ms.push_back((final_at - submitted) * 1000);
    double everywhere = 0;
    for (std::size_t n = 0; n < c.clients.size(); ++n)
      everywhere = std::max(everywhere, c.watch.reached(n, block_of[i]).value());
    final_everywhere.push_back(everywhere);
  }
  if (!final_everywhere.empty()) {
    auto [first, last] = std::minmax_element(final_everywhere.begin(), final_everywhere.end());
    round.all_final = *last - offset;
    auto after = std::count_if(final_everywhere.begin(), final_everywhere.end(),
                               [&](double t) { return t > *first; });
    if (*last > *first) round.sustained_final_rate = static_cast<double>(after) / (*last - *first);
  }
  c.committed_before += included;
  return round;
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
  std::vector<pos::TransactionPtr> all = presign_transfers(accounts, chain, o.txs * o.rounds);
  auto tip = clients[0].info();
  if (!tip.ok()) fail(3, tip.error().message);
  // The funding blocks are behind the tip, so `run` can read the slot length from them.
  double slot_ms =
      o.same_machine ? static_cast<double>(o.slot_ms) : chain_slot_ms(clients[0], tip->height);

  LoadResult result;
  result.slot_ms = slot_ms;
  auto origin = Timer::now();
  FinalityWatch watch(o.nodes, origin);
  LoadContext context{o, clients, watch, origin, tip->height, tip->tip, slot_ms, result.samples};
  // Rounds of load between samples of the ceiling (local: the nodes share this machine's cores);
  // `run` has no ceiling of its own and takes the rounds back to back.
  auto ceiling = [&] { return o.same_machine ? pos::bench::raw_verify_rate_all_cores() : 0.0; };
  std::size_t next = 0;
  result.raw = pos::bench::interleave(o.rounds, ceiling, [&] {
    std::vector<pos::TransactionPtr> part(all.begin() + static_cast<long>(next),
                                          all.begin() + static_cast<long>(next + o.txs));
    next += o.txs;
    if (o.rounds > 1) fmt::print("round {} of {}\n", next / o.txs, o.rounds);
    result.rounds.push_back(load_round(context, part));
    return result.rounds.back().finalized_rate();
  });
  result.seconds = since(origin);
  report(o, result, clients.size());
  std::size_t included = 0, accepted = 0;
  for (const auto& round : result.rounds) included += round.included, accepted += round.accepted;
  return included == accepted && accepted > 0 ? 0 : 1;
}

}  // namespace

constexpr const char* kUsage = R"(usage: pos-bench micro [--block-txs N] [--rounds R] [--quick]
       pos-bench local [--nodes K] [options]
       pos-bench run --node URL [--node URL ...] --authority KEY.pem [options]

  micro                 core and storage micro-benchmarks beside libsodium's raw verify rate;
                        --block-txs N: the block validated (default 10000), --rounds R:
                        rounds of each measure between rounds of its baseline (default 5),
                        --quick: small sizes, rough figures
  local                 starts its own network of K real pos-node processes (default 3)
  run                   loads running nodes; KEY.pem is their exchange authority's key

options of local and run:
  --accounts M          funded sender accounts (default 100)
  --txs N               pre-signed transfers a round (default 2000)
  --rounds R            rounds of N transfers (default 5); local measures its ceiling before,
                        between and after them, and gives each figure's median and spread
  --clients C           client threads per node, posting batches side by side (default 2)
  --rate R              transfers a second (default 0: as fast as they are accepted)
  --window W            at most W transfers accepted and not yet in a block (default 30000,
                        below a pool's 50,000; 0: no bound)
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
      else if (args[i] == "--rounds" && i + 1 < args.size())
        micro.rounds = number(args[i], args[i + 1]), ++i;
      else
        fail(2, "unknown or incomplete argument \"" + args[i] + "\" for micro");
    }
    if (micro.block_txs == 0 || micro.block_txs > 10'000)
      fail(2, "--block-txs must be 1 to 10000 (a block's limit)");
    if (micro.rounds == 0 || micro.rounds > 1'000) fail(2, "--rounds must be 1 to 1000");
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
    else if (flag == "--rounds")
      o.rounds = number(flag, value());
    else if (flag == "--clients")
      o.clients = number(flag, value());
    else if (flag == "--window")
      o.window = number(flag, value());
    else
      fail(2, "unknown argument \"" + flag + "\"");
  }
  if (o.accounts == 0 || o.txs == 0 || o.batch == 0 || o.local_nodes == 0 || o.slot_ms == 0 ||
      o.rounds == 0 || o.clients == 0)
    fail(2,
         "--accounts, --txs, --batch, --nodes, --slot-ms, --rounds and --clients must be positive");
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
