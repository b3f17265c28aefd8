"""mrcnn.cocomask against pycocotools' recorded outputs in ../shared/testdata/rle."""
import json

import numpy as np
import pytest

from conftest import shared_path
from mrcnn import cocomask as M


@pytest.fixture(scope="module")
def cases():
    with open(shared_path("testdata", "rle", "cases.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def masks():
    return dict(np.load(shared_path("testdata", "rle", "masks.npz")))


@pytest.fixture(scope="module")
def iou_masks():
    return np.load(shared_path("testdata", "rle", "iou_masks.npz"))["masks"]


def test_encode_is_byte_identical(cases, masks):
    for c in cases["masks"]:
        m = masks[c["name"]]
        for arr in (np.asfortranarray(m), np.ascontiguousarray(m), m.astype(bool)):
            r = M.encode(arr)
            assert r["counts"] == c["counts"].encode(), c["name"]
            assert r["size"] == [c["h"], c["w"]]
        stacked = M.encode(np.asfortranarray(np.stack([m, m], axis=2)))
        assert [s["counts"] for s in stacked] == [c["counts"].encode()] * 2


def test_decode_area_bbox(cases, masks):
    for c in cases["masks"]:
        r = {"size": [c["h"], c["w"]], "counts": c["counts"]}
        d = M.decode(r)
        assert d.dtype == np.uint8 and d.flags.f_contiguous
        np.testing.assert_array_equal(d, masks[c["name"]])
        assert M.area(r) == c["area"]
        np.testing.assert_array_equal(M.toBbox(r), c["bbox"])
        # uncompressed counts give the same RLE
        assert M.frPyObjects({"size": [c["h"], c["w"]], "counts": c["uncompressed_counts"]},
                             c["h"], c["w"])["counts"] == c["counts"].encode()


def test_polygons(cases):
    for c in cases["polygons"]:
        rles = M.frPyObjects(c["polygons"], c["h"], c["w"])
        assert [r["counts"].decode() for r in rles] == c["per_polygon_counts"], c["name"]
        merged = M.merge(rles)
        assert merged["counts"].decode() == c["merged_counts"]
        assert M.area(merged) == c["area"]
        np.testing.assert_array_equal(M.toBbox(merged), c["bbox"])


def test_iou_rle_with_crowd(cases, iou_masks):
    k = cases["iou_rle"]
    rles = [M.encode(np.asfortranarray(m)) for m in iou_masks]
    dt = [rles[i] for i in k["dt"]]
    gt = [rles[i] for i in k["gt"]]
    assert [r["counts"].decode() for r in dt] == k["dt_counts"]
    assert [r["counts"].decode() for r in gt] == k["gt_counts"]
    out = M.iou(dt, gt, k["iscrowd"])
    assert out.shape == (len(dt), len(gt))
    np.testing.assert_array_equal(out, np.array(k["expected"]))  # bit-identical doubles


def test_iou_boxes(cases):
    k = cases["iou_box"]
    for dt, gt in ((k["dt"], k["gt"]), (np.array(k["dt"]), np.array(k["gt"]))):
        np.testing.assert_array_equal(M.iou(dt, gt, k["iscrowd"]), np.array(k["expected"]))
    assert M.iou([], k["gt"], k["iscrowd"]) == []


def test_fr_bbox(cases):
    k = cases["fr_bbox"]
    rles = M.frPyObjects(np.array(k["boxes"]), k["h"], k["w"])
    assert [r["counts"].decode() for r in rles] == k["counts"]
    single = M.frPyObjects(k["boxes"][0], k["h"], k["w"])
    assert single["counts"].decode() == k["counts"][0]


def test_merge(cases, iou_masks):
    rles = [M.encode(np.asfortranarray(m)) for m in iou_masks]
    union = M.merge(rles[0:4])
    assert union["counts"].decode() == cases["merge_union"]
    assert M.merge([rles[0], union], intersect=1)["counts"].decode() == cases["merge_intersect"]
    assert M.merge(rles[0:2], intersect=1)["counts"].decode() == cases["merge_intersect_pair"]


def test_random_round_trips():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w, n = rng.integers(1, 90, size=3)
        m = (rng.random((h, w, n)) < rng.random()).astype(np.uint8)
        rles = M.encode(m)  # C order: no Fortran copy needed
        np.testing.assert_array_equal(M.decode(rles), m)
        np.testing.assert_array_equal(M.area(rles), m.sum(axis=(0, 1)))
    sliced = (rng.random((60, 80, 3)) < 0.3)[::2, 1::3, 1:]
    np.testing.assert_array_equal(M.decode(M.encode(sliced)), sliced)


@pytest.mark.parametrize("bad, match", [
    ({"size": [7, 6], "counts": "S1"}, "sum to 35"),
    ({"size": [7, 5], "counts": "0S"}, "truncated"),
    ({"size": [7, 5], "counts": "0S1 "}, "alphabet"),
    ({"size": [2, 2], "counts": "1O0"}, "negative"),
    ({"size": [2, 2], "counts": [1, -1, 4]}, "negative"),
    ({"size": [2, 2], "counts": [1, 2]}, "sum to 3"),
    ({"size": [2], "counts": "4"}, "size"),
    ({"counts": "4"}, "size"),
])
def test_bad_rles_raise_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        M.decode(bad)
    with pytest.raises(ValueError):
        M.area([bad])


@pytest.mark.parametrize("poly, match", [
    ([[0, 0, 5, 0, float("nan"), 3]], "not finite"),
    ([[0, 0, 5, 0, float("inf"), 3]], "not finite"),
    ([[0, 0, 5, 0, 3]], "odd number"),
    ([[0, 0, 5, "x", 3, 3]], "numbers"),
])
def test_bad_polygons_raise_value_error(poly, match):
    with pytest.raises(ValueError, match=match):
        M.frPyObjects(poly, 10, 10)


def test_two_point_polygon_is_rejected():
    # frPyObjects would read 4 numbers as a box (pycocotools' rule); frPoly takes it as a polygon.
    with pytest.raises(ValueError, match="at least 3 points"):
        M.frPoly([[0, 0, 1, 1]], 10, 10)


def test_bad_arrays_raise():
    with pytest.raises(ValueError, match="uint8 or bool"):
        M.encode(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="HxW"):
        M.encode(np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="rle 1 has size"):
        M.decode([M.encode(np.zeros((2, 2), np.uint8)), M.encode(np.zeros((3, 2), np.uint8))])
    with pytest.raises(ValueError, match="iscrowd"):
        M.iou([[0, 0, 1, 1]], [[0, 0, 1, 1]], [0, 1])
    with pytest.raises(ValueError, match="mask 1"):
        M.merge([M.encode(np.zeros((2, 2), np.uint8)), M.encode(np.zeros((3, 2), np.uint8))])


def test_sizes_are_checked_naming_the_argument():
    with pytest.raises(ValueError, match=r"frPoly: h must be a whole number of pixels .* got 10.5"):
        M.frPyObjects([[1, 1, 5, 1, 5, 5]], 10.5, 10)
    with pytest.raises(ValueError, match=r"frBbox: w must be a whole number of pixels .* got -3"):
        M.frPyObjects([[1, 1, 2, 2]], 10, -3)
    with pytest.raises(ValueError, match=r"frUncompressedRLE: h"):
        M.frPyObjects({"size": [2, 2], "counts": [4]}, "2", 2)
    assert M.frPyObjects([[1, 1, 5, 1, 5, 5]], 10.0, 10)[0]["size"] == [10, 10]  # a whole float is a size
