#include "pos/rpc_client.h"

#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "pos_fmt.h"

namespace pos {
namespace {

// The whole reason, in words a person acts on (httplib's names are single words).
Error unreachable(const std::string& url, httplib::Error e, std::uint64_t timeout_ms) {
  const std::string seconds = fmt::format("{} s", (timeout_ms + 999) / 1000);
  std::string why;
  switch (e) {
    case httplib::Error::Connection:
      why =
          "could not connect (connection refused, no route to the host, or a host name that "
          "did not resolve): is pos-node running with its API there?";
      break;
    case httplib::Error::ConnectionTimeout:
      why = "no connection within " + seconds;
      break;
    case httplib::Error::Read:
      why = "no answer within " + seconds + ", or the connection broke while reading it";
      break;
    case httplib::Error::Write:
      why = "the connection broke while sending the request";
      break;
    default:
      why = httplib::to_string(e);
  }
  return make_error(Reason::kIoError, "node unreachable at " + url + ": " + why);
}

// The node's refusal in an error response, or a generic one.
Error refusal_of(int status, const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("error") && doc["error"].IsObject()) {
    const auto& e = doc["error"];
    std::string code = e.HasMember("code") && e["code"].IsString() ? e["code"].GetString() : "";
    std::string message =
        e.HasMember("message") && e["message"].IsString() ? e["message"].GetString() : "";
    return make_error(reason_from_code(code).value_or(Reason::kInvalidArgument), message);
  }
  return make_error(Reason::kInvalidArgument, fmt::format("HTTP {}: {}", status, body));
}

Result<rapidjson::Document> parse(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(Reason::kMalformed, "the node's answer is not a JSON object");
  return doc;
}

std::string text(const rapidjson::Value& v, const char* name) {
  return v.HasMember(name) && v[name].IsString() ? v[name].GetString() : "";
}
// A hash field, if present and well formed.
std::optional<Hash> hash_field(const rapidjson::Value& v, const char* name) {
  auto parsed = Hash::from_hex(text(v, name));
  if (!parsed.ok()) return std::nullopt;
  return *parsed;
}

}  // namespace

struct RpcClient::Impl {
  std::string url;
  std::uint64_t timeout_ms;
  httplib::Client client;
  Impl(const std::string& base, std::uint64_t timeout)
      : url(base), timeout_ms(timeout), client(base) {
    auto s = static_cast<time_t>(timeout / 1000);
    auto us = static_cast<time_t>((timeout % 1000) * 1000);
    client.set_connection_timeout(s, us);
    client.set_read_timeout(s, us);
    client.set_write_timeout(s, us);
    // One connection for every request, and no Nagle delay between a request's headers and
    // body (which waited for the server's delayed ACK).
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
  }
};

RpcClient::RpcClient(const std::string& base_url, std::uint64_t timeout_ms)
    : impl_(std::make_unique<Impl>(base_url, timeout_ms)) {}
RpcClient::~RpcClient() = default;
RpcClient::RpcClient(RpcClient&&) noexcept = default;
RpcClient& RpcClient::operator=(RpcClient&&) noexcept = default;

Result<RpcClient::Response> RpcClient::get(const std::string& path) {
  auto res = impl_->client.Get(path);
  if (!res) return unreachable(impl_->url, res.error(), impl_->timeout_ms);
  return Response{res->status, res->body};
}

Result<RpcClient::Response> RpcClient::post(const std::string& path, const std::string& body,
                                            const std::string& content_type) {
  auto res = impl_->client.Post(path, body, content_type);
  if (!res) return unreachable(impl_->url, res.error(), impl_->timeout_ms);
  return Response{res->status, res->body};
}

