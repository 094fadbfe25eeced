// JSON codecs shared between the transaction and block parsers (private to core).
#pragma once

#include "json_util.h"
#include "pos/block.h"
#include "pos/transaction.h"

namespace pos::detail {

Result<TransactionPtr> transaction_from_value(const rapidjson::Value& value,
                                              std::string_view chain_id);
void write_transaction(JsonWriter& w, const Transaction& tx, bool with_id);

}  // namespace pos::detail
