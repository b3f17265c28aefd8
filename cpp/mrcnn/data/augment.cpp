#include "mrcnn/data/augment.h"

#include "mrcnn/core/opencv.h"

#if MRCNN_WITH_OPENCV
#include <opencv2/imgproc.hpp>
#endif

#include <cmath>
#include <stdexcept>

#include "mrcnn/model/transform.h"

namespace mrcnn::data {

namespace {

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
bool chance(std::mt19937_64& rng, double p) { return p > 0 && uniform(rng, 0, 1) < p; }

#if MRCNN_WITH_OPENCV
cv::Mat image_mat(torch::Tensor& image) {
  return cv::Mat(static_cast<int>(image.size(0)), static_cast<int>(image.size(1)), CV_8UC3, image.data_ptr<uint8_t>());
}
#endif

// Resizes the RGB uint8 image [H, W, 3] to h x w (bilinear).
torch::Tensor resize_image(torch::Tensor& image, int64_t h, int64_t w) {
#if MRCNN_WITH_OPENCV
  torch::Tensor out = torch::empty({h, w, 3}, torch::kByte);
  cv::Mat dst = image_mat(out);
  cv::resize(image_mat(image), dst, dst.size(), 0, 0, cv::INTER_LINEAR);
  return out;
#else
  // torch's bilinear resize (half-pixel centres, as OpenCV's; it rounds a little differently)
  namespace F = torch::nn::functional;
  const torch::Tensor nchw = image.permute({2, 0, 1}).unsqueeze(0).contiguous(torch::MemoryFormat::ChannelsLast);
  const auto options = F::InterpolateFuncOptions()
                           .size(std::vector<int64_t>{h, w})
                           .mode(torch::kBilinear)
                           .align_corners(false);
  return F::interpolate(nchw, options)[0].permute({1, 2, 0}).contiguous();
#endif
}

// Resizes every mask to h x w (nearest neighbour).
torch::Tensor resize_masks(const torch::Tensor& masks, int64_t h, int64_t w) {
  const int64_t n = masks.size(0);
#if !MRCNN_WITH_OPENCV
  // the source pixel floor(dst * src / dst_size), as OpenCV's INTER_NEAREST
  if (n == 0) return torch::empty({0, h, w}, torch::kByte);
  namespace F = torch::nn::functional;
  const auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kNearest);
  return F::interpolate(masks.unsqueeze(1), options).squeeze(1).contiguous();
#else
  torch::Tensor out = torch::empty({n, h, w}, torch::kByte);
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor src = masks[i];
    cv::Mat in(static_cast<int>(src.size(0)), static_cast<int>(src.size(1)), CV_8UC1, src.data_ptr<uint8_t>());
    cv::Mat dst(static_cast<int>(h), static_cast<int>(w), CV_8UC1, out[i].data_ptr<uint8_t>());
    cv::resize(in, dst, dst.size(), 0, 0, cv::INTER_NEAREST);
  }
  return out;
#endif
}

void crop_sample(Sample& s, int64_t y, int64_t x, int64_t h, int64_t w) {
  s.image = s.image.narrow(0, y, h).narrow(1, x, w).contiguous();
  s.masks = s.masks.narrow(1, y, h).narrow(2, x, w).contiguous();
}

}  // namespace

bool AugmentOptions::any() const {
  return fliplr > 0 || flipud > 0 || rot90 > 0 || scale_min != 1 || scale_max != 1 || crop < 1 || brightness > 0 ||
         contrast > 0 || saturation > 0 || hue > 0 || blur > 0;
}

void AugmentOptions::validate() const {
  auto prob = [](double v, const char* name) {
    if (!(v >= 0 && v <= 1)) throw std::invalid_argument(std::string("augmentation: ") + name + " must be in [0, 1], got " + std::to_string(v));
  };
  prob(fliplr, "fliplr");
  prob(flipud, "flipud");
  prob(rot90, "rot90");
  prob(blur, "blur");
  prob(brightness, "brightness");
  prob(contrast, "contrast");
  prob(saturation, "saturation");
  if (!(scale_min > 0 && scale_max >= scale_min && scale_max <= 8))
    throw std::invalid_argument("augmentation: scale must be (min, max) with 0 < min <= max <= 8, got (" +
                                std::to_string(scale_min) + ", " + std::to_string(scale_max) + ")");
  if (!(crop > 0 && crop <= 1)) throw std::invalid_argument("augmentation: crop must be in (0, 1], got " + std::to_string(crop));
  if (!(hue >= 0 && hue <= 180)) throw std::invalid_argument("augmentation: hue must be in [0, 180] degrees, got " + std::to_string(hue));
  if (!(blur_sigma >= 0.3 && blur_sigma <= 20))
    throw std::invalid_argument("augmentation: blur_sigma must be in [0.3, 20], got " + std::to_string(blur_sigma));
  if (!core::kWithOpenCV && (brightness > 0 || contrast > 0 || saturation > 0 || hue > 0 || blur > 0))
    core::needs_opencv("photometric augmentation (brightness, contrast, saturation, hue, blur)");
}