namespace {

// The body of a successful answer, or the node's refusal.
Result<std::string> answer(Result<RpcClient::Response> r) {
  if (!r.ok()) return r.error();
  if (r->status >= 400) return refusal_of(r->status, r->body);
  return std::move(r->body);
}

// The JSON object of a successful answer.
Result<rapidjson::Document> answer_object(Result<RpcClient::Response> r) {
  auto body = answer(std::move(r));
  if (!body.ok()) return body.error();
  return parse(*body);
}

}  // namespace

Result<RpcInfo> RpcClient::info() {
  auto body = answer(get("/info"));
  if (!body.ok()) return body.error();
  auto info = node_info_from_json(*body);
  if (info.ok()) chain_id_ = info->chain_id;
  return info;
}

Result<RpcFinality> RpcClient::finality() {
  auto body = answer(get("/finality"));
  if (!body.ok()) return body.error();
  return finality_info_from_json(*body);
}

Result<RpcValidators> RpcClient::validators(std::optional<std::uint64_t> epoch) {
  auto body = answer(get(epoch ? fmt::format("/validators?epoch={}", *epoch) : "/validators"));
  if (!body.ok()) return body.error();
  return validator_set_from_json(*body, epoch);
}

Result<RpcVotes> RpcClient::votes(const Hash& target) {
  // Votes carry no chain id in JSON: they are read as the node's chain's.
  if (chain_id_.empty())
    if (auto i = info(); !i.ok()) return i.error();
  auto body = answer(get("/votes?target=" + target.hex()));
  if (!body.ok()) return body.error();
  return target_votes_from_json(*body, chain_id_, target);
}

Result<std::vector<PeerInfo>> RpcClient::peers() {
  auto body = answer(get("/peers"));
  if (!body.ok()) return body.error();
  return peers_from_json(*body);
}

Result<Account> RpcClient::account(const Address& address) {
  auto body = answer(get("/accounts/" + address.hex()));
  if (!body.ok()) return body.error();
  return account_from_json(*body, address);
}

Result<Hash> RpcClient::submit(const Transaction& tx) {
  auto doc = answer_object(post("/transaction", to_json(tx, false)));
  if (!doc.ok()) return doc.error();
  auto id = hash_field(*doc, "id");
  if (!id) return make_error(Reason::kMalformed, "the node's answer has no transaction id");
  return *id;
}

Result<std::vector<Result<Hash>>> RpcClient::submit_batch(const std::vector<TransactionPtr>& txs) {
  std::string body = "[";
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (i > 0) body += ',';
    body += to_json(*txs[i], false);
  }
  body += "]";
  auto r = post("/transactions", body);
  if (!r.ok()) return r.error();
  if (r->status >= 400) return refusal_of(r->status, r->body);
  auto doc = parse(r->body);
  if (!doc.ok()) return doc.error();
  if (!doc->HasMember("results") || !(*doc)["results"].IsArray())
    return make_error(Reason::kMalformed, "the node's answer has no results");
  std::vector<Result<Hash>> out;
  for (const auto& item : (*doc)["results"].GetArray()) {
    if (item.HasMember("error"))
      out.emplace_back(make_error(
          reason_from_code(text(item["error"], "code")).value_or(Reason::kInvalidArgument),
          text(item["error"], "message")));
    else if (auto id = hash_field(item, "id"))
      out.emplace_back(*id);
    else
      return make_error(Reason::kMalformed, "a result of the node's answer has no transaction id");
  }
  return out;
}

Result<RpcTxStatus> RpcClient::transaction_status(const Hash& id) {
  auto body = answer(get("/transactions/" + id.hex()));
  if (!body.ok()) return body.error();
  return tx_status_from_json(*body, id);
}

Result<BlockPtr> RpcClient::block(std::uint64_t height) {
  if (chain_id_.empty())
    if (auto i = info(); !i.ok()) return i.error();
  auto r = get(fmt::format("/blocks/{}", height));
  if (!r.ok()) return r.error();
  if (r->status >= 400) return refusal_of(r->status, r->body);
  return block_from_json(r->body, chain_id_);
}

}  // namespace pos
