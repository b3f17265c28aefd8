#include "mrcnn/eval/coco_eval.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>

#include "mrcnn/codecs/polygon.h"
#include "mrcnn/codecs/rle.h"
#include "mrcnn/data/annotations.h"

namespace mrcnn::eval {

namespace {

using nlohmann::json;

struct Ann {
  int64_t id = 0, image_id = 0, category_id = 0;
  double area = 0, score = 0;
  bool crowd = false;
  std::array<double, 4> bbox{0, 0, 0, 0};  // x, y, w, h
  codecs::Rle rle;
};

// One (image, category, area range) evaluation, as COCOeval.evaluateImg returns it.
struct ImageEval {
  bool valid = false;
  std::vector<double> dt_scores;             // D, sorted by score
  std::vector<std::vector<int64_t>> dt_matches;  // [T][D] matched gt id, 0 = none
  std::vector<std::vector<uint8_t>> dt_ignore;   // [T][D]
  std::vector<uint8_t> gt_ignore;                // G
};

json parse(const std::string& text, const char* what) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(std::string("coco_evaluate: ") + what + " is not valid JSON (" + e.what() + ")");
  }
}

// numpy.linspace(start, stop, num): start + i * step, the last value exactly stop.
std::vector<double> linspace(double start, double stop, int n) {
  std::vector<double> v(n);
  const double step = (stop - start) / (n - 1);
  for (int i = 0; i < n; ++i) v[i] = i * step + start;
  v[n - 1] = stop;
  return v;
}

// Indices sorting by decreasing score, ties in input order (numpy's mergesort of -score).
std::vector<size_t> by_score(const std::vector<const Ann*>& anns) {
  std::vector<size_t> idx(anns.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return -anns[a]->score < -anns[b]->score; });
  return idx;
}

}  // namespace

