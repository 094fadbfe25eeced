// The LMDB tables (named databases) of a data dir, and their records. Every value ends with an
// 8-byte SipHash-2-4 checksum of the rest, so that damaged bytes are reported when read instead
// of being believed.
//   meta      "schema"   -> u32 schema version
//             "chain_id" -> the chain id's bytes
//             "genesis"  -> genesis hash (32)
//             "tip"      -> tip block hash (32) || u64 tip height
//             "finalized" -> finalized block hash (32) || u64 height || u64 slot
//             "snapshot" -> the consensus snapshot: the chain's consensus state at a finalized
//                           block, in the layout of docs/storage.md
//   blocks    block hash (32)    -> the block's binary form (pos/codec.h)
//   main      u64 height (big-endian, so keys sort by height) -> main-chain block hash (32)
//   accounts  address (32)       -> u64 balance || u64 stake || u64 nonce || u64 unbonding
//                                   || u64 unbonding_height || u8 flags (bit 0: slashed, bit 1:
//                                   jailed) (unbonding_height: the latest UNSTAKE's block)
//   stakers   address (32)       -> u64 stake, for every account with stake > 0
//   undo      block hash (32)    -> u32 n || n * (address (32) || account as above)
//   txs       transaction id (32) -> u64 height || u32 index || block hash (32)
//   addresses address (32) || u64 height || u32 index -> transaction id (32), for every main-chain
//             transaction the address sent or received
//   epochs    block hash (32)    -> u64 epoch || nonce (32) || next nonce (32), for every stored
//             block (pos/epoch.h)
//   evidence  evidence id (32)   -> the evidence's bytes, for evidence not yet on the main chain
//   sets      u64 epoch          -> u32 n || n * (public key (32) || u64 weight): validators(e)
//             from each epoch e up to the snapshot's whose set changed
//   side      u64 height || block hash (32) -> nothing (the checksum alone), for every stored
//             block off the main chain
// Schema 8 holds protocol v2 blocks with validator sets and unbonding that follow finality and
// downtime jailing, the consensus snapshot, and the side table. Schema 7 is schema 8 without the
// side table, schema 6 schema 7 without the snapshot: the first commit (the first snapshot, once
// the chain opened) upgrades either in place, and lists the stored side blocks, so a refused
// open leaves it as it was; until then, and for a reader, it has no snapshot (6) and no side
// blocks (6, 7). Schemas 3 to 5
// (earlier v2) and 1 and 2 (protocol v1) are refused, not converted: their chain is another
// network's. Integers are big-endian. A StorageBatch is one write transaction: a crash leaves the
// state before or after it, never a mix.
#include "pos/lmdb_storage.h"

#include <fcntl.h>
#include <lmdb.h>
#include <sodium.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "byte_reader.h"
#include "encoding.h"
#include "pos/codec.h"
#include "pos_fmt.h"
#include "snapshot_codec.h"

