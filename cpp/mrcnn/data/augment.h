// What happens to a sample between loading and the network: resizing to the network's input
// size, augmentation applied identically to the image and its masks, and target building.
#pragma once

#include <random>

#include "mrcnn/data/sample.h"
#include "mrcnn/model/config.h"

namespace mrcnn::data {

// Native augmentation. Geometry first (flips, 90-degree rotations, scale jitter, crop), then
// colour (brightness, contrast, saturation, hue), then blur; masks follow every geometric step
// (nearest neighbour), colour never touches them.
struct AugmentOptions {
  double fliplr = 0;        // probability of a left-right flip
  double flipud = 0;        // probability of an up-down flip
  double rot90 = 0;         // probability of a rotation by 90, 180 or 270 degrees (equally likely)
  double scale_min = 1, scale_max = 1;  // the resize scale is multiplied by a uniform factor in this range
  double crop = 1;          // a random crop keeps at least this fraction of each side (1: no crop)
  double brightness = 0;    // add a uniform delta in [-b, b] * 255
  double contrast = 0;      // scale around the mean by a uniform factor in [1 - c, 1 + c]
  double saturation = 0;    // scale the chroma by a uniform factor in [1 - s, 1 + s]
  double hue = 0;           // rotate the hue by a uniform angle in [-h, h] degrees
  double blur = 0;          // probability of a Gaussian blur
  double blur_sigma = 1.5;  // its sigma is uniform in [0.3, blur_sigma]

  bool any() const;
  void validate() const;  // throws std::invalid_argument naming the field
};

// Resizes image and masks to the size the network takes them at (model::resized_size for the
// configured IMAGE_RESIZE_MODE), times `scale`. In "crop" mode a random IMAGE_MIN_DIM square
// window is then cut out (when rng is given; the centre otherwise), as Matterport's crop mode.
void resize_sample(Sample& s, const model::Config& config, double scale, std::mt19937_64* rng);

// Applies the augmentation options (except scale jitter, which resize_sample takes) with rng.
void augment(Sample& s, const AugmentOptions& options, std::mt19937_64& rng);

// Drops instances whose mask became empty, crowd regions (negative ids) and background ids (0);
// fills boxes from the masks.
void make_targets(Sample& s);

}  // namespace mrcnn::data
