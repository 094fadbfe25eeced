// The block explorer's static files, compiled into the node (see cmake/embed_files.cmake).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace pos::detail {

struct EmbeddedFile {
  std::string_view path;  // as requested, e.g. "/explorer.js"
  std::string_view content_type;
  const unsigned char* data;
  std::size_t size;
};

extern const std::vector<EmbeddedFile> kExplorerAssets;

}  // namespace pos::detail
