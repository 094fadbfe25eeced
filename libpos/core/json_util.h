// Strict JSON reading and writing over RapidJSON (private to core): every field is checked for
// presence, type and range, and unknown or duplicate fields are refused.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

namespace pos::detail {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Parses text into doc; the iterative parser keeps deep nesting off the stack.
Status parse_json(std::string_view text, rapidjson::Document& doc);

class JsonObject {
 public:
  // `what` names the object in messages ("transaction", "block", ...).
  static Result<JsonObject> open(const rapidjson::Value& value, std::string what);

  bool has(const char* name) const;
  Result<std::uint64_t> u64(const char* name);
  Result<std::string_view> string(const char* name);
  Result<bool> boolean(const char* name);
  template <class Fixed>
  Result<Fixed> fixed_hex(const char* name) {
    auto text = string(name);
    if (!text.ok()) return text.error();
    auto value = Fixed::from_hex(*text);
    if (!value.ok()) return field_error(name, value.error().message);
    return *value;
  }
  // A field that may be absent: nothing then, else its value (refused if malformed).
  template <class Fixed>
  Result<std::optional<Fixed>> optional_fixed_hex(const char* name) {
    if (!has(name)) return std::optional<Fixed>();
    auto value = fixed_hex<Fixed>(name);
    if (!value.ok()) return value.error();
    return std::optional<Fixed>(*value);
  }
  Result<const rapidjson::Value*> array(const char* name);
  // Refuses any field that was not read.
  Status finish() const;
  Error field_error(const char* name, const std::string& problem) const;

 private:
  JsonObject(const rapidjson::Value& value, std::string what)
      : value_(&value), what_(std::move(what)) {}
  Result<const rapidjson::Value*> field(const char* name);
  const rapidjson::Value* value_;
  std::string what_;
  std::set<std::string, std::less<>> read_;
};

inline void write_key(JsonWriter& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
inline void write_string(JsonWriter& w, std::string_view value) {
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

}  // namespace pos::detail
