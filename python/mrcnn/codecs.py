"""Mask codecs beyond pycocotools: Kaggle RLE strings, VIA shapes, mask -> polygons.

COCO RLE lives in :mod:`mrcnn.cocomask` (pycocotools' API). All functions run in C++; the
batch functions use every core (``mrcnn.set_num_threads``).
"""
import numpy as np

from ._C import codecs as _codecs

__all__ = ["kaggle_rle_decode", "kaggle_rle_encode", "kaggle_rle_to_coco", "coco_to_kaggle_rle",
           "via_shape_to_mask", "via_shape_to_rle", "mask_to_polygons"]


def kaggle_rle_decode(encoded, height, width, one_indexed=True, column_major=True):
    """Masks of Kaggle 'start length ...' strings.

    encoded: one string -> bool [height, width]; a list of strings -> bool [height, width, N].
    The default numbering is the iMaterialist / Data Science Bowl one: 1-indexed starts,
    pixels counted down each column. Bad strings raise ValueError naming the token.
    """
    single = isinstance(encoded, (str, bytes))
    strings = [encoded] if single else list(encoded)
    strings = [s.decode() if isinstance(s, bytes) else ("" if s is None else str(s)) for s in strings]
    masks = _codecs.kaggle_decode(strings, int(height), int(width), one_indexed, column_major).view(bool)
    return masks[:, :, 0] if single else masks


def kaggle_rle_encode(mask, one_indexed=True, column_major=True):
    """'start length ...' string of an HxW mask, or a list of strings for HxWxN."""
    mask = np.asarray(mask)
    out = _codecs.kaggle_encode(mask, one_indexed, column_major)
    return out[0] if mask.ndim == 2 else out


def kaggle_rle_to_coco(encoded, height, width, one_indexed=True, column_major=True):
    """COCO RLE dict of a Kaggle string, without materialising the mask."""
    return _codecs.kaggle_to_rle(encoded, int(height), int(width), one_indexed, column_major)


def coco_to_kaggle_rle(rle, one_indexed=True, column_major=True):
    return _codecs.rle_to_kaggle(rle, one_indexed, column_major)


def via_shape_to_rle(shape_attributes, height, width):
    """COCO RLE of a VIA region's shape_attributes (polygon, polyline, rect, circle, ellipse, point)."""
    return _codecs.via_shape(dict(shape_attributes), int(height), int(width))


def via_shape_to_mask(shape_attributes, height, width):
    """bool [height, width] mask of a VIA region's shape_attributes."""
    rle = via_shape_to_rle(shape_attributes, height, width)
    return _codecs.decode([rle])[:, :, 0].view(bool)


def mask_to_polygons(mask, tolerance=0.0):
    """COCO polygons [[x0, y0, x1, y1, ...], ...] outlining an HxW mask.

    One polygon per connected region; holes are joined to their region by a zero-width cut.
    tolerance > 0 simplifies the outlines (Douglas-Peucker, in pixels).
    """
    return _codecs.mask_to_polygons(np.asarray(mask), float(tolerance))
