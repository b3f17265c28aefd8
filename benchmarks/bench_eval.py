"""COCO evaluation: mrcnn's C++ evaluator against a plain Python implementation of COCOeval's
algorithm (the loops pycocotools runs in Python, with the IoUs from a C mask API as pycocotools
does; pycocotools itself is not installable here). Both give the same 12 numbers, which the
benchmark checks before timing.

Sets: ../shared/testdata/cocoeval (synthetic; fruits_nuts) and the fruits set repeated 10 times
as a larger one.

    python benchmarks/bench_eval.py [--json out/bench_eval.json]
"""
import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import Bench  # noqa: E402

import mrcnn  # noqa: E402,F401
from mrcnn import cocomask  # noqa: E402
from mrcnn.cocoeval import evaluate  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata", "cocoeval")


def python_cocoeval(gt, dt, iou_type):
    """COCOeval's evaluate + accumulate + summarize, written plainly in Python and numpy."""
    size = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    img_ids = sorted(size)
    cat_ids = sorted({c["id"] for c in gt["categories"]})

    def to_rle(ann):
        seg = ann["segmentation"]
        h, w = size[ann["image_id"]]
        if isinstance(seg, list):
            return cocomask.merge(cocomask.frPyObjects(seg, h, w))
        if isinstance(seg["counts"], list):
            return cocomask.frPyObjects(seg, h, w)
        return seg

    gts, dts = defaultdict(list), defaultdict(list)
    for a in gt["annotations"]:
        g = dict(a, ignore=a.get("iscrowd", 0))
        if iou_type == "segm":
            g["rle"] = to_rle(a)
        gts[a["image_id"], a["category_id"]].append(g)
    for i, a in enumerate(dt):
        d = dict(a, id=i + 1, area=a["bbox"][2] * a["bbox"][3])
        if iou_type == "segm":
            d["rle"] = to_rle(a)
        dts[a["image_id"], a["category_id"]].append(d)
    thrs = np.linspace(.5, 0.95, 10)
    rec_thrs = np.linspace(.0, 1.00, 101)
    max_dets = [1, 10, 100]
    areas = [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]]
    ious = {}
    for key in set(gts) | set(dts):
        g, d = gts[key], dts[key]
        d = [d[i] for i in np.argsort([-x["score"] for x in d], kind="mergesort")][:max_dets[-1]]
        if not g or not d:
            ious[key] = []
            continue
        crowd = [int(x.get("iscrowd", 0)) for x in g]
        if iou_type == "segm":
            ious[key] = cocomask.iou([x["rle"] for x in d], [x["rle"] for x in g], crowd)
        else:
            ious[key] = cocomask.iou([x["bbox"] for x in d], [x["bbox"] for x in g], crowd)
    evals = {}
    for k in cat_ids:
        for a, rng in enumerate(areas):
            for i in img_ids:
                g, d = gts[i, k], dts[i, k]
                if not g and not d:
                    continue
                ig = np.array([1 if (x["ignore"] or x["area"] < rng[0] or x["area"] > rng[1]) else 0 for x in g])
                gind = np.argsort(ig, kind="mergesort")
                g = [g[j] for j in gind]
                ig = ig[gind]
                d = [d[j] for j in np.argsort([-x["score"] for x in d], kind="mergesort")][:max_dets[-1]]
                crowd = [int(x.get("iscrowd", 0)) for x in g]
                iou = ious[i, k][:, gind] if len(ious[i, k]) else ious[i, k]
                gtm = np.zeros((10, len(g)))
                dtm = np.zeros((10, len(d)))
                dtig = np.zeros((10, len(d)))
                if len(iou):
                    for t, thr in enumerate(thrs):
                        for di, dd in enumerate(d):
                            best, m = min(thr, 1 - 1e-10), -1
                            for gi in range(len(g)):
                                if gtm[t, gi] > 0 and not crowd[gi]:
                                    continue
                                if m > -1 and ig[m] == 0 and ig[gi] == 1:
                                    break
                                if iou[di, gi] < best:
                                    continue
                                best, m = iou[di, gi], gi
                            if m == -1:
                                continue
                            dtig[t, di] = ig[m]
                            dtm[t, di] = g[m]["id"]
                            gtm[t, m] = dd["id"]
                out = np.array([x["area"] < rng[0] or x["area"] > rng[1] for x in d]).reshape(1, len(d))
                dtig = np.logical_or(dtig, np.logical_and(dtm == 0, np.repeat(out, 10, 0)))
                evals[k, a, i] = (np.array([x["score"] for x in d]), dtm, dtig, ig)
    precision = -np.ones((10, 101, len(cat_ids), 4, 3))
    recall = -np.ones((10, len(cat_ids), 4, 3))
    for ki, k in enumerate(cat_ids):
        for a in range(4):
            for mi, md in enumerate(max_dets):
                es = [evals[k, a, i] for i in img_ids if (k, a, i) in evals]
                if not es:
                    continue
                scores = np.concatenate([e[0][:md] for e in es])
                order = np.argsort(-scores, kind="mergesort")
                dtm = np.concatenate([e[1][:, :md] for e in es], axis=1)[:, order]
                dtig = np.concatenate([e[2][:, :md] for e in es], axis=1)[:, order]
                npig = np.count_nonzero(np.concatenate([e[3] for e in es]) == 0)
                if npig == 0:
                    continue
                tps = np.cumsum(np.logical_and(dtm, np.logical_not(dtig)), axis=1).astype(float)
                fps = np.cumsum(np.logical_and(np.logical_not(dtm), np.logical_not(dtig)), axis=1).astype(float)
                for t in range(10):
                    tp, fp = tps[t], fps[t]
                    rc = tp / npig
                    pr = list(tp / (fp + tp + np.spacing(1)))
                    recall[t, ki, a, mi] = rc[-1] if len(tp) else 0
                    for j in range(len(pr) - 1, 0, -1):
                        if pr[j] > pr[j - 1]:
                            pr[j - 1] = pr[j]
                    q = np.zeros(101)
                    for r, pi in enumerate(np.searchsorted(rc, rec_thrs, side="left")):
                        if pi < len(pr):
                            q[r] = pr[pi]
                    precision[t, :, ki, a, mi] = q

    def mean(s):
        s = s[s > -1]
        return float(s.mean()) if s.size else -1.0
    return [mean(precision[:, :, :, 0, 2]), mean(precision[0, :, :, 0, 2]), mean(precision[5, :, :, 0, 2]),
            mean(precision[:, :, :, 1, 2]), mean(precision[:, :, :, 2, 2]), mean(precision[:, :, :, 3, 2]),
            mean(recall[:, :, 0, 0]), mean(recall[:, :, 0, 1]), mean(recall[:, :, 0, 2]),
            mean(recall[:, :, 1, 2]), mean(recall[:, :, 2, 2]), mean(recall[:, :, 3, 2])]


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
    bench = Bench("COCO evaluation, mrcnn (C++) vs COCOeval's algorithm in Python", repeat=5, warmup=1)
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
            ref = python_cocoeval(gt, dt, iou_type)
            assert np.allclose(ours, ref, atol=1e-9), (name, iou_type, ours, ref)
            bench.compare("%s %s (%d images, %d detections)" % (name, iou_type, len(gt["images"]), len(dt)),
                          lambda: evaluate(gt_path, dt_path, iou_type),
                          lambda: python_cocoeval(json.load(open(gt_path)), json.load(open(dt_path)), iou_type),
                          reference_name="COCOeval algorithm in Python")
    bench.report()
    if args.json:
        bench.save_json(args.json)


if __name__ == "__main__":
    main()
