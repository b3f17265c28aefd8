// Sampling geometry of RoIAlign, shared by the CPU and CUDA kernels of mrcnn::roi_align. The
// expressions and their order are torchvision's, so the sample positions and weights agree with
// it to the last bit in the same dtype.
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>

namespace mrcnn::ops {

// Where one RoI sits on the feature map and how its bins are sampled.
template <typename T>
struct RoiGeometry {
  T start_h, start_w, bin_h, bin_w;
  T count;             // samples per bin, at least 1
  int grid_h, grid_w;  // samples per bin side
};

// Most samples per bin side when sampling_ratio <= 0. torchvision's ceil(size / pooled) is kept up
// to it (bins up to 256 feature pixels: maps up to 1792 wide at a 7x7 output, far beyond any FPN level
// of a real image); a larger or absurd box gets this many, so its cost stays bounded.
constexpr int kMaxAdaptiveGrid = 256;

// ceil(size / pooled) samples per bin side, in [0, kMaxAdaptiveGrid]; 0 (an all-zero output) for a
// non-finite box.
template <typename T>
C10_HOST_DEVICE inline int adaptive_grid(T size, int64_t pooled) {
  const double g = ceil(static_cast<double>(size / static_cast<T>(pooled)));  // exact in any precision
  if (!(g > 0) || !(g < INFINITY)) return 0;
  return g > kMaxAdaptiveGrid ? kMaxAdaptiveGrid : static_cast<int>(g);
}

// roi: (batch_index, x1, y1, x2, y2) in image pixels; spatial_scale maps them onto the map.
template <typename T, typename R>
C10_HOST_DEVICE inline RoiGeometry<T> roi_geometry(const R* roi, T spatial_scale, int64_t pooled_h, int64_t pooled_w,
                                                   int64_t sampling_ratio, bool aligned) {
  const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0.0);
  RoiGeometry<T> g;
  g.start_w = static_cast<T>(roi[1]) * spatial_scale - offset;
  g.start_h = static_cast<T>(roi[2]) * spatial_scale - offset;
  const T end_w = static_cast<T>(roi[3]) * spatial_scale - offset;
  const T end_h = static_cast<T>(roi[4]) * spatial_scale - offset;
  T roi_w = end_w - g.start_w, roi_h = end_h - g.start_h;
  if (!aligned) {  // the original Mask R-CNN rule: boxes at least one feature pixel wide
    roi_w = roi_w > static_cast<T>(1) ? roi_w : static_cast<T>(1);
    roi_h = roi_h > static_cast<T>(1) ? roi_h : static_cast<T>(1);
  }
  g.bin_h = roi_h / static_cast<T>(pooled_h);
  g.bin_w = roi_w / static_cast<T>(pooled_w);
  g.grid_h = sampling_ratio > 0 ? static_cast<int>(sampling_ratio) : adaptive_grid(roi_h, pooled_h);
  g.grid_w = sampling_ratio > 0 ? static_cast<int>(sampling_ratio) : adaptive_grid(roi_w, pooled_w);
  const int n = g.grid_h * g.grid_w;
  g.count = static_cast<T>(n > 1 ? n : 1);
  return g;
}

// Position of sample iy (ix) of bin row ph (column pw).
template <typename T>
C10_HOST_DEVICE inline T sample_y(const RoiGeometry<T>& g, int64_t ph, int iy) {
  return g.start_h + ph * g.bin_h + static_cast<T>(iy + .5f) * g.bin_h / static_cast<T>(g.grid_h);
}
template <typename T>
C10_HOST_DEVICE inline T sample_x(const RoiGeometry<T>& g, int64_t pw, int ix) {
  return g.start_w + pw * g.bin_w + static_cast<T>(ix + .5f) * g.bin_w / static_cast<T>(g.grid_w);
}

// The four pixels around (y, x) as offsets y * width + x, and their bilinear weights. False when
// the point lies more than one pixel outside the map (written so that NaN counts as outside).
template <typename T, typename I>
C10_HOST_DEVICE inline bool bilinear_neighbours(I height, I width, T y, T x, I pos[4], T w[4]) {
  if (!(y >= -1.0 && y <= height && x >= -1.0 && x <= width)) return false;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  I y_low = static_cast<I>(y), x_low = static_cast<I>(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = static_cast<T>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = static_cast<T>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const T ly = y - y_low, lx = x - x_low;
  const T hy = static_cast<T>(1.) - ly, hx = static_cast<T>(1.) - lx;
  pos[0] = y_low * width + x_low;
  pos[1] = y_low * width + x_high;
  pos[2] = y_high * width + x_low;
  pos[3] = y_high * width + x_high;
  w[0] = hy * hx, w[1] = hy * lx, w[2] = ly * hx, w[3] = ly * lx;
  return true;
}

}  // namespace mrcnn::ops
