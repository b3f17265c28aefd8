#include "mrcnn/model/rpn.h"

#include <sstream>

#include "mrcnn/model/sampling.h"
#include "mrcnn/ops/anchors.h"
#include "mrcnn/ops/box_coder.h"
#include "mrcnn/model/onednn.h"
#include "mrcnn/ops/nms.h"

namespace mrcnn::model {

namespace F = torch::nn::functional;

RpnHeadImpl::RpnHeadImpl(int64_t channels, int64_t anchors, int64_t hidden, int64_t depth) {
  if (hidden <= 0) hidden = channels;
  // torchvision 0.14 nests each 3x3 conv as conv.i.0 (Conv2dNormActivation in a Sequential)
  conv = register_module("conv", torch::nn::Sequential());
  for (int64_t i = 0; i < depth; ++i) {
    convs.emplace_back(torch::nn::Conv2dOptions(i == 0 ? channels : hidden, hidden, 3).padding(1));
    conv->push_back(SequentialBlock(convs.back()));
  }
  cls_logits = register_module("cls_logits", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, anchors, 1)));
  bbox_pred = register_module("bbox_pred", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, anchors * 4, 1)));
  std::vector<torch::nn::Conv2d*> all{&cls_logits, &bbox_pred};
  for (auto& c : convs) all.push_back(&c);
  for (auto* m : all) {
    torch::nn::init::normal_((*m)->weight, 0, 0.01);
    torch::nn::init::zeros_((*m)->bias);
  }
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> RpnHeadImpl::forward(
    const std::vector<torch::Tensor>& x) {
  std::vector<torch::Tensor> logits, deltas;
  for (const torch::Tensor& f : x) {
    torch::Tensor t = f;
    for (const auto& c : convs) t = torch::relu(model::conv3x3(t, c->weight, c->bias, winograd));
    logits.push_back(cls_logits(t));
    deltas.push_back(bbox_pred(t));
  }
  return {logits, deltas};
}

RpnImpl::RpnImpl(const Config& c) : config(c) {
  const int64_t a = static_cast<int64_t>(c.RPN_ANCHOR_RATIOS.size());
  head = register_module("head", RpnHead(c.TOP_DOWN_PYRAMID_SIZE, a, c.RPN_HEAD_CHANNELS, c.ARCHITECTURE == "v2" ? 2 : 1));
  head->winograd = c.CONV_WINOGRAD;
  // the config's ratios are width/height (Matterport's); the op takes torchvision's height/width
  std::vector<double> height_over_width;
  for (double r : c.RPN_ANCHOR_RATIOS) height_over_width.push_back(1.0 / r);
  for (double size : c.RPN_ANCHOR_SCALES) cell_anchors.push_back(ops::cell_anchors({size}, height_over_width));
}

torch::Tensor RpnImpl::anchors(const torch::Tensor& images, const std::vector<torch::Tensor>& features) {
  std::ostringstream key;
  key << images.size(-2) << "x" << images.size(-1) << "@" << images.device() << ":" << features[0].scalar_type();
  for (const auto& f : features) key << "," << f.size(-2) << "x" << f.size(-1);
  auto it = anchor_cache.find(key.str());
  if (it != anchor_cache.end()) return it->second;
  std::vector<torch::Tensor> levels;
  for (size_t l = 0; l < features.size(); ++l) {
    const int64_t gh = features[l].size(-2), gw = features[l].size(-1);
    // anchors follow the features' dtype, except under mixed precision: pixel coordinates up to
    // ~1333 need float32 (bf16 would round them to 4-8 px)
    const auto type = features[l].scalar_type();
    const bool reduced = type == torch::kHalf || type == torch::kBFloat16;
    const torch::Tensor cell = cell_anchors[l].to(features[l].options().dtype(reduced ? torch::kFloat : type));
    levels.push_back(ops::grid_anchors(cell, gh, gw, images.size(-2) / gh, images.size(-1) / gw));
  }
  if (anchor_cache.size() > 16) anchor_cache.clear();
  return anchor_cache[key.str()] = torch::cat(levels, 0);
}

namespace {

// [N, A*C, H, W] -> [N, H*W*A, C], as torchvision's permute_and_flatten
torch::Tensor flatten_level(const torch::Tensor& t, int64_t c) {
  const int64_t n = t.size(0), h = t.size(2), w = t.size(3);
  return t.reshape({n, -1, c, h, w}).permute({0, 3, 4, 1, 2}).reshape({n, -1, c});
}

}  // namespace

