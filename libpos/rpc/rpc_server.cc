#include "pos/rpc_server.h"

#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <charconv>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "explorer_assets.h"
#include "pos/thread_priority.h"
#include "pos/version.h"
#include "pos/wire.h"
#include "pos_fmt.h"

namespace pos {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

std::string error_body(const Error& e) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  std::string_view code = reason_code(e.reason);
  w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("message");
  w.String(e.message.c_str());
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

Reply error_reply(const Error& e) {
  return Reply{reason_info(e.reason).http_status, error_body(e)};
}

Reply error_reply(Reason reason, std::string message) {
  return error_reply(make_error(reason, std::move(message)));
}

template <class F>
Reply json_reply(int status, F&& write) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write(w);
  return Reply{status, std::string(buffer.GetString(), buffer.GetSize())};
}

void key(Writer& w, const char* k) {
  w.Key(k);
}
void str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// Embeds JSON text already made by the core's encoders.
void raw(Writer& w, const std::string& json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

// A query parameter as an unsigned integer, or the default; refused if not digits.
Result<std::uint64_t> param_u64(const httplib::Request& req, const char* name,
                                std::uint64_t fallback) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return make_error(Reason::kInvalidArgument,
                      std::string("query parameter \"") + name + "\" must be an unsigned integer");
  return value;
}

// A query parameter as a boolean ("true"/"1" or "false"/"0"), or the default.
Result<bool> param_bool(const httplib::Request& req, const char* name, bool fallback) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return make_error(Reason::kInvalidArgument,
                    std::string("query parameter \"") + name + "\" must be true, false, 1 or 0");
}

// A history cursor "HEIGHT:INDEX", as the "next" of the previous page gave it.
Result<std::optional<TxPosition>> param_position(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::optional<TxPosition>();
  std::string text = req.get_param_value(name);
  auto refuse = [&] {
    return make_error(Reason::kInvalidArgument, std::string("query parameter \"") + name +
                                                    "\" must be HEIGHT:INDEX, as \"next\" gave it");
  };
  auto colon = text.find(':');
  if (colon == std::string::npos) return refuse();
  TxPosition position;
  const char* begin = text.data();
  const char* mid = begin + colon;
  const char* end = begin + text.size();
  auto [h_end, h_ec] = std::from_chars(begin, mid, position.height);
  auto [i_end, i_ec] = std::from_chars(mid + 1, end, position.index);
  if (colon == 0 || h_ec != std::errc() || h_end != mid || mid + 1 == end || i_ec != std::errc() ||
      i_end != end)
    return refuse();
  return std::optional<TxPosition>(position);
}

std::string position_text(TxPosition p) {
  return fmt::format("{}:{}", p.height, p.index);
}

// Latency histogram of one route, for /metrics.
struct Histogram {
  static constexpr std::array<double, 8> kBounds = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};
  std::array<std::uint64_t, kBounds.size()> buckets{};
  std::uint64_t count = 0;
  double sum = 0;
  void observe(double seconds) {
    for (std::size_t i = 0; i < kBounds.size(); ++i)
      if (seconds <= kBounds[i]) ++buckets[i];
    ++count;
    sum += seconds;
  }
};

}  // namespace

struct RpcServer::Impl {
  NodeApi& node;
  RpcOptions options;
  RpcIdentity identity;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex metrics_mutex;
  std::map<std::string, Histogram> latency;  // by route
  std::string chain_id_text;

  Impl(NodeApi& n, RpcOptions o, RpcIdentity i)
      : node(n), options(std::move(o)), identity(std::move(i)) {
    chain_id_text = node.params().chain_id;
  }

  // The main-chain block at `height` in the stored chain, if any.
  BlockPtr stored_block_at(std::uint64_t height) const {
    auto hash = node.storage().main_chain_hash(height);
    return hash ? node.storage().block(*hash) : nullptr;
  }

  using Handler = std::function<Reply(const httplib::Request&)>;

