#include "pos/wire.h"

#include "codec.h"
#include "json_util.h"
#include "pos_fmt.h"

namespace pos {
namespace {

using detail::JsonObject;
using detail::JsonWriter;
using detail::write_key;
using detail::write_string;

// The answer as a JSON object, named for messages.
Result<JsonObject> open_answer(std::string_view json, rapidjson::Document& doc, const char* what) {
  if (auto parsed = detail::parse_json(json, doc); !parsed.ok()) return parsed.error();
  return JsonObject::open(doc, what);
}

template <class T>
Status take(Result<T> value, T& into) {
  if (!value.ok()) return value.error();
  into = std::move(*value);
  return {};
}

}  // namespace

std::string to_json(const NodeInfo& info) {
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  write_key(w, "chain_id");
  write_string(w, info.chain_id);
  write_key(w, "genesis_hash");
  write_string(w, info.genesis_hash.hex());
  if (info.protocol_version) {
    write_key(w, "protocol_version");
    w.Uint(*info.protocol_version);
  }
  write_key(w, "height");
  w.Uint64(info.height);
  write_key(w, "tip");
  write_string(w, info.tip.hex());
  write_key(w, "state_root");
  write_string(w, info.state_root.hex());
  write_key(w, "slot");
  w.Uint64(info.slot);
  if (info.epoch) {
    write_key(w, "epoch");
    w.Uint64(*info.epoch);
  }
  write_key(w, "justified_height");
  w.Uint64(info.justified_height);
  write_key(w, "finalized_height");
  w.Uint64(info.finalized_height);
  write_key(w, "finalized_hash");
  write_string(w, info.finalized_hash.hex());
  write_key(w, "peers");
  w.Uint64(info.peers);
  write_key(w, "pool_size");
  w.Uint64(info.pool_size);
  write_key(w, "syncing");
  w.Bool(info.syncing);
  write_key(w, "version");
  write_string(w, info.version);
  if (info.address) {
    write_key(w, "address");
    write_string(w, info.address->hex());
  }
  w.EndObject();
  return out.GetString();
}

Result<NodeInfo> node_info_from_json(std::string_view json) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "node info");
  if (!o.ok()) return o.error();
  NodeInfo info;
  std::string_view chain_id, version;
  for (Status s :
       {take(o->string("chain_id"), chain_id),
        take(o->fixed_hex<Hash>("genesis_hash"), info.genesis_hash),
        take(o->u64("height"), info.height), take(o->fixed_hex<Hash>("tip"), info.tip),
        take(o->fixed_hex<Hash>("state_root"), info.state_root), take(o->u64("slot"), info.slot),
        take(o->u64("justified_height"), info.justified_height),
        take(o->u64("finalized_height"), info.finalized_height),
        take(o->fixed_hex<Hash>("finalized_hash"), info.finalized_hash),
        take(o->u64("peers"), info.peers), take(o->u64("pool_size"), info.pool_size),
        take(o->boolean("syncing"), info.syncing), take(o->string("version"), version)})
    if (!s.ok()) return s.error();
  info.chain_id = chain_id;
  info.version = version;
  if (o->has("epoch")) {
    std::uint64_t epoch = 0;
    if (auto s = take(o->u64("epoch"), epoch); !s.ok()) return s.error();
    info.epoch = epoch;
  }
  if (o->has("protocol_version")) {
    std::uint64_t protocol = 0;
    if (auto s = take(o->u64("protocol_version"), protocol); !s.ok()) return s.error();
    if (protocol > 0xffff) return o->field_error("protocol_version", "must be at most 65535");
    info.protocol_version = static_cast<std::uint16_t>(protocol);
  }
  if (o->has("address")) {
    Address address;
    if (auto s = take(o->fixed_hex<Address>("address"), address); !s.ok()) return s.error();
    info.address = address;
  }
  return info;
}