namespace pos {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kChecksumBytes = crypto_shorthash_BYTES;
constexpr std::array<unsigned char, crypto_shorthash_KEYBYTES> kChecksumKey = {
    'l', 'i', 'b', 'p', 'o', 's', '-', 's', 't', 'o', 'r', 'e', '-', 'v', '1', '\0'};

constexpr const char* kTables[] = {"meta", "blocks",    "main",   "accounts", "stakers", "undo",
                                   "txs",  "addresses", "epochs", "evidence", "sets",    "side"};
enum Table {
  kMeta,
  kBlocks,
  kMain,
  kAccounts,
  kStakers,
  kUndo,
  kTxs,
  kAddresses,
  kEpochs,
  kEvidence,
  kSets,  // since schema 7
  kSide,  // since schema 8: always the last table
  kTableCount
};
// The schema that gained the consensus snapshot and the sets table.
constexpr std::uint32_t kSnapshotSchema = 7;
// The schema that gained the side table.
constexpr std::uint32_t kSideSchema = 8;

// How many of the tables, in kTables order, a dir of `version` has.
int tables_of(std::uint32_t version) {
  if (version < kSnapshotSchema) return kSets;
  if (version < kSideSchema) return kSide;
  return kTableCount;
}

Error storage_error(const std::string& message) {
  return make_error(Reason::kStorage, message);
}

std::string lmdb_message(int rc) {
  return mdb_strerror(rc);
}

MDB_val as_val(ByteView bytes) {
  return MDB_val{bytes.size(), const_cast<std::uint8_t*>(bytes.data())};
}
MDB_val as_val(std::string_view text) {
  return MDB_val{text.size(), const_cast<char*>(text.data())};
}

Bytes seal(Bytes payload) {
  std::array<unsigned char, kChecksumBytes> sum;
  crypto_shorthash(sum.data(), payload.data(), payload.size(), kChecksumKey.data());
  payload.insert(payload.end(), sum.begin(), sum.end());
  return payload;
}

// The payload of a stored value after checking its checksum.
ByteView unseal(const MDB_val& v, Table table) {
  auto* data = static_cast<const std::uint8_t*>(v.mv_data);
  bool ok = v.mv_size >= kChecksumBytes;
  if (ok) {
    std::array<unsigned char, kChecksumBytes> sum;
    crypto_shorthash(sum.data(), data, v.mv_size - kChecksumBytes, kChecksumKey.data());
    ok = std::memcmp(sum.data(), data + v.mv_size - kChecksumBytes, kChecksumBytes) == 0;
  }
  if (!ok)
    throw StorageError(std::string("damaged record in table \"") + kTables[table] +
                       "\": checksum mismatch");
  return ByteView(data, v.mv_size - kChecksumBytes);
}

Bytes height_key(std::uint64_t height) {
  detail::ByteWriter w(8);
  w.u64(height);
  return std::move(w).take();
}

Bytes history_key(const Address& address, TxPosition position) {
  detail::ByteWriter w(44);
  w.raw(address.view()).u64(position.height).u32(position.index);
  return std::move(w).take();
}

void write_account(detail::ByteWriter& w, const Account& a) {
  w.u64(a.balance).u64(a.stake).u64(a.nonce).u64(a.unbonding).u64(a.unbonding_height);
  w.u8(account_flags(a));
}

Account read_account(detail::ByteReader& r) {
  Account a;
  a.balance = r.u64();
  a.stake = r.u64();
  a.nonce = r.u64();
  a.unbonding = r.u64();
  a.unbonding_height = r.u64();
  std::uint8_t flags = r.u8();
  if (flags > 3) throw StorageError("damaged account record: unknown flags");
  a.slashed = (flags & 1) != 0;
  a.jailed = (flags & 2) != 0;
  return a;
}

void require_complete(const detail::ByteReader& r, Table table) {
  if (!r.ok() || r.remaining() != 0)
    throw StorageError(std::string("damaged record in table \"") + kTables[table] +
                       "\": wrong length");
}

// Read transactions run on any thread (MDB_NOTLS) beside the writer, and hold this lock shared;
// the map is resized only under it exclusively, with no transaction open in the process, as
// LMDB asks. A resize waiting at the gate keeps new readers out, so a stream of overlapping
// reads cannot starve it.
struct MapLock {
  std::mutex gate;
  std::shared_mutex readers;
};

class ExclusiveMap {
 public:
  explicit ExclusiveMap(MapLock& lock) : gate_(lock.gate), readers_(lock.readers) {}

 private:
  std::lock_guard<std::mutex> gate_;
  std::unique_lock<std::shared_mutex> readers_;
};

// A read transaction, aborted when it goes out of scope.
class ReadTxn {
 public:
  ReadTxn(MDB_env* env, MapLock& map) : map_lock_(enter(map)) {
    int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_);
    if (rc == MDB_MAP_RESIZED) {  // another process (the node) grew the map: adopt its size
      map_lock_.unlock();
      {
        ExclusiveMap alone(map);
        mdb_env_set_mapsize(env, 0);
      }
      map_lock_ = enter(map);
      rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_);
    }
    if (rc != 0) throw StorageError("cannot begin a read transaction: " + lmdb_message(rc));
  }
  ~ReadTxn() { mdb_txn_abort(txn_); }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  MDB_txn* get() const { return txn_; }

 private:
  static std::shared_lock<std::shared_mutex> enter(MapLock& map) {
    std::lock_guard wait_for_resizes(map.gate);
    return std::shared_lock(map.readers);
  }
  std::shared_lock<std::shared_mutex> map_lock_;
  MDB_txn* txn_ = nullptr;
};

std::uintmax_t file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

}  // namespace

struct LmdbStorage::Impl {
  fs::path dir;
  LmdbOptions options;
  int lock_fd = -1;
  MDB_env* env = nullptr;
  std::array<MDB_dbi, kTableCount> dbi{};
  std::size_t map_size = 0;
  // False for a schema-6 dir (has_sets) or a schema-6 or 7 dir (has_side) until its first commit
  // (upgrade_pending) upgrades it, or for good when it is open read-only.
  std::atomic<bool> has_sets = true;
  std::atomic<bool> has_side = true;
  std::uint32_t version = LmdbStorage::kSchemaVersion;
  bool upgrade_pending = false;
  mutable MapLock map_mutex;  // shared by read transactions, exclusive for a resize

