// Box coding as composite tensor operations: the same sequence of operations as torchvision's
// BoxCoder, so results agree bit for bit on any device and autograd works through them.
#include "mrcnn/ops/box_coder.h"

#include <torch/library.h>

namespace mrcnn::ops {

namespace {

void check_boxes(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 2 && t.size(1) == 4, op, ": ", name, " must have shape [K, 4], got ", t.sizes());
  TORCH_CHECK_TYPE(at::isFloatingType(t.scalar_type()), op, ": ", name, " must be floating point, got ",
                   t.scalar_type());
}

BoxWeights to_weights(at::ArrayRef<double> w, const char* op) {
  TORCH_CHECK_VALUE(w.size() == 4, op, ": weights must be (wx, wy, ww, wh), got ", w.size(), " values");
  return {w[0], w[1], w[2], w[3]};
}

}  // namespace

at::Tensor encode_boxes(const at::Tensor& gt, const at::Tensor& proposals, const BoxWeights& weights) {
  check_boxes(gt, "encode_boxes", "gt");
  check_boxes(proposals, "encode_boxes", "proposals");
  TORCH_CHECK_VALUE(gt.size(0) == proposals.size(0), "encode_boxes: gt has ", gt.size(0), " rows but proposals has ",
                    proposals.size(0));
  TORCH_CHECK_VALUE(gt.device() == proposals.device(), "encode_boxes: gt is on ", gt.device(),
                    " but proposals are on ", proposals.device());
  const at::Tensor w = at::tensor(std::vector<double>(weights.begin(), weights.end()), at::TensorOptions(at::kDouble))
                           .to(gt.options());
  const at::Tensor wx = w[0], wy = w[1], ww = w[2], wh = w[3];
  const at::Tensor px1 = proposals.select(1, 0).unsqueeze(1), py1 = proposals.select(1, 1).unsqueeze(1);
  const at::Tensor px2 = proposals.select(1, 2).unsqueeze(1), py2 = proposals.select(1, 3).unsqueeze(1);
  const at::Tensor gx1 = gt.select(1, 0).unsqueeze(1), gy1 = gt.select(1, 1).unsqueeze(1);
  const at::Tensor gx2 = gt.select(1, 2).unsqueeze(1), gy2 = gt.select(1, 3).unsqueeze(1);
  const at::Tensor ex_w = px2 - px1, ex_h = py2 - py1;
  const at::Tensor ex_cx = px1 + 0.5 * ex_w, ex_cy = py1 + 0.5 * ex_h;
  const at::Tensor gt_w = gx2 - gx1, gt_h = gy2 - gy1;
  const at::Tensor gt_cx = gx1 + 0.5 * gt_w, gt_cy = gy1 + 0.5 * gt_h;
  const at::Tensor dx = wx * (gt_cx - ex_cx) / ex_w;
  const at::Tensor dy = wy * (gt_cy - ex_cy) / ex_h;
  const at::Tensor dw = ww * at::log(gt_w / ex_w);
  const at::Tensor dh = wh * at::log(gt_h / ex_h);
  return at::cat({dx, dy, dw, dh}, 1);
}

