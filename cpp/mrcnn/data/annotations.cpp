#include "mrcnn/data/annotations.h"

#include "mrcnn/core/opencv.h"

#if MRCNN_WITH_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "mrcnn/codecs/coco_segmentation.h"
#include "mrcnn/codecs/kaggle_rle.h"
#include "mrcnn/codecs/polygon.h"

namespace mrcnn::data {

namespace {

using codecs::JsonDocument;
using codecs::JsonValue;

// An annotation file parsed by the project's JSON reader.
codecs::JsonText read_annotation_file(const std::string& path) {
  return codecs::JsonText::read_file(path, "annotation file");
}

// A JSON id (number or string) as text: 7 -> "7", "a7" -> "a7".
std::string id_text(const JsonValue& v) {
  if (v.is_string()) return std::string(v.string());
  if (v.is_integer()) return std::to_string(v.integer());
  return v.dump();
}

double number_or(const JsonValue& object, std::string_view key, double fallback) {
  const auto v = object.find(key);
  return v ? v->number() : fallback;
}

std::vector<double> numbers(const JsonValue& list) {
  if (!list.is_array()) throw std::invalid_argument("expected a list of numbers, got " + std::string(list.type_name()));
  std::vector<double> out(list.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = list[i].number();
  return out;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty() || (!name.empty() && name[0] == '/')) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Records a problem: a warning under kSkip, an exception under kRaise.
struct Problems {
  BadDataPolicy policy;
  std::vector<std::string>* warnings;
  void report(const std::string& msg) const {
    if (policy == BadDataPolicy::kRaise) throw std::invalid_argument(msg);
    warnings->push_back(msg);
  }
};

std::array<double, 4> bbox_of(const codecs::Rle& r) { return codecs::rle_to_bbox(r); }

bool is_file(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}

// With an image folder given, drops the images whose file is not there, reported once for all (a
// wrong folder would otherwise give a warning per image, or fail only when training reaches them),
// and those whose file header gives another size than the annotations (reported per image).
// Without one, the annotations are read on their own (statistics, comparisons).
std::set<std::string> drop_missing_images(AnnotationSet& out, const std::string& file, const std::string& image_dir,
                                          const Problems& problems) {
  std::set<std::string> missing;
  if (image_dir.empty()) return missing;
  std::vector<ImageRecord> kept;
  std::string first;
  for (ImageRecord& r : out.images) {
    if (is_file(r.path)) {
      // an annotated size that is not the file's (masks drawn on another copy of the image) would
      // give masks of the wrong size; either orientation passes, as a decoder may apply EXIF rotation
      const auto [h, w] = image_size_from_header(r.path);
      const bool known = h > 0 && w > 0 && r.height > 0 && r.width > 0;
      if (known && !(h == r.height && w == r.width) && !(h == r.width && w == r.height)) {
        problems.report(file + ": image " + r.id + " is annotated as " + std::to_string(r.width) + "x" +
                        std::to_string(r.height) + " but " + r.path + " is " + std::to_string(w) + "x" +
                        std::to_string(h) + "; skipped");
        continue;
      }
      kept.push_back(std::move(r));
      continue;
    }
    if (missing.size() < 3) first += (first.empty() ? "" : ", ") + r.path;
    missing.insert(r.id);
  }
  const size_t total = kept.size() + missing.size();
  out.images = std::move(kept);
  if (!missing.empty()) {
    problems.report(file + ": " + std::to_string(missing.size()) + " of its " + std::to_string(total) +
                    " images are not in the image folder '" + image_dir + "' (" + first +
                    (missing.size() > 3 ? ", ..." : "") + "); skipped");
  }
  return missing;
}

}  // namespace

AnnotationSet load_coco_impl(const std::string& json_path, const std::string& image_dir, BadDataPolicy policy) {
  const codecs::JsonText file = read_annotation_file(json_path);
  const JsonValue doc = file.root();
  AnnotationSet out;
  const Problems problems{policy, &out.warnings};
  if (!doc.is_object() || !doc.contains("images") || !doc.contains("annotations"))
    throw std::invalid_argument(json_path + ": not a COCO annotation file (no 'images' or 'annotations')");
  const JsonValue images = doc.at("images"), annotations = doc.at("annotations");
  if (!images.is_array() || !annotations.is_array())
    throw std::invalid_argument(json_path + ": 'images' and 'annotations' must be lists");
  if (const auto categories = doc.find("categories")) {
    if (!categories->is_array()) throw std::invalid_argument(json_path + ": 'categories' must be a list");
    for (size_t i = 0; i < categories->size(); ++i) {
      const JsonValue c = (*categories)[i];
      try {
        if (!c.is_object()) throw std::invalid_argument(std::string("expected an object, got ") + c.type_name());
        out.classes.emplace_back(c.at("id").integer(), std::string(c.at("name").string()));
      } catch (const std::exception& e) {
        problems.report(json_path + ": category entry " + c.dump() + " is incomplete (" + e.what() + ")");
      }
    }
  }
  if (out.classes.empty() && annotations.size() > 0)  // no annotation could name its class
    throw std::invalid_argument(json_path + ": no usable 'categories' ([{\"id\": ..., \"name\": ...}, ...]), so none "
                                "of its " + std::to_string(annotations.size()) + " annotations has a class");
  std::set<int64_t> categories;
  for (const auto& c : out.classes) categories.insert(c.first);
  std::map<int64_t, size_t> by_id;
  for (size_t i = 0; i < images.size(); ++i) {
    const JsonValue im = images[i];
    ImageRecord r;
    int64_t id = 0;
    try {
      if (!im.is_object()) throw std::invalid_argument(std::string("expected an object, got ") + im.type_name());
      id = im.at("id").integer();
      r.id = std::to_string(id);
      r.path = join(image_dir, std::string(im.at("file_name").string()));
      r.height = im.at("height").integer();
      r.width = im.at("width").integer();
      if (r.height <= 0 || r.width <= 0 || r.height > UINT32_MAX || r.width > UINT32_MAX)
        throw std::invalid_argument("image size " + std::to_string(r.height) + "x" + std::to_string(r.width));
    } catch (const std::exception& e) {
      problems.report(json_path + ": image entry " + im.dump() + " is incomplete (" + e.what() + ")");
      continue;
    }
    const auto [it, added] = by_id.emplace(id, out.images.size());
    if (!added) {
      // annotations name images by id: a second entry with the same id would take the first's
      problems.report(json_path + ": image id " + std::to_string(id) + " appears twice ('" +
                      out.images[it->second].path + "' and '" + r.path + "'); the second entry is skipped and "
                      "the id's annotations stay with the first");
      continue;
    }
    out.images.push_back(std::move(r));
  }
  for (size_t i = 0; i < annotations.size(); ++i) {
    const JsonValue a = annotations[i];
    const auto id = a.is_object() ? a.find("id") : std::nullopt;
    const std::string aid = id ? id_text(*id) : "?";
    try {
      if (!a.is_object()) throw std::invalid_argument(std::string("expected an object, got ") + a.type_name());
      const int64_t image_id = a.at("image_id").integer();
      const auto it = by_id.find(image_id);
      if (it == by_id.end()) throw std::invalid_argument("image_id " + std::to_string(image_id) + " is not in 'images'");
      ImageRecord& r = out.images[it->second];
      Instance inst;
      inst.class_id = a.at("category_id").integer();
      if (!categories.empty() && !categories.count(inst.class_id))
        throw std::invalid_argument("category_id " + std::to_string(inst.class_id) + " is not in 'categories'");
      if (const auto crowd = a.find("iscrowd")) inst.crowd = crowd->is_bool() ? crowd->boolean() : crowd->number() != 0;
      inst.mask = codecs::coco_segmentation(a.at("segmentation"), static_cast<uint32_t>(r.height),
                                            static_cast<uint32_t>(r.width));
      inst.bbox = bbox_of(inst.mask);
      r.instances.push_back(std::move(inst));
    } catch (const std::exception& e) {
      problems.report(json_path + ": annotation " + aid + " skipped: " + e.what());
    }
  }
  drop_missing_images(out, json_path, image_dir, problems);
  return out;
}

std::pair<int64_t, int64_t> image_size_from_header(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {0, 0};
  unsigned char head[32] = {0};
  f.read(reinterpret_cast<char*>(head), sizeof(head));
  if (f.gcount() >= 24 && head[0] == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
    auto be32 = [&](int o) { return (int64_t(head[o]) << 24) | (head[o + 1] << 16) | (head[o + 2] << 8) | head[o + 3]; };
    return {be32(20), be32(16)};
  }
  if (f.gcount() >= 4 && head[0] == 0xFF && head[1] == 0xD8) {
    // walk the JPEG markers to the first start-of-frame
    f.clear();
    f.seekg(2);
    for (int guard = 0; guard < 1000 && f; ++guard) {
      int c = f.get();
      if (c != 0xFF) continue;
      int marker = f.get();
      while (marker == 0xFF) marker = f.get();
      if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
      unsigned char len[2];
      if (!f.read(reinterpret_cast<char*>(len), 2)) break;
      const int seg = (len[0] << 8) | len[1];
      const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      if (sof) {
        unsigned char d[5];
        if (!f.read(reinterpret_cast<char*>(d), 5)) break;
        return {(d[1] << 8) | d[2], (d[3] << 8) | d[4]};
      }
      if (seg < 2) break;
      f.seekg(seg - 2, std::ios::cur);
    }
  }
  return {0, 0};
}

AnnotationSet load_via_impl(const std::string& json_path, const std::string& image_dir, const std::string& class_attribute,
                       const std::string& default_class, BadDataPolicy policy) {
  const codecs::JsonText file = read_annotation_file(json_path);
  const JsonValue doc = file.root();
  AnnotationSet out;
  const Problems problems{policy, &out.warnings};
  // VIA 2.x projects keep the per-image entries under _via_img_metadata; 1.x exports are the entries.
  const auto metadata = doc.is_object() ? doc.find("_via_img_metadata") : std::nullopt;
  const JsonValue entries = metadata ? *metadata : doc;
  if (!entries.is_object()) throw std::invalid_argument(json_path + ": not a VIA annotation file");
  std::map<std::string, int64_t> class_ids;
  if (class_attribute.empty()) {
    class_ids[default_class] = 1;
    out.classes.emplace_back(1, default_class);
  }
  auto class_of = [&](const std::optional<JsonValue>& attrs) -> int64_t {
    std::string name = default_class;
    if (!class_attribute.empty()) {
      const auto v = attrs && attrs->is_object() ? attrs->find(class_attribute) : std::nullopt;
      if (!v) throw std::invalid_argument("region has no attribute '" + class_attribute + "'");
      if (v->is_string()) {
        name = std::string(v->string());
      } else if (v->is_object()) {  // checkboxes: {"name": true}
        name.clear();
        for (size_t k = 0; k < v->size(); ++k)
          if ((*v)[k].type() == codecs::JsonType::kTrue) name = std::string(v->key(k));
      } else if (v->is_number()) {
        name = v->dump();
      }
      if (name.empty()) throw std::invalid_argument("region's '" + class_attribute + "' is empty");
    }
    auto it = class_ids.find(name);
    if (it != class_ids.end()) return it->second;
    const int64_t id = static_cast<int64_t>(class_ids.size()) + 1;
    class_ids[name] = id;
    out.classes.emplace_back(id, name);
    return id;
  };
  for (size_t n = 0; n < entries.size(); ++n) {
    const JsonValue e = entries[n];
    const auto filename = e.is_object() ? e.find("filename") : std::nullopt;
    if (!filename || !filename->is_string()) {
      problems.report(json_path + ": entry '" + std::string(entries.key(n)) + "' has no filename");
      continue;
    }
    ImageRecord r;
    r.id = std::string(filename->string());
    r.path = join(image_dir, r.id);
    std::tie(r.height, r.width) = image_size_from_header(r.path);
    if (r.height <= 0 || r.width <= 0) {  // not a JPEG or PNG header: decode the file for its size
#if MRCNN_WITH_OPENCV
      const cv::Mat im = is_file(r.path) ? cv::imread(r.path, cv::IMREAD_UNCHANGED) : cv::Mat();
      if (!im.empty()) r.height = im.rows, r.width = im.cols;
#endif
      if (r.height <= 0 || r.width <= 0) {
        problems.report(json_path + ": image " + r.path + " is missing or cannot be decoded; skipped");
        continue;
      }
    }
    // regions: a list (VIA 2.x) or an object keyed by index (VIA 1.x)
    const auto regions = e.find("regions");
    const size_t count = regions && (regions->is_array() || regions->is_object()) ? regions->size() : 0;
    for (size_t i = 0; i < count; ++i) {
      try {
        const JsonValue region = (*regions)[i];
        if (!region.is_object()) throw std::invalid_argument(std::string("expected an object, got ") + region.type_name());
        const JsonValue sa = region.at("shape_attributes");
        if (!sa.is_object()) throw std::invalid_argument("shape_attributes is not an object");
        codecs::ViaShape s;
        s.name = std::string(sa.at("name").string());
        if (const auto xs = sa.find("all_points_x")) s.xs = numbers(*xs);
        if (const auto ys = sa.find("all_points_y")) s.ys = numbers(*ys);
        s.x = number_or(sa, "x", 0), s.y = number_or(sa, "y", 0);
        s.width = number_or(sa, "width", 0), s.height = number_or(sa, "height", 0);
        s.cx = number_or(sa, "cx", 0), s.cy = number_or(sa, "cy", 0), s.r = number_or(sa, "r", 0);
        s.rx = number_or(sa, "rx", 0), s.ry = number_or(sa, "ry", 0), s.theta = number_or(sa, "theta", 0);
        Instance inst;
        inst.class_id = class_of(region.find("region_attributes"));
        inst.mask = codecs::rle_from_via_shape(s, static_cast<uint32_t>(r.height), static_cast<uint32_t>(r.width));
        // a shape outside the image (drawn on another image, or coordinates of a resized copy) or too
        // small to cover a pixel would be an instance without a mask: as broken as a 2-point polygon
        if (codecs::rle_area(inst.mask) == 0)
          throw std::invalid_argument("the " + s.name + " covers no pixel of the " + std::to_string(r.width) + "x" +
                                      std::to_string(r.height) + " image (it lies outside it or is too small)");
        inst.bbox = bbox_of(inst.mask);
        r.instances.push_back(std::move(inst));
      } catch (const std::exception& ex) {
        problems.report(json_path + ": image " + r.id + ", region " + std::to_string(i) + " skipped: " + ex.what());
      }
    }
    out.images.push_back(std::move(r));
  }
  return out;
}

namespace {

// One CSV record: fields split on commas outside double quotes ("" inside quotes is a quote).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

bool file_exists(const std::string& p) { return std::ifstream(p).good(); }

// A whole-number field of a CSV row; throws naming the column and the text otherwise.
int64_t csv_integer(const std::string& text, const char* column) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw std::invalid_argument(std::string(column) + " '" + text + "' is not a whole number");
  return value;
}

}  // namespace

AnnotationSet load_rle_csv_impl(const std::string& csv_path, const std::string& image_dir, const std::string& label_json,
                           BadDataPolicy policy) {
  std::ifstream f(csv_path);
  if (!f) throw std::invalid_argument(csv_path + ": cannot open the CSV file");
  AnnotationSet out;
  const Problems problems{policy, &out.warnings};
  std::string line;
  if (!std::getline(f, line)) throw std::invalid_argument(csv_path + ": empty file");
  // a UTF-8 byte-order mark (spreadsheet programs write one) is not part of the first column's name
  if (line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  const std::vector<std::string> header = csv_fields(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* need : {"ImageId", "EncodedPixels", "Height", "Width"})
    if (!col.count(need)) throw std::invalid_argument(csv_path + ": no column '" + need + "' in the header");
  std::map<int64_t, std::string> names;
  if (!label_json.empty()) {
    const codecs::JsonText file = read_annotation_file(label_json);
    const JsonValue labels = file.root();
    const auto categories = labels.is_object() ? labels.find("categories") : std::nullopt;
    if (!categories || !categories->is_array()) throw std::invalid_argument(label_json + ": no 'categories' list");
    for (size_t i = 0; i < categories->size(); ++i) {
      const JsonValue c = (*categories)[i];
      if (!c.is_object()) throw std::invalid_argument(label_json + ": category entry " + c.dump() + " is not an object");
      names[c.at("id").integer()] = std::string(c.at("name").string());
    }
    for (const auto& [id, name] : names) out.classes.emplace_back(id, name);
  }
  std::map<std::string, size_t> by_image;
  std::map<int64_t, bool> seen_class;
  const codecs::KaggleRleOptions kaggle;  // 1-indexed, column-major
  for (int64_t row = 2; std::getline(f, line); ++row) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> v = csv_fields(line);
    const std::string where = csv_path + ": line " + std::to_string(row);
    try {
      if (v.size() < header.size()) throw std::invalid_argument("has " + std::to_string(v.size()) + " fields, the header " + std::to_string(header.size()));
      const std::string& image_id = v[col["ImageId"]];
      const int64_t h = csv_integer(v[col["Height"]], "Height"), w = csv_integer(v[col["Width"]], "Width");
      if (h <= 0 || w <= 0) throw std::invalid_argument("image size " + std::to_string(h) + "x" + std::to_string(w));
      const std::string cls = col.count("ClassId") ? v[col["ClassId"]] : "1";  // one-class files (DSB)
      const int64_t class_id = csv_integer(cls.substr(0, cls.find('_')), "ClassId");
      if (!label_json.empty() && !names.count(class_id))
        throw std::invalid_argument("ClassId " + cls + " is not in " + label_json);
      Instance inst;
      inst.class_id = class_id;
      inst.mask = codecs::kaggle_rle_to_rle(v[col["EncodedPixels"]], static_cast<uint32_t>(h), static_cast<uint32_t>(w), kaggle);
      inst.bbox = bbox_of(inst.mask);
      auto it = by_image.find(image_id);
      if (it == by_image.end()) {
        ImageRecord r;
        r.id = image_id;
        r.path = join(image_dir, image_id);
        if (image_id.find('.') == std::string::npos)
          for (const char* ext : {".jpg", ".png", ".jpeg"})
            if (file_exists(r.path + ext)) {
              r.path += ext;
              break;
            }
        r.height = h, r.width = w;
        it = by_image.emplace(image_id, out.images.size()).first;
        out.images.push_back(std::move(r));
      }
      ImageRecord& r = out.images[it->second];
      if (r.height != h || r.width != w)
        throw std::invalid_argument("size " + std::to_string(h) + "x" + std::to_string(w) + " differs from the image's earlier rows");
      r.instances.push_back(std::move(inst));
      seen_class[class_id] = true;
    } catch (const std::exception& e) {
      problems.report(where + " skipped: " + e.what());
    }
  }
  if (label_json.empty())
    for (const auto& [id, seen] : seen_class) out.classes.emplace_back(id, "class_" + std::to_string(id));
  drop_missing_images(out, csv_path, image_dir, problems);
  return out;
}

// The loaders above with a last guard: a JSON value of an unexpected type anywhere not checked
// field by field still names the file (the reader's message says what was expected and found).
template <class F>
AnnotationSet naming_the_file(const std::string& path, F&& load, const std::string& other_file = "") {
  try {
    return load();
  } catch (const std::logic_error& e) {
    const std::string what = e.what();
    for (const std::string& named : {path, other_file})
      if (!named.empty() && what.compare(0, named.size(), named) == 0) throw;
    throw std::invalid_argument(path + ": " + what);
  }
}

AnnotationSet load_coco(const std::string& json_path, const std::string& image_dir, BadDataPolicy policy) {
  return naming_the_file(json_path, [&] { return load_coco_impl(json_path, image_dir, policy); });
}

AnnotationSet load_via(const std::string& json_path, const std::string& image_dir, const std::string& class_attribute,
                       const std::string& default_class, BadDataPolicy policy) {
  return naming_the_file(json_path,
                         [&] { return load_via_impl(json_path, image_dir, class_attribute, default_class, policy); });
}

AnnotationSet load_rle_csv(const std::string& csv_path, const std::string& image_dir, const std::string& label_json,
                           BadDataPolicy policy) {
  return naming_the_file(label_json.empty() ? csv_path : label_json,
                         [&] { return load_rle_csv_impl(csv_path, image_dir, label_json, policy); }, csv_path);
}

}  // namespace mrcnn::data