  ~Impl() {
    if (env != nullptr) mdb_env_close(env);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  // The payload stored under key in table, or nothing.
  std::optional<Bytes> get(MDB_txn* txn, Table table, ByteView key) const {
    MDB_val k = as_val(key);
    MDB_val v;
    int rc = mdb_get(txn, dbi[table], &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (rc != 0)
      throw StorageError(std::string("read from table \"") + kTables[table] +
                         "\" failed: " + lmdb_message(rc));
    ByteView payload = unseal(v, table);
    return Bytes(payload.begin(), payload.end());
  }
  std::optional<Bytes> get(Table table, ByteView key) const {
    ReadTxn txn(env, map_mutex);
    return get(txn.get(), table, key);
  }

  BlockPtr block(MDB_txn* txn, const Hash& hash) const {
    auto bytes = get(txn, kBlocks, hash.view());
    if (!bytes) return nullptr;
    auto block = decode_block(*bytes);
    if (!block.ok() || block.value()->hash() != hash)
      throw StorageError("damaged block record " + hash.hex());
    return *block;
  }
};

LmdbStorage::LmdbStorage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LmdbStorage::~LmdbStorage() = default;

namespace {

// Opens every table of an existing environment inside txn, or creates them when `create`.
int open_tables(MDB_txn* txn, std::array<MDB_dbi, kTableCount>& dbi, bool create,
                std::string& missing, int count = kTableCount) {
  for (int t = 0; t < count; ++t) {
    int rc =
        mdb_dbi_open(txn, kTables[t], create ? MDB_CREATE : 0, &dbi[static_cast<std::size_t>(t)]);
    if (rc != 0) {
      missing = kTables[t];
      return rc;
    }
  }
  return 0;
}

MDB_env* create_env(std::size_t map_size) {
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != 0) return nullptr;
  mdb_env_set_maxdbs(env, kTableCount + 1);
  mdb_env_set_mapsize(env, map_size);
  return env;
}

// Checks an existing data file read-only, before anything may write to it; reads its schema.
Status validate_existing(const fs::path& dir, std::size_t map_size, std::uint32_t& version) {
  const fs::path data = dir / "data.mdb";
  MDB_env* env = create_env(map_size);
  if (env == nullptr) return storage_error("cannot create an LMDB environment");
  struct Closer {
    MDB_env* env;
    ~Closer() { mdb_env_close(env); }
  } closer{env};
  int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
  if (rc != 0)
    return storage_error(data.string() + " cannot be opened (" + lmdb_message(rc) +
                         "): the file is damaged or not a libpos data file");
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(env, &info);
  mdb_env_stat(env, &stat);
  std::uintmax_t needed = (static_cast<std::uintmax_t>(info.me_last_pgno) + 1) * stat.ms_psize;
  std::uintmax_t size = file_size_or_zero(data);
  if (size < needed)
    return storage_error(
        fmt::format("{} is truncated: {} bytes, its header needs {}", data.string(), size, needed));
  MapLock alone;  // no other thread has this env yet
  ReadTxn txn(env, alone);
  std::array<MDB_dbi, kTableCount> dbi{};
  std::string missing;
  if ((rc = open_tables(txn.get(), dbi, false, missing, 1)) != 0)
    return storage_error(data.string() + ": table \"" + missing + "\" is missing (" +
                         lmdb_message(rc) + "): damaged, or not a libpos data dir");
  MDB_val key = as_val(std::string_view("schema"));
  MDB_val value;
  if (mdb_get(txn.get(), dbi[kMeta], &key, &value) != 0)
    return storage_error(data.string() + " has no schema version: damaged");
  try {
    detail::ByteReader r(unseal(value, kMeta));
    version = r.u32();
    require_complete(r, kMeta);
  } catch (const StorageError& e) {
    return storage_error(data.string() + ": " + e.what());
  }
  if (version > LmdbStorage::kSchemaVersion || version == 0)
    return storage_error(
        fmt::format("{} was written with schema version {}; this libpos reads "
                    "schema version {}: open it with a newer libpos",
                    dir.string(), version, LmdbStorage::kSchemaVersion));
  if (version >= 3 && version <= 5)
    return storage_error(fmt::format(
        "{} holds a chain of protocol v2 before {} (schema version {}), which this libpos cannot "
        "read or convert: accounts and state roots changed, so that network is gone. Move the "
        "directory aside or delete it (rm -r {}), then start again to sync the current network",
        dir.string(),
        version == 3   ? "slashing"
        : version == 4 ? "validator sets followed finality"
                       : "downtime jailing",
        version, dir.string()));
  if (version < 3)
    return storage_error(fmt::format(
        "{} holds a protocol v1 chain (schema version {}), which this libpos (protocol v2) cannot "
        "read or convert: that network is gone. Move the directory aside or delete it (rm -r {}), "
        "then start again to sync the v2 network",
        dir.string(), version, dir.string()));
  if ((rc = open_tables(txn.get(), dbi, false, missing, tables_of(version))) != 0)
    return storage_error(data.string() + ": table \"" + missing + "\" is missing (" +
                         lmdb_message(rc) + "): damaged, or not a libpos data dir");
  return {};
}

}  // namespace

Result<std::unique_ptr<LmdbStorage>> LmdbStorage::open(const fs::path& dir, LmdbOptions options) {
  std::error_code ec;
  if (!options.read_only) fs::create_directories(dir, ec);
  if (ec) return make_error(Reason::kIoError, dir.string() + ": " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;

  std::uintmax_t existing = file_size_or_zero(dir / "data.mdb");
  if (options.read_only && existing == 0)
    return storage_error(dir.string() + " holds no chain to read");
  if (!options.read_only) {
    impl->lock_fd = ::open((dir / "LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (impl->lock_fd < 0)
      return make_error(Reason::kIoError,
                        (dir / "LOCK").string() + ": cannot open: " + std::strerror(errno));
    if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0)
      return storage_error("data dir " + dir.string() +
                           " is in use by another process (its LOCK file is held)");
  }

  std::size_t map_size = std::max<std::size_t>(options.initial_map_size, existing);
  std::uint32_t version = kSchemaVersion;
  if (existing > 0)
    if (auto ok = validate_existing(dir, map_size, version); !ok.ok()) return ok.error();

  impl->env = create_env(map_size);
  if (impl->env == nullptr) return storage_error("cannot create an LMDB environment");
  unsigned flags =
      MDB_NOTLS | (options.sync ? 0u : MDB_NOSYNC) | (options.read_only ? MDB_RDONLY : 0u);
  int rc = mdb_env_open(impl->env, dir.c_str(), flags, 0644);
  if (rc != 0) return storage_error(dir.string() + ": cannot open LMDB: " + lmdb_message(rc));
  MDB_envinfo info;
  mdb_env_info(impl->env, &info);
  impl->map_size = info.me_mapsize;

  MDB_txn* txn = nullptr;
  bool create = existing == 0;
  // A schema-6 dir gains the sets table, a schema-7 one the side table; read-only, they have
  // none (and no snapshot, no side blocks).
  impl->version = version;
  impl->has_sets = create || version >= kSnapshotSchema;
  impl->has_side = create || version >= kSideSchema;
  impl->upgrade_pending = !impl->has_side && !options.read_only;
  if ((rc = mdb_txn_begin(impl->env, nullptr, create ? 0 : MDB_RDONLY, &txn)) != 0)
    return storage_error(dir.string() + ": " + lmdb_message(rc));
  std::string missing;
  rc = open_tables(txn, impl->dbi, create, missing, create ? kTableCount : tables_of(version));
  if (rc == 0 && create) {
    detail::ByteWriter w(4);
    w.u32(kSchemaVersion);
    Bytes value = seal(std::move(w).take());
    MDB_val k = as_val(std::string_view("schema"));
    MDB_val v = as_val(value);
    rc = mdb_put(txn, impl->dbi[kMeta], &k, &v, 0);
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return storage_error(dir.string() + ": cannot open table \"" + missing +
                         "\": " + lmdb_message(rc));
  }
  if ((rc = mdb_txn_commit(txn)) != 0) return storage_error(dir.string() + ": " + lmdb_message(rc));
  return std::unique_ptr<LmdbStorage>(new LmdbStorage(std::move(impl)));
}

BlockPtr LmdbStorage::block(const Hash& hash) const {
  ReadTxn txn(impl_->env, impl_->map_mutex);
  return impl_->block(txn.get(), hash);
}

std::optional<Hash> LmdbStorage::main_chain_hash(std::uint64_t height) const {
  auto bytes = impl_->get(kMain, height_key(height));
  if (!bytes) return std::nullopt;
  if (bytes->size() != Hash::size()) throw StorageError("damaged record in table \"main\"");
  return Hash::from_bytes(*bytes);
}

std::optional<EpochNonces> LmdbStorage::epoch_nonces(const Hash& block_hash) const {
  auto bytes = impl_->get(kEpochs, block_hash.view());
  if (!bytes) return std::nullopt;
  detail::ByteReader r(*bytes);
  EpochNonces out;
  out.epoch = r.u64();
  out.nonce = r.fixed<Hash>();
  out.next = r.fixed<Hash>();
  require_complete(r, kEpochs);
  return out;
}

std::optional<UndoRecord> LmdbStorage::undo(const Hash& block_hash) const {
  auto bytes = impl_->get(kUndo, block_hash.view());
  if (!bytes) return std::nullopt;
  detail::ByteReader r(*bytes);
  UndoRecord record;
  std::uint32_t n = r.u32();
  if (n > bytes->size() / (32 + 41)) throw StorageError("damaged record in table \"undo\"");
  record.prior.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    Address address = r.fixed<Address>();
    record.prior.emplace_back(address, read_account(r));
  }
  require_complete(r, kUndo);
  return record;
}

std::optional<TxLocation> LmdbStorage::tx_location(const Hash& tx_id) const {
  auto bytes = impl_->get(kTxs, tx_id.view());
  if (!bytes) return std::nullopt;
  detail::ByteReader r(*bytes);
  TxLocation where;
  where.height = r.u64();
  where.index = r.u32();
  where.block = r.fixed<Hash>();
  require_complete(r, kTxs);
  return where;
}

std::optional<Account> LmdbStorage::account(const Address& address) const {
  auto bytes = impl_->get(kAccounts, address.view());
  if (!bytes) return std::nullopt;
  detail::ByteReader r(*bytes);
  Account a = read_account(r);
  require_complete(r, kAccounts);
  return a;
}

namespace {

// Calls fn(key, payload) for every record of a table, in key order.
// Calls fn(key, payload) for each record of the table in key order, in txn, until fn says stop.
void scan_in(MDB_txn* txn, MDB_dbi dbi, Table table,
             const std::function<bool(ByteView, ByteView)>& fn, std::size_t key_size) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &cursor);
  if (rc != 0) throw StorageError("cannot open a cursor: " + lmdb_message(rc));
  struct Closer {
    MDB_cursor* c;
    ~Closer() { mdb_cursor_close(c); }
  } closer{cursor};
  MDB_val k, v;
  for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
    if (k.mv_size != key_size)
      throw StorageError(std::string("damaged key in table \"") + kTables[table] + "\"");
    if (!fn(ByteView(static_cast<const std::uint8_t*>(k.mv_data), k.mv_size), unseal(v, table)))
      return;
  }
  if (rc != MDB_NOTFOUND)
    throw StorageError(std::string("scan of table \"") + kTables[table] +
                       "\" failed: " + lmdb_message(rc));
}

