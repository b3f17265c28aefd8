#include "mrcnn/model/roi_heads.h"

#include "mrcnn/model/sampling.h"
#include "mrcnn/ops/box_coder.h"
#include "mrcnn/model/onednn.h"
#include "mrcnn/ops/multiscale_roi_align.h"
#include "mrcnn/ops/nms.h"
#include "mrcnn/ops/roi_align.h"

namespace mrcnn::model {

namespace F = torch::nn::functional;

BoxHeadImpl::BoxHeadImpl(int64_t in_features, int64_t hidden) {
  fc6 = register_module("fc6", torch::nn::Linear(in_features, hidden));
  fc7 = register_module("fc7", torch::nn::Linear(hidden, hidden));
}

torch::Tensor BoxHeadImpl::forward(const torch::Tensor& x) {
  if (fast_path && model::onednn_applies(x)) {
    const torch::Tensor h = torch::relu(model::linear(x.flatten(1), fc6->weight, fc6->bias, true));
    return torch::relu(model::linear(h, fc7->weight, fc7->bias, true));
  }
  torch::Tensor h;
  if (fast_path && x.dim() == 4) {
    // fc6 on [K, C, 7, 7] features is a 7x7 convolution without padding (same weights, viewed as
    // [out, C, 7, 7]); oneDNN runs it about 1.6x faster than the BLAS matrix product on CPU.
    h = torch::conv2d(x, fc6->weight.view({fc6->weight.size(0), x.size(1), x.size(2), x.size(3)}), fc6->bias)
            .flatten(1);
  } else {
    h = fc6(x.flatten(1));
  }
  return torch::relu(fc7(torch::relu(h)));
}

ConvFcBoxHeadImpl::ConvFcBoxHeadImpl(int64_t channels, int64_t pool_size, int64_t hidden, bool batch_statistics)
    : ConvNormStackImpl(channels, 256, 4, true, batch_statistics) {
  fc = register_module("5", torch::nn::Linear(256 * pool_size * pool_size, hidden));
}

torch::Tensor ConvFcBoxHeadImpl::forward(const torch::Tensor& x) {
  return torch::relu(fc(ConvNormStackImpl::forward(x).flatten(1)));
}

BoxPredictorImpl::BoxPredictorImpl(int64_t in_features, int64_t num_classes) {
  cls_score = register_module("cls_score", torch::nn::Linear(in_features, num_classes));
  bbox_pred = register_module("bbox_pred", torch::nn::Linear(in_features, num_classes * 4));
}

std::pair<torch::Tensor, torch::Tensor> BoxPredictorImpl::forward(const torch::Tensor& x) {
  const torch::Tensor f = x.flatten(1);
  return {cls_score(f), bbox_pred(f)};
}

MaskPredictorImpl::MaskPredictorImpl(int64_t in_channels, int64_t hidden, int64_t num_classes) {
  conv5_mask = register_module(
      "conv5_mask", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in_channels, hidden, 2).stride(2)));
  mask_fcn_logits = register_module("mask_fcn_logits", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, num_classes, 1)));
  torch::nn::init::kaiming_normal_(conv5_mask->weight, 0, torch::kFanOut, torch::kReLU);
  torch::nn::init::zeros_(conv5_mask->bias);
  torch::nn::init::kaiming_normal_(mask_fcn_logits->weight, 0, torch::kFanOut, torch::kReLU);
  torch::nn::init::zeros_(mask_fcn_logits->bias);
}

// The 2x2 stride-2 transposed convolution writes each input pixel to its own 2x2 output block, so
// it is one matrix product [N*H*W, in] x [in, out*4] and a pixel shuffle: several times faster on
// CPU than ATen's general transposed convolution, the same sums.
torch::Tensor MaskPredictorImpl::forward(const torch::Tensor& x) {
  const torch::Tensor& w = conv5_mask->weight;  // [in, out, 2, 2]
  const int64_t n = x.size(0), in = x.size(1), h = x.size(2), wd = x.size(3), out = w.size(1);
  const torch::Tensor cols = x.permute({0, 2, 3, 1}).reshape({-1, in}).matmul(w.reshape({in, out * 4}));
  const torch::Tensor up = cols.view({n, h, wd, out, 2, 2}).permute({0, 3, 1, 4, 2, 5}).reshape({n, out, 2 * h, 2 * wd}) +
                           conv5_mask->bias.view({1, -1, 1, 1});
  return mask_fcn_logits(torch::relu(up));
}