  void route(const char* method, const std::string& pattern, const std::string& name,
             Handler handler) {
    auto wrapped = [this, name, handler](const httplib::Request& req, httplib::Response& res) {
      auto start = std::chrono::steady_clock::now();
      Reply reply;
      try {
        reply = handler(req);
      } catch (const std::exception& e) {
        // The node's loop is stopping, or a read failed: no half answer.
        reply =
            error_reply(Reason::kUnavailable, std::string("the node cannot answer: ") + e.what());
        options.log.warn("a request could not be answered",
                         {{"method", req.method}, {"path", req.path}, {"error", e.what()}});
      } catch (...) {
        reply = error_reply(Reason::kUnavailable, "the node cannot answer now");
        options.log.warn("a request could not be answered",
                         {{"method", req.method}, {"path", req.path}});
      }
      res.status = reply.status;
      res.set_content(reply.body, reply.content_type.c_str());
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (options.log.enabled(LogLevel::kDebug))
        options.log.debug("request", {{"method", req.method},
                                      {"path", req.path},
                                      {"status", reply.status},
                                      {"ms", static_cast<std::uint64_t>(seconds * 1000)}});
      std::lock_guard lock(metrics_mutex);
      latency[name].observe(seconds);
    };
    if (std::string_view(method) == "GET")
      server.Get(pattern, wrapped);
    else
      server.Post(pattern, wrapped);
  }

  void install_routes();
  void install_explorer();
  Reply info();
  Reply finality();
  Reply validators(const httplib::Request& req);
  Reply votes(const httplib::Request& req);
  Reply health();
  Reply metrics();
  Reply blocks_page(const httplib::Request& req);
  Reply block(const std::string& id);
  Reply pool(const httplib::Request& req);
  Reply submit_one(const httplib::Request& req);
  Reply admit_one(const TransactionPtr& tx);
  Reply submit_batch(const httplib::Request& req);
  Reply transaction(const std::string& id);
  Reply account(const std::string& address);
  Reply account_transactions(const std::string& address, const httplib::Request& req);
  Reply stakers(const httplib::Request& req);
  Reply peers();
  Reply evidence();
  Result<TransactionPtr> parse_transaction(const rapidjson::Value& value) const;
  std::string chain_id() const;
};

std::string RpcServer::Impl::chain_id() const {
  return chain_id_text;
}

void RpcServer::Impl::install_routes() {
  route("GET", "/info", "/info", [this](const auto&) { return info(); });
  route("GET", "/finality", "/finality", [this](const auto&) { return finality(); });
  route("GET", "/validators", "/validators", [this](const auto& req) { return validators(req); });
  route("GET", "/votes", "/votes", [this](const auto& req) { return votes(req); });
  route("GET", "/health", "/health", [this](const auto&) { return health(); });
  route("GET", "/metrics", "/metrics", [this](const auto&) { return metrics(); });
  route("GET", "/blockchain", "/blockchain", [this](const auto& req) { return blocks_page(req); });
  route("GET", "/blocks", "/blocks", [this](const auto& req) { return blocks_page(req); });
  route("GET", R"(/blocks/([^/]+))", "/blocks/{id}",
        [this](const auto& req) { return block(req.matches[1]); });
  route("GET", "/transactionPool", "/transactionPool",
        [this](const auto& req) { return pool(req); });
  route("POST", "/transaction", "/transaction",
        [this](const auto& req) { return submit_one(req); });
  route("POST", "/transactions", "/transactions",
        [this](const auto& req) { return submit_batch(req); });
  route("GET", R"(/transactions/([^/]+))", "/transactions/{id}",
        [this](const auto& req) { return transaction(req.matches[1]); });
  route("GET", R"(/accounts/([^/]+))", "/accounts/{address}",
        [this](const auto& req) { return account(req.matches[1]); });
  route("GET", R"(/accounts/([^/]+)/transactions)", "/accounts/{address}/transactions",
        [this](const auto& req) { return account_transactions(req.matches[1], req); });
  route("GET", "/stakers", "/stakers", [this](const auto& req) { return stakers(req); });
  route("GET", "/peers", "/peers", [this](const auto&) { return peers(); });
  route("GET", "/evidence", "/evidence", [this](const auto&) { return evidence(); });
  install_explorer();

  // Whatever httplib answers itself (no route, body too large, bad request) gets a JSON error.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    Error e =
        res.status == 404 ? make_error(Reason::kNotFound, "no route " + req.method + " " + req.path)
        : res.status == 413 ? make_error(Reason::kPayloadTooLarge, "the request body is too large")
                            : make_error(Reason::kInvalidArgument,
                                         fmt::format("bad request (HTTP {})", res.status));
    res.set_content(error_body(e), "application/json");
  });
}

