#include "mrcnn/codecs/coco_segmentation.h"

#include <stdexcept>
#include <string>

#include "mrcnn/codecs/polygon.h"

namespace mrcnn::codecs {

Rle polygons_to_rle(const std::vector<std::vector<double>>& polygons, uint32_t h, uint32_t w) {
  if (polygons.empty()) throw std::invalid_argument("empty polygon list");
  std::vector<Rle> parts;
  for (const auto& xy : polygons) {
    if (xy.size() % 2 != 0) throw std::invalid_argument("a polygon has an odd number of coordinates");
    parts.push_back(rle_from_polygon(xy.data(), xy.size() / 2, h, w));
  }
  if (parts.size() == 1) return std::move(parts[0]);
  std::vector<const Rle*> ptrs;
  for (const auto& p : parts) ptrs.push_back(&p);
  return rle_merge(ptrs, false);
}

Rle coco_segmentation(const JsonValue& seg, uint32_t h, uint32_t w) {
  if (seg.is_array()) {
    thread_local std::vector<std::vector<double>> polygons;  // reused: evaluation reads thousands
    polygons.resize(seg.size());
    for (size_t i = 0; i < seg.size(); ++i) {
      const JsonValue poly = seg[i];
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
      if (rh != h || rw != w)
        throw std::invalid_argument("RLE size " + std::to_string(rh) + "x" + std::to_string(rw) +
                                    " differs from the image's " + std::to_string(h) + "x" + std::to_string(w));
    }
    const JsonValue counts = seg.at("counts");
    if (counts.is_string()) return rle_from_string(counts.string(), h, w);
    if (counts.is_array()) {
      std::vector<uint32_t> c(counts.size());
      for (size_t i = 0; i < c.size(); ++i) {
        const int64_t v = counts[i].integer();
        if (v < 0 || v > UINT32_MAX) throw std::invalid_argument("RLE count out of range: " + std::to_string(v));
        c[i] = static_cast<uint32_t>(v);
      }
      return rle_from_counts(c, h, w);
    }
    throw std::invalid_argument("RLE counts are neither a string nor a list");
  }
  throw std::invalid_argument("segmentation is neither polygons nor RLE");
}

}  // namespace mrcnn::codecs