namespace {

void write_checkpoint(JsonWriter& w, const char* name, const FinalityCheckpoint& c) {
  write_key(w, name);
  w.StartObject();
  write_key(w, "height");
  w.Uint64(c.height);
  write_key(w, "hash");
  write_string(w, c.hash.hex());
  w.EndObject();
}

// The object `name` of `o` (in `doc`) as a checkpoint: {"height", "hash"}.
Status read_checkpoint(JsonObject& o, const rapidjson::Value& doc, const char* name,
                       FinalityCheckpoint& into) {
  if (!o.has(name)) return o.field_error(name, "is missing");
  auto c = JsonObject::open(doc[name], std::string("finality: field \"") + name + "\"");
  if (!c.ok()) return c.error();
  for (Status s :
       {take(c->u64("height"), into.height), take(c->fixed_hex<Hash>("hash"), into.hash)})
    if (!s.ok()) return s.error();
  return {};
}

}  // namespace

std::string to_json(const FinalityInfo& finality) {
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  write_checkpoint(w, "justified", finality.justified);
  write_checkpoint(w, "finalized", finality.finalized);
  w.EndObject();
  return out.GetString();
}

Result<FinalityInfo> finality_info_from_json(std::string_view json) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "finality");
  if (!o.ok()) return o.error();
  FinalityInfo f;
  for (Status s : {read_checkpoint(*o, doc, "justified", f.justified),
                   read_checkpoint(*o, doc, "finalized", f.finalized)})
    if (!s.ok()) return s.error();
  return f;
}

std::string to_json(const ValidatorSetInfo& set) {
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  write_key(w, "epoch");
  w.Uint64(set.epoch);
  write_key(w, "nonce");
  write_string(w, set.nonce.hex());
  write_key(w, "total_stake");
  w.Uint64(set.total_stake);
  write_key(w, "validators");
  w.StartArray();
  for (const auto& v : set.validators) {
    w.StartObject();
    write_key(w, "address");
    write_string(w, v.address.hex());
    write_key(w, "stake");
    w.Uint64(v.stake);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out.GetString();
}

Result<ValidatorSetInfo> validator_set_from_json(std::string_view json,
                                                 std::optional<std::uint64_t> expected_epoch) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "validator set");
  if (!o.ok()) return o.error();
  ValidatorSetInfo set;
  for (Status s : {take(o->u64("epoch"), set.epoch), take(o->fixed_hex<Hash>("nonce"), set.nonce),
                   take(o->u64("total_stake"), set.total_stake)})
    if (!s.ok()) return s.error();
  if (expected_epoch && set.epoch != *expected_epoch)
    return make_error(Reason::kMalformed, fmt::format("the node answered for epoch {}, not {}",
                                                      set.epoch, *expected_epoch));
  auto list = o->array("validators");
  if (!list.ok()) return list.error();
  std::uint64_t sum = 0;
  for (const auto& item : (*list)->GetArray()) {
    auto v = JsonObject::open(item, "validator");
    if (!v.ok()) return v.error();
    ValidatorStake entry;
    for (Status s : {take(v->fixed_hex<Address>("address"), entry.address),
                     take(v->u64("stake"), entry.stake)})
      if (!s.ok()) return s.error();
    if (!set.validators.empty() && !(set.validators.back().address < entry.address))
      return o->field_error("validators", "must be in ascending address order, each once");
    if (entry.stake > UINT64_MAX - sum)
      return o->field_error("validators", "has stakes that overflow a u64");
    sum += entry.stake;
    set.validators.push_back(entry);
  }
  if (sum != set.total_stake)
    return o->field_error("total_stake", fmt::format("is {}, the validators' stakes sum to {}",
                                                     set.total_stake, sum));
  return set;
}

std::string to_json(const TargetVotesInfo& votes) {
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  write_key(w, "target");
  write_string(w, votes.target.hex());
  write_key(w, "votes");
  w.StartArray();
  for (const auto& vote : votes.votes) detail::write_vote(w, *vote, true);
  w.EndArray();
  w.EndObject();
  return out.GetString();
}

Result<TargetVotesInfo> target_votes_from_json(std::string_view json, std::string_view chain_id,
                                               const Hash& expected) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "votes");
  if (!o.ok()) return o.error();
  TargetVotesInfo out;
  if (auto s = take(o->fixed_hex<Hash>("target"), out.target); !s.ok()) return s.error();
  if (out.target != expected)
    return make_error(Reason::kMalformed, "the node answered for target " + out.target.hex() +
                                              ", not " + expected.hex());
  auto list = o->array("votes");
  if (!list.ok()) return list.error();
  for (const auto& item : (*list)->GetArray()) {
    auto vote = detail::vote_from_value(item, chain_id);
    if (!vote.ok()) return vote.error();
    if ((*vote)->target_hash() != expected)
      return o->field_error("votes", "holds vote " + (*vote)->id().hex() + " for target " +
                                         (*vote)->target_hash().hex());
    out.votes.push_back(std::move(*vote));
  }
  return out;
}

