#include "mrcnn/model/mask_rcnn.h"

#include <chrono>
#include <regex>
#include <set>

#include "mrcnn/model/transform.h"
#include "mrcnn/ops/paste_masks.h"

namespace mrcnn::model {

namespace F = torch::nn::functional;

MaskRcnnImpl::MaskRcnnImpl(const Config& c) : config(c) {
  config.validate();
  backbone = register_module("backbone", make_backbone(config));
  rpn = register_module("rpn", Rpn(c));
  roi_heads = register_module("roi_heads", RoiHeads(c, backbone->strides()));
}

InferenceTrace MaskRcnnImpl::trace(const std::vector<torch::Tensor>& images) {
  TORCH_CHECK_VALUE(!is_training(), "detect: the model is in training mode; call eval() first");
  torch::NoGradGuard no_grad;
  using clock = std::chrono::steady_clock;
  InferenceTrace t;
  auto t0 = clock::now();
  auto lap = [&](const char* stage) {
    const auto t1 = clock::now();
    t.seconds.emplace_back(stage, std::chrono::duration<double>(t1 - t0).count());
    t0 = t1;
  };
  t.batch = preprocess(images, config);
  lap("preprocess");
  t.features = backbone->features(t.batch.tensor, lap);
  t.proposals = rpn(t.batch.tensor, t.batch.sizes, t.features, nullptr).proposals;
  lap("rpn");
  t.detections = roi_heads(t.features, t.proposals, t.batch.sizes, nullptr).detections;
  lap("roi_heads");
  return t;
}

std::vector<Result> MaskRcnnImpl::detect(const std::vector<torch::Tensor>& images, double mask_threshold) {
  const InferenceTrace t = trace(images);
  torch::NoGradGuard no_grad;
  const ImageBatch& batch = t.batch;
  std::vector<Result> results;
  for (size_t i = 0; i < t.detections.size(); ++i) {
    const Detections& d = t.detections[i];
    Result r;
    r.boxes = resize_boxes(d.boxes, batch.sizes[i], batch.original_sizes[i]);
    r.scores = d.scores;
    r.labels = d.labels;
    const auto [h, w] = batch.original_sizes[i];
    r.masks = ops::paste_masks(d.masks, r.boxes, h, w, 1, mask_threshold);
    results.push_back(r);
  }
  return results;
}

std::map<std::string, torch::Tensor> MaskRcnnImpl::losses(const std::vector<torch::Tensor>& images,
                                                          const std::vector<Target>& targets, bool resize) {
  TORCH_CHECK_VALUE(is_training(), "losses: the model is in inference mode; call train() first");
  TORCH_CHECK_VALUE(images.size() == targets.size(), "losses: ", images.size(), " images but ", targets.size(),
                    " targets");
  const ImageBatch batch = preprocess(images, config, resize);
  // Targets follow the images: boxes scaled by the resize ratios, masks resized (nearest).
  std::vector<Target> resized(targets.size());
  std::vector<torch::Tensor> gt_boxes;
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    TORCH_CHECK_VALUE(t.boxes.dim() == 2 && t.boxes.size(1) == 4, "losses: target ", i,
                      " boxes must have shape [G, 4], got ", t.boxes.sizes());
    TORCH_CHECK_VALUE(t.labels.dim() == 1 && t.labels.size(0) == t.boxes.size(0), "losses: target ", i,
                      " labels must have shape [", t.boxes.size(0), "], got ", t.labels.sizes());
    TORCH_CHECK_VALUE(t.masks.dim() == 3 && t.masks.size(0) == t.boxes.size(0), "losses: target ", i,
                      " masks must have shape [", t.boxes.size(0), ", H, W], got ", t.masks.sizes());
    const auto [oh, ow] = batch.original_sizes[i];
    const auto [rh, rw] = batch.sizes[i];
    TORCH_CHECK_VALUE(t.masks.size(1) == oh && t.masks.size(2) == ow, "losses: target ", i, " masks are ",
                      t.masks.size(1), "x", t.masks.size(2), " but image ", i, " is ", oh, "x", ow);
    TORCH_CHECK_TYPE(!t.labels.is_floating_point(), "losses: target ", i, " labels must be integers, got ",
                     t.labels.scalar_type());
    if (t.boxes.size(0) > 0) {
      const torch::Tensor b = t.boxes.to(torch::kDouble);
      TORCH_CHECK_VALUE(torch::isfinite(b).all().item<bool>(), "losses: target ", i, " has non-finite boxes");
      TORCH_CHECK_VALUE((b.select(1, 2) > b.select(1, 0)).logical_and(b.select(1, 3) > b.select(1, 1)).all().item<bool>(),
                        "losses: target ", i, " has boxes with x2 <= x1 or y2 <= y1 (boxes are x1, y1, x2, y2)");
      const int64_t lo = t.labels.min().item<int64_t>(), hi = t.labels.max().item<int64_t>();
      TORCH_CHECK_VALUE(lo >= 1 && hi < config.NUM_CLASSES, "losses: target ", i, " labels must be in [1, ",
                        config.NUM_CLASSES - 1, "] (0 is the background), got ", lo, "..", hi);
    }
    resized[i].boxes = resize_boxes(t.boxes, {oh, ow}, {rh, rw});
    resized[i].labels = t.labels.to(torch::kLong);
    torch::Tensor m = t.masks;
    if (m.size(0) > 0 && (rh != oh || rw != ow))
      m = F::interpolate(m.unsqueeze(1).to(torch::kFloat),
                         F::InterpolateFuncOptions().size(std::vector<int64_t>{rh, rw}).mode(torch::kNearest))
              .select(1, 0)
              .to(torch::kByte);
    resized[i].masks = m.size(0) > 0 ? m : torch::zeros({0, rh, rw}, t.masks.options().dtype(torch::kByte));
    gt_boxes.push_back(resized[i].boxes);
  }
  const std::vector<torch::Tensor> features = backbone->features(batch.tensor);
  RpnOutput proposals = rpn(batch.tensor, batch.sizes, features, &gt_boxes);
  RoiHeadsOutput heads = roi_heads(features, proposals.proposals, batch.sizes, &resized);
  std::map<std::string, torch::Tensor> losses = heads.losses;
  for (auto& [k, v] : proposals.losses) losses[k] = v;
  return losses;
}

