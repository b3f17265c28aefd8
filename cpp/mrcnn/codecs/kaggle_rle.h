// Kaggle-style RLE strings: "start length start length ...", the EncodedPixels column of the
// iMaterialist fashion and Data Science Bowl CSVs. By default starts are 1-indexed and pixels
// are numbered column-major (down each column first); other competitions use 0-indexed or
// row-major numbering, selected by the options.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mrcnn/codecs/rle.h"

namespace mrcnn::codecs {

struct KaggleRleOptions {
  bool one_indexed = true;    // first pixel is 1 (Kaggle) rather than 0
  bool column_major = true;   // pixel index = x*h + y; false: y*w + x
};

// Parses the pairs into a COCO RLE of an h x w mask. Pairs may come in any order and may
// overlap (their union is taken). Throws std::invalid_argument naming the bad token.
Rle kaggle_rle_to_rle(std::string_view s, uint32_t h, uint32_t w, const KaggleRleOptions& opt = {});

// Formats the foreground of a COCO RLE as pairs, in increasing pixel order.
std::string rle_to_kaggle_rle(const Rle& rle, const KaggleRleOptions& opt = {});

// Same from a mask directly.
std::string kaggle_rle_encode(const MaskView& mask, const KaggleRleOptions& opt = {});

}  // namespace mrcnn::codecs