void scan(MDB_env* env, MapLock& map_mutex, MDB_dbi dbi, Table table,
          const std::function<void(ByteView, ByteView)>& fn, std::size_t key_size = 32) {
  ReadTxn txn(env, map_mutex);
  scan_in(
      txn.get(), dbi, table,
      [&](ByteView key, ByteView value) {
        fn(key, value);
        return true;
      },
      key_size);
}

}  // namespace

void LmdbStorage::for_each_account(
    const std::function<void(const Address&, const Account&)>& fn) const {
  scan(impl_->env, impl_->map_mutex, impl_->dbi[kAccounts], kAccounts,
       [&](ByteView key, ByteView value) {
         detail::ByteReader r(value);
         Account a = read_account(r);
         require_complete(r, kAccounts);
         fn(Address::from_bytes(key), a);
       });
}

std::vector<std::pair<Address, std::uint64_t>> LmdbStorage::stakers() const {
  std::vector<std::pair<Address, std::uint64_t>> out;
  scan(impl_->env, impl_->map_mutex, impl_->dbi[kStakers], kStakers,
       [&](ByteView key, ByteView value) {
         detail::ByteReader r(value);
         std::uint64_t stake = r.u64();
         require_complete(r, kStakers);
         out.emplace_back(Address::from_bytes(key), stake);
       });
  return out;
}

