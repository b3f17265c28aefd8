// The backbone seam (BackboneBase: what the heads, the trainer and the weight mapping ask of a
// backbone) and its implementation, ResNet-50/101 with frozen BatchNorm and a feature pyramid
// (P2-P6) as torchvision's resnet_fpn backbone. Module names follow torchvision's state_dict
// keys (backbone.body.layer1.0.conv1.weight, backbone.fpn.inner_blocks.0.0.weight, ...).
//
// A new backbone: a BackboneBase subclass here (or in its own file of this area) and one line in
// make_backbone's table (backbone.cpp). Config.BACKBONE, the CLI's --backbone choices, the
// trainer's "heads"/"3+"/"4+"/"5+" groups and Matterport's layer names then follow from it.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mrcnn/model/config.h"
#include "mrcnn/model/layers.h"

namespace mrcnn::model {

struct BottleneckImpl : torch::nn::Module {
  // make_bn(channels): the block's BatchNorm layers
  BottleneckImpl(int64_t in_channels, int64_t width, int64_t stride, bool downsample, bool stride_in_1x1,
                 const std::function<BatchNorm(int64_t)>& make_bn);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  BatchNorm bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // (conv, bn): keys downsample.0.*, downsample.1.*
  torch::nn::Conv2d down_conv{nullptr};
  BatchNorm down_bn{nullptr};
  bool fold_bn = false;   // apply each BatchNorm through its convolution's weights where it can
  bool winograd = false;  // conv2, when it has stride 1, through model::conv3x3's Winograd path
};
TORCH_MODULE(Bottleneck);

// The ResNet body: returns C2..C5 (strides 4, 8, 16, 32).
struct ResNetImpl : torch::nn::Module {
  ResNetImpl(const std::vector<int64_t>& blocks, bool stride_in_1x1, const std::function<BatchNorm(int64_t)>& make_bn);
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  // fold_bn: fold every BatchNorm into the convolution before it (W * scale, bias = shift) where
  // it normalises with running statistics: one pass less over each activation; the sums round
  // differently from conv-then-BatchNorm.
  // winograd: the 3x3 stride-1 convolutions through model::conv3x3's Winograd path.
  void set_conv_options(bool fold_bn, bool winograd);
  torch::nn::Conv2d conv1{nullptr};
  BatchNorm bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  bool fold_bn = false, winograd = false;
};
TORCH_MODULE(ResNet);

// Feature pyramid (Lin et al., 2017): lateral 1x1 convs, nearest-neighbour top-down sum, 3x3
// output convs, and P6 as a stride-2 subsample of P5. Returns P2..P6. With make_bn (v2), each
// conv is followed by BatchNorm and has no bias (keys inner_blocks.i.0.weight, inner_blocks.i.1.*).
struct FeaturePyramidImpl : torch::nn::Module {
  FeaturePyramidImpl(const std::vector<int64_t>& in_channels, int64_t out_channels,
                     const std::function<BatchNorm(int64_t)>& make_bn = nullptr);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& c);
  torch::nn::ModuleList inner_blocks{nullptr}, layer_blocks{nullptr};
  std::vector<torch::nn::Conv2d> inner, layer;  // the same convolutions, typed
  std::vector<BatchNorm> inner_bn, layer_bn;    // v2: their BatchNorm layers
  bool winograd = false;  // the 3x3 output convs through model::conv3x3's Winograd path
};
TORCH_MODULE(FeaturePyramid);

// What the network asks of its backbone. The model registers it as "backbone", so its parameter
// names start with "backbone.".
struct BackboneBase : torch::nn::Module {
  // Called as each stage of features() ends, with the stage's name (per-stage timing).
  using Lap = std::function<void(const char* stage)>;

  // The pyramid P2..P6 (strides 4, 8, 16, 32, 64) of images [N, 3, H, W].
  virtual std::vector<torch::Tensor> features(const torch::Tensor& images, const Lap& lap = nullptr) = 0;
  // The channels of every level of features().
  virtual int64_t out_channels() const = 0;
  // The stride of every level of features() in input pixels (finest first). RoIAlign takes each
  // level's scale from here, whatever the images in a batch and their padding.
  virtual std::vector<int64_t> strides() const = 0;
  // Matterport's layer groups, as a regular expression matched against the model's parameter
  // names (std::regex_search: backbone.body.layer4.0.conv1.weight) and against their Matterport
  // names (std::regex_match: res5a_branch2a). "3+", "4+", "5+": the body's stages trained from
  // that stage up; "heads": the backbone's parameters that train with the heads (the FPN).
  // Anything else raises std::invalid_argument.
  virtual std::string layer_group(const std::string& group) const = 0;
  // The Keras layer name Matterport's Mask_RCNN gives the layer holding the model's parameter
  // `key` (backbone.body.layer2.0.conv1.weight -> res3a_branch2a); "" when there is none.
  virtual std::string matterport_name(const std::string& key) const = 0;
};

// The backbone Config.BACKBONE names, built from the Config's fields.
std::shared_ptr<BackboneBase> make_backbone(const Config& config);
// The names make_backbone knows (Config.BACKBONE's choices).
std::vector<std::string> backbone_names();

struct ResNetFpnImpl : BackboneBase {
  // depth: "resnet50" or "resnet101"; STRIDE_IN_1X1, BACKBONE_BN_EPS, TOP_DOWN_PYRAMID_SIZE,
  // CHANNELS_LAST, FOLD_FROZEN_BN and CONV_WINOGRAD from the config. ARCHITECTURE v1: frozen
  // BatchNorm in the body, none in the FPN (torchvision's maskrcnn_resnet50_fpn); v2: trainable
  // BatchNorm in both (maskrcnn_resnet50_fpn_v2), normalising with batch statistics per TRAIN_BN.
  ResNetFpnImpl(const std::string& depth, const Config& config);
  std::vector<torch::Tensor> features(const torch::Tensor& images, const Lap& lap = nullptr) override;
  int64_t out_channels() const override { return out_channels_; }
  std::vector<int64_t> strides() const override { return {4, 8, 16, 32, 64}; }
  std::string layer_group(const std::string& group) const override;
  std::string matterport_name(const std::string& key) const override;
  torch::Tensor body_input(const torch::Tensor& images) const;  // in the layout the convolutions run in
  ResNet body{nullptr};
  FeaturePyramid fpn{nullptr};
  // Run the convolutions on channels-last (NHWC) tensors: oneDNN then skips converting every
  // activation to and from its blocked layout (about 15% faster on CPU), and RoIAlign reads the
  // features without a transpose.
  bool channels_last = false;

 private:
  int64_t out_channels_;
};

}  // namespace mrcnn::model
