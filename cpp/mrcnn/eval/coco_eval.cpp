#include "mrcnn/eval/coco_eval.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "mrcnn/codecs/coco_segmentation.h"
#include "mrcnn/codecs/json_reader.h"
#include "mrcnn/core/parallel.h"
#include "mrcnn/codecs/polygon.h"
#include "mrcnn/codecs/rle.h"

namespace mrcnn::eval {

namespace {

using codecs::JsonDocument;
using codecs::JsonValue;

struct Ann {
  int64_t id = 0, image_id = 0, category_id = 0;
  double area = 0, score = 0;
  bool crowd = false;
  std::array<double, 4> bbox{0, 0, 0, 0};  // x, y, w, h
  codecs::Rle rle;
  std::array<double, 4> mask_box{0, 0, 0, 0};  // segm: the mask's tight box, for rle_iou
};

// Parses text into out (a JsonDocument cannot be moved: its values point into it).
void parse(std::optional<JsonDocument>& out, std::string_view text, const char* what,
           const std::vector<std::string_view>& skip = {}) {
  try {
    out.emplace(text, skip);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("coco_evaluate: ") + what + " is not valid JSON (" + e.what() + ")");
  }
}

// loadRes: results with a box (judged by the first) take their area from it, even for segm;
// otherwise area and box come from the mask.
bool has_boxes(const JsonValue& results) {
  if (!results.is_array() || results.size() == 0 || !results[0].is_object()) return false;
  const auto b = results[0].find("bbox");
  return b && !(b->is_array() && b->size() == 0);
}

// Runs f, prefixing any error with where in the files it happened.
template <typename F>
void with_context(const std::string& where, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    throw std::invalid_argument("coco_evaluate: " + where + ": " + e.what());
  }
}

uint32_t dimension(const JsonValue& im, const char* key) {
  const auto v = im.find(key);
  if (!v) return 0;
  const int64_t x = v->integer();
  if (x < 0 || x > UINT32_MAX) throw std::invalid_argument(std::string(key) + " out of range: " + std::to_string(x));
  return static_cast<uint32_t>(x);
}

std::array<double, 4> read_bbox(const JsonValue& v) {
  if (!v.is_array() || v.size() != 4) throw std::invalid_argument("bbox is not [x, y, width, height]");
  return {v[0].number(), v[1].number(), v[2].number(), v[3].number()};
}

using ImageSizes = std::map<int64_t, std::pair<uint32_t, uint32_t>>;

codecs::Rle read_segmentation(const JsonValue& seg, int64_t image_id, const ImageSizes& sizes) {
  const auto& [h, w] = sizes.at(image_id);
  return codecs::coco_segmentation(seg, h, w);
}

// One ground-truth annotation; false when its image is not in 'images' (COCOeval ignores it).
bool read_gt(const JsonValue& a, bool segm, const ImageSizes& sizes, Ann& g) {
  g.id = a.at("id").integer();
  g.image_id = a.at("image_id").integer();
  if (!sizes.count(g.image_id)) return false;  // nothing else of it is read, as in COCOeval
  g.category_id = a.at("category_id").integer();
  g.area = a.at("area").number();
  if (const auto c = a.find("iscrowd")) g.crowd = c->is_bool() ? c->boolean() : c->number() != 0;
  if (const auto b = a.find("bbox")) g.bbox = read_bbox(*b);
  if (segm) {
    g.rle = read_segmentation(a.at("segmentation"), g.image_id, sizes);  // checked by its decoder
    g.mask_box = codecs::rle_to_bbox(g.rle);
  }
  return true;
}

// A result's mask decoded ahead of reading it, with the size its RLE states.
struct EarlyMask {
  bool ready = false;
  codecs::Rle rle;
  std::array<double, 4> box{0, 0, 0, 0};  // rle_to_bbox
};

