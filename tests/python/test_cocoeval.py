"""The C++ COCO evaluator against pycocotools' outputs in ../shared/testdata/cocoeval/expected.json."""
import json
import math
import os

import numpy as np
import pytest

from conftest import shared_path
from mrcnn.cocoeval import evaluate


@pytest.mark.parametrize("name", ["synthetic", "fruits"])
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_stats_match_pycocotools(name, iou_type):
    root = shared_path("testdata", "cocoeval")
    expected = json.load(open(os.path.join(root, "expected.json")))[name]
    result = evaluate(os.path.join(root, expected["gt"]), os.path.join(root, expected["dt"]), iou_type)
    np.testing.assert_allclose(result.stats, expected[iou_type]["stats"], rtol=0, atol=1e-6)
    means = expected[iou_type]["precision_iou50_per_category_mean"]
    got = result.per_category_ap(iou=0.5)
    for cid, want in zip(result.category_ids, means):
        if want is None or (isinstance(want, float) and math.isnan(want)):
            assert math.isnan(got[cid])
        else:
            assert abs(got[cid] - want) < 1e-6, (cid, got[cid], want)
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in result.summary()


def test_errors_name_the_problem(tmp_path):
    gt = {"images": [{"id": 1, "height": 10, "width": 10}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 20, "bbox": [0, 0, 4, 5], "iscrowd": 0}]}
    perfect = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 5], "score": 0.9}]
    assert evaluate(gt, perfect, "bbox").stats[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="image 7"):
        evaluate(gt, [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}], "bbox")
    with pytest.raises(ValueError, match="iou_type"):
        evaluate(gt, perfect, "keypoints")
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        evaluate(str(tmp_path / "nowhere.json"), perfect, "bbox")


def test_loadres_corner_cases_match_cocoeval():
    """Ground truth of images not in 'images' is ignored without being read (COCOeval never looks
    at it), and a result's empty "bbox" list counts as absent (area and box from its mask)."""
    gt = {"images": [{"id": 1, "height": 10, "width": 10}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 20, "bbox": [0, 0, 4, 5], "iscrowd": 0,
                           "segmentation": [[0, 0, 4, 0, 4, 5, 0, 5]]},
                          {"id": 2, "image_id": 99, "category_id": 1, "bbox": "not read"}]}
    rle = {"size": [10, 10], "counts": [0, 5, 5, 5, 5, 5, 5, 5, 65]}
    dt = [{"image_id": 1, "category_id": 1, "segmentation": rle, "bbox": [], "score": 0.9}]
    assert evaluate(gt, dt, "segm").stats[1] == pytest.approx(1.0)
    assert evaluate(gt, dt, "bbox").stats[1] == pytest.approx(1.0)


def test_mask_result_errors_name_the_result():
    """RLE results are decoded while the ground truth is still being parsed; whatever is wrong
    with one is still reported for that result, as when it is read in turn."""
    from mrcnn import cocomask
    gt = {"images": [{"id": 1, "height": 10, "width": 10}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 20, "bbox": [0, 0, 4, 5], "iscrowd": 0,
                           "segmentation": [[0, 0, 4, 0, 4, 5, 0, 5]]}]}
    mask = np.zeros((10, 10), np.uint8, order="F")
    mask[:5, :4] = 1
    rle = cocomask.encode(mask)
    rle = {"size": rle["size"], "counts": rle["counts"].decode() if isinstance(rle["counts"], bytes) else rle["counts"]}
    good = {"image_id": 1, "category_id": 1, "segmentation": rle, "score": 0.9}
    assert evaluate(gt, [good] * 3, "segm").stats[1] == pytest.approx(1.0)
    # a ground truth that takes far longer to parse than the results, so they are decoded early
    gt = dict(gt, images=gt["images"] + [{"id": i, "height": 10, "width": 10} for i in range(2, 3000)],
              annotations=gt["annotations"] + [dict(gt["annotations"][0], id=i, image_id=i) for i in range(2, 3000)])
    assert evaluate(gt, [good] * 3, "segm").stats[8] == pytest.approx(1 / 2999)  # AR@100: one of 2999 found
    wide = dict(good, segmentation={"size": [10, 12], "counts": cocomask.encode(np.zeros((10, 12), np.uint8, order="F"))["counts"].decode()})
    with pytest.raises(ValueError, match=r"result 1: .*10x12 differs from the image's 10x10"):
        evaluate(gt, [good, wide, good], "segm")
    broken = dict(good, segmentation={"size": [10, 10], "counts": rle["counts"][:-1]})
    with pytest.raises(ValueError, match=r"result 2: rle_from_string: "):
        evaluate(gt, [good, good, broken], "segm")
    with pytest.raises(ValueError, match=r"result 0: .*image 7777"):
        evaluate(gt, [dict(good, image_id=7777)], "segm")


def test_in_memory_records_take_numpy_numbers_and_refuse_nan():
    gt = {"images": [{"id": np.int64(1), "height": 10, "width": 10}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": np.int32(1), "category_id": 1, "area": 20.0,
                           "bbox": np.array([0, 0, 4, 5], np.float32), "iscrowd": 0}]}
    numpy_scores = [{"image_id": np.int64(1), "category_id": 1, "bbox": [0, 0, 4, 5], "score": np.float32(0.9)}]
    assert evaluate(gt, numpy_scores, "bbox").stats[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="detections: a value is NaN or infinite"):
        evaluate(gt, [dict(numpy_scores[0], score=np.float32("nan"))], "bbox")
    with pytest.raises(TypeError, match="detections: a object is not a JSON value"):
        evaluate(gt, [dict(numpy_scores[0], score=object())], "bbox")
