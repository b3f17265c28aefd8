#include "mrcnn/data/sample.h"

#include "mrcnn/core/opencv.h"

#if MRCNN_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <tuple>

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

// The bytes of an image or mask file (`what`); std::invalid_argument naming it when it is missing
// or empty. Read here rather than by OpenCV, which only says "empty" for every failure.
std::vector<uint8_t> file_bytes(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::invalid_argument(what + " file not found: " + path);
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes == 0) throw std::invalid_argument(what + " file is empty: " + path);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> data(bytes);
  if (!in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes)))
    throw std::invalid_argument("cannot read " + what + " file " + path);
  return data;
}

#if MRCNN_WITH_OPENCV
// A file's bytes decoded by OpenCV as they are stored (any depth and channel count);
// std::invalid_argument naming the `what` file when they are not an image.
cv::Mat decode(const std::vector<uint8_t>& data, const std::string& path, const std::string& what) {
  cv::Mat m;
  try {
    m = cv::imdecode(data, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw std::invalid_argument("cannot decode " + what + " file " + path + ": " + e.what());
  }
  if (m.empty()) throw std::invalid_argument("cannot decode " + what + " file " + path + " (corrupt or not an image)");
  return m;
}
#endif

}  // namespace

bool with_opencv() { return core::kWithOpenCV; }

