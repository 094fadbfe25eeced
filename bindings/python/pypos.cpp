// pypos: libpos for Python. Raw keys and hashes are `bytes` (with `*_hex` helpers), names are
// snake_case, refusals raise pypos.Error carrying the reason code, and slow calls (signature
// checks, block application, RPC) release the GIL.
#include <pybind11/eval.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "pos/lmdb_storage.h"
#include "pos/pos.h"
#include "pos/rpc_client.h"

namespace py = pybind11;
using namespace pos;

namespace {

py::object g_error;  // pypos.Error

[[noreturn]] void raise(const Error& e) {
  py::object exc = g_error(std::string(reason_code(e.reason)), e.message);
  PyErr_SetObject(g_error.ptr(), exc.ptr());
  throw py::error_already_set();
}

template <class T>
T unwrap(Result<T> r) {
  if (!r.ok()) raise(r.error());
  return std::move(r).value();
}

void check(const Status& s) {
  if (!s.ok()) raise(s.error());
}

py::bytes to_bytes(ByteView v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

template <class Fixed>
Fixed fixed_from(const py::bytes& b, const char* what) {
  std::string s = b;
  if (s.size() != Fixed::size())
    raise(make_error(Reason::kInvalidArgument,
                     std::string(what) + " must be " + std::to_string(Fixed::size()) + " bytes"));
  return Fixed::from_bytes(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

// An address given as 32 bytes or as 64 hex characters.
Address address_from(const py::object& o) {
  if (py::isinstance<py::bytes>(o)) return fixed_from<Address>(o.cast<py::bytes>(), "an address");
  return unwrap(Address::from_hex(o.cast<std::string>()));
}

// A hash given as 32 bytes or as 64 hex characters.
Hash hash_from(const py::object& o, const char* what) {
  if (py::isinstance<py::bytes>(o)) return fixed_from<Hash>(o.cast<py::bytes>(), what);
  return unwrap(Hash::from_hex(o.cast<std::string>()));
}

ByteView view_of(std::string_view s) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

template <class T>
std::vector<std::shared_ptr<const T>> const_list(const std::vector<std::shared_ptr<T>>& items) {
  return std::vector<std::shared_ptr<const T>>(items.begin(), items.end());
}

template <class T>
std::vector<std::shared_ptr<T>> mutable_list(const std::vector<std::shared_ptr<const T>>& items) {
  std::vector<std::shared_ptr<T>> out;
  out.reserve(items.size());
  for (const auto& i : items) out.push_back(std::const_pointer_cast<T>(i));
  return out;
}

// The list of equal-length byte strings `items`, each as a Fixed.
template <class Fixed>
std::vector<Fixed> fixed_list_from(const std::vector<py::bytes>& items, const char* what) {
  std::vector<Fixed> out;
  out.reserve(items.size());
  for (const auto& b : items) out.push_back(fixed_from<Fixed>(b, what));
  return out;
}

// An epoch for EpochState::nonce_of and child, which refuse (throw) an earlier one.
void check_epoch(const EpochState& s, std::uint64_t epoch) {
  if (epoch < s.epoch())
    raise(make_error(Reason::kInvalidArgument, "epoch " + std::to_string(epoch) +
                                                   " is before the state's epoch " +
                                                   std::to_string(s.epoch())));
}

py::dict account_dict(const Address& address, const Account& a) {
  py::dict d;
  d["address"] = address.hex();
  d["balance"] = a.balance;
  d["stake"] = a.stake;
  d["nonce"] = a.nonce;
  d["unbonding"] = a.unbonding;
  d["unbonding_height"] = a.unbonding_height;
  d["slashed"] = a.slashed;
  d["jailed"] = a.jailed;
  return d;
}

TxType type_from(const std::string& name) {
  auto t = parse_tx_type(name);
  if (!t) raise(make_error(Reason::kUnknownType, "unknown transaction type \"" + name + "\""));
  return *t;
}

// A chain with its own storage (in memory, or a node's data dir read-only) and a clock that
// Python sets.
struct PyChain {
  Genesis genesis;
  std::unique_ptr<Storage> storage;
  ManualClock clock;
  std::unique_ptr<Blockchain> chain;
  PyChain(Genesis g, std::uint64_t now_ms, std::unique_ptr<Storage> s)
      : genesis(std::move(g)), storage(std::move(s)), clock(now_ms) {
    chain = unwrap(Blockchain::open(genesis, *storage, clock));
  }
  PyChain(Genesis g, std::uint64_t now_ms)
      : PyChain(std::move(g), now_ms, std::make_unique<MemoryStorage>()) {}
};

struct VrfFunctions {};  // pypos.Vrf: static methods only

}  // namespace

PYBIND11_MODULE(pypos, m) {
  m.doc() = "libpos: Ed25519 wallets, transactions, blocks, proof-of-stake and a node client.";
  if (!init().ok()) throw std::runtime_error("libsodium failed to start");
  py::exec(R"(
class Error(Exception):
    """A refusal from libpos. `code` is the reason code of docs/consensus.md
    (e.g. 'stale_nonce', 'bad_signature'); `message` says what was wrong."""
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
)",
           m.attr("__dict__"));
  g_error = m.attr("Error");

  m.def(
      "to_hex",
      [](const py::bytes& b) {
        std::string s = b;
        return to_hex(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
      },
      "Lower-case hex of bytes.");
  m.def(
      "from_hex",
      [](const std::string& text) {
        Bytes b = unwrap(from_hex(text));
        return to_bytes(b);
      },
      "Bytes of lower-case hex; raises Error('malformed') otherwise.");
  m.def(
      "sha256",
      [](const py::bytes& b) {
        std::string s = b;
        return to_bytes(
            sha256(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())).view());
      },
      "SHA-256 of bytes.");

  py::class_<Transaction, std::shared_ptr<Transaction>>(m, "Transaction",
                                                        "An immutable, signed transaction.")
      .def_static(
          "from_json",
          [](const std::string& json, const std::string& chain_id) {
            return std::const_pointer_cast<Transaction>(
                unwrap(transaction_from_json(json, chain_id)));
          },
          py::arg("json"), py::arg("chain_id"), "Parses the JSON of docs/protocol.md, strictly.")
      .def_static(
          "from_bytes",
          [](const py::bytes& b) {
            std::string s = b;
            return std::const_pointer_cast<Transaction>(unwrap(decode_transaction(
                ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()))));
          },
          "Parses the binary form: signing bytes then the signature.")
      .def(
          "to_json", [](const Transaction& t, bool with_id) { return to_json(t, with_id); },
          py::arg("with_id") = true)
      .def("to_bytes", [](const Transaction& t) { return to_bytes(encode(t)); })
      .def("signing_bytes",
           [](const Transaction& t) { return to_bytes(t.fields().signing_bytes()); })
      .def(
          "verify", [](const Transaction& t) { return t.check_signature().ok(); },
          py::call_guard<py::gil_scoped_release>(), "Whether the Ed25519 signature is valid.")
      .def_property_readonly(
          "type", [](const Transaction& t) { return std::string(tx_type_name(t.type())); })
      .def_property_readonly("chain_id", &Transaction::chain_id)
      .def_property_readonly("sender",
                             [](const Transaction& t) { return to_bytes(t.sender().view()); })
      .def_property_readonly("receiver",
                             [](const Transaction& t) { return to_bytes(t.receiver().view()); })
      .def_property_readonly("amount", &Transaction::amount)
      .def_property_readonly("fee", &Transaction::fee)
      .def_property_readonly("nonce", &Transaction::nonce)
      .def_property_readonly("timestamp", &Transaction::timestamp_ms)
      .def_property_readonly("signature",
                             [](const Transaction& t) { return to_bytes(t.signature().view()); })
      .def_property_readonly("id", [](const Transaction& t) { return to_bytes(t.id().view()); })
      .def_property_readonly("id_hex", [](const Transaction& t) { return t.id().hex(); })
      .def("__repr__", [](const Transaction& t) {
        return "<Transaction " + std::string(tx_type_name(t.type())) + " " + t.id().hex() + ">";
      });

  py::class_<Vote, std::shared_ptr<Vote>>(
      m, "Vote", "An immutable, signed vote: a validator's link from a source block to a target.")
      .def_static(
          "from_json",
          [](const std::string& json, const std::string& chain_id) {
            return std::const_pointer_cast<Vote>(unwrap(vote_from_json(json, chain_id)));
          },
          py::arg("json"), py::arg("chain_id"), "Parses the JSON of docs/protocol.md, strictly.")
      .def_static(
          "from_bytes",
          [](const py::bytes& b) {
            std::string s = b;
            return std::const_pointer_cast<Vote>(unwrap(decode_vote(view_of(s))));
          },
          py::arg("data"), "Parses the binary form: signing bytes, validator, signature.")
      .def(
          "to_json", [](const Vote& v, bool with_id) { return to_json(v, with_id); },
          py::arg("with_id") = true)
      .def("to_bytes", [](const Vote& v) { return to_bytes(encode(v)); })
      .def("signing_bytes", [](const Vote& v) { return to_bytes(v.signing_bytes()); })
      .def(
          "verify", [](const Vote& v) { return v.check_signature().ok(); },
          py::call_guard<py::gil_scoped_release>(), "Whether the Ed25519 signature is valid.")
      .def(
          "check",
          [](const Vote& v) {
            Status s;
            {
              py::gil_scoped_release release;
              s = v.check();
            }
            check(s);
          },
          "Every rule that needs no chain: raises Error('wrong_chain'), Error('bad_vote') "
          "(source not below target) or Error('bad_signature').")
      .def_property_readonly("chain_id", &Vote::chain_id)
      .def_property_readonly("validator",
                             [](const Vote& v) { return to_bytes(v.validator().view()); })
      .def_property_readonly("source_hash",
                             [](const Vote& v) { return to_bytes(v.source_hash().view()); })
      .def_property_readonly("source_height", &Vote::source_height)
      .def_property_readonly("target_hash",
                             [](const Vote& v) { return to_bytes(v.target_hash().view()); })
      .def_property_readonly("target_height", &Vote::target_height)
      .def_property_readonly("signature",
                             [](const Vote& v) { return to_bytes(v.signature().view()); })
      .def_property_readonly("id", [](const Vote& v) { return to_bytes(v.id().view()); })
      .def_property_readonly("id_hex", [](const Vote& v) { return v.id().hex(); })
      .def("__repr__", [](const Vote& v) {
        return "<Vote " + std::to_string(v.source_height()) + "->" +
               std::to_string(v.target_height()) + " " + v.id().hex() + ">";
      });

  py::class_<Evidence, std::shared_ptr<Evidence>>(
      m, "Evidence", "Two conflicting items signed by one key: proof enough to slash it.")
      .def_static(
          "double_block",
          [](const std::shared_ptr<Block>& x, const std::shared_ptr<Block>& y) {
            return std::const_pointer_cast<Evidence>(unwrap(Evidence::double_block(x, y)));
          },
          py::arg("block_a"), py::arg("block_b"),
          "Two blocks of one forger for one slot, in either order; raises Error('bad_evidence') "
          "otherwise.")
      .def_static(
          "double_vote",
          [](const std::shared_ptr<Vote>& x, const std::shared_ptr<Vote>& y) {
            return std::const_pointer_cast<Evidence>(unwrap(Evidence::double_vote(x, y)));
          },
          py::arg("vote_a"), py::arg("vote_b"),
          "Two different votes of one validator for one target height, in either order; raises "
          "Error('bad_evidence') otherwise.")
      .def_static(
          "surround_vote",
          [](const std::shared_ptr<Vote>& x, const std::shared_ptr<Vote>& y) {
            return std::const_pointer_cast<Evidence>(unwrap(Evidence::surround_vote(x, y)));
          },
          py::arg("vote_a"), py::arg("vote_b"),
          "Two votes of one validator, one surrounding the other, in either order; raises "
          "Error('bad_evidence') otherwise.")
      .def_static(
          "from_json",
          [](const std::string& json) {
            return std::const_pointer_cast<Evidence>(unwrap(evidence_from_json(json)));
          },
          py::arg("json"), "Parses the JSON of docs/protocol.md, strictly.")
      .def_static(
          "from_bytes",
          [](const py::bytes& b) {
            std::string s = b;
            return std::const_pointer_cast<Evidence>(unwrap(decode_evidence(view_of(s))));
          },
          py::arg("data"), "Parses the binary form: the evidence bytes.")
      .def(
          "to_json", [](const Evidence& e, bool with_id) { return to_json(e, with_id); },
          py::arg("with_id") = true)
      .def("to_bytes", [](const Evidence& e) { return to_bytes(encode(e)); })
      .def(
          "check",
          [](const Evidence& e, const std::string& chain_id) {
            Status s;
            {
              py::gil_scoped_release release;
              s = e.check(chain_id);
            }
            check(s);
          },
          py::arg("chain_id"),
          "Everything that needs no chain state: raises Error('wrong_chain') for another chain's "
          "items, Error('bad_evidence') for any other refusal.")
      .def_property_readonly(
          "kind", [](const Evidence& e) { return std::string(evidence_kind_name(e.kind())); })
      .def_property_readonly("offender",
                             [](const Evidence& e) { return to_bytes(e.offender().view()); })
      .def_property_readonly("a", [](const Evidence& e) { return to_bytes(e.a()); })
      .def_property_readonly("sig_a", [](const Evidence& e) { return to_bytes(e.sig_a().view()); })
      .def_property_readonly("b", [](const Evidence& e) { return to_bytes(e.b()); })
      .def_property_readonly("sig_b", [](const Evidence& e) { return to_bytes(e.sig_b().view()); })
      .def_property_readonly("bytes", [](const Evidence& e) { return to_bytes(e.bytes()); })
      .def_property_readonly("id", [](const Evidence& e) { return to_bytes(e.id().view()); })
      .def_property_readonly("id_hex", [](const Evidence& e) { return e.id().hex(); })
      .def("__repr__", [](const Evidence& e) {
        return "<Evidence " + std::string(evidence_kind_name(e.kind())) + " " + e.id().hex() + ">";
      });

  py::class_<Block, std::shared_ptr<Block>>(m, "Block", "An immutable, signed block.")
      .def_static(
          "from_json",
          [](const std::string& json, const std::string& chain_id) {
            return std::const_pointer_cast<Block>(unwrap(block_from_json(json, chain_id)));
          },
          py::arg("json"), py::arg("chain_id"))
      .def_static("from_bytes",
                  [](const py::bytes& b) {
                    std::string s = b;
                    return std::const_pointer_cast<Block>(unwrap(decode_block(
                        ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()))));
                  })
      .def("to_json", [](const Block& b) { return to_json(b); })
      .def("to_bytes", [](const Block& b) { return to_bytes(encode(b)); })
      .def_property_readonly("height", &Block::height)
      .def_property_readonly("slot", &Block::slot)
      .def_property_readonly("timestamp", [](const Block& b) { return b.header().timestamp_ms; })
      .def_property_readonly("hash", [](const Block& b) { return to_bytes(b.hash().view()); })
      .def_property_readonly("hash_hex", [](const Block& b) { return b.hash().hex(); })
      .def_property_readonly("parent", [](const Block& b) { return to_bytes(b.parent().view()); })
      .def_property_readonly("forger", [](const Block& b) { return to_bytes(b.forger().view()); })
      .def_property_readonly(
          "vrf_proof", [](const Block& b) { return to_bytes(b.header().vrf_proof.view()); },
          "80 bytes: the forger's ECVRF proof of the slot's VRF input (all zero for genesis).")
      .def_property_readonly(
          "vrf_output", [](const Block& b) { return to_bytes(unwrap(b.vrf_output()).view()); },
          "64 bytes: the proof's ECVRF output, what the block adds to the epoch nonces (all zero "
          "for genesis); raises Error('bad_vrf_proof') if the proof does not decode.")
      .def_property_readonly("state_root",
                             [](const Block& b) { return to_bytes(b.header().state_root.view()); })
      .def_property_readonly("tx_root",
                             [](const Block& b) { return to_bytes(b.header().tx_root.view()); })
      .def_property_readonly("transactions",
                             [](const Block& b) {
                               std::vector<std::shared_ptr<Transaction>> out;
                               for (const auto& t : b.transactions())
                                 out.push_back(std::const_pointer_cast<Transaction>(t));
                               return out;
                             })
      .def_property_readonly("votes", [](const Block& b) { return mutable_list(b.votes()); })
      .def_property_readonly("evidence", [](const Block& b) { return mutable_list(b.evidence()); })
      .def("__repr__", [](const Block& b) {
        return "<Block " + std::to_string(b.height()) + " " + b.hash().hex() + ">";
      });