// The explorer's files at "/" and their own paths. The policy keeps the page to this node: no
// script, style, font or frame from anywhere else.
void RpcServer::Impl::install_explorer() {
  for (const auto& file : detail::kExplorerAssets) {
    std::string path = file.path == "/index.html" ? "/" : std::string(file.path);
    server.Get(path, [&file](const httplib::Request&, httplib::Response& res) {
      res.set_content(reinterpret_cast<const char*>(file.data), file.size,
                      std::string(file.content_type));
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; object-src 'none'; base-uri 'none'; "
                     "frame-ancestors 'none'; form-action 'self'");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Cache-Control", "no-cache");
    });
  }
}

Reply RpcServer::Impl::info() {
  NodeStatus s = node.status();
  NodeInfo info;
  info.chain_id = chain_id_text;
  info.genesis_hash = node.genesis_hash();
  info.protocol_version = identity.protocol_version;
  info.height = s.height;
  info.tip = s.tip;
  info.state_root = s.state_root;
  info.slot = s.slot;
  info.epoch = node.params().epoch_of(s.slot);
  info.justified_height = s.justified_height;
  info.finalized_height = s.finalized_height;
  info.finalized_hash = s.finalized_hash;
  info.peers = s.peers.size();
  info.pool_size = s.pool_size;
  info.syncing = s.syncing_from.has_value();
  info.version = identity.version;
  info.address = identity.forger;
  return Reply{200, to_json(info)};
}

// The published status's checkpoints: what the votes included in the best chain justify and
// finalize. Read from the snapshot, so a busy loop does not delay it.
Reply RpcServer::Impl::finality() {
  NodeStatus s = node.status();
  FinalityInfo f;
  f.justified = FinalityCheckpoint{s.justified_height, s.justified_hash};
  f.finalized = FinalityCheckpoint{s.finalized_height, s.finalized_hash};
  return Reply{200, to_json(f)};
}

// The validator set and nonce of an epoch on the best chain, read on the loop. nonce(e) folds in
// the blocks of epoch e-2, so beyond two epochs after the clock's nothing of it is drawn yet
// (and asking would cost the loop a hash per epoch); up to there it is what the chain says now.
Reply RpcServer::Impl::validators(const httplib::Request& req) {
  std::uint64_t current = node.params().epoch_of(node.status().slot);
  auto epoch = param_u64(req, "epoch", current);
  if (!epoch.ok()) return error_reply(epoch.error());
  if (*epoch > current + 2)
    return error_reply(Reason::kInvalidArgument,
                       fmt::format("epoch {} is not drawn yet: the clock is in epoch {}, and at "
                                   "most two epochs ahead are",
                                   *epoch, current));
  return Reply{200, to_json(node.validators(*epoch))};
}

// The votes this node's vote pool holds for one target block, read on the loop. Votes included
// in blocks are there too; the pool keeps each until its target is finalized.
Reply RpcServer::Impl::votes(const httplib::Request& req) {
  if (!req.has_param("target"))
    return error_reply(Reason::kInvalidArgument,
                       "query parameter \"target\" (a block hash) is required");
  auto target = Hash::from_hex(req.get_param_value("target"));
  if (!target.ok())
    return error_reply(Reason::kInvalidArgument,
                       "query parameter \"target\" is not a block hash: " + target.error().message);
  return Reply{200, to_json(TargetVotesInfo{*target, node.votes(*target)})};
}

Reply RpcServer::Impl::health() {
  NodeStatus s = node.status();
  // Blocks ahead of our clock, more than occasionally, mean that our clock is behind.
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "status");
    str(w, s.checkpoint_required ? "checkpoint_required" : s.clock_behind ? "clock_behind" : "ok");
    key(w, "checkpoint_required");
    w.Bool(s.checkpoint_required);
    key(w, "clock");
    w.StartObject();
    key(w, "held_back_blocks");
    w.Uint64(s.held_back_blocks);
    key(w, "max_slots_ahead");
    w.Uint64(s.max_slots_ahead);
    w.EndObject();
    key(w, "height");
    w.Uint64(s.height);
    key(w, "peers");
    w.Uint64(s.peers.size());
    key(w, "syncing");
    w.Bool(s.syncing_from.has_value());
    w.EndObject();
  });
}

