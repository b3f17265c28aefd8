"""Config with Matterport's fields and defaults (``from mrcnn.config import Config``).

Subclass it and override class attributes, as in Matterport's samples:

    class BalloonConfig(Config):
        NAME = "balloon"
        IMAGES_PER_GPU = 2
        NUM_CLASSES = 1 + 1
        STEPS_PER_EPOCH = 100

Derived values (BATCH_SIZE, IMAGE_SHAPE, IMAGE_META_SIZE) follow the fields they come from even
when a notebook changes those after construction. A few fields beyond Matterport's serve
torchvision checkpoints (PIXEL_STD, BACKBONE_BN_EPS, ...); their defaults keep Matterport's
behaviour. Fields whose right value depends on the weights loaded (BACKBONE, RPN_BBOX_STD_DEV,
PIXEL_STD, MEAN_PIXEL, BACKBONE_BN_EPS, the head sizes, the anchors) are listed in
WEIGHT_DEPENDENT_FIELDS.
"""
import difflib
import json

import numpy as np

from . import _C

__all__ = ["Config"]

# The network's fields are the C++ Config's (cpp/mrcnn/model/config.h): their names, and the
# defaults of those Matterport has no counterpart for, come from there. Matterport's fields keep
# Matterport's defaults below. Every one of them is sent to the network (to_model_json).
_NETWORK_DEFAULTS = json.loads(_C.model.default_config())
_MODEL_FIELDS = tuple(_NETWORK_DEFAULTS)


