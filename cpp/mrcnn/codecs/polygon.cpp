#include "mrcnn/codecs/polygon.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>

#include "mrcnn/core/opencv.h"

#if MRCNN_WITH_OPENCV
#include <opencv2/imgproc.hpp>
#endif

namespace mrcnn::codecs {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

constexpr double kMaxCoordinate = 1e6;

// Floor division for possibly negative numerators.
inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Room for n elements: on the stack up to N (the common case, no allocation and no
// thread-local lookup), on the heap beyond. Contents start uninitialised.
template <typename T, size_t N>
class SmallBuffer {
 public:
  T* get(size_t n) {
    if (n <= N) return stack_;
    heap_.reset(new T[n]);
    return heap_.get();
  }

 private:
  T stack_[N];
  std::unique_ptr<T[]> heap_;
};

}  // namespace

Rle rle_from_polygon(const double* xy, size_t k, uint32_t h, uint32_t w) {
  if (k < 3) fail("rle_from_polygon: a polygon needs at least 3 points, got " + std::to_string(k));
  if (static_cast<uint64_t>(h) * w > UINT32_MAX) fail("rle_from_polygon: mask too large");
  for (size_t j = 0; j < 2 * k; ++j) {
    if (!std::isfinite(xy[j]))
      fail("rle_from_polygon: coordinate " + std::to_string(j) + " is not finite");
    if (std::fabs(xy[j]) > kMaxCoordinate)
      fail("rle_from_polygon: coordinate " + std::to_string(j) + " = " + std::to_string(xy[j]) +
           " is beyond +-1e6 pixels");
  }
  // The reference traces every edge at 5x resolution, then keeps the points where the boundary
  // crosses a pixel column centre. Those are exactly the steps whose lower 5x column index u
  // satisfies u = 5c + 2 (column c), and the row recorded is ceil((v - 2) / 5) for the lower
  // 5x row v of the step, clamped to [0, h]. Evaluating that in integers visits only the
  // crossings instead of every traced point, and gives the same boundary list.
  constexpr int scale = 5;
  SmallBuffer<int, 512> grid_buf;
  int* g = grid_buf.get(2 * k);
  for (size_t j = 0; j < 2 * k; ++j) g[j] = static_cast<int>(scale * xy[j] + .5);
  // An edge spanning dx 5x columns crosses at most dx / 5 + 1 column centres (one more is slack).
  size_t bound = 0;
  for (size_t j = 0; j < k; ++j) bound += static_cast<size_t>(std::abs(g[2 * ((j + 1) % k)] - g[2 * j])) / scale + 2;
  SmallBuffer<uint32_t, 2048> col_buf, key_buf, sorted_buf;
  uint32_t* cols = col_buf.get(bound);
  uint32_t* keys = key_buf.get(bound);  // pixel index col * h + row, as the reference sorts
  size_t count = 0;
  const int64_t last_col = static_cast<int64_t>(w) - 1;
  // A crossing in column col (in [0, w)) whose step has lower 5x row v.
  const auto push = [&](int64_t col, int64_t v) {
    const int64_t num = v + 2;  // ceil((v - 2) / 5) = floor((v + 2) / 5), then clamped
    const uint32_t row = num <= 0 ? 0 : static_cast<uint32_t>(std::min<int64_t>(num / scale, h));
    cols[count] = static_cast<uint32_t>(col);
    keys[count] = static_cast<uint32_t>(col) * h + row;
    ++count;
  };
  for (size_t j = 0; j < k; ++j) {
    const size_t n = (j + 1) % k;
    int xs = g[2 * j], ys = g[2 * j + 1];
    int xe = g[2 * n], ye = g[2 * n + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    // Always walk an edge in increasing major coordinate so both directions rasterise alike.
    if ((dx >= dy && xs > xe) || (dx < dy && ys > ye)) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    if (dx >= dy) {
      if (dx == 0) continue;  // a repeated vertex traces no step
      const double s = static_cast<double>(ye - ys) / dx;
      // Each step t -> t+1 moves one 5x column; only the steps from columns 5c + 2 count.
      int64_t t = floor_div(2 - xs, scale) * -scale + (2 - xs);  // (2 - xs) mod 5
      int64_t col = (xs + t - 2) / scale;                         // exact: xs + t = 5 col + 2
      if (col < 0) t += -col * scale, col = 0;
      for (; t < dx && col <= last_col; t += scale, ++col) {
        const int v0 = static_cast<int>(ys + s * t + .5), v1 = static_cast<int>(ys + s * (t + 1) + .5);
        push(col, std::min(v0, v1));
      }
    } else {
      // A steep edge: u(t) = (int)(xs + s*t + .5) moves by at most one column per row step and
      // monotonically, so the step from row t-1 to t crosses column boundary u_lo | u_lo + 1 for
      // exactly one t. Only boundaries with u_lo = 5c + 2 matter; each one's t is found from
      // the line equation and then settled by evaluating u exactly as the row walk would.
      const double s = static_cast<double>(xe - xs) / dy, inv_s = 1.0 / s;
      const auto u_at = [&](int t) { return static_cast<int>(xs + s * t + .5); };
      const int u0 = u_at(0), u1 = u_at(dy);
      if (u0 == u1) continue;
      const bool rising = u1 > u0;
      const int lo = std::min(u0, u1), hi = std::max(u0, u1);
      int64_t u_lo = lo + ((2 - lo) % scale + scale) % scale;
      int64_t col = floor_div(u_lo - 2, scale);
      if (col < 0) u_lo += -col * scale, col = 0;
      // passed(t): u has moved past boundary u_lo | u_lo + 1 by row t
      for (; u_lo < hi && col <= last_col; u_lo += scale, ++col) {
        const auto passed = [&](int t) { return rising ? u_at(t) > u_lo : u_at(t) <= u_lo; };
        int t = static_cast<int>(std::clamp<double>(std::ceil((static_cast<double>(u_lo) + 0.5 - xs) * inv_s), 1, dy));
        while (t > 1 && passed(t - 1)) --t;
        while (t < dy && !passed(t)) ++t;
        // The step between rows t-1 and t; its lower 5x row is t-1 (rows increase with t).
        push(col, ys + t - 1);
      }
    }
  }
  // Sort the crossings by pixel index: a counting sort over the polygon's columns, then the rows
  // within each column: std::sort for the rare column crossed many times (a comb), and one
  // insertion sort pass for the rest, which have a few rows each (keys of different columns are
  // already in order: a column's largest, col*h + h, equals the next one's smallest).
  uint32_t c_lo = w, c_hi = 0;
  for (size_t i = 0; i < count; ++i) c_lo = std::min(c_lo, cols[i]), c_hi = std::max(c_hi, cols[i]);
  const size_t span = count == 0 ? 0 : c_hi - c_lo + 1;
  SmallBuffer<uint32_t, 1024> start_buf;
  uint32_t* start = start_buf.get(span + 1);
  std::fill(start, start + span + 1, 0u);
  for (size_t i = 0; i < count; ++i) ++start[cols[i] - c_lo + 1];
  for (size_t c = 0; c < span; ++c) start[c + 1] += start[c];
  uint32_t* a = sorted_buf.get(count + 1);
  for (size_t i = 0; i < count; ++i) a[start[cols[i] - c_lo]++] = keys[i];
  for (size_t c = 0; c < span; ++c) {  // start[c] is now where column c ends
    const uint32_t b = c == 0 ? 0 : start[c - 1];
    if (start[c] - b > 16) std::sort(a + b, a + start[c]);
  }
  for (size_t i = 1; i < count; ++i) {
    const uint32_t v = a[i];
    size_t j = i;
    for (; j > 0 && a[j - 1] > v; --j) a[j] = a[j - 1];
    a[j] = v;
  }
  a[count] = h * w;
  // Run lengths are the differences of consecutive boundaries; an empty run merges the one after
  // it into the run before, as in the reference implementation.
  Rle r;
  r.h = h;
  r.w = w;
  r.counts.resize(count + 1);
  uint32_t* out = r.counts.data();
  size_t m = 0;
  out[m++] = a[0];
  for (size_t j = 1; j <= count; ++j) {
    if (a[j] != a[j - 1]) {
      out[m++] = a[j] - a[j - 1];
    } else if (++j <= count) {
      out[m - 1] += a[j] - a[j - 1];
    }
  }
  r.counts.resize(m);
  return r;
}

Rle rle_from_via_shape(const ViaShape& s, uint32_t h, uint32_t w) {
  const auto check_finite = [&](std::initializer_list<double> vals) {
    for (double v : vals)
      if (!std::isfinite(v)) fail("VIA " + s.name + ": a shape attribute is not finite");
  };
  if (s.name == "polygon" || s.name == "polyline") {
    if (s.xs.size() != s.ys.size())
      fail("VIA " + s.name + ": all_points_x has " + std::to_string(s.xs.size()) +
           " values but all_points_y has " + std::to_string(s.ys.size()));
    std::vector<double> xy(2 * s.xs.size());
    for (size_t i = 0; i < s.xs.size(); ++i) {
      xy[2 * i] = s.xs[i];
      xy[2 * i + 1] = s.ys[i];
    }
    return rle_from_polygon(xy.data(), s.xs.size(), h, w);
  }
  if (s.name == "rect") {
    check_finite({s.x, s.y, s.width, s.height});
    if (s.width < 0 || s.height < 0) fail("VIA rect: negative width or height");
    return rle_from_bbox({s.x, s.y, s.width, s.height}, h, w);
  }
  double rx, ry, theta = 0;
  if (s.name == "circle") {
    check_finite({s.cx, s.cy, s.r});
    rx = ry = s.r;
  } else if (s.name == "ellipse") {
    check_finite({s.cx, s.cy, s.rx, s.ry, s.theta});
    rx = s.rx;
    ry = s.ry;
    theta = s.theta;
  } else if (s.name == "point") {
    check_finite({s.cx, s.cy});
    std::vector<uint8_t> mask(static_cast<size_t>(h) * w, 0);
    const double px = std::floor(s.cx), py = std::floor(s.cy);
    if (px >= 0 && py >= 0 && px < w && py < h)
      mask[static_cast<size_t>(px) * h + static_cast<size_t>(py)] = 1;
    return rle_encode({mask.data(), h, w, 1, static_cast<std::ptrdiff_t>(h)});
  } else {
    fail("VIA shape '" + s.name + "' is not one of polygon, polyline, rect, circle, ellipse, point");
  }
  if (rx < 0 || ry < 0) fail("VIA " + s.name + ": negative radius");
  // Pixel (x, y) is inside when its centre (x + 0.5, y + 0.5) satisfies the ellipse equation.
  std::vector<uint8_t> mask(static_cast<size_t>(h) * w, 0);
  const double c = std::cos(theta), sn = std::sin(theta), r = std::max(rx, ry);
  const double x0 = std::max(0.0, std::floor(s.cx - r - 1)), x1 = std::min<double>(w, std::ceil(s.cx + r + 1));
  const double y0 = std::max(0.0, std::floor(s.cy - r - 1)), y1 = std::min<double>(h, std::ceil(s.cy + r + 1));
  if (rx > 0 && ry > 0) {
    for (double px = x0; px < x1; ++px) {
      for (double py = y0; py < y1; ++py) {
        const double dx = px + 0.5 - s.cx, dy = py + 0.5 - s.cy;
        const double a = (dx * c + dy * sn) / rx, b = (-dx * sn + dy * c) / ry;
        if (a * a + b * b <= 1.0) mask[static_cast<size_t>(px) * h + static_cast<size_t>(py)] = 1;
      }
    }
  }
  return rle_encode({mask.data(), h, w, 1, static_cast<std::ptrdiff_t>(h)});
}

#if MRCNN_WITH_OPENCV
namespace {

using Ring = std::vector<cv::Point2d>;

double signed_area(const std::vector<cv::Point>& c) {
  double a = 0;
  for (size_t i = 0, n = c.size(); i < n; ++i) {
    const cv::Point& p = c[i];
    const cv::Point& q = c[(i + 1) % n];
    a += static_cast<double>(p.x) * q.y - static_cast<double>(q.x) * p.y;
  }
  return a / 2;
}

// OpenCV traces the centres of boundary pixels. Moving each vertex half a pixel away from the
// foreground (per axis, along the outward normal) puts it on the pixel edges, so a rectangle of
// pixels comes back as exactly its outline; then +0.5 maps pixel centres to COCO coordinates.
Ring pixel_ring(const std::vector<cv::Point>& c, bool hole) {
  Ring out;
  const size_t n = c.size();
  if (n == 1) {
    const double x = c[0].x, y = c[0].y;
    return {{x, y}, {x + 1, y}, {x + 1, y + 1}, {x, y + 1}};
  }
  if (n == 2) {
    const double xa = std::min(c[0].x, c[1].x), xb = std::max(c[0].x, c[1].x) + 1;
    const double ya = std::min(c[0].y, c[1].y), yb = std::max(c[0].y, c[1].y) + 1;
    return {{xa, ya}, {xb, ya}, {xb, yb}, {xa, yb}};
  }
  // With y pointing down, a positive shoelace sum is a clockwise ring on screen. The normal
  // (dy, -dx) of an edge points to its left; for the outer side we need the ring's exterior.
  const double area = signed_area(c);
  double sign = area > 0 ? 1.0 : -1.0;
  if (hole) sign = -sign;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const cv::Point& p = c[(i + n - 1) % n];
    const cv::Point& q = c[i];
    const cv::Point& r = c[(i + 1) % n];
    const double nx = sign * ((q.y - p.y) + (r.y - q.y));
    const double ny = sign * (-(q.x - p.x) - (r.x - q.x));
    const double ox = nx > 1e-9 ? 0.5 : (nx < -1e-9 ? -0.5 : 0.0);
    const double oy = ny > 1e-9 ? 0.5 : (ny < -1e-9 ? -0.5 : 0.0);
    out.emplace_back(q.x + 0.5 + ox, q.y + 0.5 + oy);
  }
  return out;
}

// The vertices already in a ring, bucketed on a grid for nearest-vertex queries.
class VertexGrid {
 public:
  VertexGrid(double width, double height)
      : cols_(static_cast<int64_t>(width / kCell) + 2), rows_(static_cast<int64_t>(height / kCell) + 2),
        cells_(static_cast<size_t>(cols_ * rows_)) {}

  void add(const cv::Point2d& p, int64_t id) { cells_[cell(p)].push_back({p, id}); }

  // The vertex nearest to q: (squared distance, id), ties to the smaller id; (inf, -1) when empty.
  std::pair<double, int64_t> nearest(const cv::Point2d& q) const {
    const int64_t cx = col(q.x), cy = row(q.y);
    double best = std::numeric_limits<double>::infinity();
    int64_t best_id = -1;
    const int64_t reach = std::max(cols_, rows_);
    for (int64_t r = 0; r <= reach; ++r) {
      for (int64_t y = cy - r; y <= cy + r; ++y) {
        if (y < 0 || y >= rows_) continue;
        const bool edge_row = y == cy - r || y == cy + r;
        for (int64_t x = cx - r; x <= cx + r; x += edge_row ? 1 : 2 * std::max<int64_t>(r, 1)) {
          if (x < 0 || x >= cols_) continue;
          for (const auto& [p, id] : cells_[static_cast<size_t>(y * cols_ + x)]) {
            const double dx = p.x - q.x, dy = p.y - q.y, d = dx * dx + dy * dy;
            if (d < best || (d == best && id < best_id)) best = d, best_id = id;
          }
        }
      }
      // every vertex not looked at yet lies in a cell at least r cells away
      const double bound = static_cast<double>(r) * kCell;
      if (best_id >= 0 && best <= bound * bound) break;
    }
    return {best, best_id};
  }

 private:
  static constexpr double kCell = 8.0;
  int64_t col(double x) const { return std::clamp<int64_t>(static_cast<int64_t>(std::floor(x / kCell)), 0, cols_ - 1); }
  int64_t row(double y) const { return std::clamp<int64_t>(static_cast<int64_t>(std::floor(y / kCell)), 0, rows_ - 1); }
  size_t cell(const cv::Point2d& p) const { return static_cast<size_t>(row(p.y) * cols_ + col(p.x)); }

  int64_t cols_, rows_;
  std::vector<std::vector<std::pair<cv::Point2d, int64_t>>> cells_;
};

// One ring from an outer ring and its holes: each hole, in turn, is joined by a zero-width cut at
// the closest pair of vertices between it and what is joined already (the outer ring and the
// earlier holes); the ring goes around the hole from there and comes back. Nearest vertices come
// from a grid and the ring is written in one walk, so a mask with many holes (a checkerboard)
// costs time linear in its vertices.
Ring join_holes(const Ring& outer, const std::vector<Ring>& holes, double width, double height) {
  if (holes.empty()) return outer;
  std::vector<const Ring*> rings{&outer};
  std::vector<int64_t> base{0};
  for (const Ring& h : holes) {
    base.push_back(base.back() + static_cast<int64_t>(rings.back()->size()));
    rings.push_back(&h);
  }
  const int64_t total = base.back() + static_cast<int64_t>(rings.back()->size());
  std::vector<std::vector<int64_t>> attached(static_cast<size_t>(total));  // global vertex -> holes cut there
  std::vector<size_t> entry(rings.size(), 0);                              // hole -> its vertex at the cut
  VertexGrid grid(width, height);
  for (size_t i = 0; i < outer.size(); ++i) grid.add(outer[i], static_cast<int64_t>(i));
  for (size_t k = 1; k < rings.size(); ++k) {
    const Ring& hole = *rings[k];
    double best = std::numeric_limits<double>::infinity();
    int64_t at = -1;
    for (size_t j = 0; j < hole.size(); ++j) {
      const auto [d, id] = grid.nearest(hole[j]);
      if (id >= 0 && (d < best || (d == best && id < at))) best = d, at = id, entry[k] = j;
    }
    attached[static_cast<size_t>(at)].push_back(static_cast<int64_t>(k));
    for (size_t j = 0; j < hole.size(); ++j) grid.add(hole[j], base[k] + static_cast<int64_t>(j));
  }
  // Walk: the outer ring once; at a vertex where holes are cut, each hole all the way round (its
  // first vertex again at the end) and then the vertex again.
  Ring out;
  out.reserve(static_cast<size_t>(total) + 3 * holes.size());
  struct Frame {
    size_t ring, t, k;
  };
  std::vector<Frame> stack{{0, 0, 0}};
  auto vertex = [&](const Frame& f) {
    const size_t len = rings[f.ring]->size();
    const size_t i = (entry[f.ring] + f.t) % len;
    return std::make_pair(i, base[f.ring] + static_cast<int64_t>(i));
  };
  while (!stack.empty()) {
    Frame f = stack.back();
    const size_t len = rings[f.ring]->size();
    const size_t last = f.ring == 0 ? len - 1 : len;  // a hole ends on its first vertex again
    if (f.t > last) {
      stack.pop_back();
      if (!stack.empty()) out.push_back((*rings[stack.back().ring])[vertex(stack.back()).first]);
      continue;
    }
    const auto [i, g] = vertex(f);
    if (f.k == 0) out.push_back((*rings[f.ring])[i]);
    const auto& cuts = attached[static_cast<size_t>(g)];
    if (f.t < len && f.k < cuts.size()) {
      stack.back().k = f.k + 1;
      stack.push_back({static_cast<size_t>(cuts[f.k]), 0, 0});
      continue;
    }
    stack.back().t = f.t + 1;
    stack.back().k = 0;
  }
  return out;
}

}  // namespace
#endif  // MRCNN_WITH_OPENCV

std::vector<std::vector<double>> mask_to_polygons(const MaskView& m, double tolerance) {
  if (!(tolerance >= 0)) fail("mask_to_polygons: tolerance must be >= 0");
  std::vector<std::vector<double>> polygons;
  if (m.h == 0 || m.w == 0) return polygons;
#if !MRCNN_WITH_OPENCV
  core::needs_opencv("mask_to_polygons (tracing mask outlines)");
#else
  // A one-pixel border keeps regions touching the image edge closed.
  cv::Mat img(static_cast<int>(m.h) + 2, static_cast<int>(m.w) + 2, CV_8UC1, cv::Scalar(0));
  for (uint32_t y = 0; y < m.h; ++y) {
    uint8_t* row = img.ptr<uint8_t>(static_cast<int>(y) + 1) + 1;
    for (uint32_t x = 0; x < m.w; ++x)
      row[x] = m.data[static_cast<std::ptrdiff_t>(y) * m.row_stride +
                      static_cast<std::ptrdiff_t>(x) * m.col_stride] != 0;
  }
  std::vector<std::vector<cv::Point>> contours;
  std::vector<cv::Vec4i> hierarchy;
  cv::findContours(img, contours, hierarchy, cv::RETR_CCOMP, cv::CHAIN_APPROX_SIMPLE, cv::Point(-1, -1));
  for (auto& c : contours) {
    if (tolerance > 0 && c.size() > 3) {
      std::vector<cv::Point> simplified;
      cv::approxPolyDP(c, simplified, tolerance, true);
      if (simplified.size() >= 3) c.swap(simplified);
    }
  }
  for (size_t i = 0; i < contours.size(); ++i) {
    if (hierarchy[i][3] >= 0) continue;  // a hole: handled with its parent
    std::vector<Ring> holes;
    for (int child = hierarchy[i][2]; child >= 0; child = hierarchy[child][0])
      holes.push_back(pixel_ring(contours[static_cast<size_t>(child)], true));
    const Ring ring = join_holes(pixel_ring(contours[i], false), holes, m.w + 2.0, m.h + 2.0);
    std::vector<double> flat;
    flat.reserve(2 * ring.size());
    for (const auto& p : ring) {
      flat.push_back(p.x);
      flat.push_back(p.y);
    }
    polygons.push_back(std::move(flat));
  }
  return polygons;
#endif
}

}  // namespace mrcnn::codecs
