// Matching boxes to ground truth and sampling training examples, as torchvision's Matcher and
// BalancedPositiveNegativeSampler (the random draws use torch's default generator in the same
// order, so a seeded run picks the same examples as torchvision's).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace mrcnn::model {

constexpr int64_t kBelowLowThreshold = -1;
constexpr int64_t kBetweenThresholds = -2;

// For each column (prediction) of quality [G, P], the index of its best ground truth, or
// kBelowLowThreshold / kBetweenThresholds. With allow_low_quality, every ground truth keeps the
// predictions it overlaps best even below the thresholds (Faster R-CNN's rule).
torch::Tensor match(const torch::Tensor& quality, double high, double low, bool allow_low_quality);

// How one training step draws its examples and averages its losses, where that is not the default
// (one process whose batch is the whole batch, torch's default generator). The trainer sets it for
// deterministic and for data-parallel training.
struct StepContext {
  // Per image of this process's batch: the seed of the image's own generator, so that what is
  // drawn for an image depends on the image's place in the global sample stream, not on which
  // process or batch position it landed in. Empty: torch's default generator, image after image.
  std::vector<uint64_t> image_seeds;
  // Data-parallel: the sum of a count over all processes of the step, and their number. Unset:
  // this process's batch is the whole batch.
  std::function<double(double)> total_over_processes;
  int64_t processes = 1;
};

// The factor that turns a loss that is the mean of `count` terms of this process into the whole
// step's mean over every process's terms times `processes`: the average of the processes'
// gradients is then exactly the gradient one process would compute on the whole batch. 1 without
// data parallelism, or when no process has a term. Each call is one collective under data
// parallelism: compute it once per distinct count and apply it to every loss sharing that count.
double step_scale(int64_t count, const StepContext* context);

// For a process that has no term of a loss (and skips computing it): joins the collective the other
// processes' step_scale for that loss makes, contributing a count of zero.
void join_step_count_without_terms(const StepContext* context);

// labels: per image, 1 (positive), 0 (negative), -1 (ignored). Draws up to batch_size examples
// per image, at most batch_size * positive_fraction positive. Returns (positive, negative) masks.
// With a context holding image seeds, image i's draws come from a generator seeded by its seed
// and `stream` (one stream per sampler).
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> sample_balanced(
    const std::vector<torch::Tensor>& labels, int64_t batch_size, double positive_fraction,
    const StepContext* context = nullptr, uint64_t stream = 0);

}  // namespace mrcnn::model
