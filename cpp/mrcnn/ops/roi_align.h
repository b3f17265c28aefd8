#pragma once

#include <ATen/ATen.h>

namespace mrcnn::ops {

// RoIAlign (He et al., Mask R-CNN, 2017) as torchvision.ops.roi_align.
//   input: [N, C, H, W] feature map, floating point
//   rois:  [K, 5] rows (batch_index, x1, y1, x2, y2) in input-image pixels; spatial_scale maps
//          them onto the feature map (1/stride)
//   sampling_ratio: bilinear samples per bin side; <= 0 picks ceil(roi_size / pooled_size)
//   aligned: shift the box by -0.5 pixel (true) or keep the original Mask R-CNN rule (false,
//            with boxes at least 1 feature pixel wide)
// Returns [K, C, pooled_height, pooled_width]. Differentiable with respect to input.
at::Tensor roi_align(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                     int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned);

// Gradient of roi_align with respect to its input: [batch, channels, height, width].
at::Tensor roi_align_backward(const at::Tensor& grad, const at::Tensor& rois, double spatial_scale,
                              int64_t pooled_height, int64_t pooled_width, int64_t batch, int64_t channels,
                              int64_t height, int64_t width, int64_t sampling_ratio, bool aligned);

// Argument checks shared by every backend; errors name the argument and what was received.
void check_roi_align_args(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                          int64_t pooled_height, int64_t pooled_width);

// The backward's checks: grad must be [K, channels, pooled_height, pooled_width] of rois' dtype and device.
void check_roi_align_backward_args(const at::Tensor& grad, const at::Tensor& rois, int64_t channels,
                                   int64_t pooled_height, int64_t pooled_width);

}  // namespace mrcnn::ops
