// Writes valid seed inputs for every fuzz target: frames of each message kind, block bytes (one
// with a vote and evidence), transaction and block JSON, PEM keys and a genesis. usage: make_corpus
// DIR
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fuzz_world.h"
#include "pos/p2p_messages.h"
#include "pos/pos.h"

namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}
std::string str(const pos::Bytes& b) {
  return std::string(b.begin(), b.end());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  fs::path out = argv[1];
  pos::fuzz::World world;
  const auto& keys = world.keys;
  const pos::Genesis& genesis = world.genesis;
  pos::ManualClock& clock = world.clock;
  pos::MemoryStorage storage;
  auto chain = pos::Blockchain::open(genesis, storage, clock).value();
  pos::TransactionPool pool(genesis.params);
  std::vector<pos::TransactionPtr> txs;
  for (std::uint32_t i = 3; i < 5; ++i) {
    pos::TxFields f;
    f.chain_id = "pos-demo";
    f.sender = keys[i].public_key();
    f.receiver = keys[0].public_key();
    f.amount = 5;
    f.fee = 1;
    txs.push_back(pos::Transaction::sign(f, keys[i]));
    (void)pool.add(txs.back(), chain->state(), 0);
  }
  std::uint64_t slot = 1;
  pos::PublicKey leader = *chain->leader(slot);
  const pos::SecretKey* key = nullptr;
  for (const auto& k : keys)
    if (k.public_key() == leader) key = &k;
  pos::BlockPtr block = chain->forge(*key, slot, pool, clock.now_ms()).value();

  write(out / "fuzz_block_apply", "block", str(pos::encode(*block)));
  write(out / "fuzz_block_apply", "genesis_block", str(pos::encode(*genesis.block())));
  write(out / "fuzz_block_json", "block", pos::to_json(*block));
  write(out / "fuzz_tx_json", "tx", pos::to_json(*txs[0]));
  write(out / "fuzz_tx_json", "tx_without_id", pos::to_json(*txs[1], false));
  write(out / "fuzz_genesis", "genesis", genesis.to_json());
  write(out / "fuzz_pem", "private", pos::private_key_pem(keys[0]));
  write(out / "fuzz_pem", "public", pos::public_key_pem(keys[0].public_key()));
  // A vote for the block, and double_vote evidence from two votes at one target height.
  pos::VotePtr vote =
      pos::Vote::sign(pos::VoteFields{"pos-demo", {}, genesis.hash(), 0, block->hash(), 1}, *key);
  pos::VotePtr other =
      pos::Vote::sign(pos::VoteFields{"pos-demo", {}, genesis.hash(), 0, genesis.hash(), 1}, *key);
  pos::EvidencePtr evidence = pos::Evidence::double_vote(vote, other).value();
  write(out / "fuzz_block_apply", "block_with_vote_and_evidence",
        str(pos::encode(
            *pos::Block::sign(block->header(), block->transactions(), *key, {vote}, {evidence}))));
  namespace p2p = pos::p2p;
  pos::Hash id;
  id.bytes[0] = 7;
  p2p::Message messages[] = {p2p::Hello{p2p::kProtocolVersion, "pos-demo", genesis.hash(), id,
                                        "127.0.0.1:7000", 1, block->hash()},
                             p2p::GetPeers{},
                             p2p::Peers{{{"127.0.0.1", 7001}}},
                             p2p::Txs{txs},
                             p2p::NewBlock{block},
                             p2p::GetBlocks{{block->hash(), genesis.hash()}, 100},
                             p2p::Blocks{{block}},
                             p2p::Ping{1},
                             p2p::Reject{"wrong_chain", "no"},
                             p2p::Votes{{vote}},
                             p2p::EvidenceList{{evidence}}};
  for (const auto& m : messages)
    write(out / "fuzz_p2p_frame", std::string(p2p::message_kind(m)), str(p2p::encode_frame(m)));
  std::printf("seed corpus written to %s\n", out.c_str());
  return 0;
}
