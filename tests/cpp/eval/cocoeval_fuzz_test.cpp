// The COCO evaluator's readers and evaluation on a corpus of mutated ground-truth and result files
// (the synthetic goldens in ../shared/testdata/cocoeval), at a fixed budget. Every input gives
// twelve summary numbers, each -1 (nothing to measure) or within [0, 1], or a std::exception;
// damage ranges from retyped values and byte-level cuts to boundary numbers in well-formed files;
// nothing else may happen. ctest runs this file under AddressSanitizer and
// UndefinedBehaviorSanitizer (cocoeval_sanitized).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "../json_mutations.h"
#include "mrcnn/eval/coco_eval.h"

namespace mrcnn::eval {
namespace {

using namespace mrcnn::testing_fuzz;

constexpr int kCases = 90;

// Returns how many of the two evaluations gave a result.
int expect_stats_or_exception(const std::string& gt, const std::string& dt) {
  int evaluated = 0;
  for (const char* iou_type : {"bbox", "segm"}) {
    try {
      const CocoEvalResult r = coco_evaluate(gt, dt, iou_type);
      ++evaluated;
      for (double s : r.stats) EXPECT_TRUE(s == -1.0 || (s >= 0.0 && s <= 1.0)) << iou_type << " stat " << s;
      EXPECT_EQ(r.precision.size(), static_cast<size_t>(r.T * r.R * r.K * r.A * r.M));
      EXPECT_EQ(r.recall.size(), static_cast<size_t>(r.T * r.K * r.A * r.M));
    } catch (const std::exception& e) {
      if (getenv("FUZZ_VERBOSE")) std::printf("%s\n", e.what());
      // a rejected file: fine
    } catch (...) {
      ADD_FAILURE() << "a non-std exception";
    }
  }
  return evaluated;
}

// One of the two files is damaged (as JSON values, or as bytes), the other is kept.
void fuzz(bool damage_ground_truth, uint32_t seed) {
  const std::string gt = read_text(shared("testdata/cocoeval/gt_synthetic.json"));
  const std::string dt = read_text(shared("testdata/cocoeval/dt_synthetic.json"));
  if (gt.empty() || dt.empty()) GTEST_SKIP() << "../shared/testdata/cocoeval is not there";
  const std::string& original = damage_ground_truth ? gt : dt;
  const nlohmann::json doc = nlohmann::json::parse(original);
  std::mt19937 rng(seed);
  int evaluated = 0;
  for (int k = 0; k < kCases; ++k) {
    std::string text;
    nlohmann::json j = doc;
    switch (k % 3) {
      case 0: mutate_json(j, rng, k % 2 == 0 ? 0.002 : 0.05); text = j.dump(); break;
      case 1: mutate_numbers(j, rng, k % 2 == 0 ? 0.001 : 0.01); text = j.dump(); break;
      default: text = mutate_bytes(original, rng); break;
    }
    evaluated += damage_ground_truth ? expect_stats_or_exception(text, dt) : expect_stats_or_exception(gt, text);
  }
  // the corpus must reach the evaluation, not only the readers' rejections
  EXPECT_GE(evaluated, kCases / 4) << "evaluations that gave a result";
  std::printf("%d of %d evaluations gave a result\n", evaluated, 2 * kCases);
}

TEST(CocoEvalFuzz, DamagedGroundTruth) { fuzz(true, 11); }
TEST(CocoEvalFuzz, DamagedResults) { fuzz(false, 12); }

}  // namespace
}  // namespace mrcnn::eval
