// libFuzzer target: block validation from bytes. Decodes the input as a block and offers it to a
// small chain (three validators, funded users, one block already applied); whatever happens, a
// refusal must leave the chain exactly as it was.
#include <cstdint>
#include <cstdlib>

#include "pos/pos.h"

namespace {

struct World {
  pos::Genesis genesis;
  pos::ManualClock clock{0};
  std::vector<pos::SecretKey> keys;
  World() {
    if (!pos::init().ok()) std::abort();
    genesis.params.chain_id = "pos-demo";
    for (std::uint32_t i = 0; i < 5; ++i) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(i + 1);
      keys.push_back(pos::SecretKey::from_seed(seed));
      genesis.allocations.push_back({keys.back().public_key(), 1000, i < 3 ? 10u : 0u});
    }
    genesis.params.exchange_authority = keys[0].public_key();
    genesis = pos::Genesis::parse(genesis.to_json()).value();
    clock.set(genesis.params.slot_start_ms(100));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  auto block = pos::decode_block(pos::ByteView(data, size));
  if (!block.ok()) return 0;
  pos::MemoryStorage storage;
  auto chain = pos::Blockchain::open(world.genesis, storage, world.clock).value();
  pos::Hash tip = chain->tip_hash();
  pos::Hash root = chain->state().state_root();
  auto applied = chain->apply(*block);
  if (!applied.ok() && (chain->tip_hash() != tip || chain->state().state_root() != root))
    std::abort();
  return 0;
}
