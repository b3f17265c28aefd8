// Mutations of JSON and text files for the sanitized fuzz tests: values replaced by others of
// another type, members removed, and byte-level damage (flips, cuts, stray tokens, duplicated
// spans). Deterministic for a seed.
#pragma once

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mrcnn::testing_fuzz {

inline std::string shared(const std::string& rel) { return std::string(MRCNN_SHARED_DIR) + "/" + rel; }

inline std::string read_text(const std::string& path, size_t limit = std::string::npos) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  std::string text = s.str();
  return text.substr(0, limit);
}

// A value of another JSON type than v (or a boundary number).
inline nlohmann::json other_value(std::mt19937& rng) {
  switch (rng() % 9) {
    case 0: return nullptr;
    case 1: return true;
    case 2: return "x\u00e9\x01";
    case 3: return nlohmann::json::array({1, "a", nullptr});
    case 4: return nlohmann::json::object({{"k", -1}});
    case 5: return -1;
    case 6: return 4294967296.0;
    case 7: return 9223372036854775807LL;
    default: return 1e300;
  }
}

// Replaces, removes or retypes some values of a JSON document.
inline void mutate_json(nlohmann::json& j, std::mt19937& rng, double rate) {
  std::uniform_real_distribution<double> u(0, 1);
  if (j.is_object()) {
    std::vector<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
    for (const auto& k : keys) {
      const double r = u(rng);
      if (r < rate) j.erase(k);
      else if (r < 2 * rate) j[k] = other_value(rng);
      else mutate_json(j[k], rng, rate);
    }
  } else if (j.is_array()) {
    for (auto& v : j) {
      if (u(rng) < rate) v = other_value(rng);
      else mutate_json(v, rng, rate);
    }
  }
}

// Byte-level damage: flips, a cut, a duplicated span, stray tokens.
inline std::string mutate_bytes(std::string s, std::mt19937& rng) {
  if (s.empty()) return s;
  const int edits = 1 + static_cast<int>(rng() % 8);
  static const char* tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "-", "1e999", "null", "\\u0000", ",,", "\n"};
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const size_t at = rng() % s.size();
    switch (rng() % 4) {
      case 0: s[at] = static_cast<char>(rng() & 0xff); break;
      case 1: s.resize(at); break;
      case 2: s.insert(at, tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))]); break;
      default: s.insert(at, s.substr(at, std::min<size_t>(rng() % 64, s.size() - at))); break;
    }
  }
  return s;
}

// Keeps the document's shape and types but replaces some numbers by boundary ones of the same
// kind (integers by integers: zero, negative, beyond 32 bits; others by zero, negative, tiny,
// huge): what passes a reader's type checks and reaches the arithmetic behind it.
inline void mutate_numbers(nlohmann::json& j, std::mt19937& rng, double rate) {
  static const int64_t integers[] = {0, -1, 1, 1000000000, 4294967296LL, 9223372036854775807LL};
  static const double reals[] = {0.0, -1.0, -1e-9, 0.5, 1e-300, 1e9, 1e300, -1e300};
  std::uniform_real_distribution<double> u(0, 1);
  if (j.is_number_integer()) {
    if (u(rng) < rate) j = integers[rng() % (sizeof(integers) / sizeof(integers[0]))];
  } else if (j.is_number()) {
    if (u(rng) < rate) j = reals[rng() % (sizeof(reals) / sizeof(reals[0]))];
  } else if (j.is_object() || j.is_array()) {
    for (auto& v : j) mutate_numbers(v, rng, rate);
  }
}

}  // namespace mrcnn::testing_fuzz