// Decodes the RLE strings of results[i], i = 0, 1, ... until stop is set: work for the thread
// that parsed the detections while the other still parses the ground truth. Only results whose
// segmentation is {"size": [h, w], "counts": "..."} are decoded; anything unusual or wrong is
// left to read_result, which reports it.
void decode_early(const JsonValue& results, const std::atomic<bool>& stop, std::vector<EarlyMask>& early) {
  if (!results.is_array() || stop.load(std::memory_order_relaxed)) return;
  early.resize(results.size());
  for (size_t i = 0; i < early.size() && !stop.load(std::memory_order_relaxed); ++i) {
    try {
      const JsonValue a = results[i];
      if (!a.is_object()) continue;
      const auto seg = a.find("segmentation");
      if (!seg || !seg->is_object()) continue;
      const auto size = seg->find("size"), counts = seg->find("counts");
      if (!size || !counts || !counts->is_string() || !size->is_array() || size->size() != 2) continue;
      const int64_t h = (*size)[0].integer(), w = (*size)[1].integer();
      if (h < 0 || w < 0 || h > UINT32_MAX || w > UINT32_MAX) continue;
      early[i].rle = codecs::rle_from_string(counts->string(), static_cast<uint32_t>(h), static_cast<uint32_t>(w));
      early[i].box = codecs::rle_to_bbox(early[i].rle);
      early[i].ready = true;
    } catch (const std::exception&) {
      // read_result decodes it again and says what is wrong
    }
  }
}

void read_result(const JsonValue& a, size_t i, bool segm, bool box_results, const ImageSizes& sizes,
                 EarlyMask* early, Ann& d) {
  d.id = static_cast<int64_t>(i) + 1;
  d.image_id = a.at("image_id").integer();
  d.category_id = a.at("category_id").integer();
  d.score = a.at("score").number();
  if (!sizes.count(d.image_id))
    throw std::invalid_argument("it is for image " + std::to_string(d.image_id) + ", which the ground truth does not have");
  const auto& [h, w] = sizes.at(d.image_id);
  // the mask and its box; one decoded early is taken when its size is the image's (otherwise
  // decoding it again reports the difference)
  const auto read_mask = [&](const JsonValue& seg) {
    if (early && early->ready && early->rle.h == h && early->rle.w == w) {
      d.rle = std::move(early->rle);
      d.mask_box = early->box;
    } else {
      d.rle = read_segmentation(seg, d.image_id, sizes);
      d.mask_box = codecs::rle_to_bbox(d.rle);
    }
  };
  if (box_results) {
    d.bbox = read_bbox(a.at("bbox"));
    d.area = d.bbox[2] * d.bbox[3];
    if (segm) {
      if (const auto seg = a.find("segmentation")) {
        read_mask(*seg);
      } else {
        const double x1 = d.bbox[0], y1 = d.bbox[1], x2 = x1 + d.bbox[2], y2 = y1 + d.bbox[3];
        const double poly[8] = {x1, y1, x1, y2, x2, y2, x2, y1};
        d.rle = codecs::rle_from_polygon(poly, 4, h, w);
        d.mask_box = codecs::rle_to_bbox(d.rle);
      }
    }
  } else {
    read_mask(a.at("segmentation"));
    d.area = static_cast<double>(codecs::rle_area(d.rle));
    const auto b = a.find("bbox");  // an empty list counts as absent, as in loadRes
    d.bbox = b && !(b->is_array() && b->size() == 0) ? read_bbox(*b) : d.mask_box;
  }
}

// Runs worker() on the codec threads (each pulls items from a shared counter) when the work
// involves masks, and once on this thread otherwise: for boxes, starting threads costs more
// than the work they would share (measured: 5.9 ms on one thread, 8.5 ms on two). A thread is
// added for every `grain` items.
template <typename F>
void run_workers(bool parallel, size_t items, size_t grain, F&& worker) {
  if (parallel)
    core::parallel_for(items, grain, [&](size_t, size_t) { worker(); });
  else
    worker();
}

// numpy.linspace(start, stop, num): start + i * step, the last value exactly stop.
std::vector<double> linspace(double start, double stop, int n) {
  std::vector<double> v(n);
  const double step = (stop - start) / (n - 1);
  for (int i = 0; i < n; ++i) v[i] = i * step + start;
  v[n - 1] = stop;
  return v;
}

// The ground truth and the results as pycocotools' COCO objects hold them (loadRes included):
// annotations of images the ground truth lists, with boxes, areas and, for segm, masks.
struct Annotations {
  std::vector<Ann> gts, dts;
  std::vector<int64_t> img_ids, cat_ids;  // sorted
};

