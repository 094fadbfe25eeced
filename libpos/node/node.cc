#include "pos/node.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>

#include "pos/genesis.h"
#include "pos/keys.h"
#include "pos/lmdb_storage.h"
#include "pos/p2p_messages.h"
#include "pos/peer_node.h"
#include "pos/rpc_server.h"
#include "pos/signing_record.h"
#include "pos/version.h"

namespace pos {
namespace {

namespace fs = std::filesystem;

Error invalid(std::string message) {
  return make_error(Reason::kInvalidArgument, std::move(message));
}

using HostPort = p2p::PeerAddress;

// A listener may ask for port 0 (the system picks); a peer to dial may not.
Result<HostPort> parse_host_port(const std::string& text, const char* what,
                                 bool allow_port_zero = true) {
  auto address = p2p::parse_peer_address(text, allow_port_zero);
  if (!address.ok()) return invalid(std::string(what) + " " + address.error().message);
  return address;
}

// Fails when host:port cannot be bound now (in use, or not an address of this machine).
Status check_port_free(const HostPort& hp, const char* what) {
  if (hp.port == 0) return {};
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(hp.host.c_str(), std::to_string(hp.port).c_str(), &hints, &found) != 0)
    return invalid(std::string(what) + " host \"" + hp.host + "\" does not resolve");
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = fd < 0 ? -1 : bind(fd, found->ai_addr, found->ai_addrlen);
  int err = errno;
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
  if (rc != 0)
    return make_error(Reason::kIoError, fmt::format("{} {}:{} cannot be used: {}", what, hp.host,
                                                    hp.port, std::strerror(err)));
  return {};
}

// What this node's key has signed, kept durably so that it never signs two blocks for one slot
// nor a double or surround vote, even across a crash (docs/consensus.md, docs/operations.md):
// the last block slot, the highest vote source and the highest vote target. Each is raised and
// fsynced before what it allows leaves the process.
class SigningGuard {
 public:
  static Result<SigningGuard> open(const fs::path& file) {
    SigningGuard guard;
    guard.file_ = file;
    std::ifstream in(file);
    if (!in) return guard;
    auto damaged = [&] {
      return make_error(Reason::kStorage,
                        file.string() +
                            " is damaged: expected the lines \"last_signed_slot N\", "
                            "\"vote_source_height N\" and \"vote_target_height N\"");
    };
    std::string word;
    std::uint64_t slot = 0, source = 0, target = 0;
    in >> word >> slot;
    if (word != "last_signed_slot" || in.fail()) return damaged();
    guard.record_ = SigningRecord(slot, 0, 0);
    // A v1 file stops here: that node never voted.
    if (!(in >> word)) return guard;
    in >> source;
    if (word != "vote_source_height" || in.fail()) return damaged();
    in >> word >> target;
    if (word != "vote_target_height" || in.fail()) return damaged();
    if (in >> word) return damaged();
    guard.record_ = SigningRecord(slot, source, target);
    return guard;
  }

  Status record_block(std::uint64_t slot) {
    if (auto ok = record_.check_block(slot); !ok.ok()) return ok;
    return persist(SigningRecord(slot, record_.vote_source(), record_.vote_target()));
  }

  Status record_vote(std::uint64_t source, std::uint64_t target) {
    if (auto ok = record_.check_vote(source, target); !ok.ok()) return ok;
    return persist(SigningRecord(record_.last_slot(), source, target));
  }

 private:
  Status persist(const SigningRecord& next) {
    fs::path tmp = file_;
    tmp += ".tmp";
    std::string text =
        fmt::format("last_signed_slot {}\nvote_source_height {}\nvote_target_height {}\n",
                    next.last_slot(), next.vote_source(), next.vote_target());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = fd >= 0 && ::fsync(fd) == 0 && ok;
    if (fd >= 0) ::close(fd);
    ok = ok && std::rename(tmp.c_str(), file_.c_str()) == 0;
    int dir = ::open(file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ok = ::fsync(dir) == 0 && ok;
      ::close(dir);
    }
    if (!ok)
      return make_error(Reason::kIoError, file_.string() + ": cannot record what was signed");
    record_ = next;
    return {};
  }

