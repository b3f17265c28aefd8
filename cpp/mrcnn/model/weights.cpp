#include "mrcnn/model/weights.h"

#include <regex>
#include <sstream>

namespace mrcnn::model {

namespace {

std::string shape(const torch::Tensor& t) {
  std::ostringstream o;
  o << t.sizes();
  return o.str();
}

}  // namespace

std::string canonical_key(const std::string& key) {
  static const std::vector<std::pair<std::regex, std::string>> rules = {
      // a checkpoint saved from a DataParallel / DistributedDataParallel wrapper
      {std::regex(R"(^module\.(.*)$)"), "$1"},
      // torchvision < 0.13: plain convs, no Conv2dNormActivation wrapper
      {std::regex(R"(^rpn\.head\.conv\.(weight|bias)$)"), "rpn.head.conv.0.0.$1"},
      {std::regex(R"(^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.(weight|bias)$)"), "backbone.fpn.$1_blocks.$2.0.$3"},
      // mask_fcn1..4 -> mask_head.0..3.0
      {std::regex(R"(^roi_heads\.mask_head\.mask_fcn1\.(weight|bias)$)"), "roi_heads.mask_head.0.0.$1"},
      {std::regex(R"(^roi_heads\.mask_head\.mask_fcn2\.(weight|bias)$)"), "roi_heads.mask_head.1.0.$1"},
      {std::regex(R"(^roi_heads\.mask_head\.mask_fcn3\.(weight|bias)$)"), "roi_heads.mask_head.2.0.$1"},
      {std::regex(R"(^roi_heads\.mask_head\.mask_fcn4\.(weight|bias)$)"), "roi_heads.mask_head.3.0.$1"},
      // a bare torchvision ResNet (ImageNet weights): the backbone body
      {std::regex(R"(^((conv1|bn1|layer[1-4])\..*)$)"), "backbone.body.$1"},
  };
  std::string k = key;
  for (const auto& [re, to] : rules) k = std::regex_replace(k, re, to);
  return k;
}

std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value().detach();
  for (const auto& b : module.named_buffers(true)) out[b.key()] = b.value().detach();
  return out;
}

LoadReport load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state,
                           const std::vector<std::string>& exclude) {
  std::vector<std::regex> patterns;
  for (const auto& e : exclude) {
    try {
      patterns.emplace_back(e);
    } catch (const std::regex_error& err) {
      TORCH_CHECK_VALUE(false, "load_weights: exclude pattern '", e, "' is not a valid regular expression (",
                        err.what(), ")");
    }
  }
  std::map<std::string, torch::Tensor> ours;
  for (auto& p : module.named_parameters(true)) ours[p.key()] = p.value();
  for (auto& b : module.named_buffers(true)) ours[b.key()] = b.value();
  LoadReport report;
  std::map<std::string, bool> seen;
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : state) {
    const std::string k = canonical_key(key);
    if (k != key) report.renamed.push_back(key + " -> " + k);
    auto it = ours.find(k);
    if (it == ours.end()) {
      // num_batches_tracked of a BatchNorm checkpoint, a classifier's fc: not part of this network
      report.unexpected.push_back(key);
      continue;
    }
    seen[k] = true;
    bool skip = false;
    for (const auto& re : patterns) skip = skip || std::regex_search(k, re);
    if (skip) {
      report.excluded.push_back(k);
      continue;
    }
    if (it->second.sizes() != value.sizes()) {
      report.mismatched.push_back(k + ": file " + shape(value) + " vs model " + shape(it->second));
      continue;
    }
    it->second.copy_(value);
    report.loaded.push_back(k);
  }
  for (const auto& [k, v] : ours) {
    if (seen.count(k)) continue;
    bool skip = false;
    for (const auto& re : patterns) skip = skip || std::regex_search(k, re);
    (skip ? report.excluded : report.missing).push_back(k);
  }
  return report;
}

}  // namespace mrcnn::model