// Ground-truth annotations sharing an id, as pycocotools' COCO reads them: its index keeps the last
// annotation of each id (COCO.anns[id]), while the per-image lists keep every occurrence, so COCOeval
// evaluates each occurrence (whose own image and category pass the filters) as a copy of that last
// annotation, in the last one's image and category. gts are in file order; kept[j] says whether
// occurrence j's image is among the ground truth's images (only id and image_id are read otherwise).
void resolve_duplicate_ids(std::vector<Ann>& gts, std::vector<uint8_t>& kept, const std::vector<int64_t>& cat_ids) {
  std::map<int64_t, size_t> last;
  std::map<int64_t, size_t> count;
  for (size_t j = 0; j < gts.size(); ++j) last[gts[j].id] = j, ++count[gts[j].id];
  for (size_t j = 0; j < gts.size(); ++j) {
    if (!kept[j] || count[gts[j].id] < 2) continue;
    const size_t r = last[gts[j].id];
    if (r == j) continue;
    // the occurrence passes getAnnIds' category filter by its own category
    const bool listed = std::binary_search(cat_ids.begin(), cat_ids.end(), gts[j].category_id);
    if (!listed || !kept[r]) {  // filtered out, or a copy of an annotation of no listed image
      kept[j] = 0;
      continue;
    }
    gts[j] = gts[r];
  }
}

Annotations read_annotations(std::string_view gt_text, std::string_view dt_text, bool segm) {
  // Box evaluation never looks at ground-truth masks, nor at the masks of results that carry a
  // box: their coordinates are checked for syntax, not converted.
  const std::vector<std::string_view> skip = segm ? std::vector<std::string_view>{} : std::vector<std::string_view>{"segmentation"};
  std::optional<JsonDocument> gt_doc_, dt_doc_;
  // The two files are parsed at the same time when masks make the rest worth the threads; the
  // thread that finishes the detections first decodes their masks until the other is done.
  std::vector<EarlyMask> early;
  std::atomic<bool> gt_parsed{false};
  const auto parse_file = [&](size_t k) {
    if (k == 0) {
      struct Done {  // set even when the parse throws
        std::atomic<bool>& flag;
        ~Done() { flag = true; }
      } done{gt_parsed};
      parse(gt_doc_, gt_text, "the ground truth", skip);
    } else {
      parse(dt_doc_, dt_text, "the detections", skip);
      if (segm) decode_early(dt_doc_->root(), gt_parsed, early);
    }
  };
  if (segm) {
    core::parallel_for(2, 1, [&](size_t b, size_t e) { for (size_t k = b; k < e; ++k) parse_file(k); });
  } else {
    parse_file(0);
    parse_file(1);
  }
  const JsonValue gt_doc = gt_doc_->root();
  if (!segm && !has_boxes(dt_doc_->root())) parse(dt_doc_, dt_text, "the detections");  // boxes come from the masks
  const JsonValue dt_doc = dt_doc_->root();
  if (!gt_doc.is_object() || !gt_doc.contains("images") || !gt_doc.contains("annotations"))
    throw std::invalid_argument("coco_evaluate: the ground truth has no 'images' or 'annotations'");
  if (!dt_doc.is_array()) throw std::invalid_argument("coco_evaluate: the detections must be a JSON list");

  Annotations out;
  std::vector<int64_t>& img_ids = out.img_ids;
  std::vector<int64_t>& cat_ids = out.cat_ids;
  std::map<int64_t, std::pair<uint32_t, uint32_t>> image_size;
  with_context("ground-truth 'images'", [&] {
    const JsonValue images = gt_doc.at("images");
    for (size_t i = 0; i < images.size(); ++i) {
      const JsonValue im = images[i];
      image_size[im.at("id").integer()] = {dimension(im, "height"), dimension(im, "width")};
    }
  });
  for (const auto& [id, hw] : image_size) img_ids.push_back(id);
  with_context("ground-truth 'categories'", [&] {
    if (const auto cats = gt_doc.find("categories"))
      for (size_t i = 0; i < cats->size(); ++i) cat_ids.push_back((*cats)[i].at("id").integer());
  });
  std::sort(cat_ids.begin(), cat_ids.end());
  cat_ids.erase(std::unique(cat_ids.begin(), cat_ids.end()), cat_ids.end());

  const JsonValue gt_anns = gt_doc.at("annotations");
  std::vector<Ann>& gts = out.gts;
  std::vector<Ann>& dts = out.dts;
  gts.resize(gt_anns.size());
  dts.resize(dt_doc.size());
  std::vector<uint8_t> gt_kept(gts.size(), 0);
  const bool box_results = has_boxes(dt_doc);
  // Reading the annotations (polygon rasterising and RLE decoding included) is the costly part
  // of the work; both lists are read in parallel. Errors are kept per item and the first one in
  // file order is thrown, so the message does not depend on the thread count.
  std::vector<std::string> gt_errors(gts.size()), dt_errors(dts.size());
  // Polygons cost far more than boxes or RLE strings, so the threads take blocks of 32 items
  // in turn rather than one contiguous half each.
  const size_t total = gts.size() + dts.size(), block = 32;
  std::atomic<size_t> next{0};
  run_workers(segm, (total + block - 1) / block, 16, [&] {
    for (size_t b; (b = next.fetch_add(block)) < total;)
    for (size_t j = b; j < std::min(total, b + block); ++j) {
      if (j < gts.size()) {
        try {
          gt_kept[j] = read_gt(gt_anns[j], segm, image_size, gts[j]);
        } catch (const std::exception& e) {
          gt_errors[j] = "ground-truth annotation " + std::to_string(j) +
                         (gts[j].id ? " (id " + std::to_string(gts[j].id) + ")" : std::string()) + ": " + e.what();
        }
      } else {
        const size_t i = j - gts.size();
        try {
          read_result(dt_doc[i], i, segm, box_results, image_size, i < early.size() ? &early[i] : nullptr, dts[i]);
        } catch (const std::exception& e) {
          dt_errors[i] = std::string("result ") + std::to_string(i) + ": " + e.what();
        }
      }
    }
  });
  for (const auto& e : gt_errors)
    if (!e.empty()) throw std::invalid_argument("coco_evaluate: " + e);
  for (const auto& e : dt_errors)
    if (!e.empty()) throw std::invalid_argument("coco_evaluate: " + e);
  resolve_duplicate_ids(gts, gt_kept, cat_ids);
  size_t kept = 0;
  for (size_t j = 0; j < gts.size(); ++j)
    if (gt_kept[j]) {
      if (kept != j) gts[kept] = std::move(gts[j]);
      ++kept;
    }
  gts.resize(kept);

  return out;
}

