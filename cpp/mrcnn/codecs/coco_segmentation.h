// A COCO "segmentation" value as one RLE: the reading that the annotation loaders and the
// evaluator share.
#pragma once

#include <cstdint>
#include <vector>

#include "mrcnn/codecs/json_reader.h"
#include "mrcnn/codecs/rle.h"

namespace mrcnn::codecs {

// A polygon list (each [x0, y0, x1, y1, ...]), an RLE with string counts, or an uncompressed RLE
// (list counts), rasterised to an h x w image as pycocotools' annToRLE does; several polygons are
// merged. Throws std::invalid_argument saying what is wrong.
Rle coco_segmentation(const JsonValue& segmentation, uint32_t h, uint32_t w);

// The polygon part of the above: polygons rasterised and merged.
Rle polygons_to_rle(const std::vector<std::vector<double>>& polygons, uint32_t h, uint32_t w);

}  // namespace mrcnn::codecs
