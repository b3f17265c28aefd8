// One training sample (an image with its instance masks) and where samples come from.
//
// A SampleSource hands out samples by index. AnnotatedSource is the built-in one: image files
// decoded with OpenCV and instance masks decoded from COCO RLEs, all in C++ and safe to call from
// several threads at once. The Python bindings add a source that calls a Python Dataset's
// load_image / load_mask.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mrcnn/codecs/rle.h"

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

// An image of the built-in loaders: its file and its instances as RLEs with their class ids
// (already mapped to the dataset's contiguous ids; negative for crowds).
// A mask PNG of an image (Open Images, Data Science Bowl, PennFudan layouts). Colour files count
// their first three channels' maximum; files of another size than the image are resized to it
// (nearest neighbour).
struct MaskFile {
  std::string path;
  int64_t label = 0;     // 0: the non-zero pixels are one instance; > 0: the pixels of this value;
                         // < 0: every distinct non-zero value is an instance (in increasing order)
  int64_t class_id = 0;  // of each instance the file gives
};

struct AnnotatedImage {
  std::string path;
  int64_t height = 0, width = 0;  // 0: take the decoded image's size (then every RLE must match it)
  std::vector<codecs::Rle> masks;
  std::vector<int64_t> class_ids;  // of the RLE masks
  std::vector<MaskFile> mask_files;  // instances after the RLE ones
};

class AnnotatedSource : public SampleSource {
 public:
  explicit AnnotatedSource(std::vector<AnnotatedImage> images) : images_(std::move(images)) {}
  int64_t size() const override { return static_cast<int64_t>(images_.size()); }
  Sample load(int64_t index) override;
  std::string reference(int64_t index) const override;

 private:
  std::vector<AnnotatedImage> images_;
};

// An image file as RGB uint8 [H, W, 3]: grayscale replicated, alpha dropped, 16-bit scaled to 8.
// Throws std::invalid_argument naming the file when it is missing, empty or cannot be decoded.
// Without OpenCV's C++ library (a build with MRCNN_OPENCV=0) it raises std::runtime_error saying so.
torch::Tensor read_image(const std::string& path);

// Whether this build decodes image and mask files in C++ (OpenCV's C++ library is built in).
bool with_opencv();

// Decodes COCO RLEs of an h x w image into uint8 [N, h, w].
torch::Tensor decode_masks(const std::vector<codecs::Rle>& rles, int64_t h, int64_t w);

// Boxes (x1, y1, x2, y2) enclosing each mask, x2 / y2 one past the last pixel (Matterport's
// extract_bboxes convention); all zeros for an empty mask. `areas`, when given, receives each
// mask's pixel count (int64 [N]) from the same pass.
torch::Tensor mask_boxes(const torch::Tensor& masks, torch::Tensor* areas = nullptr);

}  // namespace mrcnn::data
