// The peer-to-peer messages as plain values, and their frames on the wire: Cap'n Proto stream
// framing of one Envelope (libpos/p2p/schema/messages.capnp). Decoding checks every size before
// it allocates and refuses what an honest peer never sends. No Cap'n Proto type appears here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pos/block.h"
#include "pos/consensus.h"
#include "pos/crypto.h"
#include "pos/evidence.h"
#include "pos/status.h"
#include "pos/transaction.h"
#include "pos/vote.h"

namespace pos::p2p {

inline constexpr std::uint16_t kEnvelopeVersion = 1;
inline constexpr std::uint16_t kProtocolVersion = 2;  // 2: blocks v2 (VRF proof, epochs)
// Largest frame: room for a Blocks batch of a few full blocks.
inline constexpr std::size_t kMaxFrameBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxFrameSegments = 64;
inline constexpr std::size_t kMaxTxsPerMessage = 1000;
// Votes in one Votes message. A vote is at most 253 bytes, so a full message is under 300 KiB,
// far below the frame limit; 1024 holds five slots of votes of 200 validators (an honest node
// relays at once what it kept from one message, or its own vote), and keeps the work one message
// can ask for (decoding, hashing, then the node's signature checks) small next to a block's.
inline constexpr std::size_t kMaxVotesPerMessage = 1024;
// Evidence in one EvidenceList message (64): as many as one block may carry, so that what a leader
// could include goes out in one message, and honest gossip (a handful per offender) never comes
// near it. An evidence is at most 2,232 bytes (items bounded by kMaxEvidenceItemBytes), so a
// full message is under 150 KiB, and the node's work for one is at most 128 signature checks.
inline constexpr std::size_t kMaxEvidencePerMessage = kMaxBlockEvidence;
inline constexpr std::size_t kMaxBlocksPerMessage = 500;
inline constexpr std::size_t kMaxLocatorHashes = 64;
inline constexpr std::size_t kMaxPeersPerMessage = 100;
inline constexpr std::size_t kMaxTextBytes = 256;

struct Hello {
  std::uint16_t protocol_version = kProtocolVersion;
  std::string chain_id;
  Hash genesis_hash;
  Hash node_id;
  std::string listen_address;  // "host:port", or empty when the node accepts no peers
  std::uint64_t best_height = 0;
  Hash best_hash;
};
struct GetPeers {};
struct PeerAddress {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const PeerAddress&) const = default;
};
// "host:port" (an IPv6 host may be in brackets, which are dropped) as an address; port 0 only
// when allowed (a listener that lets the system pick). The refusal says what is wrong.
Result<PeerAddress> parse_peer_address(std::string_view text, bool allow_port_zero = false);
std::string to_string(const PeerAddress& address);
struct Peers {
  std::vector<PeerAddress> peers;
};
struct Txs {
  std::vector<TransactionPtr> txs;
};
struct NewBlock {
  BlockPtr block;
};
struct GetBlocks {
  std::vector<Hash> locator;
  std::uint32_t max_blocks = 0;
};
struct Blocks {
  std::vector<BlockPtr> blocks;
};
struct Ping {
  std::uint64_t nonce = 0;
};
struct Pong {
  std::uint64_t nonce = 0;
};
struct Reject {
  std::string code;
  std::string message;
};
// FFG votes (gossip). Never the same vote id twice in one message.
struct Votes {
  std::vector<VotePtr> votes;
};
// Slashing evidence (gossip). Never the same evidence id twice in one message.
struct EvidenceList {
  std::vector<EvidencePtr> evidence;
};

using Message = std::variant<Hello, GetPeers, Peers, Txs, NewBlock, GetBlocks, Blocks, Ping, Pong,
                             Reject, Votes, EvidenceList>;

// The message's kind, for logs and per-kind limits ("hello", "txs", "votes", "evidence", ...).
std::string_view message_kind(const Message& message);

// One whole frame: the Cap'n Proto segment table and segments of one Envelope.
Bytes encode_frame(const Message& message);

// From the first bytes of a stream: the whole frame's size once the segment table is complete,
// nothing while more bytes are needed, or a refusal (too many segments, too large) before any
// allocation.
Result<std::optional<std::size_t>> frame_size(ByteView prefix);

// Decodes one whole frame. Transactions, blocks, votes and evidence are parsed from their binary
// form; a transaction, block, vote or evidence of another chain than chain_id is refused
// (kWrongChain). Lists are checked against their limits from their size, before any element is
// decoded; a vote id twice in one Votes message, or an evidence id twice in one EvidenceList, is
// kMalformed. Signatures are not checked here, nor the rest of Evidence::check: that is the
// node's work.
Result<Message> decode_frame(ByteView frame, std::string_view chain_id);

}  // namespace pos::p2p