torch::Tensor MaskPredictorImpl::forward_for_labels(const torch::Tensor& x, const torch::Tensor& labels) {
  const torch::Tensor& w = conv5_mask->weight;  // [in, out, 2, 2]
  const int64_t n = x.size(0), in = x.size(1), h = x.size(2), wd = x.size(3), out = w.size(1);
  if (n == 0) return torch::empty({0, 2 * h, 2 * wd}, x.options());
  // output channel (ky * 2 + kx) * out + c of the 1x1 convolution is channel c at offset (ky, kx)
  const torch::Tensor w1x1 = w.permute({2, 3, 1, 0}).reshape({4 * out, in, 1, 1});
  torch::Tensor up = torch::conv2d(x.contiguous(torch::MemoryFormat::ChannelsLast), w1x1);  // [N, 4*out, H, W] NHWC
  up = up.permute({0, 2, 3, 1}).reshape({n, h * wd * 4, out});  // (y, x, ky, kx) rows; no copy when NHWC
  up.add_(conv5_mask->bias).relu_();
  const int64_t classes = mask_fcn_logits->weight.size(0);
  const torch::Tensor wl = mask_fcn_logits->weight.view({classes, out}).index_select(0, labels);  // [N, out]
  const torch::Tensor bl = mask_fcn_logits->bias.index_select(0, labels);                        // [N]
  const torch::Tensor logits = torch::bmm(up, wl.unsqueeze(2)).view({n, h, wd, 2, 2}) + bl.view({n, 1, 1, 1, 1});
  return logits.permute({0, 1, 3, 2, 4}).reshape({n, 2 * h, 2 * wd});
}

RoiHeadsImpl::RoiHeadsImpl(const Config& c, const std::vector<int64_t>& feature_strides) : config(c) {
  TORCH_CHECK_VALUE(feature_strides.size() >= 4, "RoiHeads: the backbone must give the strides of at least 4 ",
                    "levels (P2..P5), got ", feature_strides.size());
  for (size_t l = 0; l < 4; ++l) pool_scales.push_back(1.0 / static_cast<double>(feature_strides[l]));
  const int64_t ch = c.TOP_DOWN_PYRAMID_SIZE;
  const bool v2 = c.ARCHITECTURE == "v2";
  if (v2) {
    box_conv_head = register_module("box_head", ConvFcBoxHead(ch, c.POOL_SIZE, c.FPN_CLASSIF_FC_LAYERS_SIZE, c.TRAIN_BN));
    box_conv_head->winograd = c.CONV_WINOGRAD;
  } else {
    box_head = register_module("box_head", BoxHead(ch * c.POOL_SIZE * c.POOL_SIZE, c.FPN_CLASSIF_FC_LAYERS_SIZE));
    box_head->fast_path = c.CHANNELS_LAST;
  }
  box_predictor = register_module("box_predictor", BoxPredictor(c.FPN_CLASSIF_FC_LAYERS_SIZE, c.NUM_CLASSES));
  // mask_head.{0..3}: torchvision's MaskRCNNHeads (v2: with BatchNorm and no conv bias)
  mask_head = register_module("mask_head", ConvNormStack(ch, 256, 4, v2, c.TRAIN_BN));
  mask_head->winograd = c.CONV_WINOGRAD;
  mask_predictor = register_module("mask_predictor", MaskPredictor(256, 256, c.NUM_CLASSES));
}

torch::Tensor RoiHeadsImpl::pool(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& boxes,
                                 int64_t size) const {
  const std::vector<torch::Tensor> levels(features.begin(), features.begin() + 4);
  return ops::multiscale_roi_align(levels, boxes, pool_scales, size, size, config.ROI_SAMPLING_RATIO);
}

torch::Tensor RoiHeadsImpl::mask_logits(const std::vector<torch::Tensor>& features,
                                        const std::vector<torch::Tensor>& boxes) {
  torch::Tensor pooled = pool(features, boxes, config.MASK_POOL_SIZE);
  if (config.CHANNELS_LAST) pooled = pooled.contiguous(torch::MemoryFormat::ChannelsLast);
  return mask_predictor(mask_features(pooled));
}

torch::Tensor RoiHeadsImpl::mask_features(const torch::Tensor& pooled) { return mask_head(pooled); }

namespace {

std::vector<int64_t> counts(const std::vector<torch::Tensor>& per_image) {
  std::vector<int64_t> n;
  for (const auto& t : per_image) n.push_back(t.size(0));
  return n;
}

}  // namespace

