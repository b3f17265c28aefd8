// mrcnn_rle_tool: converts between mask PNGs and RLE strings with the C++ codecs alone.
//
//   mrcnn_rle_tool encode MASK.png            prints COCO counts, area, bbox and the Kaggle string
//   mrcnn_rle_tool decode H W "KAGGLE RLE" OUT.png
//   mrcnn_rle_tool coco H W "COCO COUNTS" OUT.png
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "mrcnn/codecs/kaggle_rle.h"
#include "mrcnn/codecs/rle.h"

using namespace mrcnn::codecs;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: mrcnn_rle_tool encode MASK.png\n"
               "       mrcnn_rle_tool decode H W \"KAGGLE RLE\" OUT.png\n"
               "       mrcnn_rle_tool coco H W \"COCO COUNTS\" OUT.png\n");
  return 2;
}

int write_png(const Rle& rle, const char* path) {
  cv::Mat mask(static_cast<int>(rle.h), static_cast<int>(rle.w), CV_8UC1);
  // The Mat is row-major: rows are y, so a column of the mask is `step` bytes apart.
  rle_decode(rle, mask.data, static_cast<std::ptrdiff_t>(mask.step[0]), 1);
  mask *= 255;
  if (!cv::imwrite(path, mask)) {
    std::fprintf(stderr, "cannot write %s\n", path);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string cmd = argv[1];
  try {
    if (cmd == "encode" && argc == 3) {
      cv::Mat img = cv::imread(argv[2], cv::IMREAD_GRAYSCALE);
      if (img.empty()) {
        std::fprintf(stderr, "cannot read an image from %s\n", argv[2]);
        return 1;
      }
      const MaskView view{img.data, static_cast<uint32_t>(img.rows), static_cast<uint32_t>(img.cols),
                          static_cast<std::ptrdiff_t>(img.step[0]), 1};
      const Rle rle = rle_encode(view);
      const auto bb = rle_to_bbox(rle);
      std::printf("size %u %u\ncounts %s\narea %llu\nbbox %g %g %g %g\nkaggle %s\n", rle.h, rle.w,
                  rle_to_string(rle).c_str(), static_cast<unsigned long long>(rle_area(rle)), bb[0], bb[1],
                  bb[2], bb[3], rle_to_kaggle_rle(rle).c_str());
      return 0;
    }
    if ((cmd == "decode" || cmd == "coco") && argc == 6) {
      const uint32_t h = static_cast<uint32_t>(std::stoul(argv[2])), w = static_cast<uint32_t>(std::stoul(argv[3]));
      const Rle rle = cmd == "decode" ? kaggle_rle_to_rle(argv[4], h, w) : rle_from_string(argv[4], h, w);
      return write_png(rle, argv[5]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return usage();
}
