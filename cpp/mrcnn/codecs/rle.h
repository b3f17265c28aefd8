// COCO run-length encoding, byte-identical to pycocotools.
//
// A mask of h rows and w columns is read in column-major order (pixel (y, x) is element
// x*h + y). Its RLE is the run lengths of alternating 0s and 1s, always starting with a run of
// 0s (which may be empty). The compact string form stores each count in 6-bit chunks (ASCII 48
// upwards, 5 value bits and a continuation bit), with counts from index 3 on stored as the
// difference from the count two places back.
//
// Every function here validates its input and throws std::invalid_argument with a message
// naming the problem; none of them reads or writes out of bounds on bad input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mrcnn::codecs {

struct Rle {
  uint32_t h = 0;
  uint32_t w = 0;
  std::vector<uint32_t> counts;
};

// A view of an h x w uint8 mask with arbitrary element strides (row_stride between rows,
// col_stride between columns), so C-ordered, Fortran-ordered and sliced arrays need no copy.
struct MaskView {
  const uint8_t* data = nullptr;
  uint32_t h = 0;
  uint32_t w = 0;
  std::ptrdiff_t row_stride = 0;
  std::ptrdiff_t col_stride = 0;
};

// Encodes a mask; any non-zero byte is foreground.
Rle rle_encode(const MaskView& mask);

// Writes the mask into out[x*col_stride + y*row_stride] as 0/1 bytes.
void rle_decode(const Rle& rle, uint8_t* out, std::ptrdiff_t row_stride, std::ptrdiff_t col_stride);

// Checks that counts sum to h*w; throws std::invalid_argument naming `what` otherwise.
void rle_validate(const Rle& rle, std::string_view what = "rle");

// Compact COCO string <-> counts.
std::string rle_to_string(const Rle& rle);
Rle rle_from_string(std::string_view s, uint32_t h, uint32_t w);

// Counts given directly (COCO's "uncompressed RLE"); validated.
Rle rle_from_counts(const std::vector<uint32_t>& counts, uint32_t h, uint32_t w);

// Number of foreground pixels.
uint64_t rle_area(const Rle& rle);

// Tight box [x, y, width, height] in pixels; all zeros for an empty mask.
std::array<double, 4> rle_to_bbox(const Rle& rle);

// Mask of the box [x, y, width, height], rasterised as the polygon of its four corners.
Rle rle_from_bbox(const std::array<double, 4>& box, uint32_t h, uint32_t w);

// Union (intersect = false) or intersection of masks of equal size.
Rle rle_merge(const std::vector<const Rle*>& rles, bool intersect);

// IoU matrix out[d * gt_count + g] between masks. For a crowd ground truth the union is the
// area of the detection alone. Pairs whose boxes do not overlap are 0 without decoding.
void rle_iou(const Rle* dt, size_t dt_count, const Rle* gt, size_t gt_count,
             const uint8_t* iscrowd, double* out);
// The same over arrays of pointers (masks held elsewhere, not copied).
void rle_iou(const Rle* const* dt, size_t dt_count, const Rle* const* gt, size_t gt_count,
             const uint8_t* iscrowd, double* out);
// The same with each mask's rle_to_bbox given ([x, y, w, h] per mask, in order), for masks
// already checked with rle_validate: for callers that compare each mask in several calls.
void rle_iou(const Rle* const* dt, const double* dt_boxes, size_t dt_count, const Rle* const* gt,
             const double* gt_boxes, size_t gt_count, const uint8_t* iscrowd, double* out);

// IoU matrix out[d * gt_count + g] between [x, y, width, height] boxes, same crowd rule.
void bbox_iou(const double* dt, size_t dt_count, const double* gt, size_t gt_count,
              const uint8_t* iscrowd, double* out);

}  // namespace mrcnn::codecs