std::vector<EvidencePtr> LmdbStorage::pending_evidence() const {
  std::vector<EvidencePtr> out;
  scan(impl_->env, impl_->map_mutex, impl_->dbi[kEvidence], kEvidence,
       [&](ByteView key, ByteView value) {
         auto evidence = decode_evidence(value);
         if (!evidence.ok() || (*evidence)->id() != Hash::from_bytes(key))
           throw StorageError("damaged record in table \"evidence\"");
         out.push_back(std::move(*evidence));
       });
  return out;
}

std::optional<Bytes> LmdbStorage::consensus_snapshot() const {
  // Not before the sets are there: a view of a schema-6 dir that a writer upgrades meanwhile.
  if (!impl_->has_sets) return std::nullopt;
  return impl_->get(kMeta, ByteView(reinterpret_cast<const std::uint8_t*>("snapshot"), 8));
}

std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> LmdbStorage::past_validator_sets() const {
  std::vector<std::pair<std::uint64_t, ValidatorSetPtr>> out;
  if (!impl_->has_sets) return out;
  scan(
      impl_->env, impl_->map_mutex, impl_->dbi[kSets], kSets,
      [&](ByteView key, ByteView value) {
        detail::ByteReader r(value);
        ValidatorSetPtr set = detail::read_validator_set(r);
        if (!set) throw StorageError("damaged record in table \"sets\"");
        require_complete(r, kSets);
        out.emplace_back(detail::read_u64_be(key.data()), std::move(set));
      },
      8);
  return out;
}

std::vector<std::pair<std::uint64_t, Hash>> LmdbStorage::side_blocks(std::uint64_t height,
                                                                     std::size_t limit) const {
  std::vector<std::pair<std::uint64_t, Hash>> out;
  if (!impl_->has_side || limit == 0) return out;
  ReadTxn txn(impl_->env, impl_->map_mutex);
  scan_in(
      txn.get(), impl_->dbi[kSide], kSide,
      [&](ByteView key, ByteView value) {
        if (!value.empty()) throw StorageError("damaged record in table \"side\"");
        std::uint64_t at = detail::read_u64_be(key.data());
        if (at >= height) return false;
        out.emplace_back(at, Hash::from_bytes(key.subspan(8)));
        return out.size() < limit;
      },
      40);
  return out;
}

