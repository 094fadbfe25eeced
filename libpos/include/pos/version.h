#pragma once

namespace pos {
inline constexpr const char* kVersion = "0.1.0";
}
