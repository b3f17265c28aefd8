#include "mrcnn/model/backbone.h"

#include "mrcnn/model/onednn.h"

namespace mrcnn::model {

namespace F = torch::nn::functional;

FrozenBatchNorm2dImpl::FrozenBatchNorm2dImpl(int64_t channels, double eps_) : eps(eps_) {
  weight = register_buffer("weight", torch::ones({channels}));
  bias = register_buffer("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
}

std::pair<torch::Tensor, torch::Tensor> FrozenBatchNorm2dImpl::scale_shift() const {
  const torch::Tensor scale = weight * (running_var + eps).rsqrt();
  return {scale, bias - running_mean * scale};
}

torch::Tensor FrozenBatchNorm2dImpl::forward(const torch::Tensor& x) {
  const auto [scale, shift] = scale_shift();
  return x * scale.view({1, -1, 1, 1}) + shift.view({1, -1, 1, 1});
}

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(padding).bias(bias));
}

}  // namespace

BottleneckImpl::BottleneckImpl(int64_t in_channels, int64_t width, int64_t stride, bool with_downsample,
                               bool stride_in_1x1, double bn_eps) {
  const int64_t s1 = stride_in_1x1 ? stride : 1, s3 = stride_in_1x1 ? 1 : stride;
  conv1 = register_module("conv1", conv(in_channels, width, 1, s1, 0, false));
  bn1 = register_module("bn1", FrozenBatchNorm2d(width, bn_eps));
  conv2 = register_module("conv2", conv(width, width, 3, s3, 1, false));
  bn2 = register_module("bn2", FrozenBatchNorm2d(width, bn_eps));
  conv3 = register_module("conv3", conv(width, width * 4, 1, 1, 0, false));
  bn3 = register_module("bn3", FrozenBatchNorm2d(width * 4, bn_eps));
  if (with_downsample) {
    down_conv = conv(in_channels, width * 4, 1, stride, 0, false);
    down_bn = FrozenBatchNorm2d(width * 4, bn_eps);
    downsample = register_module("downsample", torch::nn::Sequential(down_conv, down_bn));
  }
}

namespace {

// All the backbone's convolutions pad k // 2 (7x7: 3, 3x3: 1, 1x1: 0), no dilation, no groups.
torch::Tensor conv_bn(torch::nn::Conv2d conv, FrozenBatchNorm2d bn, const torch::Tensor& x, bool fold,
                      bool winograd) {
  const auto stride = conv->options.stride();
  const bool conv3x3 = conv->weight.size(-1) == 3 && stride->at(0) == 1 && stride->at(1) == 1;
  if (!fold) {
    return bn(conv3x3 ? model::conv3x3(x, conv->weight, torch::Tensor(), winograd) : conv(x));
  }
  // conv(x, W) * scale + shift == conv(x, W * scale) + shift: one pass over the output, not two
  const auto [scale, shift] = bn->scale_shift();
  const torch::Tensor w = conv->weight * scale.view({-1, 1, 1, 1});
  if (conv3x3) return model::conv3x3(x, w, shift, winograd);
  return torch::conv2d(x, w, shift, stride, conv->weight.size(-1) / 2);
}

}  // namespace

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = conv_bn(conv1, bn1, x, fold_bn, winograd).relu_();
  out = conv_bn(conv2, bn2, out, fold_bn, winograd).relu_();
  out = conv_bn(conv3, bn3, out, fold_bn, winograd);
  out += downsample ? conv_bn(down_conv, down_bn, x, fold_bn, winograd) : x;
  return out.relu_();
}

ResNetImpl::ResNetImpl(const std::vector<int64_t>& blocks, bool stride_in_1x1, double bn_eps) {
  conv1 = register_module("conv1", conv(3, 64, 7, 2, 3, false));
  bn1 = register_module("bn1", FrozenBatchNorm2d(64, bn_eps));
  int64_t in = 64;
  torch::nn::Sequential* layers[] = {&layer1, &layer2, &layer3, &layer4};
  for (int l = 0; l < 4; ++l) {
    const int64_t width = 64 << l, stride = l == 0 ? 1 : 2;
    torch::nn::Sequential seq;
    for (int64_t b = 0; b < blocks[l]; ++b) {
      seq->push_back(Bottleneck(in, width, b == 0 ? stride : 1, b == 0, stride_in_1x1, bn_eps));
      in = width * 4;
    }
    *layers[l] = register_module("layer" + std::to_string(l + 1), seq);
  }
}

