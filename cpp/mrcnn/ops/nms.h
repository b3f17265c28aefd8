#pragma once

#include <ATen/ATen.h>

namespace mrcnn::ops {

// Greedy non-maximum suppression, as torchvision.ops.nms.
//   boxes:  [N, 4] (x1, y1, x2, y2), floating point
//   scores: [N], same dtype and device
// Returns the int64 indices of the kept boxes in decreasing score order (ties keep the
// original order). A box is dropped when its IoU with a kept, higher-scored box is
// > iou_threshold. Registered as torch.ops.mrcnn.nms with CPU and CUDA kernels.
at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold);

// NMS within each category: boxes with different idxs never suppress each other. Returns the kept
// indices in decreasing score order. Follows torchvision.ops.batched_nms, including its choice of
// strategy (one NMS per category for more than 4000 box coordinates on CPU, 20000 on CUDA;
// otherwise one NMS over boxes offset by category), so the results are the same.
// max_keep >= 0 returns only the first max_keep survivors; on CPU with many boxes this stops
// early (exact same survivors; ties in score at the cut are resolved by index).
at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                       double iou_threshold, int64_t max_keep = -1);

// The argument checks shared by every backend; errors name the argument and what was received.
void check_nms_args(const at::Tensor& boxes, const at::Tensor& scores);

}  // namespace mrcnn::ops
