// A client of a node's HTTP API, for pos-wallet, pos-interact, pos-bench and tests. Needs only
// pos::core: no Cap'n Proto, no LMDB. Every call returns the node's refusal as an Error with the
// node's reason, or kIoError "node unreachable" when there is no answer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pos/account_model.h"
#include "pos/block.h"
#include "pos/status.h"
#include "pos/transaction.h"
#include "pos/wire.h"

namespace pos {

// The answers' shapes and their strict readers are in pos/wire.h.
using RpcInfo = NodeInfo;
using RpcFinality = FinalityInfo;
using RpcTxStatus = TxStatus;
using RpcValidators = ValidatorSetInfo;
using RpcVotes = TargetVotesInfo;

class RpcClient {
 public:
  // base_url: "http://host:port".
  explicit RpcClient(const std::string& base_url, std::uint64_t timeout_ms = 10'000);
  ~RpcClient();
  RpcClient(RpcClient&&) noexcept;
  RpcClient& operator=(RpcClient&&) noexcept;

  Result<RpcInfo> info();
  // GET /finality: the node's justified and finalized checkpoints (height and hash each).
  Result<RpcFinality> finality();
  // GET /validators: the validator set and nonce of `epoch`, or of the node's current epoch.
  Result<RpcValidators> validators(std::optional<std::uint64_t> epoch = std::nullopt);
  // GET /votes: the votes the node's vote pool holds for the target block.
  Result<RpcVotes> votes(const Hash& target);
  Result<std::vector<PeerInfo>> peers();
  Result<Account> account(const Address& address);
  Result<Hash> submit(const Transaction& tx);
  // Per transaction, its id or the node's refusal.
  Result<std::vector<Result<Hash>>> submit_batch(const std::vector<TransactionPtr>& txs);
  Result<RpcTxStatus> transaction_status(const Hash& id);
  Result<BlockPtr> block(std::uint64_t height);

  struct Response {
    int status = 0;
    std::string body;
  };
  // Any request, for routes without a typed call.
  Result<Response> get(const std::string& path);
  Result<Response> post(const std::string& path, const std::string& body,
                        const std::string& content_type = "application/json");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string chain_id_;
};

}  // namespace pos
