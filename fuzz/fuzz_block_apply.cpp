// libFuzzer target: block validation from bytes. Decodes the input as a block and offers it to a
// small chain (three validators, funded users, one block already applied); whatever happens, a
// refusal must leave the chain exactly as it was.
#include <cstdint>
#include <cstdlib>

#include "fuzz_world.h"
#include "pos/pos.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static pos::fuzz::World world;
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