std::optional<ChainMeta> LmdbStorage::meta() const {
  ReadTxn txn(impl_->env, impl_->map_mutex);
  auto tip =
      impl_->get(txn.get(), kMeta, ByteView(reinterpret_cast<const std::uint8_t*>("tip"), 3));
  if (!tip) return std::nullopt;
  auto genesis =
      impl_->get(txn.get(), kMeta, ByteView(reinterpret_cast<const std::uint8_t*>("genesis"), 7));
  auto chain_id =
      impl_->get(txn.get(), kMeta, ByteView(reinterpret_cast<const std::uint8_t*>("chain_id"), 8));
  if (!genesis || !chain_id || genesis->size() != 32)
    throw StorageError("damaged metadata: tip without genesis or chain id");
  ChainMeta meta;
  detail::ByteReader r(*tip);
  meta.tip = r.fixed<Hash>();
  meta.height = r.u64();
  require_complete(r, kMeta);
  meta.genesis_hash = Hash::from_bytes(*genesis);
  meta.chain_id.assign(chain_id->begin(), chain_id->end());
  if (auto finalized = impl_->get(
          txn.get(), kMeta, ByteView(reinterpret_cast<const std::uint8_t*>("finalized"), 9))) {
    detail::ByteReader f(*finalized);
    Checkpoint c;
    c.hash = f.fixed<Hash>();
    c.height = f.u64();
    c.slot = f.u64();
    require_complete(f, kMeta);
    meta.finalized = c;
  }
  return meta;
}