at::Tensor decode_boxes(const at::Tensor& deltas, const at::Tensor& boxes, const BoxWeights& weights, double clip) {
  check_boxes(boxes, "decode_boxes", "boxes");
  TORCH_CHECK_VALUE(deltas.dim() == 2 && deltas.size(0) == boxes.size(0) && deltas.size(1) % 4 == 0,
                    "decode_boxes: deltas must have shape [", boxes.size(0), ", 4 * M], got ", deltas.sizes());
  TORCH_CHECK_VALUE(deltas.device() == boxes.device(), "decode_boxes: deltas are on ", deltas.device(),
                    " but boxes are on ", boxes.device());
  // torchvision casts the boxes to the deltas' dtype; under mixed precision that would put
  // proposals in bf16/fp16 (pixel errors at 800 px), so both go to the wider of the two (float32
  // with float32 inputs, as before).
  const at::ScalarType type = at::promote_types(deltas.scalar_type(), boxes.scalar_type());
  const at::Tensor b = boxes.to(type);
  const at::Tensor d = deltas.to(type);
  const at::Tensor widths = b.select(1, 2) - b.select(1, 0);
  const at::Tensor heights = b.select(1, 3) - b.select(1, 1);
  const at::Tensor ctr_x = b.select(1, 0) + 0.5 * widths;
  const at::Tensor ctr_y = b.select(1, 1) + 0.5 * heights;
  using at::indexing::None;
  using at::indexing::Slice;
  const at::Tensor dx = d.index({Slice(), Slice(0, None, 4)}) / weights[0];
  const at::Tensor dy = d.index({Slice(), Slice(1, None, 4)}) / weights[1];
  const at::Tensor dw = at::clamp_max(d.index({Slice(), Slice(2, None, 4)}) / weights[2], clip);
  const at::Tensor dh = at::clamp_max(d.index({Slice(), Slice(3, None, 4)}) / weights[3], clip);
  const at::Tensor pred_cx = dx * widths.unsqueeze(1) + ctr_x.unsqueeze(1);
  const at::Tensor pred_cy = dy * heights.unsqueeze(1) + ctr_y.unsqueeze(1);
  const at::Tensor pred_w = at::exp(dw) * widths.unsqueeze(1);
  const at::Tensor pred_h = at::exp(dh) * heights.unsqueeze(1);
  const at::Tensor half = at::scalar_tensor(0.5, pred_w.options());
  const at::Tensor half_h = half * pred_h, half_w = half * pred_w;
  return at::stack({pred_cx - half_w, pred_cy - half_h, pred_cx + half_w, pred_cy + half_h}, 2);
}

at::Tensor clip_boxes(const at::Tensor& boxes, int64_t height, int64_t width) {
  TORCH_CHECK_VALUE(boxes.size(-1) == 4, "clip_boxes: boxes must have shape [..., 4], got ", boxes.sizes());
  const at::Tensor x = boxes.index({at::indexing::Ellipsis, at::indexing::Slice(0, at::indexing::None, 2)})
                           .clamp(0, width);
  const at::Tensor y = boxes.index({at::indexing::Ellipsis, at::indexing::Slice(1, at::indexing::None, 2)})
                           .clamp(0, height);
  return at::stack({x, y}, boxes.dim()).reshape(boxes.sizes());
}

at::Tensor remove_small_boxes(const at::Tensor& boxes, double min_size) {
  check_boxes(boxes, "remove_small_boxes", "boxes");
  const at::Tensor ws = boxes.select(1, 2) - boxes.select(1, 0);
  const at::Tensor hs = boxes.select(1, 3) - boxes.select(1, 1);
  return at::where(at::logical_and(ws >= min_size, hs >= min_size))[0];
}

at::Tensor box_iou(const at::Tensor& a, const at::Tensor& b) {
  check_boxes(a, "box_iou", "a");
  check_boxes(b, "box_iou", "b");
  const at::Tensor area_a = (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
  const at::Tensor area_b = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  const at::Tensor lt = at::max(a.unsqueeze(1).slice(2, 0, 2), b.slice(1, 0, 2));
  const at::Tensor rb = at::min(a.unsqueeze(1).slice(2, 2, 4), b.slice(1, 2, 4));
  const at::Tensor wh = (rb - lt).clamp_min(0);
  const at::Tensor inter = wh.select(2, 0) * wh.select(2, 1);
  const at::Tensor uni = area_a.unsqueeze(1) + area_b - inter;
  return inter / uni;
}

namespace {

at::Tensor encode_boxes_op(const at::Tensor& gt, const at::Tensor& proposals, at::ArrayRef<double> weights) {
  return encode_boxes(gt, proposals, to_weights(weights, "encode_boxes"));
}

at::Tensor decode_boxes_op(const at::Tensor& deltas, const at::Tensor& boxes, at::ArrayRef<double> weights,
                           double clip) {
  return decode_boxes(deltas, boxes, to_weights(weights, "decode_boxes"), clip);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mrcnn, m) {
  m.def("encode_boxes(Tensor gt, Tensor proposals, float[] weights) -> Tensor", TORCH_FN(encode_boxes_op));
  m.def("decode_boxes(Tensor deltas, Tensor boxes, float[] weights, float clip=4.135166556742356) -> Tensor",
        TORCH_FN(decode_boxes_op));
  m.def("clip_boxes(Tensor boxes, int height, int width) -> Tensor", TORCH_FN(clip_boxes));
  m.def("remove_small_boxes(Tensor boxes, float min_size) -> Tensor", TORCH_FN(remove_small_boxes));
  m.def("box_iou(Tensor a, Tensor b) -> Tensor", TORCH_FN(box_iou));
}

}  // namespace mrcnn::ops
