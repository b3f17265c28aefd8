"""Kaggle RLE strings on the real CSVs in ../shared/data: the nucleus solution CSV decodes to exactly
the per-instance mask PNGs shipped beside it, and every fashion mask survives a round trip."""
import csv
import glob
import os
from collections import defaultdict

import cv2
import numpy as np

from conftest import shared_path
from mrcnn import cocomask
from mrcnn.codecs import coco_to_kaggle_rle, kaggle_rle_decode, kaggle_rle_encode, kaggle_rle_to_coco


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_nucleus_csv_decodes_to_its_mask_pngs():
    root = shared_path("data", "nucleus")
    by_image = defaultdict(list)
    for row in read_rows(os.path.join(root, "stage1_solution.csv")):
        by_image[row["ImageId"]].append(row)
    checked = 0
    for image_id, rows in sorted(by_image.items()):
        png_paths = sorted(glob.glob(os.path.join(root, "stage1_test", image_id, "masks", "*.png")))
        assert png_paths, "no mask PNGs for image %s" % image_id
        pngs = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) > 0 for p in png_paths]
        h, w = int(rows[0]["Height"]), int(rows[0]["Width"])
        assert pngs[0].shape == (h, w), image_id
        decoded = kaggle_rle_decode([r["EncodedPixels"] for r in rows], h, w)  # [H, W, N]
        # The CSV and the folder list the same instances, in different orders: match by content.
        png_keys = sorted(np.packbits(m).tobytes() for m in pngs)
        csv_keys = sorted(np.packbits(decoded[:, :, i]).tobytes() for i in range(decoded.shape[2]))
        assert csv_keys == png_keys, "image %s: CSV masks differ from its PNGs" % image_id
        # and encoding the PNGs gives back the CSV strings
        strings = sorted(kaggle_rle_encode(m) for m in pngs)
        assert strings == sorted(" ".join(r["EncodedPixels"].split()) for r in rows), image_id
        checked += len(rows)
    assert checked == 4152


def test_fashion_csv_round_trips_through_coco_rle():
    rows = read_rows(shared_path("data", "fashion", "train.csv"))
    assert len(rows) > 1000
    for row in rows[::7]:
        h, w = int(row["Height"]), int(row["Width"])
        mask = kaggle_rle_decode(row["EncodedPixels"], h, w)
        assert mask.any(), row["ImageId"]
        assert kaggle_rle_encode(mask) == " ".join(row["EncodedPixels"].split())
        rle = kaggle_rle_to_coco(row["EncodedPixels"], h, w)
        assert np.array_equal(cocomask.decode(rle).astype(bool), mask)
        assert cocomask.area(rle) == mask.sum()
        assert coco_to_kaggle_rle(rle) == kaggle_rle_encode(mask)


def test_mask_to_polygons_with_many_holes_is_linear_and_exact():
    """Each hole joins its polygon by a zero-width cut found through a grid of the vertices joined so
    far: a checkerboard (one region, a hole per background pixel) of 300x300 takes a fraction of a
    second instead of minutes, and masks with hundreds of holes come back pixel for pixel."""
    from mrcnn.codecs import mask_to_polygons

    def round_trip(m):
        polygons = mask_to_polygons(m)
        return polygons, cocomask.decode(cocomask.merge(cocomask.frPyObjects(polygons, *m.shape))).astype(bool)

    sieve = np.zeros((64, 64), bool)
    sieve[2:62, 2:62] = True
    sieve[4:60:3, 4:60:3] = False  # 361 one-pixel holes
    polygons, back = round_trip(sieve)
    assert len(polygons) == 1 and np.array_equal(back, sieve)
    board = (np.indices((300, 300)).sum(0) % 2).astype(bool)
    polygons, back = round_trip(board)
    # one region (8-connected); every hole is walked round: 4 corners each, and each cut goes in and out
    assert len(polygons) == 1 and len(polygons[0]) // 2 >= 4 * int((~board[1:-1, 1:-1]).sum())
    assert (back != board).sum() <= 2 * 300  # the cuts may fill a pixel here and there


def test_a_kaggle_string_of_the_wrong_type_is_named():
    import pytest

    for bad, match in (([1, 2], "got list"), (None, "got None"), (float("nan"), "got NaN .*empty CSV cell")):
        with pytest.raises(TypeError, match="kaggle_rle_to_coco: encoded must be a Kaggle RLE string.*" + match):
            kaggle_rle_to_coco(bad, 4, 5)
