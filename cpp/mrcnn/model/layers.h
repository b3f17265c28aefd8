// Small building blocks shared by the model's modules.
#pragma once

#include <torch/torch.h>

namespace mrcnn::model {

// A Sequential that can itself sit inside a Sequential (its forward is not a template). Used where
// torchvision nests a conv in Conv2dNormActivation, so the keys read rpn.head.conv.0.0.weight.
struct SequentialBlockImpl : torch::nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(SequentialBlock);

// BatchNorm with torchvision's key names (weight, bias, running_mean, running_var).
// Frozen (torchvision's FrozenBatchNorm2d, the v1 architecture): all four are buffers and
// y = x * scale + shift with scale = weight / sqrt(var + eps).
// Trainable (nn.BatchNorm2d, the v2 architecture): weight and bias are parameters and
// num_batches_tracked a buffer. In training, batch_statistics normalises with the batch's
// statistics and updates the running ones (momentum 0.1); without it the running statistics are
// used in training too (Matterport's TRAIN_BN = False).
struct BatchNormImpl : torch::nn::Module {
  BatchNormImpl(int64_t channels, double eps, bool trainable = false, bool batch_statistics = false);
  torch::Tensor forward(const torch::Tensor& x);
  // Whether forward() normalises with the batch's statistics (then it cannot fold into a conv).
  bool uses_batch_statistics() const { return batch_statistics && is_training(); }
  // scale and shift as [C] tensors from the running statistics (for folding into the preceding
  // convolution); differentiable in weight and bias
  std::pair<torch::Tensor, torch::Tensor> scale_shift() const;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps;
  bool trainable, batch_statistics;
};
TORCH_MODULE(BatchNorm);

// 3x3 convolutions (padding 1), each followed by ReLU and, with `norm`, a trainable BatchNorm
// before it (then the convs have no bias). Keys as torchvision's MaskRCNNHeads and the convs of
// FastRCNNConvFCHead: <i>.0.weight, <i>.0.bias (without norm), <i>.1.* (the norm). Runs through
// model::conv3x3. The mask head is one; the v2 box head is one followed by an FC layer.
struct ConvNormStackImpl : torch::nn::Module {
  ConvNormStackImpl(int64_t in_channels, int64_t channels, int64_t depth, bool norm, bool batch_statistics);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<torch::nn::Conv2d> convs;
  std::vector<BatchNorm> norms;  // empty without norm
  bool winograd = false;         // the convs through model::conv3x3's Winograd path
};
TORCH_MODULE(ConvNormStack);

}  // namespace mrcnn::model