void ResNetImpl::set_conv_options(bool fold, bool wino) {
  fold_bn = fold;
  winograd = wino;
  for (auto* layer : {&layer1, &layer2, &layer3, &layer4})
    for (const auto& child : (*layer)->children())
      if (auto block = std::dynamic_pointer_cast<BottleneckImpl>(child)) block->fold_bn = fold, block->winograd = wino;
}

std::vector<torch::Tensor> ResNetImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv_bn(conv1, bn1, x, fold_bn, winograd).relu_();
  h = torch::max_pool2d(h, 3, 2, 1);
  std::vector<torch::Tensor> c;
  for (auto* layer : {&layer1, &layer2, &layer3, &layer4}) {
    h = (*layer)->forward(h);
    c.push_back(h);
  }
  return c;
}

FeaturePyramidImpl::FeaturePyramidImpl(const std::vector<int64_t>& in_channels, int64_t out_channels) {
  inner_blocks = register_module("inner_blocks", torch::nn::ModuleList());
  layer_blocks = register_module("layer_blocks", torch::nn::ModuleList());
  for (int64_t c : in_channels) {
    // torchvision wraps each conv in a Sequential (Conv2dNormActivation): keys inner_blocks.i.0.*
    torch::nn::Conv2d lateral = conv(c, out_channels, 1, 1, 0, true);
    torch::nn::Conv2d output = conv(out_channels, out_channels, 3, 1, 1, true);
    for (auto* m : {&lateral, &output}) {
      torch::nn::init::kaiming_uniform_((*m)->weight, 1);
      torch::nn::init::zeros_((*m)->bias);
    }
    inner_blocks->push_back(torch::nn::Sequential(lateral));
    layer_blocks->push_back(torch::nn::Sequential(output));
    inner.push_back(lateral);
    layer.push_back(output);
  }
}

std::vector<torch::Tensor> FeaturePyramidImpl::forward(const std::vector<torch::Tensor>& c) {
  const size_t n = c.size();
  std::vector<torch::Tensor> p(n);
  torch::Tensor last = inner[n - 1](c[n - 1]);
  auto output_conv = [&](size_t i, const torch::Tensor& t) {
    return model::conv3x3(t, layer[i]->weight, layer[i]->bias, winograd);
  };
  p[n - 1] = output_conv(n - 1, last);
  for (size_t i = n - 1; i-- > 0;) {
    const torch::Tensor lateral = inner[i](c[i]);
    const torch::Tensor top_down = F::interpolate(
        last, F::InterpolateFuncOptions()
                  .size(std::vector<int64_t>{lateral.size(-2), lateral.size(-1)})
                  .mode(torch::kNearest));
    last = lateral + top_down;
    p[i] = output_conv(i, last);
  }
  p.push_back(torch::max_pool2d(p[n - 1], 1, 2, 0));  // P6
  return p;
}

BackboneImpl::BackboneImpl(const std::string& depth, int64_t out_channels, bool stride_in_1x1, double bn_eps) {
  const std::vector<int64_t> blocks = depth == "resnet101" ? std::vector<int64_t>{3, 4, 23, 3}
                                                           : std::vector<int64_t>{3, 4, 6, 3};
  body = register_module("body", ResNet(blocks, stride_in_1x1, bn_eps));
  fpn = register_module("fpn", FeaturePyramid(std::vector<int64_t>{256, 512, 1024, 2048}, out_channels));
}

torch::Tensor BackboneImpl::body_input(const torch::Tensor& images) const {
  return channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
}

std::vector<torch::Tensor> BackboneImpl::forward(const torch::Tensor& images) { return fpn(body(body_input(images))); }

}  // namespace mrcnn::model
