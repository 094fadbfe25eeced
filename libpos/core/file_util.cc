#include "file_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pos::detail {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return make_error(Reason::kIoError, path.string() + ": cannot open: " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return make_error(Reason::kIoError, path.string() + ": read failed");
  return buffer.str();
}

}  // namespace pos::detail
