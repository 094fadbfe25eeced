// Logging: one event per line, with a level, the component that logs it (p2p, rpc, consensus,
// store, node), a message and key=value fields (height, hash, peer, reason). The parts of a node
// are handed a Logger; there is no global one. Where events go is a LogSink: pos-node's writes
// text or JSON lines to stderr (pos/node.h), a test's keeps them, the simulator's traces them.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };
// "error", "warn", "info", "debug".
std::optional<LogLevel> parse_log_level(std::string_view text);
std::string_view log_level_name(LogLevel level);

// One key=value of an event. Numbers, hashes and keys (as hex), errors (their reason code; the
// message goes in the event's message or another field) and text convert.
struct LogField {
  std::string key;
  std::string value;
  bool number = false;  // JSON lines write it unquoted

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) LogField(std::string_view k, T v)
      : key(k), value(std::to_string(v)), number(true) {}
  // Not silently a bool: a pointer other than text, or a floating-point value.
  template <class T>
  LogField(std::string_view, const T*) = delete;
  LogField(std::string_view, double) = delete;
  LogField(std::string_view, float) = delete;
  template <std::size_t N, class Tag>
  LogField(std::string_view k, const FixedBytes<N, Tag>& v) : key(k), value(v.hex()) {}
  LogField(std::string_view k, Reason v) : key(k), value(reason_code(v)) {}
};

struct LogEvent {
  LogLevel level;
  std::string_view component;
  std::string_view message;
  const std::vector<LogField>& fields;
};

// "message key=value key="a value with spaces"": an event without its time, level or
// component, as the text format writes the rest of the line.
std::string log_text(std::string_view message, const std::vector<LogField>& fields);

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual bool enabled(LogLevel level) const = 0;
  virtual void write(const LogEvent& event) = 0;
};

// Every event at or above `threshold` to a function (tests, embedders, the simulator).
std::shared_ptr<LogSink> function_log_sink(std::function<void(const LogEvent&)> write,
                                           LogLevel threshold = LogLevel::kDebug);

// What a component logs through: a sink and the component's name. Copies share the sink; a
// default-constructed Logger discards everything.
class Logger {
 public:
  Logger() = default;
  Logger(std::shared_ptr<LogSink> sink, std::string component)
      : sink_(std::move(sink)), component_(std::move(component)) {}

  // The same sink under another component's name.
  Logger component(std::string name) const { return Logger(sink_, std::move(name)); }

  bool enabled(LogLevel level) const { return sink_ && sink_->enabled(level); }
  void log(LogLevel level, std::string_view message, std::vector<LogField> fields = {}) const;
  void error(std::string_view message, std::vector<LogField> fields = {}) const {
    log(LogLevel::kError, message, std::move(fields));
  }
  void warn(std::string_view message, std::vector<LogField> fields = {}) const {
    log(LogLevel::kWarn, message, std::move(fields));
  }
  void info(std::string_view message, std::vector<LogField> fields = {}) const {
    log(LogLevel::kInfo, message, std::move(fields));
  }
  void debug(std::string_view message, std::vector<LogField> fields = {}) const {
    log(LogLevel::kDebug, message, std::move(fields));
  }

 private:
  std::shared_ptr<LogSink> sink_;
  std::string component_;
};

}  // namespace pos
