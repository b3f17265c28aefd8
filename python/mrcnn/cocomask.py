"""pycocotools.mask, implemented on mrcnn's C++ codecs.

Same functions, arguments and return conventions, so ``import mrcnn.cocomask as mask_util``
replaces ``import pycocotools.mask as mask_util``:

    rles = encode(np.asfortranarray(masks))        # HxW -> dict, HxWxN -> list of dicts
    masks = decode(rles)                           # dict -> HxW, list -> HxWxN uint8 (Fortran order)
    area(rles), toBbox(rles), merge(rles, intersect=False)
    iou(dt, gt, iscrowd)                           # RLE lists or [N, 4] boxes -> [len(dt), len(gt)]
    frPyObjects(polygons | boxes | uncompressed RLEs, h, w)

Unlike pycocotools, encode() accepts bool arrays and any memory order without a copy, and
malformed input raises ValueError naming the problem instead of crashing.
"""
import numpy as np

from ._C import codecs as _codecs
from .codecs import _side

__all__ = ["encode", "decode", "area", "toBbox", "merge", "iou", "frPyObjects",
           "frBbox", "frPoly", "frUncompressedRLE"]


def encode(bimask):
    """RLE of an HxW mask (a dict) or of each mask of an HxWxN array (a list of dicts)."""
    bimask = np.asarray(bimask)
    if bimask.ndim == 3:
        return _codecs.encode(bimask)
    if bimask.ndim == 2:
        return _codecs.encode(bimask)[0]
    raise ValueError("encode: expected an HxW or HxWxN mask array, got shape %s" % (bimask.shape,))


def decode(rleObjs):
    """uint8 masks of one RLE (HxW) or of a list of RLEs (HxWxN), Fortran-ordered."""
    if isinstance(rleObjs, list):
        return _codecs.decode(rleObjs)
    return _codecs.decode([rleObjs])[:, :, 0]


def area(rleObjs):
    if isinstance(rleObjs, list):
        return _codecs.area(rleObjs)
    return _codecs.area([rleObjs])[0]


def toBbox(rleObjs):
    """[x, y, width, height] of each RLE (float64)."""
    if isinstance(rleObjs, list):
        return _codecs.to_bbox(rleObjs)
    return _codecs.to_bbox([rleObjs])[0]


def merge(rleObjs, intersect=0):
    """Union (or intersection with intersect=1) of a list of RLEs, as one RLE."""
    return _codecs.merge(list(rleObjs), bool(intersect))


def _boxes_or_rles(objs, what):
    if isinstance(objs, np.ndarray):
        a = objs.astype(np.float64)
        if a.ndim == 1 and a.size == 4:
            a = a.reshape(1, 4)
        if a.ndim != 2 or a.shape[1] != 4:
            raise ValueError("iou: %s as a numpy array must be [N, 4] boxes, got shape %s" % (what, a.shape))
        return "box", a
    if isinstance(objs, (list, tuple)):
        if all(isinstance(o, dict) for o in objs):
            return "rle", list(objs)
        if all(isinstance(o, (list, tuple, np.ndarray)) and len(o) == 4 for o in objs):
            return "box", np.asarray(objs, dtype=np.float64).reshape(-1, 4)
        raise ValueError("iou: %s must be a list of RLE dicts or of [x, y, w, h] boxes" % what)
    raise TypeError("iou: %s must be a list of RLEs, a list of boxes or an [N, 4] array" % what)


def iou(dt, gt, pyiscrowd):
    """IoU of every detection with every ground truth: an array [len(dt), len(gt)].

    For a crowd ground truth (iscrowd[g] = 1) the union is the detection's own area.
    Returns [] when either side is empty, as pycocotools does.
    """
    if len(dt) == 0 or len(gt) == 0:
        return []
    kd, d = _boxes_or_rles(dt, "dt")
    kg, g = _boxes_or_rles(gt, "gt")
    if kd != kg:
        raise ValueError("iou: dt and gt must both be RLEs or both be boxes")
    crowd = [int(bool(c)) for c in pyiscrowd]
    if crowd and len(crowd) != len(g):
        raise ValueError("iou: iscrowd has %d entries but there are %d ground truths" % (len(crowd), len(g)))
    if kd == "box":
        return _codecs.iou_bbox(d, g, crowd)
    return _codecs.iou_rle(d, g, crowd)


def frBbox(bb, h, w):
    return _codecs.fr_bbox(np.asarray(bb, dtype=np.float64), _side(h, "frBbox: h"), _side(w, "frBbox: w"))


def frPoly(poly, h, w):
    return _codecs.fr_poly(poly, _side(h, "frPoly: h"), _side(w, "frPoly: w"))


def frUncompressedRLE(ucRles, h, w):
    return _codecs.fr_counts(ucRles, _side(h, "frUncompressedRLE: h"), _side(w, "frUncompressedRLE: w"))


def frPyObjects(pyobj, h, w):
    """RLEs from COCO segmentations: polygons, boxes or uncompressed RLEs.

    A list gives a list of RLEs (one per polygon, box or RLE); a single polygon, box or RLE
    dict gives one RLE. The type is decided as pycocotools decides it (a list whose first
    entry has 4 numbers is a list of boxes).
    """
    if isinstance(pyobj, np.ndarray):
        return frBbox(pyobj, h, w)
    if isinstance(pyobj, dict):
        if "counts" in pyobj and "size" in pyobj:
            return frUncompressedRLE([pyobj], h, w)[0]
        raise ValueError("frPyObjects: an RLE dict needs 'size' and 'counts'")
    if isinstance(pyobj, (list, tuple)):
        if len(pyobj) == 0:
            raise ValueError("frPyObjects: empty segmentation")
        first = pyobj[0]
        if isinstance(first, dict):
            if "counts" in first and "size" in first:
                return frUncompressedRLE(list(pyobj), h, w)
            raise ValueError("frPyObjects: an RLE dict needs 'size' and 'counts'")
        if isinstance(first, (list, tuple, np.ndarray)):
            if len(first) == 4:
                return frBbox(pyobj, h, w)
            if len(first) > 4:
                return frPoly(list(pyobj), h, w)
            raise ValueError("frPyObjects: polygon 0 has %d coordinates; a polygon needs at least 6" % len(first))
        if len(pyobj) == 4:
            return frBbox([pyobj], h, w)[0]
        if len(pyobj) > 4:
            return frPoly([pyobj], h, w)[0]
        raise ValueError("frPyObjects: a polygon needs at least 6 coordinates, got %d" % len(pyobj))
    raise TypeError("frPyObjects: input type %s is not supported" % type(pyobj).__name__)
