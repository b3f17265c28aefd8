// CPU kernels of mrcnn::roi_align and its backward.
//
// The sampling geometry and arithmetic are torchvision's (same expressions in the same dtype,
// samples summed in the same order), so outputs agree to the last bit or so. The layout is not:
// the feature map is read channels-last, so each bilinear sample is four contiguous C-vectors
// scaled and added (vectorised), instead of four scattered reads per channel. Forward runs in
// parallel over RoIs, backward over channel blocks (no two threads write the same element).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "mrcnn/ops/cpu/reduced_float.h"
#include "mrcnn/ops/roi_align.h"
#include "mrcnn/ops/roi_align_geometry.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
// One AVX2 clone and one baseline clone, picked at load time: no FMA, so sums round as torchvision's.
#define MRCNN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MRCNN_VECTOR_CLONES
#endif

namespace mrcnn::ops {

namespace {

// One bilinear sample: the four neighbouring pixels (offsets y * width + x) and their weights.
template <typename T>
struct Sample {
  int64_t pos[4];
  T w[4];
};

// The in-range samples of every bin of one RoI, bins in (ph, pw) order and samples in (iy, ix)
// order within a bin; first[b]..first[b+1] indexes bin b's samples. Samples more than one pixel
// outside the map contribute nothing and are left out.
template <typename T>
void bilinear_samples(const RoiGeometry<T>& g, int64_t height, int64_t width, int64_t pooled_h,
                      int64_t pooled_w, std::vector<Sample<T>>& samples, std::vector<int64_t>& first) {
  samples.clear();
  first.assign(1, 0);
  for (int64_t ph = 0; ph < pooled_h; ++ph) {
    for (int64_t pw = 0; pw < pooled_w; ++pw) {
      for (int iy = 0; iy < g.grid_h; ++iy) {
        const T y = sample_y(g, ph, iy);
        for (int ix = 0; ix < g.grid_w; ++ix) {
          Sample<T> sm;
          if (bilinear_neighbours<T, int64_t>(height, width, y, sample_x(g, pw, ix), sm.pos, sm.w))
            samples.push_back(sm);
        }
      }
      first.push_back(static_cast<int64_t>(samples.size()));
    }
  }
}

// acc[c] += w0 * p0[c] + w1 * p1[c] + w2 * p2[c] + w3 * p3[c]   (torchvision's grouping)
template <typename T>
inline void accumulate_sample_impl(T* acc, const T* p0, const T* p1, const T* p2, const T* p3, const T* w,
                                   int64_t n) {
  const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
  for (int64_t c = 0; c < n; ++c) acc[c] += w0 * p0[c] + w1 * p1[c] + w2 * p2[c] + w3 * p3[c];
}
MRCNN_VECTOR_CLONES void accumulate_sample(float* acc, const float* p0, const float* p1, const float* p2,
                                           const float* p3, const float* w, int64_t n) {
  accumulate_sample_impl(acc, p0, p1, p2, p3, w, n);
}
MRCNN_VECTOR_CLONES void accumulate_sample(double* acc, const double* p0, const double* p1, const double* p2,
                                           const double* p3, const double* w, int64_t n) {
  accumulate_sample_impl(acc, p0, p1, p2, p3, w, n);
}

// gi[pos_j + c] += g[c] * w_j / count for j = 0..3, in that order (torchvision's)
template <typename T>
inline void scatter_sample_impl(T* gi0, T* gi1, T* gi2, T* gi3, const T* g, const T* w, T count, int64_t n) {
  const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
  for (int64_t c = 0; c < n; ++c) {
    const T t = g[c];
    gi0[c] += t * w0 / count;
    gi1[c] += t * w1 / count;
    gi2[c] += t * w2 / count;
    gi3[c] += t * w3 / count;
  }
}
MRCNN_VECTOR_CLONES void scatter_sample(float* gi0, float* gi1, float* gi2, float* gi3, const float* g,
                                        const float* w, float count, int64_t n) {
  scatter_sample_impl(gi0, gi1, gi2, gi3, g, w, count, n);
}
MRCNN_VECTOR_CLONES void scatter_sample(double* gi0, double* gi1, double* gi2, double* gi3, const double* g,
                                        const double* w, double count, int64_t n) {
  scatter_sample_impl(gi0, gi1, gi2, gi3, g, w, count, n);
}

void check_batch_indices(const at::Tensor& rois, int64_t batch) {
  if (rois.size(0) == 0) return;
  const at::Tensor idx = rois.select(1, 0);
  const double lo = idx.min().item<double>(), hi = idx.max().item<double>();
  TORCH_CHECK_INDEX(lo >= 0 && hi < static_cast<double>(batch), "roi_align: rois[:, 0] must be batch indices in [0, ",
                    batch, "), got values from ", lo, " to ", hi);
}

template <typename T>
void roi_align_forward_impl(const at::Tensor& input_nhwc, const at::Tensor& rois, T spatial_scale,
                            int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio, bool aligned,
                            at::Tensor& output) {
  const int64_t channels = input_nhwc.size(1), height = input_nhwc.size(2), width = input_nhwc.size(3);
  const int64_t bins = pooled_h * pooled_w;
  const T* in = input_nhwc.data_ptr<T>();  // [N, H, W, C] in memory
  const T* roi_data = rois.data_ptr<T>();
  T* out = output.data_ptr<T>();  // [K, C, ph, pw]
  at::parallel_for(0, rois.size(0), 1, [&](int64_t begin, int64_t end) {
    std::vector<Sample<T>> samples;
    std::vector<int64_t> first;
    std::vector<T> acc(static_cast<size_t>(channels));
    for (int64_t k = begin; k < end; ++k) {
      const T* roi = roi_data + k * 5;
      const RoiGeometry<T> g = roi_geometry(roi, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned);
      bilinear_samples(g, height, width, pooled_h, pooled_w, samples, first);
      const T* base = in + static_cast<int64_t>(roi[0]) * height * width * channels;
      T* out_k = out + k * channels * bins;
      for (int64_t b = 0; b < bins; ++b) {
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t s = first[b]; s < first[b + 1]; ++s) {
          const Sample<T>& sm = samples[s];
          accumulate_sample(acc.data(), base + sm.pos[0] * channels, base + sm.pos[1] * channels,
                            base + sm.pos[2] * channels, base + sm.pos[3] * channels, sm.w, channels);
        }
        for (int64_t c = 0; c < channels; ++c) out_k[c * bins + b] = acc[c] / g.count;
      }
    }
  });
}

at::Tensor roi_align_forward_cpu(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                                 int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio,
                                 bool aligned) {
  if (is_reduced_float(input) || is_reduced_float(rois))
    return roi_align_forward_cpu(as_float32(input), as_float32(rois), spatial_scale, pooled_height, pooled_width,
                                 sampling_ratio, aligned)
        .to(input.scalar_type());
  check_roi_align_args(input, rois, spatial_scale, pooled_height, pooled_width);
  TORCH_CHECK_VALUE(input.device().is_cpu(), "roi_align: the CPU kernel got input on ", input.device());
  check_batch_indices(rois, input.size(0));
  // every element is written below
  at::Tensor output = at::empty({rois.size(0), input.size(1), pooled_height, pooled_width}, input.options());
  if (output.numel() == 0) return output;
  const at::Tensor input_nhwc = input.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor rois_c = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "roi_align_forward_cpu", [&] {
    roi_align_forward_impl<scalar_t>(input_nhwc, rois_c, static_cast<scalar_t>(spatial_scale), pooled_height,
                                     pooled_width, sampling_ratio, aligned, output);
  });
  return output;
}

