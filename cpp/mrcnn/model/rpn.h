// Region proposal network (Ren et al., Faster R-CNN, 2015) over FPN levels, as torchvision's
// RegionProposalNetwork: shared 3x3 conv head, anchors per level, top-k per level, NMS per level.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "mrcnn/model/config.h"
#include "mrcnn/model/sampling.h"
#include "mrcnn/model/layers.h"

namespace mrcnn::model {

struct RpnHeadImpl : torch::nn::Module {
  // hidden 0: channels. depth: the shared 3x3 convs with ReLU (1: torchvision's v1 and Matterport's,
  // 2: v2's), keys conv.0.0.*, conv.1.0.*
  RpnHeadImpl(int64_t channels, int64_t anchors, int64_t hidden = 0, int64_t depth = 1);
  // per level: (objectness [N, A, H, W], deltas [N, A * 4, H, W])
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> forward(const std::vector<torch::Tensor>& x);
  torch::nn::Sequential conv{nullptr};
  std::vector<torch::nn::Conv2d> convs;  // conv's 3x3 convs, typed
  torch::nn::Conv2d cls_logits{nullptr}, bbox_pred{nullptr};
  bool winograd = false;  // the 3x3 convs through model::conv3x3's Winograd path
};
TORCH_MODULE(RpnHead);

struct RpnOutput {
  std::vector<torch::Tensor> proposals;  // per image [K, 4] (x1, y1, x2, y2), detached
  std::vector<torch::Tensor> scores;     // per image [K] objectness probabilities
  std::map<std::string, torch::Tensor> losses;  // training: loss_objectness, loss_rpn_box_reg
};

struct RpnImpl : torch::nn::Module {
  explicit RpnImpl(const Config& config);
  // features: P2..P6; gt_boxes per image (training only).
  RpnOutput forward(const torch::Tensor& images, const std::vector<std::pair<int64_t, int64_t>>& image_sizes,
                    const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>* gt_boxes);
  // All anchors of a padded batch of this size, level by level (cached per size and device).
  torch::Tensor anchors(const torch::Tensor& images, const std::vector<torch::Tensor>& features);

  RpnHead head{nullptr};
  Config config;
  std::shared_ptr<const StepContext> step_context;  // training: how examples are drawn, losses averaged
  std::vector<torch::Tensor> cell_anchors;  // per level [A, 4]
  std::map<std::string, torch::Tensor> anchor_cache;
};
TORCH_MODULE(Rpn);

}  // namespace mrcnn::model
