# The peer-to-peer messages of libpos (docs/p2p.md). One Envelope per Cap'n Proto
# stream-framed message on a TCP connection. Transactions, blocks, votes and evidence travel in
# their binary form (pos/codec.h: the signed bytes plus signatures), so that a relayed block is the
# bytes its signatures cover and needs no re-encoding.
@0xa998ae2a9ff4fd4b;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pos::wire");

struct Envelope {
  # The envelope's version; a receiver refuses versions it does not know. New message kinds are
  # added as new union members, which older receivers see as an unknown kind.
  version @0 :UInt16;
  union {
    hello @1 :Hello;
    getPeers @2 :Void;
    peers @3 :List(PeerAddress);
    txs @4 :List(Data);
    block @5 :Data;
    getBlocks @6 :GetBlocks;
    blocks @7 :List(Data);
    ping @8 :UInt64;
    pong @9 :UInt64;
    reject @10 :Reject;
    votes @11 :List(Data);  # FFG votes, each one vote's binary form
    evidence @12 :List(Data);  # slashing evidence, each one evidence's bytes (both signatures in)
  }
}

struct Hello {
  protocolVersion @0 :UInt16;
  chainId @1 :Text;
  genesisHash @2 :Data;     # 32 bytes
  nodeId @3 :Data;          # 32 random bytes chosen at start, to drop self-connections
  listenAddress @4 :Text;   # "host:port" where this node accepts peers, or "" if it does not
  bestHeight @5 :UInt64;
  bestHash @6 :Data;        # 32 bytes
}

struct PeerAddress {
  host @0 :Text;
  port @1 :UInt16;
}

struct GetBlocks {
  # Block hashes from the tip back, dense then exponentially sparse, ending at genesis: the
  # answer starts after the first of them on the responder's main chain.
  locator @0 :List(Data);
  maxBlocks @1 :UInt32;
}

struct Reject {
  code @0 :Text;            # a reason code of docs/consensus.md
  message @1 :Text;
}
