#include <gtest/gtest.h>

#include <random>
#include <stdexcept>

#include "mrcnn/codecs/rle.h"
#include "test_util.h"

namespace mrcnn::codecs {
namespace {

using testing::decode_fortran;

// A 3x4 mask (rows y, columns x), stored row-major:
//   0 1 1 0
//   0 1 0 0
//   1 1 0 0
// Column-major it reads 0 0 1 | 1 1 1 | 1 0 0 | 0 0 0, so the runs are 2, 5, 5.
const uint8_t kSmall[12] = {0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0};

TEST(Rle, EncodesRowMajorMaskInColumnOrder) {
  const Rle r = rle_encode({kSmall, 3, 4, 4, 1});
  EXPECT_EQ(r.counts, (std::vector<uint32_t>{2, 5, 5}));
  EXPECT_EQ(rle_area(r), 5u);
  const auto bb = rle_to_bbox(r);
  EXPECT_EQ(bb, (std::array<double, 4>{0, 0, 3, 3}));
}

TEST(Rle, StartsWithEmptyRunWhenFirstPixelIsSet) {
  const uint8_t m[4] = {1, 1, 0, 1};  // column-major 2x2
  const Rle r = rle_encode({m, 2, 2, 1, 2});
  EXPECT_EQ(r.counts, (std::vector<uint32_t>{0, 2, 1, 1}));
}

TEST(Rle, StringRoundTripAndKnownStrings) {
  // From pycocotools: an empty 7x5 mask is "S1", a full one "0S1".
  EXPECT_EQ(rle_to_string(Rle{7, 5, {35}}), "S1");
  EXPECT_EQ(rle_to_string(Rle{7, 5, {0, 35}}), "0S1");
  EXPECT_EQ(rle_from_string("0S1", 7, 5).counts, (std::vector<uint32_t>{0, 35}));
  std::mt19937 rng(1);
  for (int t = 0; t < 200; ++t) {
    const uint32_t h = 1 + rng() % 60, w = 1 + rng() % 60;
    std::vector<uint8_t> m(h * w);
    const int density = static_cast<int>(rng() % 10);
    for (auto& v : m) v = static_cast<int>(rng() % 10) < density;
    const Rle r = rle_encode({m.data(), h, w, 1, static_cast<std::ptrdiff_t>(h)});
    const Rle back = rle_from_string(rle_to_string(r), h, w);
    ASSERT_EQ(back.counts, r.counts);
    ASSERT_EQ(decode_fortran(back), m);
  }
}

TEST(Rle, LongMasksCrossTheVectorBlocks) {
  // Runs that start and end inside and across 64-byte blocks.
  const uint32_t h = 257, w = 3;
  std::vector<uint8_t> m(h * w, 0);
  for (uint32_t i = 63; i < 65; ++i) m[i] = 1;
  for (uint32_t i = 100; i < 700; ++i) m[i] = 7;  // any non-zero byte is foreground
  m[h * w - 1] = 1;
  const Rle r = rle_encode({m.data(), h, w, 1, static_cast<std::ptrdiff_t>(h)});
  EXPECT_EQ(r.counts, (std::vector<uint32_t>{63, 2, 35, 600, 70, 1}));
}

TEST(Rle, StridedViewsMatchContiguous) {
  std::mt19937 rng(2);
  const uint32_t h = 37, w = 91;
  std::vector<uint8_t> col(h * w), row(h * w);
  for (uint32_t x = 0; x < w; ++x)
    for (uint32_t y = 0; y < h; ++y) col[x * h + y] = row[y * w + x] = rng() % 3 == 0;
  const Rle a = rle_encode({col.data(), h, w, 1, h});
  const Rle b = rle_encode({row.data(), h, w, w, 1});
  EXPECT_EQ(a.counts, b.counts);
  std::vector<uint8_t> out(h * w, 9);
  rle_decode(a, out.data(), w, 1);
  EXPECT_EQ(out, row);
}

TEST(Rle, BadStringsAreRejected) {
  EXPECT_THROW(rle_from_string("S1", 7, 6), std::invalid_argument);   // sums to 35, not 42
  EXPECT_THROW(rle_from_string("0S", 7, 5), std::invalid_argument);   // truncated inside a count
  EXPECT_THROW(rle_from_string("0S1 ", 7, 5), std::invalid_argument); // space is outside the alphabet
  EXPECT_THROW(rle_from_string("0~1", 7, 5), std::invalid_argument);  // '~' > 'o'
  EXPECT_THROW(rle_from_string("1O0", 2, 2), std::invalid_argument);  // negative delta -> negative count
  EXPECT_THROW(rle_from_string("oooooooo0", 7, 5), std::invalid_argument);  // over-long count
  EXPECT_THROW(rle_from_counts({3, 4}, 2, 2), std::invalid_argument);
}

TEST(Rle, MergeAndIouByHand) {
  // Two 1x4 masks: 1100 and 0110 -> union 1110, intersection 0100.
  const Rle a{1, 4, {0, 2, 2}}, b{1, 4, {1, 2, 1}};
  EXPECT_EQ(rle_merge({&a, &b}, false).counts, (std::vector<uint32_t>{0, 3, 1}));
  EXPECT_EQ(rle_merge({&a, &b}, true).counts, (std::vector<uint32_t>{1, 1, 2}));
  double iou = 0;
  rle_iou(&a, 1, &b, 1, nullptr, &iou);
  EXPECT_DOUBLE_EQ(iou, 1.0 / 3.0);
  const uint8_t crowd = 1;
  rle_iou(&a, 1, &b, 1, &crowd, &iou);  // intersection / area(dt)
  EXPECT_DOUBLE_EQ(iou, 0.5);
  const Rle c{2, 2, {4}};
  EXPECT_THROW(rle_merge({&a, &c}, false), std::invalid_argument);
}

TEST(Rle, IouOfEmptyRunsAsTheReferenceWalksThem) {
  // 1x100 masks, pixels 5..99 set. Written with an empty run pair in front ([5, 0, 0, 95]), the
  // reference's run walk stops where both masks reach the empty runs at once, before any pixel
  // is counted: IoU 0 (i = 0). Only one of the two written that way, it walks to the end: 1.
  const Rle odd{1, 100, {5, 0, 0, 95}}, plain{1, 100, {5, 95}};
  double iou = -1;
  rle_iou(&odd, 1, &odd, 1, nullptr, &iou);
  EXPECT_EQ(iou, 0.0);
  rle_iou(&odd, 1, &plain, 1, nullptr, &iou);
  EXPECT_EQ(iou, 1.0);
  rle_iou(&plain, 1, &plain, 1, nullptr, &iou);
  EXPECT_EQ(iou, 1.0);
}

TEST(Rle, BoxIouByHand) {
  const double dt[4] = {0, 0, 10, 10}, gt[4] = {5, 5, 10, 10};
  double o = 0;
  bbox_iou(dt, 1, gt, 1, nullptr, &o);
  EXPECT_DOUBLE_EQ(o, 25.0 / 175.0);
  const uint8_t crowd = 1;
  bbox_iou(dt, 1, gt, 1, &crowd, &o);
  EXPECT_DOUBLE_EQ(o, 25.0 / 100.0);
}

TEST(Rle, MatchesPycocotoolsStrings) {
  const std::string path = testing::shared_path("testdata/rle/cases.json");
  if (path.empty()) GTEST_SKIP() << "../shared/testdata/rle/cases.json is absent";
  const auto cases = testing::load_json(path);
  for (const auto& c : cases["masks"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const uint32_t h = c["h"], w = c["w"];
    const Rle r = rle_from_string(c["counts"].get<std::string>(), h, w);
    EXPECT_EQ(r.counts, c["uncompressed_counts"].get<std::vector<uint32_t>>());
    EXPECT_EQ(rle_to_string(r), c["counts"].get<std::string>());
    EXPECT_EQ(rle_area(r), c["area"].get<uint64_t>());
    const auto bb = rle_to_bbox(r);
    EXPECT_EQ(std::vector<double>(bb.begin(), bb.end()), c["bbox"].get<std::vector<double>>());
  }
}

}  // namespace
}  // namespace mrcnn::codecs
