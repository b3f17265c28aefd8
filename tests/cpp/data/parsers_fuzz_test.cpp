// The annotation parsers on a corpus of mutated real files (COCO JSON, VIA JSON, Kaggle RLE CSV from
// ../shared/data), at a fixed budget: byte flips, cuts, inserted tokens, and JSON values replaced by
// others of another type. Every input gives an annotation set or a std::exception; nothing else may
// happen. ctest runs this file under AddressSanitizer and UndefinedBehaviorSanitizer
// (parsers_sanitized), so an out-of-bounds access or undefined arithmetic fails the run.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mrcnn/data/annotations.h"

namespace mrcnn::data {
namespace {

constexpr int kCasesPerFile = 150;

std::string shared(const std::string& rel) { return std::string(MRCNN_SHARED_DIR) + "/" + rel; }

std::string read_text(const std::string& path, size_t limit = std::string::npos) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  std::string text = s.str();
  return text.substr(0, limit);
}

// A value of another JSON type than v (or a boundary number).
nlohmann::json other_value(std::mt19937& rng) {
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
void mutate_json(nlohmann::json& j, std::mt19937& rng, double rate) {
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
std::string mutate_bytes(std::string s, std::mt19937& rng) {
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

template <typename Load>
void expect_set_or_exception(const std::string& path, const std::string& text, Load&& load) {
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  for (BadDataPolicy policy : {BadDataPolicy::kSkip, BadDataPolicy::kRaise}) {
    try {
      const AnnotationSet set = load(policy);
      for (const auto& image : set.images)
        for (const auto& inst : image.instances) {
          uint64_t sum = 0;
          for (uint32_t c : inst.mask.counts) sum += c;
          ASSERT_EQ(sum, static_cast<uint64_t>(inst.mask.h) * inst.mask.w) << image.path;
        }
    } catch (const std::exception&) {
      // a rejected file: fine
    } catch (...) {
      FAIL() << "a non-std exception for " << path;
    }
  }
}

void fuzz_json_file(const std::string& source, const std::string& name, uint32_t seed,
                    const std::function<AnnotationSet(const std::string&, BadDataPolicy)>& load) {
  const std::string original = read_text(source);
  if (original.empty()) GTEST_SKIP() << source << " is not there (../shared/data)";
  const nlohmann::json doc = nlohmann::json::parse(original);
  std::mt19937 rng(seed);
  const std::string path = ::testing::TempDir() + "/" + name;
  for (int k = 0; k < kCasesPerFile; ++k) {
    std::string text;
    if (k % 2 == 0) {
      nlohmann::json j = doc;
      mutate_json(j, rng, k % 4 == 0 ? 0.02 : 0.2);
      text = j.dump();
    } else {
      text = mutate_bytes(original, rng);
    }
    expect_set_or_exception(path, text, [&](BadDataPolicy p) { return load(path, p); });
  }
}

TEST(ParsersFuzz, CocoJson) {
  const std::string images = shared("data/fruits_nuts/images");
  fuzz_json_file(shared("data/fruits_nuts/trainval.json"), "fuzz_coco.json", 1,
                 [&](const std::string& p, BadDataPolicy policy) { return load_coco(p, images, policy); });
}

TEST(ParsersFuzz, ViaJson) {
  const std::string images = shared("data/balloon/val");
  fuzz_json_file(shared("data/balloon/val/via_region_data.json"), "fuzz_via.json", 2,
                 [&](const std::string& p, BadDataPolicy policy) { return load_via(p, images, "", "balloon", policy); });
}

TEST(ParsersFuzz, KaggleCsv) {
  const std::string original = read_text(shared("data/fashion/train.csv"), 200000);
  if (original.empty()) GTEST_SKIP() << "../shared/data/fashion/train.csv is not there";
  std::mt19937 rng(3);
  const std::string path = ::testing::TempDir() + "/fuzz.csv";
  for (int k = 0; k < kCasesPerFile; ++k)
    expect_set_or_exception(path, mutate_bytes(original, rng), [&](BadDataPolicy policy) {
      return load_rle_csv(path, "", "", policy);
    });
}

}  // namespace
}  // namespace mrcnn::data