  fs::path file_;
  SigningRecord record_;
};

// RFC 3339 in UTC with milliseconds: "2026-11-24T18:00:00.123Z".
std::string rfc3339_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t length = c < 0x80           ? 1
                         : (c >> 5) == 0x6  ? 2
                         : (c >> 4) == 0xe  ? 3
                         : (c >> 3) == 0x1e ? 4
                                            : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; ok && k < length; ++k)
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (ok && length > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
      std::uint32_t cp = c & (0xff >> (length + 1));
      for (std::size_t k = 1; k < length; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[length] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

class StreamSink final : public LogSink {
 public:
  StreamSink(std::FILE* out, LogLevel threshold, LogFormat format)
      : out_(out), threshold_(threshold), format_(format) {}

  bool enabled(LogLevel level) const override { return level <= threshold_; }

  void write(const LogEvent& event) override {
    // The time is taken under the lock, so that lines from several threads stay in order.
    std::lock_guard lock(mutex_);
    std::string now = rfc3339_now();
    std::string line = format_ == LogFormat::kJson ? json_line(now, event) : text_line(now, event);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 private:
  static std::string text_line(const std::string& now, const LogEvent& event) {
    return fmt::format("{} {:<5} {}: {}", now, log_level_name(event.level), event.component,
                       log_text(event.message, event.fields));
  }

  static std::string json_line(const std::string& now, const LogEvent& event) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    // Values can hold a peer's bytes (a hello's chain id, a reject's text): JSON lines must stay
    // UTF-8 for the collectors that read them.
    auto string = [&](std::string_view text) {
      std::string valid = valid_utf8(text);
      w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
    };
    w.StartObject();
    w.Key("time");
    string(now);
    w.Key("level");
    string(log_level_name(event.level));
    w.Key("component");
    string(event.component);
    w.Key("message");
    string(event.message);
    for (const auto& f : event.fields) {
      string(f.key);
      if (f.number)
        w.RawValue(f.value.data(), f.value.size(), rapidjson::kNumberType);
      else
        string(f.value);
    }
    w.EndObject();
    return buffer.GetString();
  }

  std::FILE* out_;
  LogLevel threshold_;
  LogFormat format_;
  std::mutex mutex_;
};

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::shared_ptr<LogSink> stream_log_sink(std::FILE* out, LogLevel threshold, LogFormat format) {
  return std::make_shared<StreamSink>(out, threshold, format);
}

Result<NodeConfig> NodeConfig::from_json(std::string_view json, NodeConfig c) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return make_error(Reason::kMalformed, "the config must be a JSON object");
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    std::string name = it->name.GetString();
    const auto& v = it->value;
    auto need_string = [&]() -> Status {
      if (!v.IsString()) return invalid("config key \"" + name + "\" must be a string");
      return {};
    };
    if (name == "p2p" || name == "rpc" || name == "key" || name == "data_dir" ||
        name == "genesis" || name == "log_level" || name == "log_format") {
      if (auto ok = need_string(); !ok.ok()) return ok.error();
      std::string s = v.GetString();
      if (name == "p2p") c.p2p = s;
      if (name == "rpc") c.rpc = s;
      if (name == "key") c.key = s;
      if (name == "data_dir") c.data_dir = s;
      if (name == "genesis") c.genesis = s;
      if (name == "log_level") {
        auto level = parse_log_level(s);
        if (!level) return invalid("log_level must be error, warn, info or debug");
        c.log_level = *level;
      }
      if (name == "log_format") {
        auto format = parse_log_format(s);
        if (!format) return invalid("log_format must be text or json");
        c.log_format = *format;
      }
    } else if (name == "peers") {
      if (!v.IsArray()) return invalid("config key \"peers\" must be an array of \"host:port\"");
      c.peers.clear();
      for (const auto& p : v.GetArray()) {
        if (!p.IsString()) return invalid("config key \"peers\" must hold strings");
        c.peers.emplace_back(p.GetString());
      }
    } else if (name == "allow_empty_blocks") {
      return invalid(
          "config key \"allow_empty_blocks\" was removed in protocol v2: a leader forges in "
          "every slot it leads, empty or not");
    } else if (name == "discovery") {
      if (!v.IsBool()) return invalid("config key \"discovery\" must be true or false");
      c.discovery = v.GetBool();
    } else if (name == "forge_min_peers") {
      if (!v.IsUint() || v.GetUint() > 1000)
        return invalid("config key \"forge_min_peers\" must be a whole number up to 1000");
      c.forge_min_peers = v.GetUint();
    } else if (name == "checkpoint") {
      if (auto ok = need_string(); !ok.ok()) return ok.error();
      auto block = TrustedBlock::parse(v.GetString());
      if (!block.ok()) return invalid("config key \"checkpoint\": " + block.error().message);
      c.checkpoint = *block;
    } else if (name == "sync_without_checkpoint") {
      if (!v.IsBool())
        return invalid("config key \"sync_without_checkpoint\" must be true or false");
      c.sync_without_checkpoint = v.GetBool();
    } else {
      return invalid("unknown config key \"" + name + "\"");
    }
  }
  return c;
}

struct Node::Impl {
  Logger log;  // component "node"
  SystemClock clock;
  fs::path data_dir;
  std::optional<SigningGuard> guard;  // before peer: the forging tick uses it until peer is gone
  std::unique_ptr<PeerNode> peer;
  std::unique_ptr<RpcServer> rpc;
  std::uint16_t p2p_port = 0;

  fs::path pool_file() const { return data_dir / "pool.jsonl"; }

  void reload_pool(const std::string& chain_id) {
    std::ifstream in(pool_file());
    if (!in) return;
    std::string line;
    std::size_t kept = 0, dropped = 0;
    while (std::getline(in, line)) {
      auto tx = transaction_from_json(line, chain_id);
      if (tx.ok() && peer->submit(*tx).ok())
        ++kept;
      else
        ++dropped;
    }
    log.info("reloaded the pool", {{"transactions", kept}, {"no_longer_valid", dropped}});
  }

