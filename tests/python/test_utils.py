"""Matterport's geometry helpers in mrcnn.utils, on hand-worked cases."""
import random

import numpy as np
import pytest

from mrcnn import utils


def test_resize_image_square_mode():
    image = np.full((100, 200, 3), 7, np.uint8)
    out, window, scale, padding, crop = utils.resize_image(image, min_dim=128, max_dim=256, mode="square")
    # scale up to 1.28 would make the long side 256 -> allowed; result 128x256, padded to 256x256
    assert scale == 1.28 and out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert window == (64, 0, 192, 256) and padding == [(64, 64), (0, 0), (0, 0)] and crop is None
    assert (out[64:192] == 7).all() and (out[:64] == 0).all()
    # the cap: a long side of 400 at scale 1.28 would exceed 256
    out, window, scale, _, _ = utils.resize_image(np.ones((100, 400, 3), np.uint8), 128, 256, mode="square")
    assert scale == 256 / 400 and out.shape == (256, 256, 3) and window == (96, 0, 160, 256)


def test_resize_image_pad64_none_and_crop():
    out, window, scale, padding, _ = utils.resize_image(np.ones((130, 70, 3), np.uint8), min_dim=64, mode="pad64")
    assert scale == 1 and out.shape == (192, 128, 3) and padding[:2] == [(31, 31), (29, 29)]
    assert window == (31, 29, 161, 99)
    image = np.arange(300 * 200 * 3, dtype=np.int64).reshape(300, 200, 3).astype(np.uint8)
    assert utils.resize_image(image, mode="none")[0] is image
    random.seed(0)
    out, window, scale, _, crop = utils.resize_image(image, min_dim=64, mode="crop")
    y, x = crop[:2]
    assert out.shape == (64, 64, 3) and window == (0, 0, 64, 64) and (out == image[y:y + 64, x:x + 64]).all()
    with pytest.raises(ValueError, match="mode"):
        utils.resize_image(image, mode="bogus")


def test_resize_mask_follows_the_image():
    mask = np.zeros((100, 200, 2), bool)
    mask[10:20, 30:50, 0] = True
    mask[50:100, 0:200, 1] = True
    image, window, scale, padding, crop = utils.resize_image(np.zeros((100, 200, 3), np.uint8), 128, 256)
    out = utils.resize_mask(mask, scale, padding, crop)
    assert out.shape == (256, 256, 2) and out.dtype == bool
    boxes = utils.extract_bboxes(out)
    # box (10, 30, 20, 50) scaled by 1.28 and shifted down by the 64-pixel top padding
    assert abs(boxes[0][0] - (64 + 12.8)) <= 1 and abs(boxes[0][3] - 64) <= 1
    assert boxes[1].tolist() == [64 + 64, 0, 192, 256]


def test_extract_bboxes_and_mini_masks_round_trip():
    mask = np.zeros((60, 80, 3), bool)
    mask[5:25, 10:40, 0] = True
    mask[30:58, 50:79, 1] = True  # third mask empty
    boxes = utils.extract_bboxes(mask)
    assert boxes.tolist() == [[5, 10, 25, 40], [30, 50, 58, 79], [0, 0, 0, 0]]
    mini = utils.minimize_mask(boxes[:2], mask[:, :, :2], (56, 56))
    assert mini.shape == (56, 56, 2) and mini.all()
    back = utils.expand_mask(boxes[:2], mini, (60, 80, 3))
    assert np.array_equal(back, mask[:, :, :2])
    with pytest.raises(ValueError, match="empty box"):
        utils.minimize_mask(boxes, mask, (56, 56))
    full = utils.unmold_mask(np.full((28, 28), 0.9, np.float32), (5, 10, 25, 40), (60, 80, 3))
    assert full.sum() == 20 * 30 and full[5:25, 10:40].all()


def box_mask(shape, box):
    m = np.zeros(shape, bool)
    y1, x1, y2, x2 = box
    m[y1:y2, x1:x2] = True
    return m


def test_overlaps_hand_worked():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 20]])
    b = np.array([[0, 5, 10, 15]])
    # intersections 50 and 100; unions 150 and 200
    assert np.allclose(utils.compute_overlaps(a, b), [[50 / 150], [100 / 200]])
    m1 = np.stack([box_mask((20, 20), (0, 0, 10, 10))], -1)
    m2 = np.stack([box_mask((20, 20), (0, 5, 10, 15)), box_mask((20, 20), (15, 15, 20, 20))], -1)
    assert np.allclose(utils.compute_overlaps_masks(m1, m2), [[50 / 150, 0]])
    assert utils.compute_overlaps_masks(m1, np.zeros((20, 20, 0))).shape == (1, 0)
    keep = utils.non_max_suppression(np.array([[0, 0, 10, 10], [0, 1, 10, 11], [20, 20, 30, 30]]),
                                     np.array([0.9, 0.8, 0.7]), 0.5)
    assert keep.tolist() == [0, 2] and keep.dtype == np.int32


def test_compute_ap_hand_worked():
    shape = (40, 40)
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    gt_ids = np.array([1, 1])
    gt_masks = np.stack([box_mask(shape, b) for b in gt_boxes], -1)
    # three predictions by score: a hit on gt 0, a miss, a hit on gt 1
    pred_boxes = np.array([[0, 0, 10, 10], [0, 30, 5, 35], [20, 20, 30, 30]])
    pred_masks = np.stack([box_mask(shape, b) for b in pred_boxes], -1)
    ap, precisions, recalls, overlaps = utils.compute_ap(gt_boxes, gt_ids, gt_masks, pred_boxes, np.array([1, 1, 1]),
                                                         np.array([0.9, 0.8, 0.7]), pred_masks)
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> envelope 1 up to recall 1/2, 2/3 after
    assert np.isclose(ap, 0.5 * 1 + 0.5 * (2 / 3))
    assert np.allclose(recalls, [0, 0.5, 0.5, 1, 1])
    assert overlaps.shape == (3, 2)
    # a wrong class never matches
    ap_wrong, *_ = utils.compute_ap(gt_boxes, gt_ids, gt_masks, pred_boxes, np.array([2, 2, 2]),
                                    np.array([0.9, 0.8, 0.7]), pred_masks)
    assert ap_wrong == 0
    mean = utils.compute_ap_range(gt_boxes, gt_ids, gt_masks, pred_boxes, np.array([1, 1, 1]),
                                  np.array([0.9, 0.8, 0.7]), pred_masks, verbose=0)
    assert np.isclose(mean, 0.5 + 0.5 * (2 / 3))  # exact masks: every threshold gives the same AP
    recall, positive = utils.compute_recall(pred_boxes, gt_boxes, 0.5)
    assert recall == 1.0 and positive.tolist() == [0, 2]


def test_mini_masks_round_half_down_as_matterport():
    mask = np.zeros((4, 4, 1), bool)
    mask[0:2, 0:1, 0] = True  # the left half of the 2x2 box
    mini = utils.minimize_mask(np.array([[0, 0, 2, 2]]), mask, (1, 1))
    assert not mini[0, 0, 0]  # the area average is exactly 0.5: np.around gives 0
    mask[0:2, 0:2, 0] = True
    assert utils.minimize_mask(np.array([[0, 0, 2, 2]]), mask, (1, 1))[0, 0, 0]
