// A child process applying blocks to an LMDB data dir is killed with SIGKILL at random moments.
// After each kill the data dir must open (from its consensus snapshot, which the child stores
// once an epoch), its state and finality must equal a replay from genesis of its stored main
// chain, and every block the child reported as applied must be there.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include "test_support.h"

using namespace pos;
using namespace pos::test;

namespace {

std::map<Address, Account> accounts_of(const AccountModel& state) {
  std::map<Address, Account> out;
  state.for_each([&](const Address& a, const Account& acc) { out[a] = acc; });
  return out;
}

// Runs the child for `ms` milliseconds, kills it, and returns the hashes it reported.
std::vector<Hash> run_and_kill(const std::filesystem::path& data,
                               const std::filesystem::path& genesis, int ms) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    std::string fd = std::to_string(fds[1]);
    execl(POS_CRASH_CHILD, POS_CRASH_CHILD, data.c_str(), genesis.c_str(), fd.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string received;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buffer[4096];
  bool killed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (!killed && left <= 0) {
      kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, killed ? 1000 : static_cast<int>(std::max<long>(left, 1))) <= 0) continue;
    ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;  // the child is gone and the pipe drained
    received.append(buffer, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  INFO("child exit status " << status);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  std::vector<Hash> hashes;
  for (std::size_t i = 0; i + 32 <= received.size(); i += 32)
    hashes.push_back(
        Hash::from_bytes(ByteView(reinterpret_cast<const std::uint8_t*>(received.data() + i), 32)));
  return hashes;
}

}  // namespace

TEST_CASE("SIGKILL at random moments never loses an applied block or mixes states",
          "[store][lmdb][crash]") {
  TempDir dir;
  NetOptions options;
  options.users = 3;
  TestNet reference(options);  // for its genesis only
  auto genesis_file = dir.path() / "genesis.json";
  write_text(genesis_file, reference.genesis.to_json());
  auto data = dir.path() / "data";

  std::mt19937 rng(2026);
  std::vector<Hash> reported;
  std::uint64_t heights_seen = 0;
  // At least 25 kills and 1,000 applied blocks, however slow the machine (a sanitizer build
  // under load applies fewer blocks between kills); the bound only stops a child that never
  // applies anything.
  const int min_kills = 25, max_kills = 400;
  for (int k = 0; k < max_kills && (k < min_kills || heights_seen < 1000); ++k) {
    INFO("kill " << k);
    auto hashes = run_and_kill(data, genesis_file, 40 + static_cast<int>(rng() % 260));
    reported.insert(reported.end(), hashes.begin(), hashes.end());

    auto storage = LmdbStorage::open(data);
    REQUIRE(storage.ok());
    ManualClock clock(kGenesisTime + 1'000'000'000);
    auto chain = Blockchain::open(reference.genesis, **storage, clock);
    INFO((chain.ok() ? std::string("opened") : chain.error().to_string()));
    REQUIRE(chain.ok());
    for (const Hash& h : reported) {
      BlockPtr block = (*storage)->block(h);
      REQUIRE(block);
      CHECK((*storage)->main_chain_hash(block->height()) == h);
    }
    // Replay the stored main chain from genesis in memory.
    MemoryStorage memory;
    auto replay = Blockchain::open(reference.genesis, memory, clock).value();
    for (std::uint64_t from = 1;;) {
      auto blocks = (*storage)->main_chain_blocks(from, 256, 64 << 20);
      if (blocks.empty()) break;
      for (const auto& b : blocks) REQUIRE(replay->apply(b).ok());
      from += blocks.size();
    }
    CHECK(replay->tip_hash() == (*chain)->tip_hash());
    CHECK(replay->state().state_root() == (*chain)->state().state_root());
    CHECK(accounts_of(replay->state()) == accounts_of((*chain)->state()));
    CHECK(replay->finalized() == (*chain)->finalized());
    CHECK(replay->vote_finality().justified() == (*chain)->vote_finality().justified());
    CHECK((*storage)->consensus_snapshot().has_value() == ((*chain)->finalized_height() > 0));
    heights_seen = (*chain)->height();
  }
  INFO("blocks applied across all runs: " << heights_seen);
  CHECK(heights_seen >= 1000);
}
