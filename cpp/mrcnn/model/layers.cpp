#include "mrcnn/model/layers.h"

#include "mrcnn/model/onednn.h"

namespace mrcnn::model {

BatchNormImpl::BatchNormImpl(int64_t channels, double eps_, bool trainable_, bool batch_statistics_)
    : eps(eps_), trainable(trainable_), batch_statistics(batch_statistics_ && trainable_) {
  if (trainable) {
    weight = register_parameter("weight", torch::ones({channels}));
    bias = register_parameter("bias", torch::zeros({channels}));
  } else {
    weight = register_buffer("weight", torch::ones({channels}));
    bias = register_buffer("bias", torch::zeros({channels}));
  }
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
  if (trainable) num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
}

std::pair<torch::Tensor, torch::Tensor> BatchNormImpl::scale_shift() const {
  const torch::Tensor scale = weight * (running_var + eps).rsqrt();
  return {scale, bias - running_mean * scale};
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) {
  if (trainable) {
    // torch's kernel, as nn.BatchNorm2d (the same sums as torchvision's v2 in both modes)
    const bool batch = uses_batch_statistics();
    if (batch) {
      torch::NoGradGuard no_grad;
      num_batches_tracked.add_(1);
    }
    return torch::batch_norm(x, weight, bias, running_mean, running_var, batch, 0.1, eps,
                             at::globalContext().userEnabledCuDNN());
  }
  const auto [scale, shift] = scale_shift();
  return x * scale.view({1, -1, 1, 1}) + shift.view({1, -1, 1, 1});
}

ConvNormStackImpl::ConvNormStackImpl(int64_t in_channels, int64_t channels, int64_t depth, bool norm,
                                     bool batch_statistics) {
  for (int64_t i = 0; i < depth; ++i) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(i == 0 ? in_channels : channels, channels, 3).padding(1).bias(!norm));
    torch::nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
    SequentialBlock block(conv);
    if (norm) {
      norms.emplace_back(channels, 1e-5, true, batch_statistics);
      block->push_back(norms.back());
    } else {
      torch::nn::init::zeros_(conv->bias);
    }
    block->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
    register_module(std::to_string(i), block);
    convs.push_back(conv);
  }
}

torch::Tensor ConvNormStackImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (size_t i = 0; i < convs.size(); ++i) {
    h = model::conv3x3(h, convs[i]->weight, norms.empty() ? convs[i]->bias : torch::Tensor(), winograd);
    if (!norms.empty()) h = norms[i](h);
    h.relu_();
  }
  return h;
}

}  // namespace mrcnn::model
