// The genesis file: chain parameters and the initial balances and stakes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pos/account_model.h"
#include "pos/block.h"
#include "pos/consensus.h"
#include "pos/status.h"

namespace pos {

struct GenesisAllocation {
  Address address;
  std::uint64_t balance = 0;
  std::uint64_t stake = 0;
};

struct Genesis {
  ChainParams params;
  std::vector<GenesisAllocation> allocations;  // sorted by address, one per address

  // {"chain_id", "genesis_time", "slot_ms", "unbonding_epochs",
  //  "epoch_slots" (optional, 32), "max_block_txs" (optional, 10000), "exchange_authority",
  //  "allocations": [{"address", "balance", "stake"}]}
  static Result<Genesis> parse(std::string_view json);
  static Result<Genesis> load(const std::filesystem::path& path);
  std::string to_json() const;

  AccountModel initial_state() const;
  // Height 0, slot 0, parent, forger and VRF proof all zero, timestamp = genesis time, empty
  // roots, no signature.
  BlockPtr block() const;
  // The network's identity: the genesis block's hash (which commits to the parameters and the
  // allocations through its state root).
  Hash hash() const { return block()->hash(); }
};

}  // namespace pos