// COCOeval's Params: IoU and recall thresholds, maxDets, area ranges, and the table sizes.
struct Params {
  std::vector<double> iou_thrs = linspace(0.5, 0.95, 10), rec_thrs = linspace(0.0, 1.0, 101);
  std::vector<int64_t> max_dets{1, 10, 100};
  std::array<std::array<double, 2>, 4> area_rng{{{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}}};
  int64_t T = 10, R = 101, K = 0, A = 4, M = 3, I = 0;
  Params(const Annotations& in)
      : K(static_cast<int64_t>(in.cat_ids.size())), I(static_cast<int64_t>(in.img_ids.size())) {}
};

// evaluateImg for every image, category and area range: each group's ground truths and its
// maxDets best detections, and per IoU threshold the matches and what is ignored.
struct Evaluations {
  // Group ik = image i * K + category k holds gt_list[g_start[ik] .. g_start[ik + 1]) and its
  // detections dt_list[dt_start[ik] ..], best first; its kept ones are entries d_start[ik] ..
  // d_start[ik + 1] of the tables.
  std::vector<size_t> g_start, dt_start, d_start;
  std::vector<const Ann*> gt_list, dt_list;
  size_t NG = 0, ND = 0;
  // dt_matches / dt_ignore[(a * ND + d_start[ik]) * T + t * D + d]: matched gt id (0 = none) /
  // ignored; gt_ignore[a * NG + g_start[ik] + g]
  std::vector<int64_t> dt_matches;
  std::vector<uint8_t> dt_ignore, gt_ignore;
};

