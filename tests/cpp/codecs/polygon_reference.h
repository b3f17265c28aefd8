// The plain form of the polygon rasteriser: every boundary point at 5x resolution is traced
// and stored, then the column-centre crossings are picked out. The library's rle_from_polygon
// visits only the crossings; the tests check both give the same RLE on random polygons.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "mrcnn/codecs/rle.h"

namespace mrcnn::codecs::testing {

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }
constexpr double kMaxCoordinate = 1e6;

inline void reference_boundaries_to_counts(std::vector<uint32_t>& a, std::vector<uint32_t>& counts) {
  std::sort(a.begin(), a.end());
  uint32_t prev = 0;
  for (auto& v : a) {
    const uint32_t t = v;
    v -= prev;
    prev = t;
  }
  counts.clear();
  size_t j = 0;
  counts.push_back(a[j++]);
  while (j < a.size()) {
    if (a[j] > 0) {
      counts.push_back(a[j++]);
    } else {
      ++j;  // an empty run: merge the next run into the previous one
      if (j < a.size()) counts.back() += a[j++];
    }
  }
}

inline Rle rle_from_polygon_reference(const double* xy, size_t k, uint32_t h, uint32_t w) {
  if (k < 3) fail("rle_from_polygon: a polygon needs at least 3 points, got " + std::to_string(k));
  if (static_cast<uint64_t>(h) * w > UINT32_MAX) fail("rle_from_polygon: mask too large");
  for (size_t j = 0; j < 2 * k; ++j) {
    if (!std::isfinite(xy[j]))
      fail("rle_from_polygon: coordinate " + std::to_string(j) + " is not finite");
    if (std::fabs(xy[j]) > kMaxCoordinate)
      fail("rle_from_polygon: coordinate " + std::to_string(j) + " = " + std::to_string(xy[j]) +
           " is beyond +-1e6 pixels");
  }
  constexpr double scale = 5;
  // Vertices on the 5x grid, rounded as the reference does (truncation after +0.5).
  std::vector<int> x, y, u, v;
  x.resize(k + 1);
  y.resize(k + 1);
  for (size_t j = 0; j < k; ++j) {
    x[j] = static_cast<int>(scale * xy[2 * j] + .5);
    y[j] = static_cast<int>(scale * xy[2 * j + 1] + .5);
  }
  x[k] = x[0];
  y[k] = y[0];
  // Dense boundary points along every edge.
  size_t m = 0;
  for (size_t j = 0; j < k; ++j)
    m += static_cast<size_t>(std::max(std::abs(x[j] - x[j + 1]), std::abs(y[j] - y[j + 1]))) + 1;
  u.resize(m);
  v.resize(m);
  m = 0;
  for (size_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    // Always walk an edge in increasing major coordinate so both directions rasterise alike.
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    if (dx >= dy) {
      const double s = dx == 0 ? 0.0 : static_cast<double>(ye - ys) / dx;
      for (int d = 0; d <= dx; ++d) {
        const int t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m] = static_cast<int>(ys + s * t + .5);
        ++m;
      }
    } else {
      const double s = static_cast<double>(xe - xs) / dy;
      for (int d = 0; d <= dy; ++d) {
        const int t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m] = static_cast<int>(xs + s * t + .5);
        ++m;
      }
    }
  }
  // Where the boundary crosses a pixel column centre, record the first pixel row below it.
  std::vector<uint32_t> a;
  a.clear();
  for (size_t j = 1; j < m; ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = static_cast<double>(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + .5) / scale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > static_cast<double>(w) - 1) continue;
    double yd = static_cast<double>(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + .5) / scale - .5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = std::ceil(yd);
    a.push_back(static_cast<uint32_t>(static_cast<int>(xd) * static_cast<int>(h) + static_cast<int>(yd)));
  }
  a.push_back(h * w);
  Rle r;
  r.h = h;
  r.w = w;
  reference_boundaries_to_counts(a, r.counts);
  return r;
}

}  // namespace mrcnn::codecs::testing
