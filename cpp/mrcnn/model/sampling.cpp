#include "mrcnn/model/sampling.h"

namespace mrcnn::model {

torch::Tensor match(const torch::Tensor& quality, double high, double low, bool allow_low_quality) {
  TORCH_CHECK_VALUE(quality.numel() > 0, "match: no ground truth or no predictions");
  auto [matched_vals, matches] = quality.max(0);
  const torch::Tensor all_matches = allow_low_quality ? matches.clone() : torch::Tensor();
  const torch::Tensor below = matched_vals < low;
  const torch::Tensor between = (matched_vals >= low).logical_and(matched_vals < high);
  matches.masked_fill_(below, kBelowLowThreshold);
  matches.masked_fill_(between, kBetweenThresholds);
  if (allow_low_quality) {
    const torch::Tensor best_per_gt = std::get<0>(quality.max(1));
    const torch::Tensor preds = torch::where(quality == best_per_gt.unsqueeze(1))[1];
    matches.index_put_({preds}, all_matches.index({preds}));
  }
  return matches;
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> sample_balanced(
    const std::vector<torch::Tensor>& labels, int64_t batch_size, double positive_fraction) {
  std::vector<torch::Tensor> pos_masks, neg_masks;
  for (const torch::Tensor& l : labels) {
    const torch::Tensor positive = torch::where(l >= 1)[0];
    const torch::Tensor negative = torch::where(l == 0)[0];
    const int64_t num_pos = std::min<int64_t>(positive.numel(), static_cast<int64_t>(batch_size * positive_fraction));
    const int64_t num_neg = std::min<int64_t>(negative.numel(), batch_size - num_pos);
    const torch::Tensor perm1 = torch::randperm(positive.numel(), positive.options()).slice(0, 0, num_pos);
    const torch::Tensor perm2 = torch::randperm(negative.numel(), negative.options()).slice(0, 0, num_neg);
    torch::Tensor pm = torch::zeros_like(l, torch::kByte), nm = torch::zeros_like(l, torch::kByte);
    pm.index_put_({positive.index({perm1})}, 1);
    nm.index_put_({negative.index({perm2})}, 1);
    pos_masks.push_back(pm);
    neg_masks.push_back(nm);
  }
  return {pos_masks, neg_masks};
}

}  // namespace mrcnn::model
