"""Mask codecs on ../shared/testdata/bench/rle_workload.npz.

Single-threaded throughput per op against pycocotools' figures in DESIGN.md (single-threaded
pycocotools on a 2-core Debian 12 x86-64 machine; pycocotools is not installable here), then
batch throughput with all cores.

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

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata", "bench")
PYCOCOTOOLS_PER_S = {"encode": 1737, "decode": 1040, "polygons": 25.1e3, "iou sparse": 3.35e6,
                     "iou dense": 0.40e6, "area": 687e3, "toBbox": 293e3}
REF = "pycocotools 1 thread (DESIGN.md)"


def load():
    spec = importlib.util.spec_from_file_location("rle_workload", os.path.join(SHARED, "rle_workload.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_workload(os.path.join(SHARED, "rle_workload.npz"))


def run(bench, wl, label):
    masks = wl["masks"]
    h, w, n = masks.shape
    rles = cocomask.encode(masks)
    polys = [[p.tolist()] for p in wl["polygons"]]
    dt = [rles[i] for i in wl["iou_dt_idx"]]
    gt = [rles[i] for i in wl["iou_gt_idx"]]
    crowd = list(wl["iou_iscrowd"])
    dense = cocomask.encode(wl["dense_masks"])
    bench.against_figure("encode %d masks %s" % (n, label), lambda: cocomask.encode(masks), n,
                         PYCOCOTOOLS_PER_S["encode"], REF)
    bench.against_figure("decode %d masks %s" % (n, label), lambda: cocomask.decode(rles), n,
                         PYCOCOTOOLS_PER_S["decode"], REF)
    bench.against_figure("polygons %d %s" % (len(polys), label),
                         lambda: [cocomask.merge(cocomask.frPyObjects(p, h, w)) for p in polys], len(polys),
                         PYCOCOTOOLS_PER_S["polygons"], REF)
    bench.against_figure("iou 100x100 sparse %s" % label, lambda: cocomask.iou(dt, gt, crowd), len(dt) * len(gt),
                         PYCOCOTOOLS_PER_S["iou sparse"], REF, number=20)
    bench.against_figure("iou 100x100 dense %s" % label, lambda: cocomask.iou(dense[:100], dense[100:], [0] * 100),
                         10000, PYCOCOTOOLS_PER_S["iou dense"], REF)
    bench.against_figure("area %d %s" % (n, label), lambda: cocomask.area(rles), n, PYCOCOTOOLS_PER_S["area"], REF,
                         number=5)
    bench.against_figure("toBbox %d %s" % (n, label), lambda: cocomask.toBbox(rles), n,
                         PYCOCOTOOLS_PER_S["toBbox"], REF, number=5)


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
