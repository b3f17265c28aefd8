// Autocast (mixed precision) for mrcnn::roi_align: features arrive in bf16 or fp16 under autocast;
// the op runs in float32 (its bilinear weights and sums need it) and returns the input's dtype,
// as torchvision's autocast wrapper does. Registered for CUDA (Autocast) and CPU (AutocastCPU).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "mrcnn/ops/roi_align.h"

namespace mrcnn::ops {

namespace {

template <c10::DispatchKey key>
at::Tensor roi_align_autocast(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                              int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(key);
  return roi_align(input.to(at::kFloat), rois.to(at::kFloat), spatial_scale, pooled_height, pooled_width,
                   sampling_ratio, aligned)
      .to(input.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, Autocast, m) {
  m.impl("roi_align", TORCH_FN(roi_align_autocast<c10::DispatchKey::Autocast>));
}

TORCH_LIBRARY_IMPL(mrcnn, AutocastCPU, m) {
  m.impl("roi_align", TORCH_FN(roi_align_autocast<c10::DispatchKey::AutocastCPU>));
}

}  // namespace mrcnn::ops
