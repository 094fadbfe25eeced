// Reading a whole file, for key and genesis files (private to core).
#pragma once

#include <filesystem>
#include <string>

#include "pos/status.h"

namespace pos::detail {

// The file's bytes, or kIoError naming the path and the system's reason.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace pos::detail
