// PeerNetwork: the TCP transport. Connections, the handshake, the address book and peer
// exchange, framing and bounded reads, per-peer rate limits, misbehaviour and bans, gossip and
// block sync, on the node's event loop. What a message means for the chain it leaves to the
// node (NetworkHandler); it never decides consensus.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pos/clock.h"
#include "pos/event_loop.h"
#include "pos/log.h"
#include "pos/node_api.h"
#include "pos/status.h"
#include "pos/transport.h"

namespace pos {

class SignatureVerifier;

struct PeerNetworkConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: the system picks; see PeerNetwork::port()
  bool listen = true;
  std::vector<std::string> seeds;  // "host:port", dialled and redialled with backoff
  // Where the two longest-connected outbound peers are kept for the next start, which dials
  // them as it dials seeds when discovery is on (docs/p2p.md, "Defence"); empty: none. pos-node
  // keeps it in the data dir.
  std::filesystem::path anchors_file;
  // Dial the addresses peers tell about (peer exchange). Off: only the seeds are dialled.
  bool discovery = true;
  std::size_t max_inbound = 32;
  // Of those, at most this many from one IP address, and from one network group (an IPv4 /16,
  // an IPv6 /32): one operator cannot take every inbound slot (docs/p2p.md, "Defence"). Several
  // nodes on one machine share its address; the defaults leave room for eight.
  std::size_t max_inbound_per_ip = 8;
  std::size_t max_inbound_per_group = 16;
  std::size_t max_outbound = 8;
  std::uint64_t handshake_timeout_ms = 5'000;
  std::uint64_t idle_timeout_ms = 60'000;
  std::uint64_t ping_interval_ms = 15'000;
  std::uint64_t ban_ms = 10 * 60'000;
  std::uint64_t redial_initial_ms = 250;
  std::uint64_t redial_max_ms = 30'000;
  std::uint32_t sync_batch_blocks = 200;
  std::size_t sync_batch_bytes = 8 * 1024 * 1024;
  std::uint32_t max_messages_per_second = 1'000;
  // Each peer's byte budget over all its frames: a token bucket refilled at max_bytes_per_second
  // up to twice that (and never less than one frame of the largest size). A frame over it is not
  // decoded and costs rate_limited's penalty. 16 MiB a second is five times an honest sync at
  // full speed; the budget bounds the decoding one peer can ask for.
  std::size_t max_bytes_per_second = 16 * 1024 * 1024;
  // All peers' frames together: a frame's body is read from its socket only while this shared
  // budget allows (the rest wait in the kernel, and TCP slows their senders; nothing is dropped
  // or blamed). Each peer's budget bounds its share; this bounds the decoding (about 2 µs per
  // transaction: ids are SHA-256) that any number of connections can ask of the event loop:
  // transactions or blocks this node has seen already cost no penalty, so peers replaying them
  // from many addresses would otherwise keep the loop busy. 16 MiB a second is five times an
  // honest sync at full speed.
  std::size_t max_read_bytes_per_second = 16 * 1024 * 1024;
  // Each peer's budget of transaction signature checks: a token bucket refilled at
  // max_tx_signatures_per_second up to max_tx_signature_burst, spent by the transactions that
  // pass the cheap checks (nonce, balance, fee, form). Beyond it they are dropped unchecked and
  // unremembered, with no penalty: an honest peer relaying a busy network's transactions may go
  // over (they reach this node in blocks), and the cut alone bounds the work. A node relays
  // about what its clients submit, a few thousand a second at this machine's throughput.
  std::uint32_t max_tx_signatures_per_second = 5'000;
  std::uint32_t max_tx_signature_burst = 10'000;
  // Each peer's budget of transactions refused as unfunded (stale_nonce, nonce_gap,
  // insufficient_funds, insufficient_stake, slashed, fee_too_low, sender_limit,
  // replacement_underpriced): refusals that cost no penalty, since a peer on another tip or with
  // other pool settings relays a few in good faith, and no signature check, but are a flood when
  // they never stop. Beyond 200 a second, bursts of 2,000, each message with such refusals costs
  // rate_limited's penalty.
  std::uint32_t max_unfunded_txs_per_second = 200;
  std::uint32_t max_unfunded_tx_burst = 2'000;
  // Each peer's vote budget (docs/p2p.md): a token bucket refilled at max_votes_per_second up to
  // max_vote_burst. 200 validators voting about once per 1-second slot make about 200 votes a
  // second, each relayed once by each peer; 2,000/s is ten times that, and a burst of 4,000
  // lets a peer pass on what it gathered over a few seconds of a slow link at once. Votes over
  // the budget are dropped before the node sees them (no signature check) and cost the peer
  // rate_limited's penalty, once per message.
  std::uint32_t max_votes_per_second = 2'000;
  std::uint32_t max_vote_burst = 4'000;
  // Each peer's evidence budget, a token bucket like the vote budget. Evidence is rare: an honest
  // network makes a handful per offender, each relayed once by each peer, so 20 a second and a
  // burst of 128 (two full messages) are far above what an honest peer sends, and bound the
  // signature checks a peer can ask for. Over the budget: dropped and penalised as votes are.
  std::uint32_t max_evidence_per_second = 20;
  std::uint32_t max_evidence_burst = 128;
  // Bans apply to the offender's IP address. Off for networks whose peers share one address
  // (several nodes on one machine); then only the offending connection and node id are banned.
  bool ban_by_ip = true;
};

// What the network knows of its peers, for NodeStatus.
struct NetworkStatus {
  std::vector<PeerInfo> peers;  // ready ones
  std::size_t banned = 0;       // bans in force: one per address, one per node id
  std::optional<Hash> syncing_from;
  std::uint64_t connections_dropped = 0;
  std::size_t known_addresses = 0;  // in the address book
};

class PeerNetwork final : public Transport {
 public:
  // On the loop thread: binds the listener (refused with kIoError if it cannot) and starts
  // dialling the seeds. `handler` and `clock` (for bans) must outlive the network.
  static Result<std::unique_ptr<PeerNetwork>> start(EventLoop& loop, PeerNetworkConfig config,
                                                    std::string chain_id, Hash genesis_hash,
                                                    NetworkHandler& handler, const Clock& clock,
                                                    Logger log);
  // On the loop thread: closes every connection.
  ~PeerNetwork() override;
  PeerNetwork(const PeerNetwork&) = delete;
  PeerNetwork& operator=(const PeerNetwork&) = delete;

  std::uint16_t port() const;
  const Hash& node_id() const;
  NetworkStatus status() const;
  // Dials a peer now ("host:port"), as a seed would be.
  void connect(const std::string& address);
  // Closes every connection and forgets every address: the node is alone until told otherwise.
  void isolate();
  // Where peers' transaction signatures are checked, off the event loop (not owned; it must
  // outlive the network). Without one they are checked on the loop, by the node's pool.
  void set_verifier(SignatureVerifier* verifier);

  void broadcast_block(const BlockPtr& block, PeerId except) override;
  void broadcast_transactions(const std::vector<TransactionPtr>& txs, PeerId except) override;
  // Relays votes to every ready peer but `except`, in messages of at most kMaxVotesPerMessage,
  // and remembers their ids so that they are not processed again when peers echo them.
  void broadcast_votes(const std::vector<VotePtr>& votes, PeerId except) override;
  // The same for evidence, in messages of at most kMaxEvidencePerMessage.
  void broadcast_evidence(const std::vector<EvidencePtr>& evidence, PeerId except) override;
  std::size_t ready_peers() const override;
  bool peer_ahead() const override;

  class Impl;

 private:
  explicit PeerNetwork(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pos
