#include "mrcnn/model/backbone.h"

#include "mrcnn/model/onednn.h"

#include <regex>
#include <stdexcept>

namespace mrcnn::model {

namespace F = torch::nn::functional;

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, bool bias) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(padding).bias(bias));
}

}  // namespace

BottleneckImpl::BottleneckImpl(int64_t in_channels, int64_t width, int64_t stride, bool with_downsample,
                               bool stride_in_1x1, const std::function<BatchNorm(int64_t)>& make_bn) {
  const int64_t s1 = stride_in_1x1 ? stride : 1, s3 = stride_in_1x1 ? 1 : stride;
  conv1 = register_module("conv1", conv(in_channels, width, 1, s1, 0, false));
  bn1 = register_module("bn1", make_bn(width));
  conv2 = register_module("conv2", conv(width, width, 3, s3, 1, false));
  bn2 = register_module("bn2", make_bn(width));
  conv3 = register_module("conv3", conv(width, width * 4, 1, 1, 0, false));
  bn3 = register_module("bn3", make_bn(width * 4));
  if (with_downsample) {
    down_conv = conv(in_channels, width * 4, 1, stride, 0, false);
    down_bn = make_bn(width * 4);
    downsample = register_module("downsample", torch::nn::Sequential(down_conv, down_bn));
  }
}