Evaluations evaluate_images(const Annotations& in, const Params& p, bool segm, bool parallel) {
  const std::vector<double>& iou_thrs = p.iou_thrs;
  const std::vector<int64_t>& max_dets = p.max_dets;
  const auto& area_rng = p.area_rng;
  const int64_t T = p.T, K = p.K, A = p.A, I = p.I;
  const std::vector<int64_t>& cat_ids = in.cat_ids;
  const std::vector<int64_t>& img_ids = in.img_ids;
  std::map<int64_t, int64_t> cat_index, img_index;
  for (int64_t k = 0; k < K; ++k) cat_index[cat_ids[k]] = k;
  for (int64_t i = 0; i < I; ++i) img_index[img_ids[i]] = i;

  // _gts / _dts per (image, category) group, in file order: a counting sort into one flat list
  // each, group ik holding list[start[ik] .. start[ik + 1])
  const size_t groups = static_cast<size_t>(I * K);
  const auto by_group = [&](const std::vector<Ann>& anns, std::vector<size_t>& start, std::vector<const Ann*>& list) {
    std::vector<int64_t> group(anns.size(), -1);
    start.assign(groups + 1, 0);
    for (size_t j = 0; j < anns.size(); ++j) {
      const auto c = cat_index.find(anns[j].category_id);
      if (c == cat_index.end()) continue;
      group[j] = img_index.at(anns[j].image_id) * K + c->second;
      ++start[group[j] + 1];
    }
    for (size_t ik = 0; ik < groups; ++ik) start[ik + 1] += start[ik];
    list.resize(start.back());
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (size_t j = 0; j < anns.size(); ++j)
      if (group[j] >= 0) list[fill[group[j]]++] = &anns[j];
  };
  Evaluations ev;
  std::vector<size_t>& g_start = ev.g_start;
  std::vector<size_t>& dt_start = ev.dt_start;
  std::vector<const Ann*>& gt_list = ev.gt_list;
  std::vector<const Ann*>& dt_list = ev.dt_list;
  by_group(in.gts, g_start, gt_list);
  by_group(in.dts, dt_start, dt_list);
  // each group keeps its maxDets best detections: dt_list[dt_start[ik] ..] once sorted, and
  // entries d_start[ik] .. d_start[ik + 1] of the tables below
  std::vector<size_t>& d_start = ev.d_start;
  d_start.assign(groups + 1, 0);
  for (size_t ik = 0; ik < groups; ++ik)
    d_start[ik + 1] = d_start[ik] + std::min<size_t>(dt_start[ik + 1] - dt_start[ik], static_cast<size_t>(max_dets.back()));
  const size_t NG = ev.NG = g_start.back(), ND = ev.ND = d_start.back();

  // evaluateImg's results for every group and area range, in flat tables. Group ik has
  // D = d_start[ik + 1] - d_start[ik] detections (best first, dt_list[dt_start[ik] + d]) and G
  // ground truths (ignored last):
  //   dt_matches / dt_ignore[(a * ND + d_start[ik]) * T + t * D + d]   matched gt id (0 = none) / ignored
  //   gt_ignore[a * NG + g_start[ik] + g]
  std::vector<int64_t>& dt_matches = ev.dt_matches;
  std::vector<uint8_t>& dt_ignore = ev.dt_ignore;
  std::vector<uint8_t>& gt_ignore = ev.gt_ignore;
  dt_matches.assign(static_cast<size_t>(A) * ND * T, 0);
  dt_ignore.assign(static_cast<size_t>(A) * ND * T, 0);
  gt_ignore.assign(static_cast<size_t>(A) * NG, 0);
  // images are independent; threads take them in turn, each with its own scratch
  std::atomic<int64_t> next_image{0};
  run_workers(parallel, static_cast<size_t>(I), 16, [&] {
  std::vector<int64_t> gt_matches;  // [T, G] of the current evaluation
  std::vector<double> ious, db, gb;
  std::vector<uint8_t> crowd, ig;
  std::vector<const codecs::Rle*> dr, gr;
  std::vector<size_t> gt_order;
  for (int64_t i; (i = next_image.fetch_add(1)) < I;) {
    for (int64_t k = 0; k < K; ++k) {
      const size_t ik = static_cast<size_t>(i * K + k);
      const Ann* const* g_all = gt_list.data() + g_start[ik];
      const size_t G = g_start[ik + 1] - g_start[ik], D = d_start[ik + 1] - d_start[ik];
      // detections by decreasing score, ties in file order (numpy's mergesort of -score); the
      // first D are kept
      const Ann** d_sorted = dt_list.data() + dt_start[ik];
      std::stable_sort(d_sorted, d_sorted + (dt_start[ik + 1] - dt_start[ik]),
                       [](const Ann* x, const Ann* y) { return -x->score < -y->score; });
      // computeIoU: [D, G] with the ground truth in file order
      ious.assign(D * G, 0.0);
      crowd.resize(G);
      for (size_t g = 0; g < G; ++g) crowd[g] = g_all[g]->crowd;
      if (D > 0 && G > 0) {
        db.clear();
        gb.clear();
        if (segm) {
          dr.clear();
          gr.clear();
          for (size_t d = 0; d < D; ++d) dr.push_back(&d_sorted[d]->rle), db.insert(db.end(), d_sorted[d]->mask_box.begin(), d_sorted[d]->mask_box.end());
          for (size_t g = 0; g < G; ++g) gr.push_back(&g_all[g]->rle), gb.insert(gb.end(), g_all[g]->mask_box.begin(), g_all[g]->mask_box.end());
          codecs::rle_iou(dr.data(), db.data(), D, gr.data(), gb.data(), G, crowd.data(), ious.data());
        } else {
          for (size_t d = 0; d < D; ++d) db.insert(db.end(), d_sorted[d]->bbox.begin(), d_sorted[d]->bbox.end());
          for (size_t g = 0; g < G; ++g) gb.insert(gb.end(), g_all[g]->bbox.begin(), g_all[g]->bbox.end());
          codecs::bbox_iou(db.data(), D, gb.data(), G, crowd.data(), ious.data());
        }
      }
      for (int64_t a = 0; a < A; ++a) {
        // ground truth: ignored ones (crowd or outside the area range) last, stably
        ig.resize(G);
        for (size_t g = 0; g < G; ++g)
          ig[g] = g_all[g]->crowd || g_all[g]->area < area_rng[a][0] || g_all[g]->area > area_rng[a][1];
        gt_order.resize(G);
        std::iota(gt_order.begin(), gt_order.end(), 0);
        std::stable_sort(gt_order.begin(), gt_order.end(), [&](size_t x, size_t y) { return ig[x] < ig[y]; });
        uint8_t* const g_ignore = gt_ignore.data() + a * NG + g_start[ik];
        for (size_t g = 0; g < G; ++g) g_ignore[g] = ig[gt_order[g]];
        int64_t* const matches = dt_matches.data() + (a * ND + d_start[ik]) * T;
        uint8_t* const d_ignore = dt_ignore.data() + (a * ND + d_start[ik]) * T;
        gt_matches.assign(T * G, 0);
        if (D > 0 && G > 0) {
          for (int64_t t = 0; t < T; ++t) {
            for (size_t d = 0; d < D; ++d) {
              double best = std::min(iou_thrs[t], 1 - 1e-10);
              int64_t m = -1;
              for (size_t g = 0; g < G; ++g) {
                const size_t og = gt_order[g];
                if (gt_matches[t * G + g] > 0 && !crowd[og]) continue;
                if (m > -1 && g_ignore[m] == 0 && g_ignore[g] == 1) break;
                const double v = ious[d * G + og];
                if (v < best) continue;
                best = v;
                m = static_cast<int64_t>(g);
              }
              if (m == -1) continue;
              d_ignore[t * D + d] = g_ignore[m];
              matches[t * D + d] = g_all[gt_order[m]]->id;
              gt_matches[t * G + m] = d_sorted[d]->id;
            }
          }
        }
        for (size_t d = 0; d < D; ++d) {
          const bool outside = d_sorted[d]->area < area_rng[a][0] || d_sorted[d]->area > area_rng[a][1];
          for (int64_t t = 0; t < T; ++t)
            if (matches[t * D + d] == 0 && outside) d_ignore[t * D + d] = 1;
        }
      }
    }
  }
  });

  return ev;
}