Reply RpcServer::Impl::metrics() {
  NodeStatus s = node.status();
  std::string out;
  auto gauge = [&](const char* name, const char* help, double value) {
    // {:f} prints a double as std::to_string did ("%f"), which scrapers already read.
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2:f}\n", name, help, value);
  };
  auto counter_head = [&](const char* name, const char* help) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n", name, help);
  };
  gauge("pos_height", "Height of the chain tip.", static_cast<double>(s.height));
  gauge("pos_finalized_height", "Height at or below which blocks are final.",
        static_cast<double>(s.finalized_height));
  gauge("pos_justified_height",
        "Height of the highest block the votes included in the best chain justify.",
        static_cast<double>(s.justified_height));
  gauge("pos_slot", "The clock's current slot.", static_cast<double>(s.slot));
  gauge("pos_checkpoint_required",
        "1 while peers' blocks are refused: the finalized block is older than the "
        "weak-subjectivity period (restart with --checkpoint).",
        s.checkpoint_required ? 1 : 0);
  gauge("pos_peers", "Connected peers.", static_cast<double>(s.peers.size()));
  gauge("pos_banned_peers", "Bans in force for misbehaviour: one per address and one per node id.",
        static_cast<double>(s.banned));
  gauge("pos_known_addresses", "Peer addresses in the address book.",
        static_cast<double>(s.known_addresses));
  gauge("pos_pool_transactions", "Transactions in the pool.", static_cast<double>(s.pool_size));
  gauge("pos_pool_bytes", "Bytes of the transactions in the pool.",
        static_cast<double>(s.pool_bytes));
  gauge("pos_vote_pool_size", "Votes held for inclusion in a block.",
        static_cast<double>(s.vote_pool_size));
  gauge("pos_pending_evidence", "Evidence held for inclusion in a block.",
        static_cast<double>(s.pending_evidence));
  gauge("pos_syncing", "1 while blocks are being fetched from a peer.", s.syncing_from ? 1.0 : 0.0);
  counter_head(
      "pos_event_loop_cpu_seconds_total",
      "CPU time of the event loop's thread, which runs consensus and the peers' messages.");
  out += fmt::format("pos_event_loop_cpu_seconds_total {:f}\n", s.event_loop_cpu_seconds);
  counter_head("pos_transactions_accepted_total", "Transactions admitted to the pool, by source.");
  for (const auto& [source, n] : s.counters.txs_accepted)
    out += fmt::format("pos_transactions_accepted_total{{source=\"{}\"}} {}\n", source, n);
  counter_head("pos_transactions_refused_total", "Transactions refused, by reason.");
  for (const auto& [reason, n] : s.counters.txs_refused)
    out += fmt::format("pos_transactions_refused_total{{reason=\"{}\"}} {}\n", reason, n);
  counter_head("pos_signatures_checked_total",
               "Transaction signatures checked (Ed25519 verifies).");
  out += fmt::format("pos_signatures_checked_total {}\n", s.counters.signatures_checked);
  counter_head("pos_signature_cache_hits_total",
               "Transaction signatures found in the cache of those already checked.");
  out += fmt::format("pos_signature_cache_hits_total {}\n", s.counters.signature_cache_hits);
  counter_head("pos_blocks_forged_total", "Blocks this node forged.");
  out += fmt::format("pos_blocks_forged_total {}\n", s.counters.blocks_forged);
  counter_head("pos_blocks_received_total", "Blocks from peers that joined the chain.");
  out += fmt::format("pos_blocks_received_total {}\n", s.counters.blocks_received);
  counter_head("pos_reorganisations_total", "Reorganisations of the main chain.");
  out += fmt::format("pos_reorganisations_total {}\n", s.counters.reorganisations);
  counter_head("pos_votes_cast_total", "Votes this node's key signed.");
  out += fmt::format("pos_votes_cast_total {}\n", s.counters.votes_cast);
  counter_head("pos_votes_received_total", "Votes from peers kept in the vote pool.");
  out += fmt::format("pos_votes_received_total {}\n", s.counters.votes_received);
  counter_head("pos_evidence_found_total",
               "Evidence this node built from conflicting blocks or votes it received.");
  out += fmt::format("pos_evidence_found_total {}\n", s.counters.evidence_found);
  counter_head("pos_evidence_received_total", "Evidence from peers kept for inclusion.");
  out += fmt::format("pos_evidence_received_total {}\n", s.counters.evidence_received);
  out +=
      "# HELP pos_rpc_request_seconds RPC request latency by route.\n"
      "# TYPE pos_rpc_request_seconds histogram\n";
  std::lock_guard lock(metrics_mutex);
  for (const auto& [route_name, h] : latency) {
    // The bounds and the sum are doubles: {:f} prints them as std::to_string did ("%f").
    for (std::size_t i = 0; i < Histogram::kBounds.size(); ++i)
      out += fmt::format("pos_rpc_request_seconds_bucket{{route=\"{}\",le=\"{:f}\"}} {}\n",
                         route_name, Histogram::kBounds[i], h.buckets[i]);
    out += fmt::format("pos_rpc_request_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                       route_name, h.count);
    out += fmt::format("pos_rpc_request_seconds_sum{{route=\"{}\"}} {:f}\n", route_name, h.sum);
    out += fmt::format("pos_rpc_request_seconds_count{{route=\"{}\"}} {}\n", route_name, h.count);
  }
  return Reply{200, out, "text/plain; version=0.0.4"};
}

