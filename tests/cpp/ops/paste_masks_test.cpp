#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "mrcnn/ops/paste_masks.h"

namespace {

// A 2x2 mask of ones padded to 4x4 (scale 2) on the box (2,2)-(5,5): the box grows about its centre
// (3.5, 3.5) to (0.5, 0.5)-(6.5, 6.5), truncated to (0,0)-(6,6), a 7x7 resize of the padded mask.
// The centre pixel (3, 3) is well inside the ones; the corners sample the zero padding.
TEST(PasteMasks, HandWorkedBox) {
  const at::Tensor masks = at::ones({1, 2, 2});
  const at::Tensor boxes = at::tensor({2.f, 2.f, 5.f, 5.f}).view({1, 4});
  const at::Tensor out = mrcnn::ops::paste_masks(masks, boxes, 10, 10, 1, -1.0)[0];
  EXPECT_GT(out[3][3].item<float>(), 0.99f);
  EXPECT_EQ(out[0][0].item<float>(), 0.f);
  EXPECT_EQ(out[7][7].item<float>(), 0.f);  // outside the truncated box
  EXPECT_EQ(out.slice(0, 7).abs().sum().item<float>(), 0.f);
  // symmetric box, symmetric mask: the paste is symmetric about the box's diagonal
  EXPECT_TRUE(at::allclose(out, out.t()));
}

TEST(PasteMasks, ThresholdGivesBool) {
  const at::Tensor masks = at::rand({3, 28, 28});
  const at::Tensor boxes = at::tensor({0.f, 0.f, 20.f, 30.f, 5.f, 5.f, 9.f, 9.f, 30.f, 40.f, 60.f, 45.f}).view({3, 4});
  const at::Tensor prob = mrcnn::ops::paste_masks(masks, boxes, 50, 70, 1, -1.0);
  const at::Tensor bin = mrcnn::ops::paste_masks(masks, boxes, 50, 70, 1, 0.5);
  EXPECT_EQ(bin.scalar_type(), at::kBool);
  EXPECT_TRUE(at::equal(bin, prob >= 0.5));
}

TEST(PasteMasks, RejectsBadArguments) {
  EXPECT_THROW(mrcnn::ops::paste_masks(at::zeros({2, 28, 28}), at::zeros({3, 4}), 10, 10), c10::Error);
  EXPECT_THROW(mrcnn::ops::paste_masks(at::zeros({2, 28, 28}), at::zeros({2, 4}), -1, 10), c10::Error);
}

}  // namespace
