#include "json_util.h"

#include <rapidjson/error/en.h>

#include "pos_fmt.h"

namespace pos::detail {

Status parse_json(std::string_view text, rapidjson::Document& doc) {
  // Iterative: deep nesting cannot exhaust the stack. No full-precision doubles: every number
  // libpos takes is an integer, and RapidJSON 1.1's full-precision path passes zero to clz()
  // (undefined behaviour that UBSan reports) for some inputs.
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError())
    return make_error(Reason::kMalformed,
                      fmt::format("invalid JSON at offset {}: {}", doc.GetErrorOffset(),
                                  rapidjson::GetParseError_En(doc.GetParseError())));
  return {};
}

Result<JsonObject> JsonObject::open(const rapidjson::Value& value, std::string what) {
  if (!value.IsObject()) return make_error(Reason::kMalformed, what + " must be a JSON object");
  std::set<std::string_view> names;
  for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (!names.insert(name).second)
      return make_error(Reason::kMalformed,
                        what + ": duplicate field \"" + std::string(name) + "\"");
  }
  return JsonObject(value, std::move(what));
}

bool JsonObject::has(const char* name) const {
  return value_->HasMember(name);
}

Error JsonObject::field_error(const char* name, const std::string& problem) const {
  return make_error(Reason::kMalformed, what_ + ": field \"" + name + "\" " + problem);
}

Result<const rapidjson::Value*> JsonObject::field(const char* name) {
  auto it = value_->FindMember(name);
  if (it == value_->MemberEnd()) return field_error(name, "is missing");
  read_.insert(name);
  return &it->value;
}

Result<std::uint64_t> JsonObject::u64(const char* name) {
  auto v = field(name);
  if (!v.ok()) return v.error();
  const rapidjson::Value& value = **v;
  if (value.IsUint64()) return value.GetUint64();
  if (value.IsInt64()) return field_error(name, "must not be negative");
  if (value.IsNumber()) return field_error(name, "must be an integer from 0 to 2^64-1");
  return field_error(name, "must be a JSON integer");
}

Result<bool> JsonObject::boolean(const char* name) {
  auto v = field(name);
  if (!v.ok()) return v.error();
  if (!(*v)->IsBool()) return field_error(name, "must be true or false");
  return (*v)->GetBool();
}

Result<std::string_view> JsonObject::string(const char* name) {
  auto v = field(name);
  if (!v.ok()) return v.error();
  if (!(*v)->IsString()) return field_error(name, "must be a string");
  return std::string_view((*v)->GetString(), (*v)->GetStringLength());
}

Result<const rapidjson::Value*> JsonObject::array(const char* name) {
  auto v = field(name);
  if (!v.ok()) return v.error();
  if (!(*v)->IsArray()) return field_error(name, "must be an array");
  return *v;
}

Status JsonObject::finish() const {
  for (auto it = value_->MemberBegin(); it != value_->MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (!read_.contains(name))
      return make_error(Reason::kMalformed,
                        what_ + ": unknown field \"" + std::string(name) + "\"");
  }
  return {};
}

}  // namespace pos::detail
