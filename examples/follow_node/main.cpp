// Follows a node: polls its RPC and prints each new block.
//   follow_node [URL] [COUNT]   (default http://127.0.0.1:5000; COUNT new blocks, 0 = forever)
// Exit code 3 when the node cannot be reached.
#include <pos/pos.h>
#include <pos/rpc_client.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (!pos::init().ok()) return 1;
  std::string url = argc > 1 ? argv[1] : "http://127.0.0.1:5000";
  unsigned long count = argc > 2 ? std::stoul(argv[2]) : 0;
  pos::RpcClient rpc(url, 3000);
  auto info = rpc.info();
  if (!info.ok()) {
    std::fprintf(stderr, "follow_node: %s\n", info.error().message.c_str());
    return 3;
  }
  std::printf("following %s: chain %s at height %llu\n", url.c_str(), info->chain_id.c_str(),
              static_cast<unsigned long long>(info->height));
  std::uint64_t seen = info->height;
  for (unsigned long printed = 0; count == 0 || printed < count;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = rpc.info();
    if (!now.ok()) {
      std::fprintf(stderr, "follow_node: %s\n", now.error().message.c_str());
      return 3;
    }
    while (seen < now->height && (count == 0 || printed < count)) {
      auto block = rpc.block(++seen);
      if (!block.ok()) break;
      std::printf("block %llu  %s  slot %llu  forger %s  %u transactions\n",
                  static_cast<unsigned long long>((*block)->height()),
                  (*block)->hash().hex().substr(0, 16).c_str(),
                  static_cast<unsigned long long>((*block)->slot()),
                  (*block)->forger().hex().substr(0, 16).c_str(), (*block)->header().tx_count);
      std::fflush(stdout);
      ++printed;
    }
  }
  return 0;
}
