// What the programs share on the command line: a one-line failure with an exit code, and a
// text file read whole.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "pos/status.h"
#include "pos_fmt.h"

namespace pos::apps {

[[noreturn]] inline void fail(const char* program, int code, const std::string& message) {
  fmt::print(stderr, "{}: {}\n", program, message);
  std::exit(code);
}

inline Result<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(Reason::kIoError, "cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace pos::apps