  py::class_<Wallet>(m, "Wallet", "One Ed25519 key: its address, key files, signing.")
      .def_static("generate", &Wallet::generate)
      .def_static(
          "from_seed",
          [](const py::bytes& seed) {
            std::string_view s = seed;  // no copy of the secret
            if (s.size() != 32)
              raise(make_error(Reason::kInvalidArgument, "a seed must be 32 bytes"));
            return Wallet(SecretKey::from_seed(
                ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())));
          },
          py::arg("seed"), "The key of a 32-byte Ed25519 seed (RFC 8032's secret key).")
      .def_static(
          "load",
          [](const std::string& path, std::optional<std::string> passphrase) {
            PassphraseSource source;
            if (passphrase) source = [p = *passphrase] { return Result<std::string>(p); };
            return unwrap(Wallet::load(path, source));
          },
          py::arg("path"), py::arg("passphrase") = py::none(),
          "Loads a PEM key file (PKCS#8, or encrypted with a passphrase).")
      .def(
          "save",
          [](const Wallet& w, const std::string& path, std::optional<std::string> passphrase) {
            std::optional<std::string_view> p;
            if (passphrase) p = *passphrase;
            check(w.save(path, p));
          },
          py::arg("path"), py::arg("passphrase") = py::none())
      .def_property_readonly("address", &Wallet::address, "64 lower-case hex characters.")
      .def_property_readonly("public_key",
                             [](const Wallet& w) { return to_bytes(w.public_key().view()); })
      .def(
          "transaction",
          [](const Wallet& w, const std::string& type, const std::string& chain_id,
             const py::object& receiver, std::uint64_t amount, std::uint64_t fee,
             std::uint64_t nonce, std::uint64_t timestamp) {
            TxFields f;
            f.chain_id = chain_id;
            f.type = type_from(type);
            f.receiver = receiver.is_none() ? w.public_key() : address_from(receiver);
            f.amount = amount;
            f.fee = fee;
            f.nonce = nonce;
            f.timestamp_ms = timestamp;
            return std::const_pointer_cast<Transaction>(w.create_transaction(std::move(f)));
          },
          py::arg("type"), py::arg("chain_id"), py::arg("receiver"), py::arg("amount"),
          py::arg("fee") = 0, py::arg("nonce") = 0, py::arg("timestamp") = 0,
          "Signs a TRANSFER, STAKE, UNSTAKE or EXCHANGE; receiver None means the wallet itself.")
      .def(
          "vote",
          [](const Wallet& w, const std::string& chain_id, const py::object& source_hash,
             std::uint64_t source_height, const py::object& target_hash,
             std::uint64_t target_height) {
            VoteFields f;
            f.chain_id = chain_id;
            f.source_hash = hash_from(source_hash, "a source hash");
            f.source_height = source_height;
            f.target_hash = hash_from(target_hash, "a target hash");
            f.target_height = target_height;
            return std::const_pointer_cast<Vote>(Vote::sign(std::move(f), w.secret_key()));
          },
          py::arg("chain_id"), py::arg("source_hash"), py::arg("source_height"),
          py::arg("target_hash"), py::arg("target_height"),
          "Signs a vote from source to target (hashes as 32 bytes or 64 hex characters); "
          "nothing is checked: Vote.check() does that.")
      .def("sign", [](const Wallet& w, const py::bytes& message) {
        std::string s = message;
        return to_bytes(
            w.secret_key()
                .sign(ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()))
                .view());
      });

  py::class_<Genesis>(m, "Genesis", "The genesis file: chain parameters and allocations.")
      .def_static("load", [](const std::string& path) { return unwrap(Genesis::load(path)); })
      .def_static("parse", [](const std::string& json) { return unwrap(Genesis::parse(json)); })
      .def("to_json", &Genesis::to_json)
      .def_property_readonly("chain_id", [](const Genesis& g) { return g.params.chain_id; })
      .def_property_readonly("genesis_time",
                             [](const Genesis& g) { return g.params.genesis_time_ms; })
      .def_property_readonly("slot_ms", [](const Genesis& g) { return g.params.slot_ms; })
      .def_property_readonly("unbonding_epochs",
                             [](const Genesis& g) { return g.params.unbonding_epochs; })
      .def_property_readonly("epoch_slots", [](const Genesis& g) { return g.params.epoch_slots; })
      .def_property_readonly("max_block_txs",
                             [](const Genesis& g) { return g.params.max_block_txs; })
      .def_property_readonly(
          "stakers",
          [](const Genesis& g) {
            py::dict d;
            for (const auto& a : g.allocations)
              if (a.stake > 0) d[py::str(a.address.hex())] = a.stake;
            return d;
          },
          "The validators of epochs 0 to 2, {address hex: stake}: the allocations with stake. "
          "Later sets follow finalized stakes (Blockchain.validators).")
      .def_property_readonly("exchange_authority",
                             [](const Genesis& g) { return g.params.exchange_authority.hex(); })
      .def_property_readonly("hash", [](const Genesis& g) { return to_bytes(g.hash().view()); })
      .def_property_readonly("hash_hex", [](const Genesis& g) { return g.hash().hex(); })
      .def("slot_at",
           [](const Genesis& g, std::uint64_t now_ms) { return g.params.slot_at(now_ms); })
      .def(
          "epoch_of", [](const Genesis& g, std::uint64_t slot) { return g.params.epoch_of(slot); },
          py::arg("slot"), "The slot's epoch: slot // epoch_slots.");

  py::class_<AccountModel>(m, "AccountModel", "Accounts and their state root.")
      .def("get",
           [](const AccountModel& a, const py::object& address) {
             Address ad = address_from(address);
             return account_dict(ad, a.get(ad));
           })
      .def_property_readonly("state_root",
                             [](const AccountModel& a) { return to_bytes(a.state_root().view()); })
      .def_property_readonly("total_stake", &AccountModel::total_stake)
      .def_property_readonly("total_supply", &AccountModel::total_supply)
      .def_property_readonly("stakers",
                             [](const AccountModel& a) {
                               py::dict d;
                               for (const auto& [k, v] : a.stakers()) d[py::str(k.hex())] = v;
                               return d;
                             })
      .def("__len__", &AccountModel::size);

  py::class_<TransactionPool>(m, "TransactionPool", "Pending transactions, bounded and ordered.")
      .def(py::init([](const Genesis& g) { return TransactionPool(g.params); }))
      .def(
          "add",
          [](TransactionPool& p, const std::shared_ptr<Transaction>& tx, const AccountModel& state,
             std::uint64_t now_ms) { check(p.add(tx, state, now_ms)); },
          py::arg("tx"), py::arg("state"), py::arg("now_ms") = 0,
          "Admits a transaction; raises Error with the refusal's code.")
      .def("__len__", &TransactionPool::size)
      .def("__contains__",
           [](const TransactionPool& p, const py::bytes& id) {
             return p.contains(fixed_from<Hash>(id, "an id"));
           })
      .def_property_readonly("bytes", &TransactionPool::bytes);

  py::class_<Lot>(m, "Lot", "A staker's share of the stake range: [begin, begin + stake).")
      .def_property_readonly("staker", [](const Lot& l) { return to_bytes(l.staker.view()); })
      .def_readonly("begin", &Lot::begin)
      .def_readonly("stake", &Lot::stake);

  py::class_<ProofOfStake>(m, "ProofOfStake", "The slot-leader draw of docs/protocol.md.")
      .def(py::init([](const py::dict& stakers) {
             std::map<PublicKey, std::uint64_t> s;
             for (auto item : stakers)
               s[address_from(py::reinterpret_borrow<py::object>(item.first))] =
                   item.second.cast<std::uint64_t>();
             return ProofOfStake(s);
           }),
           "stakers: {address (bytes or hex): stake}")
      .def("leader",
           [](const ProofOfStake& p, const py::bytes& nonce, std::uint64_t slot) -> py::object {
             auto l = p.leader(fixed_from<Hash>(nonce, "nonce"), slot);
             if (!l) return py::none();
             return to_bytes(l->view());
           })
      .def_static(
          "seed",
          [](const py::bytes& nonce, std::uint64_t slot) {
            return to_bytes(ProofOfStake::seed(fixed_from<Hash>(nonce, "nonce"), slot).view());
          })
      .def_property_readonly("lots", &ProofOfStake::lots)
      .def_property_readonly("total_stake", &ProofOfStake::total_stake);

  py::class_<VrfFunctions>(
      m, "Vrf",
      "ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) under a wallet's Ed25519 key: the VRF public key "
      "is the address.")
      .def_static(
          "prove",
          [](const Wallet& w, const py::bytes& alpha) {
            std::string s = alpha;
            VrfProof proof;
            {
              py::gil_scoped_release release;
              proof =
                  vrf_prove(w.secret_key(),
                            ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
            }
            return to_bytes(proof.view());
          },
          py::arg("wallet"), py::arg("alpha"), "The 80-byte proof of alpha under the wallet's key.")
      .def_static(
          "verify",
          [](const py::object& public_key, const py::bytes& alpha, const py::bytes& proof) {
            PublicKey key = address_from(public_key);
            VrfProof p = fixed_from<VrfProof>(proof, "a VRF proof");
            std::string s = alpha;
            Result<VrfOutput> r = make_error(Reason::kInvalidArgument, "");
            {
              py::gil_scoped_release release;
              r = vrf_verify(
                  key, ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), p);
            }
            return to_bytes(unwrap(std::move(r)).view());
          },
          py::arg("public_key"), py::arg("alpha"), py::arg("proof"),
          "The 64-byte output if the proof holds; raises Error('bad_vrf_proof') otherwise.")
      .def_static(
          "proof_to_hash",
          [](const py::bytes& proof) {
            return to_bytes(
                unwrap(vrf_proof_to_hash(fixed_from<VrfProof>(proof, "a VRF proof"))).view());
          },
          py::arg("proof"),
          "The output of a proof without verifying it; raises Error('bad_vrf_proof') only if the "
          "proof does not decode.");

  m.def(
      "initial_nonce",
      [](const py::bytes& genesis_hash) {
        return to_bytes(initial_nonce(fixed_from<Hash>(genesis_hash, "a genesis hash")).view());
      },
      py::arg("genesis_hash"), "nonce(0) = nonce(1) = SHA-256(\"pos/nonce/v1\" || genesis_hash).");
  m.def(
      "next_nonce",
      [](const py::bytes& previous, const py::bytes& outputs_digest) {
        return to_bytes(next_nonce(fixed_from<Hash>(previous, "a nonce"),
                                   fixed_from<Hash>(outputs_digest, "an outputs digest"))
                            .view());
      },
      py::arg("previous"), py::arg("outputs_digest"),
      "nonce(e) = SHA-256(\"pos/nonce/v1\" || nonce(e-1) || outputs_digest(e-2)).");
  m.def(
      "vrf_input",
      [](const std::string& chain_id, const py::bytes& nonce, std::uint64_t slot) {
        return to_bytes(vrf_input(chain_id, fixed_from<Hash>(nonce, "a nonce"), slot));
      },
      py::arg("chain_id"), py::arg("nonce"), py::arg("slot"),
      "What a slot's leader proves: \"pos/vrf/v1\" || str(chain_id) || nonce || u64(slot).");

  py::class_<EpochState>(m, "EpochState",
                         "Where a chain stands in its epochs after one of its blocks: the nonce "
                         "of any later slot's epoch on that chain.")
      .def_static(
          "genesis",
          [](const py::bytes& genesis_hash) {
            return EpochState::genesis(fixed_from<Hash>(genesis_hash, "a genesis hash"));
          },
          py::arg("genesis_hash"), "The state after genesis (epoch 0).")
      .def_static(
          "resume",
          [](std::uint64_t epoch, const py::bytes& nonce, const py::bytes& next_nonce,
             const std::vector<py::bytes>& epoch_outputs) {
            auto outputs = fixed_list_from<VrfOutput>(epoch_outputs, "a VRF output");
            return EpochState::resume(epoch, fixed_from<Hash>(nonce, "a nonce"),
                                      fixed_from<Hash>(next_nonce, "a nonce"), outputs);
          },
          py::arg("epoch"), py::arg("nonce"), py::arg("next_nonce"),
          py::arg("epoch_outputs") = std::vector<py::bytes>{},
          "A block's state from its nonce and next nonce and the VRF outputs of the chain's "
          "blocks of its epoch up to it, in height order.")
      .def(
          "nonce_of",
          [](const EpochState& s, std::uint64_t epoch) {
            check_epoch(s, epoch);
            return to_bytes(s.nonce_of(epoch).view());
          },
          py::arg("epoch"),
          "nonce(epoch) of this chain, for a child block in epoch (>= this state's epoch).")
      .def(
          "child",
          [](const EpochState& s, std::uint64_t epoch, const py::bytes& output) {
            check_epoch(s, epoch);
            return s.child(epoch, fixed_from<VrfOutput>(output, "a VRF output"));
          },
          py::arg("epoch"), py::arg("output"),
          "The state after a child block in epoch (>= this state's epoch) with VRF output output.")
      .def_property_readonly("epoch", &EpochState::epoch)
      .def_property_readonly("nonce",
                             [](const EpochState& s) { return to_bytes(s.nonce().view()); })
      .def_property_readonly("next_nonce",
                             [](const EpochState& s) { return to_bytes(s.next_nonce().view()); })
      .def("__repr__", [](const EpochState& s) {
        return "<EpochState " + std::to_string(s.epoch()) + " " + s.nonce().hex() + ">";
      });

  py::class_<Checkpoint>(m, "Checkpoint", "A block of a chain as finality counts it.")
      .def_property_readonly("hash", [](const Checkpoint& c) { return to_bytes(c.hash.view()); })
      .def_property_readonly("hash_hex", [](const Checkpoint& c) { return c.hash.hex(); })
      .def_readonly("height", &Checkpoint::height)
      .def_readonly("slot", &Checkpoint::slot)
      .def("__eq__", [](const Checkpoint& a, const Checkpoint& b) { return a == b; })
      .def("__repr__", [](const Checkpoint& c) {
        return "<Checkpoint " + std::to_string(c.height) + " " + c.hash.hex() + ">";
      });

  py::class_<FinalityState>(m, "FinalityState",
                            "What a chain's votes justify and finalize, up to one of its blocks.")
      .def_property_readonly(
          "justified", [](const FinalityState& f) { return Checkpoint(f.justified()); },
          "The highest justified block of the chain.")
      .def_property_readonly(
          "finalized", [](const FinalityState& f) { return Checkpoint(f.finalized()); },
          "The highest finalized block of the chain.")
      .def_property_readonly(
          "block", [](const FinalityState& f) { return Checkpoint(f.block()); },
          "The chain's last block so far.")
      .def("is_justified", &FinalityState::is_justified, py::arg("height"),
           "Whether the chain's block at height is justified (beyond the block: False).")
      .def(
          "has_vote",
          [](const FinalityState& f, const py::object& validator, std::uint64_t target_height) {
            return f.has_vote(address_from(validator), target_height);
          },
          py::arg("validator"), py::arg("target_height"),
          "Whether the chain already counts a vote by validator for this target height.");

  py::class_<PyChain>(m, "Blockchain", "A chain in memory, with a clock that Python sets.")
      .def(py::init<Genesis, std::uint64_t>(), py::arg("genesis"), py::arg("now_ms") = 0)
      .def_static(
          "open_data_dir",
          [](const Genesis& g, const std::string& path) {
            LmdbOptions options;
            options.read_only = true;
            auto storage = unwrap(LmdbStorage::open(path, options));
            return std::make_unique<PyChain>(g, SystemClock().now_ms(), std::move(storage));
          },
          py::arg("genesis"), py::arg("path"),
          "A node's data dir, read-only, beside the running node: the state as of opening, blocks "
          "read live. apply() and forge() are refused.")
      .def("set_time", [](PyChain& c, std::uint64_t now_ms) { c.clock.set(now_ms); })
      .def(
          "apply",
          [](PyChain& c, const std::shared_ptr<Block>& b) {
            Result<ApplyResult> r = ApplyResult{};
            {
              py::gil_scoped_release release;
              r = c.chain->apply(b);
            }
            if (!r.ok()) raise(r.error());
            return r->kind == ApplyResult::Kind::kExtended      ? "extended"
                   : r->kind == ApplyResult::Kind::kReorganized ? "reorganized"
                                                                : "side_branch";
          },
          "Validates and applies a block; raises Error with the refusal's code.")
      .def(
          "forge",
          [](PyChain& c, const Wallet& w, std::uint64_t slot, const TransactionPool& pool,
             const std::vector<std::shared_ptr<Vote>>& votes) {
            Result<BlockPtr> r = make_error(Reason::kInvalidArgument, "");
            {
              py::gil_scoped_release release;
              r = c.chain->forge(w.secret_key(), slot, pool, c.clock.now_ms(), const_list(votes));
            }
            return std::const_pointer_cast<Block>(unwrap(std::move(r)));
          },
          py::arg("wallet"), py::arg("slot"), py::arg("pool"),
          py::arg("votes") = std::vector<std::shared_ptr<Vote>>{},
          "Builds and signs the block for slot on the tip, if wallet is its leader, carrying the "
          "pool's ready transactions, the votes as given (not checked until apply) and the "
          "pending evidence that slashes on the tip. Not applied.")
      .def(
          "add_evidence",
          [](PyChain& c, const std::shared_ptr<Evidence>& e) {
            return unwrap(c.chain->add_evidence(e));
          },
          "Keeps evidence pending for the next forged block: True when kept, False when already "
          "held or stale (the offender slashed or holding nothing); raises Error for evidence "
          "that proves nothing ('bad_evidence', 'wrong_chain').")
      .def(
          "require_block",
          [](PyChain& c, std::uint64_t height, const py::object& hash) {
            check(c.chain->require_block(TrustedBlock{height, hash_from(hash, "a block hash")}));
          },
          py::arg("height"), py::arg("hash"),
          "From now on refuses every chain without this block (pos-node --checkpoint): another "
          "block at its height, or above it on a branch through another, is refused as "
          "'conflicts_finalized'. Raises Error('conflicts_finalized') when the stored main "
          "chain has another block there.")
      .def_property_readonly(
          "pending_evidence",
          [](const PyChain& c) { return mutable_list(c.chain->pending_evidence()); })
      .def(
          "validators",
          [](const PyChain& c, std::uint64_t epoch) {
            py::dict d;
            for (const Lot& lot : c.chain->epoch_draw(epoch).validators->lots())
              d[py::str(lot.staker.hex())] = lot.stake;
            return d;
          },
          py::arg("epoch"),
          "validators(epoch) on the tip's chain, {address hex: weight}: the finalized stakes "
          "under the entry cap (docs/consensus.md, \"Validator sets\").")
      .def("leader",
           [](const PyChain& c, std::uint64_t slot) -> py::object {
             auto l = c.chain->leader(slot);
             if (!l) return py::none();
             return to_bytes(l->view());
           })
      .def("block_at",
           [](const PyChain& c, std::uint64_t h) -> py::object {
             BlockPtr b = c.chain->block_at(h);
             if (!b) return py::none();
             return py::cast(std::const_pointer_cast<Block>(b));
           })
      .def_property_readonly("height", [](const PyChain& c) { return c.chain->height(); })
      .def_property_readonly("tip",
                             [](const PyChain& c) { return to_bytes(c.chain->tip_hash().view()); })
      .def_property_readonly("tip_slot", [](const PyChain& c) { return c.chain->tip().slot; })
      .def_property_readonly(
          "vote_finality", [](const PyChain& c) { return c.chain->vote_finality(); },
          "What the votes in the tip's chain justify and finalize (docs/consensus.md, \"Finality "
          "by votes\"); fork choice does not follow it yet.")
      .def_property_readonly(
          "state", [](const PyChain& c) -> const AccountModel& { return c.chain->state(); },
          py::return_value_policy::reference_internal);

  py::class_<RpcClient>(m, "Client", "A node's HTTP API.")
      .def(py::init<const std::string&, std::uint64_t>(), py::arg("url") = "http://127.0.0.1:5000",
           py::arg("timeout_ms") = 10000)
      .def("info",
           [](RpcClient& c) {
             Result<RpcInfo> r = make_error(Reason::kInvalidArgument, "");
             {
               py::gil_scoped_release release;
               r = c.info();
             }
             RpcInfo i = unwrap(std::move(r));
             py::dict d;
             d["chain_id"] = i.chain_id;
             d["genesis_hash"] = i.genesis_hash.hex();
             d["height"] = i.height;
             d["tip"] = i.tip.hex();
             d["state_root"] = i.state_root.hex();
             d["slot"] = i.slot;
             if (i.epoch) d["epoch"] = *i.epoch;
             if (i.protocol_version) d["protocol_version"] = *i.protocol_version;
             d["justified_height"] = i.justified_height;
             d["finalized_height"] = i.finalized_height;
             d["finalized_hash"] = i.finalized_hash.hex();
             d["peers"] = i.peers;
             d["pool_size"] = i.pool_size;
             d["syncing"] = i.syncing;
             d["version"] = i.version;
             if (i.address) d["address"] = i.address->hex();
             return d;
           })
      .def(
          "finality",
          [](RpcClient& c) {
            Result<RpcFinality> r = make_error(Reason::kInvalidArgument, "");
            {
              py::gil_scoped_release release;
              r = c.finality();
            }
            RpcFinality f = unwrap(std::move(r));
            auto checkpoint = [](const FinalityCheckpoint& cp) {
              py::dict d;
              d["height"] = cp.height;
              d["hash"] = cp.hash.hex();
              return d;
            };
            py::dict d;
            d["justified"] = checkpoint(f.justified);
            d["finalized"] = checkpoint(f.finalized);
            return d;
          },
          "GET /finality: {\"justified\": {\"height\", \"hash\"}, \"finalized\": {\"height\", "
          "\"hash\"}}, hashes in hex.")
      .def(
          "validators",
          [](RpcClient& c, std::optional<std::uint64_t> epoch) {
            Result<RpcValidators> r = make_error(Reason::kInvalidArgument, "");
            {
              py::gil_scoped_release release;
              r = c.validators(epoch);
            }
            RpcValidators v = unwrap(std::move(r));
            py::list validators;
            for (const auto& entry : v.validators) {
              py::dict item;
              item["address"] = entry.address.hex();
              item["stake"] = entry.stake;
              validators.append(item);
            }
            py::dict d;
            d["epoch"] = v.epoch;
            d["nonce"] = v.nonce.hex();
            d["total_stake"] = v.total_stake;
            d["validators"] = validators;
            return d;
          },
          py::arg("epoch") = py::none(),
          "GET /validators: {\"epoch\", \"nonce\", \"total_stake\", \"validators\": "
          "[{\"address\", \"stake\"}]} of the epoch (default: the node's current one), hex "
          "strings.")
      .def(
          "votes",
          [](RpcClient& c, const std::string& target) {
            Hash h = unwrap(Hash::from_hex(target));
            Result<RpcVotes> r = make_error(Reason::kInvalidArgument, "");
            {
              py::gil_scoped_release release;
              r = c.votes(h);
            }
            RpcVotes v = unwrap(std::move(r));
            py::dict d;
            d["target"] = v.target.hex();
            d["votes"] = mutable_list(v.votes);
            return d;
          },
          py::arg("target"),
          "GET /votes: {\"target\": hex, \"votes\": [Vote]}, the votes the node's vote pool "
          "holds for the target block.")
      .def("account",
           [](RpcClient& c, const py::object& address) {
             Address a = address_from(address);
             Result<Account> r = make_error(Reason::kInvalidArgument, "");
             {
               py::gil_scoped_release release;
               r = c.account(a);
             }
             return account_dict(a, unwrap(std::move(r)));
           })
      .def(
          "submit",
          [](RpcClient& c, const std::shared_ptr<Transaction>& tx) {
            Result<Hash> r = make_error(Reason::kInvalidArgument, "");
            {
              py::gil_scoped_release release;
              r = c.submit(*tx);
            }
            return unwrap(std::move(r)).hex();
          },
          "Sends a transaction; returns its id (hex) or raises Error with the node's reason.")
      .def("transaction_status",
           [](RpcClient& c, const std::string& id) {
             Hash h = unwrap(Hash::from_hex(id));
             Result<RpcTxStatus> r = make_error(Reason::kInvalidArgument, "");
             {
               py::gil_scoped_release release;
               r = c.transaction_status(h);
             }
             RpcTxStatus s = unwrap(std::move(r));
             py::dict d;
             d["id"] = s.id.hex();
             d["status"] = s.status;
             if (s.height) d["height"] = *s.height;
             if (s.block) d["block"] = s.block->hex();
             return d;
           })
      .def("block", [](RpcClient& c, std::uint64_t height) {
        Result<BlockPtr> r = make_error(Reason::kInvalidArgument, "");
        {
          py::gil_scoped_release release;
          r = c.block(height);
        }
        return std::const_pointer_cast<Block>(unwrap(std::move(r)));
      });
}