RpnOutput RpnImpl::forward(const torch::Tensor& images, const std::vector<std::pair<int64_t, int64_t>>& image_sizes,
                           const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>* gt_boxes) {
  const bool training = is_training();
  auto [logits, deltas] = head(features);
  const torch::Tensor all_anchors = anchors(images, features);
  const int64_t n = images.size(0);
  std::vector<int64_t> per_level;
  std::vector<torch::Tensor> obj_levels, delta_levels;
  for (size_t l = 0; l < logits.size(); ++l) {
    per_level.push_back(logits[l].size(1) * logits[l].size(2) * logits[l].size(3));
    obj_levels.push_back(flatten_level(logits[l], 1));
    delta_levels.push_back(flatten_level(deltas[l], 4));
  }
  const torch::Tensor objectness = torch::cat(obj_levels, 1).flatten(0, -2);  // [N * total, 1]
  const torch::Tensor pred_deltas = torch::cat(delta_levels, 1).reshape({-1, 4});
  const ops::BoxWeights weights = ops::weights_from_std(config.RPN_BBOX_STD_DEV);
  const torch::Tensor batch_anchors = all_anchors.repeat({n, 1});
  const torch::Tensor proposals =
      ops::decode_boxes(pred_deltas.detach(), batch_anchors, weights).view({n, -1, 4});

  // filter_proposals: top-k per level (torchvision) or over all anchors (Matterport), clip, drop
  // tiny, NMS per level or over all, keep the best.
  const int64_t pre_nms = training ? config.PRE_NMS_LIMIT_TRAINING : config.PRE_NMS_LIMIT;
  const int64_t post_nms = training ? config.POST_NMS_ROIS_TRAINING : config.POST_NMS_ROIS_INFERENCE;
  // scores in the proposals' dtype (float32 under mixed precision, where the logits are bf16/fp16)
  const torch::Tensor obj = objectness.detach().reshape({n, -1}).to(proposals.scalar_type());
  std::vector<torch::Tensor> top_idx, lvl_ids;
  if (config.PRE_NMS_PER_LEVEL) {
    int64_t offset = 0;
    for (size_t l = 0; l < per_level.size(); ++l) {
      const torch::Tensor ob = obj.narrow(1, offset, per_level[l]);
      const int64_t k = std::min(pre_nms, per_level[l]);
      top_idx.push_back(std::get<1>(ob.topk(k, 1)) + offset);
      lvl_ids.push_back(torch::full({k}, static_cast<int64_t>(l), obj.options().dtype(torch::kLong)));
      offset += per_level[l];
    }
  } else {  // one group: every level competes for the limit and in the NMS
    const int64_t k = std::min(pre_nms, obj.size(1));
    top_idx.push_back(std::get<1>(obj.topk(k, 1)));
    lvl_ids.push_back(torch::zeros({k}, obj.options().dtype(torch::kLong)));
  }
  const torch::Tensor top = torch::cat(top_idx, 1);
  const torch::Tensor levels = torch::cat(lvl_ids, 0);
  const torch::Tensor batch_idx = torch::arange(n, top.options()).unsqueeze(1);
  const torch::Tensor top_obj = obj.index({batch_idx, top}).sigmoid();
  const torch::Tensor top_boxes = proposals.index({batch_idx, top});
  RpnOutput out;
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor boxes = ops::clip_boxes(top_boxes[i], image_sizes[i].first, image_sizes[i].second);
    torch::Tensor scores = top_obj[i], lvl = levels;
    torch::Tensor keep = ops::remove_small_boxes(boxes, config.RPN_MIN_SIZE);
    boxes = boxes.index({keep}), scores = scores.index({keep}), lvl = lvl.index({keep});
    keep = torch::where(scores >= 0.0)[0];
    boxes = boxes.index({keep}), scores = scores.index({keep}), lvl = lvl.index({keep});
    keep = ops::batched_nms(boxes, scores, lvl, config.RPN_NMS_THRESHOLD, post_nms);
    out.proposals.push_back(boxes.index({keep}));
    out.scores.push_back(scores.index({keep}));
  }
  if (!training || gt_boxes == nullptr) return out;

  // Losses: anchors matched to ground truth, 256 sampled per image, half positive at most.
  std::vector<torch::Tensor> labels, targets;
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor& gt = (*gt_boxes)[i];
    if (gt.numel() == 0) {
      labels.push_back(torch::zeros({all_anchors.size(0)}, all_anchors.options()));
      targets.push_back(torch::zeros_like(all_anchors));
      continue;
    }
    const torch::Tensor matches = match(ops::box_iou(gt, all_anchors), config.RPN_FG_IOU_THRESHOLD,
                                        config.RPN_BG_IOU_THRESHOLD, true);
    const torch::Tensor matched_gt = gt.index({matches.clamp_min(0)});
    torch::Tensor l = (matches >= 0).to(torch::kFloat);
    l.masked_fill_(matches == kBelowLowThreshold, 0.0);
    l.masked_fill_(matches == kBetweenThresholds, -1.0);
    labels.push_back(l);
    targets.push_back(matched_gt);
  }
  // box_coder.encode over the whole batch at once, as torchvision
  const torch::Tensor reg_targets = ops::encode_boxes(torch::cat(targets, 0), batch_anchors, weights);
  const StepContext* context = step_context.get();
  auto [pos, neg] =
      sample_balanced(labels, config.RPN_TRAIN_ANCHORS_PER_IMAGE, config.RPN_POSITIVE_RATIO, context, /*stream=*/1);
  const torch::Tensor pos_inds = torch::where(torch::cat(pos, 0))[0];
  const torch::Tensor neg_inds = torch::where(torch::cat(neg, 0))[0];
  const torch::Tensor sampled = torch::cat({pos_inds, neg_inds}, 0);
  const torch::Tensor all_labels = torch::cat(labels, 0);
  // Both losses are means over the sampled anchors: one normaliser.
  const double scale = step_scale(sampled.numel(), context);
  out.losses["loss_rpn_box_reg"] =
      torch::smooth_l1_loss(pred_deltas.index({pos_inds}), reg_targets.index({pos_inds}), at::Reduction::Sum,
                            1.0 / 9) /
      static_cast<double>(sampled.numel()) * scale;
  out.losses["loss_objectness"] =
      F::binary_cross_entropy_with_logits(objectness.flatten().index({sampled}), all_labels.index({sampled})) *
      scale;
  return out;
}

}  // namespace mrcnn::model
