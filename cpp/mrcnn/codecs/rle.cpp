#include "mrcnn/codecs/rle.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "mrcnn/codecs/polygon.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mrcnn::codecs {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

void check_size(uint64_t h, uint64_t w, std::string_view what) {
  if (h * w > UINT32_MAX)
    fail(std::string(what) + ": mask of " + std::to_string(h) + "x" + std::to_string(w) +
         " pixels is too large for 32-bit run lengths");
}

// Bit i of the result is set when byte i of the 64 bytes at p is non-zero.
inline uint64_t nonzero_bits64(const uint8_t* p) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  uint64_t z = 0;
  for (int k = 0; k < 4; ++k) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    z |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero))))
         << (16 * k);
  }
  return ~z;
#else
  uint64_t bits = 0;
  for (int i = 0; i < 64; ++i) bits |= static_cast<uint64_t>(p[i] != 0) << i;
  return bits;
#endif
}

// Run lengths of a contiguous column-major buffer of n bytes.
void encode_contiguous(const uint8_t* data, uint64_t n, std::vector<uint32_t>& counts) {
  counts.clear();
  uint64_t run_start = 0;  // position where the current run began
  uint64_t prev_bit = 0;   // value of the byte before the current block (0 before the start)
  uint64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const uint64_t bits = nonzero_bits64(data + i);
    // A set bit marks a byte that differs from the byte before it: a run boundary.
    uint64_t edges = bits ^ ((bits << 1) | prev_bit);
    prev_bit = bits >> 63;
    while (edges) {
      const uint64_t pos = i + static_cast<uint64_t>(__builtin_ctzll(edges));
      counts.push_back(static_cast<uint32_t>(pos - run_start));
      run_start = pos;
      edges &= edges - 1;
    }
  }
  for (; i < n; ++i) {
    const uint64_t bit = data[i] != 0;
    if (bit != prev_bit) {
      counts.push_back(static_cast<uint32_t>(i - run_start));
      run_start = i;
      prev_bit = bit;
    }
  }
  counts.push_back(static_cast<uint32_t>(n - run_start));
}

// Walks two run lists of the same mask size together, segment by segment: f(c, a, b, a_next,
// b_next, remaining) gets each segment's length c, the two masks' values on it, their values on
// the next segment and the pixels left after it.
template <class F>
void walk_runs(const std::vector<uint32_t>& A, const std::vector<uint32_t>& B, F&& f) {
  uint32_t ca = A.empty() ? 0 : A[0], cb = B.empty() ? 0 : B[0];
  size_t ia = 1, ib = 1;
  bool va = false, vb = false;
  uint64_t remaining = 1;
  while (remaining > 0) {
    const uint32_t c = std::min(ca, cb);
    const bool va0 = va, vb0 = vb;
    ca -= c;
    if (!ca && ia < A.size()) {
      ca = A[ia++];
      va = !va;
    }
    cb -= c;
    if (!cb && ib < B.size()) {
      cb = B[ib++];
      vb = !vb;
    }
    remaining = static_cast<uint64_t>(ca) + cb;
    f(c, va0, vb0, va, vb, remaining);
  }
}

}  // namespace

