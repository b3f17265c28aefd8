#include "mrcnn/ops/paste_masks.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace mrcnn::ops {

void check_paste_masks_args(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                            int64_t padding) {
  TORCH_CHECK_VALUE(masks.dim() == 3 || (masks.dim() == 4 && masks.size(1) == 1),
                    "paste_masks: masks must have shape [N, M, M] or [N, 1, M, M], got ", masks.sizes());
  TORCH_CHECK_VALUE(boxes.dim() == 2 && boxes.size(1) == 4 && boxes.size(0) == masks.size(0),
                    "paste_masks: boxes must have shape [", masks.size(0), ", 4], got ", boxes.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(masks.scalar_type()), "paste_masks: masks must be floating point, got ",
                   masks.scalar_type());
  TORCH_CHECK_TYPE(at::isFloatingType(boxes.scalar_type()), "paste_masks: boxes must be floating point, got ",
                   boxes.scalar_type());
  TORCH_CHECK_VALUE(masks.device() == boxes.device(), "paste_masks: masks are on ", masks.device(),
                    " but boxes are on ", boxes.device());
  TORCH_CHECK_VALUE(height >= 0 && width >= 0, "paste_masks: image size must be non-negative, got ", height, "x",
                    width);
  TORCH_CHECK_VALUE(padding >= 0, "paste_masks: padding must be non-negative, got ", padding);
  TORCH_CHECK_VALUE(masks.size(-1) > 0 && masks.size(-2) > 0, "paste_masks: masks must not be empty, got ",
                    masks.sizes());
}

at::Tensor paste_masks(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                       int64_t padding, double threshold) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mrcnn::paste_masks", "").typed<decltype(paste_masks)>();
  return op.call(masks, boxes, height, width, padding, threshold);
}

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("paste_masks(Tensor masks, Tensor boxes, int height, int width, int padding=1, float threshold=-1.0) "
        "-> Tensor");
}

}  // namespace mrcnn::ops
