"""Mask codecs on ../shared/testdata/bench/rle_workload.npz.

Each op side by side with the real pycocotools (PyPI) in this process, on the same inputs, times
alternating, medians: ours on 1 thread (pycocotools has one), then ours on all cores.

    python benchmarks/bench_codecs.py [--json out/bench_codecs.json]
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import Bench  # noqa: E402

import mrcnn  # noqa: E402
from mrcnn import cocomask  # noqa: E402
from pycocotools import mask as pm  # noqa: E402
import pycocotools  # noqa: E402

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata", "bench")
REF = "pycocotools %s" % getattr(pycocotools, "__version__", "")


def load():
    spec = importlib.util.spec_from_file_location("rle_workload", os.path.join(SHARED, "rle_workload.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_workload(os.path.join(SHARED, "rle_workload.npz"))


def run(bench, wl, label):
    masks = np.asfortranarray(wl["masks"].astype(np.uint8))  # the layout pycocotools requires, for both
    h, w, n = masks.shape
    rles = cocomask.encode(masks)
    polys = [[p.tolist()] for p in wl["polygons"]]
    dt = [rles[i] for i in wl["iou_dt_idx"]]
    gt = [rles[i] for i in wl["iou_gt_idx"]]
    crowd = list(wl["iou_iscrowd"])
    dense = cocomask.encode(wl["dense_masks"])
    bench.compare("encode %d masks %s" % (n, label), lambda: cocomask.encode(masks), lambda: pm.encode(masks),
                  reference_name=REF)
    bench.compare("decode %d masks %s" % (n, label), lambda: cocomask.decode(rles), lambda: pm.decode(rles),
                  reference_name=REF)
    bench.compare("polygons %d %s" % (len(polys), label),
                  lambda: [cocomask.merge(cocomask.frPyObjects(p, h, w)) for p in polys],
                  lambda: [pm.merge(pm.frPyObjects(p, h, w)) for p in polys], reference_name=REF)
    bench.compare("iou 100x100 sparse %s" % label, lambda: cocomask.iou(dt, gt, crowd), lambda: pm.iou(dt, gt, crowd),
                  number=20, reference_name=REF)
    bench.compare("iou 100x100 dense %s" % label, lambda: cocomask.iou(dense[:100], dense[100:], [0] * 100),
                  lambda: pm.iou(dense[:100], dense[100:], [0] * 100), reference_name=REF)
    # pycocotools' area() overflows a uint8 count for lists of 256 or more under numpy 2: both sides
    # get the masks in lists of 200
    chunks = [rles[i:i + 200] for i in range(0, n, 200)]
    bench.compare("area %d %s" % (n, label), lambda: [cocomask.area(c) for c in chunks],
                  lambda: [pm.area(c) for c in chunks], number=5, reference_name=REF)
    bench.compare("toBbox %d %s" % (n, label), lambda: cocomask.toBbox(rles), lambda: pm.toBbox(rles), number=5,
                  reference_name=REF)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(SHARED, "rle_workload.npz")):
        print("bench_codecs: ../shared/testdata/bench is absent; nothing to measure")
        return
    wl = load()
    bench = Bench("mask codecs (rle_workload.npz: 1000 masks 800x1200, 1000 polygons)", repeat=5, warmup=1)
    mrcnn.set_num_threads(1)
    run(bench, wl, "1 thread")
    mrcnn.set_num_threads(None)
    run(bench, wl, "%d threads" % mrcnn.get_num_threads())
    bench.report()
    if args.json:
        bench.save_json(args.json)


if __name__ == "__main__":
    main()
