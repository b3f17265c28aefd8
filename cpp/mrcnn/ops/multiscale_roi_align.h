#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace mrcnn::ops {

// FPN level of each box (Lin et al., FPN, 2017, eq. 1), as torchvision's LevelMapper:
//   floor(canonical_level + log2(sqrt(area) / canonical_scale) + eps), clamped to [k_min, k_max],
// returned as int64 offsets from k_min. boxes: [K, 4] (x1, y1, x2, y2) in image pixels.
at::Tensor fpn_levels(const at::Tensor& boxes, int64_t k_min, int64_t k_max, int64_t canonical_scale = 224,
                      int64_t canonical_level = 4, double eps = 1e-6);

// Scale of a feature map relative to the image, rounded to a power of two as torchvision does:
// 2^round(log2(feature_size / image_size)) from the first (height) dimension.
double infer_feature_scale(int64_t feature_height, int64_t image_height);

// RoIAlign over FPN levels:
//   features: per level [N, C, H_l, W_l], finest first
//   boxes:    per image [K_i, 4] (x1, y1, x2, y2) in resized-image pixels
//   spatial_scales: per level, feature pixels per image pixel (1 / the level's stride), each a
//             power of two (the levels between the first and last scale's are assigned in order)
// Each box is pooled from the level fpn_levels picks; returns [sum K_i, C, output_h, output_w].
// The model passes its backbone's strides: a level's scale is a property of the network, not of
// the images in the batch.
at::Tensor multiscale_roi_align(const std::vector<at::Tensor>& features, const std::vector<at::Tensor>& boxes,
                                const std::vector<double>& spatial_scales, int64_t output_height,
                                int64_t output_width, int64_t sampling_ratio);

// As torchvision.ops.MultiScaleRoIAlign, which infers each level's scale from its height and
//   image_size: (max height, max width) of the resized images in the batch.
// That guess is right only when the batch's tensor is padded to less than sqrt(2) times the
// tallest image (torchvision's transform); it is wrong for a fixed canvas such as Matterport's
// square mode with landscape images, hence the variant above.
at::Tensor multiscale_roi_align(const std::vector<at::Tensor>& features, const std::vector<at::Tensor>& boxes,
                                const std::vector<int64_t>& image_size, int64_t output_height,
                                int64_t output_width, int64_t sampling_ratio);

// [sum K_i, 5] rows (image_index, x1, y1, x2, y2) from per-image box lists.
at::Tensor boxes_to_rois(const std::vector<at::Tensor>& boxes);

}  // namespace mrcnn::ops