RoiHeadsOutput RoiHeadsImpl::forward(const std::vector<torch::Tensor>& features,
                                     const std::vector<torch::Tensor>& proposals_in,
                                     const std::vector<std::pair<int64_t, int64_t>>& image_sizes,
                                     const std::vector<Target>* targets) {
  const bool training = is_training() && targets != nullptr;
  const ops::BoxWeights weights = ops::weights_from_std(config.BBOX_STD_DEV);
  std::vector<torch::Tensor> proposals = proposals_in, labels, matched, reg_targets;
  if (training) {
    // select_training_samples: add the ground truth, match, sample 512 (25% positive), encode.
    std::vector<torch::Tensor> matched_gt;
    for (size_t i = 0; i < proposals.size(); ++i) {
      const Target& t = (*targets)[i];
      const torch::Tensor gt_boxes = t.boxes.to(proposals[i].scalar_type());
      proposals[i] = torch::cat({proposals[i], gt_boxes}, 0);
      torch::Tensor m, l;
      if (gt_boxes.numel() == 0) {
        m = torch::zeros({proposals[i].size(0)}, t.labels.options().dtype(torch::kLong));
        l = torch::zeros({proposals[i].size(0)}, t.labels.options().dtype(torch::kLong));
      } else {
        const torch::Tensor raw = match(ops::box_iou(gt_boxes, proposals[i]), config.ROI_FG_IOU_THRESHOLD,
                                        config.ROI_BG_IOU_THRESHOLD, false);
        m = raw.clamp_min(0);
        l = t.labels.index({m}).to(torch::kLong);
        l.masked_fill_(raw == kBelowLowThreshold, 0);
        l.masked_fill_(raw == kBetweenThresholds, -1);
      }
      matched.push_back(m);
      labels.push_back(l);
    }
    auto [pos, neg] = sample_balanced(labels, config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO,
                                      step_context.get(), /*stream=*/2);
    for (size_t i = 0; i < proposals.size(); ++i) {
      const torch::Tensor keep = torch::where(pos[i].logical_or(neg[i]))[0];
      proposals[i] = proposals[i].index({keep});
      labels[i] = labels[i].index({keep});
      matched[i] = matched[i].index({keep});
      torch::Tensor gt_boxes = (*targets)[i].boxes.to(proposals[i].scalar_type());
      if (gt_boxes.numel() == 0) gt_boxes = torch::zeros({1, 4}, proposals[i].options());
      matched_gt.push_back(gt_boxes.index({matched[i]}));
    }
    reg_targets.push_back(ops::encode_boxes(torch::cat(matched_gt, 0), torch::cat(proposals, 0), weights));
  }

  const torch::Tensor pooled = pool(features, proposals, config.POOL_SIZE);
  const torch::Tensor box_features = box_conv_head ? box_conv_head(pooled) : box_head(pooled);
  auto [class_logits, box_regression] = box_predictor(box_features);
  RoiHeadsOutput out;

  if (training) {
    const torch::Tensor all_labels = torch::cat(labels, 0);
    const StepContext* context = step_context.get();
    // The classifier and box losses are both means over the sampled RoIs: one normaliser.
    const double scale = step_scale(all_labels.numel(), context);
    out.losses["loss_classifier"] = F::cross_entropy(class_logits, all_labels) * scale;
    const torch::Tensor pos_inds = torch::where(all_labels > 0)[0];
    const torch::Tensor labels_pos = all_labels.index({pos_inds});
    const int64_t n = class_logits.size(0);
    const torch::Tensor reg = box_regression.reshape({n, box_regression.size(-1) / 4, 4});
    out.losses["loss_box_reg"] = torch::smooth_l1_loss(reg.index({pos_inds, labels_pos}), reg_targets[0].index({pos_inds}),
                                                       at::Reduction::Sum, 1.0 / 9) /
                                 static_cast<double>(all_labels.numel()) * scale;
    // Mask loss on the positive RoIs: targets are the ground-truth masks RoIAligned to M x M.
    std::vector<torch::Tensor> mask_boxes, mask_labels, mask_targets;
    const int64_t m = config.MASK_SHAPE[0];
    for (size_t i = 0; i < proposals.size(); ++i) {
      const torch::Tensor pos = torch::where(labels[i] > 0)[0];
      const torch::Tensor boxes = proposals[i].index({pos});
      const torch::Tensor idx = matched[i].index({pos});
      mask_boxes.push_back(boxes);
      mask_labels.push_back((*targets)[i].labels.index({idx}).to(torch::kLong));
      const torch::Tensor gt_masks = (*targets)[i].masks.unsqueeze(1).to(boxes.scalar_type());
      const torch::Tensor rois = torch::cat({idx.to(boxes.scalar_type()).unsqueeze(1), boxes}, 1);
      mask_targets.push_back(ops::roi_align(gt_masks, rois, 1.0, m, m, -1, false).select(1, 0));
    }
    const torch::Tensor logits = mask_logits(features, mask_boxes);
    const torch::Tensor lab = torch::cat(mask_labels, 0), tgt = torch::cat(mask_targets, 0);
    if (tgt.numel() == 0) {
      join_step_count_without_terms(context);
      out.losses["loss_mask"] = logits.sum() * 0;
    } else {
      const torch::Tensor chosen = logits.index({torch::arange(lab.size(0), lab.options()), lab});
      out.losses["loss_mask"] = F::binary_cross_entropy_with_logits(chosen, tgt) * step_scale(tgt.numel(), context);
    }
    return out;
  }

  // postprocess_detections: per-class boxes, softmax scores, drop background, threshold, NMS.
  const int64_t num_classes = class_logits.size(-1);
  const torch::Tensor pred_boxes = ops::decode_boxes(box_regression, torch::cat(proposals, 0), weights);
  // scores in the boxes' dtype (float32 also when autocast made the logits bf16/fp16)
  const torch::Tensor pred_scores = F::softmax(class_logits.to(pred_boxes.scalar_type()), F::SoftmaxFuncOptions(-1));
  const std::vector<int64_t> per_image = counts(proposals);
  const auto boxes_list = pred_boxes.split_with_sizes(per_image, 0);
  const auto scores_list = pred_scores.split_with_sizes(per_image, 0);
  std::vector<torch::Tensor> kept_boxes;
  for (size_t i = 0; i < per_image.size(); ++i) {
    torch::Tensor boxes = ops::clip_boxes(boxes_list[i], image_sizes[i].first, image_sizes[i].second);
    torch::Tensor scores = scores_list[i];
    torch::Tensor lab;
    if (config.DETECTION_ALL_CLASSES) {  // torchvision: every (region, class) pair is a candidate
      lab = torch::arange(num_classes, scores.options().dtype(torch::kLong)).view({1, -1}).expand_as(scores);
      boxes = boxes.slice(1, 1).reshape({-1, 4});
      scores = scores.slice(1, 1).reshape(-1);
      lab = lab.slice(1, 1).reshape(-1);
    } else {  // Matterport: a region's highest-scoring class, with that class's box; none if background
      lab = scores.argmax(1);
      const torch::Tensor rows = torch::arange(scores.size(0), lab.options());
      boxes = boxes.view({scores.size(0), num_classes, 4}).index({rows, lab});
      scores = scores.index({rows, lab});
      const torch::Tensor foreground = torch::where(lab > 0)[0];
      boxes = boxes.index({foreground}), scores = scores.index({foreground}), lab = lab.index({foreground});
    }
    torch::Tensor keep = torch::where(scores > config.DETECTION_MIN_CONFIDENCE)[0];
    boxes = boxes.index({keep}), scores = scores.index({keep}), lab = lab.index({keep});
    keep = ops::remove_small_boxes(boxes, config.DETECTION_MIN_SIZE);
    boxes = boxes.index({keep}), scores = scores.index({keep}), lab = lab.index({keep});
    keep = ops::batched_nms(boxes, scores, lab, config.DETECTION_NMS_THRESHOLD, config.DETECTION_MAX_INSTANCES);
    Detections d;
    d.boxes = boxes.index({keep});
    d.scores = scores.index({keep});
    d.labels = lab.index({keep});
    out.detections.push_back(d);
    kept_boxes.push_back(d.boxes);
  }
  // Masks of the detections: sigmoid of the predicted class's logits.
  std::vector<torch::Tensor> det_labels;
  for (const auto& d : out.detections) det_labels.push_back(d.labels);
  const torch::Tensor lab = torch::cat(det_labels, 0);
  torch::Tensor probs;
  if (config.CHANNELS_LAST) {  // the fast path: only the predicted class's mask is computed
    torch::Tensor pooled = pool(features, kept_boxes, config.MASK_POOL_SIZE);
    pooled = pooled.contiguous(torch::MemoryFormat::ChannelsLast);
    probs = mask_predictor->forward_for_labels(mask_features(pooled), lab).unsqueeze(1);
  } else {
    const torch::Tensor logits = mask_logits(features, kept_boxes);
    probs = logits.index({torch::arange(lab.size(0), lab.options()), lab}).unsqueeze(1);
  }
  // in the boxes' dtype: float32 also under mixed precision, where the logits are bf16/fp16
  probs = probs.to(kept_boxes.front().scalar_type()).sigmoid();
  const auto probs_list = probs.split_with_sizes(counts(kept_boxes), 0);
  for (size_t i = 0; i < out.detections.size(); ++i) out.detections[i].masks = probs_list[i];
  return out;
}

}  // namespace mrcnn::model
