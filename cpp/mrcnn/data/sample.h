// One training sample (an image with its instance masks) and where samples come from.
//
// A SampleSource hands out samples by index. AnnotatedSource is the built-in one: the records of
// annotation sets (annotations.h), image and mask files decoded in C++. The Python bindings add a
// source that calls a Python Dataset's load_image / load_mask.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mrcnn/codecs/rle.h"
#include "mrcnn/data/annotations.h"

namespace mrcnn::data {

struct Sample {
  torch::Tensor image;      // uint8 [H, W, 3] RGB, contiguous
  torch::Tensor masks;      // uint8 [N, H, W] 0/1, contiguous
  torch::Tensor class_ids;  // int64 [N]; negative ids mark crowd regions (Matterport's convention)
  torch::Tensor boxes;      // float [N, 4] (x1, y1, x2, y2), x2/y2 exclusive; filled by make_targets
  uint64_t seed = 0;        // the loader's seed for this sample (its place in the sample stream)
};

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int64_t size() const = 0;
  // Throws (std::exception) with a message saying what is wrong; the loader adds the reference.
  virtual Sample load(int64_t index) = 0;
  // A file path or id naming sample `index` in messages.
  virtual std::string reference(int64_t index) const = 0;
};

// Maps a record's instances to a Dataset's class ids: "<source>.<class_id>" -> id (Matterport's
// Dataset.class_from_source_map).
using ClassMap = std::unordered_map<std::string, int64_t>;

// The Dataset class id of each instance of `record` (negative for crowds, Matterport's convention);
// std::invalid_argument naming the image and class when the map lacks one.
std::vector<int64_t> record_class_ids(const AnnotationSet& set, const ImageRecord& record, const ClassMap& class_map);

// Reads a mask file's pixels as an integer [H, W] tensor; read_mask_file is OpenCV's, bindings may give another.
using MaskFileReader = std::function<torch::Tensor(const std::string& path)>;

// The masks (uint8 [N, h, w] 0/1) and class ids (int64 [N]) of an h x w image's record, instances
// in record order; `class_ids` from record_class_ids. A mask file may give several instances
// (MaskFile::label < 0), each of its instance's class.
std::pair<torch::Tensor, torch::Tensor> record_masks(const ImageRecord& record, int64_t h, int64_t w,
                                                     const std::vector<int64_t>& class_ids,
                                                     const MaskFileReader& read_file);

// The built-in source: records of annotation sets, images decoded with OpenCV and masks decoded in
// C++, safe to call from several threads at once. samples[i] is (set, record index).
class AnnotatedSource : public SampleSource {
 public:
  using Entry = std::pair<std::shared_ptr<const AnnotationSet>, int64_t>;
  // Throws std::invalid_argument for a record index out of range or an unmapped class.
  AnnotatedSource(std::vector<Entry> samples, const ClassMap& class_map);
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  Sample load(int64_t index) override;
  std::string reference(int64_t index) const override;

 private:
  const ImageRecord& record(int64_t index) const;
  std::vector<Entry> samples_;
  std::vector<std::vector<int64_t>> class_ids_;  // per sample, per instance
};

// An image file as RGB uint8 [H, W, 3]: grayscale replicated, alpha dropped, 16-bit scaled to 8.
// Throws std::invalid_argument naming the file when it is missing, empty or cannot be decoded.
// Without OpenCV's C++ library (a build with MRCNN_OPENCV=0) it raises std::runtime_error saying so.
torch::Tensor read_image(const std::string& path);

// Whether this build decodes image and mask files in C++ (OpenCV's C++ library is built in).
bool with_opencv();

// A mask file's pixels as uint8 (8-bit files) or int32 (16-bit) [H, W] (the first three channels' maximum for colour files; alpha
// ignored); std::invalid_argument naming the file when it is missing, empty or not an image.
// Without OpenCV's C++ library it raises std::runtime_error saying so.
torch::Tensor read_mask_file(const std::string& path);

// The instances a mask file's pixels (an integer [H, W]) give on an h x w image (uint8 [K, h, w] 0/1):
// resized to h x w as OpenCV's nearest neighbour does, then label 0: the non-zero pixels; > 0: the
// pixels of that value; < 0: one instance per distinct non-zero value, in increasing order.
torch::Tensor mask_file_instances(const torch::Tensor& pixels, int64_t label, int64_t h, int64_t w);

// Boxes (x1, y1, x2, y2) enclosing each mask, x2 / y2 one past the last pixel (Matterport's
// extract_bboxes convention); all zeros for an empty mask. `areas`, when given, receives each
// mask's pixel count (int64 [N]) from the same pass.
torch::Tensor mask_boxes(const torch::Tensor& masks, torch::Tensor* areas = nullptr);

}  // namespace mrcnn::data
