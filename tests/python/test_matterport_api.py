"""Matterport's module functions and MaskRCNN methods that notebooks call besides train/detect:
image meta, molding, load_image_gt, mold_inputs / unmold_detections, detect_molded, RLE
detections and COCO export, and the errors for Keras-only attributes."""
import json

import numpy as np
import pytest
import torch

from mrcnn import _C, cocomask, utils
from mrcnn import model as modellib
from mrcnn.config import Config
from mrcnn.evaluation import results_to_coco
from mrcnn.shapes import ShapesDataset


class SmallConfig(Config):
    NAME = "shapes"
    NUM_CLASSES = 4
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    BACKBONE = "resnet50"
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    PRE_NMS_LIMIT = 300
    POST_NMS_ROIS_INFERENCE = 300
    DETECTION_MIN_CONFIDENCE = 0.0   # random weights: keep every detection
    DETECTION_MAX_INSTANCES = 20


def shapes(count=3, seed=5, height=96, width=120):
    ds = ShapesDataset(seed)
    ds.load_shapes(count, height, width)
    ds.prepare()
    return ds


def test_image_meta_round_trip():
    meta = modellib.compose_image_meta(7, (480, 640, 3), (1024, 1024, 3), (128, 0, 896, 1024), 1.6, [1, 1, 0, 1])
    assert meta.shape == (12 + 4,)
    m = modellib.parse_image_meta(np.stack([meta, meta]))
    assert m["image_id"].tolist() == [7, 7]
    assert m["original_image_shape"][0].tolist() == [480, 640, 3]
    assert m["image_shape"][1].tolist() == [1024, 1024, 3]
    assert m["window"][0].tolist() == [128, 0, 896, 1024]
    assert np.allclose(m["scale"], 1.6) and m["active_class_ids"][0].tolist() == [1, 1, 0, 1]
    assert SmallConfig().IMAGE_META_SIZE == meta.shape[0]
    with pytest.raises(ValueError, match="at least 12"):
        modellib.parse_image_meta(np.zeros(5))


def test_mold_and_unmold_image():
    config = SmallConfig()
    image = np.random.RandomState(0).randint(0, 256, (5, 6, 3)).astype(np.uint8)
    molded = modellib.mold_image(image, config)
    assert molded.dtype == np.float32
    assert np.allclose(molded[0, 0], image[0, 0] - np.array(config.MEAN_PIXEL))
    assert np.array_equal(modellib.unmold_image(molded, config), image)


def test_load_image_gt_resizes_pads_and_keeps_masks_aligned():
    config = SmallConfig()
    ds = shapes()
    mask0, ids0 = ds.load_mask(0)
    image, meta, class_ids, bbox, mask = modellib.load_image_gt(ds, config, 0, use_mini_mask=False)
    # square mode: 96x120 scaled by 128/120 (long side capped), centred in 128x128
    m = modellib.parse_image_meta(meta)
    assert image.shape == (128, 128, 3) and m["original_image_shape"].tolist() == [96, 120, 3]
    y1, x1, y2, x2 = m["window"].tolist()
    assert (x1, x2) == (0, 128) and y2 - y1 == round(96 * 128 / 120) and y1 == (128 - (y2 - y1)) // 2
    assert np.isclose(m["scale"], 128 / 120) and m["active_class_ids"].tolist() == [1, 1, 1, 1]
    assert image[:y1].max() == 0 and image[y2:].max() == 0
    assert mask.shape == (128, 128, len(class_ids)) and mask.dtype == bool
    assert np.array_equal(bbox, utils.extract_bboxes(mask))
    assert sorted(class_ids.tolist()) == sorted(ids0[mask0.any(axis=(0, 1))].tolist())
    # each resized mask sits where the resized image shows its shape's colour
    for k in range(len(class_ids)):
        ys, xs = np.nonzero(mask[:, :, k])
        assert ys.min() >= y1 and ys.max() < y2
    mini = modellib.load_image_gt(ds, config, 0, use_mini_mask=True)[4]
    assert mini.shape == tuple(config.MINI_MASK_SHAPE) + (len(class_ids),)
    # a callable augmentation sees the resized image and masks together
    flipped = modellib.load_image_gt(ds, config, 0, augmentation=lambda im, ms, seed: (im[:, ::-1], ms[:, ::-1]),
                                     use_mini_mask=False)
    assert np.array_equal(flipped[0], image[:, ::-1]) and np.array_equal(flipped[4], mask[:, ::-1])


