#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cmath>

namespace mrcnn::ops {

// Box regression targets of Girshick et al. (R-CNN, 2014), as torchvision's BoxCoder.
// Weights (wx, wy, ww, wh) scale the deltas: (1, 1, 1, 1) in the RPN, (10, 10, 5, 5) in the box head.
using BoxWeights = std::array<double, 4>;

// Matterport's BBOX_STD_DEV / RPN_BBOX_STD_DEV as coding weights: deltas are divided by the
// standard deviations, i.e. multiplied by weights 1 / std ((0.1, 0.1, 0.2, 0.2) -> (10, 10, 5, 5)).
inline BoxWeights weights_from_std(const std::array<double, 4>& std) {
  return {1.0 / std[0], 1.0 / std[1], 1.0 / std[2], 1.0 / std[3]};
}

// Largest dw, dh accepted by decode_boxes: exp(clip) limits growth to 1000/16 = 62.5x.
inline double default_box_clip() { return std::log(1000.0 / 16); }

// Deltas [K, 4] (dx, dy, dw, dh) that take proposals [K, 4] to gt [K, 4] (x1, y1, x2, y2).
at::Tensor encode_boxes(const at::Tensor& gt, const at::Tensor& proposals, const BoxWeights& weights);

// Boxes [K, M, 4] from deltas [K, M * 4] applied to boxes [K, 4]; dw and dh clamped to clip.
at::Tensor decode_boxes(const at::Tensor& deltas, const at::Tensor& boxes, const BoxWeights& weights,
                        double clip = default_box_clip());

// Boxes [K, 4] clipped to an image of the given height and width (x to [0, width], y to [0, height]).
at::Tensor clip_boxes(const at::Tensor& boxes, int64_t height, int64_t width);

// Indices of the boxes whose sides are both >= min_size.
at::Tensor remove_small_boxes(const at::Tensor& boxes, double min_size);

// IoU matrix [N, M] of boxes a [N, 4] and b [M, 4].
at::Tensor box_iou(const at::Tensor& a, const at::Tensor& b);

}  // namespace mrcnn::ops