torch::Tensor read_image(const std::string& path) {
  const std::vector<uint8_t> data = file_bytes(path, "image");
  if (jpeg_truncated(data))
    throw std::invalid_argument("image file " + path + " is truncated (its JPEG data stops before the end marker)");
#if !MRCNN_WITH_OPENCV
  core::needs_opencv("decoding image file " + path + " in C++");
#else
  cv::Mat im = decode(data, path, "image");
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

namespace {

// Decodes RLE number `i` of an h x w image into dst (h * w bytes), checking its size and runs.
void decode_into(const codecs::Rle& r, size_t i, uint8_t* dst, int64_t h, int64_t w) {
  if (r.h != h || r.w != w)
    throw std::invalid_argument("mask " + std::to_string(i) + " is " + std::to_string(r.h) + "x" + std::to_string(r.w) +
                                " but the image is " + std::to_string(h) + "x" + std::to_string(w));
  codecs::rle_validate(r, "mask " + std::to_string(i));
  codecs::rle_decode(r, dst, w, 1);
}

}  // namespace

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

torch::Tensor read_mask_file(const std::string& path) {
  const std::vector<uint8_t> data = file_bytes(path, "mask");
#if !MRCNN_WITH_OPENCV
  core::needs_opencv("decoding mask file " + path + " in C++");
#else
  cv::Mat m = decode(data, path, "mask");
  if (m.depth() != CV_8U && m.depth() != CV_16U)
    throw std::invalid_argument("mask file " + path + " is not 8- or 16-bit");
  if (m.channels() > 1) {  // colour: the brightest of the first three channels (alpha ignored)
    std::vector<cv::Mat> ch;
    cv::split(m, ch);
    cv::Mat top = ch[0];
    for (int c = 1; c < std::min(3, m.channels()); ++c) top = cv::max(top, ch[static_cast<size_t>(c)]);
    m = top;
  }
  // 8-bit files stay bytes (the common case, and half the work of what follows); 16-bit become int32
  const bool bytes = m.depth() == CV_8U;
  torch::Tensor out = torch::empty({m.rows, m.cols}, bytes ? torch::kByte : torch::kInt);
  cv::Mat wrapped(m.rows, m.cols, bytes ? CV_8UC1 : CV_32SC1, out.data_ptr());
  m.convertTo(wrapped, bytes ? CV_8U : CV_32S);
  TORCH_CHECK(wrapped.data == out.data_ptr(), "read_mask_file: OpenCV reallocated the output");
  return out;
#endif
}

namespace {

// Source indices of OpenCV's nearest-neighbour resize from n to m samples: min(floor(i / scale), n - 1)
// with scale = m / n in double precision, as cv::resize(..., INTER_NEAREST) computes them.
torch::Tensor nearest_indices(int64_t n, int64_t m) {
  torch::Tensor idx = torch::empty({m}, torch::kLong);
  int64_t* p = idx.data_ptr<int64_t>();
  const double inverse = 1.0 / (static_cast<double>(m) / static_cast<double>(n));
  for (int64_t i = 0; i < m; ++i)
    p[i] = std::min(static_cast<int64_t>(std::floor(static_cast<double>(i) * inverse)), n - 1);
  return idx;
}

// A mask file's pixels (uint8, or any integer type as int32) at h x w.
torch::Tensor resized_pixels(const torch::Tensor& pixels, int64_t h, int64_t w) {
  TORCH_CHECK(pixels.dim() == 2 && pixels.numel() > 0, "mask file pixels must be a non-empty [H, W]");
  torch::Tensor p = pixels.scalar_type() == torch::kByte ? pixels : pixels.to(torch::kInt);
  if (p.size(0) != h) p = p.index_select(0, nearest_indices(p.size(0), h));
  if (p.size(1) != w) p = p.index_select(1, nearest_indices(p.size(1), w));
  return p;
}

// Instance `label` (>= 0) of resized pixels, written into out (uint8 [h, w], viewed as the bool
// the comparison gives).
void mask_file_instance_into(const torch::Tensor& p, int64_t label, torch::Tensor out) {
  torch::Tensor as_bool = out.view(torch::kBool);
  if (label == 0)
    at::ne_out(as_bool, p, 0);
  else
    at::eq_out(as_bool, p, label);
}

}  // namespace

torch::Tensor mask_file_instances(const torch::Tensor& pixels, int64_t label, int64_t h, int64_t w) {
  const torch::Tensor p = resized_pixels(pixels, h, w);
  if (label >= 0) {
    torch::Tensor out = torch::empty({1, h, w}, torch::kByte);
    mask_file_instance_into(p, label, out[0]);
    return out;
  }
  torch::Tensor values = std::get<0>(at::_unique(p.flatten(), /*sorted=*/true));
  values = values.masked_select(values.ne(0));
  return p.unsqueeze(0).eq(values.view({-1, 1, 1})).view(torch::kByte).contiguous();
}

std::vector<int64_t> record_class_ids(const AnnotationSet& set, const ImageRecord& record,
                                      const ClassMap& class_map) {
  std::vector<int64_t> ids;
  ids.reserve(record.instances.size());
  for (const Instance& inst : record.instances) {
    const std::string key = set.source + "." + std::to_string(inst.class_id);
    const auto it = class_map.find(key);
    if (it == class_map.end())
      throw std::invalid_argument("image " + record.path + ": class " + key + " is not among the dataset's classes");
    ids.push_back(inst.crowd ? -it->second : it->second);
  }
  return ids;
}

std::pair<torch::Tensor, torch::Tensor> record_masks(const ImageRecord& record, int64_t h, int64_t w,
                                                     const std::vector<int64_t>& class_ids,
                                                     const MaskFileReader& read_file) {
  const auto& instances = record.instances;
  TORCH_CHECK(class_ids.size() == instances.size(), "record_masks: ", class_ids.size(), " class ids for ",
              instances.size(), " instances");
  // each mask file read (and resized) once: an instance-id PNG serves several instances
  std::map<std::string, torch::Tensor> files;
  auto pixels = [&](const MaskFile& f) -> const torch::Tensor& {
    auto it = files.find(f.path);
    if (it == files.end()) it = files.emplace(f.path, resized_pixels(read_file(f.path), h, w)).first;
    return it->second;
  };
  const bool one_each = std::none_of(instances.begin(), instances.end(), [](const Instance& inst) {
    return !inst.file.path.empty() && inst.file.label < 0;
  });
  if (one_each) {  // one mask per instance, decoded straight into the output
    torch::Tensor out = torch::empty({static_cast<int64_t>(instances.size()), h, w}, torch::kByte);
    for (size_t i = 0; i < instances.size(); ++i) {
      const Instance& inst = instances[i];
      if (inst.file.path.empty())
        decode_into(inst.mask, i, out.data_ptr<uint8_t>() + i * h * w, h, w);
      else
        mask_file_instance_into(pixels(inst.file), inst.file.label, out[static_cast<int64_t>(i)]);
    }
    return {out, torch::tensor(class_ids, torch::kLong).reshape({-1})};
  }
  // files whose every value is an instance: as many masks as the file has values
  std::vector<torch::Tensor> masks;
  std::vector<int64_t> ids;
  for (size_t i = 0; i < instances.size(); ++i) {
    const Instance& inst = instances[i];
    torch::Tensor m;
    if (inst.file.path.empty()) {
      m = torch::empty({1, h, w}, torch::kByte);
      decode_into(inst.mask, i, m.data_ptr<uint8_t>(), h, w);
    } else {
      m = mask_file_instances(pixels(inst.file), inst.file.label, h, w);
    }
    masks.push_back(m);
    ids.insert(ids.end(), static_cast<size_t>(m.size(0)), class_ids[i]);
  }
  return {torch::cat(masks, 0), torch::tensor(ids, torch::kLong).reshape({-1})};
}

AnnotatedSource::AnnotatedSource(std::vector<Entry> samples, const ClassMap& class_map)
    : samples_(std::move(samples)) {
  class_ids_.reserve(samples_.size());
  for (const auto& [set, k] : samples_) {
    if (!set || k < 0 || k >= static_cast<int64_t>(set->images.size()))
      throw std::invalid_argument("AnnotatedSource: record " + std::to_string(k) + " is not in its annotation set (" +
                                  std::to_string(set ? set->images.size() : 0) + " records)");
    class_ids_.push_back(record_class_ids(*set, set->images[static_cast<size_t>(k)], class_map));
  }
}

const ImageRecord& AnnotatedSource::record(int64_t index) const {
  const Entry& e = samples_.at(static_cast<size_t>(index));
  return e.first->images[static_cast<size_t>(e.second)];
}

Sample AnnotatedSource::load(int64_t index) {
  const ImageRecord& r = record(index);
  Sample s;
  s.image = read_image(r.path);
  const int64_t h = s.image.size(0), w = s.image.size(1);
  if (r.height > 0 && r.width > 0 && (r.height != h || r.width != w))
    throw std::invalid_argument("image file " + r.path + " is " + std::to_string(h) + "x" + std::to_string(w) +
                                " but its annotations say " + std::to_string(r.height) + "x" +
                                std::to_string(r.width));
  std::tie(s.masks, s.class_ids) = record_masks(r, h, w, class_ids_[static_cast<size_t>(index)], read_mask_file);
  return s;
}

std::string AnnotatedSource::reference(int64_t index) const {
  if (index < 0 || index >= size()) return "#" + std::to_string(index);
  return record(index).path;
}

}  // namespace mrcnn::data
