// Helper of the crash-safety test: applies blocks to an LMDB data dir forever, writing each
// applied block's hash (32 bytes) to a file descriptor once apply has returned success. Each block
// carries every validator's vote for its parent, so the chain finalizes and stores a consensus
// snapshot once an epoch. The test kills it with SIGKILL at random moments.
//   pos_crash_child DATA_DIR GENESIS_FILE FD
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "../unit/test_keys.h"
#include "pos/lmdb_storage.h"
#include "pos/pos.h"

using namespace pos;

int main(int argc, char** argv) {
  if (argc != 4 || !pos::init().ok()) return 2;
  int fd = std::atoi(argv[3]);
  auto genesis = Genesis::load(argv[2]);
  auto storage = LmdbStorage::open(argv[1]);
  if (!genesis.ok() || !storage.ok()) {
    std::fprintf(stderr, "crash child: cannot open: %s\n",
                 (genesis.ok() ? storage.error() : genesis.error()).to_string().c_str());
    return 2;
  }
  ManualClock clock(genesis->params.genesis_time_ms);
  auto chain = Blockchain::open(*genesis, **storage, clock);
  if (!chain.ok()) {
    std::fprintf(stderr, "crash child: %s\n", chain.error().to_string().c_str());
    return 2;
  }
  std::vector<SecretKey> keys;
  for (std::uint32_t i = 0; i < 3; ++i) keys.push_back(test::key_from_index(i));
  for (std::uint32_t i = 0; i < 3; ++i) keys.push_back(test::key_from_index(1000 + i));
  std::mt19937_64 rng(static_cast<std::uint64_t>(getpid()));
  Blockchain& c = **chain;
  for (;;) {
    TransactionPool pool(genesis->params);
    for (int i = 0; i < 5; ++i) {
      const SecretKey& from = keys[rng() % keys.size()];
      const SecretKey& to = keys[rng() % keys.size()];
      TxFields f;
      f.chain_id = genesis->params.chain_id;
      f.type = rng() % 7 == 0 ? TxType::kStake : TxType::kTransfer;
      f.sender = from.public_key();
      f.receiver = f.type == TxType::kStake ? from.public_key() : to.public_key();
      f.amount = 1 + rng() % 3;
      f.fee = rng() % 2;
      f.nonce = c.state().get(from.public_key()).nonce;
      f.timestamp_ms = rng();
      (void)pool.add(Transaction::sign(f, from), c.state(), 0);
    }
    std::uint64_t slot = c.tip().slot + 1;
    clock.set(genesis->params.slot_start_ms(slot) + 1);
    auto leader = c.leader(slot);
    const SecretKey* key = nullptr;
    for (const auto& k : keys)
      if (leader && k.public_key() == *leader) key = &k;
    if (key == nullptr) return 3;
    std::vector<VotePtr> votes;
    const Checkpoint& source = c.vote_finality().justified();
    for (std::uint32_t i = 0; i < 3 && source.height < c.height(); ++i)
      votes.push_back(Vote::sign(
          VoteFields{
              genesis->params.chain_id, {}, source.hash, source.height, c.tip_hash(), c.height()},
          keys[i]));
    auto block = c.forge(*key, slot, pool, clock.now_ms(), votes);
    if (!block.ok() || !c.apply(*block).ok()) return 4;
    if (write(fd, (*block)->hash().data(), 32) != 32) return 5;
  }
}
