#include "mrcnn/data/sample.h"

#include "mrcnn/core/opencv.h"

#if MRCNN_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

namespace mrcnn::data {

namespace {

// A JPEG cut short (an interrupted download or copy) still decodes, its lower part grey, with
// only a message from libjpeg on stderr: a JPEG without its end-of-image marker near the end of
// the file (a little trailing data is allowed) is reported instead.
bool jpeg_truncated(const std::vector<uint8_t>& d) {
  if (d.size() < 4 || d[0] != 0xFF || d[1] != 0xD8) return false;
  const size_t from = d.size() > 1024 ? d.size() - 1024 : 2;
  for (size_t i = d.size() - 1; i > from; --i)
    if (d[i - 1] == 0xFF && d[i] == 0xD9) return false;
  return true;
}

}  // namespace

bool with_opencv() { return core::kWithOpenCV; }

torch::Tensor read_image(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::invalid_argument("image file not found: " + path);
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes == 0) throw std::invalid_argument("image file is empty: " + path);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> data(bytes);
  if (!in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes)))
    throw std::invalid_argument("cannot read image file " + path);
  if (jpeg_truncated(data))
    throw std::invalid_argument("image file " + path + " is truncated (its JPEG data stops before the end marker)");
#if !MRCNN_WITH_OPENCV
  core::needs_opencv("decoding image file " + path + " in C++");
#else
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
#endif
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

#if MRCNN_WITH_OPENCV
namespace {

// A mask PNG as one uint16 channel of the image's size.
cv::Mat read_mask_file(const std::string& path, int64_t h, int64_t w) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::invalid_argument("mask file not found: " + path);
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw std::invalid_argument("cannot decode mask file " + path + " (corrupt or not an image)");
  if (m.channels() > 1) {  // colour: the brightest of the first three channels (alpha ignored)
    std::vector<cv::Mat> ch;
    cv::split(m, ch);
    cv::Mat top = ch[0];
    for (int c = 1; c < std::min(3, m.channels()); ++c) top = cv::max(top, ch[static_cast<size_t>(c)]);
    m = top;
  }
  if (m.depth() != CV_16U) m.convertTo(m, CV_16U);
  if (m.rows != h || m.cols != w) {
    cv::Mat r;
    cv::resize(m, r, cv::Size(static_cast<int>(w), static_cast<int>(h)), 0, 0, cv::INTER_NEAREST);
    m = r;
  }
  return m;
}

}  // namespace
#endif  // MRCNN_WITH_OPENCV

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
  if (!a.mask_files.empty()) {
#if !MRCNN_WITH_OPENCV
    core::needs_opencv("reading mask file " + a.mask_files[0].path);
#else
    std::vector<torch::Tensor> masks{s.masks};
    std::vector<int64_t> ids(a.class_ids);
    std::map<std::string, cv::Mat> files;  // each file read once (instance-id PNGs serve several)
    for (const MaskFile& f : a.mask_files) {
      auto it = files.find(f.path);
      if (it == files.end()) it = files.emplace(f.path, read_mask_file(f.path, h, w)).first;
      const cv::Mat& m = it->second;
      std::vector<int64_t> labels;
      if (f.label >= 0) {
        labels.push_back(f.label);
      } else {
        std::vector<uint8_t> seen(65536, 0);
        for (int y = 0; y < m.rows; ++y) {
          const uint16_t* row = m.ptr<uint16_t>(y);
          for (int x = 0; x < m.cols; ++x) seen[row[x]] = 1;
        }
        for (int64_t v = 1; v < 65536; ++v)
          if (seen[static_cast<size_t>(v)]) labels.push_back(v);
      }
      for (int64_t label : labels) {
        torch::Tensor t = torch::empty({1, h, w}, torch::kByte);
        cv::Mat out(static_cast<int>(h), static_cast<int>(w), CV_8UC1, t.data_ptr<uint8_t>());
        if (label == 0)
          out = m != 0;  // assigns into t's memory: same size and type
        else
          out = m == static_cast<double>(label);
        out /= 255;
        TORCH_CHECK(out.data == t.data_ptr<uint8_t>(), "mask file ", f.path, ": OpenCV reallocated the output");
        masks.push_back(t);
        ids.push_back(f.class_id);
      }
    }
    s.masks = torch::cat(masks, 0);
    s.class_ids = torch::tensor(ids, torch::kLong).reshape({-1});
#endif
  }
  return s;
}

std::string AnnotatedSource::reference(int64_t index) const {
  if (index < 0 || index >= size()) return "#" + std::to_string(index);
  return images_[static_cast<size_t>(index)].path;
}

}  // namespace mrcnn::data
