// Loading and saving the model's weights by name (torchvision state_dict keys).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace mrcnn::model {

struct LoadReport {
  std::vector<std::string> loaded;      // our keys that received a value
  std::vector<std::string> missing;     // our keys the file did not have (kept as they were)
  std::vector<std::string> unexpected;  // keys of the file that the model does not have
  std::vector<std::string> mismatched;  // "key: file [shape] vs model [shape]", skipped
  std::vector<std::string> excluded;    // our keys skipped because they matched an exclude pattern
  std::vector<std::string> renamed;     // "old -> new" key translations applied
};

// Maps a key of an older torchvision layout (rpn.head.conv.weight, fpn.inner_blocks.0.weight,
// mask_head.mask_fcn1.weight) or of a bare ImageNet ResNet (layer1.0.conv1.weight) to ours.
std::string canonical_key(const std::string& key);

// Copies the tensors of `state` into module's parameters and buffers with the same (canonical)
// names. exclude: regular expressions (std::regex_search) over our keys to leave untouched, e.g.
// "roi_heads\\.box_predictor" when the class count differs. Shape mismatches are skipped and
// reported, never copied.
LoadReport load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state,
                           const std::vector<std::string>& exclude);

// Parameters and buffers by name (detached, on their devices).
std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& module);

}  // namespace mrcnn::model
