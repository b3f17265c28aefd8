#include "mrcnn/model/sampling.h"

#include <ATen/CPUGeneratorImpl.h>

#include <optional>

#include "mrcnn/core/random.h"

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

double step_scale(int64_t count, const StepContext* context) {
  if (context == nullptr || !context->total_over_processes) return 1.0;
  const double total = context->total_over_processes(static_cast<double>(count));
  if (total <= 0) return 1.0;  // no terms anywhere: the loss is its zero
  return static_cast<double>(count) * static_cast<double>(context->processes) / total;
}

void join_step_count_without_terms(const StepContext* context) { step_scale(0, context); }

namespace {

// A random permutation of n, from torch's default generator or, given one, from gen (drawn on
// the CPU, whose generator it is, and moved to the labels' device).
torch::Tensor permutation(int64_t n, const torch::TensorOptions& options, std::optional<at::Generator>& gen) {
  if (!gen) return torch::randperm(n, options);
  return torch::randperm(n, *gen, options.device(torch::kCPU)).to(options.device());
}

}  // namespace

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> sample_balanced(
    const std::vector<torch::Tensor>& labels, int64_t batch_size, double positive_fraction,
    const StepContext* context, uint64_t stream) {
  const bool seeded = context != nullptr && !context->image_seeds.empty();
  TORCH_CHECK(!seeded || context->image_seeds.size() == labels.size(), "sample_balanced: ",
              context ? context->image_seeds.size() : 0, " image seeds for ", labels.size(), " images");
  std::vector<torch::Tensor> pos_masks, neg_masks;
  for (size_t i = 0; i < labels.size(); ++i) {
    const torch::Tensor& l = labels[i];
    std::optional<at::Generator> gen;
    if (seeded) gen = at::make_generator<at::CPUGeneratorImpl>(splitmix64(context->image_seeds[i] ^ splitmix64(stream)));
    const torch::Tensor positive = torch::where(l >= 1)[0];
    const torch::Tensor negative = torch::where(l == 0)[0];
    const int64_t num_pos = std::min<int64_t>(positive.numel(), static_cast<int64_t>(batch_size * positive_fraction));
    const int64_t num_neg = std::min<int64_t>(negative.numel(), batch_size - num_pos);
    const torch::Tensor perm1 = permutation(positive.numel(), positive.options(), gen).slice(0, 0, num_pos);
    const torch::Tensor perm2 = permutation(negative.numel(), negative.options(), gen).slice(0, 0, num_neg);
    torch::Tensor pm = torch::zeros_like(l, torch::kByte), nm = torch::zeros_like(l, torch::kByte);
    pm.index_put_({positive.index({perm1})}, 1);
    nm.index_put_({negative.index({perm2})}, 1);
    pos_masks.push_back(pm);
    neg_masks.push_back(nm);
  }
  return {pos_masks, neg_masks};
}

}  // namespace mrcnn::model
