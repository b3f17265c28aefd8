#include <gtest/gtest.h>

#include <stdexcept>

#include "mrcnn/model/config.h"
#include "mrcnn/model/weights.h"

namespace {

using mrcnn::model::Config;

TEST(Config, JsonRoundTrip) {
  Config c = Config::torchvision(5);
  c.NAME = "balloon";
  c.RPN_ANCHOR_RATIOS = {0.5, 1.0};
  const Config back = Config::from_json(c.to_json());
  EXPECT_EQ(back.NAME, "balloon");
  EXPECT_EQ(back.NUM_CLASSES, 5);
  EXPECT_EQ(back.IMAGE_RESIZE_MODE, "torchvision");
  EXPECT_EQ(back.RPN_ANCHOR_RATIOS, c.RPN_ANCHOR_RATIOS);
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(Config, ErrorsNameTheField) {
  Config c;
  c.NUM_CLASSES = 3;
  c.IMAGE_MAX_DIM = 1000;  // square mode needs a multiple of 64
  try {
    c.validate();
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("IMAGE_MAX_DIM"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Config::from_json(R"({"UNKNOWN": 1})"), std::invalid_argument);
  EXPECT_THROW(Config::from_json(R"({"NUM_CLASSES": "three"})"), std::invalid_argument);
  EXPECT_THROW(Config::from_json("{"), std::invalid_argument);  // not JSON: a ValueError in Python
  EXPECT_THROW(Config::upgrade_json("x", 1), std::invalid_argument);
}

TEST(Weights, OldKeysMapToCurrentOnes) {
  using mrcnn::model::canonical_key;
  EXPECT_EQ(canonical_key("rpn.head.conv.weight"), "rpn.head.conv.0.0.weight");
  EXPECT_EQ(canonical_key("backbone.fpn.inner_blocks.2.bias"), "backbone.fpn.inner_blocks.2.0.bias");
  EXPECT_EQ(canonical_key("roi_heads.mask_head.mask_fcn4.weight"), "roi_heads.mask_head.3.0.weight");
  EXPECT_EQ(canonical_key("layer3.5.bn2.running_var"), "backbone.body.layer3.5.bn2.running_var");
  EXPECT_EQ(canonical_key("module.rpn.head.conv.bias"), "rpn.head.conv.0.0.bias");
  EXPECT_EQ(canonical_key("roi_heads.box_head.fc6.weight"), "roi_heads.box_head.fc6.weight");
}

}  // namespace
