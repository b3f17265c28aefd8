// Matching boxes to ground truth and sampling training examples, as torchvision's Matcher and
// BalancedPositiveNegativeSampler (the random draws use torch's default generator in the same
// order, so a seeded run picks the same examples as torchvision's).
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mrcnn::model {

constexpr int64_t kBelowLowThreshold = -1;
constexpr int64_t kBetweenThresholds = -2;

// For each column (prediction) of quality [G, P], the index of its best ground truth, or
// kBelowLowThreshold / kBetweenThresholds. With allow_low_quality, every ground truth keeps the
// predictions it overlaps best even below the thresholds (Faster R-CNN's rule).
torch::Tensor match(const torch::Tensor& quality, double high, double low, bool allow_low_quality);

// labels: per image, 1 (positive), 0 (negative), -1 (ignored). Draws up to batch_size examples
// per image, at most batch_size * positive_fraction positive. Returns (positive, negative) masks.
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> sample_balanced(
    const std::vector<torch::Tensor>& labels, int64_t batch_size, double positive_fraction);

}  // namespace mrcnn::model
