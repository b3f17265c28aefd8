#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include "mrcnn/codecs/polygon.h"
#include "test_util.h"

namespace mrcnn::codecs {
namespace {

uint64_t iou_pixels(const Rle& a, const Rle& b) {
  return rle_area(rle_merge({&a, &b}, true)) * 1000 / std::max<uint64_t>(1, rle_area(rle_merge({&a, &b}, false)));
}

TEST(Polygon, AxisAlignedSquareCoversItsPixels) {
  // [2, 6) x [1, 4) covers columns 2..5 and rows 1..3: 12 pixels, box (2, 1, 4, 3).
  const double xy[8] = {2, 1, 6, 1, 6, 4, 2, 4};
  const Rle r = rle_from_polygon(xy, 4, 8, 9);
  EXPECT_EQ(rle_area(r), 12u);
  EXPECT_EQ(rle_to_bbox(r), (std::array<double, 4>{2, 1, 4, 3}));
  EXPECT_EQ(rle_from_bbox({2, 1, 4, 3}, 8, 9).counts, r.counts);
}

TEST(Polygon, BadPolygonsAreRejected) {
  const double two[4] = {0, 0, 1, 1};
  EXPECT_THROW(rle_from_polygon(two, 2, 5, 5), std::invalid_argument);
  const double nan[6] = {0, 0, std::numeric_limits<double>::quiet_NaN(), 1, 2, 2};
  EXPECT_THROW(rle_from_polygon(nan, 3, 5, 5), std::invalid_argument);
  const double inf[6] = {0, 0, 1, std::numeric_limits<double>::infinity(), 2, 2};
  EXPECT_THROW(rle_from_polygon(inf, 3, 5, 5), std::invalid_argument);
  const double huge[6] = {0, 0, 1e9, 0, 2, 2};
  EXPECT_THROW(rle_from_polygon(huge, 3, 5, 5), std::invalid_argument);
}

TEST(Polygon, MatchesPycocotools) {
  const std::string path = testing::shared_path("testdata/rle/cases.json");
  if (path.empty()) GTEST_SKIP() << "../shared/testdata/rle/cases.json is absent";
  const auto cases = testing::load_json(path);
  for (const auto& c : cases["polygons"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const uint32_t h = c["h"], w = c["w"];
    std::vector<Rle> parts;
    const auto& polys = c["polygons"];
    for (size_t i = 0; i < polys.size(); ++i) {
      const auto xy = polys[i].get<std::vector<double>>();
      parts.push_back(rle_from_polygon(xy.data(), xy.size() / 2, h, w));
      EXPECT_EQ(rle_to_string(parts.back()), c["per_polygon_counts"][i].get<std::string>());
    }
    std::vector<const Rle*> ptrs;
    for (const auto& p : parts) ptrs.push_back(&p);
    const Rle merged = rle_merge(ptrs, false);
    EXPECT_EQ(rle_to_string(merged), c["merged_counts"].get<std::string>());
    EXPECT_EQ(rle_area(merged), c["area"].get<uint64_t>());
  }
}

TEST(Polygon, ViaShapes) {
  ViaShape rect;
  rect.name = "rect";
  rect.x = 1;
  rect.y = 2;
  rect.width = 3;
  rect.height = 4;
  EXPECT_EQ(rle_area(rle_from_via_shape(rect, 10, 10)), 12u);
  ViaShape circle;
  circle.name = "circle";
  circle.cx = 10;
  circle.cy = 10;
  circle.r = 5;
  const uint64_t a = rle_area(rle_from_via_shape(circle, 20, 20));
  EXPECT_NEAR(static_cast<double>(a), M_PI * 25, 6);
  ViaShape ellipse;
  ellipse.name = "ellipse";
  ellipse.cx = 10;
  ellipse.cy = 10;
  ellipse.rx = 8;
  ellipse.ry = 2;
  ellipse.theta = M_PI / 2;  // rotated upright: taller than wide
  const auto bb = rle_to_bbox(rle_from_via_shape(ellipse, 20, 20));
  EXPECT_LT(bb[2], bb[3]);
  ViaShape point;
  point.name = "point";
  point.cx = 3.7;
  point.cy = 1.2;
  const Rle p = rle_from_via_shape(point, 5, 5);
  EXPECT_EQ(rle_to_bbox(p), (std::array<double, 4>{3, 1, 1, 1}));
  ViaShape bad;
  bad.name = "spline";
  EXPECT_THROW(rle_from_via_shape(bad, 5, 5), std::invalid_argument);
  ViaShape uneven;
  uneven.name = "polygon";
  uneven.xs = {1, 2, 3};
  uneven.ys = {1, 2};
  EXPECT_THROW(rle_from_via_shape(uneven, 5, 5), std::invalid_argument);
}

TEST(Polygon, MaskToPolygonsRoundTrip) {
  // A filled rectangle with a rectangular hole, and a separate single pixel.
  const uint32_t h = 40, w = 50;
  std::vector<uint8_t> m(h * w, 0);  // column-major
  for (uint32_t x = 5; x < 30; ++x)
    for (uint32_t y = 4; y < 25; ++y) m[x * h + y] = 1;
  for (uint32_t x = 12; x < 20; ++x)
    for (uint32_t y = 10; y < 15; ++y) m[x * h + y] = 0;
  m[45 * h + 35] = 1;
  const MaskView view{m.data(), h, w, 1, static_cast<std::ptrdiff_t>(h)};
  const auto polys = mask_to_polygons(view, 0.0);
  ASSERT_EQ(polys.size(), 2u);
  std::vector<Rle> parts;
  for (const auto& p : polys) parts.push_back(rle_from_polygon(p.data(), p.size() / 2, h, w));
  const Rle back = rle_merge({&parts[0], &parts[1]}, false);
  const Rle orig = rle_encode(view);
  // Rectangles come back exactly; the zero-width cut to the hole may add a pixel line.
  EXPECT_GE(iou_pixels(back, orig), 980u);
  EXPECT_LE(rle_area(back), rle_area(orig) + 8);
}

}  // namespace
}  // namespace mrcnn::codecs

#include "polygon_reference.h"

namespace mrcnn::codecs {
namespace {

TEST(Polygon, CrossingWalkEqualsFullTrace) {
  // Random polygons with fractional, negative and out-of-image coordinates, repeated vertices,
  // steep and shallow edges: the fast rasteriser must equal the full trace exactly.
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> coord(-30.0, 130.0);
  for (int t = 0; t < 3000; ++t) {
    const uint32_t h = 1 + rng() % 100, w = 1 + rng() % 100;
    const size_t k = 3 + rng() % 12;
    std::vector<double> xy(2 * k);
    for (auto& v : xy) v = rng() % 4 == 0 ? std::round(coord(rng)) : coord(rng);
    if (rng() % 5 == 0) {  // repeat a vertex
      xy[2] = xy[0];
      xy[3] = xy[1];
    }
    const Rle fast = rle_from_polygon(xy.data(), k, h, w);
    const Rle ref = testing::rle_from_polygon_reference(xy.data(), k, h, w);
    ASSERT_EQ(fast.counts, ref.counts) << "polygon " << t;
  }
}

TEST(Polygon, LongSteepEdgesEqualFullTrace) {
  // Steep edges are solved per crossing column instead of walked row by row; long, nearly
  // vertical and nearly diagonal edges far outside the image check that shortcut.
  std::mt19937 rng(12);
  std::uniform_real_distribution<double> far(-20000.0, 20000.0), near(-5.0, 5.0);
  for (int t = 0; t < 300; ++t) {
    const uint32_t h = 1 + rng() % 200, w = 1 + rng() % 200;
    const size_t k = 3 + rng() % 6;
    std::vector<double> xy(2 * k);
    for (size_t j = 0; j < k; ++j) {
      const double y = far(rng);
      // x stays near the image for most vertices, so edges run steeply across it
      xy[2 * j] = rng() % 3 == 0 ? far(rng) : w / 2.0 + near(rng) * (1 + rng() % 40);
      xy[2 * j + 1] = rng() % 4 == 0 ? std::round(y) : y;
    }
    const Rle fast = rle_from_polygon(xy.data(), k, h, w);
    const Rle ref = testing::rle_from_polygon_reference(xy.data(), k, h, w);
    ASSERT_EQ(fast.counts, ref.counts) << "polygon " << t;
  }
}

}  // namespace
}  // namespace mrcnn::codecs
