#include "mrcnn/data/sample.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mrcnn::data {

torch::Tensor read_image(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::invalid_argument("image file not found: " + path);
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes == 0) throw std::invalid_argument("image file is empty: " + path);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> data(bytes);
  if (!in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes)))
    throw std::invalid_argument("cannot read image file " + path);
  cv::Mat im;
  try {
    im = cv::imdecode(data, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw std::invalid_argument("cannot decode image file " + path + ": " + e.what());
  }
  if (im.empty()) throw std::invalid_argument("cannot decode image file " + path + " (corrupt or not an image)");
  if (im.depth() == CV_16U) im.convertTo(im, CV_8U, 1.0 / 257.0);
  if (im.depth() != CV_8U) throw std::invalid_argument("image file " + path + " is not 8- or 16-bit");
  // the colour conversion writes straight into the tensor's memory
  torch::Tensor out = torch::empty({im.rows, im.cols, 3}, torch::kByte);
  cv::Mat rgb(im.rows, im.cols, CV_8UC3, out.data_ptr<uint8_t>());
  switch (im.channels()) {
    case 1: cv::cvtColor(im, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(im, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(im, rgb, cv::COLOR_BGRA2RGB); break;
    default: throw std::invalid_argument("image file " + path + " has " + std::to_string(im.channels()) + " channels");
  }
  TORCH_CHECK(rgb.data == out.data_ptr<uint8_t>(), "read_image: OpenCV reallocated the output");
  return out;
}

torch::Tensor decode_masks(const std::vector<codecs::Rle>& rles, int64_t h, int64_t w) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(rles.size()), h, w}, torch::kByte);
  uint8_t* p = out.data_ptr<uint8_t>();
  for (size_t i = 0; i < rles.size(); ++i) {
    if (rles[i].h != h || rles[i].w != w)
      throw std::invalid_argument("mask " + std::to_string(i) + " is " + std::to_string(rles[i].h) + "x" +
                                  std::to_string(rles[i].w) + " but the image is " + std::to_string(h) + "x" +
                                  std::to_string(w));
    codecs::rle_validate(rles[i], "mask " + std::to_string(i));
    codecs::rle_decode(rles[i], p + i * h * w, w, 1);
  }
  return out;
}

torch::Tensor mask_boxes(const torch::Tensor& masks, torch::Tensor* areas) {
  const int64_t n = masks.size(0), h = masks.size(1), w = masks.size(2);
  torch::Tensor boxes = torch::zeros({n, 4}, torch::kFloat);
  if (areas) *areas = torch::zeros({n}, torch::kLong);
  if (n == 0) return boxes;
  const torch::Tensor m = masks.contiguous();
  const uint8_t* p = m.data_ptr<uint8_t>();
  float* b = boxes.data_ptr<float>();
  int64_t* area = areas ? areas->data_ptr<int64_t>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    int64_t x1 = w, y1 = h, x2 = -1, y2 = -1, count = 0;
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t* row = p + (i * h + y) * w;
      uint32_t on = 0;  // pixels set in this row (masks hold 0/1); a vectorised pass over the row
      for (int64_t x = 0; x < w; ++x) on += row[x] != 0;
      if (on == 0) continue;
      count += on;
      int64_t first = 0, last = w - 1;
      while (!row[first]) ++first;
      while (!row[last]) --last;
      y1 = std::min(y1, y), y2 = y;
      x1 = std::min(x1, first), x2 = std::max(x2, last);
    }
    if (area) area[i] = count;
    if (x2 < 0) continue;
    b[i * 4 + 0] = static_cast<float>(x1);
    b[i * 4 + 1] = static_cast<float>(y1);
    b[i * 4 + 2] = static_cast<float>(x2 + 1);
    b[i * 4 + 3] = static_cast<float>(y2 + 1);
  }
  return boxes;
}

Sample AnnotatedSource::load(int64_t index) {
  const AnnotatedImage& a = images_.at(static_cast<size_t>(index));
  Sample s;
  s.image = read_image(a.path);
  const int64_t h = s.image.size(0), w = s.image.size(1);
  if (a.height > 0 && a.width > 0 && (a.height != h || a.width != w))
    throw std::invalid_argument("image file " + a.path + " is " + std::to_string(h) + "x" + std::to_string(w) +
                                " but its annotations say " + std::to_string(a.height) + "x" +
                                std::to_string(a.width));
  s.masks = decode_masks(a.masks, h, w);
  s.class_ids = torch::tensor(a.class_ids, torch::kLong).reshape({-1});
  return s;
}

std::string AnnotatedSource::reference(int64_t index) const {
  if (index < 0 || index >= size()) return "#" + std::to_string(index);
  return images_[static_cast<size_t>(index)].path;
}

}  // namespace mrcnn::data
