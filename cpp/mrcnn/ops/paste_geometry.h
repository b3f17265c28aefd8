// Where a mask lands when pasted (shared by the CPU and CUDA kernels of mrcnn::paste_masks).
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>

namespace mrcnn::ops {

// The integer box a padded mask is resized to: columns x0..x0+w-1, rows y0..y0+h-1.
struct PasteBox {
  int64_t x0, y0, x1, y1;  // inclusive corners after expansion and truncation
  int64_t w, h;            // resized mask size, at least 1
};

// Truncation toward zero as Tensor.to(int64), kept finite for absurd or NaN coordinates.
template <typename B>
C10_HOST_DEVICE inline int64_t truncate_coordinate(B v) {
  if (!(v == v)) return 0;
  const B limit = static_cast<B>(1LL << 40);
  if (v > limit) v = limit;
  if (v < -limit) v = -limit;
  return static_cast<int64_t>(v);
}

// The box grown by `scale` about its centre in the boxes' dtype B, then truncated (torchvision's
// expand_boxes followed by .to(int64)).
template <typename B>
C10_HOST_DEVICE inline PasteBox paste_box(const B* box, B scale) {
  B w_half = (box[2] - box[0]) * static_cast<B>(0.5);
  B h_half = (box[3] - box[1]) * static_cast<B>(0.5);
  const B x_c = (box[2] + box[0]) * static_cast<B>(0.5);
  const B y_c = (box[3] + box[1]) * static_cast<B>(0.5);
  w_half *= scale;
  h_half *= scale;
  PasteBox p;
  p.x0 = truncate_coordinate(x_c - w_half);
  p.y0 = truncate_coordinate(y_c - h_half);
  p.x1 = truncate_coordinate(x_c + w_half);
  p.y1 = truncate_coordinate(y_c + h_half);
  p.w = p.x1 - p.x0 + 1 > 1 ? p.x1 - p.x0 + 1 : 1;
  p.h = p.y1 - p.y0 + 1 > 1 ? p.y1 - p.y0 + 1 : 1;
  return p;
}

// a * b + c rounded once, as ATen's CPU kernels compute it (they are compiled with FMA contraction)
template <typename T>
C10_HOST_DEVICE inline T fused_multiply_add(T a, T b, T c) {
#if defined(__CUDA_ARCH__)
  return ::fma(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// Source pixels and weights of output index i when resizing `in` pixels to `out` pixels with
// bilinear align_corners=False, exactly as ATen's CPU upsampling (torch 2.x): the ratio, the
// source position ratio * (i + 0.5) - 0.5 (one fused multiply-add) and the weights, all in the
// mask's dtype T.
template <typename T>
C10_HOST_DEVICE inline void linear_source(int64_t i, int64_t in, int64_t out, int64_t& i0, int64_t& i1, T& l0,
                                          T& l1) {
  if (in == out) {
    i0 = i1 = i;
    l0 = static_cast<T>(1);
    l1 = static_cast<T>(0);
    return;
  }
  const T ratio = static_cast<T>(in) / static_cast<T>(out);
  T src = fused_multiply_add(ratio, static_cast<T>(i) + static_cast<T>(0.5), static_cast<T>(-0.5));
  if (src < 0) src = 0;
  i0 = static_cast<int64_t>(src);
  i1 = i0 + (i0 < in - 1 ? 1 : 0);
  l1 = src - static_cast<T>(i0);
  l0 = static_cast<T>(1) - l1;
}

// The resized value from the four source pixels, summed as ATen's upsampling does: along x
// within each of the two rows, then along y, each sum of two products as one fused
// multiply-add of the first onto the second.
template <typename T>
C10_HOST_DEVICE inline T bilinear_value(T v00, T v01, T v10, T v11, T lx0, T lx1, T ly0, T ly1) {
  const T t0 = fused_multiply_add(v00, lx0, v01 * lx1);
  const T t1 = fused_multiply_add(v10, lx0, v11 * lx1);
  return fused_multiply_add(t0, ly0, t1 * ly1);
}

}  // namespace mrcnn::ops