Rle rle_encode(const MaskView& m) {
  check_size(m.h, m.w, "rle_encode");
  Rle r;
  r.h = m.h;
  r.w = m.w;
  const uint64_t n = static_cast<uint64_t>(m.h) * m.w;
  if (n == 0) {
    r.counts.push_back(0);
    return r;
  }
  if (!m.data) fail("rle_encode: mask data is null");
  if (m.row_stride == 1 && (m.col_stride == static_cast<std::ptrdiff_t>(m.h) || m.w == 1)) {
    encode_contiguous(m.data, n, r.counts);
    return r;
  }
  // Any other layout (C order, slices): gather into column-major order first, in row blocks so
  // that reads stay within a few cache lines, then scan the contiguous copy.
  thread_local std::vector<uint8_t> buf;
  buf.resize(n);
  constexpr uint32_t kBlock = 64;
  for (uint32_t y0 = 0; y0 < m.h; y0 += kBlock) {
    const uint32_t y1 = std::min(m.h, y0 + kBlock);
    for (uint32_t x = 0; x < m.w; ++x) {
      const uint8_t* src = m.data + static_cast<std::ptrdiff_t>(x) * m.col_stride;
      uint8_t* dst = buf.data() + static_cast<uint64_t>(x) * m.h;
      for (uint32_t y = y0; y < y1; ++y) dst[y] = src[static_cast<std::ptrdiff_t>(y) * m.row_stride];
    }
  }
  encode_contiguous(buf.data(), n, r.counts);
  return r;
}

void rle_validate(const Rle& r, std::string_view what) {
  check_size(r.h, r.w, what);
  uint64_t sum = 0;
  for (uint32_t c : r.counts) sum += c;
  const uint64_t n = static_cast<uint64_t>(r.h) * r.w;
  if (sum != n)
    fail(std::string(what) + ": run lengths sum to " + std::to_string(sum) + " but the mask has " +
         std::to_string(r.h) + "x" + std::to_string(r.w) + " = " + std::to_string(n) + " pixels");
}

void rle_decode(const Rle& r, uint8_t* out, std::ptrdiff_t row_stride, std::ptrdiff_t col_stride) {
  rle_validate(r, "rle_decode");
  const uint64_t n = static_cast<uint64_t>(r.h) * r.w;
  if (n == 0) return;
  if (row_stride == 1 && (col_stride == static_cast<std::ptrdiff_t>(r.h) || r.w == 1)) {
    uint64_t pos = 0;
    uint8_t v = 0;
    for (uint32_t c : r.counts) {
      std::memset(out + pos, v, c);
      pos += c;
      v ^= 1;
    }
    return;
  }
  // Any other layout (row-major above all): runs are memset into a column-major scratch plane, which
  // is then copied in 64x64 tiles, so both sides are read and written in cache-sized blocks instead
  // of one scattered byte per pixel.
  thread_local std::vector<uint8_t> plane;
  plane.resize(n);
  uint64_t pos = 0;
  uint8_t v = 0;
  for (uint32_t c : r.counts) {
    std::memset(plane.data() + pos, v, c);
    pos += c;
    v ^= 1;
  }
  const int64_t h = r.h, w = r.w;
  constexpr int64_t tile = 64;
  for (int64_t x0 = 0; x0 < w; x0 += tile) {
    const int64_t x1 = std::min(w, x0 + tile);
    for (int64_t y0 = 0; y0 < h; y0 += tile) {
      const int64_t y1 = std::min(h, y0 + tile);
      for (int64_t y = y0; y < y1; ++y) {
        uint8_t* dst = out + y * row_stride;
        const uint8_t* src = plane.data() + y;
        for (int64_t x = x0; x < x1; ++x) dst[x * col_stride] = src[x * h];
      }
    }
  }
}

