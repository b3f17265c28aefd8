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

#include "../json_mutations.h"
#include "mrcnn/data/annotations.h"

namespace mrcnn::data {
namespace {

using namespace mrcnn::testing_fuzz;

constexpr int kCasesPerFile = 150;

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
