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

// Size an image of h x w takes after the configured resize (IMAGE_RESIZE_MODE).
//   torchvision: scale = min(MIN_DIM / short side, MAX_DIM / long side) in float32, sides floored
//   square / pad64 / none: Matterport's rules (scale up to MIN_DIM, cap at MAX_DIM in square mode)
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
