// float16 and bfloat16 on the CPU kernels: computed in float32 and returned in the input's type, as
// torchvision's CPU ops accept them (autocast and .half() models hand them over).
#pragma once

#include <ATen/ATen.h>

namespace mrcnn::ops {

inline bool is_reduced_float(const at::Tensor& t) {
  return t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
}

inline at::Tensor as_float32(const at::Tensor& t) { return is_reduced_float(t) ? t.to(at::kFloat) : t; }

}  // namespace mrcnn::ops
