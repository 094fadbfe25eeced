// Rejections as values: every refusal in libpos carries a Reason and a message. One table
// (reason_info) maps each reason to its stable code, the HTTP status the RPC layer answers with
// and the misbehaviour penalty the p2p layer gives the peer that sent it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pos {

enum class Reason : std::uint16_t {
  // Input that cannot be parsed.
  kMalformed,
  kBadKeyFile,
  kBadGenesis,
  kIoError,
  // Transactions, stateless.
  kUnknownType,
  kBadSignature,
  kIdMismatch,
  kWrongChain,
  kZeroAmount,
  kBadReceiver,
  kUnauthorizedExchange,
  // Transactions against the state.
  kStaleNonce,
  kNonceGap,
  kInsufficientFunds,
  kInsufficientStake,
  kOverflow,
  // Pool policy.
  kDuplicate,
  kReplacementUnderpriced,
  kSenderLimit,
  kPoolFull,
  kFeeTooLow,
  // Blocks.
  kUnknownParent,
  kBadHeight,
  kSlotNotAfterParent,
  kSlotInFuture,
  kBadTimestamp,
  kWrongForger,
  kBadBlockSignature,
  kBadVrfProof,
  kBadTxRoot,
  kBadStateRoot,
  kBadTxCount,
  kBlockTooLarge,
  kTooManyTransactions,
  kBlockTxInvalid,
  kConflictsFinalized,
  kAlreadyKnown,
  kNotLeader,
  kInvalidBlock,
  // Peer-to-peer conduct.
  kProtocolVersion,
  kProtocolViolation,
  kUnexpectedMessage,
  kRateLimited,
  // Everything else.
  kNotFound,
  kInvalidArgument,
  kStorage,
  kPayloadTooLarge,
  kUnavailable,
  // Votes and evidence.
  kBadVote,
  kBadEvidence,
  kSlashed,  // the account was slashed: it can never stake again
  // A third (or later) header of one forger for one slot from gossip: dropped, not relayed.
  kEquivocation,
  // A peer's block while this node's finalized block is older than the weak-subjectivity period
  // (docs/consensus.md, "Weak subjectivity"): not the peer's fault.
  kCheckpointRequired,
  // A sync peer that sent no blocks within the timeout of being asked (docs/p2p.md, "Sync").
  kSyncTimeout,
};
// The last Reason: the table and the tests cover every value up to it.
inline constexpr Reason kLastReason = Reason::kSyncTimeout;

struct ReasonInfo {
  std::string_view code;  // stable snake_case name, used in RPC errors and logs
  int http_status;
  int peer_penalty;  // 0..100; 100 bans the peer at once
};

// The one table: reason -> code, HTTP status, peer penalty.
const ReasonInfo& reason_info(Reason reason);
inline std::string_view reason_code(Reason reason) {
  return reason_info(reason).code;
}
// The reason with this code, for clients reading a node's errors.
std::optional<Reason> reason_from_code(std::string_view code);

struct Error {
  Reason reason;
  std::string message;

  std::string to_string() const;  // "code: message"
};

// A success or an Error. [[nodiscard]] so that a refusal cannot be dropped silently.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &const_cast<Result*>(this)->checked(); }
  T& operator*() { return checked(); }
  const T& operator*() const { return const_cast<Result*>(this)->checked(); }

  const Error& error() const {
    if (ok()) throw std::logic_error("pos::Result::error() on a success");
    return std::get<1>(v_);
  }
  Reason reason() const { return error().reason; }

 private:
  T& checked() {
    if (!ok()) throw std::logic_error("pos::Result::value() on " + std::get<1>(v_).to_string());
    return std::get<0>(v_);
  }
  std::variant<T, Error> v_;
};

// The Result of an operation that returns nothing.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status success() { return {}; }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    if (ok()) throw std::logic_error("pos::Status::error() on a success");
    return *error_;
  }
  Reason reason() const { return error().reason; }

 private:
  std::optional<Error> error_;
};

inline Error make_error(Reason reason, std::string message) {
  return Error{reason, std::move(message)};
}

}  // namespace pos
