"""COCO evaluation: mrcnn's C++ evaluator against pycocotools' COCOeval (PyPI), both from the same
files, times alternating, medians. Both give the same 12 numbers, which the benchmark checks
before timing.

Sets: ../shared/testdata/cocoeval (synthetic; fruits_nuts) and the fruits set repeated 10 times
as a larger one.

    python benchmarks/bench_eval.py [--json out/bench_eval.json]
"""
import argparse
import contextlib
import io
import json
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import Bench  # noqa: E402

import mrcnn  # noqa: E402,F401
from mrcnn.cocoeval import evaluate  # noqa: E402
import pycocotools  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata", "cocoeval")


def pycocotools_cocoeval(gt_path, dt_path, iou_type):
    """What a pycocotools user runs: COCO(gt), loadRes(dt), evaluate, accumulate, summarize."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        e = COCOeval(gt, gt.loadRes(dt_path), iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def repeated(gt, dt, times):
    """The set `times` over, as distinct images (a larger workload with the same statistics)."""
    offset = max(im["id"] for im in gt["images"]) + 1
    aoff = max(a["id"] for a in gt["annotations"]) + 1
    big_gt = {"categories": gt["categories"], "images": [], "annotations": []}
    big_dt = []
    for r in range(times):
        big_gt["images"] += [dict(im, id=im["id"] + r * offset) for im in gt["images"]]
        big_gt["annotations"] += [dict(a, id=a["id"] + r * aoff, image_id=a["image_id"] + r * offset)
                                  for a in gt["annotations"]]
        big_dt += [dict(d, image_id=d["image_id"] + r * offset) for d in dt]
    return big_gt, big_dt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(ROOT, "expected.json")):
        print("bench_eval: ../shared/testdata/cocoeval is absent; nothing to measure")
        return
    expected = json.load(open(os.path.join(ROOT, "expected.json")))
    bench = Bench("COCO evaluation, mrcnn (C++) vs pycocotools' COCOeval", repeat=5, warmup=1)
    sets = {}
    for name in ("synthetic", "fruits"):
        sets[name] = (json.load(open(os.path.join(ROOT, expected[name]["gt"]))),
                      json.load(open(os.path.join(ROOT, expected[name]["dt"]))))
    sets["fruits x10"] = repeated(*sets["fruits"], 10)
    tmp = tempfile.mkdtemp(prefix="bench_eval_")
    for name, (gt, dt) in sets.items():
        # both sides start from the files, as users do (the reference parses them with json.load)
        gt_path, dt_path = os.path.join(tmp, "gt.json"), os.path.join(tmp, "dt.json")
        json.dump(gt, open(gt_path, "w"))
        json.dump(dt, open(dt_path, "w"))
        for iou_type in ("bbox", "segm"):
            ours = evaluate(gt_path, dt_path, iou_type).stats
            ref = pycocotools_cocoeval(gt_path, dt_path, iou_type)
            assert np.allclose(ours, ref, atol=1e-9), (name, iou_type, ours, ref)
            bench.compare("%s %s (%d images, %d detections)" % (name, iou_type, len(gt["images"]), len(dt)),
                          lambda: evaluate(gt_path, dt_path, iou_type),
                          lambda: pycocotools_cocoeval(gt_path, dt_path, iou_type),
                          reference_name="pycocotools %s COCOeval" % getattr(pycocotools, "__version__", ""))
    bench.report()
    if args.json:
        bench.save_json(args.json)


if __name__ == "__main__":
    main()
