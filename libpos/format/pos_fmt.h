// fmt formatters for the types libpos prints, so that fmt::format("{}", hash) just works.
// Private to this repository's targets (CMake target pos_fmt, never installed): fmt is no part
// of the public headers.
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "pos/crypto.h"
#include "pos/status.h"

// Hashes, keys, addresses and signatures: lower-case hex. `{:s}` gives the short form people
// read in logs and tables, the first 8 hex digits and an ellipsis ("5f1e9a0b…").
template <std::size_t N, class Tag>
struct fmt::formatter<pos::FixedBytes<N, Tag>> {
  bool short_form = false;

  constexpr auto parse(fmt::format_parse_context& ctx) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it == 's') {
      short_form = true;
      ++it;
    }
    if (it != ctx.end() && *it != '}') throw fmt::format_error("bytes take {} or {:s}");
    return it;
  }

  template <class Context>
  auto format(const pos::FixedBytes<N, Tag>& bytes, Context& ctx) const {
    std::string hex = bytes.hex();
    if (short_form) return fmt::format_to(ctx.out(), "{}…", std::string_view(hex).substr(0, 8));
    return fmt::format_to(ctx.out(), "{}", hex);
  }
};

// A reason as its stable code ("stale_nonce").
template <>
struct fmt::formatter<pos::Reason> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(pos::Reason reason, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(pos::reason_code(reason), ctx);
  }
};

// An error as "code: message", as Error::to_string gives it.
template <>
struct fmt::formatter<pos::Error> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const pos::Error& error, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}: {}", error.reason, error.message);
  }
};
