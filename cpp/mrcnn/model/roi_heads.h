// Box and mask heads on RoIAlign features, as torchvision's RoIHeads for Mask R-CNN: a two-layer
// MLP and class/box predictors, four 3x3 convs, a 2x deconvolution and per-class mask logits.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mrcnn/model/config.h"
#include "mrcnn/model/layers.h"
#include "mrcnn/model/sampling.h"

namespace mrcnn::model {

struct BoxHeadImpl : torch::nn::Module {  // torchvision's TwoMLPHead
  BoxHeadImpl(int64_t in_features, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc6{nullptr}, fc7{nullptr};
  // fc6 and fc7 as oneDNN matmuls where they apply (model::onednn_applies), otherwise fc6 as a 7x7
  // convolution (faster than the BLAS product with oneDNN and cuDNN; rounds differently)
  bool fast_path = false;
};
TORCH_MODULE(BoxHead);

// torchvision's FastRCNNConvFCHead as its v2 Mask R-CNN builds it: four 3x3 convs, each with
// BatchNorm and ReLU (keys 0.0.weight, 0.1.*, ..., 3.1.*), then one FC layer with ReLU (key 5.*:
// torchvision's index 4 is the Flatten).
struct ConvFcBoxHeadImpl : ConvNormStackImpl {
  ConvFcBoxHeadImpl(int64_t channels, int64_t pool_size, int64_t hidden, bool batch_statistics);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(ConvFcBoxHead);

struct BoxPredictorImpl : torch::nn::Module {  // torchvision's FastRCNNPredictor
  BoxPredictorImpl(int64_t in_features, int64_t num_classes);
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  torch::nn::Linear cls_score{nullptr}, bbox_pred{nullptr};
};
TORCH_MODULE(BoxPredictor);

struct MaskPredictorImpl : torch::nn::Module {  // torchvision's MaskRCNNPredictor
  MaskPredictorImpl(int64_t in_channels, int64_t hidden, int64_t num_classes);
  torch::Tensor forward(const torch::Tensor& x);
  // Inference: the logits [N, 2H, 2W] of one class per RoI (labels [N]) only. The transposed
  // convolution runs as a 1x1 convolution to (2x2 position, channel) and the class's 1x1 layer as
  // one batched matrix-vector product, without the full [N, classes, 2H, 2W] output. Same sums as
  // forward() in another order.
  torch::Tensor forward_for_labels(const torch::Tensor& x, const torch::Tensor& labels);
  torch::nn::ConvTranspose2d conv5_mask{nullptr};
  torch::nn::Conv2d mask_fcn_logits{nullptr};
};
TORCH_MODULE(MaskPredictor);

// Detections of one image in resized-image pixels.
struct Detections {
  torch::Tensor boxes;   // [K, 4] (x1, y1, x2, y2)
  torch::Tensor scores;  // [K]
  torch::Tensor labels;  // [K] int64
  torch::Tensor masks;   // [K, 1, M, M] probabilities of the predicted class
};

struct RoiHeadsOutput {
  std::vector<Detections> detections;           // inference
  std::map<std::string, torch::Tensor> losses;  // training: loss_classifier, loss_box_reg, loss_mask
};

// Ground truth of one image (in resized-image pixels) for training.
struct Target {
  torch::Tensor boxes;   // [G, 4] float
  torch::Tensor labels;  // [G] int64, 1..NUM_CLASSES-1
  torch::Tensor masks;   // [G, H, W] uint8 or bool, full image
};

struct RoiHeadsImpl : torch::nn::Module {
  // feature_strides: the backbone's strides of the levels forward() receives (BackboneBase::strides)
  RoiHeadsImpl(const Config& config, const std::vector<int64_t>& feature_strides);
  RoiHeadsOutput forward(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& proposals,
                         const std::vector<std::pair<int64_t, int64_t>>& image_sizes,
                         const std::vector<Target>* targets);

  // The box head registered as "box_head": v1's two FC layers or v2's convs and FC layer.
  BoxHead box_head{nullptr};
  ConvFcBoxHead box_conv_head{nullptr};
  BoxPredictor box_predictor{nullptr};
  ConvNormStack mask_head{nullptr};  // four 3x3 convs (v2: with BatchNorm)
  MaskPredictor mask_predictor{nullptr};
  Config config;
  std::vector<double> pool_scales;  // RoIAlign's spatial scale of P2..P5: 1 / the backbone's strides
  std::shared_ptr<const StepContext> step_context;  // training: how examples are drawn, losses averaged

  // mask_head on pooled [K, C, 14, 14] features (its convs through model::conv3x3)
  torch::Tensor mask_features(const torch::Tensor& pooled);

  // RoIAlign over P2-P5 (P6 is for proposals only) at pool_scales
  torch::Tensor pool(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& boxes,
                     int64_t size) const;
  torch::Tensor mask_logits(const std::vector<torch::Tensor>& features, const std::vector<torch::Tensor>& boxes);
};
TORCH_MODULE(RoiHeads);

}  // namespace mrcnn::model
