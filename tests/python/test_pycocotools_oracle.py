"""mrcnn.cocomask and mrcnn.cocoeval against the real pycocotools from PyPI, on random and real
inputs (the recorded goldens in ../shared/testdata are checked by test_cocomask / test_cocoeval)."""
import contextlib
import copy
import io
import json
import os

import numpy as np
import pytest
from pycocotools import mask as pm
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import shared_path
from mrcnn import cocomask
from mrcnn.cocoeval import evaluate


def random_masks(rng, h, w, n):
    """Blobs, stripes, noise, empty and full masks, Fortran order as pycocotools wants."""
    masks = np.zeros((h, w, n), np.uint8, order="F")
    for k in range(n):
        kind = k % 5
        if kind == 0:
            y, x = rng.integers(0, h), rng.integers(0, w)
            yy, xx = np.ogrid[:h, :w]
            masks[:, :, k] = (yy - y) ** 2 + (xx - x) ** 2 < rng.integers(1, max(h, w)) ** 2
        elif kind == 1:
            masks[:, :, k] = (np.arange(w)[None, :] // rng.integers(1, 6)) % 2
        elif kind == 2:
            masks[:, :, k] = rng.random((h, w)) < rng.random()
        elif kind == 3 and k % 2:
            masks[:, :, k] = 1
    return masks


def same_rles(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert list(x["size"]) == list(y["size"]) and x["counts"] == y["counts"]


@pytest.mark.parametrize("seed, h, w", [(0, 37, 53), (1, 1, 9), (2, 120, 80), (3, 64, 64)])
def test_mask_api_equals_pycocotools(seed, h, w):
    rng = np.random.default_rng(seed)
    masks = random_masks(rng, h, w, 12)
    ours, ref = cocomask.encode(masks), pm.encode(masks)
    same_rles(ours, ref)
    assert np.array_equal(cocomask.decode(ref), pm.decode(ref))
    assert np.array_equal(cocomask.area(ref), pm.area(ref))
    np.testing.assert_array_equal(cocomask.toBbox(ref), pm.toBbox(ref))
    for intersect in (False, True):
        assert cocomask.merge(ref, intersect=intersect)["counts"] == pm.merge(ref, intersect=intersect)["counts"]
    crowd = [int(c) for c in rng.integers(0, 2, len(ref))]
    np.testing.assert_allclose(cocomask.iou(ref, ref[::-1], crowd), pm.iou(ref, ref[::-1], crowd), rtol=0, atol=0)
    boxes = np.concatenate([rng.uniform(0, w, (9, 1)), rng.uniform(0, h, (9, 1)),
                            rng.uniform(0, w, (9, 1)), rng.uniform(0, h, (9, 1))], axis=1)
    np.testing.assert_allclose(cocomask.iou(boxes, boxes[::-1], [0] * 9), pm.iou(boxes, boxes[::-1], [0] * 9),
                               rtol=0, atol=1e-12)
    # polygons (including vertices outside the image) and boxes through frPyObjects
    polys = [list(rng.uniform(-5, max(h, w) + 5, 2 * rng.integers(3, 12))) for _ in range(10)]
    same_rles(cocomask.frPyObjects(polys, h, w), pm.frPyObjects(polys, h, w))
    same_rles(cocomask.frPyObjects(boxes, h, w), pm.frPyObjects(boxes, h, w))  # pycocotools takes boxes as an array
    # an uncompressed RLE (runs summing to h * w; ours refuses other sums, pycocotools does not check)
    cuts = np.sort(rng.integers(0, h * w + 1, 20))
    runs = np.diff(np.concatenate([[0], cuts, [h * w]]))
    uncompressed = {"size": [h, w], "counts": [int(c) for c in runs]}
    assert cocomask.frPyObjects(uncompressed, h, w)["counts"] == pm.frPyObjects(uncompressed, h, w)["counts"]


def _pycocotools_stats(gt_path, dt_path, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
        dt = gt.loadRes(dt_path)
        e = COCOeval(gt, dt, iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


@pytest.mark.parametrize("name", ["synthetic", "fruits"])
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_cocoeval_equals_pycocotools(name, iou_type):
    root = shared_path("testdata", "cocoeval")
    expected = json.load(open(os.path.join(root, "expected.json")))[name]
    gt, dt = os.path.join(root, expected["gt"]), os.path.join(root, expected["dt"])
    np.testing.assert_allclose(evaluate(gt, dt, iou_type).stats, _pycocotools_stats(gt, dt, iou_type),
                               rtol=0, atol=1e-12)


def test_cocoeval_equals_pycocotools_on_perturbed_detections(tmp_path):
    """Detections moved, rescored and dropped at random, crowds and areas of every size."""
    root = shared_path("testdata", "cocoeval")
    expected = json.load(open(os.path.join(root, "expected.json")))["synthetic"]
    gt_path = os.path.join(root, expected["gt"])
    gt = json.load(open(gt_path))
    rng = np.random.default_rng(7)
    dets = []
    for a in gt["annotations"]:
        for _ in range(int(rng.integers(0, 3))):
            x, y, w, h = a["bbox"]
            jitter = rng.normal(0, 0.15, 4) * [w, h, w, h]
            dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random()),
                         "bbox": [float(x + jitter[0]), float(y + jitter[1]),
                                  float(max(w + jitter[2], 1)), float(max(h + jitter[3], 1))]})
    dt_path = str(tmp_path / "dt.json")
    json.dump(copy.deepcopy(dets), open(dt_path, "w"))
    np.testing.assert_allclose(evaluate(gt_path, dt_path, "bbox").stats, _pycocotools_stats(gt_path, dt_path, "bbox"),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_duplicate_ground_truth_ids_are_read_as_pycocotools_reads_them(tmp_path, iou_type):
    """pycocotools indexes annotations by id (the last of an id wins) but lists every occurrence per
    image: each occurrence is evaluated as a copy of the last, in that one's image and category."""
    root = shared_path("testdata", "cocoeval")
    expected = json.load(open(os.path.join(root, "expected.json")))["synthetic"]
    gt = json.load(open(os.path.join(root, expected["gt"])))
    anns = gt["annotations"]
    rng = np.random.default_rng(3)
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    dets = []
    for a in anns:
        d = {"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random())}
        if iou_type == "bbox":
            x, y, w, h = a["bbox"]
            d["bbox"] = [x + 1, y, w, h]
        else:  # the ground truth's mask as an RLE string, one pixel to the right
            h, w = sizes[a["image_id"]]
            seg = a["segmentation"]
            rle = pm.merge(pm.frPyObjects(seg, h, w)) if isinstance(seg, list) else \
                pm.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else seg
            m = np.roll(pm.decode(rle), 1, axis=1)
            d["segmentation"] = {"size": [h, w], "counts": pm.encode(np.asfortranarray(m))["counts"].decode()}
        dets.append(d)
    # ids reused within an image, across images, across categories, and by an annotation of an image
    # that the file does not list
    others = [a for a in anns if a["image_id"] != anns[0]["image_id"]]
    anns[1]["id"] = anns[0]["id"]
    others[0]["id"] = anns[2]["id"]
    others[1]["id"] = anns[3]["id"]
    others[1]["category_id"] = next(c["id"] for c in gt["categories"] if c["id"] != anns[3]["category_id"])
    if iou_type == "bbox":  # pycocotools' segm fails on it (the mask of an image it does not know)
        anns.append(dict(anns[4], image_id=10 ** 9))
    gt_path, dt_path = str(tmp_path / "gt.json"), str(tmp_path / "dt.json")
    json.dump(gt, open(gt_path, "w"))
    json.dump(dets, open(dt_path, "w"))
    reference = _pycocotools_stats(gt_path, dt_path, iou_type)
    clean = _pycocotools_stats(os.path.join(root, expected["gt"]), dt_path, iou_type)
    assert not np.allclose(reference, clean)  # the duplicates change pycocotools' result
    np.testing.assert_allclose(evaluate(gt_path, dt_path, iou_type).stats, reference, rtol=0, atol=1e-12)