std::string MaskRcnnImpl::layers_pattern(const std::string& layers) const {
  // the heads: the RPN and the RoI heads, under our names and Matterport's, with the backbone's part
  const std::string heads = R"(^(rpn|roi_heads)\.|^(mrcnn_.*|rpn_.*)$|)" + backbone->layer_group("heads");
  if (layers == "heads") return heads;
  if (layers == "3+" || layers == "4+" || layers == "5+") return backbone->layer_group(layers) + "|" + heads;
  if (layers == "all") return ".*";
  return layers;
}

std::string MaskRcnnImpl::matterport_layer_name(const std::string& key) const {
  auto starts = [&](const char* prefix) { return key.rfind(prefix, 0) == 0; };
  if (starts("backbone.")) return backbone->matterport_name(key);
  static const std::regex mask_layer(R"(^roi_heads\.mask_head\.(\d)\.(\d)\.)");  // (conv, BatchNorm in v2)
  std::smatch m;
  if (starts("rpn.head.conv.")) return "rpn_conv_shared";
  if (starts("rpn.head.cls_logits.")) return "rpn_class_raw";
  if (starts("rpn.head.bbox_pred.")) return "rpn_bbox_pred";
  if (starts("roi_heads.box_head.fc6.")) return "mrcnn_class_conv1";
  if (starts("roi_heads.box_head.fc7.")) return "mrcnn_class_conv2";
  if (starts("roi_heads.box_predictor.cls_score.")) return "mrcnn_class_logits";
  if (starts("roi_heads.box_predictor.bbox_pred.")) return "mrcnn_bbox_fc";
  if (std::regex_search(key, m, mask_layer))
    return (m[2] == "0" ? "mrcnn_mask_conv" : "mrcnn_mask_bn") + std::to_string(std::stoi(m[1]) + 1);
  if (starts("roi_heads.mask_predictor.conv5_mask.")) return "mrcnn_mask_deconv";
  if (starts("roi_heads.mask_predictor.mask_fcn_logits.")) return "mrcnn_mask";
  return "";
}

std::string weights_architecture(const std::vector<std::string>& keys) {
  static const std::set<std::string> v2_only{"roi_heads.box_head.0.0.weight", "rpn.head.conv.1.0.weight",
                                             "backbone.fpn.inner_blocks.0.1.weight"};
  for (const std::string& key : keys) {
    const std::string name = key.rfind("module.", 0) == 0 ? key.substr(7) : key;
    if (v2_only.count(name)) return "v2";
  }
  return "v1";
}

}  // namespace mrcnn::model
