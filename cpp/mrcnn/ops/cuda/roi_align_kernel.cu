// CUDA kernels of mrcnn::roi_align and its backward: one thread per output element (forward) or
// per incoming gradient element (backward, atomics into the input gradient). Geometry as the CPU
// kernel and torchvision; half and bfloat16 inputs are sampled and summed in float.
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "mrcnn/ops/roi_align.h"
#include "mrcnn/ops/roi_align_geometry.h"

namespace mrcnn::ops {

namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 4096 * 16));
}

// Calls fn(pos, w) for each in-range bilinear sample of bin (ph, pw), in torchvision's order.
template <typename A, typename Fn>
__device__ inline void for_each_sample(const RoiGeometry<A>& g, int ph, int pw, int height, int width, Fn&& fn) {
  for (int iy = 0; iy < g.grid_h; ++iy) {
    const A y = sample_y(g, ph, iy);
    for (int ix = 0; ix < g.grid_w; ++ix) {
      int pos[4];
      A w[4];
      if (bilinear_neighbours<A, int>(height, width, y, sample_x(g, pw, ix), pos, w)) fn(pos, w);
    }
  }
}

// Output element `index` of [K, C, ph, pw]: its RoI, channel, bin and the RoI's sampling geometry.
template <typename T, typename A>
struct Bin {
  int pw, ph, c;
  int64_t k;
  const T* roi;
  RoiGeometry<A> g;
  __device__ Bin(int64_t index, const T* rois, double spatial_scale, int channels, int pooled_h, int pooled_w,
                 int sampling_ratio, bool aligned)
      : pw(index % pooled_w),
        ph((index / pooled_w) % pooled_h),
        c((index / pooled_w / pooled_h) % channels),
        k(index / pooled_w / pooled_h / channels),
        roi(rois + k * 5),
        g(roi_geometry<A, T>(roi, static_cast<A>(spatial_scale), pooled_h, pooled_w, sampling_ratio, aligned)) {}
};

template <typename T>
__global__ void roi_align_forward_kernel(int64_t total, const T* __restrict__ input, const T* __restrict__ rois,
                                         double spatial_scale, int channels, int height, int width, int pooled_h,
                                         int pooled_w, int sampling_ratio, bool aligned, T* __restrict__ output) {
  using A = at::acc_type<T, true>;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const Bin<T, A> bin(index, rois, spatial_scale, channels, pooled_h, pooled_w, sampling_ratio, aligned);
    const int pw = bin.pw, ph = bin.ph, c = bin.c;
    const int64_t k = bin.k;
    const T* roi = bin.roi;
    const RoiGeometry<A>& g = bin.g;
    const T* plane = input + (static_cast<int64_t>(roi[0]) * channels + c) * height * width;
    A sum = 0;
    for_each_sample(g, ph, pw, height, width, [&](const int* pos, const A* w) {
      sum += w[0] * static_cast<A>(plane[pos[0]]) + w[1] * static_cast<A>(plane[pos[1]]) +
             w[2] * static_cast<A>(plane[pos[2]]) + w[3] * static_cast<A>(plane[pos[3]]);
    });
    output[index] = static_cast<T>(sum / g.count);
  }
}

// G: the gradient buffer's type (float for half and bfloat16 inputs, so atomics add in float).
template <typename T, typename G>
__global__ void roi_align_backward_kernel(int64_t total, const T* __restrict__ grad, const T* __restrict__ rois,
                                          double spatial_scale, int channels, int height, int width, int pooled_h,
                                          int pooled_w, int sampling_ratio, bool aligned, int64_t gs0, int64_t gs1,
                                          int64_t gs2, int64_t gs3, G* __restrict__ grad_input) {
  using A = at::acc_type<T, true>;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const Bin<T, A> bin(index, rois, spatial_scale, channels, pooled_h, pooled_w, sampling_ratio, aligned);
    const int pw = bin.pw, ph = bin.ph, c = bin.c;
    const int64_t k = bin.k;
    const T* roi = bin.roi;
    const RoiGeometry<A>& g = bin.g;
    const A gbin = static_cast<A>(grad[k * gs0 + c * gs1 + ph * gs2 + pw * gs3]);
    G* plane = grad_input + (static_cast<int64_t>(roi[0]) * channels + c) * height * width;
    for_each_sample(g, ph, pw, height, width, [&](const int* pos, const A* w) {
      for (int j = 0; j < 4; ++j) gpuAtomicAdd(plane + pos[j], static_cast<G>(gbin * w[j] / g.count));
    });
  }
}

at::Tensor roi_align_forward_cuda(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                                  int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio,
                                  bool aligned) {
  check_roi_align_args(input, rois, spatial_scale, pooled_height, pooled_width);
  TORCH_CHECK_VALUE(input.is_cuda(), "roi_align: the CUDA kernel got input on ", input.device());
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor output = at::zeros({rois.size(0), input.size(1), pooled_height, pooled_width}, input.options());
  if (output.numel() == 0) return output;
  const at::Tensor in = input.contiguous(), r = rois.contiguous();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t total = output.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align_forward_cuda", [&] {
    roi_align_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        total, in.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), spatial_scale,
        static_cast<int>(in.size(1)), static_cast<int>(in.size(2)), static_cast<int>(in.size(3)),
        static_cast<int>(pooled_height), static_cast<int>(pooled_width), static_cast<int>(sampling_ratio), aligned,
        output.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return output;
}

at::Tensor roi_align_backward_cuda(const at::Tensor& grad, const at::Tensor& rois, double spatial_scale,
                                   int64_t pooled_height, int64_t pooled_width, int64_t batch, int64_t channels,
                                   int64_t height, int64_t width, int64_t sampling_ratio, bool aligned) {
  check_roi_align_backward_args(grad, rois, channels, pooled_height, pooled_width);
  TORCH_CHECK_VALUE(grad.is_cuda(), "roi_align backward: the CUDA kernel got grad on ", grad.device());
  const c10::cuda::CUDAGuard guard(grad.device());
  const bool reduced = grad.scalar_type() == at::kHalf || grad.scalar_type() == at::kBFloat16;
  at::Tensor grad_input =
      at::zeros({batch, channels, height, width}, grad.options().dtype(reduced ? at::kFloat : grad.scalar_type()));
  if (grad.numel() == 0 || grad_input.numel() == 0) return grad_input.to(grad.scalar_type());
  const at::Tensor r = rois.contiguous();
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const int64_t total = grad.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "roi_align_backward_cuda", [&] {
    using G = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    roi_align_backward_kernel<scalar_t, G><<<blocks_for(total), kThreads, 0, stream>>>(
        total, grad.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), spatial_scale,
        static_cast<int>(channels), static_cast<int>(height), static_cast<int>(width),
        static_cast<int>(pooled_height), static_cast<int>(pooled_width), static_cast<int>(sampling_ratio), aligned,
        grad.stride(0), grad.stride(1), grad.stride(2), grad.stride(3), grad_input.data_ptr<G>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return reduced ? grad_input.to(grad.scalar_type()) : grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CUDA, m) {
  m.impl("roi_align", TORCH_FN(roi_align_forward_cuda));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward_cuda));
}

}  // namespace mrcnn::ops