CocoEvalResult coco_evaluate(const std::string& gt_text, const std::string& dt_text, const std::string& iou_type) {
  if (iou_type != "bbox" && iou_type != "segm")
    throw std::invalid_argument("coco_evaluate: iou_type must be 'bbox' or 'segm', got '" + iou_type + "'");
  const bool segm = iou_type == "segm";
  const json gt_doc = parse(gt_text, "the ground truth"), dt_doc = parse(dt_text, "the detections");
  if (!gt_doc.is_object() || !gt_doc.contains("images") || !gt_doc.contains("annotations"))
    throw std::invalid_argument("coco_evaluate: the ground truth has no 'images' or 'annotations'");
  if (!dt_doc.is_array()) throw std::invalid_argument("coco_evaluate: the detections must be a JSON list");

  std::map<int64_t, std::pair<uint32_t, uint32_t>> image_size;
  for (const json& im : gt_doc["images"])
    image_size[im.at("id").get<int64_t>()] = {im.value("height", 0u), im.value("width", 0u)};
  std::vector<int64_t> img_ids, cat_ids;
  for (const auto& [id, hw] : image_size) img_ids.push_back(id);
  for (const json& c : gt_doc.value("categories", json::array())) cat_ids.push_back(c.at("id").get<int64_t>());
  std::sort(cat_ids.begin(), cat_ids.end());
  cat_ids.erase(std::unique(cat_ids.begin(), cat_ids.end()), cat_ids.end());

  auto segmentation_rle = [&](const json& seg, int64_t image_id, const std::string& what) {
    const auto it = image_size.find(image_id);
    try {
      return data::coco_segmentation(seg, it->second.first, it->second.second);
    } catch (const std::exception& e) {
      throw std::invalid_argument("coco_evaluate: " + what + ": " + e.what());
    }
  };

  std::vector<Ann> gts, dts;
  for (const json& a : gt_doc["annotations"]) {
    Ann g;
    g.id = a.at("id").get<int64_t>();
    g.image_id = a.at("image_id").get<int64_t>();
    g.category_id = a.at("category_id").get<int64_t>();
    g.area = a.at("area").get<double>();
    g.crowd = a.value("iscrowd", 0) != 0;
    if (a.contains("bbox")) g.bbox = a["bbox"].get<std::array<double, 4>>();
    if (!image_size.count(g.image_id)) continue;
    if (segm) g.rle = segmentation_rle(a.at("segmentation"), g.image_id, "ground-truth annotation " + std::to_string(g.id));
    gts.push_back(std::move(g));
  }
  // loadRes: results with a box take their area from it (even for segm); otherwise from the mask
  const bool box_results = !dt_doc.empty() && dt_doc[0].contains("bbox") && !dt_doc[0]["bbox"].empty();
  for (size_t i = 0; i < dt_doc.size(); ++i) {
    const json& a = dt_doc[i];
    Ann d;
    d.id = static_cast<int64_t>(i) + 1;
    d.image_id = a.at("image_id").get<int64_t>();
    d.category_id = a.at("category_id").get<int64_t>();
    d.score = a.at("score").get<double>();
    if (!image_size.count(d.image_id))
      throw std::invalid_argument("coco_evaluate: result " + std::to_string(i) + " is for image " +
                                  std::to_string(d.image_id) + ", which the ground truth does not have");
    if (box_results) {
      d.bbox = a.at("bbox").get<std::array<double, 4>>();
      d.area = d.bbox[2] * d.bbox[3];
      if (segm) {
        if (a.contains("segmentation")) {
          d.rle = segmentation_rle(a["segmentation"], d.image_id, "result " + std::to_string(i));
        } else {
          const double x1 = d.bbox[0], y1 = d.bbox[1], x2 = x1 + d.bbox[2], y2 = y1 + d.bbox[3];
          const double poly[8] = {x1, y1, x1, y2, x2, y2, x2, y1};
          const auto [h, w] = image_size[d.image_id];
          d.rle = codecs::rle_from_polygon(poly, 4, h, w);
        }
      }
    } else {
      d.rle = segmentation_rle(a.at("segmentation"), d.image_id, "result " + std::to_string(i));
      d.area = static_cast<double>(codecs::rle_area(d.rle));
      d.bbox = a.contains("bbox") ? a["bbox"].get<std::array<double, 4>>() : codecs::rle_to_bbox(d.rle);
    }
    dts.push_back(std::move(d));
  }

  const std::vector<double> iou_thrs = linspace(0.5, 0.95, 10), rec_thrs = linspace(0.0, 1.0, 101);
  const std::vector<int64_t> max_dets{1, 10, 100};
  const std::array<std::array<double, 2>, 4> area_rng{{{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}}};
  const int64_t T = 10, R = 101, K = static_cast<int64_t>(cat_ids.size()), A = 4, M = 3;
  const int64_t I = static_cast<int64_t>(img_ids.size());
  std::map<int64_t, int64_t> cat_index, img_index;
  for (int64_t k = 0; k < K; ++k) cat_index[cat_ids[k]] = k;
  for (int64_t i = 0; i < I; ++i) img_index[img_ids[i]] = i;

  // _gts / _dts per (image, category), in file order
  std::vector<std::vector<const Ann*>> gt_of(I * K), dt_of(I * K);
  for (const Ann& g : gts)
    if (cat_index.count(g.category_id)) gt_of[img_index[g.image_id] * K + cat_index[g.category_id]].push_back(&g);
  for (const Ann& d : dts)
    if (cat_index.count(d.category_id)) dt_of[img_index[d.image_id] * K + cat_index[d.category_id]].push_back(&d);

  std::vector<ImageEval> evals(static_cast<size_t>(K * A * I));
  for (int64_t i = 0; i < I; ++i) {
    for (int64_t k = 0; k < K; ++k) {
      const auto& g_all = gt_of[i * K + k];
      std::vector<const Ann*> d_sorted;
      for (size_t j : by_score(dt_of[i * K + k])) d_sorted.push_back(dt_of[i * K + k][j]);
      if (d_sorted.size() > static_cast<size_t>(max_dets.back())) d_sorted.resize(max_dets.back());
      const size_t G = g_all.size(), D = d_sorted.size();
      // computeIoU: [D, G] with the ground truth in file order
      std::vector<double> ious(D * G);
      std::vector<uint8_t> crowd(G);
      for (size_t g = 0; g < G; ++g) crowd[g] = g_all[g]->crowd;
      if (D > 0 && G > 0) {
        if (segm) {
          std::vector<codecs::Rle> dr, gr;
          for (const Ann* d : d_sorted) dr.push_back(d->rle);
          for (const Ann* g : g_all) gr.push_back(g->rle);
          codecs::rle_iou(dr.data(), D, gr.data(), G, crowd.data(), ious.data());
        } else {
          std::vector<double> db, gb;
          for (const Ann* d : d_sorted) db.insert(db.end(), d->bbox.begin(), d->bbox.end());
          for (const Ann* g : g_all) gb.insert(gb.end(), g->bbox.begin(), g->bbox.end());
          codecs::bbox_iou(db.data(), D, gb.data(), G, crowd.data(), ious.data());
        }
      }
      for (int64_t a = 0; a < A; ++a) {
        ImageEval& e = evals[(k * A + a) * I + i];
        if (G == 0 && D == 0) continue;
        e.valid = true;
        // ground truth: ignored ones (crowd or outside the area range) last, stably
        std::vector<uint8_t> ig(G);
        for (size_t g = 0; g < G; ++g)
          ig[g] = g_all[g]->crowd || g_all[g]->area < area_rng[a][0] || g_all[g]->area > area_rng[a][1];
        std::vector<size_t> gt_order(G);
        std::iota(gt_order.begin(), gt_order.end(), 0);
        std::stable_sort(gt_order.begin(), gt_order.end(), [&](size_t x, size_t y) { return ig[x] < ig[y]; });
        e.gt_ignore.resize(G);
        for (size_t g = 0; g < G; ++g) e.gt_ignore[g] = ig[gt_order[g]];
        e.dt_scores.resize(D);
        for (size_t d = 0; d < D; ++d) e.dt_scores[d] = d_sorted[d]->score;
        e.dt_matches.assign(T, std::vector<int64_t>(D, 0));
        e.dt_ignore.assign(T, std::vector<uint8_t>(D, 0));
        std::vector<std::vector<int64_t>> gt_matches(T, std::vector<int64_t>(G, 0));
        if (D > 0 && G > 0) {
          for (int64_t t = 0; t < T; ++t) {
            for (size_t d = 0; d < D; ++d) {
              double best = std::min(iou_thrs[t], 1 - 1e-10);
              int64_t m = -1;
              for (size_t g = 0; g < G; ++g) {
                const size_t og = gt_order[g];
                if (gt_matches[t][g] > 0 && !crowd[og]) continue;
                if (m > -1 && e.gt_ignore[m] == 0 && e.gt_ignore[g] == 1) break;
                const double v = ious[d * G + og];
                if (v < best) continue;
                best = v;
                m = static_cast<int64_t>(g);
              }
              if (m == -1) continue;
              e.dt_ignore[t][d] = e.gt_ignore[m];
              e.dt_matches[t][d] = g_all[gt_order[m]]->id;
              gt_matches[t][m] = d_sorted[d]->id;
            }
          }
        }
        for (size_t d = 0; d < D; ++d) {
          const bool outside = d_sorted[d]->area < area_rng[a][0] || d_sorted[d]->area > area_rng[a][1];
          for (int64_t t = 0; t < T; ++t)
            if (e.dt_matches[t][d] == 0 && outside) e.dt_ignore[t][d] = 1;
        }
      }
    }
  }

  // accumulate
  CocoEvalResult res;
  res.K = K;
  res.category_ids = cat_ids;
  res.precision.assign(static_cast<size_t>(T * R * K * A * M), -1.0);
  res.recall.assign(static_cast<size_t>(T * K * A * M), -1.0);
  const double eps = std::numeric_limits<double>::epsilon();  // np.spacing(1)
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t a = 0; a < A; ++a) {
      for (int64_t m = 0; m < M; ++m) {
        const size_t max_det = static_cast<size_t>(max_dets[m]);
        std::vector<double> scores;
        std::vector<std::pair<size_t, size_t>> where;  // (eval index, detection index)
        int64_t npig = 0;
        bool any = false;
        for (int64_t i = 0; i < I; ++i) {
          const ImageEval& e = evals[(k * A + a) * I + i];
          if (!e.valid) continue;
          any = true;
          for (size_t d = 0; d < std::min(max_det, e.dt_scores.size()); ++d) {
            scores.push_back(e.dt_scores[d]);
            where.emplace_back(static_cast<size_t>((k * A + a) * I + i), d);
          }
          for (uint8_t g : e.gt_ignore) npig += g == 0;
        }
        if (!any || npig == 0) continue;
        std::vector<size_t> order(scores.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return -scores[x] < -scores[y]; });
        const size_t nd = order.size();
        for (int64_t t = 0; t < T; ++t) {
          std::vector<double> rc(nd), pr(nd);
          double tp = 0, fp = 0;
          for (size_t j = 0; j < nd; ++j) {
            const auto [ei, d] = where[order[j]];
            const bool matched = evals[ei].dt_matches[t][d] != 0, ignored = evals[ei].dt_ignore[t][d] != 0;
            tp += matched && !ignored;
            fp += !matched && !ignored;
            rc[j] = tp / static_cast<double>(npig);
            pr[j] = tp / (fp + tp + eps);
          }
          res.recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1] : 0;
          for (size_t j = nd; j-- > 1;)
            if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
          for (int64_t r = 0; r < R; ++r) {
            const size_t pi = static_cast<size_t>(std::lower_bound(rc.begin(), rc.end(), rec_thrs[r]) - rc.begin());
            res.precision[(((t * R + r) * K + k) * A + a) * M + m] = pi < nd ? pr[pi] : 0.0;
          }
        }
      }
    }
  }

  // summarize
  auto summarize = [&](bool ap, double iou_thr, int64_t a, int64_t m) {
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
  res.stats = {summarize(true, -1, 0, 2),  summarize(true, 0.5, 0, 2),  summarize(true, 0.75, 0, 2),
               summarize(true, -1, 1, 2),  summarize(true, -1, 2, 2),   summarize(true, -1, 3, 2),
               summarize(false, -1, 0, 0), summarize(false, -1, 0, 1),  summarize(false, -1, 0, 2),
               summarize(false, -1, 1, 2), summarize(false, -1, 2, 2),  summarize(false, -1, 3, 2)};
  return res;
}

}  // namespace mrcnn::eval