Reply RpcServer::Impl::blocks_page(const httplib::Request& req) {
  auto from = param_u64(req, "from", 0);
  if (!from.ok()) return error_reply(from.error());
  auto limit = param_u64(req, "limit", 20);
  if (!limit.ok()) return error_reply(limit.error());
  auto with_transactions = param_bool(req, "transactions", true);
  if (!with_transactions.ok()) return error_reply(with_transactions.error());
  BlockJson form = *with_transactions ? BlockJson::kFull : BlockJson::kHeader;
  std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(*limit, options.max_page));
  std::vector<BlockPtr> blocks;
  std::uint64_t height = 0;
  height = node.status().height;
  if (*from <= height) {
    // The storage may be a block or two past the published status: the page stops at its height.
    count = static_cast<std::size_t>(std::min<std::uint64_t>(count, height - *from + 1));
    blocks = node.storage().main_chain_blocks(*from, count, 16 * 1024 * 1024);
  }
  if (*from > height)
    return error_reply(
        Reason::kNotFound,
        fmt::format("the page starts at height {}, beyond the tip at {}", *from, height));
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "height");
    w.Uint64(height);
    key(w, "from");
    w.Uint64(*from);
    key(w, "blocks");
    w.StartArray();
    for (const auto& b : blocks) raw(w, to_json(*b, form));
    w.EndArray();
    if (!blocks.empty() && blocks.back()->height() < height) {
      key(w, "next");
      w.Uint64(blocks.back()->height() + 1);
    }
    w.EndObject();
  });
}

Reply RpcServer::Impl::block(const std::string& id) {
  BlockPtr found;
  if (id.size() == 64) {
    auto hash = Hash::from_hex(id);
    if (!hash.ok())
      return error_reply(Reason::kInvalidArgument, "not a block hash: " + hash.error().message);
    found = node.storage().block(*hash);
  } else {
    std::uint64_t height = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), height);
    if (id.empty() || ec != std::errc() || end != id.data() + id.size())
      return error_reply(Reason::kInvalidArgument,
                         "\"" + id + "\" is neither a height nor a 64-character block hash");
    found = stored_block_at(height);
  }
  if (!found) return error_reply(Reason::kNotFound, "no block " + id);
  return Reply{200, to_json(*found)};
}

