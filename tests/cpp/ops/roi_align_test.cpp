#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "mrcnn/ops/multiscale_roi_align.h"
#include "mrcnn/ops/roi_align.h"

namespace {

// x[r, c] = 4r + c on a 4x4 map. The box (0,0)-(4,4) with 2x2 bins and one sample per bin
// samples the bin centres (1,1), (1,3), (3,1), (3,3) -> 5, 7, 13, 15.
TEST(RoiAlign, HandWorkedBins) {
  const at::Tensor x = at::arange(16, at::kFloat).view({1, 1, 4, 4});
  const at::Tensor rois = at::tensor({0.f, 0.f, 0.f, 4.f, 4.f}).view({1, 5});
  const at::Tensor out = mrcnn::ops::roi_align(x, rois, 1.0, 2, 2, 1, false).flatten();
  ASSERT_EQ(out.numel(), 4);
  EXPECT_FLOAT_EQ(out[0].item<float>(), 5.f);
  EXPECT_FLOAT_EQ(out[1].item<float>(), 7.f);
  EXPECT_FLOAT_EQ(out[2].item<float>(), 13.f);
  EXPECT_FLOAT_EQ(out[3].item<float>(), 15.f);
}

// aligned=true moves the box by half a pixel: the centre of (0,0)-(2,2) becomes (0.5, 0.5), the
// mean of x[0,0], x[0,1], x[1,0], x[1,1] = (0 + 1 + 4 + 5) / 4.
TEST(RoiAlign, AlignedShiftsHalfAPixel) {
  const at::Tensor x = at::arange(16, at::kFloat).view({1, 1, 4, 4});
  const at::Tensor rois = at::tensor({0.f, 0.f, 0.f, 2.f, 2.f}).view({1, 5});
  EXPECT_FLOAT_EQ(mrcnn::ops::roi_align(x, rois, 1.0, 1, 1, 1, false).item<float>(), 5.f);
  EXPECT_FLOAT_EQ(mrcnn::ops::roi_align(x, rois, 1.0, 1, 1, 1, true).item<float>(), 2.5f);
}

// A box far outside the map samples nothing: zeros, and no gradient.
TEST(RoiAlign, OutsideTheMapIsZero) {
  const at::Tensor x = at::ones({1, 2, 5, 5}).requires_grad_();
  const at::Tensor rois = at::tensor({0.f, 100.f, 100.f, 120.f, 120.f}).view({1, 5});
  const at::Tensor out = mrcnn::ops::roi_align(x, rois, 1.0, 3, 3, 2, false);
  EXPECT_EQ(out.abs().sum().item<float>(), 0.f);
  out.sum().backward();
  EXPECT_EQ(x.grad().abs().sum().item<float>(), 0.f);
}

// The gradient of a bin average spreads 1 over the bin's samples: it sums to the bin count.
TEST(RoiAlign, BackwardConservesMass) {
  const at::Tensor x = at::randn({1, 3, 16, 16}, at::kDouble).requires_grad_();
  const at::Tensor rois = at::tensor({0., 2.5, 3.0, 11.0, 9.5}, at::kDouble).view({1, 5});
  mrcnn::ops::roi_align(x, rois, 1.0, 4, 4, 2, false).sum().backward();
  EXPECT_NEAR(x.grad().sum().item<double>(), 3 * 16, 1e-9);
}

TEST(RoiAlign, RejectsBadArguments) {
  const at::Tensor x = at::zeros({1, 2, 5, 5});
  EXPECT_THROW(mrcnn::ops::roi_align(x, at::zeros({1, 4}), 1.0, 2, 2, 2, false), c10::Error);
  EXPECT_THROW(mrcnn::ops::roi_align(x, at::zeros({1, 5}, at::kDouble), 1.0, 2, 2, 2, false), c10::Error);
  EXPECT_THROW(mrcnn::ops::roi_align(x, at::zeros({1, 5}), 1.0, -2, 2, 2, false), c10::Error);
}

// sqrt(area) = 224 is level 4, 112 level 3, 448 level 5; 10 clamps to k_min, 5000 to k_max.
TEST(FpnLevels, CanonicalSizes) {
  const at::Tensor boxes =
      at::tensor({0.f, 0.f, 224.f, 224.f, 0.f, 0.f, 112.f, 112.f, 0.f, 0.f, 448.f, 448.f, 0.f, 0.f, 10.f, 10.f, 0.f,
                  0.f, 5000.f, 5000.f})
          .view({5, 4});
  const at::Tensor levels = mrcnn::ops::fpn_levels(boxes, 2, 5);
  const std::vector<int64_t> want{2, 1, 3, 0, 3};  // offsets from k_min = 2
  for (int i = 0; i < 5; ++i) EXPECT_EQ(levels[i].item<int64_t>(), want[i]) << "box " << i;
}

TEST(FpnLevels, InferScale) {
  EXPECT_DOUBLE_EQ(mrcnn::ops::infer_feature_scale(200, 800), 0.25);
  EXPECT_DOUBLE_EQ(mrcnn::ops::infer_feature_scale(25, 797), 1.0 / 32);
}

}  // namespace
