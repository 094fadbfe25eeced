#include "pos/p2p_messages.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <iterator>
#include <unordered_set>

#include "pos/codec.h"
#include "pos_fmt.h"
#include "schema/messages.capnp.h"

namespace pos::p2p {
namespace {

Error malformed(std::string message) {
  return make_error(Reason::kMalformed, std::move(message));
}

capnp::Data::Reader data_of(ByteView bytes) {
  return capnp::Data::Reader(bytes.data(), bytes.size());
}

ByteView view_of(capnp::Data::Reader data) {
  return ByteView(data.begin(), data.size());
}

template <class Fixed>
Result<Fixed> fixed_of(capnp::Data::Reader data, const char* what) {
  if (data.size() != Fixed::size())
    return malformed(fmt::format("{} must be {} bytes, got {}", what, Fixed::size(), data.size()));
  return Fixed::from_bytes(view_of(data));
}

Result<std::string> text_of(capnp::Text::Reader text, const char* what) {
  if (text.size() > kMaxTextBytes)
    return malformed(fmt::format("{} longer than {} bytes", what, kMaxTextBytes));
  return std::string(text.cStr(), text.size());
}

Error too_many(const char* what, std::size_t n, std::size_t limit) {
  return malformed(fmt::format("{} {} in one message, the limit is {}", n, what, limit));
}

Status same_chain(const std::string& got, std::string_view chain_id, const char* what) {
  if (got != chain_id)
    return make_error(Reason::kWrongChain,
                      fmt::format("{} for chain \"{}\", this is \"{}\"", what, got, chain_id));
  return {};
}

Result<BlockPtr> block_of(capnp::Data::Reader data, std::string_view chain_id) {
  auto block = decode_block(view_of(data));
  if (!block.ok()) return block.error();
  if (auto ok = same_chain((*block)->header().chain_id, chain_id, "block"); !ok.ok())
    return ok.error();
  return block;
}

// Another chain's evidence is refused here, as another chain's vote is: the chain id is in each
// item's layout, which parses without a signature check. Items that do not parse are left to
// Evidence::check at the node, whose refusal (bad_evidence) they are.
Status evidence_chain(const Evidence& evidence, std::string_view chain_id) {
  for (const Bytes* item : {&evidence.a(), &evidence.b()}) {
    std::optional<Error> refused;
    if (evidence.kind() == EvidenceKind::kDoubleBlock) {
      if (auto h = parse_header_bytes(*item, chain_id); !h.ok()) refused = h.error();
    } else if (auto v = parse_vote_signing_bytes(*item, chain_id); !v.ok()) {
      refused = v.error();
    }
    if (refused && refused->reason == Reason::kWrongChain)
      return make_error(Reason::kWrongChain,
                        fmt::format("evidence {}: {}", evidence.id(), refused->message));
  }
  return {};
}

Result<Message> to_message(wire::Envelope::Reader env, std::string_view chain_id) {
  if (env.getVersion() != kEnvelopeVersion)
    return malformed(fmt::format("envelope version {}, this node speaks {}", env.getVersion(),
                                 kEnvelopeVersion));
  switch (env.which()) {
    case wire::Envelope::HELLO: {
      auto h = env.getHello();
      Hello hello;
      hello.protocol_version = h.getProtocolVersion();
      auto chain = text_of(h.getChainId(), "chain id");
      auto listen = text_of(h.getListenAddress(), "listen address");
      auto genesis = fixed_of<Hash>(h.getGenesisHash(), "genesis hash");
      auto node = fixed_of<Hash>(h.getNodeId(), "node id");
      auto best = fixed_of<Hash>(h.getBestHash(), "best hash");
      for (const Error* e :
           {chain.ok() ? nullptr : &chain.error(), listen.ok() ? nullptr : &listen.error(),
            genesis.ok() ? nullptr : &genesis.error(), node.ok() ? nullptr : &node.error(),
            best.ok() ? nullptr : &best.error()})
        if (e != nullptr) return *e;
      hello.chain_id = *chain;
      hello.listen_address = *listen;
      hello.genesis_hash = *genesis;
      hello.node_id = *node;
      hello.best_height = h.getBestHeight();
      hello.best_hash = *best;
      return Message(hello);
    }
    case wire::Envelope::GET_PEERS:
      return Message(GetPeers{});
    case wire::Envelope::PEERS: {
      auto list = env.getPeers();
      if (list.size() > kMaxPeersPerMessage)
        return too_many("peers", list.size(), kMaxPeersPerMessage);
      Peers peers;
      for (auto p : list) {
        auto host = text_of(p.getHost(), "peer host");
        if (!host.ok()) return host.error();
        peers.peers.push_back(PeerAddress{*host, p.getPort()});
      }
      return Message(peers);
    }
    case wire::Envelope::TXS: {
      auto list = env.getTxs();
      if (list.size() > kMaxTxsPerMessage)
        return too_many("transactions", list.size(), kMaxTxsPerMessage);
      Txs txs;
      for (auto data : list) {
        auto tx = decode_transaction(view_of(data));
        if (!tx.ok()) return tx.error();
        if (auto ok = same_chain((*tx)->chain_id(), chain_id, "transaction"); !ok.ok())
          return ok.error();
        txs.txs.push_back(std::move(*tx));
      }
      return Message(txs);
    }
    case wire::Envelope::BLOCK: {
      auto block = block_of(env.getBlock(), chain_id);
      if (!block.ok()) return block.error();
      return Message(NewBlock{*block});
    }
    case wire::Envelope::GET_BLOCKS: {
      auto g = env.getGetBlocks();
      if (g.getLocator().size() > kMaxLocatorHashes)
        return too_many("locator hashes", g.getLocator().size(), kMaxLocatorHashes);
      GetBlocks get;
      for (auto data : g.getLocator()) {
        auto hash = fixed_of<Hash>(data, "locator hash");
        if (!hash.ok()) return hash.error();
        get.locator.push_back(*hash);
      }
      get.max_blocks = g.getMaxBlocks();
      return Message(get);
    }
    case wire::Envelope::BLOCKS: {
      auto list = env.getBlocks();
      if (list.size() > kMaxBlocksPerMessage)
        return too_many("blocks", list.size(), kMaxBlocksPerMessage);
      Blocks blocks;
      for (auto data : list) {
        auto block = block_of(data, chain_id);
        if (!block.ok()) return block.error();
        blocks.blocks.push_back(*block);
      }
      return Message(blocks);
    }
    case wire::Envelope::PING:
      return Message(Ping{env.getPing()});
    case wire::Envelope::PONG:
      return Message(Pong{env.getPong()});
    case wire::Envelope::VOTES: {
      auto list = env.getVotes();
      if (list.size() > kMaxVotesPerMessage)
        return too_many("votes", list.size(), kMaxVotesPerMessage);
      Votes votes;
      votes.votes.reserve(list.size());
      std::unordered_set<Hash> ids;
      for (auto data : list) {
        auto vote = decode_vote(view_of(data));
        if (!vote.ok()) return vote.error();
        if (auto ok = same_chain((*vote)->chain_id(), chain_id, "vote"); !ok.ok())
          return ok.error();
        // An honest sender never repeats a vote within a message.
        if (!ids.insert((*vote)->id()).second)
          return malformed(fmt::format("vote {} twice in one message", (*vote)->id()));
        votes.votes.push_back(std::move(*vote));
      }
      return Message(votes);
    }
    case wire::Envelope::EVIDENCE: {
      auto list = env.getEvidence();
      if (list.size() > kMaxEvidencePerMessage)
        return too_many("evidence", list.size(), kMaxEvidencePerMessage);
      EvidenceList evidence;
      evidence.evidence.reserve(list.size());
      std::unordered_set<Hash> ids;
      for (auto data : list) {
        auto e = decode_evidence(view_of(data));
        if (!e.ok()) return e.error();
        if (auto ok = evidence_chain(**e, chain_id); !ok.ok()) return ok.error();
        // An honest sender never repeats evidence within a message.
        if (!ids.insert((*e)->id()).second)
          return malformed(fmt::format("evidence {} twice in one message", (*e)->id()));
        evidence.evidence.push_back(std::move(*e));
      }
      return Message(evidence);
    }
    case wire::Envelope::REJECT: {
      auto r = env.getReject();
      auto code = text_of(r.getCode(), "reject code");
      auto message = text_of(r.getMessage(), "reject message");
      if (!code.ok()) return code.error();
      if (!message.ok()) return message.error();
      return Message(Reject{*code, *message});
    }
  }
  return malformed(fmt::format("unknown message kind {}", static_cast<int>(env.which())));
}

struct Encoder {
  wire::Envelope::Builder env;
  void operator()(const Hello& h) {
    auto b = env.initHello();
    b.setProtocolVersion(h.protocol_version);
    b.setChainId(h.chain_id);
    b.setGenesisHash(data_of(h.genesis_hash.view()));
    b.setNodeId(data_of(h.node_id.view()));
    b.setListenAddress(h.listen_address);
    b.setBestHeight(h.best_height);
    b.setBestHash(data_of(h.best_hash.view()));
  }
  void operator()(const GetPeers&) { env.setGetPeers(); }
  void operator()(const Peers& p) {
    auto list = env.initPeers(static_cast<unsigned>(p.peers.size()));
    for (unsigned i = 0; i < list.size(); ++i) {
      list[i].setHost(p.peers[i].host);
      list[i].setPort(p.peers[i].port);
    }
  }
  void operator()(const Txs& t) {
    auto list = env.initTxs(static_cast<unsigned>(t.txs.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, data_of(encode(*t.txs[i])));
  }
  void operator()(const NewBlock& b) { env.setBlock(data_of(encode(*b.block))); }
  void operator()(const GetBlocks& g) {
    auto b = env.initGetBlocks();
    auto list = b.initLocator(static_cast<unsigned>(g.locator.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, data_of(g.locator[i].view()));
    b.setMaxBlocks(g.max_blocks);
  }
  void operator()(const Blocks& b) {
    auto list = env.initBlocks(static_cast<unsigned>(b.blocks.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, data_of(encode(*b.blocks[i])));
  }
  void operator()(const Ping& p) { env.setPing(p.nonce); }
  void operator()(const Pong& p) { env.setPong(p.nonce); }
  void operator()(const Reject& r) {
    auto b = env.initReject();
    b.setCode(r.code);
    b.setMessage(r.message);
  }
  void operator()(const Votes& v) {
    auto list = env.initVotes(static_cast<unsigned>(v.votes.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, data_of(encode(*v.votes[i])));
  }
  void operator()(const EvidenceList& e) {
    auto list = env.initEvidence(static_cast<unsigned>(e.evidence.size()));
    for (unsigned i = 0; i < list.size(); ++i) list.set(i, data_of(e.evidence[i]->bytes()));
  }
};

std::uint32_t read_le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

Result<PeerAddress> parse_peer_address(std::string_view text, bool allow_port_zero) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return make_error(Reason::kInvalidArgument, fmt::format("\"{}\" must be HOST:PORT", text));
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string_view port_text = text.substr(colon + 1);
  unsigned long port = 0;
  bool digits = !port_text.empty() && port_text.size() <= 5 &&
                port_text.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits) port = std::stoul(std::string(port_text));
  unsigned long lowest = allow_port_zero ? 0 : 1;
  if (!digits || port < lowest || port > 65535)
    return make_error(Reason::kInvalidArgument,
                      fmt::format("\"{}\": the port must be {} to 65535", text, lowest));
  return PeerAddress{host, static_cast<std::uint16_t>(port)};
}

std::string to_string(const PeerAddress& address) {
  bool ipv6 = address.host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("[{}]:{}", address.host, address.port)
              : fmt::format("{}:{}", address.host, address.port);
}

std::string_view message_kind(const Message& message) {
  static constexpr std::string_view kNames[] = {"hello", "get_peers",  "peers",  "txs",
                                                "block", "get_blocks", "blocks", "ping",
                                                "pong",  "reject",     "votes",  "evidence"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>, "a name for every kind");
  return kNames[message.index()];
}

Bytes encode_frame(const Message& message) {
  capnp::MallocMessageBuilder builder;
  auto env = builder.initRoot<wire::Envelope>();
  env.setVersion(kEnvelopeVersion);
  std::visit(Encoder{env}, message);
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

Result<std::optional<std::size_t>> frame_size(ByteView prefix) {
  if (prefix.size() < 4) return std::optional<std::size_t>();
  std::uint64_t segments = std::uint64_t{read_le32(prefix.data())} + 1;
  if (segments > kMaxFrameSegments)
    return malformed(
        fmt::format("frame of {} segments, the limit is {}", segments, kMaxFrameSegments));
  std::uint64_t table = (4 + 4 * segments + 7) / 8 * 8;
  if (prefix.size() < table) return std::optional<std::size_t>();
  std::uint64_t words = 0;
  for (std::uint64_t i = 0; i < segments; ++i) words += read_le32(prefix.data() + 4 + 4 * i);
  std::uint64_t total = table + 8 * words;
  if (total > kMaxFrameBytes)
    return make_error(Reason::kMalformed,
                      fmt::format("frame of {} bytes, the limit is {}", total, kMaxFrameBytes));
  return std::optional<std::size_t>(static_cast<std::size_t>(total));
}

Result<Message> decode_frame(ByteView frame, std::string_view chain_id) {
  auto size = frame_size(frame);
  if (!size.ok()) return size.error();
  if (!*size || **size != frame.size())
    return malformed(
        fmt::format("frame of {} bytes does not match its segment table", frame.size()));
  // Cap'n Proto reads words: copy into aligned memory, bounded by the checks above.
  auto words = kj::heapArray<capnp::word>(frame.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), frame.data(), frame.size());
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words.size() + 64;  // each word read at most about once
  options.nestingLimit = 16;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    return to_message(reader.getRoot<wire::Envelope>(), chain_id);
  } catch (const kj::Exception& e) {
    return malformed(fmt::format("undecodable frame: {}", e.getDescription().cStr()));
  }
}

}  // namespace pos::p2p