// accumulate: precision [T, R, K, A, M] and recall [T, K, A, M], -1 where nothing is measured.
CocoEvalResult accumulate(const Evaluations& ev, const Params& p, const std::vector<int64_t>& cat_ids, bool parallel) {
  const std::vector<double>& rec_thrs = p.rec_thrs;
  const std::vector<int64_t>& max_dets = p.max_dets;
  const int64_t T = p.T, R = p.R, K = p.K, A = p.A, M = p.M, I = p.I;
  const std::vector<size_t>& g_start = ev.g_start;
  const std::vector<size_t>& dt_start = ev.dt_start;
  const std::vector<size_t>& d_start = ev.d_start;
  const std::vector<const Ann*>& dt_list = ev.dt_list;
  const size_t ND = ev.ND, NG = ev.NG;
  const std::vector<int64_t>& dt_matches = ev.dt_matches;
  const std::vector<uint8_t>& dt_ignore = ev.dt_ignore;
  const std::vector<uint8_t>& gt_ignore = ev.gt_ignore;
  CocoEvalResult res;
  res.K = K;
  res.category_ids = cat_ids;
  res.precision.assign(static_cast<size_t>(T * R * K * A * M), -1.0);
  res.recall.assign(static_cast<size_t>(T * K * A * M), -1.0);
  const double eps = std::numeric_limits<double>::epsilon();  // np.spacing(1)
  // A category's detections, best first over all images (ties in image order, then in their
  // order within the image): the same for every area range, whose evaluations hold the same
  // detections, and for each maxDets, whose lists are the first entries of the same per-image
  // lists (a stable sort of a subsequence is the subsequence of the stable sort).
  struct Entry {
    double score;
    size_t group;
    size_t rank;  // in the group's list, best first
  };
  std::vector<std::vector<Entry>> ranked(static_cast<size_t>(K));
  std::vector<uint8_t> any(static_cast<size_t>(K), 0);  // a category with an image that has any of it
  for (int64_t k = 0; k < K; ++k) {
    std::vector<Entry>& list = ranked[k];
    for (int64_t i = 0; i < I; ++i) {
      const size_t ik = static_cast<size_t>(i * K + k);
      any[k] |= g_start[ik + 1] > g_start[ik] || d_start[ik + 1] > d_start[ik];
      for (size_t d = 0; d < d_start[ik + 1] - d_start[ik]; ++d) list.push_back({dt_list[dt_start[ik] + d]->score, ik, d});
    }
    std::stable_sort(list.begin(), list.end(), [](const Entry& x, const Entry& y) { return -x.score < -y.score; });
  }
  // each (category, area range) on its own: threads take them in turn, each filling its own
  // [T, R, M] and [T, M] tables (results of different tasks share cache lines in res)
  std::atomic<int64_t> next_ka{0};
  run_workers(parallel, static_cast<size_t>(K * A), 2, [&] {
    std::vector<double> rc, pr, tp(T), fp(T), precision(T * R * M), recall(T * M);
    for (int64_t ka; (ka = next_ka.fetch_add(1)) < K * A;) {
      const int64_t k = ka / A, a = ka % A;
      int64_t npig = 0;
      for (int64_t i = 0; i < I; ++i) {
        const size_t ik = static_cast<size_t>(i * K + k);
        for (size_t g = g_start[ik]; g < g_start[ik + 1]; ++g) npig += gt_ignore[a * NG + g] == 0;
      }
      if (!any[k] || npig == 0) continue;
      std::fill(precision.begin(), precision.end(), -1.0);
      std::fill(recall.begin(), recall.end(), -1.0);
      for (int64_t m = 0; m < M; ++m) {
        const size_t max_det = static_cast<size_t>(max_dets[m]);
        size_t nd = 0;
        for (const Entry& x : ranked[k]) nd += x.rank < max_det;
        rc.resize(T * nd);  // [T, nd]
        pr.resize(T * nd);
        std::fill(tp.begin(), tp.end(), 0.0);
        std::fill(fp.begin(), fp.end(), 0.0);
        size_t j = 0;
        for (const Entry& x : ranked[k]) {
          if (x.rank >= max_det) continue;
          const size_t D = d_start[x.group + 1] - d_start[x.group], at = (a * ND + d_start[x.group]) * T + x.rank;
          for (int64_t t = 0; t < T; ++t) {
            const bool matched = dt_matches[at + t * D] != 0, ignored = dt_ignore[at + t * D] != 0;
            tp[t] += matched && !ignored;
            fp[t] += !matched && !ignored;
            rc[t * nd + j] = tp[t] / static_cast<double>(npig);
            pr[t * nd + j] = tp[t] / (fp[t] + tp[t] + eps);
          }
          ++j;
        }
        for (int64_t t = 0; t < T; ++t) {
          double* const rc_t = rc.data() + t * nd;
          double* const pr_t = pr.data() + t * nd;
          recall[t * M + m] = nd ? rc_t[nd - 1] : 0;
          for (size_t q = nd; q-- > 1;)
            if (pr_t[q] > pr_t[q - 1]) pr_t[q - 1] = pr_t[q];
          // the first detection reaching each recall threshold (recall never decreases, so one
          // forward walk finds them all, as a binary search per threshold would)
          size_t pi = 0;
          for (int64_t r = 0; r < R; ++r) {
            while (pi < nd && rc_t[pi] < rec_thrs[r]) ++pi;
            precision[(t * R + r) * M + m] = pi < nd ? pr_t[pi] : 0.0;
          }
        }
      }
      for (int64_t t = 0; t < T; ++t)
        for (int64_t m = 0; m < M; ++m) {
          res.recall[((t * K + k) * A + a) * M + m] = recall[t * M + m];
          for (int64_t r = 0; r < R; ++r)
            res.precision[(((t * R + r) * K + k) * A + a) * M + m] = precision[(t * R + r) * M + m];
        }
    }
  });

  return res;
}

