// Anchor generation with the tensor operations torchvision's AnchorGenerator uses (so the
// float32 values are the same), for any device.
#include "mrcnn/ops/anchors.h"

#include <torch/library.h>

namespace mrcnn::ops {

at::Tensor cell_anchors(const std::vector<double>& sizes, const std::vector<double>& aspect_ratios) {
  TORCH_CHECK_VALUE(!sizes.empty() && !aspect_ratios.empty(), "cell_anchors: sizes and aspect_ratios must not be empty");
  for (double s : sizes) TORCH_CHECK_VALUE(s > 0, "cell_anchors: sizes must be positive, got ", s);
  for (double r : aspect_ratios) TORCH_CHECK_VALUE(r > 0, "cell_anchors: aspect_ratios must be positive, got ", r);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor scales = at::tensor(sizes, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  const at::Tensor ratios = at::tensor(aspect_ratios, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
  const at::Tensor h_ratios = at::sqrt(ratios);
  const at::Tensor w_ratios = 1 / h_ratios;
  const at::Tensor ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
  const at::Tensor hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
  return (at::stack({-ws, -hs, ws, hs}, 1) / 2).round().to(f32);
}

at::Tensor grid_anchors(const at::Tensor& cell, int64_t grid_h, int64_t grid_w, int64_t stride_h, int64_t stride_w) {
  TORCH_CHECK_VALUE(cell.dim() == 2 && cell.size(1) == 4, "grid_anchors: cell must have shape [A, 4], got ",
                    cell.sizes());
  TORCH_CHECK_VALUE(grid_h >= 0 && grid_w >= 0 && stride_h > 0 && stride_w > 0, "grid_anchors: grid ", grid_h, "x",
                    grid_w, " and stride ", stride_h, "x", stride_w, " must be non-negative and positive");
  const auto ints = cell.options().dtype(at::kInt);
  const at::Tensor shifts_x = at::arange(0, grid_w, ints) * stride_w;
  const at::Tensor shifts_y = at::arange(0, grid_h, ints) * stride_h;
  const std::vector<at::Tensor> mesh = at::meshgrid({shifts_y, shifts_x}, "ij");
  const at::Tensor sx = mesh[1].reshape(-1), sy = mesh[0].reshape(-1);
  const at::Tensor shifts = at::stack({sx, sy, sx, sy}, 1);
  return (shifts.view({-1, 1, 4}) + cell.view({1, -1, 4})).reshape({-1, 4});
}

at::Tensor fpn_anchors(const std::vector<std::vector<double>>& sizes,
                       const std::vector<std::vector<double>>& ratios,
                       const std::vector<std::pair<int64_t, int64_t>>& feature_sizes, int64_t image_h,
                       int64_t image_w, const at::TensorOptions& options) {
  TORCH_CHECK_VALUE(sizes.size() == ratios.size() && sizes.size() == feature_sizes.size(), "fpn_anchors: ",
                    sizes.size(), " size lists, ", ratios.size(), " ratio lists and ", feature_sizes.size(),
                    " feature maps: give one of each per level");
  std::vector<at::Tensor> levels;
  for (size_t l = 0; l < sizes.size(); ++l) {
    const auto [gh, gw] = feature_sizes[l];
    TORCH_CHECK_VALUE(gh > 0 && gw > 0, "fpn_anchors: feature map ", l, " is ", gh, "x", gw);
    const at::Tensor cell = cell_anchors(sizes[l], ratios[l]).to(options);
    levels.push_back(grid_anchors(cell, gh, gw, image_h / gh, image_w / gw));
  }
  return at::cat(levels, 0);
}

namespace {

at::Tensor cell_anchors_op(at::ArrayRef<double> sizes, at::ArrayRef<double> aspect_ratios) {
  return cell_anchors(sizes.vec(), aspect_ratios.vec());
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("cell_anchors(float[] sizes, float[] aspect_ratios) -> Tensor", TORCH_FN(cell_anchors_op));
  m.def("grid_anchors(Tensor cell, int grid_h, int grid_w, int stride_h, int stride_w) -> Tensor",
        TORCH_FN(grid_anchors));
}

}  // namespace mrcnn::ops