def test_norm_boxes_and_anchors():
    boxes = np.array([[0, 0, 10, 20], [5, 5, 6, 6]])
    norm = utils.norm_boxes(boxes, (11, 21))
    assert np.allclose(norm[0], [0, 0, 0.9, 0.95])
    assert np.array_equal(utils.denorm_boxes(norm, (11, 21)), boxes)
    anchors = utils.generate_anchors([32], [1], (2, 2), 16, 1)
    assert anchors.tolist() == [[-16, -16, 16, 16], [-16, 0, 16, 32], [0, -16, 32, 16], [0, 0, 32, 32]]
    wide = utils.generate_anchors([32], [2], (1, 1), 16, 1)[0]  # Matterport's ratio is width / height
    assert np.isclose((wide[3] - wide[1]) / (wide[2] - wide[0]), 2)
    config = SmallConfig()
    shapes_ = modellib.compute_backbone_shapes(config, (128, 128))
    assert shapes_.tolist() == [[32, 32], [16, 16], [8, 8], [4, 4], [2, 2]]
    pyramid = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, shapes_,
                                             config.BACKBONE_STRIDES, 1)
    assert len(pyramid) == 3 * (32 * 32 + 16 * 16 + 8 * 8 + 4 * 4 + 2 * 2)


def test_torchvision_resize_mode_matches_torchvision():
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    transform = GeneralizedRCNNTransform(800, 1333, [0.0] * 3, [1.0] * 3)
    transform.eval()
    for h, w in [(480, 640), (333, 500), (1000, 700), (427, 640)]:
        out, _ = transform([torch.zeros(3, h, w)])
        image, window, scale, padding, _ = utils.resize_image(np.zeros((h, w, 3), np.uint8), 800, 1333,
                                                              mode="torchvision")
        assert tuple(window[2:]) == tuple(out.image_sizes[0]), (h, w)
        assert image.shape[:2] == tuple(out.tensors.shape[-2:]), (h, w)


def test_mold_inputs_and_unmold_detections_map_back_to_the_original():
    config = SmallConfig()
    config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM = 64, 256
    model = modellib.MaskRCNN("inference", config, "/nonexistent")
    image = np.zeros((100, 200, 3), np.uint8)
    molded, metas, windows = model.mold_inputs([image, image])
    assert molded.shape == (2, 256, 256, 3) and windows[0].tolist() == [78, 28, 178, 228]
    assert np.allclose(molded[0, 0, 0], -np.array(config.MEAN_PIXEL))
    box = np.array([10, 20, 50, 80])
    molded_box = box + np.array([78, 28, 78, 28])
    norm = utils.norm_boxes(molded_box[None], (256, 256))[0]
    detections = np.zeros((5, 6), np.float32)
    detections[0] = list(norm) + [2, 0.9]
    mrcnn_mask = np.zeros((5, 28, 28, 4), np.float32)
    mrcnn_mask[0, :, :, 2] = 1
    boxes, class_ids, scores, masks = model.unmold_detections(detections, mrcnn_mask, image.shape, molded[0].shape,
                                                               windows[0])
    assert boxes.tolist() == [box.tolist()] and class_ids.tolist() == [2] and np.allclose(scores, [0.9])
    expected = np.zeros((100, 200), bool)
    expected[10:50, 20:80] = True
    assert masks.shape == (100, 200, 1) and np.array_equal(masks[:, :, 0], expected)


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(0)
    return modellib.MaskRCNN("inference", SmallConfig(), "/nonexistent")


