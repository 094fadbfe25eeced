// The binary form of transactions and blocks: exactly the signed bytes plus the signatures, so
// that a stored or relayed block is the bytes its signatures cover and its size is
// Block::encoded_size().
//   transaction = tx signing bytes || signature(64)
//   block       = header bytes || signature(64) || tx_count transactions
// Decoding is strict: truncation, trailing bytes, a bad tag or type are refused (kMalformed).
#pragma once

#include "pos/block.h"
#include "pos/crypto.h"
#include "pos/status.h"
#include "pos/transaction.h"

namespace pos {

Bytes encode(const Transaction& tx);
Bytes encode(const Block& block);
Result<TransactionPtr> decode_transaction(ByteView bytes);
Result<BlockPtr> decode_block(ByteView bytes);

}  // namespace pos