std::string account_to_json(const Address& address, const Account& a) {
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  write_key(w, "address");
  write_string(w, address.hex());
  write_key(w, "balance");
  w.Uint64(a.balance);
  write_key(w, "stake");
  w.Uint64(a.stake);
  write_key(w, "nonce");
  w.Uint64(a.nonce);
  write_key(w, "unbonding");
  w.Uint64(a.unbonding);
  write_key(w, "unbonding_height");
  w.Uint64(a.unbonding_height);
  write_key(w, "slashed");
  w.Bool(a.slashed);
  write_key(w, "jailed");
  w.Bool(a.jailed);
  w.EndObject();
  return out.GetString();
}

Result<Account> account_from_json(std::string_view json, const Address& expected) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "account");
  if (!o.ok()) return o.error();
  Account a;
  Address address;
  for (Status s : {take(o->fixed_hex<Address>("address"), address),
                   take(o->u64("balance"), a.balance), take(o->u64("stake"), a.stake),
                   take(o->u64("nonce"), a.nonce), take(o->u64("unbonding"), a.unbonding),
                   take(o->u64("unbonding_height"), a.unbonding_height),
                   take(o->boolean("slashed"), a.slashed), take(o->boolean("jailed"), a.jailed)})
    if (!s.ok()) return s.error();
  if (address != expected)
    return make_error(Reason::kMalformed,
                      "the node answered for account " + address.hex() + ", not " + expected.hex());
  return a;
}

std::string peers_to_json(const std::vector<PeerInfo>& peers) {
  rapidjson::StringBuffer out;
  JsonWriter w(out);
  w.StartObject();
  write_key(w, "peers");
  w.StartArray();
  for (const auto& p : peers) {
    w.StartObject();
    write_key(w, "address");
    write_string(w, p.address);
    write_key(w, "listen_address");
    write_string(w, p.listen_address);
    write_key(w, "node_id");
    write_string(w, p.node_id.hex());
    write_key(w, "inbound");
    w.Bool(p.inbound);
    write_key(w, "best_height");
    w.Uint64(p.best_height);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out.GetString();
}

Result<std::vector<PeerInfo>> peers_from_json(std::string_view json) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "peers");
  if (!o.ok()) return o.error();
  auto list = o->array("peers");
  if (!list.ok()) return list.error();
  std::vector<PeerInfo> peers;
  for (const auto& item : (*list)->GetArray()) {
    auto p = JsonObject::open(item, "peer");
    if (!p.ok()) return p.error();
    PeerInfo info;
    std::string_view address, listen_address;
    for (Status s :
         {take(p->string("address"), address), take(p->string("listen_address"), listen_address),
          take(p->fixed_hex<Hash>("node_id"), info.node_id),
          take(p->boolean("inbound"), info.inbound), take(p->u64("best_height"), info.best_height)})
      if (!s.ok()) return s.error();
    info.address = address;
    info.listen_address = listen_address;
    peers.push_back(std::move(info));
  }
  return peers;
}

Result<TxStatus> tx_status_from_json(std::string_view json, const Hash& expected) {
  rapidjson::Document doc;
  auto o = open_answer(json, doc, "transaction status");
  if (!o.ok()) return o.error();
  TxStatus s;
  std::string_view status;
  for (Status ok : {take(o->fixed_hex<Hash>("id"), s.id), take(o->string("status"), status)})
    if (!ok.ok()) return ok.error();
  s.status = status;
  if (s.id != expected)
    return make_error(Reason::kMalformed, "the node answered for transaction " + s.id.hex() +
                                              ", not " + expected.hex());
  if (s.status == "included") {
    std::uint64_t height = 0;
    Hash block;
    for (Status ok : {take(o->u64("height"), height), take(o->fixed_hex<Hash>("block"), block)})
      if (!ok.ok()) return ok.error();
    s.height = height;
    s.block = block;
  } else if (s.status != "pending" && s.status != "unknown") {
    return o->field_error("status", "must be \"pending\", \"included\" or \"unknown\"");
  }
  return s;
}

}  // namespace pos
