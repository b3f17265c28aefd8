// Annotation files into image records with per-instance COCO RLE masks: COCO JSON (polygons,
// RLE, uncompressed RLE, crowds), VIA 1.x / 2.x region JSON (every VIA shape) and Kaggle RLE CSV.
// Datasets of mask files (Open Images, mask folders) give the same records, their instances
// naming the files.
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

// A mask image file (PNG) holding an instance: Open Images and the Data Science Bowl store one
// instance per file, PennFudan one file per image whose pixel values 1..K are its instances.
struct MaskFile {
  std::string path;
  int64_t label = 0;  // 0: the file's non-zero pixels; > 0: the pixels of this value; < 0: every
                      // distinct non-zero value is an instance (in increasing order)
};

struct Instance {
  int64_t class_id = 0;  // the file's own category id (COCO) or class index (VIA, CSV, mask files; from 1)
  bool crowd = false;
  codecs::Rle mask;      // the mask, unless it lives in a file:
  MaskFile file;         // file.path non-empty: the mask is read from this file when the image loads
  std::array<double, 4> bbox{0, 0, 0, 0};  // x, y, width, height of the mask (zeros for a mask file)
};

// One image of an annotation set: what the dataset lists and what the loader reads.
struct ImageRecord {
  std::string id;    // COCO image id, VIA filename, CSV ImageId, mask folder or Open Images id
  std::string path;  // image_dir / file name
  int64_t height = 0, width = 0;  // 0: known only once the image is read (mask-file datasets)
  std::vector<Instance> instances;
};

// A parsed annotation file (or mask folder). A Python Dataset holds it as a handle
// (mrcnn._C.data.AnnotationSet) and the loader reads it directly.
struct AnnotationSet {
  std::string source;  // the Dataset source it was added as: its class ids are "<source>.<class_id>"
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
