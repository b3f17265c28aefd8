// Image preprocessing and the mapping of detections back to the original images.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mrcnn/model/config.h"

namespace mrcnn::model {

// A batch of images as the network sees them.
struct ImageBatch {
  torch::Tensor tensor;                            // [N, 3, H, W] normalised, zero-padded bottom/right
  std::vector<std::pair<int64_t, int64_t>> sizes;  // (h, w) of each resized image inside the batch
  std::vector<std::pair<int64_t, int64_t>> original_sizes;
};

// The resize factor of an h x w image and the size it takes (before padding or cropping) under the
// configured IMAGE_RESIZE_MODE. The one place this rule lives: the network's input, the data
// loader and Python's utils.resize_image (through _C.model.resize_plan) all use it.
//   torchvision: scale = min(MIN_DIM / short side, MAX_DIM / long side) in double, sides floored
//   square / pad64 / crop / none: Matterport's resize_image (scale up so the short side reaches
//   MIN_DIM, never down; at least MIN_SCALE; in square mode the long side capped at MAX_DIM; sides
//   rounded half to even, as Python's round); MIN_DIM or MAX_DIM 0 leaves that step out
struct ResizePlan {
  double scale = 1;
  int64_t height = 0, width = 0;
};
ResizePlan resize_plan(const Config& config, int64_t h, int64_t w);
std::pair<int64_t, int64_t> resized_size(const Config& config, int64_t h, int64_t w);

// Normalises ((x - mean) / std, both /255), resizes (bilinear, align_corners=False) and pads into
// one batch. images: float [3, H, W] with values in [0, 1] (uint8 [3, H, W] is converted).
// The padded size is a multiple of IMAGE_PAD_DIVISOR (torchvision), 64 (pad64, none) or
// IMAGE_MAX_DIM x IMAGE_MAX_DIM (square). resize = false takes the images as already resized
// (the data loader resizes in its worker threads) and only normalises and pads them.
ImageBatch preprocess(const std::vector<torch::Tensor>& images, const Config& config, bool resize = true);

// Boxes [K, 4] (x1, y1, x2, y2) of an image of size `from` (h, w) mapped onto the same image at
// size `to`, with torchvision's float32 ratios to / from (targets into the resized image,
// detections back to the original).
torch::Tensor resize_boxes(const torch::Tensor& boxes, std::pair<int64_t, int64_t> from,
                           std::pair<int64_t, int64_t> to);

}  // namespace mrcnn::model
