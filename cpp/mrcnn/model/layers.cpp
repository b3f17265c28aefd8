#include "mrcnn/model/layers.h"

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

}  // namespace mrcnn::model
