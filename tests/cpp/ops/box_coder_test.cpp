#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "mrcnn/ops/anchors.h"
#include "mrcnn/ops/box_coder.h"
#include "mrcnn/ops/nms.h"

namespace {

// proposal (0,0)-(10,20): centre (5,10), size 10x20. gt (2,4)-(12,44): centre (7,24), size 10x40.
// dx = 10 * 2/10 = 2, dy = 10 * 14/20 = 7, dw = 5 * log(1) = 0, dh = 5 * log(2).
TEST(BoxCoder, HandWorkedEncode) {
  const at::Tensor proposal = at::tensor({0.f, 0.f, 10.f, 20.f}).view({1, 4});
  const at::Tensor gt = at::tensor({2.f, 4.f, 12.f, 44.f}).view({1, 4});
  const at::Tensor d = mrcnn::ops::encode_boxes(gt, proposal, {10, 10, 5, 5})[0];
  EXPECT_FLOAT_EQ(d[0].item<float>(), 2.f);
  EXPECT_FLOAT_EQ(d[1].item<float>(), 7.f);
  EXPECT_FLOAT_EQ(d[2].item<float>(), 0.f);
  EXPECT_NEAR(d[3].item<float>(), 5 * std::log(2.f), 1e-6);
}

TEST(BoxCoder, DecodeInvertsEncode) {
  const at::Tensor proposals = at::rand({50, 2}) * 100;
  const at::Tensor p = at::cat({proposals, proposals + at::rand({50, 2}) * 50 + 1}, 1);
  const at::Tensor q = at::cat({proposals + 3, proposals + at::rand({50, 2}) * 40 + 5}, 1);
  const at::Tensor d = mrcnn::ops::encode_boxes(q, p, {10, 10, 5, 5});
  const at::Tensor back = mrcnn::ops::decode_boxes(d, p, {10, 10, 5, 5});
  EXPECT_TRUE(at::allclose(back.view({50, 4}), q, 1e-4, 1e-3));
}

// A 1:1 anchor of size 32 is (-16,-16,16,16); ratio 0.5 (h/w) gives w = 32*sqrt(2), h = 32/sqrt(2),
// halves 22.6 and 11.3, rounded.
TEST(Anchors, CellAnchorsHandWorked) {
  const at::Tensor a = mrcnn::ops::cell_anchors({32}, {0.5, 1.0});
  ASSERT_EQ(a.size(0), 2);
  EXPECT_TRUE(at::equal(a[0], at::tensor({-23.f, -11.f, 23.f, 11.f})));
  EXPECT_TRUE(at::equal(a[1], at::tensor({-16.f, -16.f, 16.f, 16.f})));
  const at::Tensor g = mrcnn::ops::grid_anchors(a, 2, 3, 16, 8);  // location-major, x fastest
  ASSERT_EQ(g.size(0), 12);
  EXPECT_TRUE(at::equal(g[2 * 4 + 1], at::tensor({-16.f + 8, 0.f, 16.f + 8, 32.f})));  // (y=16, x=8), 1:1
}

TEST(BatchedNms, CategoriesDoNotSuppressEachOther) {
  const at::Tensor boxes = at::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 10.f, 10.f}).view({3, 4});
  const at::Tensor scores = at::tensor({0.9f, 0.8f, 0.7f});
  const at::Tensor keep = mrcnn::ops::batched_nms(boxes, scores, at::tensor({int64_t(0), int64_t(1), int64_t(0)}), 0.5);
  ASSERT_EQ(keep.numel(), 2);
  EXPECT_EQ(keep[0].item<int64_t>(), 0);
  EXPECT_EQ(keep[1].item<int64_t>(), 1);
}

}  // namespace
