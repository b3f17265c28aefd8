// The library built without OpenCV's C++ library (MRCNN_OPENCV=0): this executable compiles the
// sources that use OpenCV with MRCNN_WITH_OPENCV=0 and no OpenCV headers, and links the rest of
// the core without OpenCV's libraries, as the build on a machine without them does. What needs
// OpenCV raises naming the build option; resizing falls back to torch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "mrcnn/codecs/polygon.h"
#include "mrcnn/codecs/rle.h"
#include "mrcnn/data/augment.h"
#include "mrcnn/data/sample.h"

namespace {

using mrcnn::data::AugmentOptions;
using mrcnn::data::Sample;

void expect_needs_opencv(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << " did not raise";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("MRCNN_OPENCV=0"), std::string::npos) << m;
    EXPECT_NE(m.find(what), std::string::npos) << m;
  }
}

TEST(WithoutOpenCV, TheBuildSaysSo) { EXPECT_FALSE(mrcnn::data::with_opencv()); }

TEST(WithoutOpenCV, DecodingImageFilesRaisesNamingTheFile) {
  const std::string path = testing::TempDir() + "mrcnn_without_opencv.png";
  std::ofstream(path, std::ios::binary) << "\x89PNG\r\n\x1a\n not really";
  expect_needs_opencv([&] { mrcnn::data::read_image(path); }, path);
  std::remove(path.c_str());
  // a missing file is still reported as missing
  EXPECT_THROW(mrcnn::data::read_image(path), std::invalid_argument);
}

TEST(WithoutOpenCV, ResizingUsesTorchBilinearAndNearest) {
  mrcnn::model::Config config;
  config.IMAGE_RESIZE_MODE = "square";
  config.IMAGE_MIN_DIM = 64;
  config.IMAGE_MAX_DIM = 64;
  Sample s;
  s.image = torch::randint(0, 256, {30, 40, 3}, torch::kByte);
  s.masks = torch::zeros({2, 30, 40}, torch::kByte);
  s.masks[0].narrow(0, 3, 10).narrow(1, 5, 17).fill_(1);
  s.masks[1].narrow(0, 20, 9).narrow(1, 30, 10).fill_(1);
  s.class_ids = torch::tensor({1, 2}, torch::kLong);
  const torch::Tensor image = s.image.clone(), masks = s.masks.clone();
  mrcnn::data::resize_sample(s, config, 1.0, nullptr);
  ASSERT_EQ(s.image.sizes(), (std::vector<int64_t>{48, 64, 3}));  // 40 -> 64: scale 1.6
  ASSERT_EQ(s.masks.sizes(), (std::vector<int64_t>{2, 48, 64}));
  EXPECT_EQ(s.image.scalar_type(), torch::kByte);
  // masks: output pixel (y, x) takes the input pixel (floor(y * 30 / 48), floor(x * 40 / 64))
  const torch::Tensor ys = (torch::arange(48) * 30).div(48, "floor").to(torch::kLong);
  const torch::Tensor xs = (torch::arange(64) * 40).div(64, "floor").to(torch::kLong);
  EXPECT_TRUE(torch::equal(s.masks, masks.index_select(1, ys).index_select(2, xs)));
  // the image: torch's bilinear resize of the same pixels, within rounding of OpenCV's
  namespace F = torch::nn::functional;
  const torch::Tensor ref = F::interpolate(image.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat),
                                           F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{48, 64})
                                               .mode(torch::kBilinear)
                                               .align_corners(false))[0]
                                .permute({1, 2, 0});
  EXPECT_LE((s.image.to(torch::kFloat) - ref).abs().max().item<float>(), 1.0f);
}

TEST(WithoutOpenCV, GeometricAugmentationWorksPhotometricRaises) {
  AugmentOptions geometric;
  geometric.fliplr = 1;
  geometric.crop = 0.5;
  geometric.validate();
  Sample s;
  s.image = torch::randint(0, 256, {20, 24, 3}, torch::kByte);
  s.masks = torch::ones({1, 20, 24}, torch::kByte);
  s.class_ids = torch::tensor({1}, torch::kLong);
  std::mt19937_64 rng(3);
  mrcnn::data::augment(s, geometric, rng);
  EXPECT_LE(s.image.size(0), 20);
  EXPECT_EQ(s.masks.size(1), s.image.size(0));

  for (const char* field : {"brightness", "contrast", "saturation", "hue", "blur"}) {
    AugmentOptions o;
    const std::string f = field;
    (f == "brightness" ? o.brightness : f == "contrast" ? o.contrast : f == "saturation" ? o.saturation
                                        : f == "hue"    ? o.hue
                                                        : o.blur) = 0.2;
    expect_needs_opencv([&] { o.validate(); }, "photometric augmentation");
    expect_needs_opencv([&] { mrcnn::data::augment(s, o, rng); }, "photometric augmentation");
  }
}

