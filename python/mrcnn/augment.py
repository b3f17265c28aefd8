"""Augmentation for training, applied in the C++ data loader to the image and its masks together.

    from mrcnn.augment import Augmentation
    aug = Augmentation(fliplr=0.5, rot90=0.25, scale=(0.8, 1.2), brightness=0.1, hue=10)
    model.train(train_set, val_set, learning_rate=1e-3, epochs=10, layers="heads", augmentation=aug)

Matterport notebooks pass imgaug augmenters (``augmentation=iaa.Fliplr(0.5)``); those work too
when imgaug is installed: they run in Python from the loader's worker threads, with
Matterport's rule that only geometric augmenters touch the masks.
"""
import numpy as np

__all__ = ["Augmentation", "to_loader_options"]

# imgaug augmenters that may change masks (Matterport's MASK_AUGMENTERS); the others (colour,
# blur, noise) are applied to the image only.
MASK_AUGMENTERS = ["Sequential", "SomeOf", "OneOf", "Sometimes", "Fliplr", "Flipud", "CropAndPad", "Affine",
                   "PiecewiseAffine", "Crop", "Pad", "Rot90", "Resize", "ScaleX", "ScaleY", "Rotate",
                   "TranslateX", "TranslateY", "ShearX", "ShearY", "PerspectiveTransform"]


class Augmentation:
    """Native augmentation options (each off by default):

    fliplr, flipud, rot90 -- probabilities (rot90 turns by 90, 180 or 270 degrees);
    scale=(lo, hi) -- multiplies the resize scale by a uniform factor; crop -- a random crop keeps
    at least this fraction of each side; brightness (fraction of 255), contrast, saturation
    (relative factors), hue (degrees) -- colour jitter ranges; blur -- probability of a Gaussian
    blur with sigma up to blur_sigma.
    """

    FIELDS = ("fliplr", "flipud", "rot90", "scale", "crop", "brightness", "contrast", "saturation", "hue", "blur",
              "blur_sigma")

    def __init__(self, fliplr=0.0, flipud=0.0, rot90=0.0, scale=(1.0, 1.0), crop=1.0, brightness=0.0,
                 contrast=0.0, saturation=0.0, hue=0.0, blur=0.0, blur_sigma=1.5):
        self.fliplr, self.flipud, self.rot90 = fliplr, flipud, rot90
        self.scale = (float(scale[0]), float(scale[1])) if np.ndim(scale) else (1.0 / float(scale), float(scale))
        self.crop, self.brightness, self.contrast = crop, brightness, contrast
        self.saturation, self.hue, self.blur, self.blur_sigma = saturation, hue, blur, blur_sigma

    def to_dict(self):
        return {k: getattr(self, k) for k in self.FIELDS}

    def __repr__(self):
        return "Augmentation(%s)" % ", ".join("%s=%r" % kv for kv in self.to_dict().items())


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
    """(options dict for the native loader, Python hook or None) for what `train` was given:
    None, an Augmentation, a dict of its fields, an imgaug augmenter, or a callable
    f(image, masks, seed) -> (image, masks)."""
    if augmentation is None:
        return {}, None
    if isinstance(augmentation, Augmentation):
        return augmentation.to_dict(), None
    if isinstance(augmentation, dict):
        return Augmentation(**augmentation).to_dict(), None
    if _is_imgaug(augmentation):
        return {}, _imgaug_hook(augmentation)
    if callable(augmentation):
        return {}, augmentation
    raise TypeError("augmentation must be None, mrcnn.augment.Augmentation, a dict of its options, an imgaug "
                    "augmenter or a callable (image, masks, seed) -> (image, masks); got %r" % (augmentation,))
