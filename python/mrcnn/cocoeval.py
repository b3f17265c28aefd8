"""COCO evaluation (bbox and segm) in C++ with pycocotools' COCOeval semantics.

    result = evaluate("instances_val.json", "detections.json", "segm")
    result.stats        # AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
    result.summary()    # the same twelve lines pycocotools prints
    result.per_category_ap()  # {category id: AP@[.5:.95]}

Ground truth and detections may be file paths, or the loaded dict / list.
"""
import json
import os

import numpy as np

from . import _C

__all__ = ["evaluate", "CocoEvalResult"]

_LINES = [("Average Precision", "0.50:0.95", "all", 100), ("Average Precision", "0.50", "all", 100),
          ("Average Precision", "0.75", "all", 100), ("Average Precision", "0.50:0.95", "small", 100),
          ("Average Precision", "0.50:0.95", "medium", 100), ("Average Precision", "0.50:0.95", "large", 100),
          ("Average Recall", "0.50:0.95", "all", 1), ("Average Recall", "0.50:0.95", "all", 10),
          ("Average Recall", "0.50:0.95", "all", 100), ("Average Recall", "0.50:0.95", "small", 100),
          ("Average Recall", "0.50:0.95", "medium", 100), ("Average Recall", "0.50:0.95", "large", 100)]


def _text(obj, what):
    if isinstance(obj, (str, os.PathLike)) and os.path.exists(str(obj)):
        with open(obj, "rb") as f:  # bytes go to C++ as they are, without decoding to str and back
            return f.read()
    if isinstance(obj, (str, os.PathLike)):
        raise FileNotFoundError("%s file not found: %s" % (what, obj))
    try:
        return json.dumps(obj, default=_plain_number, allow_nan=False).encode()
    except ValueError:  # json's "Out of range float values are not JSON compliant"
        raise ValueError("%s: a value is NaN or infinite (a score or a box?); COCO JSON holds finite numbers only"
                         % what) from None
    except TypeError as e:
        raise TypeError("%s: %s" % (what, e)) from None


def _plain_number(value):
    """numpy scalars and arrays (what detect() and numpy code give) as JSON numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError("a %s is not a JSON value" % type(value).__name__)


class CocoEvalResult:
    def __init__(self, raw, iou_type):
        self.iou_type = iou_type
        self.stats = np.asarray(raw["stats"])
        self.precision = raw["precision"]  # [T=10 IoUs, R=101 recalls, K classes, A=4 areas, M=3 maxDets]
        self.recall = raw["recall"]        # [T, K, A, M]
        self.category_ids = list(raw["category_ids"])

    def per_category_ap(self, iou=None):
        """{category id: AP} over IoU 0.5:0.95 (or at one IoU such as 0.5), area all, 100 detections;
        NaN for a category without ground truth."""
        p = self.precision[:, :, :, 0, 2]
        if iou is not None:
            p = p[[int(round((iou - 0.5) / 0.05))]]
        out = {}
        for k, cid in enumerate(self.category_ids):
            v = p[:, :, k]
            out[cid] = float(v[v > -1].mean()) if (v > -1).any() else float("nan")
        return out

    def summary(self):
        lines = []
        for (kind, iou, area, dets), v in zip(_LINES, self.stats):
            short = "(AP)" if kind.endswith("Precision") else "(AR)"
            lines.append(" %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f" % (kind, short, iou, area, dets, v))
        return "\n".join(lines)

    def __repr__(self):
        return "CocoEvalResult(%s)\n%s" % (self.iou_type, self.summary())


def evaluate(ground_truth, detections, iou_type="segm"):
    """COCOeval for iou_type "bbox" or "segm"."""
    if _is_file(ground_truth) and _is_file(detections):  # read in C++ (no Python copies of the texts)
        raw = _C.eval.coco_evaluate_files(str(ground_truth), str(detections), iou_type)
    else:
        raw = _C.eval.coco_evaluate(_text(ground_truth, "ground-truth"), _text(detections, "detections"), iou_type)
    return CocoEvalResult(raw, iou_type)


def _is_file(obj):
    return isinstance(obj, (str, os.PathLike)) and os.path.isfile(str(obj))