  void save_pool() {
    std::vector<TransactionPtr> txs = peer->pool().all();
    fs::path tmp = pool_file();
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      for (const auto& tx : txs) out << to_json(*tx, false) << "\n";
      if (!out) {
        log.error("cannot save the pool", {{"file", tmp.string()}});
        return;
      }
    }
    std::error_code ec;
    fs::rename(tmp, pool_file(), ec);
    if (ec)
      log.error("cannot save the pool", {{"file", pool_file().string()}, {"error", ec.message()}});
    else
      log.info("saved the pool", {{"transactions", txs.size()}});
  }
};

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Node>> Node::start(const NodeConfig& config, std::shared_ptr<LogSink> log) {
  // Everything that can be refused is checked before the data dir is touched.
  auto genesis = Genesis::load(config.genesis);
  if (!genesis.ok()) return genesis.error();
  std::optional<SecretKey> key;
  if (config.key) {
    auto loaded = load_private_key(*config.key, config.passphrase);
    if (!loaded.ok()) return loaded.error();
    if (auto private_only = check_private_key_mode(*config.key); !private_only.ok())
      return private_only.error();
    key.emplace(std::move(*loaded));
  }
  auto p2p = parse_host_port(config.p2p, "--p2p");
  if (!p2p.ok()) return p2p.error();
  auto rpc = parse_host_port(config.rpc, "--rpc");
  if (!rpc.ok()) return rpc.error();
  if (p2p->port != 0 && rpc->port == p2p->port && rpc->host == p2p->host)
    return invalid("--p2p and --rpc must differ");
  for (const auto& peer : config.peers)
    if (auto ok = parse_host_port(peer, "--peer", false); !ok.ok()) return ok.error();
  if (auto ok = check_port_free(*p2p, "--p2p"); !ok.ok()) return ok.error();
  if (auto ok = check_port_free(*rpc, "--rpc"); !ok.ok()) return ok.error();

  auto impl = std::make_unique<Impl>();
  Logger root(std::move(log), "node");
  impl->log = root;
  impl->data_dir = config.data_dir;
  auto storage = LmdbStorage::open(config.data_dir);
  if (!storage.ok()) return storage.error();

  PeerNodeConfig pc;
  pc.network.listen_host = p2p->host;
  pc.network.listen_port = p2p->port;
  pc.network.seeds = config.peers;
  pc.network.discovery = config.discovery;
  pc.network.anchors_file = config.data_dir / "anchors";
  pc.checkpoint = config.checkpoint;
  pc.sync_without_checkpoint = config.sync_without_checkpoint;
  pc.log = root;
  pc.disk_path = config.data_dir;
  auto peer = PeerNode::start(*genesis, std::move(*storage), pc, impl->clock);
  if (!peer.ok()) return peer.error();
  impl->peer = std::move(*peer);
  impl->p2p_port = impl->peer->port();
  impl->reload_pool(genesis->params.chain_id);

  std::optional<Address> forger;
  if (key) {
    auto guard = SigningGuard::open(config.data_dir / "signing-state");
    if (!guard.ok()) return guard.error();
    impl->guard.emplace(std::move(*guard));
    forger = key->public_key();
    ForgingOptions forging;
    forging.min_peers = config.forge_min_peers;
    Impl* raw = impl.get();
    forging.before_sign = [raw](std::uint64_t slot) { return raw->guard->record_block(slot); };
    forging.before_vote = [raw](std::uint64_t source, std::uint64_t target) {
      return raw->guard->record_vote(source, target);
    };
    impl->peer->start_forging(std::move(*key), std::move(forging));
  }

  RpcOptions ro;
  ro.host = rpc->host;
  ro.port = rpc->port;
  ro.log = root.component("rpc");
  auto server =
      RpcServer::start(*impl->peer, ro, RpcIdentity{kVersion, forger, p2p::kProtocolVersion});
  if (!server.ok()) return server.error();
  impl->rpc = std::move(*server);
  std::vector<LogField> started{{"version", kVersion},
                                {"chain", genesis->params.chain_id},
                                {"genesis", genesis->hash()},
                                {"p2p", fmt::format("{}:{}", p2p->host, impl->p2p_port)},
                                {"rpc", fmt::format("{}:{}", rpc->host, impl->rpc->port())},
                                {"data_dir", config.data_dir.string()}};
  if (forger) started.emplace_back("forger", *forger);
  root.info(forger ? "pos-node started, forging" : "pos-node started, not forging",
            std::move(started));
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::~Node() {
  impl_->log.info("stopping");
  impl_->rpc.reset();
  impl_->peer->stop_forging();
  impl_->save_pool();
  impl_->peer.reset();
  impl_->log.info("stopped");
}

std::uint16_t Node::p2p_port() const {
  return impl_->p2p_port;
}
std::uint16_t Node::rpc_port() const {
  return impl_->rpc->port();
}

}  // namespace pos
