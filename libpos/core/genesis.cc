#include "pos/genesis.h"

#include <algorithm>
#include <set>

#include <rapidjson/prettywriter.h>

#include "file_util.h"
#include "json_util.h"
#include "pos_fmt.h"

namespace pos {
namespace {

Error bad_genesis(std::string message) {
  return make_error(Reason::kBadGenesis, std::move(message));
}

Status validate(const Genesis& g) {
  const ChainParams& p = g.params;
  if (p.chain_id.empty() || p.chain_id.size() > kMaxChainIdLength)
    return bad_genesis(fmt::format("chain_id must be 1 to {} bytes", kMaxChainIdLength));
  for (char c : p.chain_id)
    if (c < 0x21 || c > 0x7e) return bad_genesis("chain_id must be printable ASCII without spaces");
  if (p.slot_ms == 0) return bad_genesis("slot_ms must be positive");
  if (p.epoch_slots < kMinEpochSlots)
    return bad_genesis(fmt::format("epoch_slots must be at least {}", kMinEpochSlots));
  if (p.unbonding_epochs < kMinUnbondingEpochs)
    return bad_genesis(fmt::format("unbonding_epochs must be at least {}", kMinUnbondingEpochs));
  if (p.max_block_txs == 0 || p.max_block_txs > kMaxBlockTransactions)
    return bad_genesis(fmt::format("max_block_txs must be 1 to {}", kMaxBlockTransactions));
  if (g.allocations.empty()) return bad_genesis("allocations must not be empty");
  std::uint64_t supply = 0;
  std::uint64_t stake = 0;
  std::set<Address> seen;
  for (const auto& a : g.allocations) {
    if (!seen.insert(a.address).second)
      return bad_genesis("address " + a.address.hex() + " is allocated twice");
    if (__builtin_add_overflow(supply, a.balance, &supply) ||
        __builtin_add_overflow(supply, a.stake, &supply))
      return bad_genesis("the total supply exceeds 2^64-1");
    stake += a.stake;
  }
  if (stake == 0) return bad_genesis("no allocation has stake: nobody could forge");
  return {};
}

}  // namespace

Result<Genesis> Genesis::parse(std::string_view json) {
  rapidjson::Document doc;
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok())
    return bad_genesis(parsed.error().message);
  auto obj = detail::JsonObject::open(doc, "genesis");
  if (!obj.ok()) return bad_genesis(obj.error().message);
  Genesis g;
  auto chain_id = obj->string("chain_id");
  if (!chain_id.ok()) return bad_genesis(chain_id.error().message);
  g.params.chain_id = std::string(*chain_id);
  if (obj->has("finality_depth"))
    return bad_genesis(
        "\"finality_depth\" was removed in protocol v2: blocks are final when votes finalize "
        "them (docs/consensus.md); delete the field");
  if (obj->has("unbonding_blocks"))
    return bad_genesis(fmt::format(
        "\"unbonding_blocks\" was replaced in protocol v2 by \"unbonding_epochs\" (at least {}): "
        "an unstaked amount matures that many epochs after it is finalized (docs/consensus.md)",
        kMinUnbondingEpochs));
  struct {
    const char* name;
    std::uint64_t* out;
  } numbers[] = {{"genesis_time", &g.params.genesis_time_ms}, {"slot_ms", &g.params.slot_ms}};
  for (auto& n : numbers) {
    auto v = obj->u64(n.name);
    if (!v.ok()) return bad_genesis(v.error().message);
    *n.out = *v;
  }
  // Optional, with the defaults of ChainParams.
  struct {
    const char* name;
    std::uint64_t* out;
  } optional_numbers[] = {{"unbonding_epochs", &g.params.unbonding_epochs},
                          {"epoch_slots", &g.params.epoch_slots},
                          {"max_block_txs", &g.params.max_block_txs}};
  for (auto& n : optional_numbers) {
    if (!obj->has(n.name)) continue;
    auto v = obj->u64(n.name);
    if (!v.ok()) return bad_genesis(v.error().message);
    *n.out = *v;
  }
  auto authority = obj->fixed_hex<Address>("exchange_authority");
  if (!authority.ok()) return bad_genesis(authority.error().message);
  g.params.exchange_authority = *authority;
  auto allocations = obj->array("allocations");
  if (!allocations.ok()) return bad_genesis(allocations.error().message);
  for (rapidjson::SizeType i = 0; i < (*allocations)->Size(); ++i) {
    auto item = detail::JsonObject::open((**allocations)[i], fmt::format("allocation {}", i));
    if (!item.ok()) return bad_genesis(item.error().message);
    GenesisAllocation a;
    auto address = item->fixed_hex<Address>("address");
    if (!address.ok()) return bad_genesis(address.error().message);
    a.address = *address;
    auto balance = item->u64("balance");
    if (!balance.ok()) return bad_genesis(balance.error().message);
    a.balance = *balance;
    auto stake = item->u64("stake");
    if (!stake.ok()) return bad_genesis(stake.error().message);
    a.stake = *stake;
    if (auto done = item->finish(); !done.ok()) return bad_genesis(done.error().message);
    g.allocations.push_back(a);
  }
  if (auto done = obj->finish(); !done.ok()) return bad_genesis(done.error().message);
  std::sort(g.allocations.begin(), g.allocations.end(),
            [](const auto& a, const auto& b) { return a.address < b.address; });
  if (auto valid = validate(g); !valid.ok()) return valid.error();
  return g;
}

Result<Genesis> Genesis::load(const std::filesystem::path& path) {
  auto text = detail::read_file(path);
  if (!text.ok()) return text.error();
  auto g = parse(*text);
  if (!g.ok()) return make_error(g.reason(), path.string() + ": " + g.error().message);
  return g;
}

std::string Genesis::to_json() const {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("chain_id");
  w.String(params.chain_id.c_str());
  w.Key("genesis_time");
  w.Uint64(params.genesis_time_ms);
  w.Key("slot_ms");
  w.Uint64(params.slot_ms);
  w.Key("unbonding_epochs");
  w.Uint64(params.unbonding_epochs);
  w.Key("epoch_slots");
  w.Uint64(params.epoch_slots);
  w.Key("max_block_txs");
  w.Uint64(params.max_block_txs);
  w.Key("exchange_authority");
  w.String(params.exchange_authority.hex().c_str());
  w.Key("allocations");
  w.StartArray();
  for (const auto& a : allocations) {
    w.StartObject();
    w.Key("address");
    w.String(a.address.hex().c_str());
    w.Key("balance");
    w.Uint64(a.balance);
    w.Key("stake");
    w.Uint64(a.stake);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

AccountModel Genesis::initial_state() const {
  AccountModel state(params.hash());
  for (const auto& a : allocations) state.put(a.address, Account{a.balance, a.stake, 0, 0, 0});
  return state;
}

BlockPtr Genesis::block() const {
  BlockHeader h;
  h.chain_id = params.chain_id;
  h.height = 0;
  h.slot = 0;
  h.timestamp_ms = params.genesis_time_ms;
  h.tx_root = merkle_root({});
  h.vote_root = merkle_root({});
  h.evidence_root = merkle_root({});
  h.state_root = initial_state().state_root();
  h.tx_count = 0;
  return Block::make(std::move(h), Signature{}, {});
}

}  // namespace pos