def test_detect_rle_and_detect_molded_agree_with_detect(random_model):
    config = random_model.config
    ds = shapes(1)
    image, meta = modellib.load_image_gt(ds, config, 0, use_mini_mask=False)[:2]
    r = random_model.detect([image])[0]
    assert len(r["class_ids"]) > 0
    rle = random_model.detect([image], mask_format="rle")[0]
    assert isinstance(rle["masks"], list) and len(rle["masks"]) == r["masks"].shape[2]
    assert np.array_equal(cocomask.decode(rle["masks"]).astype(bool), r["masks"])
    assert np.array_equal(rle["rois"], r["rois"])
    molded = random_model.detect_molded(modellib.mold_image(image, config)[None], meta[None])[0]
    assert np.abs(molded["rois"] - r["rois"]).max() <= 1
    assert np.allclose(molded["scores"], r["scores"], atol=1e-4)
    assert np.array_equal(molded["class_ids"], r["class_ids"])
    with pytest.raises(ValueError, match="mask_format"):
        random_model.detect([image], mask_format="png")

    # COCO export: RLE from bool masks and from RLE masks are the same; polygons cover the masks
    from_bool = results_to_coco([r], [0], ds)
    assert results_to_coco([rle], [0], ds) == from_bool
    polys = results_to_coco([r], [0], ds, segmentation="polygon")
    assert [p["bbox"] for p in polys] == [p["bbox"] for p in from_bool]
    for k, p in enumerate(polys):
        if not p["segmentation"]:
            continue
        area = cocomask.area(cocomask.merge(cocomask.frPyObjects(p["segmentation"], *image.shape[:2])))
        assert abs(area - r["masks"][:, :, k].sum()) <= 0.25 * r["masks"][:, :, k].sum() + 10
    assert "segmentation" not in results_to_coco([r], [0], ds, segmentation=None)[0]


def test_keras_only_attributes_say_what_to_use(random_model):
    with pytest.raises(AttributeError, match="model.net"):
        random_model.keras_model
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        random_model.nonexistent
    with pytest.raises(NotImplementedError, match="make_loader"):
        modellib.data_generator(None, None)


def test_names_and_defaults_notebooks_rely_on(random_model):
    import inspect

    # Matterport's default: full-size masks, which compute_ap compares with detect()'s
    assert inspect.signature(modellib.load_image_gt).parameters["use_mini_mask"].default is False
    config = random_model.config
    image, _, class_ids, bbox, mask = modellib.load_image_gt(shapes(1), config, 0)
    assert mask.shape[:2] == image.shape[:2]
    # add_class's third parameter is class_name
    ds = utils.Dataset()
    ds.add_class(source="fruit", class_id=1, class_name="apple")
    assert ds.class_info[1]["name"] == "apple"
    # get_anchors keeps the last anchors in pixel coordinates in model.anchors
    norm = random_model.get_anchors((128, 128, 3))
    assert random_model.anchors.shape == norm.shape
    assert np.allclose(utils.norm_boxes(random_model.anchors, (128, 128)), norm)
    # checkpoint_path is the run's checkpoint pattern, formatted with the epoch
    path = random_model.checkpoint_path.format(epoch=3)
    assert path.endswith("mask_rcnn_shapes_0003.pt") and path.startswith(random_model.log_dir)


def test_box_deltas_round_trip():
    rng = np.random.RandomState(3)
    y1x1 = rng.uniform(0, 100, (50, 2))
    boxes = np.concatenate([y1x1, y1x1 + rng.uniform(2, 60, (50, 2))], axis=1).astype(np.float32)
    gt = np.concatenate([y1x1 + 3, y1x1 + rng.uniform(5, 80, (50, 2))], axis=1).astype(np.float32)
    deltas = utils.box_refinement(boxes, gt)
    assert deltas.shape == (50, 4) and deltas.dtype == np.float32
    assert np.allclose(utils.apply_box_deltas(boxes, deltas), gt, atol=1e-3)
    # a box refined onto itself does not move
    assert np.allclose(utils.box_refinement(boxes, boxes), 0)
    with pytest.raises(NotImplementedError, match="loop"):
        utils.batch_slice([], None, 1)


