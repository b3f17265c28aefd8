"""Mask codecs beyond pycocotools: Kaggle RLE strings, VIA shapes, mask -> polygons.

COCO RLE lives in :mod:`mrcnn.cocomask` (pycocotools' API). All functions run in C++; the
batch functions use every core (``mrcnn.set_num_threads``).
"""
import numpy as np

from ._C import codecs as _codecs

__all__ = ["kaggle_rle_decode", "kaggle_rle_encode", "kaggle_rle_to_coco", "coco_to_kaggle_rle",
           "via_shape_to_mask", "via_shape_to_rle", "mask_to_polygons"]


def _side(value, what):
    """An image side for the C++ codecs (uint32 there): a whole number in 0..2**31-1, else ValueError
    naming the argument (instead of pybind11's "incompatible function arguments")."""
    try:
        side = int(value)
        whole = side == value
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or not 0 <= side < 2 ** 31:
        raise ValueError("%s must be a whole number of pixels in 0..2147483647, got %r" % (what, value))
    return side


def _kaggle_string(encoded, what):
    """Raises TypeError naming `what` unless encoded is a Kaggle RLE string."""
    if isinstance(encoded, (str, bytes)):
        return
    hint = (" (an empty CSV cell read by pandas: an image without that mask has no row)"
            if isinstance(encoded, float) and encoded != encoded else "")
    raise TypeError("%s: encoded must be a Kaggle RLE string 'start length start length ...', got %s%s"
                    % (what, "NaN" if hint else repr(encoded) if encoded is None else type(encoded).__name__, hint))


def kaggle_rle_decode(encoded, height, width, one_indexed=True, column_major=True):
    """Masks of Kaggle 'start length ...' strings.

    encoded: one string -> bool [height, width]; a list of strings -> bool [height, width, N].
    The default numbering is the iMaterialist / Data Science Bowl one: 1-indexed starts,
    pixels counted down each column. Bad strings raise ValueError naming the token.
    """
    single = isinstance(encoded, (str, bytes))
    strings = [encoded] if single else list(encoded)
    strings = [s.decode() if isinstance(s, bytes) else ("" if s is None else str(s)) for s in strings]
    masks = _codecs.kaggle_decode(strings, _side(height, "kaggle_rle_decode: height"),
                                  _side(width, "kaggle_rle_decode: width"), one_indexed, column_major).view(bool)
    return masks[:, :, 0] if single else masks


def kaggle_rle_encode(mask, one_indexed=True, column_major=True):
    """'start length ...' string of an HxW mask, or a list of strings for HxWxN."""
    mask = np.asarray(mask)
    out = _codecs.kaggle_encode(mask, one_indexed, column_major)
    return out[0] if mask.ndim == 2 else out


def kaggle_rle_to_coco(encoded, height, width, one_indexed=True, column_major=True):
    """COCO RLE dict of a Kaggle string, without materialising the mask."""
    _kaggle_string(encoded, "kaggle_rle_to_coco")
    return _codecs.kaggle_to_rle(encoded, _side(height, "kaggle_rle_to_coco: height"),
                                 _side(width, "kaggle_rle_to_coco: width"), one_indexed, column_major)


def coco_to_kaggle_rle(rle, one_indexed=True, column_major=True):
    return _codecs.rle_to_kaggle(rle, one_indexed, column_major)


def via_shape_to_rle(shape_attributes, height, width):
    """COCO RLE of a VIA region's shape_attributes (polygon, polyline, rect, circle, ellipse, point)."""
    if not isinstance(shape_attributes, dict):
        raise TypeError("via_shape_to_rle: shape_attributes must be a dict (a VIA region's), got %s"
                        % type(shape_attributes).__name__)
    return _codecs.via_shape(dict(shape_attributes), _side(height, "via_shape_to_rle: height"),
                             _side(width, "via_shape_to_rle: width"))


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
