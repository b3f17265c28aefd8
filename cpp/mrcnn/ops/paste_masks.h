#pragma once

#include <ATen/ATen.h>

namespace mrcnn::ops {

// Pastes low-resolution mask probabilities into full images, as torchvision's
// paste_masks_in_image: each mask [M_h, M_w] is padded by `padding` zeros on every side, its box
// grown by the same factor (M_w + 2 padding) / M_w about its centre and truncated to integers,
// the padded mask resized bilinearly (align_corners=False) to the box and written into the image.
//   masks: [N, M_h, M_w] or [N, 1, M_h, M_w] probabilities
//   boxes: [N, 4] (x1, y1, x2, y2) in the pixels of the height x width image
//   threshold < 0: returns the probabilities, [N, height, width] in the masks' dtype;
//   threshold >= 0: returns bool masks [N, height, width], true where probability >= threshold.
at::Tensor paste_masks(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                       int64_t padding = 1, double threshold = -1.0);

void check_paste_masks_args(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                            int64_t padding);

}  // namespace mrcnn::ops