namespace {

// All the backbone's convolutions pad k // 2 (7x7: 3, 3x3: 1, 1x1: 0), no dilation, no groups.
torch::Tensor conv_bn(torch::nn::Conv2d conv, BatchNorm bn, const torch::Tensor& x, bool fold, bool winograd) {
  const auto stride = conv->options.stride();
  const bool conv3x3 = conv->weight.size(-1) == 3 && stride->at(0) == 1 && stride->at(1) == 1;
  if (!fold || bn->uses_batch_statistics()) {
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

ResNetImpl::ResNetImpl(const std::vector<int64_t>& blocks, bool stride_in_1x1,
                       const std::function<BatchNorm(int64_t)>& make_bn) {
  conv1 = register_module("conv1", conv(3, 64, 7, 2, 3, false));
  bn1 = register_module("bn1", make_bn(64));
  int64_t in = 64;
  torch::nn::Sequential* layers[] = {&layer1, &layer2, &layer3, &layer4};
  for (int l = 0; l < 4; ++l) {
    const int64_t width = 64 << l, stride = l == 0 ? 1 : 2;
    torch::nn::Sequential seq;
    for (int64_t b = 0; b < blocks[l]; ++b) {
      seq->push_back(Bottleneck(in, width, b == 0 ? stride : 1, b == 0, stride_in_1x1, make_bn));
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

FeaturePyramidImpl::FeaturePyramidImpl(const std::vector<int64_t>& in_channels, int64_t out_channels,
                                       const std::function<BatchNorm(int64_t)>& make_bn) {
  inner_blocks = register_module("inner_blocks", torch::nn::ModuleList());
  layer_blocks = register_module("layer_blocks", torch::nn::ModuleList());
  const bool norm = static_cast<bool>(make_bn);
  for (int64_t c : in_channels) {
    // torchvision wraps each conv in a Sequential (Conv2dNormActivation): keys inner_blocks.i.0.*,
    // and its BatchNorm (v2) inner_blocks.i.1.*
    torch::nn::Conv2d lateral = conv(c, out_channels, 1, 1, 0, !norm);
    torch::nn::Conv2d output = conv(out_channels, out_channels, 3, 1, 1, !norm);
    for (auto* m : {&lateral, &output}) {
      torch::nn::init::kaiming_uniform_((*m)->weight, 1);
      if (!norm) torch::nn::init::zeros_((*m)->bias);
    }
    torch::nn::Sequential inner_block(lateral), layer_block(output);
    if (norm) {
      inner_bn.push_back(make_bn(out_channels));
      layer_bn.push_back(make_bn(out_channels));
      inner_block->push_back(inner_bn.back());
      layer_block->push_back(layer_bn.back());
    }
    inner_blocks->push_back(inner_block);
    layer_blocks->push_back(layer_block);
    inner.push_back(lateral);
    layer.push_back(output);
  }
}

std::vector<torch::Tensor> FeaturePyramidImpl::forward(const std::vector<torch::Tensor>& c) {
  const size_t n = c.size();
  std::vector<torch::Tensor> p(n);
  auto lateral_conv = [&](size_t i, const torch::Tensor& t) {
    const torch::Tensor y = inner[i](t);
    return inner_bn.empty() ? y : inner_bn[i](y);
  };
  auto output_conv = [&](size_t i, const torch::Tensor& t) {
    const torch::Tensor y = model::conv3x3(t, layer[i]->weight, layer[i]->bias, winograd);
    return layer_bn.empty() ? y : layer_bn[i](y);
  };
  torch::Tensor last = lateral_conv(n - 1, c[n - 1]);
  p[n - 1] = output_conv(n - 1, last);
  for (size_t i = n - 1; i-- > 0;) {
    const torch::Tensor lateral = lateral_conv(i, c[i]);
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

ResNetFpnImpl::ResNetFpnImpl(const std::string& depth, const Config& c) : out_channels_(c.TOP_DOWN_PYRAMID_SIZE) {
  const std::vector<int64_t> blocks = depth == "resnet101" ? std::vector<int64_t>{3, 4, 23, 3}
                                                           : std::vector<int64_t>{3, 4, 6, 3};
  const bool v2 = c.ARCHITECTURE == "v2";
  const double eps = c.BACKBONE_BN_EPS;
  const bool batch_statistics = c.TRAIN_BN;
  const auto body_bn = [=](int64_t ch) { return BatchNorm(ch, eps, v2, batch_statistics); };
  body = register_module("body", ResNet(blocks, c.STRIDE_IN_1X1, body_bn));
  std::function<BatchNorm(int64_t)> fpn_bn;  // nn.BatchNorm2d's own eps, as torchvision's v2 FPN
  if (v2) fpn_bn = [=](int64_t ch) { return BatchNorm(ch, 1e-5, true, batch_statistics); };
  fpn = register_module("fpn", FeaturePyramid(std::vector<int64_t>{256, 512, 1024, 2048}, out_channels_, fpn_bn));
  channels_last = c.CHANNELS_LAST;
  body->set_conv_options(c.FOLD_FROZEN_BN, c.CONV_WINOGRAD);
  fpn->winograd = c.CONV_WINOGRAD;
}

torch::Tensor ResNetFpnImpl::body_input(const torch::Tensor& images) const {
  return channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
}

std::vector<torch::Tensor> ResNetFpnImpl::features(const torch::Tensor& images, const Lap& lap) {
  const std::vector<torch::Tensor> c = body(body_input(images));
  if (lap) lap("backbone");
  std::vector<torch::Tensor> p = fpn(c);
  if (lap) lap("fpn");
  return p;
}

std::string ResNetFpnImpl::layer_group(const std::string& group) const {
  // torchvision's layer2..4 are Matterport's stages 3..5 (res3*, bn3*, ...)
  if (group == "heads") return R"(^backbone\.fpn\.|^fpn_.*$)";
  if (group == "5+") return R"(^backbone\.body\.layer4\.|^(res5.*|bn5.*)$)";
  if (group == "4+") return R"(^backbone\.body\.layer[34]\.|^(res[45].*|bn[45].*)$)";
  if (group == "3+") return R"(^backbone\.body\.layer[234]\.|^(res[345].*|bn[345].*)$)";
  throw std::invalid_argument("ResNet-FPN has no layer group '" + group + "' (heads, 3+, 4+, 5+)");
}

std::string ResNetFpnImpl::matterport_name(const std::string& key) const {
  std::smatch m;
  static const std::regex body_layer(R"(^backbone\.body\.layer(\d)\.(\d+)\.(conv|bn)([123])\.)");
  static const std::regex down(R"(^backbone\.body\.layer(\d)\.(\d+)\.downsample\.([01])\.)");
  static const std::regex fpn_layer(R"(^backbone\.fpn\.(inner|layer)_blocks\.(\d)\.)");
  // res3a_branch2a: stage (torchvision's layer + 1), block letter, branch (2a-2c, or 1: the shortcut)
  auto block = [](const std::smatch& mm, const char* kind, const std::string& branch) {
    const int stage = std::stoi(mm[1]) + 1;
    const char letter = static_cast<char>('a' + std::stoi(mm[2]));
    return std::string(kind) + std::to_string(stage) + letter + "_branch" + branch;
  };
  if (std::regex_search(key, m, body_layer)) {
    const std::string branch = std::string("2") + static_cast<char>('a' + std::stoi(m[4]) - 1);
    return block(m, m[3] == "conv" ? "res" : "bn", branch);
  }
  if (std::regex_search(key, m, down)) return block(m, m[3] == "0" ? "res" : "bn", "1");
  if (key.rfind("backbone.body.conv1.", 0) == 0) return "conv1";
  if (key.rfind("backbone.body.bn1.", 0) == 0) return "bn_conv1";
  if (std::regex_search(key, m, fpn_layer)) {
    const std::string level = std::to_string(std::stoi(m[2]) + 2);
    return m[1] == "inner" ? "fpn_c" + level + "p" + level : "fpn_p" + level;
  }
  return "";
}

namespace {

using BackboneFactory = std::function<std::shared_ptr<BackboneBase>(const Config&)>;

// Config.BACKBONE -> the backbone it builds. A new backbone adds its line here.
const std::vector<std::pair<std::string, BackboneFactory>>& backbone_table() {
  static const std::vector<std::pair<std::string, BackboneFactory>> table = {
      {"resnet50", [](const Config& c) { return std::make_shared<ResNetFpnImpl>("resnet50", c); }},
      {"resnet101", [](const Config& c) { return std::make_shared<ResNetFpnImpl>("resnet101", c); }},
  };
  return table;
}

}  // namespace

std::shared_ptr<BackboneBase> make_backbone(const Config& config) {
  for (const auto& [name, make] : backbone_table())
    if (name == config.BACKBONE) return make(config);
  throw std::invalid_argument("Config.BACKBONE '" + config.BACKBONE + "' is not a known backbone");
}

std::vector<std::string> backbone_names() {
  std::vector<std::string> names;
  for (const auto& entry : backbone_table()) names.push_back(entry.first);
  return names;
}

}  // namespace mrcnn::model