Reply RpcServer::Impl::pool(const httplib::Request& req) {
  auto limit = param_u64(req, "limit", options.max_page);
  if (!limit.ok()) return error_reply(limit.error());
  // The senders' nonces are read from the stored tip before the pool is locked, so that the
  // loop never waits on these reads; a sender who arrived in between is read while locked.
  const Storage& stored = node.storage();
  auto nonce_of = [&](const Address& a) {
    auto account = stored.account(a);
    return account ? account->nonce : 0;
  };
  std::unordered_map<Address, std::uint64_t> nonces;
  for (const auto& sender : node.pool().senders()) nonces.emplace(sender, nonce_of(sender));
  PoolListing listing = node.pool().listing([&](const Address& a) {
    auto it = nonces.find(a);
    return it != nonces.end() ? it->second : nonce_of(a);
  });
  std::size_t size = listing.size, bytes = listing.bytes;
  std::vector<TransactionPtr>& txs = listing.txs;
  std::size_t shown = static_cast<std::size_t>(std::min<std::uint64_t>(*limit, options.max_page));
  if (txs.size() > shown) txs.resize(shown);
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "size");
    w.Uint64(size);
    key(w, "bytes");
    w.Uint64(bytes);
    key(w, "transactions");
    w.StartArray();
    for (const auto& tx : txs) raw(w, to_json(*tx));
    w.EndArray();
    w.EndObject();
  });
}

Result<TransactionPtr> RpcServer::Impl::parse_transaction(const rapidjson::Value& value) const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  value.Accept(w);
  return transaction_from_json(std::string_view(buffer.GetString(), buffer.GetSize()), chain_id());
}

Reply RpcServer::Impl::submit_one(const httplib::Request& req) {
  // The bare form, the common one, in one parse; the {"transaction": {...}} form below.
  auto bare = transaction_from_json(req.body, chain_id());
  if (bare.ok()) return admit_one(*bare);
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(req.body.data(), req.body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return error_reply(Reason::kMalformed, "the body must be a transaction as a JSON object");
  const rapidjson::Value* tx_value = &doc;
  if (doc.HasMember("transaction") && doc.MemberCount() == 1) tx_value = &doc["transaction"];
  auto tx = parse_transaction(*tx_value);
  if (!tx.ok()) return error_reply(tx.error());
  return admit_one(*tx);
}

Reply RpcServer::Impl::admit_one(const TransactionPtr& tx) {
  auto verdict = node.submit(tx);
  if (!verdict.ok()) return error_reply(verdict.error());
  return json_reply(202, [&](Writer& w) {
    w.StartObject();
    key(w, "id");
    str(w, tx->id().hex());
    key(w, "status");
    str(w, "pending");
    w.EndObject();
  });
}

Reply RpcServer::Impl::submit_batch(const httplib::Request& req) {
  // One parse of the body: each element is read where it lies, not written out and read again.
  auto all = transactions_from_json_array(req.body, chain_id(), options.max_batch);
  if (!all.ok())
    return all.reason() == Reason::kPayloadTooLarge
               ? error_reply(all.error())
               : error_reply(Reason::kMalformed, "the body must be a JSON array of transactions");
  std::vector<Result<TransactionPtr>>& parsed = *all;
  std::vector<TransactionPtr> valid;
  for (const auto& tx : parsed)
    if (tx.ok()) valid.push_back(*tx);
  std::vector<Status> admitted = node.submit_batch(valid);
  std::vector<std::optional<Error>> verdicts;
  std::size_t next = 0;
  for (const auto& tx : parsed) {
    if (!tx.ok()) {
      verdicts.push_back(tx.error());
      continue;
    }
    const Status& ok = admitted[next++];
    verdicts.push_back(ok.ok() ? std::nullopt : std::optional<Error>(ok.error()));
  }
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "results");
    w.StartArray();
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      w.StartObject();
      if (parsed[i].ok()) {
        key(w, "id");
        str(w, (*parsed[i])->id().hex());
      }
      if (verdicts[i]) {
        key(w, "error");
        w.StartObject();
        key(w, "code");
        str(w, std::string(reason_code(verdicts[i]->reason)));
        key(w, "message");
        str(w, verdicts[i]->message);
        w.EndObject();
      } else {
        key(w, "status");
        str(w, "pending");
      }
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  });
}

