#include "mrcnn/ops/nms.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace mrcnn::ops {

void check_nms_args(const at::Tensor& boxes, const at::Tensor& scores) {
  TORCH_CHECK_VALUE(boxes.dim() == 2 && boxes.size(1) == 4,
                    "nms: boxes must have shape [N, 4], got ", boxes.sizes());
  TORCH_CHECK_VALUE(scores.dim() == 1, "nms: scores must have shape [N], got ", scores.sizes());
  TORCH_CHECK_VALUE(boxes.size(0) == scores.size(0), "nms: boxes has ", boxes.size(0),
                    " rows but scores has ", scores.size(0), " entries");
  TORCH_CHECK_TYPE(at::isFloatingType(boxes.scalar_type()),
                   "nms: boxes must be floating point, got ", boxes.scalar_type());
  TORCH_CHECK_TYPE(boxes.scalar_type() == scores.scalar_type(), "nms: scores must have the dtype of boxes (",
                   boxes.scalar_type(), "), got ", scores.scalar_type());
  TORCH_CHECK_VALUE(boxes.device() == scores.device(), "nms: boxes are on ", boxes.device(),
                    " but scores are on ", scores.device());
}

at::Tensor nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mrcnn::nms", "").typed<decltype(nms)>();
  return op.call(boxes, scores, iou_threshold);
}

namespace {

void check_idxs(const at::Tensor& boxes, const at::Tensor& idxs) {
  TORCH_CHECK_VALUE(idxs.dim() == 1 && idxs.size(0) == boxes.size(0), "batched_nms: idxs must have shape [",
                    boxes.size(0), "], got ", idxs.sizes());
  TORCH_CHECK_TYPE(!at::isFloatingType(idxs.scalar_type()) && !at::isComplexType(idxs.scalar_type()),
                   "batched_nms: idxs must be integer category ids, got ", idxs.scalar_type());
  TORCH_CHECK_VALUE(idxs.device() == boxes.device(), "batched_nms: boxes are on ", boxes.device(),
                    " but idxs are on ", idxs.device());
}

// One NMS per category; the device-generic version (the CPU kernel groups natively instead).
at::Tensor batched_nms_per_category(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                                    double iou_threshold) {
  at::Tensor keep_mask = at::zeros({boxes.size(0)}, boxes.options().dtype(at::kBool));
  const at::Tensor categories = std::get<0>(at::_unique(idxs));
  for (int64_t i = 0; i < categories.size(0); ++i) {
    const at::Tensor members = at::where(idxs == categories[i])[0];
    const at::Tensor kept = nms(boxes.index_select(0, members), scores.index_select(0, members), iou_threshold);
    keep_mask.index_fill_(0, members.index_select(0, kept), true);
  }
  const at::Tensor keep = at::where(keep_mask)[0];
  const at::Tensor order =
      std::get<1>(scores.index_select(0, keep).sort(/*dim=*/0, /*descending=*/true));
  return keep.index_select(0, order);
}

// Per-category NMS keeping the first max_keep survivors (the device-generic version).
at::Tensor batched_nms_top(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                           double iou_threshold, int64_t max_keep) {
  const at::Tensor keep = batched_nms_per_category(boxes, scores, idxs, iou_threshold);
  return max_keep >= 0 ? keep.slice(0, 0, max_keep) : keep;
}

}  // namespace

at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                       double iou_threshold, int64_t max_keep) {
  check_nms_args(boxes, scores);
  check_idxs(boxes, idxs);
  if (boxes.size(0) == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const int64_t vanilla_above = boxes.is_cpu() ? 4000 : 20000;
  if (boxes.numel() > vanilla_above && max_keep >= 0) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("mrcnn::_batched_nms_top", "")
                         .typed<decltype(batched_nms_top)>();
    return op.call(boxes, scores, idxs, iou_threshold, max_keep);
  }
  if (boxes.numel() > vanilla_above) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("mrcnn::_batched_nms_per_category", "")
                         .typed<decltype(batched_nms_per_category)>();
    return op.call(boxes, scores, idxs, iou_threshold);
  }
  // Offset each category's boxes by (category * (max coordinate + 1)) so they cannot overlap.
  const at::Tensor max_coordinate = boxes.max();
  const at::Tensor offsets = idxs.to(boxes.scalar_type()) * (max_coordinate + at::ones({}, boxes.options()));
  const at::Tensor keep = nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
  return max_keep >= 0 ? keep.slice(0, 0, max_keep) : keep;
}

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("nms(Tensor boxes, Tensor scores, float iou_threshold) -> Tensor");
  m.def("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold, int max_keep=-1) -> Tensor",
        TORCH_FN(batched_nms));
  m.def("_batched_nms_top(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold, int max_keep) -> Tensor");
  m.def("_batched_nms_per_category(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor");
}

TORCH_LIBRARY_IMPL(mrcnn, CompositeExplicitAutograd, m) {
  m.impl("_batched_nms_per_category", TORCH_FN(batched_nms_per_category));
  m.impl("_batched_nms_top", TORCH_FN(batched_nms_top));
}

}  // namespace mrcnn::ops
