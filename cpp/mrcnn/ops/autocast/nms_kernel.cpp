// Autocast (mixed precision) for mrcnn::nms and its per-category passes: boxes and scores are
// compared in float32 whatever autocast made of them (half-precision IoUs would merge or split
// boxes that float32 keeps apart). The results are indices, so nothing is cast back.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "mrcnn/ops/nms.h"

namespace mrcnn::ops {

namespace {

template <c10::DispatchKey key>
at::Tensor nms_autocast(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(key);
  return nms(boxes.to(at::kFloat), scores.to(at::kFloat), iou_threshold);
}

template <c10::DispatchKey key>
at::Tensor per_category_autocast(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                                 double iou_threshold) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(key);
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mrcnn::_batched_nms_per_category", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double)>();
  return op.call(boxes.to(at::kFloat), scores.to(at::kFloat), idxs, iou_threshold);
}

template <c10::DispatchKey key>
at::Tensor top_autocast(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                        double iou_threshold, int64_t max_keep) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(key);
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mrcnn::_batched_nms_top", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, int64_t)>();
  return op.call(boxes.to(at::kFloat), scores.to(at::kFloat), idxs, iou_threshold, max_keep);
}

template <c10::DispatchKey key>
void register_autocast(torch::Library& m) {
  m.impl("nms", TORCH_FN(nms_autocast<key>));
  m.impl("_batched_nms_per_category", TORCH_FN(per_category_autocast<key>));
  m.impl("_batched_nms_top", TORCH_FN(top_autocast<key>));
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, Autocast, m) { register_autocast<c10::DispatchKey::Autocast>(m); }

TORCH_LIBRARY_IMPL(mrcnn, AutocastCPU, m) { register_autocast<c10::DispatchKey::AutocastCPU>(m); }

}  // namespace mrcnn::ops