Reply RpcServer::Impl::transaction(const std::string& id_text) {
  auto id = Hash::from_hex(id_text);
  if (!id.ok())
    return error_reply(Reason::kInvalidArgument, "not a transaction id: " + id.error().message);
  std::optional<TxLocation> where;
  TransactionPtr tx;
  std::uint64_t timestamp = 0, height = 0, finalized = 0;
  const Storage& stored = node.storage();
  NodeStatus s = node.status();
  height = s.height;
  finalized = s.finalized_height;
  where = stored.tx_location(*id);
  if (!where) {
    tx = node.pool().get(*id);
    // Included between the two looks: no longer pending, and now in the index.
    if (!tx) where = stored.tx_location(*id);
  }
  if (where) {
    BlockPtr block = stored.block(where->block);
    if (block && where->index < block->transactions().size()) {
      tx = block->transactions()[where->index];
      timestamp = block->header().timestamp_ms;
    }
    height = std::max(height, where->height);
  }
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "id");
    str(w, id->hex());
    key(w, "status");
    str(w, where ? "included" : tx ? "pending" : "unknown");
    if (where) {
      key(w, "height");
      w.Uint64(where->height);
      key(w, "block");
      str(w, where->block.hex());
      key(w, "index");
      w.Uint64(where->index);
      key(w, "timestamp");
      w.Uint64(timestamp);
      key(w, "confirmations");
      w.Uint64(height - where->height + 1);
      key(w, "final");
      w.Bool(where->height <= finalized);
    }
    if (tx) {
      key(w, "transaction");
      raw(w, to_json(*tx));
    }
    w.EndObject();
  });
}

Reply RpcServer::Impl::account(const std::string& text) {
  auto address = Address::from_hex(text);
  if (!address.ok())
    return error_reply(Reason::kInvalidArgument,
                       "not an address (64 lower-case hex characters): " + address.error().message);
  Account a = node.storage().account(*address).value_or(Account{});
  return Reply{200, account_to_json(*address, a)};
}

Reply RpcServer::Impl::account_transactions(const std::string& text, const httplib::Request& req) {
  auto address = Address::from_hex(text);
  if (!address.ok())
    return error_reply(Reason::kInvalidArgument,
                       "not an address (64 lower-case hex characters): " + address.error().message);
  auto limit = param_u64(req, "limit", 20);
  if (!limit.ok()) return error_reply(limit.error());
  auto before = param_position(req, "before");
  if (!before.ok()) return error_reply(before.error());
  std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(*limit, options.max_page));
  struct Item {
    AddressTx entry;
    BlockPtr block;
  };
  std::vector<Item> items;
  std::vector<TransactionPtr> pending;
  if (!*before) pending = node.pool().pending_from(*address);
  // The history and the blocks are two reads: a reorganisation between them shows as an entry
  // its block does not hold, and the read is tried again.
  for (int attempt = 0;; ++attempt) {
    items.clear();
    bool consistent = true;
    BlockPtr block;
    for (const auto& entry : node.storage().address_history(*address, *before, count)) {
      if (!block || block->height() != entry.position.height)
        block = stored_block_at(entry.position.height);
      if (!block || entry.position.index >= block->transactions().size() ||
          block->transactions()[entry.position.index]->id() != entry.tx_id) {
        consistent = false;
        break;
      }
      items.push_back(Item{entry, block});
    }
    if (consistent) break;
    if (attempt == 2)
      throw StorageError("the address history names a transaction the chain does not have");
  }
  // Included since the pool was read: listed once, as included.
  std::erase_if(pending,
                [&](const TransactionPtr& tx) { return node.storage().tx_location(tx->id()); });
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "address");
    str(w, address->hex());
    key(w, "pending");
    w.StartArray();
    for (const auto& tx : pending) raw(w, to_json(*tx));
    w.EndArray();
    key(w, "transactions");
    w.StartArray();
    for (const auto& [entry, block] : items) {
      w.StartObject();
      key(w, "id");
      str(w, entry.tx_id.hex());
      key(w, "height");
      w.Uint64(entry.position.height);
      key(w, "index");
      w.Uint64(entry.position.index);
      key(w, "block");
      str(w, block->hash().hex());
      key(w, "timestamp");
      w.Uint64(block->header().timestamp_ms);
      key(w, "transaction");
      raw(w, to_json(*block->transactions()[entry.position.index]));
      w.EndObject();
    }
    w.EndArray();
    if (items.size() == count && count > 0) {
      key(w, "next");
      str(w, position_text(items.back().entry.position));
    }
    w.EndObject();
  });
}

