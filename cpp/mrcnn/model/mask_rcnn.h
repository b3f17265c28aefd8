// Mask R-CNN (He et al., 2017) with a ResNet-FPN backbone: wiring only. Module names follow
// torchvision's maskrcnn_resnet50_fpn state_dict keys, so its checkpoints load by name.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "mrcnn/model/backbone.h"
#include "mrcnn/model/config.h"
#include "mrcnn/model/roi_heads.h"
#include "mrcnn/model/rpn.h"
#include "mrcnn/model/transform.h"

namespace mrcnn::model {

// Detections of one image in original-image pixels.
struct Result {
  torch::Tensor boxes;   // [K, 4] float (x1, y1, x2, y2)
  torch::Tensor scores;  // [K] float, decreasing
  torch::Tensor labels;  // [K] int64 class ids
  torch::Tensor masks;   // [K, H, W]: bool (mask threshold given) or float probabilities
};

// Every stage's output of one inference pass, and its wall time in seconds.
struct InferenceTrace {
  ImageBatch batch;
  std::vector<torch::Tensor> features;   // P2..P6
  std::vector<torch::Tensor> proposals;  // per image, resized-image pixels
  std::vector<Detections> detections;    // per image, resized-image pixels, 28x28 mask probabilities
  std::vector<std::pair<std::string, double>> seconds;  // preprocess, backbone, fpn, rpn, roi_heads
};

struct MaskRcnnImpl : torch::nn::Module {
  explicit MaskRcnnImpl(const Config& config);

  // Inference: images float [3, H, W] in [0, 1] (or uint8). mask_threshold < 0 returns mask
  // probabilities; otherwise bool masks (probability >= threshold).
  std::vector<Result> detect(const std::vector<torch::Tensor>& images, double mask_threshold);

  // The inference pass detect() runs, stopping before the masks are pasted (for inspection and
  // per-stage timing).
  InferenceTrace trace(const std::vector<torch::Tensor>& images);

  // Training losses (rpn: loss_objectness, loss_rpn_box_reg; heads: loss_classifier,
  // loss_box_reg, loss_mask). Targets in original-image pixels; they are resized with the images.
  // resize = false: images and targets are already at the network's input size (data loader).
  std::map<std::string, torch::Tensor> losses(const std::vector<torch::Tensor>& images,
                                              const std::vector<Target>& targets, bool resize = true);

  // How the next losses() draw examples and average (StepContext); nullptr: the default.
  void set_step_context(std::shared_ptr<const StepContext> context) {
    rpn->step_context = context;
    roi_heads->step_context = std::move(context);
  }

  // Matterport's `layers` argument ("heads", "3+", "4+", "5+", "all") as a regular expression over
  // the parameter names and their Matterport names; anything else is taken as a regular expression
  // already. The backbone says which of its parameters each group holds.
  std::string layers_pattern(const std::string& layers) const;

  // The Keras layer name Matterport's Mask_RCNN gives the layer holding parameter `key`
  // (backbone.body.layer2.0.conv1.weight -> res3a_branch2a, roi_heads.box_predictor.cls_score.bias
  // -> mrcnn_class_logits, rpn.head.conv.0.0.weight -> rpn_conv_shared); "" when there is none.
  // Matterport's `layers=` expressions and exclude lists are matched against these names.
  std::string matterport_layer_name(const std::string& key) const;

  Config config;
  std::shared_ptr<BackboneBase> backbone;
  Rpn rpn{nullptr};
  RoiHeads roi_heads{nullptr};
};
TORCH_MODULE(MaskRcnn);

// The Config.ARCHITECTURE a Mask R-CNN state_dict (ours or torchvision's; "module." prefixes
// allowed) was saved from: "v2" when it holds a layer only v2 builds (the box head's convs, the
// RPN's second conv, the FPN's norms), else "v1".
std::string weights_architecture(const std::vector<std::string>& keys);

}  // namespace mrcnn::model