namespace {

int put(MDB_txn* txn, MDB_dbi dbi, ByteView key, Bytes payload) {
  Bytes value = seal(std::move(payload));
  MDB_val k = as_val(key);
  MDB_val v = as_val(value);
  return mdb_put(txn, dbi, &k, &v, 0);
}

int del(MDB_txn* txn, MDB_dbi dbi, ByteView key) {
  MDB_val k = as_val(key);
  int rc = mdb_del(txn, dbi, &k, nullptr);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

ByteView text(std::string_view s) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

Bytes side_key(std::uint64_t height, const Hash& hash) {
  Bytes key = height_key(height);
  key.insert(key.end(), hash.bytes.begin(), hash.bytes.end());
  return key;
}

// The side table of a dir written before it: every stored block (each has an epochs record)
// that the main table does not name. Read once, at the upgrade.
int list_side_blocks(MDB_txn* txn, const std::array<MDB_dbi, kTableCount>& dbi) {
  std::vector<Hash> main;  // sorted: 32 bytes a block, no more
  scan_in(
      txn, dbi[kMain], kMain,
      [&](ByteView, ByteView value) {
        if (value.size() != 32) throw StorageError("damaged record in table \"main\"");
        main.push_back(Hash::from_bytes(value));
        return true;
      },
      8);
  std::sort(main.begin(), main.end());
  std::vector<Hash> side;
  scan_in(
      txn, dbi[kEpochs], kEpochs,
      [&](ByteView key, ByteView) {
        Hash hash = Hash::from_bytes(key);
        if (!std::binary_search(main.begin(), main.end(), hash)) side.push_back(hash);
        return true;
      },
      32);
  for (const Hash& hash : side) {
    MDB_val k = as_val(hash.view());
    MDB_val v;
    int rc = mdb_get(txn, dbi[kBlocks], &k, &v);
    if (rc == MDB_NOTFOUND) continue;
    if (rc != 0) return rc;
    auto block = decode_block(unseal(v, kBlocks));
    if (!block.ok() || (*block)->hash() != hash)
      throw StorageError("damaged block record " + hash.hex());
    if ((rc = put(txn, dbi[kSide], side_key((*block)->height(), hash), {})) != 0) return rc;
  }
  return 0;
}

// Schema 6 or 7 to 8, in the write transaction of the first commit: the tables it lacks, the
// side blocks listed, and the version.
int upgrade(MDB_txn* txn, std::array<MDB_dbi, kTableCount>& dbi, std::uint32_t from) {
  int rc = 0;
  if (from < kSnapshotSchema) rc = mdb_dbi_open(txn, kTables[kSets], MDB_CREATE, &dbi[kSets]);
  if (rc == 0) rc = mdb_dbi_open(txn, kTables[kSide], MDB_CREATE, &dbi[kSide]);
  if (rc == 0) rc = list_side_blocks(txn, dbi);
  detail::ByteWriter w(4);
  w.u32(kSideSchema);
  return rc != 0 ? rc : put(txn, dbi[kMeta], text("schema"), std::move(w).take());
}

// Writes the whole batch into txn; erasures before puts, as the Storage contract says.
int write_batch(MDB_txn* txn, const std::array<MDB_dbi, kTableCount>& dbi,
                const StorageBatch& batch) {
  int rc = 0;
  auto step = [&rc](int r) {
    if (rc == 0) rc = r;
    return rc == 0;
  };
  for (const auto& block : batch.blocks)
    if (!step(put(txn, dbi[kBlocks], block->hash().view(), encode(*block)))) return rc;
  for (const auto& [hash, nonces] : batch.epoch_put) {
    detail::ByteWriter w(72);
    w.u64(nonces.epoch).raw(nonces.nonce.view()).raw(nonces.next.view());
    if (!step(put(txn, dbi[kEpochs], hash.view(), std::move(w).take()))) return rc;
  }
  for (const auto& [hash, undo] : batch.undo_put) {
    detail::ByteWriter w(4 + undo.prior.size() * 73);
    w.u32(static_cast<std::uint32_t>(undo.prior.size()));
    for (const auto& [address, account] : undo.prior) {
      w.raw(address.view());
      write_account(w, account);
    }
    if (!step(put(txn, dbi[kUndo], hash.view(), std::move(w).take()))) return rc;
  }
  for (auto height : batch.main_erase)
    if (!step(del(txn, dbi[kMain], height_key(height)))) return rc;
  for (const auto& [height, hash] : batch.main_put)
    if (!step(
            put(txn, dbi[kMain], height_key(height), Bytes(hash.bytes.begin(), hash.bytes.end()))))
      return rc;
  for (const auto& id : batch.tx_erase)
    if (!step(del(txn, dbi[kTxs], id.view()))) return rc;
  for (const auto& [id, where] : batch.tx_put) {
    detail::ByteWriter w(44);
    w.u64(where.height).u32(where.index).raw(where.block.view());
    if (!step(put(txn, dbi[kTxs], id.view(), std::move(w).take()))) return rc;
  }
  for (const auto& [address, position] : batch.address_erase)
    if (!step(del(txn, dbi[kAddresses], history_key(address, position)))) return rc;
  for (const auto& [address, entry] : batch.address_put)
    if (!step(put(txn, dbi[kAddresses], history_key(address, entry.position),
                  Bytes(entry.tx_id.bytes.begin(), entry.tx_id.bytes.end()))))
      return rc;
  for (const auto& [address, account] : batch.accounts) {
    if (account.empty()) {
      step(del(txn, dbi[kAccounts], address.view()));
    } else {
      detail::ByteWriter w(41);
      write_account(w, account);
      step(put(txn, dbi[kAccounts], address.view(), std::move(w).take()));
    }
    if (account.stake > 0) {
      detail::ByteWriter w(8);
      w.u64(account.stake);
      step(put(txn, dbi[kStakers], address.view(), std::move(w).take()));
    } else {
      step(del(txn, dbi[kStakers], address.view()));
    }
    if (rc != 0) return rc;
  }
  for (const auto& id : batch.evidence_erase)
    if (!step(del(txn, dbi[kEvidence], id.view()))) return rc;
  for (const auto& evidence : batch.evidence_put)
    if (!step(put(txn, dbi[kEvidence], evidence->id().view(), evidence->bytes()))) return rc;
  for (const auto& [epoch, set] : batch.sets_put) {
    detail::ByteWriter w(4 + set->size() * 40);
    detail::write_validator_set(w, *set);
    if (!step(put(txn, dbi[kSets], height_key(epoch), std::move(w).take()))) return rc;
  }
  for (const auto& [height, hash] : batch.side_erase)
    if (!step(del(txn, dbi[kSide], side_key(height, hash)))) return rc;
  for (const auto& [height, hash] : batch.side_put)
    if (!step(put(txn, dbi[kSide], side_key(height, hash), {}))) return rc;
  for (const auto& [height, hash] : batch.blocks_erase) {
    if (!step(del(txn, dbi[kBlocks], hash.view())) || !step(del(txn, dbi[kUndo], hash.view())) ||
        !step(del(txn, dbi[kEpochs], hash.view())) ||
        !step(del(txn, dbi[kSide], side_key(height, hash))))
      return rc;
  }
  if (batch.snapshot && !step(put(txn, dbi[kMeta], text("snapshot"), *batch.snapshot))) return rc;
  if (batch.meta) {
    detail::ByteWriter w(40);
    w.raw(batch.meta->tip.view()).u64(batch.meta->height);
    step(put(txn, dbi[kMeta], text("tip"), std::move(w).take()));
    step(put(txn, dbi[kMeta], text("genesis"),
             Bytes(batch.meta->genesis_hash.bytes.begin(), batch.meta->genesis_hash.bytes.end())));
    step(put(txn, dbi[kMeta], text("chain_id"),
             Bytes(batch.meta->chain_id.begin(), batch.meta->chain_id.end())));
    if (const auto& finalized = batch.meta->finalized) {
      detail::ByteWriter f(48);
      f.raw(finalized->hash.view()).u64(finalized->height).u64(finalized->slot);
      step(put(txn, dbi[kMeta], text("finalized"), std::move(f).take()));
    }
  }
  return rc;
}

}  // namespace

Status LmdbStorage::commit(const StorageBatch& batch) {
  if (impl_->options.read_only) return storage_error(impl_->dir.string() + " is open read-only");
  for (;;) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn);
    if (rc != 0) return storage_error("cannot begin a write transaction: " + lmdb_message(rc));
    if (impl_->upgrade_pending) {
      try {
        rc = upgrade(txn, impl_->dbi, impl_->version);
      } catch (const StorageError& e) {
        mdb_txn_abort(txn);
        return storage_error(fmt::format("{}: cannot upgrade to schema {}: {}", impl_->dir.string(),
                                         kSideSchema, e.what()));
      }
    }
    if (rc == 0) rc = write_batch(txn, impl_->dbi, batch);
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
    if (rc == 0) {
      if (impl_->upgrade_pending) {
        impl_->upgrade_pending = false;
        impl_->version = kSideSchema;
        impl_->has_sets = true;
        impl_->has_side = true;
      }
      return {};
    }
    if (rc != MDB_MAP_FULL) return storage_error("commit failed: " + lmdb_message(rc));
    // Full: grow the map and retry the whole batch.
    if (impl_->map_size >= impl_->options.max_map_size)
      return storage_error(
          fmt::format("the data dir {} reached its size limit of {} MiB; raise the limit to go on",
                      impl_->dir.string(), impl_->options.max_map_size >> 20));
    std::size_t grown = std::min(impl_->map_size * 2, impl_->options.max_map_size);
    ExclusiveMap no_readers(impl_->map_mutex);
    if ((rc = mdb_env_set_mapsize(impl_->env, grown)) != 0)
      return storage_error("cannot grow the map: " + lmdb_message(rc));
    impl_->map_size = grown;
  }
}