def test_build_rpn_targets():
    np.random.seed(0)
    config = SmallConfig()
    anchors = utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
                                             modellib.compute_backbone_shapes(config, (128, 128)),
                                             config.BACKBONE_STRIDES, 1)
    gt_boxes = np.array([[10, 10, 50, 60], [70, 20, 120, 60], [0, 90, 30, 126]])
    match, bbox = modellib.build_rpn_targets((128, 128, 3), anchors, np.array([1, 2, -1]), gt_boxes, config)
    assert match.shape == (len(anchors),) and match.dtype == np.int32
    assert bbox.shape == (config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4)
    positive, negative = np.nonzero(match == 1)[0], np.nonzero(match == -1)[0]
    assert 0 < len(positive) <= config.RPN_TRAIN_ANCHORS_PER_IMAGE // 2
    assert len(positive) + len(negative) == config.RPN_TRAIN_ANCHORS_PER_IMAGE
    overlaps = utils.compute_overlaps(anchors, gt_boxes[:2])  # the crowd box is not a target
    assert (overlaps[negative].max(axis=1) < 0.3).all()
    assert (utils.compute_overlaps(anchors[negative], gt_boxes[2:]) < 0.001).all()  # never next to a crowd
    # each positive's deltas lead back to its gt box
    target = gt_boxes[:2][overlaps[positive].argmax(axis=1)]
    moved = utils.apply_box_deltas(anchors[positive], bbox[:len(positive)] * config.RPN_BBOX_STD_DEV)
    assert np.allclose(moved, target, atol=1e-2)
    assert not bbox[len(positive):].any()


def test_random_rois_and_detection_targets():
    np.random.seed(1)
    config = SmallConfig()
    config.USE_MINI_MASK = False
    gt_boxes = np.array([[10, 10, 50, 60], [70, 20, 120, 60]])
    rois = modellib.generate_random_rois((128, 128, 3), 100, np.array([1, 3]), gt_boxes)
    assert rois.shape == (100, 4) and rois.dtype == np.int32
    assert (rois[:, 2] > rois[:, 0]).all() and (rois[:, 3] > rois[:, 1]).all()
    assert rois.min() >= 0 and rois[:, 2].max() <= 128 and rois[:, 3].max() <= 128
    near_first = rois[:45]  # 90% of the RoIs, shared by the two gt boxes
    assert (near_first[:, 0] >= 0).all() and (near_first[:, 2] <= 90).all()
    masks = np.zeros((128, 128, 2), bool)
    masks[10:50, 10:60, 0] = True
    masks[70:120, 20:60, 1] = True
    candidates = np.concatenate([gt_boxes, rois]).astype(np.int32)
    r, class_ids, bboxes, m = modellib.build_detection_targets(candidates, np.array([1, 3]), gt_boxes, masks, config)
    n = config.TRAIN_ROIS_PER_IMAGE
    assert r.shape == (n, 4) and class_ids.shape == (n,)
    assert bboxes.shape == (n, config.NUM_CLASSES, 4) and m.shape == (n,) + tuple(config.MASK_SHAPE) + (4,)
    overlaps = utils.compute_overlaps(r.astype(np.float32), gt_boxes.astype(np.float32))
    fg = class_ids > 0
    assert fg.sum() <= int(n * config.ROI_POSITIVE_RATIO) and (overlaps[fg].max(axis=1) > 0.5).all()
    assert set(class_ids[fg].tolist()) <= {1, 3}
    for i in np.nonzero(fg)[0]:
        k = class_ids[i]
        target = gt_boxes[overlaps[i].argmax()]
        moved = utils.apply_box_deltas(r[i:i + 1], bboxes[i:i + 1, k] * config.BBOX_STD_DEV)
        assert np.allclose(moved, target[None], atol=1e-2)
        assert m[i, :, :, k].max() > 0 and not np.delete(m[i], k, axis=2).any()
    # a RoI equal to its gt box gets that whole box's mask: all ones
    same = np.nonzero((r == gt_boxes[0]).all(axis=1))[0]
    if len(same):
        assert np.allclose(m[same[0], :, :, 1], 1)


