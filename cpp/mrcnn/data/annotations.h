// Annotation files into image records with per-instance COCO RLE masks: COCO JSON (polygons,
// RLE, uncompressed RLE, crowds) and VIA 1.x / 2.x region JSON (every VIA shape).
//
// Bad entries never stop a load: under the default policy an image or instance that cannot be
// used is skipped and a warning naming it (file, image, annotation id) is recorded; the "raise"
// policy throws std::invalid_argument with the same message instead.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mrcnn/codecs/rle.h"

namespace mrcnn::data {

struct Instance {
  int64_t class_id = 0;  // the file's own category id (COCO) or class index (VIA, from 1)
  bool crowd = false;
  codecs::Rle mask;
  std::array<double, 4> bbox{0, 0, 0, 0};  // x, y, width, height of the mask
};

struct ImageRecord {
  std::string id;    // COCO image id or VIA filename
  std::string path;  // image_dir / file name
  int64_t height = 0, width = 0;
  std::vector<Instance> instances;
};

struct AnnotationSet {
  std::vector<std::pair<int64_t, std::string>> classes;  // (id, name) in file order
  std::vector<ImageRecord> images;
  std::vector<std::string> warnings;  // what was skipped, and why
};

enum class BadDataPolicy { kSkip, kRaise };

AnnotationSet load_coco(const std::string& json_path, const std::string& image_dir,
                        BadDataPolicy policy = BadDataPolicy::kSkip);

// class_attribute: the region attribute that names the class ("" -> every region is class 1,
// named default_class). Its value may be a string or VIA's checkbox dict {"name": true}.
// Image sizes come from the image files' headers (JPEG, PNG) or, failing that, from decoding.
AnnotationSet load_via(const std::string& json_path, const std::string& image_dir, const std::string& class_attribute,
                       const std::string& default_class = "object", BadDataPolicy policy = BadDataPolicy::kSkip);

// Kaggle / iMaterialist RLE CSV: columns ImageId, EncodedPixels, Height, Width, ClassId (2019:
// "6_28_77" = class 6 with attributes 28 and 77; 2020: plain ClassId plus AttributesIds). Rows of
// one ImageId form one image; the file is image_dir/ImageId, with .jpg/.png/.jpeg appended when
// ImageId has no extension. Classes come from label_json's "categories" (id, name) when given,
// else from the ClassIds seen ("class_<id>"). Without a ClassId column every mask is class 1.
AnnotationSet load_rle_csv(const std::string& csv_path, const std::string& image_dir, const std::string& label_json,
                           BadDataPolicy policy = BadDataPolicy::kSkip);

// (height, width) of an image file from its header; (0, 0) when the format is not recognised.
std::pair<int64_t, int64_t> image_size_from_header(const std::string& path);

}  // namespace mrcnn::data