// summarize: COCOeval's 12 numbers from the accumulated tables.
std::array<double, 12> summarize(const CocoEvalResult& res, const Params& p) {
  const std::vector<double>& iou_thrs = p.iou_thrs;
  const int64_t T = p.T, R = p.R, K = p.K, A = p.A, M = p.M;
  auto mean_of = [&](bool ap, double iou_thr, int64_t a, int64_t m) {
    double sum = 0;
    int64_t n = 0;
    for (int64_t t = 0; t < T; ++t) {
      if (iou_thr >= 0 && iou_thrs[t] != iou_thr) continue;
      for (int64_t k = 0; k < K; ++k) {
        if (ap) {
          for (int64_t r = 0; r < R; ++r) {
            const double v = res.precision[(((t * R + r) * K + k) * A + a) * M + m];
            if (v > -1) sum += v, ++n;
          }
        } else {
          const double v = res.recall[((t * K + k) * A + a) * M + m];
          if (v > -1) sum += v, ++n;
        }
      }
    }
    return n == 0 ? -1.0 : sum / static_cast<double>(n);
  };
  return {mean_of(true, -1, 0, 2),  mean_of(true, 0.5, 0, 2),  mean_of(true, 0.75, 0, 2),
               mean_of(true, -1, 1, 2),  mean_of(true, -1, 2, 2),   mean_of(true, -1, 3, 2),
               mean_of(false, -1, 0, 0), mean_of(false, -1, 0, 1),  mean_of(false, -1, 0, 2),
               mean_of(false, -1, 1, 2), mean_of(false, -1, 2, 2),  mean_of(false, -1, 3, 2)};
}

}  // namespace

CocoEvalResult coco_evaluate(std::string_view gt_text, std::string_view dt_text, const std::string& iou_type) {
  if (iou_type != "bbox" && iou_type != "segm")
    throw std::invalid_argument("coco_evaluate: iou_type must be 'bbox' or 'segm', got '" + iou_type + "'");
  const bool segm = iou_type == "segm";
  // pycocotools' stages: the files read (COCO, loadRes), evaluate(), accumulate(), summarize().
  // The threads help with masks; for boxes they would cost more than the work they share.
  const Annotations annotations = read_annotations(gt_text, dt_text, segm);
  const Params params(annotations);
  const Evaluations evaluations = evaluate_images(annotations, params, segm, /*parallel=*/segm);
  CocoEvalResult res = accumulate(evaluations, params, annotations.cat_ids, /*parallel=*/segm);
  res.stats = summarize(res, params);
  return res;
}

}  // namespace mrcnn::eval