template <typename T>
void roi_align_backward_impl(const at::Tensor& grad_bins, const at::Tensor& rois, T spatial_scale,
                             int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio, bool aligned,
                             at::Tensor& grad_nhwc) {
  const int64_t height = grad_nhwc.size(1), width = grad_nhwc.size(2), channels = grad_nhwc.size(3);
  const int64_t bins = pooled_h * pooled_w;
  const T* g_data = grad_bins.data_ptr<T>();  // [K, bins, C]
  const T* roi_data = rois.data_ptr<T>();
  T* gi = grad_nhwc.data_ptr<T>();  // [N, H, W, C]
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t grain = std::max<int64_t>(16, (channels + threads - 1) / threads);
  at::parallel_for(0, channels, grain, [&](int64_t c0, int64_t c1) {
    std::vector<Sample<T>> samples;
    std::vector<int64_t> first;
    for (int64_t k = 0; k < rois.size(0); ++k) {
      const T* roi = roi_data + k * 5;
      const RoiGeometry<T> g = roi_geometry(roi, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned);
      bilinear_samples(g, height, width, pooled_h, pooled_w, samples, first);
      T* base = gi + static_cast<int64_t>(roi[0]) * height * width * channels + c0;
      for (int64_t b = 0; b < bins; ++b) {
        const T* gk = g_data + (k * bins + b) * channels + c0;
        for (int64_t s = first[b]; s < first[b + 1]; ++s) {
          const Sample<T>& sm = samples[s];
          scatter_sample(base + sm.pos[0] * channels, base + sm.pos[1] * channels, base + sm.pos[2] * channels,
                         base + sm.pos[3] * channels, gk, sm.w, g.count, c1 - c0);
        }
      }
    }
  });
}

at::Tensor roi_align_backward_cpu(const at::Tensor& grad, const at::Tensor& rois, double spatial_scale,
                                  int64_t pooled_height, int64_t pooled_width, int64_t batch, int64_t channels,
                                  int64_t height, int64_t width, int64_t sampling_ratio, bool aligned) {
  if (is_reduced_float(grad) || is_reduced_float(rois))
    return roi_align_backward_cpu(as_float32(grad), as_float32(rois), spatial_scale, pooled_height, pooled_width,
                                  batch, channels, height, width, sampling_ratio, aligned)
        .to(grad.scalar_type());
  check_roi_align_backward_args(grad, rois, channels, pooled_height, pooled_width);
  TORCH_CHECK_VALUE(grad.device().is_cpu(), "roi_align backward: the CPU kernel got grad on ", grad.device());
  check_batch_indices(rois, batch);
  at::Tensor grad_nhwc = at::zeros({batch, height, width, channels}, grad.options());
  if (grad.numel() > 0 && grad_nhwc.numel() > 0) {
    const at::Tensor grad_bins = grad.permute({0, 2, 3, 1}).contiguous();  // [K, ph, pw, C]
    const at::Tensor rois_c = rois.contiguous();
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "roi_align_backward_cpu", [&] {
      roi_align_backward_impl<scalar_t>(grad_bins, rois_c, static_cast<scalar_t>(spatial_scale), pooled_height,
                                        pooled_width, sampling_ratio, aligned, grad_nhwc);
    });
  }
  return grad_nhwc.permute({0, 3, 1, 2});  // [N, C, H, W] with channels-last strides
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CPU, m) {
  m.impl("roi_align", TORCH_FN(roi_align_forward_cpu));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward_cpu));
}

}  // namespace mrcnn::ops