Reply RpcServer::Impl::stakers(const httplib::Request& req) {
  auto window = param_u64(req, "window", 100);
  if (!window.ok()) return error_reply(window.error());
  std::uint64_t span = std::min<std::uint64_t>(*window, 1000);
  std::vector<std::pair<Address, std::uint64_t>> list;
  std::uint64_t total = 0, from = 1, to = 0;
  std::map<Address, std::uint64_t> forged;
  list = node.storage().stakers();
  for (const auto& [address, stake] : list) total += stake;
  to = node.status().height;
  from = to >= span ? to - span + 1 : 1;  // genesis has no forger
  for (std::uint64_t h = from; h <= to && span > 0; ++h)
    if (BlockPtr block = stored_block_at(h)) ++forged[block->forger()];
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "total_stake");
    w.Uint64(total);
    key(w, "recent");
    w.StartObject();
    key(w, "from");
    w.Uint64(std::min(from, to + 1));
    key(w, "to");
    w.Uint64(to);
    key(w, "blocks");
    w.Uint64(span == 0 || to < from ? 0 : to - from + 1);
    w.EndObject();
    key(w, "stakers");
    w.StartArray();
    for (const auto& [address, stake] : list) {
      w.StartObject();
      key(w, "address");
      str(w, address.hex());
      key(w, "stake");
      w.Uint64(stake);
      key(w, "recent_blocks");
      auto it = forged.find(address);
      w.Uint64(it == forged.end() ? 0 : it->second);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  });
}

Reply RpcServer::Impl::peers() {
  return Reply{200, peers_to_json(node.status().peers)};
}

// The evidence this node holds for inclusion (docs/consensus.md, "Evidence and slashing"):
// each piece carries both signed items, so anyone can check it with the offender's key alone.
Reply RpcServer::Impl::evidence() {
  std::vector<EvidencePtr> pending = node.storage().pending_evidence();
  return json_reply(200, [&](Writer& w) {
    w.StartObject();
    key(w, "pending");
    w.StartArray();
    for (const auto& e : pending) raw(w, to_json(*e));
    w.EndArray();
    w.EndObject();
  });
}

RpcServer::RpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<RpcServer>> RpcServer::start(NodeApi& node, RpcOptions options,
                                                    RpcIdentity identity) {
  auto impl = std::make_unique<Impl>(node, std::move(options), std::move(identity));
  Impl& i = *impl;
  std::size_t threads = std::max<std::size_t>(1, i.options.threads);
  i.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  i.server.set_payload_max_length(i.options.max_body_bytes);
  auto timeout_s = static_cast<time_t>(i.options.timeout_ms / 1000);
  auto timeout_us = static_cast<time_t>((i.options.timeout_ms % 1000) * 1000);
  i.server.set_read_timeout(timeout_s, timeout_us);
  i.server.set_write_timeout(timeout_s, timeout_us);
  i.server.set_keep_alive_max_count(100);
  // cpp-httplib's default is SO_REUSEPORT, which would let a second node listen on the same
  // port unnoticed; SO_REUSEADDR alone refuses that and still allows a quick restart.
  // TCP_NODELAY (inherited by accepted sockets): a response goes out as headers then body, and
  // Nagle's algorithm held the body until the client's delayed ACK, 40 ms per request.
  i.server.set_tcp_nodelay(true);
  i.server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  });
  i.install_routes();
  if (i.options.port == 0) {
    i.port = i.server.bind_to_any_port(i.options.host);
    if (i.port <= 0)
      return make_error(Reason::kIoError, "cannot listen for RPC on " + i.options.host);
  } else if (!i.server.bind_to_port(i.options.host, i.options.port)) {
    return make_error(Reason::kIoError,
                      fmt::format("cannot listen for RPC on {}:{} (in use, or not an address of "
                                  "this machine)",
                                  i.options.host, i.options.port));
  } else {
    i.port = i.options.port;
  }
  // Below the event loop's priority (pos/thread_priority.h): a burst of requests parses JSON and
  // checks signatures, and must not take the loop's CPU. httplib makes its pool of handler
  // threads on this thread, in listen_after_bind, and a Linux thread starts with the nice value
  // of the thread that made it: they are lowered too (tests/unit/rpc_reads_test.cpp).
  i.thread = std::thread([&i]() {
    lower_this_thread_priority();
    i.server.listen_after_bind();
  });
  return std::unique_ptr<RpcServer>(new RpcServer(std::move(impl)));
}

RpcServer::~RpcServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t RpcServer::port() const {
  return static_cast<std::uint16_t>(impl_->port);
}

}  // namespace pos
