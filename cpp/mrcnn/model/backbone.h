// ResNet-50/101 with frozen BatchNorm and a feature pyramid (P2-P6), as torchvision's
// resnet_fpn backbone. Module names follow torchvision's state_dict keys
// (backbone.body.layer1.0.conv1.weight, backbone.fpn.inner_blocks.0.0.weight, ...).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mrcnn::model {

// BatchNorm with fixed statistics and affine parameters (all four are buffers, as in
// torchvision): y = x * scale + shift with scale = weight / sqrt(var + eps).
struct FrozenBatchNorm2dImpl : torch::nn::Module {
  FrozenBatchNorm2dImpl(int64_t channels, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  // scale and shift as [C] tensors (for folding into the preceding convolution)
  std::pair<torch::Tensor, torch::Tensor> scale_shift() const;
  torch::Tensor weight, bias, running_mean, running_var;
  double eps;
};
TORCH_MODULE(FrozenBatchNorm2d);

struct BottleneckImpl : torch::nn::Module {
  BottleneckImpl(int64_t in_channels, int64_t width, int64_t stride, bool downsample, bool stride_in_1x1,
                 double bn_eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  FrozenBatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // (conv, bn): keys downsample.0.*, downsample.1.*
  torch::nn::Conv2d down_conv{nullptr};
  FrozenBatchNorm2d down_bn{nullptr};
  bool fold_bn = false;   // apply each frozen BatchNorm through its convolution's weights
  bool winograd = false;  // conv2, when it has stride 1, through model::conv3x3's Winograd path
};
TORCH_MODULE(Bottleneck);

// The ResNet body: returns C2..C5 (strides 4, 8, 16, 32).
struct ResNetImpl : torch::nn::Module {
  ResNetImpl(const std::vector<int64_t>& blocks, bool stride_in_1x1, double bn_eps);
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  // fold_bn: fold every frozen BatchNorm into the convolution before it (W * scale, bias = shift):
  // one pass less over each activation; the sums round differently from conv-then-BatchNorm.
  // winograd: the 3x3 stride-1 convolutions through model::conv3x3's Winograd path.
  void set_conv_options(bool fold_bn, bool winograd);
  torch::nn::Conv2d conv1{nullptr};
  FrozenBatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  bool fold_bn = false, winograd = false;
};
TORCH_MODULE(ResNet);

// Feature pyramid (Lin et al., 2017): lateral 1x1 convs, nearest-neighbour top-down sum, 3x3
// output convs, and P6 as a stride-2 subsample of P5. Returns P2..P6.
struct FeaturePyramidImpl : torch::nn::Module {
  FeaturePyramidImpl(const std::vector<int64_t>& in_channels, int64_t out_channels);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& c);
  torch::nn::ModuleList inner_blocks{nullptr}, layer_blocks{nullptr};
  std::vector<torch::nn::Conv2d> inner, layer;  // the same convolutions, typed
  bool winograd = false;  // the 3x3 output convs through model::conv3x3's Winograd path
};
TORCH_MODULE(FeaturePyramid);

struct BackboneImpl : torch::nn::Module {
  BackboneImpl(const std::string& depth, int64_t out_channels, bool stride_in_1x1, double bn_eps);
  std::vector<torch::Tensor> forward(const torch::Tensor& images);
  torch::Tensor body_input(const torch::Tensor& images) const;  // in the layout the convolutions run in
  ResNet body{nullptr};
  FeaturePyramid fpn{nullptr};
  // Run the convolutions on channels-last (NHWC) tensors: oneDNN then skips converting every
  // activation to and from its blocked layout (about 15% faster on CPU), and RoIAlign reads the
  // features without a transpose.
  bool channels_last = false;
};
TORCH_MODULE(Backbone);

}  // namespace mrcnn::model
