// The binary form of transactions, blocks, votes and evidence: exactly the signed bytes plus the
// signatures, so that a stored or relayed block is the bytes its signatures cover and its size
// is Block::encoded_size().
//   transaction = tx signing bytes || signature(64)
//   block       = header bytes || signature(64) || tx_count transactions
//   vote        = vote signing bytes || validator(32) || signature(64)
//   evidence    = evidence bytes (they hold both signatures already)
// Decoding is strict: truncation, trailing bytes, a bad tag or type are refused (kMalformed).
#pragma once

#include <string_view>

#include "pos/block.h"
#include "pos/crypto.h"
#include "pos/evidence.h"
#include "pos/status.h"
#include "pos/transaction.h"
#include "pos/vote.h"

namespace pos {

Bytes encode(const Transaction& tx);
Bytes encode(const Block& block);
Bytes encode(const Vote& vote);
Bytes encode(const Evidence& evidence);
Result<TransactionPtr> decode_transaction(ByteView bytes);
Result<BlockPtr> decode_block(ByteView bytes);
// Also refuses a chain id that is empty or longer than kMaxChainIdLength.
Result<VotePtr> decode_vote(ByteView bytes);
// Also refuses an unknown kind, and len(a) or len(b) above kMaxEvidenceItemBytes before reading
// them (kMalformed). Whether a and b parse is Evidence::check()'s question, not the decoder's.
Result<EvidencePtr> decode_evidence(ByteView bytes);

// The signed layouts alone, as evidence carries them: exactly one header's bytes or one vote's
// signing bytes, nothing after, chain_id's (kWrongChain for another chain; kMalformed for bytes
// that do not parse). The counts are not limited here: the body's checks do that.
Result<BlockHeader> parse_header_bytes(ByteView bytes, std::string_view chain_id);
// The validator is left zero: the signing bytes do not hold it.
Result<VoteFields> parse_vote_signing_bytes(ByteView bytes, std::string_view chain_id);

}  // namespace pos
