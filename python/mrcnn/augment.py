"""Augmentation for training, applied in the C++ data loader to the image and its masks together.

    from mrcnn.augment import Augmentation
    aug = Augmentation(fliplr=0.5, rot90=0.25, scale=(0.8, 1.2), brightness=0.1, hue=10)
    model.train(train_set, val_set, learning_rate=1e-3, epochs=10, layers="heads", augmentation=aug)

Matterport notebooks pass imgaug augmenters (``augmentation=iaa.Fliplr(0.5)``); those work too
when imgaug is installed: they run in Python from the loader's worker threads, with
Matterport's rule that only geometric augmenters touch the masks.
"""
import numpy as np

from . import _C

__all__ = ["Augmentation", "to_loader_options"]

# imgaug augmenters that may change masks (Matterport's MASK_AUGMENTERS); the others (colour,
# blur, noise) are applied to the image only.
MASK_AUGMENTERS = ["Sequential", "SomeOf", "OneOf", "Sometimes", "Fliplr", "Flipud", "CropAndPad", "Affine",
                   "PiecewiseAffine", "Crop", "Pad", "Rot90", "Resize", "ScaleX", "ScaleY", "Rotate",
                   "TranslateX", "TranslateY", "ShearX", "ShearY", "PerspectiveTransform"]


class Augmentation(_C.train.AugmentOptions):
    """Native augmentation options, each off by default (the fields, their defaults and meanings
    are the C++ loader's own: see help(mrcnn._C.train.AugmentOptions)):

    fliplr, flipud, rot90 -- probabilities (rot90 turns by 90, 180 or 270 degrees);
    scale=(lo, hi) (or s for (1/s, s)) -- multiplies the resize scale by a uniform factor, i.e.
    scale_min and scale_max; crop -- a random crop keeps at least this fraction of each side;
    brightness (fraction of 255), contrast, saturation (relative factors), hue (degrees) -- colour
    jitter ranges; blur -- probability of a Gaussian blur with sigma up to blur_sigma.
    A misspelt option or a value of the wrong type raises TypeError naming it.
    """

    def __init__(self, scale=None, **options):
        if scale is not None:
            lo, hi = (scale[0], scale[1]) if np.ndim(scale) else (1.0 / float(scale), scale)
            options.update(scale_min=float(lo), scale_max=float(hi))
        super().__init__(**options)

    @property
    def scale(self):
        return (self.scale_min, self.scale_max)


def _is_imgaug(obj):
    return hasattr(obj, "to_deterministic") and hasattr(obj, "augment_image")


def _imgaug_hook(augmenter):
    """A loader hook running an imgaug augmenter the way Matterport's load_image_gt does."""
    def mask_hook(images, augmenter_, parents, default):
        return augmenter_.__class__.__name__ in MASK_AUGMENTERS

    def hook(image, masks, seed):
        import imgaug  # the augmenter came from it, so it is installed

        det = augmenter.to_deterministic()
        if hasattr(det, "reseed"):
            det.reseed(int(seed) % (2 ** 31))
        out = det.augment_image(image)
        m = det.augment_image(masks.astype(np.uint8), hooks=imgaug.HooksImages(activator=mask_hook))
        if out.shape[:2] != m.shape[:2]:
            raise ValueError("augmentation changed the image to %s but the masks to %s" % (out.shape, m.shape))
        return np.ascontiguousarray(out), m.astype(bool)
    return hook


def to_loader_options(augmentation):
    """(native loader augmentation or None, Python hook or None) for what `train` was given:
    None, an Augmentation (or the loader's AugmentOptions), a dict of its options, an imgaug
    augmenter, or a callable f(image, masks, seed) -> (image, masks)."""
    if augmentation is None:
        return None, None
    if isinstance(augmentation, _C.train.AugmentOptions):
        return augmentation, None
    if isinstance(augmentation, dict):
        return Augmentation(**augmentation), None
    if _is_imgaug(augmentation):
        return None, _imgaug_hook(augmentation)
    if callable(augmentation):
        return None, augmentation
    raise TypeError("augmentation must be None, mrcnn.augment.Augmentation, a dict of its options, an imgaug "
                    "augmenter or a callable (image, masks, seed) -> (image, masks); got %r" % (augmentation,))
