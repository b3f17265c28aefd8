#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace mrcnn::ops {

// Anchors centred on (0, 0), one per (aspect ratio, size) pair, ratios outer: [R * S, 4] as
// (x1, y1, x2, y2) float32, rounded to integers as in torchvision's AnchorGenerator.
// An aspect ratio is height / width; each anchor keeps the area size^2.
at::Tensor cell_anchors(const std::vector<double>& sizes, const std::vector<double>& aspect_ratios);

// The cell anchors shifted to every location of a grid_h x grid_w feature map whose cells are
// stride_h x stride_w image pixels: [grid_h * grid_w * A, 4], location-major (row by row), then
// anchor. The anchors take the dtype and device of cell.
at::Tensor grid_anchors(const at::Tensor& cell, int64_t grid_h, int64_t grid_w, int64_t stride_h, int64_t stride_w);

// Anchors of every FPN level for a padded batch of image_h x image_w, concatenated level by level;
// level l has the sizes sizes[l], the ratios ratios[l] and the grid feature_sizes[l] = (h, w), with
// stride image_size // grid size (integer division), as torchvision computes it.
at::Tensor fpn_anchors(const std::vector<std::vector<double>>& sizes,
                       const std::vector<std::vector<double>>& ratios,
                       const std::vector<std::pair<int64_t, int64_t>>& feature_sizes, int64_t image_h,
                       int64_t image_w, const at::TensorOptions& options);

}  // namespace mrcnn::ops
