// Random and mutated inputs for the parsers and the rasteriser. Every input either decodes to a
// valid RLE or throws std::invalid_argument; nothing else may happen. The ctest suite also runs
// this file in a build with AddressSanitizer and UndefinedBehaviorSanitizer (codecs_sanitized_tests),
// so an out-of-bounds read or write, or signed overflow, fails the run.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "mrcnn/codecs/kaggle_rle.h"
#include "mrcnn/codecs/polygon.h"
#include "mrcnn/codecs/rle.h"
#include "test_util.h"

namespace mrcnn::codecs {
namespace {

// Decodes (or rejects) one input; a decoded RLE must sum to h*w and decode in bounds.
template <typename Parse>
void expect_valid_or_rejected(Parse&& parse) {
  try {
    const Rle r = parse();
    uint64_t sum = 0;
    for (uint32_t c : r.counts) sum += c;
    ASSERT_EQ(sum, static_cast<uint64_t>(r.h) * r.w);
    const std::vector<uint8_t> m = testing::decode_fortran(r);
    ASSERT_EQ(rle_from_string(rle_to_string(r), r.h, r.w).counts, r.counts);
    (void)m;
  } catch (const std::invalid_argument&) {
  }
}

std::string random_string(std::mt19937& rng, size_t max_len, int lo, int hi) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<int> ch(lo, hi);
  std::string s(len(rng), ' ');
  for (char& c : s) c = static_cast<char>(ch(rng));
  return s;
}

TEST(Fuzz, CocoStringDecoder) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<uint32_t> dim(0, 40);
  for (int i = 0; i < 20000; ++i) {
    const uint32_t h = dim(rng), w = dim(rng);
    // Mostly the string alphabet (48..111), sometimes any byte.
    const std::string s = i % 4 == 0 ? random_string(rng, 24, 0, 255) : random_string(rng, 24, 48, 111);
    expect_valid_or_rejected([&] { return rle_from_string(s, h, w); });
  }
}

TEST(Fuzz, MutatedValidStrings) {
  std::mt19937 rng(2);
  std::bernoulli_distribution bit(0.3);
  for (int i = 0; i < 3000; ++i) {
    const uint32_t h = 1 + rng() % 30, w = 1 + rng() % 30;
    std::vector<uint8_t> mask(static_cast<size_t>(h) * w);
    for (auto& v : mask) v = bit(rng);
    std::string s = rle_to_string(rle_encode(MaskView{mask.data(), h, w, static_cast<std::ptrdiff_t>(w), 1}));
    if (s.empty()) continue;
    switch (rng() % 3) {
      case 0: s[rng() % s.size()] = static_cast<char>(48 + rng() % 64); break;  // flip one chunk
      case 1: s.resize(rng() % s.size()); break;                                 // truncate
      default: s.insert(rng() % s.size(), 1, static_cast<char>(rng() % 256));    // insert a byte
    }
    expect_valid_or_rejected([&] { return rle_from_string(s, h, w); });
  }
}

TEST(Fuzz, KaggleStrings) {
  std::mt19937 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const uint32_t h = rng() % 30, w = rng() % 30;
    const std::string s = i % 3 == 0 ? random_string(rng, 30, 0, 255) : random_string(rng, 30, 32, 57);
    KaggleRleOptions opt;
    opt.one_indexed = rng() % 2;
    opt.column_major = rng() % 2;
    expect_valid_or_rejected([&] { return kaggle_rle_to_rle(s, h, w, opt); });
  }
}

TEST(Fuzz, Counts) {
  std::mt19937 rng(4);
  for (int i = 0; i < 20000; ++i) {
    const uint32_t h = rng() % 20, w = rng() % 20;
    std::vector<uint32_t> counts(rng() % 8);
    for (auto& c : counts) c = rng() % 3 == 0 ? rng() : rng() % 50;
    expect_valid_or_rejected([&] { return rle_from_counts(counts, h, w); });
  }
}

TEST(Fuzz, PolygonRasteriser) {
  std::mt19937 rng(5);
  const double special[] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity(), 1e300, -1e300, 1e6, -1e6, 0.0,
                            -0.5, 1e-300};
  std::uniform_real_distribution<double> coord(-60, 160);
  for (int i = 0; i < 6000; ++i) {
    const uint32_t h = rng() % 120, w = rng() % 120;
    std::vector<double> xy(2 * (rng() % 12));
    for (double& v : xy) v = rng() % 25 == 0 ? special[rng() % 10] : coord(rng);
    expect_valid_or_rejected([&] { return rle_from_polygon(xy.data(), xy.size() / 2, h, w); });
  }
}

TEST(Fuzz, ViaShapes) {
  std::mt19937 rng(6);
  const char* names[] = {"polygon", "polyline", "rect", "circle", "ellipse", "point", "nonsense"};
  std::uniform_real_distribution<double> v(-50, 150);
  for (int i = 0; i < 5000; ++i) {
    ViaShape s;
    s.name = names[rng() % 7];
    const size_t k = rng() % 6;
    for (size_t j = 0; j < k; ++j) s.xs.push_back(v(rng));
    for (size_t j = 0; j < k + (rng() % 5 == 0); ++j) s.ys.push_back(v(rng));  // sometimes mismatched
    s.x = v(rng), s.y = v(rng), s.width = v(rng), s.height = v(rng);
    s.cx = v(rng), s.cy = v(rng), s.r = v(rng), s.rx = v(rng), s.ry = v(rng), s.theta = v(rng);
    if (rng() % 20 == 0) s.r = std::numeric_limits<double>::quiet_NaN();
    expect_valid_or_rejected([&] { return rle_from_via_shape(s, rng() % 100, rng() % 100); });
  }
}

}  // namespace
}  // namespace mrcnn::codecs
