#include "mrcnn/ops/multiscale_roi_align.h"

#include <torch/library.h>

#include <cmath>

#include "mrcnn/ops/roi_align.h"

namespace mrcnn::ops {

at::Tensor fpn_levels(const at::Tensor& boxes, int64_t k_min, int64_t k_max, int64_t canonical_scale,
                      int64_t canonical_level, double eps) {
  TORCH_CHECK_VALUE(boxes.dim() == 2 && boxes.size(1) == 4, "fpn_levels: boxes must have shape [K, 4], got ",
                    boxes.sizes());
  TORCH_CHECK_VALUE(k_min <= k_max, "fpn_levels: k_min (", k_min, ") must not exceed k_max (", k_max, ")");
  // The same tensor operations as torchvision, so the float32 rounding is the same.
  const at::Tensor area = (boxes.select(1, 2) - boxes.select(1, 0)) * (boxes.select(1, 3) - boxes.select(1, 1));
  const at::Tensor s = area.sqrt();
  const at::Tensor lvl = at::floor(canonical_level + at::log2(s / canonical_scale) +
                                   at::scalar_tensor(eps, s.options()));
  return at::clamp(lvl, k_min, k_max).to(at::kLong) - k_min;
}

double infer_feature_scale(int64_t feature_height, int64_t image_height) {
  TORCH_CHECK_VALUE(feature_height > 0 && image_height > 0, "multiscale_roi_align: feature height ",
                    feature_height, " and image height ", image_height, " must be positive");
  const float approx = static_cast<float>(static_cast<double>(feature_height) / static_cast<double>(image_height));
  return std::pow(2.0, static_cast<double>(std::nearbyint(std::log2(approx))));
}

at::Tensor boxes_to_rois(const std::vector<at::Tensor>& boxes) {
  TORCH_CHECK_VALUE(!boxes.empty(), "multiscale_roi_align: boxes must list at least one image");
  std::vector<at::Tensor> rows;
  rows.reserve(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i) {
    TORCH_CHECK_VALUE(boxes[i].dim() == 2 && boxes[i].size(1) == 4, "multiscale_roi_align: boxes[", i,
                      "] must have shape [K, 4], got ", boxes[i].sizes());
    const at::Tensor index = at::full({boxes[i].size(0), 1}, static_cast<double>(i), boxes[i].options());
    rows.push_back(at::cat({index, boxes[i]}, 1));
  }
  return at::cat(rows, 0);
}

at::Tensor multiscale_roi_align(const std::vector<at::Tensor>& features, const std::vector<at::Tensor>& boxes,
                                const std::vector<double>& spatial_scales, int64_t output_height,
                                int64_t output_width, int64_t sampling_ratio) {
  TORCH_CHECK_VALUE(!features.empty(), "multiscale_roi_align: features must list at least one level");
  TORCH_CHECK_VALUE(spatial_scales.size() == features.size(), "multiscale_roi_align: spatial_scales must give one ",
                    "scale per level (", features.size(), "), got ", spatial_scales.size());
  for (size_t l = 0; l < features.size(); ++l) {
    TORCH_CHECK_VALUE(features[l].dim() == 4 && features[l].size(1) == features[0].size(1),
                      "multiscale_roi_align: features[", l, "] must have shape [N, ", features[0].size(1),
                      ", H, W], got ", features[l].sizes());
    const double s = spatial_scales[l];
    TORCH_CHECK_VALUE(std::isfinite(s) && s > 0 && std::exp2(std::round(std::log2(s))) == s,
                      "multiscale_roi_align: spatial_scales must be powers of two (1 / stride), got ",
                      at::ArrayRef<double>(spatial_scales));
  }
  const at::Tensor rois = boxes_to_rois(boxes);
  if (features.size() == 1)
    return roi_align(features[0], rois, spatial_scales[0], output_height, output_width, sampling_ratio, false);

  const auto k_min = static_cast<int64_t>(std::lround(-std::log2(spatial_scales.front())));
  const auto k_max = static_cast<int64_t>(std::lround(-std::log2(spatial_scales.back())));
  const at::Tensor levels = fpn_levels(rois.slice(1, 1, 5), k_min, k_max);
  at::Tensor result =
      at::zeros({rois.size(0), features[0].size(1), output_height, output_width}, features[0].options());
  for (size_t l = 0; l < features.size(); ++l) {
    const at::Tensor members = at::where(levels == static_cast<int64_t>(l))[0];
    const at::Tensor pooled = roi_align(features[l], rois.index_select(0, members), spatial_scales[l],
                                        output_height, output_width, sampling_ratio, false);
    result.index_copy_(0, members, pooled.to(result.scalar_type()));  // in place: autograd records it
  }
  return result;
}

at::Tensor multiscale_roi_align(const std::vector<at::Tensor>& features, const std::vector<at::Tensor>& boxes,
                                const std::vector<int64_t>& image_size, int64_t output_height,
                                int64_t output_width, int64_t sampling_ratio) {
  TORCH_CHECK_VALUE(!features.empty(), "multiscale_roi_align: features must list at least one level");
  TORCH_CHECK_VALUE(image_size.size() == 2, "multiscale_roi_align: image_size must be (height, width), got ",
                    image_size.size(), " values");
  std::vector<double> scales;
  for (size_t l = 0; l < features.size(); ++l) {
    TORCH_CHECK_VALUE(features[l].dim() == 4, "multiscale_roi_align: features[", l,
                      "] must have shape [N, C, H, W], got ", features[l].sizes());
    scales.push_back(infer_feature_scale(features[l].size(2), image_size[0]));
  }
  return multiscale_roi_align(features, boxes, scales, output_height, output_width, sampling_ratio);
}

namespace {

at::Tensor multiscale_roi_align_op(at::TensorList features, at::TensorList boxes, at::IntArrayRef image_size,
                                   int64_t output_height, int64_t output_width, int64_t sampling_ratio) {
  return multiscale_roi_align(features.vec(), boxes.vec(), image_size.vec(), output_height, output_width,
                              sampling_ratio);
}

at::Tensor fpn_levels_op(const at::Tensor& boxes, int64_t k_min, int64_t k_max, int64_t canonical_scale,
                         int64_t canonical_level, double eps) {
  return fpn_levels(boxes, k_min, k_max, canonical_scale, canonical_level, eps);
}

at::Tensor multiscale_roi_align_scales_op(at::TensorList features, at::TensorList boxes,
                                          at::ArrayRef<double> spatial_scales, int64_t output_height,
                                          int64_t output_width, int64_t sampling_ratio) {
  return multiscale_roi_align(features.vec(), boxes.vec(), spatial_scales.vec(), output_height, output_width,
                              sampling_ratio);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("multiscale_roi_align(Tensor[] features, Tensor[] boxes, int[] image_size, int output_height, "
        "int output_width, int sampling_ratio) -> Tensor",
        TORCH_FN(multiscale_roi_align_op));
  m.def("multiscale_roi_align.scales(Tensor[] features, Tensor[] boxes, float[] spatial_scales, "
        "int output_height, int output_width, int sampling_ratio) -> Tensor",
        TORCH_FN(multiscale_roi_align_scales_op));
  m.def("fpn_levels(Tensor boxes, int k_min, int k_max, int canonical_scale=224, int canonical_level=4, "
        "float eps=1e-6) -> Tensor",
        TORCH_FN(fpn_levels_op));
}

}  // namespace mrcnn::ops