TEST(WithoutOpenCV, MaskFilesNeedAReaderTheRestIsTorch) {
  const std::string path = testing::TempDir() + "mrcnn_without_opencv_mask.png";
  std::ofstream(path, std::ios::binary) << "\x89PNG\r\n\x1a\n not really";
  expect_needs_opencv([&] { mrcnn::data::read_mask_file(path); }, path);
  std::remove(path.c_str());

  // a record with an RLE instance and three mask-file instances, read by a reader given here (as
  // the Python binding gives Python's cv2): a 2x3 label image resized to the 4x6 image
  using namespace mrcnn::data;
  AnnotationSet set;
  set.source = "s";
  ImageRecord r;
  r.path = "image.png";
  Instance rle;
  rle.class_id = 7;
  rle.crowd = true;
  std::vector<uint8_t> on(24, 0);
  on[0] = 1;  // pixel (0, 0)
  rle.mask = mrcnn::codecs::rle_encode(mrcnn::codecs::MaskView{on.data(), 4, 6, 6, 1});
  r.instances.push_back(rle);
  for (int64_t label : {0, 2, -1}) {
    Instance f;
    f.class_id = 3;
    f.file = {"labels.png", label};
    r.instances.push_back(f);
  }
  set.images.push_back(r);
  int reads = 0;
  const MaskFileReader reader = [&](const std::string& p) {
    ++reads;
    EXPECT_EQ(p, "labels.png");
    return torch::tensor({0, 1, 2, 2, 0, 5}, torch::kInt).view({2, 3});
  };
  const std::vector<int64_t> ids = record_class_ids(set, set.images[0], {{"s.7", 1}, {"s.3", 2}});
  EXPECT_EQ(ids, (std::vector<int64_t>{-1, 2, 2, 2}));
  const auto [masks, class_ids] = record_masks(set.images[0], 4, 6, ids, reader);
  EXPECT_EQ(reads, 1);  // one file, read once
  // RLE, label 0 (non-zero), label 2, then label -1: values 1, 2, 5
  ASSERT_EQ(masks.sizes(), (std::vector<int64_t>{6, 4, 6}));
  EXPECT_TRUE(torch::equal(class_ids, torch::tensor({-1, 2, 2, 2, 2, 2}, torch::kLong)));
  const torch::Tensor up = torch::tensor({0, 1, 2, 2, 0, 5}, torch::kInt).view({2, 3}).repeat_interleave(2, 0)
                               .repeat_interleave(2, 1);
  EXPECT_EQ(masks[0].sum().item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(masks[1], up.ne(0).to(torch::kByte)));
  EXPECT_TRUE(torch::equal(masks[2], up.eq(2).to(torch::kByte)));
  EXPECT_TRUE(torch::equal(masks[3], up.eq(1).to(torch::kByte)));
  EXPECT_TRUE(torch::equal(masks[4], up.eq(2).to(torch::kByte)));
  EXPECT_TRUE(torch::equal(masks[5], up.eq(5).to(torch::kByte)));
  // a class the dataset does not know, and a record that is not there
  EXPECT_THROW(record_class_ids(set, set.images[0], {{"s.7", 1}}), std::invalid_argument);
  auto shared = std::make_shared<const AnnotationSet>(set);
  EXPECT_THROW(AnnotatedSource({{shared, 1}}, {{"s.7", 1}, {"s.3", 2}}), std::invalid_argument);
  EXPECT_EQ(AnnotatedSource({{shared, 0}}, {{"s.7", 1}, {"s.3", 2}}).reference(0), "image.png");
}

TEST(WithoutOpenCV, MaskOutlinesRaise) {
  std::vector<uint8_t> mask(16, 1);
  const mrcnn::codecs::MaskView view{mask.data(), 4, 4, 4, 1};
  expect_needs_opencv([&] { mrcnn::codecs::mask_to_polygons(view, 0.0); }, "mask_to_polygons");
}

}  // namespace
