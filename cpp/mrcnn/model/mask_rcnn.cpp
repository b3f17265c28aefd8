#include "mrcnn/model/mask_rcnn.h"

#include "mrcnn/model/transform.h"
#include "mrcnn/ops/paste_masks.h"

namespace mrcnn::model {

namespace F = torch::nn::functional;

MaskRcnnImpl::MaskRcnnImpl(const Config& c) : config(c) {
  config.validate();
  backbone = register_module("backbone", Backbone(c.BACKBONE, c.TOP_DOWN_PYRAMID_SIZE, c.STRIDE_IN_1X1, c.BACKBONE_BN_EPS));
  backbone->channels_last = c.CHANNELS_LAST;
  backbone->body->set_fold_bn(c.FOLD_FROZEN_BN);
  rpn = register_module("rpn", Rpn(c));
  roi_heads = register_module("roi_heads", RoiHeads(c));
}

std::vector<Result> MaskRcnnImpl::detect(const std::vector<torch::Tensor>& images, double mask_threshold) {
  TORCH_CHECK_VALUE(!is_training(), "detect: the model is in training mode; call eval() first");
  torch::NoGradGuard no_grad;
  const ImageBatch batch = preprocess(images, config);
  const std::vector<torch::Tensor> features = backbone(batch.tensor);
  const RpnOutput proposals = rpn(batch.tensor, batch.sizes, features, nullptr);
  const RoiHeadsOutput heads = roi_heads(features, proposals.proposals, batch.sizes, nullptr);
  std::vector<Result> results;
  for (size_t i = 0; i < heads.detections.size(); ++i) {
    const Detections& d = heads.detections[i];
    Result r;
    r.boxes = boxes_to_original(d.boxes, batch.sizes[i], batch.original_sizes[i]);
    r.scores = d.scores;
    r.labels = d.labels;
    const auto [h, w] = batch.original_sizes[i];
    r.masks = ops::paste_masks(d.masks, r.boxes, h, w, 1, mask_threshold);
    results.push_back(r);
  }
  return results;
}

std::map<std::string, torch::Tensor> MaskRcnnImpl::losses(const std::vector<torch::Tensor>& images,
                                                          const std::vector<Target>& targets) {
  TORCH_CHECK_VALUE(is_training(), "losses: the model is in inference mode; call train() first");
  TORCH_CHECK_VALUE(images.size() == targets.size(), "losses: ", images.size(), " images but ", targets.size(),
                    " targets");
  const ImageBatch batch = preprocess(images, config);
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
    const auto opt = t.boxes.options().dtype(torch::kFloat);
    const torch::Tensor ratio_h = torch::scalar_tensor(static_cast<double>(rh), opt) / torch::scalar_tensor(static_cast<double>(oh), opt);
    const torch::Tensor ratio_w = torch::scalar_tensor(static_cast<double>(rw), opt) / torch::scalar_tensor(static_cast<double>(ow), opt);
    const auto b = t.boxes.to(torch::kFloat).unbind(1);
    resized[i].boxes = torch::stack({b[0] * ratio_w, b[1] * ratio_h, b[2] * ratio_w, b[3] * ratio_h}, 1);
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
  const std::vector<torch::Tensor> features = backbone(batch.tensor);
  RpnOutput proposals = rpn(batch.tensor, batch.sizes, features, &gt_boxes);
  RoiHeadsOutput heads = roi_heads(features, proposals.proposals, batch.sizes, &resized);
  std::map<std::string, torch::Tensor> losses = heads.losses;
  for (auto& [k, v] : proposals.losses) losses[k] = v;
  return losses;
}

}  // namespace mrcnn::model
