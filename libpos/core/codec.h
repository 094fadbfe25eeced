// JSON codecs shared between the transaction and block parsers (private to core).
#pragma once

#include "json_util.h"
#include "pos/block.h"
#include "pos/evidence.h"
#include "pos/transaction.h"
#include "pos/vote.h"

namespace pos::detail {

Result<TransactionPtr> transaction_from_value(const rapidjson::Value& value,
                                              std::string_view chain_id);
void write_transaction(JsonWriter& w, const Transaction& tx, bool with_id);
Result<VotePtr> vote_from_value(const rapidjson::Value& value, std::string_view chain_id);
void write_vote(JsonWriter& w, const Vote& vote, bool with_id);
Result<EvidencePtr> evidence_from_value(const rapidjson::Value& value);
void write_evidence(JsonWriter& w, const Evidence& evidence, bool with_id);

}  // namespace pos::detail
