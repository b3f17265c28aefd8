#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "mrcnn/data/annotations.h"

namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(ImageSize, FromJpegAndPngHeaders) {
  const cv::Mat im(37, 53, CV_8UC3, cv::Scalar(10, 20, 30));
  for (const char* name : {"a.png", "a.jpg"}) {
    const std::string p = temp_path(name);
    ASSERT_TRUE(cv::imwrite(p, im));
    const auto [h, w] = mrcnn::data::image_size_from_header(p);
    EXPECT_EQ(h, 37) << name;
    EXPECT_EQ(w, 53) << name;
  }
  EXPECT_EQ(mrcnn::data::image_size_from_header(temp_path("none.jpg")).first, 0);
}

// A VIA 2.x project: one rect region classed through a checkbox attribute, one region without it.
TEST(Via, ProjectWithCheckboxClasses) {
  const std::string img = temp_path("v.png");
  ASSERT_TRUE(cv::imwrite(img, cv::Mat(20, 30, CV_8UC1, cv::Scalar(0))));
  const std::string json = temp_path("via.json");
  std::ofstream(json) << R"({"_via_img_metadata": {"v.png1": {"filename": "v.png", "regions": [
      {"shape_attributes": {"name": "rect", "x": 2, "y": 3, "width": 10, "height": 5},
       "region_attributes": {"kind": {"cat": true, "dog": false}}},
      {"shape_attributes": {"name": "circle", "cx": 5, "cy": 5, "r": 2}, "region_attributes": {}}]}}})";
  const auto set = mrcnn::data::load_via(json, ::testing::TempDir(), "kind");
  ASSERT_EQ(set.images.size(), 1u);
  EXPECT_EQ(set.images[0].height, 20);
  ASSERT_EQ(set.images[0].instances.size(), 1u);  // the second region has no class: skipped
  EXPECT_EQ(set.warnings.size(), 1u);
  EXPECT_NE(set.warnings[0].find("region 1"), std::string::npos) << set.warnings[0];
  ASSERT_EQ(set.classes.size(), 1u);
  EXPECT_EQ(set.classes[0].second, "cat");
  EXPECT_EQ(mrcnn::codecs::rle_area(set.images[0].instances[0].mask), 50u);
  EXPECT_THROW(mrcnn::data::load_via(json, ::testing::TempDir(), "kind", "object", mrcnn::data::BadDataPolicy::kRaise),
               std::invalid_argument);
}

}  // namespace