std::vector<BlockPtr> LmdbStorage::main_chain_blocks(std::uint64_t from, std::size_t max_count,
                                                     std::size_t max_bytes) const {
  std::vector<BlockPtr> out;
  ReadTxn txn(impl_->env, impl_->map_mutex);
  std::size_t bytes = 0;
  for (std::uint64_t h = from; out.size() < max_count; ++h) {
    auto hash = impl_->get(txn.get(), kMain, height_key(h));
    if (!hash) break;
    if (hash->size() != Hash::size()) throw StorageError("damaged record in table \"main\"");
    BlockPtr block = impl_->block(txn.get(), Hash::from_bytes(*hash));
    if (!block) throw StorageError(fmt::format("main chain height {} has no block", h));
    if (!out.empty() && bytes + block->encoded_size() > max_bytes) break;
    bytes += block->encoded_size();
    out.push_back(std::move(block));
  }
  return out;
}

std::vector<AddressTx> LmdbStorage::address_history(const Address& address,
                                                    std::optional<TxPosition> before,
                                                    std::size_t limit) const {
  std::vector<AddressTx> out;
  if (limit == 0) return out;
  ReadTxn txn(impl_->env, impl_->map_mutex);
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn.get(), impl_->dbi[kAddresses], &cursor);
  if (rc != 0) throw StorageError("cannot open a cursor: " + lmdb_message(rc));
  struct Closer {
    MDB_cursor* c;
    ~Closer() { mdb_cursor_close(c); }
  } closer{cursor};
  // Start at the first key at or after the bound, then walk backwards past it.
  Bytes bound = history_key(address, before.value_or(TxPosition{UINT64_MAX, UINT32_MAX}));
  MDB_val k = as_val(bound), v;
  rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
  rc = mdb_cursor_get(cursor, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
  for (; rc == 0 && out.size() < limit; rc = mdb_cursor_get(cursor, &k, &v, MDB_PREV)) {
    if (k.mv_size != 44) throw StorageError("damaged key in table \"addresses\"");
    ByteView key(static_cast<const std::uint8_t*>(k.mv_data), k.mv_size);
    if (!std::equal(address.bytes.begin(), address.bytes.end(), key.begin())) break;
    ByteView id = unseal(v, kAddresses);
    if (id.size() != Hash::size()) throw StorageError("damaged record in table \"addresses\"");
    detail::ByteReader r(key.subspan(32));
    TxPosition position;
    position.height = r.u64();
    position.index = r.u32();
    out.push_back(AddressTx{position, Hash::from_bytes(id)});
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    throw StorageError("read of table \"addresses\" failed: " + lmdb_message(rc));
  return out;
}

std::size_t LmdbStorage::map_size() const {
  return impl_->map_size;
}
const fs::path& LmdbStorage::dir() const {
  return impl_->dir;
}

}  // namespace pos
