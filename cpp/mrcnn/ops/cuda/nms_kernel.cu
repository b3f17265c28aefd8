// CUDA kernel of mrcnn::nms: each block compares 64 boxes (in score order) with 64 others and
// writes one 64-bit word of "suppressed by" bits per pair of blocks; the greedy pass over those
// words then runs on the host, as in torchvision's kernel.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <vector>

#include "mrcnn/ops/nms.h"

namespace mrcnn::ops {

namespace {

constexpr int kThreads = 64;  // bits per mask word

template <typename T>
__device__ inline bool iou_above(const T* a, const T* b, float threshold) {
  const float left = fmaxf(static_cast<float>(a[0]), static_cast<float>(b[0]));
  const float right = fminf(static_cast<float>(a[2]), static_cast<float>(b[2]));
  const float top = fmaxf(static_cast<float>(a[1]), static_cast<float>(b[1]));
  const float bottom = fminf(static_cast<float>(a[3]), static_cast<float>(b[3]));
  const float w = fmaxf(right - left, 0.f), h = fmaxf(bottom - top, 0.f);
  const float inter = w * h;
  const float sa = (static_cast<float>(a[2]) - static_cast<float>(a[0])) *
                   (static_cast<float>(a[3]) - static_cast<float>(a[1]));
  const float sb = (static_cast<float>(b[2]) - static_cast<float>(b[0])) *
                   (static_cast<float>(b[3]) - static_cast<float>(b[1]));
  return inter / (sa + sb - inter) > threshold;
}

template <typename T>
__global__ void nms_mask_kernel(int n, float threshold, const T* __restrict__ boxes,
                                unsigned long long* __restrict__ mask) {
  const int row = blockIdx.y, col = blockIdx.x;
  if (row > col) return;  // only boxes later in score order can be suppressed
  const int row_size = min(n - row * kThreads, kThreads);
  const int col_size = min(n - col * kThreads, kThreads);
  __shared__ T block[kThreads * 4];
  if (threadIdx.x < col_size)
    for (int k = 0; k < 4; ++k) block[threadIdx.x * 4 + k] = boxes[(kThreads * col + threadIdx.x) * 4 + k];
  __syncthreads();
  if (threadIdx.x >= row_size) return;
  const int i = kThreads * row + threadIdx.x;
  const T* cur = boxes + i * 4;
  unsigned long long bits = 0;
  const int start = row == col ? threadIdx.x + 1 : 0;
  for (int j = start; j < col_size; ++j)
    if (iou_above(cur, block + j * 4, threshold)) bits |= 1ULL << j;
  const int col_blocks = (n + kThreads - 1) / kThreads;
  mask[static_cast<int64_t>(i) * col_blocks + col] = bits;
}

at::Tensor nms_cuda(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  check_nms_args(boxes, scores);
  TORCH_CHECK_VALUE(boxes.is_cuda(), "nms: the CUDA kernel got boxes on ", boxes.device());
  const c10::cuda::CUDAGuard guard(boxes.device());
  if (boxes.size(0) == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor sorted = boxes.index_select(0, order).contiguous();
  const int n = static_cast<int>(boxes.size(0));
  const int col_blocks = (n + kThreads - 1) / kThreads;
  at::Tensor mask = at::zeros({n, col_blocks}, boxes.options().dtype(at::kLong));
  const dim3 grid(col_blocks, col_blocks), block(kThreads);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, boxes.scalar_type(), "nms_cuda", [&] {
    nms_mask_kernel<scalar_t><<<grid, block, 0, stream>>>(
        n, static_cast<float>(iou_threshold), sorted.data_ptr<scalar_t>(),
        reinterpret_cast<unsigned long long*>(mask.data_ptr<int64_t>()));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  // Greedy pass on the host: n * col_blocks words, small next to the n^2 IoUs above.
  const at::Tensor mask_cpu = mask.cpu();
  const auto* words = reinterpret_cast<const unsigned long long*>(mask_cpu.data_ptr<int64_t>());
  std::vector<unsigned long long> removed(static_cast<size_t>(col_blocks), 0);
  std::vector<int64_t> keep_sorted;
  for (int i = 0; i < n; ++i) {
    const int word = i / kThreads, bit = i % kThreads;
    if (removed[word] & (1ULL << bit)) continue;
    keep_sorted.push_back(i);
    const unsigned long long* row = words + static_cast<int64_t>(i) * col_blocks;
    for (int k = word; k < col_blocks; ++k) removed[k] |= row[k];
  }
  const at::Tensor idx = at::tensor(keep_sorted, order.options().device(at::kCPU)).to(order.device());
  return order.index_select(0, idx);
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CUDA, m) {
  m.impl("nms", TORCH_FN(nms_cuda));
}

}  // namespace mrcnn::ops
