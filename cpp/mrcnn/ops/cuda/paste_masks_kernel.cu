// CUDA kernel of mrcnn::paste_masks: one thread per output pixel, each working out its mask's
// integer box and its own bilinear sample (same rules as the CPU kernel, in paste_geometry.h).
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "mrcnn/ops/paste_geometry.h"
#include "mrcnn/ops/paste_masks.h"

namespace mrcnn::ops {

namespace {

constexpr int kThreads = 256;

// A: the arithmetic type (float for half and bfloat16 masks).
template <typename T, typename A, typename B, typename Out>
__global__ void paste_masks_kernel(int64_t total, const T* __restrict__ masks, const B* __restrict__ boxes,
                                   int64_t mh, int64_t mw, int64_t padding, int64_t height, int64_t width,
                                   double threshold, Out* __restrict__ out) {
  const int64_t ph = mh + 2 * padding, pw = mw + 2 * padding;
  const B scale = static_cast<B>(static_cast<double>(pw) / static_cast<double>(mw));
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t x = index % width, y = (index / width) % height, k = index / width / height;
    const PasteBox p = paste_box(boxes + 4 * k, scale);
    A v = 0;
    if (x >= p.x0 && x <= p.x1 && y >= p.y0 && y <= p.y1) {
      int64_t r0, r1, c0, c1;
      A ly0, ly1, lx0, lx1;
      linear_source(y - p.y0, ph, p.h, r0, r1, ly0, ly1);
      linear_source(x - p.x0, pw, p.w, c0, c1, lx0, lx1);
      const T* m = masks + k * mh * mw;
      // padded coordinates -> mask pixels; the padding reads as zero
      auto at_ = [&](int64_t r, int64_t c) -> A {
        r -= padding, c -= padding;
        return (r >= 0 && r < mh && c >= 0 && c < mw) ? static_cast<A>(m[r * mw + c]) : A(0);
      };
      v = bilinear_value(at_(r0, c0), at_(r0, c1), at_(r1, c0), at_(r1, c1), lx0, lx1, ly0, ly1);
    }
    if (threshold >= 0)
      out[index] = static_cast<Out>(static_cast<double>(v) >= threshold);
    else
      out[index] = static_cast<Out>(v);
  }
}

at::Tensor paste_masks_cuda(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                            int64_t padding, double threshold) {
  check_paste_masks_args(masks, boxes, height, width, padding);
  TORCH_CHECK_VALUE(masks.is_cuda(), "paste_masks: the CUDA kernel got masks on ", masks.device());
  const c10::cuda::CUDAGuard guard(masks.device());
  const at::Tensor m = masks.reshape({masks.size(0), masks.size(-2), masks.size(-1)}).contiguous();
  const at::Tensor b = boxes.contiguous();
  const bool binary = threshold >= 0;
  at::Tensor out = at::empty({m.size(0), height, width}, masks.options().dtype(binary ? at::kBool : masks.scalar_type()));
  const int64_t total = out.numel();
  if (total == 0) return out;
  const int blocks = static_cast<int>(std::min<int64_t>((total + kThreads - 1) / kThreads, 65536));
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, m.scalar_type(), "paste_masks_cuda", [&] {
    using T = scalar_t;
    using A = at::acc_type<T, true>;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, b.scalar_type(), "paste_masks_cuda_boxes", [&] {
      using B = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
      const at::Tensor bb = b.to(c10::CppTypeToScalarType<B>::value);
      if (binary)
        paste_masks_kernel<T, A, B, bool><<<blocks, kThreads, 0, stream>>>(
            total, m.data_ptr<T>(), bb.data_ptr<B>(), m.size(1), m.size(2), padding, height, width, threshold,
            out.data_ptr<bool>());
      else
        paste_masks_kernel<T, A, B, T><<<blocks, kThreads, 0, stream>>>(
            total, m.data_ptr<T>(), bb.data_ptr<B>(), m.size(1), m.size(2), padding, height, width, threshold,
            out.data_ptr<T>());
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CUDA, m) {
  m.impl("paste_masks", TORCH_FN(paste_masks_cuda));
}

}  // namespace mrcnn::ops
