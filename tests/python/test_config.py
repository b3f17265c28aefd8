"""Config: Matterport's fields and defaults, display(), derived values, and the C++ network's view."""
import json

import numpy as np
import pytest

from mrcnn import _C
from mrcnn.config import Config

MATTERPORT_FIELDS = """NAME GPU_COUNT IMAGES_PER_GPU STEPS_PER_EPOCH VALIDATION_STEPS BACKBONE COMPUTE_BACKBONE_SHAPE
BACKBONE_STRIDES FPN_CLASSIF_FC_LAYERS_SIZE TOP_DOWN_PYRAMID_SIZE NUM_CLASSES RPN_ANCHOR_SCALES RPN_ANCHOR_RATIOS
RPN_ANCHOR_STRIDE RPN_NMS_THRESHOLD RPN_TRAIN_ANCHORS_PER_IMAGE PRE_NMS_LIMIT POST_NMS_ROIS_TRAINING
POST_NMS_ROIS_INFERENCE USE_MINI_MASK MINI_MASK_SHAPE IMAGE_RESIZE_MODE IMAGE_MIN_DIM IMAGE_MAX_DIM IMAGE_MIN_SCALE
IMAGE_CHANNEL_COUNT MEAN_PIXEL TRAIN_ROIS_PER_IMAGE ROI_POSITIVE_RATIO POOL_SIZE MASK_POOL_SIZE MASK_SHAPE
MAX_GT_INSTANCES RPN_BBOX_STD_DEV BBOX_STD_DEV DETECTION_MAX_INSTANCES DETECTION_MIN_CONFIDENCE
DETECTION_NMS_THRESHOLD LEARNING_RATE LEARNING_MOMENTUM WEIGHT_DECAY LOSS_WEIGHTS USE_RPN_ROIS TRAIN_BN
GRADIENT_CLIP_NORM BATCH_SIZE IMAGE_SHAPE IMAGE_META_SIZE""".split()


class BalloonConfig(Config):
    NAME = "balloon"
    IMAGES_PER_GPU = 2
    NUM_CLASSES = 1 + 1
    STEPS_PER_EPOCH = 100
    DETECTION_MIN_CONFIDENCE = 0.9


def test_matterport_fields_and_defaults(capsys):
    c = BalloonConfig()
    fields = c.to_dict()
    missing = [f for f in MATTERPORT_FIELDS if f not in fields]
    assert missing == []
    assert c.BATCH_SIZE == 2 and c.IMAGE_META_SIZE == 1 + 3 + 3 + 4 + 1 + 2
    assert c.IMAGE_SHAPE.tolist() == [1024, 1024, 3]
    assert Config.DETECTION_MIN_CONFIDENCE == 0.7 and Config.BACKBONE == "resnet101"
    assert np.allclose(Config.MEAN_PIXEL, [123.7, 116.8, 103.9])
    c.display()
    out = capsys.readouterr().out
    assert "Configurations:" in out and "NAME                           balloon" in out


def test_derived_values_follow_changes_made_after_construction():
    class InferenceConfig(BalloonConfig):
        GPU_COUNT = 1
        IMAGES_PER_GPU = 1
    c = InferenceConfig()
    assert c.BATCH_SIZE == 1
    c.IMAGES_PER_GPU = 4
    c.NUM_CLASSES = 5
    c.IMAGE_RESIZE_MODE = "crop"
    c.IMAGE_MIN_DIM = 512
    assert c.BATCH_SIZE == 4 and c.IMAGE_META_SIZE == 17 and c.IMAGE_SHAPE.tolist() == [512, 512, 3]
    c.BATCH_SIZE = 3  # a notebook may set it directly
    assert c.BATCH_SIZE == 3


def test_model_json_is_accepted_by_the_network_and_errors_name_fields():
    c = BalloonConfig()
    cfg = json.loads(c.to_model_json())
    assert cfg["NUM_CLASSES"] == 2 and cfg["MEAN_PIXEL"] == [123.7, 116.8, 103.9]
    _C.model.validate_config(c.to_model_json())
    c.IMAGE_MAX_DIM = 1000  # not a multiple of 64 in square mode
    with pytest.raises(ValueError, match="IMAGE_MAX_DIM"):
        _C.model.validate_config(c.to_model_json())


