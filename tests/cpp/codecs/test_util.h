#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "mrcnn/codecs/rle.h"

namespace mrcnn::codecs::testing {

// ../shared/testdata/<rel>, or "" when ../shared is absent.
inline std::string shared_path(const std::string& rel) {
  const std::string p = std::string(MRCNN_SHARED_DIR) + "/" + rel;
  std::ifstream f(p);
  return f.good() ? p : std::string();
}

inline nlohmann::json load_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// Column-major 0/1 bytes of an RLE.
inline std::vector<uint8_t> decode_fortran(const Rle& r) {
  std::vector<uint8_t> m(static_cast<size_t>(r.h) * r.w);
  rle_decode(r, m.data(), 1, static_cast<std::ptrdiff_t>(r.h));
  return m;
}

}  // namespace mrcnn::codecs::testing
