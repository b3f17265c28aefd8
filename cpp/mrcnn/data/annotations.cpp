#include "mrcnn/data/annotations.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

#include "mrcnn/codecs/kaggle_rle.h"
#include "mrcnn/codecs/polygon.h"

namespace mrcnn::data {

namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::invalid_argument(path + ": cannot open the annotation file");
  try {
    return json::parse(f);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(path + ": not valid JSON (" + e.what() + ")");
  }
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
// wrong folder would otherwise give a warning per image, or fail only when training reaches them).
// Without one, the annotations are read on their own (statistics, comparisons).
std::set<std::string> drop_missing_images(AnnotationSet& out, const std::string& file, const std::string& image_dir,
                                          const Problems& problems) {
  std::set<std::string> missing;
  if (image_dir.empty()) return missing;
  std::vector<ImageRecord> kept;
  std::string first;
  for (ImageRecord& r : out.images) {
    if (is_file(r.path)) {
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

namespace {

// The two front ends below (nlohmann::json and the fast reader) differ only in how they walk the
// value; both end here.
codecs::Rle polygons_to_rle(const std::vector<std::vector<double>>& polygons, uint32_t h, uint32_t w) {
  if (polygons.empty()) throw std::invalid_argument("empty polygon list");
  std::vector<codecs::Rle> parts;
  for (const auto& xy : polygons) {
    if (xy.size() % 2 != 0) throw std::invalid_argument("a polygon has an odd number of coordinates");
    parts.push_back(codecs::rle_from_polygon(xy.data(), xy.size() / 2, h, w));
  }
  if (parts.size() == 1) return std::move(parts[0]);
  std::vector<const codecs::Rle*> ptrs;
  for (const auto& p : parts) ptrs.push_back(&p);
  return codecs::rle_merge(ptrs, false);
}

void check_rle_size(uint32_t rh, uint32_t rw, uint32_t h, uint32_t w) {
  if (rh != h || rw != w)
    throw std::invalid_argument("RLE size " + std::to_string(rh) + "x" + std::to_string(rw) +
                                " differs from the image's " + std::to_string(h) + "x" + std::to_string(w));
}

}  // namespace

// A COCO segmentation (polygon list, RLE with string or list counts) as one RLE.
codecs::Rle coco_segmentation(const nlohmann::json& seg, uint32_t h, uint32_t w) {
  if (seg.is_array()) {
    std::vector<std::vector<double>> polygons;
    for (const json& poly : seg) {
      if (!poly.is_array()) throw std::invalid_argument("a polygon is not a list of numbers");
      std::vector<double>& xy = polygons.emplace_back();
      for (const json& v : poly) {
        if (!v.is_number()) throw std::invalid_argument("a polygon coordinate is not a number");
        xy.push_back(v.get<double>());
      }
    }
    return polygons_to_rle(polygons, h, w);
  }
  if (seg.is_object() && seg.contains("counts")) {
    if (seg.contains("size")) check_rle_size(seg["size"].at(0).get<uint32_t>(), seg["size"].at(1).get<uint32_t>(), h, w);
    const json& counts = seg["counts"];
    if (counts.is_string()) return codecs::rle_from_string(counts.get<std::string>(), h, w);
    if (counts.is_array()) return codecs::rle_from_counts(counts.get<std::vector<uint32_t>>(), h, w);
    throw std::invalid_argument("RLE counts are neither a string nor a list");
  }
  throw std::invalid_argument("segmentation is neither polygons nor RLE");
}

codecs::Rle coco_segmentation(const codecs::JsonValue& seg, uint32_t h, uint32_t w) {
  if (seg.is_array()) {
    thread_local std::vector<std::vector<double>> polygons;  // reused: evaluation reads thousands
    polygons.resize(seg.size());
    for (size_t i = 0; i < seg.size(); ++i) {
      const codecs::JsonValue poly = seg[i];
      if (!poly.is_array()) throw std::invalid_argument("a polygon is not a list of numbers");
      polygons[i].resize(poly.size());
      for (size_t j = 0; j < poly.size(); ++j) {
        if (!poly[j].is_number()) throw std::invalid_argument("a polygon coordinate is not a number");
        polygons[i][j] = poly[j].number();
      }
    }
    return polygons_to_rle(polygons, h, w);
  }
  if (seg.is_object() && seg.contains("counts")) {
    if (const auto size = seg.find("size")) {
      if (!size->is_array() || size->size() != 2) throw std::invalid_argument("RLE size is not [height, width]");
      const int64_t rh = (*size)[0].integer(), rw = (*size)[1].integer();
      if (rh < 0 || rw < 0 || rh > UINT32_MAX || rw > UINT32_MAX) throw std::invalid_argument("RLE size out of range");
      check_rle_size(static_cast<uint32_t>(rh), static_cast<uint32_t>(rw), h, w);
    }
    const codecs::JsonValue counts = seg.at("counts");
    if (counts.is_string()) return codecs::rle_from_string(counts.string(), h, w);
    if (counts.is_array()) {
      std::vector<uint32_t> c(counts.size());
      for (size_t i = 0; i < c.size(); ++i) {
        const int64_t v = counts[i].integer();
        if (v < 0 || v > UINT32_MAX) throw std::invalid_argument("RLE count out of range: " + std::to_string(v));
        c[i] = static_cast<uint32_t>(v);
      }
      return codecs::rle_from_counts(c, h, w);
    }
    throw std::invalid_argument("RLE counts are neither a string nor a list");
  }
  throw std::invalid_argument("segmentation is neither polygons nor RLE");
}

AnnotationSet load_coco_impl(const std::string& json_path, const std::string& image_dir, BadDataPolicy policy) {
  const json doc = read_json(json_path);
  AnnotationSet out;
  const Problems problems{policy, &out.warnings};
  if (!doc.is_object() || !doc.contains("images") || !doc.contains("annotations"))
    throw std::invalid_argument(json_path + ": not a COCO annotation file (no 'images' or 'annotations')");
  if (!doc["images"].is_array() || !doc["annotations"].is_array())
    throw std::invalid_argument(json_path + ": 'images' and 'annotations' must be lists");
  if (doc.contains("categories")) {
    if (!doc["categories"].is_array()) throw std::invalid_argument(json_path + ": 'categories' must be a list");
    for (const json& c : doc["categories"]) {
      try {
        out.classes.emplace_back(c.at("id").get<int64_t>(), c.at("name").get<std::string>());
      } catch (const json::exception& e) {
        problems.report(json_path + ": category entry " + c.dump().substr(0, 120) + " is incomplete (" + e.what() +
                        ")");
      }
    }
  }
  std::set<int64_t> categories;
  for (const auto& c : out.classes) categories.insert(c.first);
  std::map<int64_t, size_t> by_id;
  for (const json& im : doc["images"]) {
    ImageRecord r;
    int64_t id = 0;
    try {
      id = im.at("id").get<int64_t>();
      r.id = im.at("id").dump();
      r.path = join(image_dir, im.at("file_name").get<std::string>());
      r.height = im.at("height").get<int64_t>();
      r.width = im.at("width").get<int64_t>();
    } catch (const json::exception& e) {
      problems.report(json_path + ": image entry " + im.dump().substr(0, 120) + " is incomplete (" + e.what() + ")");
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
  for (const json& a : doc["annotations"]) {
    const std::string aid = a.contains("id") ? a["id"].dump() : "?";
    try {
      const int64_t image_id = a.at("image_id").get<int64_t>();
      const auto it = by_id.find(image_id);
      if (it == by_id.end()) throw std::invalid_argument("image_id " + std::to_string(image_id) + " is not in 'images'");
      ImageRecord& r = out.images[it->second];
      Instance inst;
      inst.class_id = a.at("category_id").get<int64_t>();
      if (!categories.empty() && !categories.count(inst.class_id))
        throw std::invalid_argument("category_id " + std::to_string(inst.class_id) + " is not in 'categories'");
      inst.crowd = a.value("iscrowd", 0) != 0;
      inst.mask = coco_segmentation(a.at("segmentation"), static_cast<uint32_t>(r.height), static_cast<uint32_t>(r.width));
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
  const json doc = read_json(json_path);
  AnnotationSet out;
  const Problems problems{policy, &out.warnings};
  // VIA 2.x projects keep the per-image entries under _via_img_metadata; 1.x exports are the entries.
  const json& entries = doc.contains("_via_img_metadata") ? doc["_via_img_metadata"] : doc;
  if (!entries.is_object()) throw std::invalid_argument(json_path + ": not a VIA annotation file");
  std::map<std::string, int64_t> class_ids;
  if (class_attribute.empty()) {
    class_ids[default_class] = 1;
    out.classes.emplace_back(1, default_class);
  }
  auto class_of = [&](const json& attrs) -> int64_t {
    std::string name = default_class;
    if (!class_attribute.empty()) {
      if (!attrs.is_object() || !attrs.contains(class_attribute))
        throw std::invalid_argument("region has no attribute '" + class_attribute + "'");
      const json& v = attrs[class_attribute];
      if (v.is_string()) {
        name = v.get<std::string>();
      } else if (v.is_object()) {  // checkboxes: {"name": true}
        name.clear();
        for (const auto& item : v.items())
          if (item.value().is_boolean() && item.value().get<bool>()) name = item.key();
      } else if (v.is_number()) {
        name = v.dump();
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
  for (const auto& entry : entries.items()) {
    const json& e = entry.value();
    if (!e.is_object() || !e.contains("filename")) {
      problems.report(json_path + ": entry '" + entry.key() + "' has no filename");
      continue;
    }
    ImageRecord r;
    r.id = e["filename"].get<std::string>();
    r.path = join(image_dir, r.id);
    std::tie(r.height, r.width) = image_size_from_header(r.path);
    if (r.height <= 0 || r.width <= 0) {
      const cv::Mat im = is_file(r.path) ? cv::imread(r.path, cv::IMREAD_UNCHANGED) : cv::Mat();
      if (im.empty()) {
        problems.report(json_path + ": image " + r.path + " is missing or cannot be decoded; skipped");
        continue;
      }
      r.height = im.rows, r.width = im.cols;
    }
    const json regions = e.value("regions", json::array());
    std::vector<json> list;
    if (regions.is_object())
      for (const auto& item : regions.items()) list.push_back(item.value());
    else if (regions.is_array())
      list.assign(regions.begin(), regions.end());
    for (size_t i = 0; i < list.size(); ++i) {
      try {
        const json& sa = list[i].at("shape_attributes");
        codecs::ViaShape s;
        s.name = sa.at("name").get<std::string>();
        if (sa.contains("all_points_x")) s.xs = sa["all_points_x"].get<std::vector<double>>();
        if (sa.contains("all_points_y")) s.ys = sa["all_points_y"].get<std::vector<double>>();
        s.x = sa.value("x", 0.0), s.y = sa.value("y", 0.0);
        s.width = sa.value("width", 0.0), s.height = sa.value("height", 0.0);
        s.cx = sa.value("cx", 0.0), s.cy = sa.value("cy", 0.0), s.r = sa.value("r", 0.0);
        s.rx = sa.value("rx", 0.0), s.ry = sa.value("ry", 0.0), s.theta = sa.value("theta", 0.0);
        Instance inst;
        inst.class_id = class_of(list[i].value("region_attributes", json::object()));
        inst.mask = codecs::rle_from_via_shape(s, static_cast<uint32_t>(r.height), static_cast<uint32_t>(r.width));
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

}  // namespace

AnnotationSet load_rle_csv_impl(const std::string& csv_path, const std::string& image_dir, const std::string& label_json,
                           BadDataPolicy policy) {
  std::ifstream f(csv_path);
  if (!f) throw std::invalid_argument(csv_path + ": cannot open the CSV file");
  AnnotationSet out;
  const Problems problems{policy, &out.warnings};
  std::string line;
  if (!std::getline(f, line)) throw std::invalid_argument(csv_path + ": empty file");
  const std::vector<std::string> header = csv_fields(line);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* need : {"ImageId", "EncodedPixels", "Height", "Width"})
    if (!col.count(need)) throw std::invalid_argument(csv_path + ": no column '" + need + "' in the header");
  std::map<int64_t, std::string> names;
  if (!label_json.empty()) {
    const json labels = read_json(label_json);
    if (!labels.contains("categories")) throw std::invalid_argument(label_json + ": no 'categories'");
    for (const json& c : labels["categories"]) names[c.at("id").get<int64_t>()] = c.at("name").get<std::string>();
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
      const int64_t h = std::stoll(v[col["Height"]]), w = std::stoll(v[col["Width"]]);
      if (h <= 0 || w <= 0) throw std::invalid_argument("image size " + std::to_string(h) + "x" + std::to_string(w));
      const std::string cls = col.count("ClassId") ? v[col["ClassId"]] : "1";  // one-class files (DSB)
      const int64_t class_id = std::stoll(cls.substr(0, cls.find('_')));
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
// field by field still names the file (the field is in the JSON library's message).
template <class F>
AnnotationSet naming_the_file(const std::string& path, F&& load) {
  try {
    return load();
  } catch (const json::exception& e) {
    throw std::invalid_argument(path + ": " + e.what());
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
                         [&] { return load_rle_csv_impl(csv_path, image_dir, label_json, policy); });
}

}  // namespace mrcnn::data
