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

}  // namespace mrcnn::model