void resize_sample(Sample& s, const model::Config& config, double scale, std::mt19937_64* rng) {
  const int64_t h = s.image.size(0), w = s.image.size(1);
  auto [rh, rw] = model::resized_size(config, h, w);
  if (scale != 1) {
    rh = std::max<int64_t>(1, std::llround(static_cast<double>(rh) * scale));
    rw = std::max<int64_t>(1, std::llround(static_cast<double>(rw) * scale));
  }
  if (rh != h || rw != w) {
    s.image = resize_image(s.image, rh, rw);
    s.masks = resize_masks(s.masks, rh, rw);
  }
  if (config.IMAGE_RESIZE_MODE == "crop") {
    const int64_t side = config.IMAGE_MIN_DIM;
    const int64_t ch = std::min(side, rh), cw = std::min(side, rw);
    const int64_t y = rng ? std::uniform_int_distribution<int64_t>(0, rh - ch)(*rng) : (rh - ch) / 2;
    const int64_t x = rng ? std::uniform_int_distribution<int64_t>(0, rw - cw)(*rng) : (rw - cw) / 2;
    crop_sample(s, y, x, ch, cw);
  }
}

void augment(Sample& s, const AugmentOptions& o, std::mt19937_64& rng) {
  if (chance(rng, o.fliplr)) {
    s.image = s.image.flip({1}).contiguous();
    s.masks = s.masks.flip({2}).contiguous();
  }
  if (chance(rng, o.flipud)) {
    s.image = s.image.flip({0}).contiguous();
    s.masks = s.masks.flip({1}).contiguous();
  }
  if (chance(rng, o.rot90)) {
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 3)(rng);
    s.image = torch::rot90(s.image, k, {0, 1}).contiguous();
    s.masks = torch::rot90(s.masks, k, {1, 2}).contiguous();
  }
  if (o.crop < 1) {
    const int64_t h = s.image.size(0), w = s.image.size(1);
    const int64_t ch = std::max<int64_t>(1, std::llround(h * uniform(rng, o.crop, 1)));
    const int64_t cw = std::max<int64_t>(1, std::llround(w * uniform(rng, o.crop, 1)));
    const int64_t y = std::uniform_int_distribution<int64_t>(0, h - ch)(rng);
    const int64_t x = std::uniform_int_distribution<int64_t>(0, w - cw)(rng);
    crop_sample(s, y, x, ch, cw);
  }
  const bool colour = o.brightness > 0 || o.contrast > 0 || o.saturation > 0 || o.hue > 0;
#if !MRCNN_WITH_OPENCV
  if (colour || o.blur > 0) core::needs_opencv("photometric augmentation (brightness, contrast, saturation, hue, blur)");
#else
  if (colour && o.contrast <= 0 && o.saturation <= 0 && o.hue <= 0) {
    // brightness alone: one saturating pass over the bytes (the same rounding as the float path)
    cv::Mat im = image_mat(s.image);
    im.convertTo(im, CV_8UC3, 1.0, uniform(rng, -o.brightness, o.brightness) * 255.0);
  } else if (colour) {
    cv::Mat im = image_mat(s.image);
    cv::Mat f;
    im.convertTo(f, CV_32FC3);
    if (o.brightness > 0) f += cv::Scalar::all(uniform(rng, -o.brightness, o.brightness) * 255.0);
    if (o.contrast > 0) {
      const double a = uniform(rng, 1 - o.contrast, 1 + o.contrast);
      cv::Mat grey;
      cv::cvtColor(f, grey, cv::COLOR_RGB2GRAY);
      const double mean = cv::mean(grey)[0];
      f = f * a + cv::Scalar::all(mean * (1 - a));
    }
    if (o.saturation > 0) {
      const double a = uniform(rng, 1 - o.saturation, 1 + o.saturation);
      cv::Mat grey, grey3;
      cv::cvtColor(f, grey, cv::COLOR_RGB2GRAY);
      cv::cvtColor(grey, grey3, cv::COLOR_GRAY2RGB);
      f = f * a + grey3 * (1 - a);
    }
    if (o.hue > 0) {
      const double shift = uniform(rng, -o.hue, o.hue);
      cv::Mat hsv;
      cv::max(f, 0, f);
      cv::min(f, 255, f);
      cv::cvtColor(f / 255.0, hsv, cv::COLOR_RGB2HSV);  // float: H in [0, 360)
      std::vector<cv::Mat> ch;
      cv::split(hsv, ch);
      ch[0] += shift;
      cv::Mat neg = ch[0] < 0, over = ch[0] >= 360;
      cv::add(ch[0], 360, ch[0], neg);
      cv::subtract(ch[0], 360, ch[0], over);
      cv::merge(ch, hsv);
      cv::cvtColor(hsv, f, cv::COLOR_HSV2RGB);
      f *= 255.0;
    }
    f.convertTo(im, CV_8UC3);  // saturating, rounded
  }
  if (chance(rng, o.blur)) {
    const double sigma = uniform(rng, 0.3, o.blur_sigma);
    cv::Mat im = image_mat(s.image);
    cv::GaussianBlur(im, im, cv::Size(0, 0), sigma);
  }
#endif
}

void make_targets(Sample& s) {
  const int64_t n = s.masks.size(0);
  TORCH_CHECK_VALUE(s.class_ids.numel() == n, "sample has ", n, " masks but ", s.class_ids.numel(), " class ids");
  torch::Tensor area;
  s.boxes = mask_boxes(s.masks, &area);
  const torch::Tensor keep = (area > 0).logical_and(s.class_ids > 0);
  if (!keep.all().item<bool>()) {
    const torch::Tensor idx = keep.nonzero().view({-1});
    s.masks = s.masks.index_select(0, idx).contiguous();
    s.class_ids = s.class_ids.index_select(0, idx);
    s.boxes = s.boxes.index_select(0, idx);
  }
}

}  // namespace mrcnn::data