# A landscape image and a batch companion per resize mode. Square mode puts every image on one
# canvas, so any companion will do: a large square one (whose height, unlike the landscape image's,
# is over IMAGE_MAX_DIM / sqrt(2)) is the case where a level scale inferred from the tallest image
# went wrong. The other modes (crop included: detect pads its images as pad64 does) pad a batch to
# its largest image, which changes the features near the padded edge (torchvision's batching does
# the same), so their companion fits inside the landscape image's own padded size.
_COMPANIONS = {"square": (200, 200), "crop": (60, 80), "pad64": (60, 80), "none": (60, 80),
               "torchvision": (60, 80)}


@pytest.mark.parametrize("mode", sorted(_COMPANIONS))
def test_detections_do_not_depend_on_batch_companions(mode):
    config = SmallConfig()
    config.IMAGES_PER_GPU = 2
    config.IMAGE_RESIZE_MODE = mode
    config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM = 128, 256
    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", config, "/nonexistent")
    wide = shapes(1, seed=3, height=100, width=240).load_image(0)
    h, w = _COMPANIONS[mode]
    companion = shapes(1, seed=4, height=h, width=w).load_image(0)
    alone = model.detect([wide, wide])[0]
    beside = model.detect([wide, companion])[0]
    assert len(alone["class_ids"]) > 0
    assert np.array_equal(alone["class_ids"], beside["class_ids"])
    assert np.abs(alone["rois"] - beside["rois"]).max() <= 1
    assert np.allclose(alone["scores"], beside["scores"], atol=1e-4)
    assert (alone["masks"] != beside["masks"]).mean() < 1e-3


def test_each_region_keeps_its_best_class_as_matterport_or_every_class_as_torchvision():
    config = SmallConfig()
    config.DETECTION_MAX_INSTANCES = 1000  # no cut: every region that survives NMS
    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", config, "/nonexistent")
    image = shapes(1, seed=5).load_image(0)
    assert model.config.DETECTION_ALL_CLASSES is False  # Matterport's rule by default
    best = model.detect([image])[0]
    config.DETECTION_ALL_CLASSES = True
    model_all = modellib.MaskRCNN("inference", config, "/nonexistent")
    model_all.net.load_state_dict(dict(model.net.state_dict()), [])
    every = model_all.detect([image])[0]
    # random weights, no score threshold: torchvision's rule keeps a region once per class (up to 3
    # classes here), Matterport's at most once
    assert len(every["scores"]) > len(best["scores"]) > 0
    # a region's best class has at least 1 / NUM_CLASSES of its softmax; the other classes mostly less
    assert best["scores"].min() >= 1.0 / config.NUM_CLASSES - 1e-6
    assert every["scores"].min() < 1.0 / config.NUM_CLASSES
    assert json.loads(_C.model.torchvision_config(3))["DETECTION_ALL_CLASSES"] is True


def test_detect_molded_takes_detects_pixel_rule(random_model):
    config = random_model.config
    image, meta = modellib.load_image_gt(shapes(1), config, 0, use_mini_mask=False)[:2]
    molded = modellib.mold_image(image, config)[None].astype(np.float32)
    bad = molded.copy()
    bad[:] = np.nan
    with pytest.raises(ValueError, match=r"detect_molded: molded image 0: \d+ pixels are NaN"):
        random_model.detect_molded(bad, meta[None])
    with pytest.raises(ValueError, match="detect: image 0: .*NaN"):
        random_model.detect([np.full(image.shape, np.nan, np.float32)])
    far = molded + 1000.0  # unmolds to values beyond 255
    with pytest.raises(ValueError, match="detect_molded: molded image 0: .*outside 0..255"):
        random_model.detect_molded(far, meta[None])


@pytest.mark.parametrize("name", ["../escape/x", "a/b", "..", "a\\b"])
def test_a_run_name_cannot_leave_model_dir(tmp_path, name):
    class Escaping(SmallConfig):
        NAME = name

    model_dir = tmp_path / "logs"
    with pytest.raises(ValueError, match="NAME"):
        modellib.MaskRCNN("training", Escaping(), str(model_dir))
    assert sorted(p.name for p in tmp_path.iterdir()) == []
