#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "mrcnn/ops/nms.h"

namespace {

// Box 1 overlaps box 0 with IoU 81 / 119 = 0.68; box 2 is apart. Box 1 has the top score.
TEST(Nms, HandWorked) {
  const at::Tensor boxes = at::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 11.f, 11.f, 20.f, 20.f, 30.f, 30.f}).view({3, 4});
  const at::Tensor scores = at::tensor({0.9f, 0.95f, 0.1f});
  const at::Tensor keep = mrcnn::ops::nms(boxes, scores, 0.5);
  ASSERT_EQ(keep.numel(), 2);
  EXPECT_EQ(keep[0].item<int64_t>(), 1);
  EXPECT_EQ(keep[1].item<int64_t>(), 2);
  EXPECT_EQ(mrcnn::ops::nms(boxes, scores, 0.7).numel(), 3);
}

TEST(Nms, RejectsBadShapes) {
  EXPECT_THROW(mrcnn::ops::nms(at::zeros({3, 5}), at::zeros({3}), 0.5), c10::Error);
  EXPECT_THROW(mrcnn::ops::nms(at::zeros({3, 4}), at::zeros({2}), 0.5), c10::Error);
}

}  // namespace
