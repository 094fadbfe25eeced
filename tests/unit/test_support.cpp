#include "test_support.h"

#include <lmdb.h>
#include <sodium.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pos/epoch.h"
#include "pos/node.h"
#include "pos/vrf.h"

namespace pos::test {

TestNet::TestNet(NetOptions opts)
    : options(std::move(opts)), clock(kGenesisTime), pool(ChainParams{}, options.pool_limits) {
  for (std::size_t i = 0; i < options.stakes.size(); ++i)
    validators.emplace_back(key_from_index(static_cast<std::uint32_t>(i)));
  for (std::size_t i = 0; i < options.users; ++i)
    users.emplace_back(key_from_index(static_cast<std::uint32_t>(1000 + i)));
  genesis.params.chain_id = "pos-test";
  genesis.params.genesis_time_ms = kGenesisTime;
  genesis.params.slot_ms = 1000;
  genesis.params.unbonding_epochs = options.unbonding_epochs;
  genesis.params.epoch_slots = options.epoch_slots;
  genesis.params.exchange_authority = validators[0].public_key();
  for (std::size_t i = 0; i < validators.size(); ++i)
    genesis.allocations.push_back(
        GenesisAllocation{validators[i].public_key(), options.balance, options.stakes[i]});
  for (const auto& u : users)
    genesis.allocations.push_back(GenesisAllocation{u.public_key(), options.user_balance, 0});
  // Round-trip through JSON so that the sorted, validated form is used.
  genesis = Genesis::parse(genesis.to_json()).value();
  restart();
  pool = TransactionPool(genesis.params, options.pool_limits);
}

void write_schema_version(const std::filesystem::path& data_dir, std::uint32_t version) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  REQUIRE(mdb_env_open(env, data_dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  MDB_dbi dbi;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
  // u32 version, then its SipHash-2-4 under the store's key.
  Bytes value = {static_cast<std::uint8_t>(version >> 24), static_cast<std::uint8_t>(version >> 16),
                 static_cast<std::uint8_t>(version >> 8), static_cast<std::uint8_t>(version)};
  unsigned char key[crypto_shorthash_KEYBYTES] = {'l', 'i', 'b', 'p', 'o', 's', '-', 's',
                                                  't', 'o', 'r', 'e', '-', 'v', '1', 0};
  unsigned char sum[crypto_shorthash_BYTES];
  crypto_shorthash(sum, value.data(), value.size(), key);
  value.insert(value.end(), sum, sum + sizeof(sum));
  MDB_val k{6, const_cast<char*>("schema")};
  MDB_val v{value.size(), value.data()};
  REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  if (version < 8) {
    MDB_dbi side;
    int rc = mdb_dbi_open(txn, "side", 0, &side);
    REQUIRE((rc == 0 || rc == MDB_NOTFOUND));
    if (rc == 0) REQUIRE(mdb_drop(txn, side, 1) == 0);
  }
  if (version < 7) {
    MDB_dbi sets;
    REQUIRE(mdb_dbi_open(txn, "sets", 0, &sets) == 0);
    REQUIRE(mdb_drop(txn, sets, 1) == 0);
    MDB_val snapshot{8, const_cast<char*>("snapshot")};
    int rc = mdb_del(txn, dbi, &snapshot, nullptr);
    REQUIRE((rc == 0 || rc == MDB_NOTFOUND));
  }
  if (version < 4) {
    MDB_dbi evidence;
    REQUIRE(mdb_dbi_open(txn, "evidence", 0, &evidence) == 0);
    REQUIRE(mdb_drop(txn, evidence, 1) == 0);
  }
  if (version < 2) {
    MDB_dbi addresses;
    REQUIRE(mdb_dbi_open(txn, "addresses", 0, &addresses) == 0);
    REQUIRE(mdb_drop(txn, addresses, 1) == 0);
  }
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

VotePtr vote_by(const TestNet& net, const Wallet& w, std::uint64_t source, std::uint64_t target,
                std::uint8_t variant) {
  VoteFields f;
  f.chain_id = net.chain_id();
  f.source_hash = sha256(std::string_view("source " + std::to_string(source)));
  f.source_height = source;
  f.target_hash =
      sha256(std::string_view("target " + std::to_string(target) + "/" + std::to_string(variant)));
  f.target_height = target;
  return Vote::sign(f, w.secret_key());
}

void TestNet::restart() {
  chain.reset();
  if (options.data_dir.empty()) {
    if (!storage) storage = std::make_unique<MemoryStorage>();  // memory survives a restart
  } else {
    storage.reset();
    storage = LmdbStorage::open(options.data_dir).value();
  }
  chain = Blockchain::open(genesis, *storage, clock).value();
}

const Wallet& TestNet::wallet_of(const PublicKey& key) const {
  for (const auto* group : {&validators, &users})
    for (const auto& w : *group)
      if (w.public_key() == key) return w;
  throw std::logic_error("no wallet with key " + key.hex());
}

std::uint64_t TestNet::next_slot(std::uint64_t after) const {
  for (std::uint64_t slot = after + 1;; ++slot) {
    auto leader = chain->leader(slot);
    if (leader) return slot;
  }
}

BlockPtr TestNet::forge(std::uint64_t slot, std::vector<VotePtr> votes,
                        std::vector<EvidencePtr> evidence) {
  clock.set(genesis.params.slot_start_ms(slot) + 10);
  const Wallet& leader = wallet_of(*chain->leader(slot));
  BlockPtr block =
      chain->forge(leader.secret_key(), slot, pool, clock.now_ms(), std::move(votes)).value();
  if (evidence.empty()) return block;
  return Block::sign(block->header(), block->transactions(), leader.secret_key(), block->votes(),
                     std::move(evidence));
}

BlockPtr TestNet::forge_next(std::vector<VotePtr> votes, std::vector<EvidencePtr> evidence) {
  return forge(next_slot(chain->tip().slot), std::move(votes), std::move(evidence));
}

BlockPtr TestNet::advance(std::uint64_t after) {
  BlockPtr block = forge(next_slot(std::max(chain->tip().slot, after)));
  auto applied = chain->apply(block);
  REQUIRE(applied.ok());
  pool.remove_included(*block, chain->state());
  return block;
}

std::vector<VotePtr> TestNet::tip_votes() const {
  const Checkpoint& source = chain->vote_finality().justified();
  std::vector<VotePtr> out;
  if (source.height >= chain->height()) return out;  // the tip is justified: nothing to vote
  for (std::size_t i = 0; i < validators.size(); ++i) {
    const Wallet& v = validators[i];
    if (silent.contains(i) || !chain->is_voter(v.public_key())) continue;  // slashed, say
    out.push_back(Vote::sign(
        VoteFields{chain_id(), {}, source.hash, source.height, chain->tip_hash(), chain->height()},
        v.secret_key()));
  }
  return out;
}

BlockPtr TestNet::advance_finalizing(std::uint64_t after) {
  BlockPtr block = forge(next_slot(std::max(chain->tip().slot, after)), tip_votes());
  auto applied = chain->apply(block);
  INFO((applied.ok() ? std::string() : applied.error().to_string()));
  REQUIRE(applied.ok());
  pool.remove_included(*block, chain->state());
  return block;
}

std::uint64_t TestNet::finalize_then_advance(std::uint64_t height, std::uint64_t epochs_after) {
  std::optional<std::uint64_t> finalizing_epoch;
  while (!finalizing_epoch ||
         chain->tip().slot < (*finalizing_epoch + epochs_after) * genesis.params.epoch_slots) {
    advance_finalizing();
    if (!finalizing_epoch && chain->vote_finality().finalized().height >= height)
      finalizing_epoch = genesis.params.epoch_of(chain->tip().slot);
  }
  return *finalizing_epoch;
}

BlockPtr TestNet::craft(std::vector<TransactionPtr> txs,
                        const std::function<void(BlockHeader&)>& tamper) {
  TransactionPool empty(genesis.params);
  // Each crafted block gets its own slot: two for one slot by one forger would be equivocation.
  std::uint64_t slot = next_slot(std::max(chain->tip().slot, last_crafted_slot_));
  last_crafted_slot_ = slot;
  clock.set(genesis.params.slot_start_ms(slot) + 10);
  const Wallet& leader = wallet_of(*chain->leader(slot));
  BlockHeader header =
      chain->forge(leader.secret_key(), slot, empty, clock.now_ms()).value()->header();
  header.tx_root = transactions_root(txs);
  header.tx_count = static_cast<std::uint32_t>(txs.size());
  if (tamper) tamper(header);
  // A tampered slot or forger needs the VRF proof for them; a tampered proof stays as it is.
  if (header.slot != slot || header.forger != leader.public_key())
    return resign(std::move(header), std::move(txs));
  const Wallet& forger = wallet_of(header.forger);
  Signature sig = forger.secret_key().sign(header.signing_bytes());
  return Block::make(std::move(header), sig, std::move(txs));
}

BlockPtr TestNet::resign(BlockHeader header, std::vector<TransactionPtr> txs) const {
  const Wallet& forger = wallet_of(header.forger);
  if (header.parent == chain->tip_hash() && header.slot > chain->tip().slot)
    header.vrf_proof =
        vrf_prove(forger.secret_key(),
                  vrf_input(header.chain_id, chain->epoch_nonce(header.slot), header.slot));
  Signature sig = forger.secret_key().sign(header.signing_bytes());
  return Block::make(std::move(header), sig, std::move(txs));
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("pos-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Hash filled(std::uint8_t byte) {
  Hash out;
  out.bytes.fill(byte);
  return out;
}

Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ByteView text(std::string_view s) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

std::string replace_first(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

Logger capture_log(std::vector<std::string>& lines, std::string component) {
  auto keep = [&lines](const LogEvent& e) {
    lines.push_back(std::string(log_level_name(e.level)) + " " + log_text(e.message, e.fields));
  };
  return Logger(function_log_sink(keep), std::move(component));
}

Logger stderr_log(std::string component) {
  return Logger(stream_log_sink(stderr, LogLevel::kDebug, LogFormat::kText), std::move(component));
}

std::map<std::string, int> thread_nice_values() {
  std::map<std::string, int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // After the command's closing parenthesis: the state is field 3, the nice value field 19.
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 19 && fields >> field; ++i) {
    }
    out[task.path().filename().string()] = std::stoi(field);
  }
  return out;
}

std::vector<int> nice_of_new_threads(const std::map<std::string, int>& before,
                                     const std::map<std::string, int>& after) {
  std::vector<int> out;
  for (const auto& [tid, nice] : after)
    if (!before.contains(tid)) out.push_back(nice);
  return out;
}

std::string this_thread_id() {
  return std::to_string(syscall(SYS_gettid));
}

int run_command(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace pos::test
