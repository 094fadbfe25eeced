// Simulates validators in memory over 10,000 slots: each slot's leader forges a block, and
// each validator's share of the slots is printed beside its share of the stake.
#include <pos/pos.h>

#include <cmath>
#include <cstdio>
#include <map>

int main(int argc, char** argv) {
  if (!pos::init().ok()) return 1;
  const std::uint64_t slots = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000;
  const std::uint64_t stakes[] = {10, 20, 70};

  pos::Genesis genesis;
  genesis.params.chain_id = "pos-simulation";
  std::vector<pos::Wallet> validators;
  for (std::uint64_t stake : stakes) {
    validators.push_back(pos::Wallet::generate());
    genesis.allocations.push_back({validators.back().public_key(), 0, stake});
  }
  genesis.params.exchange_authority = validators[0].public_key();
  genesis = pos::Genesis::parse(genesis.to_json()).value();  // sorted and validated

  pos::MemoryStorage storage;
  pos::ManualClock clock(genesis.params.genesis_time_ms);
  auto chain = pos::Blockchain::open(genesis, storage, clock).value();
  pos::TransactionPool pool(genesis.params);
  std::map<pos::PublicKey, std::uint64_t> led;
  for (std::uint64_t slot = 1; slot <= slots; ++slot) {
    clock.set(genesis.params.slot_start_ms(slot));
    pos::PublicKey leader = *chain->leader(slot);
    for (const auto& v : validators) {
      if (v.public_key() != leader) continue;
      auto block = chain->forge(v.secret_key(), slot, pool, clock.now_ms());
      if (!block.ok() || !chain->apply(*block).ok()) return 1;
    }
    ++led[leader];
  }
  std::printf("%llu slots, chain height %llu\n", static_cast<unsigned long long>(slots),
              static_cast<unsigned long long>(chain->height()));
  std::printf("validator          stake share   slot share   deviation (sigma)\n");
  for (std::size_t i = 0; i < validators.size(); ++i) {
    double p = static_cast<double>(stakes[i]) / 100.0;
    double share =
        static_cast<double>(led[validators[i].public_key()]) / static_cast<double>(slots);
    double sigma = std::sqrt(p * (1 - p) / static_cast<double>(slots));
    std::printf("%s   %9.3f   %10.3f   %+8.2f\n", validators[i].address().substr(0, 16).c_str(), p,
                share, (share - p) / sigma);
  }
  return chain->height() == slots ? 0 : 1;
}