std::string rle_to_string(const Rle& r) {
  std::string s;
  s.reserve(r.counts.size() * 2);
  for (size_t i = 0; i < r.counts.size(); ++i) {
    int64_t x = r.counts[i];
    if (i > 2) x -= static_cast<int64_t>(r.counts[i - 2]);
    bool more = true;
    while (more) {
      char c = static_cast<char>(x & 0x1f);
      x >>= 5;  // arithmetic shift: negative deltas end in a chunk with bit 0x10 set
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

Rle rle_from_string(std::string_view s, uint32_t h, uint32_t w) {
  check_size(h, w, "rle_from_string");
  Rle r;
  r.h = h;
  r.w = w;
  r.counts.resize(s.size());  // each count takes at least one character
  uint32_t* counts = r.counts.data();
  size_t m = 0;
  const uint64_t n = static_cast<uint64_t>(h) * w;
  uint64_t sum = 0;
  size_t p = 0;
  while (p < s.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size())
        fail("rle_from_string: string ends inside a count (truncated counts string)");
      const int c = static_cast<unsigned char>(s[p]) - 48;
      if (c < 0 || c > 63)
        fail("rle_from_string: character '" + std::string(1, s[p]) + "' at offset " +
             std::to_string(p) + " is outside the RLE alphabet (ASCII 48..111)");
      if (k >= 7) fail("rle_from_string: count at offset " + std::to_string(p) + " is too long");
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = c & 0x20;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= static_cast<int64_t>(-1) * (int64_t{1} << (5 * k));  // sign
    }
    if (m > 2) x += static_cast<int64_t>(counts[m - 2]);
    if (x < 0)
      fail("rle_from_string: count " + std::to_string(m) + " is negative (" + std::to_string(x) + ")");
    sum += static_cast<uint64_t>(x);
    if (sum > n)
      fail("rle_from_string: run lengths exceed the mask's " + std::to_string(h) + "x" +
           std::to_string(w) + " = " + std::to_string(n) + " pixels");
    counts[m++] = static_cast<uint32_t>(x);
  }
  if (sum != n)
    fail("rle_from_string: run lengths sum to " + std::to_string(sum) + " but the mask has " +
         std::to_string(h) + "x" + std::to_string(w) + " = " + std::to_string(n) + " pixels");
  r.counts.resize(m);
  return r;
}

Rle rle_from_counts(const std::vector<uint32_t>& counts, uint32_t h, uint32_t w) {
  Rle r{h, w, counts};
  rle_validate(r, "rle_from_counts");
  return r;
}

uint64_t rle_area(const Rle& r) {
  uint64_t a = 0;
  for (size_t j = 1; j < r.counts.size(); j += 2) a += r.counts[j];
  return a;
}

std::array<double, 4> rle_to_bbox(const Rle& r) {
  // An odd trailing run is background; with no foreground run the box is all zeros.
  const size_t m = r.counts.size() / 2 * 2;
  if (m == 0 || r.h == 0) return {0, 0, 0, 0};
  const uint32_t h = r.h;
  uint32_t xs = r.w, ys = h, xe = 0, ye = 0;
  uint32_t cc = 0;
  // (x, y) of pixel t is (t / h, t % h). The pixels looked at mostly move forward by less than
  // a few columns, so the column is carried along and advanced instead of divided for.
  uint32_t col = 0, base = 0;  // base = col * h
  const auto locate = [&](uint32_t t, uint32_t& x, uint32_t& y) {
    if (t < base || t - base >= 4 * static_cast<uint64_t>(h)) {
      col = t / h;
      base = col * h;
    } else {
      while (t - base >= h) base += h, ++col;
    }
    x = col;
    y = t - base;
  };
  for (size_t j = 0; j < m; j += 2) {
    // the first and the last pixel of each foreground run
    uint32_t x0, y0, x1, y1;
    cc += r.counts[j];
    locate(cc, x0, y0);
    cc += r.counts[j + 1];
    locate(cc - 1, x1, y1);
    if (x0 < x1) {  // the run wraps to a later column: it covers full column height
      ys = 0;
      ye = h - 1;
    }
    xs = std::min(xs, std::min(x0, x1));
    xe = std::max(xe, std::max(x0, x1));
    ys = std::min(ys, std::min(y0, y1));
    ye = std::max(ye, std::max(y0, y1));
  }
  return {static_cast<double>(xs), static_cast<double>(ys), static_cast<double>(xe - xs + 1),
          static_cast<double>(ye - ys + 1)};
}

Rle rle_from_bbox(const std::array<double, 4>& b, uint32_t h, uint32_t w) {
  const double xs = b[0], xe = b[0] + b[2], ys = b[1], ye = b[1] + b[3];
  const double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
  return rle_from_polygon(xy, 4, h, w);
}

Rle rle_merge(const std::vector<const Rle*>& rles, bool intersect) {
  if (rles.empty()) return Rle{0, 0, {}};
  const Rle& first = *rles[0];
  for (size_t i = 1; i < rles.size(); ++i)
    if (rles[i]->h != first.h || rles[i]->w != first.w)
      fail("rle_merge: mask " + std::to_string(i) + " is " + std::to_string(rles[i]->h) + "x" +
           std::to_string(rles[i]->w) + " but mask 0 is " + std::to_string(first.h) + "x" +
           std::to_string(first.w));
  for (size_t i = 0; i < rles.size(); ++i) rle_validate(*rles[i], "rle_merge");
  Rle acc = first;
  if (rles.size() == 1) return acc;
  std::vector<uint32_t> out;
  for (size_t i = 1; i < rles.size(); ++i) {
    out.clear();
    out.reserve(acc.counts.size() + rles[i]->counts.size());
    bool v = false;
    uint32_t cc = 0;
    walk_runs(acc.counts, rles[i]->counts, [&](uint32_t c, bool, bool, bool a, bool b, uint64_t remaining) {
      cc += c;
      const bool vp = v;
      v = intersect ? (a && b) : (a || b);
      if (v != vp || remaining == 0) {  // the value changes after this segment: close the run
        out.push_back(cc);
        cc = 0;
      }
    });
    acc.counts.swap(out);
  }
  return acc;
}

void bbox_iou(const double* dt, size_t m, const double* gt, size_t n, const uint8_t* iscrowd,
              double* out) {
  for (size_t g = 0; g < n; ++g) {
    const double* G = gt + 4 * g;
    const double ga = G[2] * G[3];
    const bool crowd = iscrowd && iscrowd[g];
    for (size_t d = 0; d < m; ++d) {
      const double* D = dt + 4 * d;
      const double da = D[2] * D[3];
      double& o = out[d * n + g];
      o = 0;
      const double iw = std::fmin(D[2] + D[0], G[2] + G[0]) - std::fmax(D[0], G[0]);
      if (iw <= 0) continue;
      const double ih = std::fmin(D[3] + D[1], G[3] + G[1]) - std::fmax(D[1], G[1]);
      if (ih <= 0) continue;
      const double inter = iw * ih;
      o = inter / (crowd ? da : da + ga - inter);
    }
  }
}

namespace {

// Pixels in both of two valid masks of equal size: their foreground intervals, walked together.
uint64_t intersection_area(const Rle& a, const Rle& b) {
  const uint32_t *A = a.counts.data(), *B = b.counts.data();
  const size_t na = a.counts.size(), nb = b.counts.size();
  // [sa, ea): the current foreground run of a, the one after background run ia (likewise b)
  size_t ia = 0, ib = 0;
  uint64_t sa, ea = 0, sb, eb = 0, inter = 0;
  const auto next = [](const uint32_t* C, size_t n, size_t& i, uint64_t& s, uint64_t& e) {
    if (i + 1 >= n) return false;
    s = e + C[i];
    e = s + C[i + 1];
    i += 2;
    return true;
  };
  if (!next(A, na, ia, sa, ea) || !next(B, nb, ib, sb, eb)) return 0;
  for (;;) {
    const uint64_t lo = std::max(sa, sb), hi = std::min(ea, eb);
    if (hi > lo) inter += hi - lo;
    if (ea <= eb) {
      if (!next(A, na, ia, sa, ea)) break;
    } else if (!next(B, nb, ib, sb, eb)) {
      break;
    }
  }
  return inter;
}

// Intersection and union as maskApi.c's rleIou walks them: run by run, stopping early where
// both masks reach an empty run at the same pixel (so a pair of such masks may count less than
// all of their pixels). Used only for pairs that both have empty runs.
void walked_intersection_union(const Rle& a, const Rle& b, uint64_t& inter, uint64_t& uni) {
  inter = uni = 0;
  walk_runs(a.counts, b.counts, [&](uint32_t c, bool va, bool vb, bool, bool, uint64_t) {
    if (va || vb) {
      uni += c;
      if (va && vb) inter += c;
    }
  });
}

// A count of 0 after the first (an empty run inside the mask): the case where the walk above
// can stop early.
bool has_empty_run(const Rle& r) {
  for (size_t j = 1; j < r.counts.size(); ++j)
    if (r.counts[j] == 0) return true;
  return false;
}

}  // namespace

void rle_iou(const Rle* const* dt, size_t m, const Rle* const* gt, size_t n, const uint8_t* iscrowd,
             double* out) {
  std::vector<double> db(4 * m), gb(4 * n);
  auto validate = [](const Rle& r, const char* side, size_t i) {
    try {
      rle_validate(r, "rle_iou");
    } catch (const std::invalid_argument& e) {
      fail(std::string(e.what()).replace(0, 7, std::string("rle_iou: ") + side + "[" + std::to_string(i) + "]"));
    }
  };
  for (size_t d = 0; d < m; ++d) {
    validate(*dt[d], "dt", d);
    const auto b = rle_to_bbox(*dt[d]);
    std::copy(b.begin(), b.end(), db.begin() + 4 * d);
  }
  for (size_t g = 0; g < n; ++g) {
    validate(*gt[g], "gt", g);
    const auto b = rle_to_bbox(*gt[g]);
    std::copy(b.begin(), b.end(), gb.begin() + 4 * g);
  }
  rle_iou(dt, db.data(), m, gt, gb.data(), n, iscrowd, out);
}

void rle_iou(const Rle* const* dt, const double* dt_boxes, size_t m, const Rle* const* gt, const double* gt_boxes,
             size_t n, const uint8_t* iscrowd, double* out) {
  bbox_iou(dt_boxes, m, gt_boxes, n, iscrowd, out);
  std::vector<uint64_t> dt_area(m), gt_area(n);
  std::vector<uint8_t> dt_empty(m), gt_empty(n);
  for (size_t d = 0; d < m; ++d) dt_area[d] = rle_area(*dt[d]), dt_empty[d] = has_empty_run(*dt[d]);
  for (size_t g = 0; g < n; ++g) gt_area[g] = rle_area(*gt[g]), gt_empty[g] = has_empty_run(*gt[g]);
  for (size_t d = 0; d < m; ++d) {
    for (size_t g = 0; g < n; ++g) {
      double& o = out[d * n + g];
      if (!(o > 0)) continue;
      if (dt[d]->h != gt[g]->h || dt[d]->w != gt[g]->w) {
        o = -1;  // sizes differ: no meaningful overlap (the reference's convention)
        continue;
      }
      uint64_t inter, uni;
      if (dt_empty[d] && gt_empty[g]) {
        walked_intersection_union(*dt[d], *gt[g], inter, uni);
      } else {
        inter = intersection_area(*dt[d], *gt[g]);
        uni = dt_area[d] + gt_area[g] - inter;
      }
      if (inter == 0) {
        uni = 1;  // no overlap: IoU 0
      } else if (iscrowd && iscrowd[g]) {
        uni = dt_area[d];
      }
      o = static_cast<double>(inter) / static_cast<double>(uni);
    }
  }
}

void rle_iou(const Rle* dt, size_t m, const Rle* gt, size_t n, const uint8_t* iscrowd, double* out) {
  std::vector<const Rle*> dp(m), gp(n);
  for (size_t d = 0; d < m; ++d) dp[d] = dt + d;
  for (size_t g = 0; g < n; ++g) gp[g] = gt + g;
  rle_iou(dp.data(), m, gp.data(), n, iscrowd, out);
}

}  // namespace mrcnn::codecs
