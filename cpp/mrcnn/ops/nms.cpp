#include "mrcnn/ops/nms.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace mrcnn::ops {

void check_nms_args(const at::Tensor& boxes, const at::Tensor& scores) {
  TORCH_CHECK_VALUE(boxes.dim() == 2 && boxes.size(1) == 4,
                    "nms: boxes must have shape [N, 4], got ", boxes.sizes());
  TORCH_CHECK_VALUE(scores.dim() == 1, "nms: scores must have shape [N], got ", scores.sizes());
  TORCH_CHECK_VALUE(boxes.size(0) == scores.size(0), "nms: boxes has ", boxes.size(0),
                    " rows but scores has ", scores.size(0), " entries");
  TORCH_CHECK_TYPE(at::isFloatingType(boxes.scalar_type()),
                   "nms: boxes must be floating point, got ", boxes.scalar_type());
  TORCH_CHECK_TYPE(boxes.scalar_type() == scores.scalar_type(), "nms: scores must have the dtype of boxes (",
                   boxes.scalar_type(), "), got ", scores.scalar_type());
  TORCH_CHECK_VALUE(boxes.device() == scores.device(), "nms: boxes are on ", boxes.device(),
                    " but scores are on ", scores.device());
}

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mrcnn::nms", "").typed<decltype(nms)>();
  return op.call(boxes, scores, iou_threshold);
}

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("nms(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor");
}

}  // namespace mrcnn::ops
