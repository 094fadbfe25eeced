// Waiting for a transaction to be final, shared by pos-wallet and pos-interact: included in a
// block at height H of the node's main chain, the node's finalized height at or above H, and the
// block at H still holding the transaction (a reorganisation before finality can move it; then
// the wait goes on until it is included again and that block is final).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "pos/rpc_client.h"

namespace pos::apps {

class FinalityWatch {
 public:
  FinalityWatch(RpcClient& rpc, const Hash& id) : rpc_(rpc), id_(id) {}

  // One look at the node: true once the transaction is final, false while it is not yet; the
  // node's error (unreachable, a refusal) otherwise.
  Result<bool> poll() {
    auto status = rpc_.transaction_status(id_);
    if (!status.ok()) return status.error();
    if (status->status != "included" || !status->height) return false;
    included_height_ = *status->height;
    auto finality = rpc_.finality();
    if (!finality.ok()) return finality.error();
    finalized_height_ = finality->finalized.height;
    if (finalized_height_ < *included_height_) return false;
    // Final at or below the finalized height: the block there can no longer change, so it
    // decides whether the transaction is in it.
    auto block = rpc_.block(*included_height_);
    if (!block.ok()) return block.error();
    const auto& txs = (*block)->transactions();
    bool holds = std::any_of(txs.begin(), txs.end(),
                             [&](const TransactionPtr& tx) { return tx->id() == id_; });
    if (!holds) return false;
    block_ = (*block)->hash();
    return true;
  }

  // Where it was last seen included (none if never), the last finalized height read, and the
  // block that holds it once final.
  std::optional<std::uint64_t> included_height() const { return included_height_; }
  std::uint64_t finalized_height() const { return finalized_height_; }
  const Hash& block() const { return block_; }

 private:
  RpcClient& rpc_;
  Hash id_;
  std::optional<std::uint64_t> included_height_;
  std::uint64_t finalized_height_ = 0;
  Hash block_;
};

}  // namespace pos::apps
