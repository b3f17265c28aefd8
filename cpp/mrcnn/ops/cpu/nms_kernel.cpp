// CPU kernel of mrcnn::nms. Same arithmetic as torchvision's (areas and IoU in the boxes'
// dtype, compared with the threshold in double), so the kept indices are identical.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <vector>

#include "mrcnn/ops/nms.h"

namespace mrcnn::ops {

namespace {

template <typename scalar_t>
void nms_cpu_impl(const at::Tensor& boxes, const at::Tensor& order, double iou_threshold,
                  std::vector<int64_t>& keep) {
  const int64_t n = boxes.size(0);
  // Boxes gathered in score order, as x1 y1 x2 y2 area rows, so the inner loop is sequential.
  const at::Tensor sorted = boxes.index_select(0, order).contiguous();
  const scalar_t* b = sorted.data_ptr<scalar_t>();
  const int64_t* ord = order.data_ptr<int64_t>();
  std::vector<scalar_t> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  std::vector<uint8_t> removed(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    keep.push_back(ord[i]);
    const scalar_t ix1 = b[4 * i], iy1 = b[4 * i + 1], ix2 = b[4 * i + 2], iy2 = b[4 * i + 3];
    const scalar_t ia = area[i];
    for (int64_t j = i + 1; j < n; ++j) {
      if (removed[j]) continue;
      const scalar_t xx1 = std::max(ix1, b[4 * j]), yy1 = std::max(iy1, b[4 * j + 1]);
      const scalar_t xx2 = std::min(ix2, b[4 * j + 2]), yy2 = std::min(iy2, b[4 * j + 3]);
      const scalar_t w = std::max(static_cast<scalar_t>(0), xx2 - xx1);
      const scalar_t h = std::max(static_cast<scalar_t>(0), yy2 - yy1);
      const scalar_t inter = w * h;
      const scalar_t iou = inter / (ia + area[j] - inter);
      if (iou > iou_threshold) removed[j] = 1;
    }
  }
}

at::Tensor nms_cpu(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  check_nms_args(boxes, scores);
  TORCH_CHECK_VALUE(boxes.device().is_cpu(), "nms: the CPU kernel got boxes on ", boxes.device());
  if (boxes.size(0) == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  std::vector<int64_t> keep;
  keep.reserve(static_cast<size_t>(boxes.size(0)));
  AT_DISPATCH_FLOATING_TYPES(boxes.scalar_type(), "nms_cpu", [&] {
    nms_cpu_impl<scalar_t>(boxes, order.contiguous(), iou_threshold, keep);
  });
  return at::tensor(keep, boxes.options().dtype(at::kLong));
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CPU, m) {
  m.impl("nms", TORCH_FN(nms_cpu));
}

}  // namespace mrcnn::ops
