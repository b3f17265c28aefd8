#include "mrcnn/model/transform.h"

#include <cmath>

namespace mrcnn::model {

namespace F = torch::nn::functional;

namespace {

// Python's round(): halves to the even neighbour (the default floating-point rounding mode)
double round_half_even(double v) { return std::nearbyint(v); }

}  // namespace

ResizePlan resize_plan(const Config& config, int64_t h, int64_t w) {
  TORCH_CHECK_VALUE(h > 0 && w > 0, "preprocess: image size must be positive, got ", h, "x", w);
  const std::string& mode = config.IMAGE_RESIZE_MODE;
  const double dh = static_cast<double>(h), dw = static_cast<double>(w);
  if (mode == "torchvision") {
    // As GeneralizedRCNNTransform (torchvision >= 0.15): scale = min(min_size / short side,
    // max_size / long side) in double precision, new sides floor(side * scale).
    const double scale = std::min(static_cast<double>(config.IMAGE_MIN_DIM) / std::min(dh, dw),
                                  static_cast<double>(config.IMAGE_MAX_DIM) / std::max(dh, dw));
    return {scale, static_cast<int64_t>(std::floor(dh * scale)), static_cast<int64_t>(std::floor(dw * scale))};
  }
  if (mode == "none") return {1.0, h, w};
  double scale = 1.0;
  if (config.IMAGE_MIN_DIM > 0) scale = std::max(1.0, static_cast<double>(config.IMAGE_MIN_DIM) / std::min(dh, dw));
  if (config.IMAGE_MIN_SCALE > 0 && scale < config.IMAGE_MIN_SCALE) scale = config.IMAGE_MIN_SCALE;
  const double long_side = std::max(dh, dw);
  if (mode == "square" && config.IMAGE_MAX_DIM > 0 &&
      round_half_even(long_side * scale) > static_cast<double>(config.IMAGE_MAX_DIM))
    scale = static_cast<double>(config.IMAGE_MAX_DIM) / long_side;
  return {scale, std::max<int64_t>(1, static_cast<int64_t>(round_half_even(dh * scale))),
          std::max<int64_t>(1, static_cast<int64_t>(round_half_even(dw * scale)))};
}

std::pair<int64_t, int64_t> resized_size(const Config& config, int64_t h, int64_t w) {
  const ResizePlan p = resize_plan(config, h, w);
  return {p.height, p.width};
}

ImageBatch preprocess(const std::vector<torch::Tensor>& images, const Config& config, bool resize) {
  TORCH_CHECK_VALUE(!images.empty(), "preprocess: no images");
  ImageBatch batch;
  std::vector<torch::Tensor> resized;
  const auto& dev = images[0].device();
  std::vector<double> mean(3), std(3);
  for (int c = 0; c < 3; ++c) mean[c] = config.MEAN_PIXEL[c] / 255.0, std[c] = config.PIXEL_STD[c] / 255.0;
  const torch::Tensor m = torch::tensor(mean, torch::kDouble).to(torch::kFloat).to(dev).view({3, 1, 1});
  const torch::Tensor s = torch::tensor(std, torch::kDouble).to(torch::kFloat).to(dev).view({3, 1, 1});
  for (size_t i = 0; i < images.size(); ++i) {
    torch::Tensor img = images[i];
    TORCH_CHECK_VALUE(img.dim() == 3 && img.size(0) == 3, "preprocess: image ", i,
                      " must have shape [3, H, W], got ", img.sizes());
    TORCH_CHECK_VALUE(img.device() == dev, "preprocess: image ", i, " is on ", img.device(), ", image 0 on ", dev);
    if (img.scalar_type() == torch::kByte) img = img.to(torch::kFloat) / 255;
    TORCH_CHECK_TYPE(img.is_floating_point(), "preprocess: image ", i, " must be float (0..1) or uint8, got ",
                     img.scalar_type());
    const int64_t h = img.size(1), w = img.size(2);
    batch.original_sizes.emplace_back(h, w);
    const auto [rh, rw] = resize ? resized_size(config, h, w) : std::make_pair(h, w);
    torch::Tensor x = (img - m.to(img.scalar_type())) / s.to(img.scalar_type());
    if (rh != h || rw != w)
      x = F::interpolate(x.unsqueeze(0), F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{rh, rw})
                                             .mode(torch::kBilinear)
                                             .align_corners(false))[0];
    batch.sizes.emplace_back(rh, rw);
    resized.push_back(x);
  }
  int64_t H = 0, W = 0;
  for (const auto& [h, w] : batch.sizes) H = std::max(H, h), W = std::max(W, w);
  const std::string& mode = config.IMAGE_RESIZE_MODE;
  if (mode == "square") {
    H = std::max<int64_t>(H, config.IMAGE_MAX_DIM);
    W = std::max<int64_t>(W, config.IMAGE_MAX_DIM);
  }
  const int64_t divisor = mode == "torchvision" ? config.IMAGE_PAD_DIVISOR : 64;
  H = (H + divisor - 1) / divisor * divisor;
  W = (W + divisor - 1) / divisor * divisor;
  batch.tensor = torch::zeros({static_cast<int64_t>(images.size()), 3, H, W}, resized[0].options());
  for (size_t i = 0; i < resized.size(); ++i)
    batch.tensor[i].narrow(1, 0, resized[i].size(1)).narrow(2, 0, resized[i].size(2)).copy_(resized[i]);
  return batch;
}

torch::Tensor resize_boxes(const torch::Tensor& boxes, std::pair<int64_t, int64_t> from,
                           std::pair<int64_t, int64_t> to) {
  const auto opt = boxes.options().dtype(torch::kFloat);
  const torch::Tensor rh = torch::scalar_tensor(static_cast<double>(to.first), opt) /
                           torch::scalar_tensor(static_cast<double>(from.first), opt);
  const torch::Tensor rw = torch::scalar_tensor(static_cast<double>(to.second), opt) /
                           torch::scalar_tensor(static_cast<double>(from.second), opt);
  const auto b = boxes.to(torch::kFloat).unbind(1);
  return torch::stack({b[0] * rw, b[1] * rh, b[2] * rw, b[3] * rh}, 1);
}

}  // namespace mrcnn::model
