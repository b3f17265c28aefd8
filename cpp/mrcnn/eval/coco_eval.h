// COCO detection evaluation (bbox and segm) with pycocotools' COCOeval semantics: crowd regions
// and area ranges ignored, greedy matching by score at ten IoU thresholds, 101-point interpolated
// precision, maxDets 1/10/100, stable score sorting. The 12 summary numbers and the precision /
// recall arrays equal pycocotools' for the same files.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mrcnn::eval {

struct CocoEvalResult {
  std::array<double, 12> stats;  // AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
  // precision[t][r][k][a][m] flattened (T=10, R=101, K categories, A=4 areas, M=3 maxDets); -1 = none
  std::vector<double> precision;
  std::vector<double> recall;  // recall[t][k][a][m]
  std::vector<int64_t> category_ids;  // k -> category id
  int64_t T = 10, R = 101, K = 0, A = 4, M = 3;
  double precision_at(int64_t t, int64_t r, int64_t k, int64_t a, int64_t m) const {
    return precision[(((t * R + r) * K + k) * A + a) * M + m];
  }
};

// gt_json: a COCO annotation file's text; dt_json: a results list's text (image_id, category_id,
// bbox and/or segmentation, score). iou_type: "bbox" or "segm". Throws std::invalid_argument on
// malformed input, naming what is wrong.
CocoEvalResult coco_evaluate(std::string_view gt_json, std::string_view dt_json, const std::string& iou_type);

}  // namespace mrcnn::eval
