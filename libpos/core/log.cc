#include "pos/log.h"

#include <fmt/format.h>

namespace pos {

namespace {

class FunctionSink : public LogSink {
 public:
  FunctionSink(std::function<void(const LogEvent&)> write, LogLevel threshold)
      : write_(std::move(write)), threshold_(threshold) {}
  bool enabled(LogLevel level) const override { return level <= threshold_; }
  void write(const LogEvent& event) override { write_(event); }

 private:
  std::function<void(const LogEvent&)> write_;
  LogLevel threshold_;
};

// A value is quoted when a reader splitting on spaces and '=' would misread it.
bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  return false;
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (LogLevel level : {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug})
    if (text == log_level_name(level)) return level;
  return std::nullopt;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "info";
}

std::string log_text(std::string_view message, const std::vector<LogField>& fields) {
  std::string out(message);
  for (const auto& f : fields) {
    if (!needs_quotes(f.value)) {
      fmt::format_to(std::back_inserter(out), " {}={}", f.key, f.value);
      continue;
    }
    fmt::format_to(std::back_inserter(out), " {}=\"", f.key);
    for (char c : f.value) {
      if (c == '"' || c == '\\')
        out += {'\\', c};
      else if (c == '\n')
        out += "\\n";
      else if (static_cast<unsigned char>(c) < 0x20)
        fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned char>(c));
      else
        out += c;
    }
    out += '"';
  }
  return out;
}

std::shared_ptr<LogSink> function_log_sink(std::function<void(const LogEvent&)> write,
                                           LogLevel threshold) {
  return std::make_shared<FunctionSink>(std::move(write), threshold);
}

void Logger::log(LogLevel level, std::string_view message, std::vector<LogField> fields) const {
  if (!enabled(level)) return;
  sink_->write(LogEvent{level, component_, message, fields});
}

}  // namespace pos
