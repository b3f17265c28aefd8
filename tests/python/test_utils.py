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


def _matterport_resize_plan(h, w, min_dim, max_dim, min_scale, mode):
    """Matterport's resize_image, its scale and size steps (the reference for the shared C++ rule)."""
    scale = 1
    if min_dim:
        scale = max(1, min_dim / min(h, w))
    if min_scale and scale < min_scale:
        scale = min_scale
    if max_dim and mode == "square":
        if round(max(h, w) * scale) > max_dim:
            scale = max_dim / max(h, w)
    # a side that would round to 0 (Matterport then fails inside skimage) is kept at one pixel
    return scale, max(1, round(h * scale)), max(1, round(w * scale))


def test_one_resize_rule_as_matterport_in_every_mode():
    """utils.resize_image (Matterport's API), load_image_gt and the C++ loader take their scale and
    size from one rule (C++ model::resize_plan), equal to Matterport's on odd sizes in every mode,
    halves rounded to even as Python's round does; the padding and crops are Matterport's."""
    from mrcnn import _C, utils
    rng = np.random.RandomState(3)
    cases = [(333, 331, 512, 1024, 0, "square"), (331, 497, 512, 512, 0, "square"), (1, 700, 64, 256, 0, "square"),
             (257, 129, 256, 1024, 0, "pad64"), (97, 1201, 128, 256, 2.0, "pad64"), (600, 200, 128, 256, 0, "crop")]
    for _ in range(40):
        cases.append((int(rng.randint(1, 900)), int(rng.randint(1, 900)), int(rng.choice([64, 100, 333, 512])),
                      int(rng.choice([512, 1024])), float(rng.choice([0, 0, 1.5])),
                      str(rng.choice(["square", "pad64", "crop"]))))
    for h, w, min_dim, max_dim, min_scale, mode in cases:
        if mode == "pad64":
            min_dim = 64 * max(1, min_dim // 64)
        if mode == "square" and max_dim % 64:
            continue
        scale, nh, nw = _matterport_resize_plan(h, w, min_dim, max_dim, min_scale, mode)
        assert _C.model.resize_plan(mode, h, w, min_dim, max_dim, min_scale) == (scale, nh, nw), (h, w, mode)
        image = np.zeros((h, w, 3), np.uint8)
        out, window, got_scale, padding, crop = utils.resize_image(image, min_dim, max_dim, min_scale, mode)
        assert got_scale == scale
        if mode == "square":
            top, left = (max_dim - nh) // 2, (max_dim - nw) // 2
            assert out.shape == (max_dim, max_dim, 3) and window == (top, left, top + nh, left + nw)
        elif mode == "pad64":
            ph, pw = (-nh) % 64, (-nw) % 64
            assert out.shape == (nh + ph, nw + pw, 3) and window == (ph // 2, pw // 2, ph // 2 + nh, pw // 2 + nw)
        else:
            assert out.shape == (min_dim, min_dim, 3) and crop[2:] == (min_dim, min_dim)
    # halves go to the even neighbour, as Python's round: 331 x 1.5 = 496.5 -> 496
    assert _C.model.resize_plan("pad64", 331, 1000, 0, 0, 1.5) == (1.5, 496, 1500)


def test_the_loader_resizes_as_load_image_gt():
    """The training loader's samples have the size load_image_gt's window says (crop: the crop), for
    odd image sizes in every mode: the network trains on what load_image_gt shows."""
    from mrcnn import model as modellib
    from mrcnn import utils
    from mrcnn.config import Config

    sizes = [(333, 331), (97, 611), (600, 200)]

    class Odd(utils.Dataset):
        def load_image(self, image_id):
            h, w = sizes[image_id]
            return np.full((h, w, 3), 50, np.uint8)

        def load_mask(self, image_id):
            h, w = sizes[image_id]
            m = np.zeros((h, w, 1), bool)
            m[h // 4:h // 2, w // 4:w // 2] = True
            return m, np.array([1], np.int32)

    ds = Odd()
    ds.add_class("odd", 1, "thing")
    for i in range(len(sizes)):
        ds.add_image("odd", i, None)
    ds.prepare()
    for mode, min_dim, max_dim in (("square", 256, 512), ("pad64", 128, 512), ("crop", 128, 512), ("none", 64, 512)):
        class Cfg(Config):
            NAME = "odd"
            NUM_CLASSES = 2
            IMAGE_RESIZE_MODE = mode
            IMAGE_MIN_DIM = min_dim
            IMAGE_MAX_DIM = max_dim
            IMAGES_PER_GPU = 1

        loader = modellib.make_loader(ds, Cfg(), shuffle=False, workers=0)
        for k in range(len(sizes)):
            sample = loader.prepare(k)["image"]
            image_id = loader.image_index(k)
            _, meta, _, _, _ = modellib.load_image_gt(ds, Cfg(), image_id)
            window = modellib.parse_image_meta(meta[None])["window"][0]
            assert sample.shape[:2] == (window[2] - window[0], window[3] - window[1]), (mode, sizes[image_id])
