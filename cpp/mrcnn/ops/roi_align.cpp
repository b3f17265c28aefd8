#include "mrcnn/ops/roi_align.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace mrcnn::ops {

void check_roi_align_args(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                          int64_t pooled_height, int64_t pooled_width) {
  TORCH_CHECK_VALUE(input.dim() == 4, "roi_align: input must have shape [N, C, H, W], got ", input.sizes());
  TORCH_CHECK_VALUE(rois.dim() == 2 && rois.size(1) == 5,
                    "roi_align: rois must have shape [K, 5] (batch_index, x1, y1, x2, y2), got ", rois.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(input.scalar_type()),
                   "roi_align: input must be floating point, got ", input.scalar_type());
  TORCH_CHECK_TYPE(rois.scalar_type() == input.scalar_type(), "roi_align: rois must have the dtype of input (",
                   input.scalar_type(), "), got ", rois.scalar_type());
  TORCH_CHECK_VALUE(input.device() == rois.device(), "roi_align: input is on ", input.device(),
                    " but rois are on ", rois.device());
  TORCH_CHECK_VALUE(pooled_height > 0 && pooled_width > 0,
                    "roi_align: output size must be positive, got ", pooled_height, "x", pooled_width);
  TORCH_CHECK_VALUE(spatial_scale > 0, "roi_align: spatial_scale must be positive, got ", spatial_scale);
}

void check_roi_align_backward_args(const at::Tensor& grad, const at::Tensor& rois, int64_t channels,
                                   int64_t pooled_height, int64_t pooled_width) {
  TORCH_CHECK_VALUE(grad.dim() == 4 && grad.size(0) == rois.size(0) && grad.size(1) == channels &&
                        grad.size(2) == pooled_height && grad.size(3) == pooled_width,
                    "roi_align backward: grad must have shape [", rois.size(0), ", ", channels, ", ", pooled_height,
                    ", ", pooled_width, "], got ", grad.sizes());
  TORCH_CHECK_TYPE(grad.scalar_type() == rois.scalar_type(), "roi_align backward: grad must have the dtype of rois (",
                   rois.scalar_type(), "), got ", grad.scalar_type());
  TORCH_CHECK_VALUE(grad.device() == rois.device(), "roi_align backward: grad is on ", grad.device(),
                    " but rois are on ", rois.device());
}

at::Tensor roi_align(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                     int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mrcnn::roi_align", "").typed<decltype(roi_align)>();
  return op.call(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned);
}

at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, double spatial_scale,
                              int64_t pooled_height, int64_t pooled_width, int64_t batch, int64_t channels,
                              int64_t height, int64_t width, int64_t sampling_ratio, bool aligned) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mrcnn::_roi_align_backward", "")
                       .typed<decltype(roi_align_backward)>();
  return op.call(grad, rois, spatial_scale, pooled_height, pooled_width, batch, channels, height, width,
                 sampling_ratio, aligned);
}

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("roi_align(Tensor input, Tensor rois, float spatial_scale, int pooled_height, int pooled_width, "
        "int sampling_ratio, bool aligned) -> Tensor");
  m.def("_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, int pooled_height, "
        "int pooled_width, int batch, int channels, int height, int width, int sampling_ratio, "
        "bool aligned) -> Tensor");
}

}  // namespace mrcnn::ops