class Config:
    """Matterport's configuration: every field, its default, display() and derived values."""

    NAME = None                     # run name; checkpoints go to MODEL_DIR/<name><timestamp>/
    GPU_COUNT = 1                   # devices used together (1 on CPU)
    IMAGES_PER_GPU = 2              # images per device per step
    STEPS_PER_EPOCH = 1000          # training steps per epoch
    VALIDATION_STEPS = 50           # validation steps at the end of each epoch
    BACKBONE = "resnet101"          # resnet50 or resnet101
    COMPUTE_BACKBONE_SHAPE = None   # Matterport's hook for custom backbones (unused: shapes are inferred)
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]  # strides of P2..P6, pixels
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024      # box head hidden size
    TOP_DOWN_PYRAMID_SIZE = 256     # FPN channels
    NUM_CLASSES = 1                 # classes including the background
    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)  # anchor side per FPN level, pixels
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]  # anchor width / height
    RPN_ANCHOR_STRIDE = 1           # anchors at every feature-map cell
    RPN_NMS_THRESHOLD = 0.7         # IoU above which proposals suppress each other
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256  # anchors sampled per image for the RPN losses
    PRE_NMS_LIMIT = 6000            # proposals kept before NMS, over all anchors (see PRE_NMS_PER_LEVEL)
    POST_NMS_ROIS_TRAINING = 2000   # proposals per image after NMS, training
    POST_NMS_ROIS_INFERENCE = 1000  # the same, inference
    USE_MINI_MASK = True            # store training masks cropped to their boxes
    MINI_MASK_SHAPE = (56, 56)      # size of those mini-masks
    IMAGE_RESIZE_MODE = "square"    # none, square, pad64, crop (and torchvision)
    IMAGE_MIN_DIM = 800             # short side scaled up to this
    IMAGE_MAX_DIM = 1024            # long side kept within this (square mode pads to it)
    IMAGE_MIN_SCALE = 0             # minimum upscale factor
    IMAGE_CHANNEL_COUNT = 3         # RGB
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])  # RGB mean subtracted from images, 0..255
    TRAIN_ROIS_PER_IMAGE = 200      # RoIs sampled per image for the heads' losses
    ROI_POSITIVE_RATIO = 0.33       # fraction of them positive
    POOL_SIZE = 7                   # box head RoIAlign output
    MASK_POOL_SIZE = 14             # mask head RoIAlign output
    MASK_SHAPE = [28, 28]           # predicted mask size
    MAX_GT_INSTANCES = 100          # ground-truth instances used per image
    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])  # RPN box deltas are divided by these
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])      # the heads' box deltas likewise
    DETECTION_MAX_INSTANCES = 100   # detections returned per image
    DETECTION_MIN_CONFIDENCE = 0.7  # detections scoring less are dropped
    DETECTION_NMS_THRESHOLD = 0.3   # per-class NMS IoU threshold
    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9
    WEIGHT_DECAY = 0.0001
    LOSS_WEIGHTS = {"rpn_class_loss": 1., "rpn_bbox_loss": 1., "mrcnn_class_loss": 1., "mrcnn_bbox_loss": 1.,
                    "mrcnn_mask_loss": 1.}
    USE_RPN_ROIS = True             # train the heads on RPN proposals
    TRAIN_BN = False                # False: BatchNorm normalises with its running statistics in training
                                    # too; None: with the batch's (ARCHITECTURE "v2" only; v1's is frozen)
    GRADIENT_CLIP_NORM = 5.0        # clip gradients to this global norm

    # beyond Matterport: torchvision checkpoints and the C++ engine
    PIXEL_STD = np.array([1.0, 1.0, 1.0])  # images are divided by this after the mean (torchvision: 58.4, 57.1, 57.4)
    BACKBONE_BN_EPS = 0.0           # frozen BatchNorm epsilon (torchvision's COCO weights: 0)
    STRIDE_IN_1X1 = False           # bottleneck stride on the 1x1 conv (Caffe) instead of the 3x3
    RPN_HEAD_CHANNELS = 0           # RPN shared conv channels; 0: TOP_DOWN_PYRAMID_SIZE (Matterport's .h5: 512)
    IMAGE_PAD_DIVISOR = 32          # torchvision resize mode: pad to a multiple of this
    PRE_NMS_LIMIT_TRAINING = None   # the same in training; None: PRE_NMS_LIMIT, as Matterport
    PRE_NMS_PER_LEVEL = False       # True: both limits apply per FPN level and NMS runs per level
                                    # (torchvision's RPN); False: over all anchors (Matterport)
    RPN_POSITIVE_RATIO = 0.5        # at most this fraction of the sampled anchors positive
    RPN_FG_IOU_THRESHOLD = 0.7      # anchors with IoU >= this are positive
    RPN_BG_IOU_THRESHOLD = 0.3      # and < this negative
    CHANNELS_LAST = True            # NHWC convolutions (faster)
    FOLD_FROZEN_BN = True           # BatchNorm applied through the conv weights (faster)
    CONV_WINOGRAD = True            # 3x3 convs on CPU through oneDNN's Winograd algorithm (about 2x faster)
    MIXED_PRECISION = None          # training and detect under autocast: None (float32), "bf16", "fp16" (CUDA; loss scaling)

    # fields trained weights depend on: loading a checkpoint sets them from the file unless the
    # notebook set them itself (then a warning says which the weights expect)
    WEIGHT_DEPENDENT_FIELDS = ("ARCHITECTURE", "BACKBONE", "RPN_BBOX_STD_DEV", "MEAN_PIXEL", "PIXEL_STD", "BACKBONE_BN_EPS",
                               "STRIDE_IN_1X1", "TOP_DOWN_PYRAMID_SIZE", "RPN_HEAD_CHANNELS",
                               "FPN_CLASSIF_FC_LAYERS_SIZE", "POOL_SIZE", "MASK_POOL_SIZE", "MASK_SHAPE",
                               "BBOX_STD_DEV", "RPN_ANCHOR_SCALES", "RPN_ANCHOR_RATIOS")

    def __init__(self):
        self._overrides = {}
        for klass in type(self).__mro__:
            if klass is not Config and issubclass(klass, Config):
                for name in vars(klass):
                    _check_field_name(name, klass.__name__)

    def __setattr__(self, name, value):
        _check_field_name(name, type(self).__name__)
        object.__setattr__(self, name, value)

    # derived values, recomputed from the current fields (a notebook may also set them)
    def _derived(name, compute):  # noqa: N805  (a class-body helper)
        def get(self):
            return self._overrides.get(name, compute(self)) if hasattr(self, "_overrides") else compute(self)

        def set_(self, value):
            self._overrides[name] = value
        return property(get, set_)

    BATCH_SIZE = _derived("BATCH_SIZE", lambda c: c.IMAGES_PER_GPU * c.GPU_COUNT)
    IMAGE_SHAPE = _derived("IMAGE_SHAPE", lambda c: np.array(
        [c.IMAGE_MIN_DIM, c.IMAGE_MIN_DIM, c.IMAGE_CHANNEL_COUNT] if c.IMAGE_RESIZE_MODE == "crop"
        else [c.IMAGE_MAX_DIM, c.IMAGE_MAX_DIM, c.IMAGE_CHANNEL_COUNT]))
    # id, original shape (3), resized shape (3), window (4), scale, active class ids
    IMAGE_META_SIZE = _derived("IMAGE_META_SIZE", lambda c: 1 + 3 + 3 + 4 + 1 + c.NUM_CLASSES)
    del _derived

    def to_dict(self):
        """Every field (upper-case attribute) and derived value by name."""
        return {a: getattr(self, a) for a in sorted(dir(self))
                if a.isupper() and not callable(getattr(self, a)) and a != "WEIGHT_DEPENDENT_FIELDS"}

    def display(self):
        """Prints the configuration, as Matterport does."""
        print("\nConfigurations:")
        for key, value in self.to_dict().items():
            print("{:30} {}".format(key, value))
        print("\n")

    def check_supported(self):
        """Matterport fields whose non-default values this network cannot honour: an error for
        those that would change the architecture, a warning for those that only change training.
        Nothing is dropped silently."""
        import warnings

        errors = []
        if callable(self.BACKBONE) or self.COMPUTE_BACKBONE_SHAPE is not None:
            errors.append("BACKBONE must be one of %s (a callable backbone and COMPUTE_BACKBONE_SHAPE "
                          "are Keras hooks; got %r)" % (", ".join(_C.model.backbone_names()), self.BACKBONE))
        if [int(s) for s in self.BACKBONE_STRIDES] != [4, 8, 16, 32, 64]:
            errors.append("BACKBONE_STRIDES is fixed by ResNet-FPN at [4, 8, 16, 32, 64], got %r"
                          % (list(self.BACKBONE_STRIDES),))
        if int(self.RPN_ANCHOR_STRIDE) != 1:
            errors.append("RPN_ANCHOR_STRIDE must be 1 (anchors at every feature-map cell), got %r"
                          % (self.RPN_ANCHOR_STRIDE,))
        if not self.USE_RPN_ROIS:
            errors.append("USE_RPN_ROIS = False (training the heads on externally given RoIs) is not "
                          "supported: the heads train on the RPN's proposals")
        if self.TRAIN_BN is True:
            errors.append("TRAIN_BN = True (BatchNorm in training mode even when detecting, which Matterport "
                          "advises against) is not supported: use None (batch statistics in training) or False")
        if errors:
            raise ValueError("Config %s: %s" % (self.NAME, "; ".join(errors)))
        if self.TRAIN_BN is None and self.ARCHITECTURE != "v2":
            warnings.warn("Config.TRAIN_BN = None: the %s architecture's BatchNorm is frozen, so it uses its running "
                          "statistics (ARCHITECTURE = \"v2\" has BatchNorm that trains)" % (self.ARCHITECTURE,),
                          stacklevel=3)
        if int(self.MAX_GT_INSTANCES) != 100:
            warnings.warn("Config.MAX_GT_INSTANCES = %r is not applied: every ground-truth instance of "
                          "an image is used" % (self.MAX_GT_INSTANCES,), stacklevel=3)

    def to_model_json(self):
        """The network's fields as JSON for the C++ engine (validated there, with errors naming
        the field)."""
        self.check_supported()

        def plain(v):
            if isinstance(v, np.ndarray):
                return [float(x) for x in v.tolist()]
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            if isinstance(v, np.generic):
                return v.item()
            return v
        out = {k: plain(getattr(self, k)) for k in _MODEL_FIELDS}
        out["NAME"] = out["NAME"] or "mrcnn"
        # Matterport's TRAIN_BN: None trains BatchNorm with the batch's statistics, False keeps its own
        out["TRAIN_BN"] = self.TRAIN_BN is None
        if out["PRE_NMS_LIMIT_TRAINING"] is None:
            out["PRE_NMS_LIMIT_TRAINING"] = out["PRE_NMS_LIMIT"]
        for k in ("RPN_ANCHOR_SCALES", "RPN_ANCHOR_RATIOS"):
            out[k] = [float(x) for x in out[k]]
        for k, v in out.items():  # JSON has no NaN or infinity: name the field instead of failing to parse
            if any(isinstance(x, float) and not np.isfinite(x) for x in (v if isinstance(v, list) else [v])):
                raise ValueError("Config.%s: must be a finite number, got %r" % (k, getattr(self, k)))
        return json.dumps(out)


# the network's fields with no Matterport counterpart (ROI_SAMPLING_RATIO, DETECTION_MASK_THRESHOLD,
# ...) take the C++ defaults
for _name, _value in _NETWORK_DEFAULTS.items():
    if not hasattr(Config, _name):
        setattr(Config, _name, _value)
del _name, _value
_FIELDS = frozenset(a for a in dir(Config) if a.isupper())


def _check_field_name(name, owner):
    """A Config field that is not one but is a near miss of one (IMAGES_PER_GPUU, IMAGE_MAX_DIMS) is
    a misspelling that would otherwise be ignored: ValueError naming both. Fields of a notebook's
    own with other names are its business."""
    if not name.isupper() or name in _FIELDS:
        return
    close = difflib.get_close_matches(name, _FIELDS, n=1, cutoff=0.85)
    if close:
        raise ValueError("%s.%s is not a Config field; did you mean %s?" % (owner, name, close[0]))
