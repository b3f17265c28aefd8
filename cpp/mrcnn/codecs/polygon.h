// Polygons and VIA shapes to masks, and masks back to polygons.
//
// Coordinates are in pixels with pixel (x, y) covering [x, x+1) x [y, y+1), as in COCO.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mrcnn/codecs/rle.h"

namespace mrcnn::codecs {

// Rasterises the closed polygon xy = [x0, y0, x1, y1, ...] of k points exactly as pycocotools
// (boundary traced at 5x resolution, then downsampled). Needs k >= 3 finite coordinates with
// |value| <= 1e6; points outside the image are allowed and clipped.
Rle rle_from_polygon(const double* xy, size_t k, uint32_t h, uint32_t w);

// A VIA region's shape_attributes. name is one of polygon, polyline, rect, circle, ellipse,
// point; the fields that shape uses must be set.
struct ViaShape {
  std::string name;
  std::vector<double> xs, ys;               // polygon, polyline: all_points_x / all_points_y
  double x = 0, y = 0, width = 0, height = 0;  // rect: corner and size
  double cx = 0, cy = 0, r = 0;             // circle, point (cx, cy), ellipse centre
  double rx = 0, ry = 0, theta = 0;         // ellipse radii and rotation in radians
};

// Mask of one VIA shape. Polygons, polylines (closed) and rects use the COCO polygon rule;
// circles and ellipses contain the pixels whose centres lie inside; a point is its pixel.
Rle rle_from_via_shape(const ViaShape& shape, uint32_t h, uint32_t w);

// Outlines of a mask's connected regions as COCO polygons [x0, y0, x1, y1, ...].
//   tolerance: Douglas-Peucker simplification in pixels (0 keeps every boundary vertex).
//   Holes are joined to their outer boundary by a zero-width cut, so every polygon is a
//   single ring and the union of the polygons covers the mask, holes excluded.
std::vector<std::vector<double>> mask_to_polygons(const MaskView& mask, double tolerance);

}  // namespace mrcnn::codecs
