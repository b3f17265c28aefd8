// CPU kernels of mrcnn::nms and of the per-category NMS behind mrcnn::batched_nms. Same arithmetic
// as torchvision's (areas and IoU in the boxes' dtype, compared with the threshold in double) and
// the same order (stable sort by decreasing score), so the kept indices are identical.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "mrcnn/ops/cpu/reduced_float.h"
#include "mrcnn/ops/nms.h"

namespace mrcnn::ops {

namespace {

// Descending score order as torch.sort(descending=True, stable=True): NaN first, ties by index.
template <typename T>
void sort_by_score(const T* scores, std::vector<int64_t>& idx) {
  std::stable_sort(idx.begin(), idx.end(), [scores](int64_t a, int64_t b) {
    const T sa = scores[a], sb = scores[b];
    if (std::isnan(sa)) return !std::isnan(sb);
    return sa > sb;
  });
}

// IoU(kept, candidate) > threshold, computed as torchvision does (kept box first).
template <typename T>
inline bool overlaps(T kx1, T ky1, T kx2, T ky2, T karea, const T* c, T carea, double iou_threshold) {
  const T xx1 = std::max(kx1, c[0]), yy1 = std::max(ky1, c[1]);
  const T xx2 = std::min(kx2, c[2]), yy2 = std::min(ky2, c[3]);
  const T w = std::max(static_cast<T>(0), xx2 - xx1);
  const T h = std::max(static_cast<T>(0), yy2 - yy1);
  const T inter = w * h;
  return inter / (karea + carea - inter) > iou_threshold;
}

// Greedy NMS over boxes[order[0..m)] (already in score order); appends kept indices to keep.
template <typename T>
void greedy_nms(const T* boxes, const int64_t* order, int64_t m, double iou_threshold, std::vector<int64_t>& keep) {
  // Boxes gathered in score order as x1 y1 x2 y2 rows, so the inner loop reads sequentially.
  std::vector<T> b(static_cast<size_t>(4 * m)), area(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    std::copy_n(boxes + 4 * order[i], 4, b.data() + 4 * i);
    area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  }
  std::vector<uint8_t> removed(static_cast<size_t>(m), 0);
  for (int64_t i = 0; i < m; ++i) {
    if (removed[i]) continue;
    keep.push_back(order[i]);
    const T ix1 = b[4 * i], iy1 = b[4 * i + 1], ix2 = b[4 * i + 2], iy2 = b[4 * i + 3];
    const T ia = area[i];
    for (int64_t j = i + 1; j < m; ++j) {
      if (removed[j]) continue;
      if (overlaps(ix1, iy1, ix2, iy2, ia, b.data() + 4 * j, area[j], iou_threshold)) removed[j] = 1;
    }
  }
}

at::Tensor nms_cpu(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  if (is_reduced_float(boxes) || is_reduced_float(scores))
    return nms_cpu(as_float32(boxes), as_float32(scores), iou_threshold);
  check_nms_args(boxes, scores);
  TORCH_CHECK_VALUE(boxes.device().is_cpu(), "nms: the CPU kernel got boxes on ", boxes.device());
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor b = boxes.contiguous(), s = scores.contiguous();
  std::vector<int64_t> keep;
  AT_DISPATCH_FLOATING_TYPES(boxes.scalar_type(), "nms_cpu", [&] {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    sort_by_score(s.data_ptr<scalar_t>(), order);
    greedy_nms(b.data_ptr<scalar_t>(), order.data(), n, iou_threshold, keep);
  });
  return at::tensor(keep, boxes.options().dtype(at::kLong));
}

// Groups the boxes by category and runs the greedy pass for the categories in parallel.
at::Tensor batched_nms_per_category_cpu(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                                        double iou_threshold) {
  if (is_reduced_float(boxes) || is_reduced_float(scores))
    return batched_nms_per_category_cpu(as_float32(boxes), as_float32(scores), idxs, iou_threshold);
  check_nms_args(boxes, scores);
  TORCH_CHECK_VALUE(boxes.device().is_cpu(), "batched_nms: the CPU kernel got boxes on ", boxes.device());
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor b = boxes.contiguous(), s = scores.contiguous();
  const at::Tensor cat = idxs.to(at::kLong).contiguous();
  const int64_t* category = cat.data_ptr<int64_t>();
  std::vector<int64_t> by_category(static_cast<size_t>(n));
  std::iota(by_category.begin(), by_category.end(), 0);
  std::stable_sort(by_category.begin(), by_category.end(),
                   [category](int64_t a, int64_t c) { return category[a] < category[c]; });
  std::vector<int64_t> group_start{0};
  for (int64_t i = 1; i < n; ++i)
    if (category[by_category[i]] != category[by_category[i - 1]]) group_start.push_back(i);
  group_start.push_back(n);
  const int64_t groups = static_cast<int64_t>(group_start.size()) - 1;
  std::vector<uint8_t> kept(static_cast<size_t>(n), 0);
  std::vector<int64_t> result;
  AT_DISPATCH_FLOATING_TYPES(boxes.scalar_type(), "batched_nms_cpu", [&] {
    const scalar_t* box_data = b.data_ptr<scalar_t>();
    const scalar_t* score_data = s.data_ptr<scalar_t>();
    at::parallel_for(0, groups, 1, [&](int64_t g0, int64_t g1) {
      std::vector<int64_t> order, keep;
      for (int64_t g = g0; g < g1; ++g) {
        order.assign(by_category.begin() + group_start[g], by_category.begin() + group_start[g + 1]);
        sort_by_score(score_data, order);
        keep.clear();
        greedy_nms(box_data, order.data(), static_cast<int64_t>(order.size()), iou_threshold, keep);
        for (int64_t k : keep) kept[k] = 1;  // distinct indices per group: no two threads share one
      }
    });
    for (int64_t i = 0; i < n; ++i)
      if (kept[i]) result.push_back(i);
  });
  // Final order by torch's own (unstable) descending sort, as torchvision does, so that equal
  // scores come out in the same order too.
  const at::Tensor keep = at::tensor(result, boxes.options().dtype(at::kLong));
  const at::Tensor order = std::get<1>(s.index_select(0, keep).sort(/*dim=*/0, /*descending=*/true));
  return keep.index_select(0, order);
}

// Per-category NMS that stops at the first max_keep survivors. Boxes are visited once in global
// score order and compared only with the kept boxes of their category, so finding the best 100
// among 90 classes x 1000 RoIs costs O(N log N + N * kept) instead of O(N^2 / classes). Same
// survivors in the same order as the full per-category NMS and a cut; when two survivors up to
// the cut have equal scores it defers to the full computation, whose final (unstable) sort
// orders them as torchvision's does.
at::Tensor batched_nms_top_cpu(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                               double iou_threshold, int64_t max_keep) {
  if (is_reduced_float(boxes) || is_reduced_float(scores))
    return batched_nms_top_cpu(as_float32(boxes), as_float32(scores), idxs, iou_threshold, max_keep);
  check_nms_args(boxes, scores);
  TORCH_CHECK_VALUE(boxes.device().is_cpu(), "batched_nms: the CPU kernel got boxes on ", boxes.device());
  const int64_t n = boxes.size(0);
  std::vector<int64_t> result;
  if (n == 0 || max_keep == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor b = boxes.contiguous(), s = scores.contiguous();
  const at::Tensor cat = idxs.to(at::kLong).contiguous();
  // categories renumbered 0..K-1
  const at::Tensor inverse = std::get<1>(at::_unique(cat, /*sorted=*/true, /*return_inverse=*/true)).contiguous();
  const int64_t* category = inverse.data_ptr<int64_t>();
  bool tied = false;
  AT_DISPATCH_FLOATING_TYPES(boxes.scalar_type(), "batched_nms_top_cpu", [&] {
    using T = scalar_t;
    const T* box = b.data_ptr<T>();
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    sort_by_score(s.data_ptr<T>(), order);
    std::vector<std::vector<int64_t>> kept(static_cast<size_t>(inverse.max().item<int64_t>() + 1));
    const T* score = s.data_ptr<T>();
    bool full = false;  // max_keep survivors found; only looking for one tied with the last
    for (size_t t = 0; t < order.size(); ++t) {
      const int64_t j = order[t];
      if (full && score[j] != score[result.back()]) break;
      const T* c = box + 4 * j;
      const T carea = (c[2] - c[0]) * (c[3] - c[1]);
      bool suppressed = false;
      for (int64_t k : kept[category[j]]) {
        const T* q = box + 4 * k;
        if (overlaps(q[0], q[1], q[2], q[3], (q[2] - q[0]) * (q[3] - q[1]), c, carea, iou_threshold)) {
          suppressed = true;
          break;
        }
      }
      if (suppressed) continue;
      // Survivors with equal scores: the final sort (unstable, as torchvision's) orders them.
      if (!result.empty() && !(score[result.back()] != score[j])) {
        tied = true;
        break;
      }
      if (full) break;
      kept[category[j]].push_back(j);
      result.push_back(j);
      full = static_cast<int64_t>(result.size()) == max_keep;
    }
  });
  if (tied)  // rare with trained weights: take the full per-category result
    return batched_nms_per_category_cpu(boxes, scores, idxs, iou_threshold).slice(0, 0, max_keep);
  return at::tensor(result, boxes.options().dtype(at::kLong));
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CPU, m) {
  m.impl("_batched_nms_top", TORCH_FN(batched_nms_top_cpu));
  m.impl("nms", TORCH_FN(nms_cpu));
  m.impl("_batched_nms_per_category", TORCH_FN(batched_nms_per_category_cpu));
}

}  // namespace mrcnn::ops
