#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "mrcnn/codecs/kaggle_rle.h"
#include "test_util.h"

namespace mrcnn::codecs {
namespace {

// A 3x3 mask with pixels numbered 1..9 down each column:
//   1 4 7        0 1 0
//   2 5 8   and  0 1 1   is "4 3 8 1" column-major, 1-indexed.
//   3 6 9        0 1 0
// Row-major numbering (1 2 3 / 4 5 6 / 7 8 9) makes it "2 1 5 2 8 1".
TEST(KaggleRle, HandWorkedExample) {
  const uint8_t rowmajor[9] = {0, 1, 0, 0, 1, 1, 0, 1, 0};
  const MaskView v{rowmajor, 3, 3, 3, 1};
  EXPECT_EQ(kaggle_rle_encode(v), "4 3 8 1");
  KaggleRleOptions rm;
  rm.column_major = false;
  EXPECT_EQ(kaggle_rle_encode(v, rm), "2 1 5 2 8 1");
  KaggleRleOptions zero;
  zero.one_indexed = false;
  EXPECT_EQ(kaggle_rle_encode(v, zero), "3 3 7 1");
  const Rle a = kaggle_rle_to_rle("4 3 8 1", 3, 3);
  const Rle b = kaggle_rle_to_rle("2 1 5 2 8 1", 3, 3, rm);
  const Rle c = kaggle_rle_to_rle("3 3 7 1", 3, 3, zero);
  EXPECT_EQ(a.counts, rle_encode(v).counts);
  EXPECT_EQ(b.counts, a.counts);
  EXPECT_EQ(c.counts, a.counts);
}

TEST(KaggleRle, UnsortedAndOverlappingPairsAreUnited) {
  EXPECT_EQ(kaggle_rle_to_rle("8 1 4 3", 3, 3).counts, (std::vector<uint32_t>{3, 3, 1, 1, 1}));
  EXPECT_EQ(kaggle_rle_to_rle("4 2 5 2", 3, 3).counts, (std::vector<uint32_t>{3, 3, 3}));
  EXPECT_EQ(kaggle_rle_to_rle("", 3, 3).counts, (std::vector<uint32_t>{9}));
}

TEST(KaggleRle, BadStringsAreRejected) {
  EXPECT_THROW(kaggle_rle_to_rle("4 3 8", 3, 3), std::invalid_argument);     // odd count
  EXPECT_THROW(kaggle_rle_to_rle("0 3", 3, 3), std::invalid_argument);       // 1-indexed start 0
  EXPECT_THROW(kaggle_rle_to_rle("8 3", 3, 3), std::invalid_argument);       // past the end
  EXPECT_THROW(kaggle_rle_to_rle("4 x", 3, 3), std::invalid_argument);       // not a number
  EXPECT_THROW(kaggle_rle_to_rle("4 -3", 3, 3), std::invalid_argument);      // negative
  EXPECT_THROW(kaggle_rle_to_rle("99999999999 1", 3, 3), std::invalid_argument);
}

TEST(KaggleRle, RandomRoundTrips) {
  std::mt19937 rng(3);
  for (int t = 0; t < 100; ++t) {
    const uint32_t h = 1 + rng() % 40, w = 1 + rng() % 40;
    std::vector<uint8_t> m(h * w);
    for (auto& v : m) v = rng() % 4 == 0;
    const MaskView view{m.data(), h, w, static_cast<std::ptrdiff_t>(w), 1};
    for (bool col : {true, false}) {
      for (bool one : {true, false}) {
        KaggleRleOptions o;
        o.column_major = col;
        o.one_indexed = one;
        const Rle r = kaggle_rle_to_rle(kaggle_rle_encode(view, o), h, w, o);
        ASSERT_EQ(r.counts, rle_encode(view).counts);
      }
    }
  }
}

TEST(KaggleRle, FashionCsvRoundTrips) {
  const std::string path = testing::shared_path("data/fashion/train.csv");
  if (path.empty()) GTEST_SKIP() << "../shared/data/fashion/train.csv is absent";
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);  // header
  int rows = 0;
  while (std::getline(f, line) && rows < 500) {
    std::stringstream ss(line);
    std::string id, pixels, hs, ws;
    std::getline(ss, id, ',');
    std::getline(ss, pixels, ',');
    std::getline(ss, hs, ',');
    std::getline(ss, ws, ',');
    const uint32_t h = std::stoul(hs), w = std::stoul(ws);
    const Rle r = kaggle_rle_to_rle(pixels, h, w);
    ASSERT_EQ(rle_to_kaggle_rle(r), pixels) << "row " << rows;
    ++rows;
  }
  EXPECT_EQ(rows, 500);
}

}  // namespace
}  // namespace mrcnn::codecs