def test_fields_we_cannot_honour_are_never_dropped_silently():
    import warnings

    def config(**fields):
        c = Config()
        for k, v in fields.items():
            setattr(c, k, v)
        return c

    config().to_model_json()  # Matterport's defaults: nothing to say
    for fields, match in [({"BACKBONE_STRIDES": [4, 8, 16, 32, 128]}, "BACKBONE_STRIDES"),
                          ({"RPN_ANCHOR_STRIDE": 2}, "RPN_ANCHOR_STRIDE"),
                          ({"USE_RPN_ROIS": False}, "USE_RPN_ROIS"),
                          ({"BACKBONE": lambda x: x}, "callable backbone"),
                          ({"COMPUTE_BACKBONE_SHAPE": lambda c, s: s}, "COMPUTE_BACKBONE_SHAPE"),
                          ({"TRAIN_BN": True}, "TRAIN_BN = True")]:
        with pytest.raises(ValueError, match=match):
            config(**fields).to_model_json()
    for fields, match in [({"TRAIN_BN": None}, "BatchNorm is frozen"),
                          ({"MAX_GT_INSTANCES": 200}, "every ground-truth instance")]:
        with pytest.warns(UserWarning, match=match):
            config(**fields).to_model_json()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config(TRAIN_BN=False, MAX_GT_INSTANCES=100).to_model_json()
        # v2's BatchNorm trains: None is Matterport's "train BatchNorm", sent as TRAIN_BN true
        assert json.loads(config(ARCHITECTURE="v2", TRAIN_BN=None).to_model_json())["TRAIN_BN"] is True
        assert json.loads(config(ARCHITECTURE="v2").to_model_json())["TRAIN_BN"] is False


def test_network_fields_come_from_the_cpp_config_and_near_misses_raise():
    """One table of the network's fields (config.h): Python sends every one of them, those without
    a Matterport counterpart default to the C++ values, and a misspelt field is an error instead
    of being silently ignored."""
    import json

    import pytest

    from mrcnn import _C
    from mrcnn.config import Config

    network = json.loads(_C.model.default_config())
    sent = json.loads(Config().to_model_json())
    assert set(sent) == set(network)
    for name in ("ROI_SAMPLING_RATIO", "DETECTION_MASK_THRESHOLD", "RPN_MIN_SIZE", "DETECTION_MIN_SIZE"):
        assert getattr(Config, name) == network[name] and sent[name] == network[name]
    assert Config.BACKBONE == "resnet101" and network["BACKBONE"] == "resnet50"  # Matterport's default kept

    class Misspelt(Config):
        NAME = "x"
        IMAGES_PER_GPUU = 4

    with pytest.raises(ValueError, match="Misspelt.IMAGES_PER_GPUU is not a Config field; did you mean IMAGES_PER_GPU"):
        Misspelt()
    c = Config()
    with pytest.raises(ValueError, match="did you mean DETECTION_MIN_CONFIDENCE"):
        c.DETECTION_MIN_CONFIDENSE = 0.5
    c.MY_OWN_SETTING = 3  # a notebook's own field, not close to any of ours

    class Masks(Config):
        DETECTION_MASK_THRESHOLD = 0.3

    assert json.loads(Masks().to_model_json())["DETECTION_MASK_THRESHOLD"] == 0.3


def test_values_json_cannot_hold_and_impossible_sizes_name_the_field():
    from mrcnn import model as modellib

    class Bad(Config):
        NAME = "bad"
        NUM_CLASSES = 2
        DETECTION_MIN_CONFIDENCE = float("nan")

    with pytest.raises(ValueError, match="Config.DETECTION_MIN_CONFIDENCE: must be a finite number, got nan"):
        modellib.MaskRCNN("inference", Bad(), "/nonexistent")

    class Huge(Config):
        NAME = "huge"
        NUM_CLASSES = 2
        IMAGE_MAX_DIM = 10 ** 6

    with pytest.raises(ValueError, match="Config.IMAGE_MAX_DIM: must be at most 16384 pixels, got 1000000"):
        modellib.MaskRCNN("inference", Huge(), "/nonexistent")
