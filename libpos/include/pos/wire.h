// The JSON shapes of the node's API beside those of transactions and blocks (transaction.h,
// block.h): each has one writer, used by the RPC server, and one strict reader, used by
// RpcClient (and so by pypos and the programs). A reader refuses an answer that lacks a field
// or has one of the wrong type (kMalformed, naming it); fields it does not know are ignored, so
// that a newer node can add some.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/account_model.h"
#include "pos/crypto.h"
#include "pos/status.h"
#include "pos/vote.h"

namespace pos {

// GET /info.
struct NodeInfo {
  std::string chain_id;
  Hash genesis_hash;
  // The peer-to-peer protocol version of the node's Hello, when the node says it (the RPC
  // layer knows it only from its RpcIdentity).
  std::optional<std::uint16_t> protocol_version;
  std::uint64_t height = 0;
  Hash tip;
  Hash state_root;
  std::uint64_t slot = 0;
  // slot / epoch_slots. Optional for readers: the server always writes it, but answers of
  // nodes from before it lack it.
  std::optional<std::uint64_t> epoch;
  // What the votes included in the best chain justify and finalize (see FinalityInfo).
  std::uint64_t justified_height = 0;
  std::uint64_t finalized_height = 0;
  Hash finalized_hash;
  std::uint64_t peers = 0;
  std::uint64_t pool_size = 0;
  bool syncing = false;
  std::string version;
  std::optional<Address> address;  // a validator's own
};
std::string to_json(const NodeInfo& info);
Result<NodeInfo> node_info_from_json(std::string_view json);

// GET /finality: the node's highest justified block and its finalized block, as the votes
// included in its best chain make them (docs/consensus.md). No check relates the two: the
// reader takes what the node says.
struct FinalityCheckpoint {
  std::uint64_t height = 0;
  Hash hash;

  bool operator==(const FinalityCheckpoint&) const = default;
};
struct FinalityInfo {
  FinalityCheckpoint justified;
  FinalityCheckpoint finalized;

  bool operator==(const FinalityInfo&) const = default;
};
std::string to_json(const FinalityInfo& finality);
Result<FinalityInfo> finality_info_from_json(std::string_view json);

// GET /validators?epoch=E: the validator set that draws the epoch's slot leaders on the node's
// best chain, and the epoch's nonce there. The reader checks what the node promises: the
// addresses ascending (so each once) and total_stake their stakes' sum.
struct ValidatorStake {
  Address address;
  std::uint64_t stake = 0;

  bool operator==(const ValidatorStake&) const = default;
};
struct ValidatorSetInfo {
  std::uint64_t epoch = 0;
  Hash nonce;
  std::uint64_t total_stake = 0;
  std::vector<ValidatorStake> validators;  // by address, ascending

  bool operator==(const ValidatorSetInfo&) const = default;
};
std::string to_json(const ValidatorSetInfo& set);
// With `expected_epoch`, an answer for another epoch is refused.
Result<ValidatorSetInfo> validator_set_from_json(
    std::string_view json, std::optional<std::uint64_t> expected_epoch = std::nullopt);

// GET /votes?target=HASH: the votes a node holds in its vote pool for one target block, in the
// vote JSON of pos/vote.h (with ids). The reader refuses an answer for another target, or with
// a vote for another target; the votes' signatures are not its business (Vote::check).
struct TargetVotesInfo {
  Hash target;
  std::vector<VotePtr> votes;
};
std::string to_json(const TargetVotesInfo& votes);
Result<TargetVotesInfo> target_votes_from_json(std::string_view json, std::string_view chain_id,
                                               const Hash& expected);

// GET /accounts/{address}.
std::string account_to_json(const Address& address, const Account& account);
Result<Account> account_from_json(std::string_view json, const Address& expected);

// GET /peers: the connected peers.
struct PeerInfo {
  std::string address;  // the socket's remote "ip:port"
  std::string listen_address;
  Hash node_id;
  bool inbound = false;
  std::uint64_t best_height = 0;
  int misbehaviour = 0;  // this node's count; not part of the JSON
};
std::string peers_to_json(const std::vector<PeerInfo>& peers);
Result<std::vector<PeerInfo>> peers_from_json(std::string_view json);

// GET /transactions/{id}: what a client needs of it (the route adds more for people).
struct TxStatus {
  Hash id;
  std::string status;                   // "pending", "included" or "unknown"
  std::optional<std::uint64_t> height;  // when included
  std::optional<Hash> block;            // when included
};
Result<TxStatus> tx_status_from_json(std::string_view json, const Hash& expected);

}  // namespace pos
