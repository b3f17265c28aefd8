"""The model with Matterport's ``modellib`` API (``import mrcnn.model as modellib``):

    model = modellib.MaskRCNN(mode="training", config=config, model_dir=MODEL_DIR)
    model.load_weights(COCO_WEIGHTS, by_name=True, exclude=["mrcnn_class_logits", "mrcnn_bbox_fc",
                                                             "mrcnn_bbox", "mrcnn_mask"])
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE, epochs=1, layers="heads")
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE / 10, epochs=2, layers="all")
    r = model.detect([image])[0]      # rois, class_ids, scores, masks

The network, the data loader and the training loop are C++ (mrcnn._C); this module wires them to
the notebook: progress bars, logs, loss curves, checkpoints under MODEL_DIR/<name><timestamp>/.
"""
import datetime
import json
import logging
import os
import re

import numpy as np
import torch

from . import _C, distributed
from .augment import to_loader_options
from .config import Config

__all__ = ["MaskRCNN", "log", "NonFiniteLoss", "make_loader", "load_image_gt", "mold_image", "unmold_image",
           "compose_image_meta", "parse_image_meta", "parse_image_meta_graph", "compute_backbone_shapes",
           "data_generator", "build_rpn_targets", "build_detection_targets", "generate_random_rois"]

logger = logging.getLogger(__name__)
NonFiniteLoss = _C.train.NonFiniteLoss
LOSS_NAMES = [n for n, _ in _C.train.loss_names()]


def log(text, array=None):
    """Prints a text and, for an array, its shape, min, max and dtype (Matterport's model.log)."""
    if array is not None:
        text = text.ljust(25)
        a = np.asarray(array.detach().cpu() if isinstance(array, torch.Tensor) else array)
        text += "shape: {:20}  ".format(str(a.shape))
        if a.size:
            text += "min: {:10.5f}  max: {:10.5f}".format(float(a.min()), float(a.max()))
        else:
            text += "min: {:10}  max: {:10}".format("", "")
        text += "  {}".format(a.dtype)
    print(text)


def _native_records(dataset):
    """(for each image, its (AnnotationSet, record)) of a built-in dataset, which the loader reads
    in C++; None for Python datasets (subclasses that override load_image or load_mask, images
    added by hand) and in builds without OpenCV's C++ library."""
    from .datasets import _AnnotatedDataset
    from .utils import Dataset

    cls = type(dataset)
    if not isinstance(dataset, _AnnotatedDataset) or not _C.data.WITH_OPENCV:
        return None  # without OpenCV's C++ library, images are decoded in Python
    if cls.load_image is not Dataset.load_image or cls.load_mask is not _AnnotatedDataset.load_mask:
        return None
    infos = [dataset.image_info[i] for i in dataset.image_ids]
    if not all("annotations" in info for info in infos):
        return None
    return [(info["annotations"], info["record"]) for info in infos]


def make_loader(dataset, config, augmentation=None, shuffle=True, seed=0, workers=None, batch_size=None,
                on_error="skip", rank=0, processes=1):
    """The C++ loader over a prepared Dataset: images resized for the network, augmented, with
    targets; batches of config.BATCH_SIZE (IMAGES_PER_GPU for each of several processes, which
    share the sample stream by rank). Built-in datasets load without Python; subclasses have
    their load_image / load_mask called from the worker threads."""
    if not hasattr(dataset, "image_ids") or len(dataset.image_ids) == 0:
        raise ValueError("the dataset has no images (did you call dataset.prepare()?)")
    options, hook = to_loader_options(augmentation)
    if workers is None:
        workers = max(1, min(4, (os.cpu_count() or 2) // 2))
    if on_error not in ("skip", "raise"):
        raise ValueError("on_error must be 'skip' or 'raise', got %r" % (on_error,))
    if batch_size is None:
        batch_size = config.IMAGES_PER_GPU if processes > 1 else config.BATCH_SIZE
    opts = _C.train.LoaderOptions(batch_size=int(batch_size), shuffle=bool(shuffle), seed=int(seed),
                                  workers=int(workers), skip_bad=on_error == "skip", rank=int(rank),
                                  processes=int(processes))
    if options is not None:
        opts.augment = options
    records = _native_records(dataset)
    class_map = dataset.class_from_source_map if records is not None else {}
    return _C.train.Loader(dataset, [int(i) for i in dataset.image_ids], records, class_map, config.to_model_json(),
                           opts, hook)


CHECKPOINT_FORMAT = _C.model.CHECKPOINT_FORMAT  # the "format" entry of the checkpoints written now


def checkpoint_config(state, path="checkpoint"):
    """The Config fields (a dict) saved in one of our checkpoints (as read_torch_file returns it),
    in the current meaning of each field (files of earlier formats are upgraded); None when
    `state` is not one of our checkpoints. A format this version does not read raises ValueError
    naming `path`, the format and the formats read here."""
    if not isinstance(state, dict):
        return None
    own = _own_state_dict(state)
    if own is not None:
        state = own
    if not isinstance(state.get("format", ""), str):
        return None
    try:
        version = _C.model.checkpoint_format_version(state.get("format", ""))
    except ValueError as e:
        raise ValueError("%s: %s" % (path, e)) from None
    if not version:
        return None
    return json.loads(_C.model.upgrade_config_json(state.get("config") or "{}", version))


def _own_state_dict(state):
    """A torch.save'd model.net.state_dict() of ours (its _metadata names the format and the Config)
    as a checkpoint dict of the same format without epoch, class names or optimizer; else None."""
    mine = (getattr(state, "_metadata", None) or {}).get("mrcnn")
    if not isinstance(mine, dict) or not isinstance(mine.get("format"), str):
        return None
    return {"format": mine["format"], "config": str(mine.get("config") or "{}"), "weights": _tensors(state)}


def check_weight_values(weights, path):
    """Refuses weights a network cannot compute with: tensors that are not floating point (a file cast
    to int64 or bool) and tensors holding NaN or infinite values, naming them and the file.
    BatchNorm's num_batches_tracked counters are integers by design."""
    def listed(names):
        return ", ".join(names[:6]) + (", ... (%d in all)" % len(names) if len(names) > 6 else "")

    wrong = ["%s (%s)" % (k, str(v.dtype).replace("torch.", "")) for k, v in weights.items()
             if not k.endswith("num_batches_tracked") and not (v.is_floating_point() or v.is_complex())]
    if wrong:
        raise ValueError("%s: weights must be floating point, but %d tensors are not: %s"
                         % (path, len(wrong), listed(wrong)))
    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError("%s: %d weight tensors hold NaN or infinite values: %s (a run that diverged, or a file "
                         "damaged on the way)" % (path, len(bad), listed(bad)))


def read_torch_file(path):
    """Reads a torch.save'd file (our checkpoints, torchvision's) with torch.load's safe
    weights_only unpickler, the default since torch 2.6: nothing in the file is executed.

    Our checkpoints hold only dicts, lists, strings, numbers and tensors. Files written by earlier
    versions of mrcnn also tag their containers with torch.jit._pickle's type-tag functions, which
    return their argument unchanged; those few functions are allowed, nothing else.
    """
    path = str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as first:  # noqa: BLE001 (pickle, zip and OS errors all mean "not readable")
        if "torch.jit._pickle" not in str(first):
            raise ValueError("%s: not a readable torch checkpoint (%s)" % (path, first)) from None
    import torch.jit._pickle as tags
    allowed = [tags.restore_type_tag, tags.build_intlist, tags.build_doublelist, tags.build_boollist,
               tags.build_tensorlist]
    try:
        if hasattr(torch.serialization, "safe_globals"):  # torch >= 2.5
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        torch.serialization.add_safe_globals(allowed)  # torch 2.4
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ValueError("%s: not a readable torch checkpoint (%s)" % (path, e)) from None


def _tensors(d):
    return {k: v for k, v in d.items() if isinstance(v, torch.Tensor)}


def weights_architecture(keys):
    """The Config.ARCHITECTURE a torchvision Mask R-CNN state_dict was saved from, read from its
    layer names: "v2" (maskrcnn_resnet50_fpn_v2: convs in the box head, a second RPN conv,
    BatchNorm in the FPN) or "v1"."""
    return _C.model.weights_architecture([str(k) for k in keys])


class LoadReport(dict):
    """What load_weights did: loaded, missing, unexpected, mismatched and excluded key lists (and
    "keras" for .h5 files). Shown as one line, so a notebook cell ending with load_weights stays
    readable; the lists are there for code."""

    def __init__(self, report, path):
        super().__init__(report)
        self.path = path

    def __repr__(self):
        return ("Loading weights from %s: %d loaded, %d missing, %d unexpected, %d shape mismatches skipped, "
                "%d excluded" % (self.path, len(self["loaded"]), len(self["missing"]), len(self["unexpected"]),
                                 len(self["mismatched"]), len(self["excluded"])))

    __str__ = __repr__


class _Weight:
    """One weight tensor of a layer listed by get_trainable_layers: name (ours) and shape."""

    def __init__(self, name, tensor):
        self.name, self.shape, self._tensor = name, tuple(tensor.shape), tensor

    def numpy(self):
        return self._tensor.detach().float().cpu().numpy()

    def __repr__(self):
        return "<weight %s %s>" % (self.name, self.shape)


class _Layer:
    """A layer with weights, as MaskRCNN.get_trainable_layers lists them."""

    def __init__(self, name, params):
        self.name = name
        self.weights = [_Weight(k, t) for k, t in params]

    def get_weights(self):
        return [w.numpy() for w in self.weights]

    def __repr__(self):
        return "<layer %s: %s>" % (self.name, ", ".join("%s %s" % (w.name, w.shape) for w in self.weights))


class TrainResult(dict):
    """What train() did (epoch reached, interrupted, last checkpoint, per-epoch history), shown as
    one line in a notebook."""

    def __repr__(self):
        last = self.get("history") or [{}]
        losses = ", ".join("%s %.4f" % (k, last[-1][k]) for k in ("loss", "val_loss") if k in last[-1])
        return "Trained to epoch %d%s%s; last checkpoint %s" % (
            self.get("epoch", 0), " (interrupted)" if self.get("interrupted") else "", ": " + losses if losses else "",
            self.get("last_checkpoint") or "none")

    __str__ = __repr__


def _pick_device(device):
    """device, else $MRCNN_DEVICE, else the GPU when torch sees one and the CUDA kernels were built."""
    device = device or os.environ.get("MRCNN_DEVICE") or None
    kernels = dict(_C.build_info()).get("cuda kernels") == "on"
    if device is not None:
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device %r: torch sees no CUDA GPU here" % (str(device),))
        if device.type == "cuda" and not kernels:
            raise ValueError("device %r: this build of mrcnn has no CUDA kernels (rebuild with torch's CUDA and "
                             "nvcc present, or MRCNN_CUDA=1)" % (str(device),))
        return device
    return torch.device("cuda" if torch.cuda.is_available() and kernels else "cpu")


def _check_precision(precision, device):
    """Clear errors for an unknown mixed-precision mode, or one this device cannot run."""
    if precision not in ("off", "bf16", "fp16"):
        raise ValueError("MIXED_PRECISION must be None, 'bf16' or 'fp16', got %r" % (precision,))
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("MIXED_PRECISION='fp16' needs a CUDA device; on CPU use 'bf16'")
    if precision == "bf16" and device.type == "cpu":
        from . import bf16_autocast_supported
        if not bf16_autocast_supported():
            raise ValueError("MIXED_PRECISION='bf16': this CPU has no bf16 arithmetic (torch's bf16 kernels need "
                             "AVX-512 or AMX; it would emulate them about 10x slower than float32): use None (float32)")


class MaskRCNN:
    """Mask R-CNN with Matterport's interface. mode: "training" or "inference"."""

    def __init__(self, mode, config, model_dir, device=None):
        """device: "cpu", "cuda", "cuda:1", ...; by default the GPU when torch sees one and this
        build has the CUDA kernels, else the CPU."""
        if mode not in ("training", "inference"):
            raise ValueError("mode must be 'training' or 'inference', got %r" % (mode,))
        self.mode = mode
        self.config = config
        self.model_dir = str(model_dir)
        self.device = _pick_device(device)
        self._new_net()
        self.epoch = 0
        self.history = []
        self.class_names = None
        self._resume = None  # optimizer state and loader positions of a loaded checkpoint
        self.set_log_dir()

    def _new_net(self):
        self.net = _C.model.MaskRCNN(self.config.to_model_json())
        if self.device.type != "cpu":
            self.net.to(str(self.device))

    # --- files ----------------------------------------------------------------------------------
    @property
    def _name(self):
        return (self.config.NAME or "mrcnn").lower()

    def set_log_dir(self, model_path=None):
        """Sets log_dir (MODEL_DIR/<name><YYYYmmddTHHMM>) and checkpoint_path; a checkpoint path
        of an earlier run continues that run's directory and epoch count."""
        self.epoch = 0 if model_path is None else self.epoch
        now = datetime.datetime.now()
        if model_path:
            m = re.match(r".*[/\\][\w-]+(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})[/\\]mask\_rcnn\_[\w-]+(\d{4})\.(pt|h5)$",
                         str(model_path))
            if m:
                now = datetime.datetime(*[int(m.group(i)) for i in range(1, 6)])
                self.epoch = int(m.group(6))
        self.log_dir = os.path.join(self.model_dir, "{}{:%Y%m%dT%H%M}".format(self._name, now))
        if os.path.dirname(os.path.normpath(self.log_dir)) != os.path.normpath(self.model_dir):
            raise ValueError("Config.NAME %r names the run's folder inside MODEL_DIR (%s): it must not contain a "
                             "path separator or '..'" % (self.config.NAME, self.model_dir))
        # Matterport's attribute: the path pattern of this run's checkpoints, formatted with epoch=
        self.checkpoint_path = os.path.join(self.log_dir, "mask_rcnn_{}_{{epoch:04d}}.pt".format(self._name))

    def save_weights(self, filepath):
        """Writes the network as one of our checkpoints (weights, Config, class names, epoch; written
        atomically), which load_weights, detect from the CLI and a later run read with its Config.
        The Keras name Matterport's notebooks called as model.keras_model.save_weights."""
        filepath = str(filepath)
        folder = os.path.dirname(os.path.abspath(filepath))
        if not os.path.isdir(folder):
            raise FileNotFoundError("save_weights: the folder %s does not exist" % folder)
        _C.model.save_checkpoint(filepath, self.net, [str(n) for n in (self.class_names or [])], int(self.epoch))
        return filepath

    def find_last(self):
        """Path of the last checkpoint of the last run of this model's NAME in model_dir."""
        dirs = sorted(d for d in (os.listdir(self.model_dir) if os.path.isdir(self.model_dir) else [])
                      if d.startswith(self._name) and os.path.isdir(os.path.join(self.model_dir, d)))
        if not dirs:
            import errno
            raise FileNotFoundError(errno.ENOENT, "Could not find model directory under {}".format(self.model_dir))
        import zipfile

        for d in reversed(dirs):
            files = sorted(f for f in os.listdir(os.path.join(self.model_dir, d))
                           if re.match(r"mask_rcnn_.*_\d{4}\.pt$", f))
            # newest first, skipping files that are not complete checkpoints (a copy cut short, an
            # empty file): torch's format is a zip archive whose directory is written last
            for f in reversed(files):
                path = os.path.join(self.model_dir, d, f)
                if zipfile.is_zipfile(path):
                    return path
                logger.warning("find_last: skipping %s, not a complete checkpoint", path)
        import errno
        newest = os.path.join(self.model_dir, dirs[-1])
        # a write killed before its rename (kill -9, a lost machine) leaves <name>.pt.tmp-<pid>; the next
        # checkpoint written there removes it
        partial = sorted(f for f in os.listdir(newest) if re.match(r"mask_rcnn_.*\.pt\.tmp-\d+$", f))
        raise FileNotFoundError(errno.ENOENT, "Could not find weight files in {}{}".format(
            newest, "" if not partial else " (only %s, a checkpoint whose write was interrupted: not usable)"
            % ", ".join(partial)))

    def _exclude_patterns(self, exclude):
        """Matterport layer names (mrcnn_class_logits, mrcnn_bbox_fc, mrcnn_mask, ...) to patterns
        over our keys; other entries are regular expressions over our keys."""
        keys = list(self.net.state_dict())
        out = []
        for e in exclude or []:
            hits = [k for k in keys if self.net.matterport_layer_name(k) == e]
            if hits:
                out.extend("^%s$" % re.escape(k) for k in hits)
            elif e == "mrcnn_bbox":
                continue  # Matterport's reshape layer: no weights
            else:
                out.append(e)
        return out

    def load_weights(self, filepath, by_name=False, exclude=None, verbose=True):
        """Loads a torchvision Mask R-CNN checkpoint ("coco", "coco_v2" (maskrcnn_resnet50_fpn_v2) and
        "imagenet" download torchvision's into torch's hub cache the first time), an ImageNet ResNet, or one of our
        checkpoints (which also restores the epoch and the optimizer state). Weights are matched
        by name; `exclude` lists layers to leave alone (Matterport's names or regexes); layers
        whose shape differs (another class count) are skipped and reported."""
        filepath = str(filepath)
        from . import download
        if filepath in download.detection_weights() + ("imagenet",) and not os.path.exists(filepath):
            # torchvision's COCO Mask R-CNN (v1 or v2) or the ImageNet ResNet of this BACKBONE, from
            # torch's hub cache, downloaded the first time (mrcnn.download.WEIGHTS has the URLs)
            filepath = (self.get_imagenet_weights() if filepath == "imagenet"
                        else download.torchvision_weights(filepath, progress=bool(verbose)))
        if not os.path.exists(filepath):
            raise FileNotFoundError("weights file not found: %s" % filepath)
        if filepath.endswith((".h5", ".hdf5")):
            return self._load_keras_weights(filepath, exclude, verbose)
        patterns = self._exclude_patterns(exclude)
        # one read with torch.load: our checkpoints are dicts of plain values and tensors, torchvision
        # files (state_dict OrderedDicts) and ImageNet ResNets likewise
        state = read_torch_file(filepath)
        state = _own_state_dict(state) or state
        saved = checkpoint_config(state, filepath)
        if saved is not None:
            saved.setdefault("ARCHITECTURE", "v1")  # written before v2 existed
            self._adopt_weight_fields({f: saved[f] for f in Config.WEIGHT_DEPENDENT_FIELDS if f in saved},
                                      filepath, verbose, "an mrcnn checkpoint")
            weights = _tensors(state["weights"])
            check_weight_values(weights, filepath)
            weights = self._match_rpn_anchors(weights, saved.get("RPN_ANCHOR_RATIOS"), filepath)
            report = self.net.load_state_dict(weights, patterns)
            extra = json.loads(state.get("extra") or "{}")
            self.class_names = list(state.get("class_names") or []) or self.class_names
            self._resume = {"optimizer": _tensors(state.get("optimizer") or {}), "extra": extra}
            epoch = int(state.get("epoch", 0))
            self.history = [h for h in self.history if h.get("epoch", 0) <= epoch]
            self.set_log_dir(filepath)
            self.epoch = epoch
        else:
            if isinstance(state, dict):
                for k in ("model", "state_dict", "weights"):
                    if isinstance(state.get(k), dict):
                        state = state[k]
            if not isinstance(state, dict) or not _tensors(state):
                raise ValueError("%s holds no weights (expected a state_dict or an mrcnn checkpoint)" % filepath)
            weights = _tensors(state)
            check_weight_values(weights, filepath)
            self._config_from_torchvision_weights(state, filepath, verbose)
            # torchvision's RPN head: height/width 0.5, 1, 2, i.e. width/height 2, 1, 0.5 in that order
            weights = self._match_rpn_anchors(weights, [2.0, 1.0, 0.5], filepath)
            report = self.net.load_state_dict(weights, patterns)
            self.set_log_dir(filepath)
        report = self._checked_report(LoadReport(report, filepath))
        if verbose:
            print(report)
        return report

    def _checked_report(self, report):
        """An inference model must get every layer from the weights: a missing or mismatched tensor
        would leave a randomly initialised layer behind and give different detections on every run.
        Training may start from partial weights (the report lists what was skipped)."""
        if self.mode != "inference":
            return report
        left = list(report["mismatched"]) + list(report["missing"])
        if left:
            raise ValueError(
                "load_weights(%s): an inference model needs every layer from the weights, but %d tensors were not "
                "loaded (%s%s): the Config does not describe the network these weights were trained with"
                % (report.path, len(left), ", ".join(left[:6]), ", ..." if len(left) > 6 else ""))
        # weights of layers this network does not have (a deeper backbone, say): the network would run
        # without part of what was trained (BatchNorm's counters are not weights)
        extra = [k for k in report["unexpected"] if not k.endswith("num_batches_tracked")]
        if extra:
            raise ValueError(
                "load_weights(%s): the file has %d tensors this inference model has no place for (%s%s): the Config "
                "does not describe the network these weights were trained with"
                % (report.path, len(extra), ", ".join(extra[:6]), ", ..." if len(extra) > 6 else ""))
        return report

    def _match_rpn_anchors(self, weights, file_ratios, filepath):
        """The RPN head's channels reordered from the anchors the file was trained with (width /
        height ratios, in its order) to RPN_ANCHOR_RATIOS' order. The same set in another order is
        the same network; another set is left as it is (with a warning, as the head was trained for
        other anchor shapes)."""
        import warnings

        from .keras_h5 import anchor_order

        if file_ratios is None:
            return weights
        ratios = list(self.config.RPN_ANCHOR_RATIOS)
        order = anchor_order(file_ratios, ratios)
        if order is None:
            warnings.warn("load_weights(%s): the RPN was trained for anchor ratios (width/height) %s, the Config has "
                          "RPN_ANCHOR_RATIOS = %s" % (os.path.basename(filepath), _short(file_ratios), _short(ratios)),
                          stacklevel=3)
            return weights
        if order == list(range(len(order))):
            return weights
        out = dict(weights)
        for key, per in (("rpn.head.cls_logits", 1), ("rpn.head.bbox_pred", 4)):
            for param in ("weight", "bias"):
                t = weights.get("%s.%s" % (key, param))
                if t is not None and t.shape[0] == per * len(order):
                    out["%s.%s" % (key, param)] = t.view(len(order), per, *t.shape[1:])[order].reshape(t.shape)
        return out

    # What torchvision's checkpoints were trained with: its pixel normalisation, RPN box deltas
    # without scaling, and (COCO detection weights, as torchvision loads them) BatchNorm eps 0.
    _TORCHVISION_PIXELS = {"MEAN_PIXEL": [123.675, 116.28, 103.53], "PIXEL_STD": [58.395, 57.12, 57.375]}

    def _config_from_torchvision_weights(self, state, filepath, verbose):
        """Sets the Config fields a torchvision checkpoint (Mask R-CNN or ImageNet ResNet) depends on
        (see _adopt_weight_fields)."""
        keys = [k for k in state if isinstance(k, str)]
        detection = any(k.startswith("backbone.body.") for k in keys)
        prefix = "backbone.body.layer3." if detection else "layer3."
        blocks = {int(k[len(prefix):].split(".")[0]) for k in keys if k.startswith(prefix)}
        depth = {6: "resnet50", 23: "resnet101"}.get(len(blocks))
        if depth is None:
            return  # not a ResNet-50/101 torchvision file: nothing to infer
        wanted = {"BACKBONE": depth, **self._TORCHVISION_PIXELS}
        architecture = weights_architecture(keys)
        if detection:
            # v1's COCO weights were trained with FrozenBatchNorm2d of eps 0; v2's BatchNorm2d has 1e-5
            wanted.update(RPN_BBOX_STD_DEV=[1.0, 1.0, 1.0, 1.0], ARCHITECTURE=architecture,
                          BACKBONE_BN_EPS=1e-5 if architecture == "v2" else 0.0)
        else:
            wanted.update(BACKBONE_BN_EPS=1e-5)
        what = ("Mask R-CNN" + (" v2" if architecture == "v2" else "")) if detection else "ImageNet " + depth
        changes = self._adopt_weight_fields(wanted, filepath, verbose, "torchvision's " + what)
        from . import download
        published = {os.path.basename(url.split("?")[0]) for url in download.WEIGHTS.values()}
        if changes and os.path.basename(filepath) not in published:
            # a plain state_dict with torchvision's layout that is not one of torchvision's files: it may
            # be a notebook's own network saved as a bare dict, which carries no Config to tell
            import warnings
            warnings.warn(
                "load_weights(%s): a plain state_dict, read as %s; set %s. If it was saved from an mrcnn model, "
                "its Config is lost in a bare dict: save with model.save_weights(path) (or torch.save("
                "model.net.state_dict(), path)), which keeps it" % (
                    os.path.basename(filepath), "torchvision's " + what,
                    ", ".join("%s=%s" % (f, _short(v)) for f, v in changes.items())), stacklevel=3)

    def _adopt_weight_fields(self, wanted, filepath, verbose, what):
        """Sets the Config fields the weights were trained with (WEIGHT_DEPENDENT_FIELDS) and rebuilds
        the network when one changes, saying so in one line. A field the notebook set itself keeps
        its value, with a warning naming the value the weights expect. Anchor ratios count as the
        same when they are the same set (the RPN head is reordered to match)."""
        import warnings

        cfg, base = self.config, Config

        def explicit(field):
            return field in vars(cfg) or any(field in vars(k) for k in type(cfg).__mro__
                                             if k is not base and issubclass(k, base))

        if "ARCHITECTURE" in wanted and wanted["ARCHITECTURE"] != cfg.ARCHITECTURE and explicit("ARCHITECTURE"):
            # not a numeric detail: the layers of one architecture do not fit the other
            raise ValueError(
                "load_weights(%s): the file holds %s with ARCHITECTURE %r, but the Config sets ARCHITECTURE = %r. "
                "Leave ARCHITECTURE unset to take the file's, or load weights of the %r architecture "
                "(\"coco\" is v1, \"coco_v2\" is v2)" % (os.path.basename(filepath), what, wanted["ARCHITECTURE"],
                                                        cfg.ARCHITECTURE, cfg.ARCHITECTURE))
        changed, kept, changes = [], [], {}
        for field, value in wanted.items():
            current = getattr(cfg, field)
            if isinstance(value, str) or isinstance(current, str):
                same = current == value
            elif field == "RPN_ANCHOR_RATIOS":
                from .keras_h5 import anchor_order
                same = anchor_order(value, current) is not None
            else:
                a, b = np.asarray(current, float).reshape(-1), np.asarray(value, float).reshape(-1)
                same = a.shape == b.shape and np.allclose(a, b)
            if same:
                continue
            if explicit(field):
                kept.append("%s=%s (the weights expect %s)" % (field, _short(current), _short(value)))
            else:
                setattr(cfg, field, np.array(value) if isinstance(value, list) and field.endswith("STD_DEV")
                        or field in ("MEAN_PIXEL", "PIXEL_STD") else value)
                changed.append("%s=%s" % (field, _short(value)))
                changes[field] = value
        if kept:
            warnings.warn("load_weights(%s): kept the Config's own %s" % (os.path.basename(filepath), "; ".join(kept)),
                          stacklevel=4)
        if changed:
            self._new_net()
            if verbose:
                print("load_weights: %s is %s; set %s" % (os.path.basename(filepath), what, ", ".join(changed)))
        return changes

    def _load_keras_weights(self, filepath, exclude, verbose):
        """Matterport's Keras weights (see mrcnn.keras_h5): the network is rebuilt with Matterport's
        stride placement and RPN width first when the config differs."""
        from . import keras_h5

        weights = keras_h5.read_keras_h5(filepath)
        arch = keras_h5.architecture_from_keras(weights)
        cfg = self.config
        # Matterport's ResNet (stride in the first 1x1 conv), its RPN width and its depth; a BACKBONE
        # the notebook chose itself is kept (with a warning) and takes the layers both have, by name
        wanted = {"ARCHITECTURE": "v1", "STRIDE_IN_1X1": True}
        hidden = arch.get("RPN_HEAD_CHANNELS")
        if hidden and hidden != (cfg.RPN_HEAD_CHANNELS or cfg.TOP_DOWN_PYRAMID_SIZE):
            wanted["RPN_HEAD_CHANNELS"] = hidden
        if isinstance(cfg.BACKBONE, str):
            wanted["BACKBONE"] = arch["BACKBONE"]
        changes = self._adopt_weight_fields(wanted, filepath, verbose, "Matterport's Keras weights")
        state, conversion = keras_h5.keras_to_state_dict(
            weights, {k: v.cpu() for k, v in self.net.state_dict().items()}, cfg, self.net.matterport_layer_name)
        report = LoadReport(self.net.load_state_dict(state, self._exclude_patterns(exclude)), filepath)
        report["keras"] = conversion
        report["config_changes"] = changes
        self.set_log_dir(filepath)
        if verbose:
            print(keras_h5.format_report(conversion, filepath))
        report = self._checked_report(report)
        if verbose:
            print(report)
        return report

    def get_imagenet_weights(self):
        """Path of torchvision's ImageNet ResNet weights for this BACKBONE in torch's hub cache,
        downloaded (hash-checked) the first time."""
        from . import download

        backbone = self.config.BACKBONE if isinstance(self.config.BACKBONE, str) else "resnet101"
        return download.torchvision_weights("imagenet_" + backbone)

    # --- training -------------------------------------------------------------------------------
    def train(self, train_dataset, val_dataset, learning_rate, epochs, layers, augmentation=None,
              custom_callbacks=None, no_augmentation_sources=None, workers=None, seed=None, deterministic=False,
              schedule="constant", warmup_steps=0, verbose=1, mixed_precision=None, loss_scale=None,
              on_error="skip"):
        """Trains from the current epoch up to `epochs` (cumulative, as Matterport). layers:
        "heads", "3+", "4+", "5+", "all" or a regular expression (our names or Matterport's).
        Checkpoints: log_dir/mask_rcnn_<name>_<epoch:04d>.pt after each epoch; metrics in
        log_dir/metrics.jsonl; loss curves in log_dir/loss_curves.png. Ctrl-C saves the state
        to log_dir/mask_rcnn_<name>_interrupted.pt and returns.

        mixed_precision: "bf16" or "fp16" runs the forward pass and losses under autocast
        (default: config.MIXED_PRECISION; None is float32); fp16 needs CUDA and scales the loss
        dynamically (loss_scale: the starting scale, 65536 by default; 0 turns scaling off).

        on_error: an image or mask that fails to load (a corrupt file, a broken polygon) is reported
        naming it and skipped ("skip"), or stops training with that error ("raise").

        Several processes (started by torchrun, or by this call when config.GPU_COUNT > 1) train
        one model together: see mrcnn.distributed."""
        if self.mode != "training":
            raise RuntimeError("Create model in training mode.")
        if no_augmentation_sources:
            raise ValueError("no_augmentation_sources is not supported; use separate datasets")
        cfg = self.config
        if int(cfg.GPU_COUNT) > 1 and not distributed.launched():
            from . import launcher
            return launcher.train_in_processes(
                self, int(cfg.GPU_COUNT), train_dataset, val_dataset, learning_rate, epochs, layers,
                augmentation=augmentation, custom_callbacks=custom_callbacks, workers=workers, seed=seed,
                deterministic=deterministic, schedule=schedule, warmup_steps=warmup_steps, verbose=verbose,
                mixed_precision=mixed_precision, loss_scale=loss_scale, on_error=on_error)
        group = distributed.process_group(self.device)
        rank, processes = (group.rank(), group.size()) if group is not None else (0, 1)
        if group is not None:
            device = distributed.local_device(self.device)
            if device != torch.device(self.device):
                self.net.to(str(device))
                self.device = device
            if seed is None:  # one seed for all: the processes share one sample stream
                seed = int(distributed.broadcast_seed(group))
            # one run directory: rank 0's (each process named its own from its clock)
            self.log_dir, self.checkpoint_path = distributed.broadcast_objects(
                group, [self.log_dir, self.checkpoint_path])
            verbose = verbose if rank == 0 else 0
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 63)) if not deterministic else 0
        resume = self._resume or {}
        extra = resume.get("extra", {})
        train_loader = make_loader(train_dataset, cfg, augmentation, True, seed, workers, on_error=on_error,
                                   rank=rank, processes=processes)
        val_loader = (make_loader(val_dataset, cfg, None, True, seed + 1, workers, on_error=on_error,
                                  rank=rank, processes=processes)
                      if val_dataset is not None else None)
        if extra.get("epoch") == self.epoch:  # continuing a checkpointed run: same samples next
            train_loader.seek(int(extra.get("train_position", 0)))
            if val_loader is not None:
                val_loader.seek(int(extra.get("val_position", 0)))
        os.makedirs(self.log_dir, exist_ok=True)
        class_names = list(getattr(train_dataset, "class_names", []) or [])
        self.class_names = class_names or self.class_names
        options = _C.train.TrainOptions(
            learning_rate=float(learning_rate), momentum=float(cfg.LEARNING_MOMENTUM),
            weight_decay=float(cfg.WEIGHT_DECAY), clip_norm=float(cfg.GRADIENT_CLIP_NORM or 0),
            loss_weights={k: float(v) for k, v in dict(cfg.LOSS_WEIGHTS).items()}, layers=str(layers),
            steps_per_epoch=int(cfg.STEPS_PER_EPOCH), validation_steps=int(cfg.VALIDATION_STEPS),
            log_dir=self.log_dir, checkpoint_prefix="mask_rcnn_" + self._name, seed=int(seed),
            deterministic=bool(deterministic), class_names=class_names, schedule=schedule,
            warmup_steps=int(warmup_steps))
        precision = mixed_precision or getattr(cfg, "MIXED_PRECISION", None) or "off"
        _check_precision(precision, self.device)
        options.mixed_precision = str(precision)
        if loss_scale is None:
            loss_scale = 65536.0 if precision == "fp16" else 0.0
        options.loss_scale = float(loss_scale)
        current = os.path.join(self.log_dir, "mask_rcnn_%s_%04d.pt" % (self._name, self.epoch))
        if self.epoch and os.path.exists(current):
            options.last_checkpoint = current
        trainer = _C.train.Trainer(self.net, options)
        if resume.get("optimizer") and extra.get("layers") == str(layers):
            trainer.load_optimizer_state(resume["optimizer"])
        if group is not None:
            trainer.distribute(group)
        self._resume = None
        if verbose:
            print("\nStarting at epoch {}. LR={}\n".format(self.epoch, learning_rate))
            print("Checkpoint Path: {}".format(self.checkpoint_path))
            print("Training %d parameter tensors (layers=%r)" % (len(trainer.trainable), layers))
        return self._fit(trainer, train_loader, val_loader, epochs, custom_callbacks or [], verbose)

    def _fit(self, trainer, train_loader, val_loader, epochs, callbacks, verbose):
        from tqdm.auto import tqdm

        steps = int(self.config.STEPS_PER_EPOCH)
        bar = [None]
        writer = _tensorboard_writer(self.log_dir) if trainer.rank == 0 else None
        if trainer.rank != 0:
            callbacks = []  # the user's callbacks, pictures and logs: rank 0's
        progress = None
        if trainer.processes > 1:
            progress = distributed.Progress(distributed.process_group(self.device))

        def on_step(epoch, step, metrics):
            if progress is not None:
                progress.finished(epoch, step)
            for w in train_loader.take_warnings() + (val_loader.take_warnings() if val_loader else []):
                logger.warning("%s", w)
            if verbose:
                if bar[0] is None:
                    bar[0] = tqdm(total=steps, desc="Epoch %d/%d" % (epoch, epochs), leave=True)
                bar[0].update(1)
                bar[0].set_postfix({k: "%.4f" % metrics[k] for k in ["loss"] + LOSS_NAMES}, refresh=False)
            for cb in callbacks:  # Keras-style callbacks may watch batches too
                if hasattr(cb, "on_batch_end"):
                    cb.on_batch_end(step - 1, dict(metrics))
            if writer is not None:
                g = (epoch - 1) * steps + step
                for k, v in metrics.items():
                    writer.add_scalar("step/" + k, v, g)
            return True

        def on_epoch(epoch, metrics, path):
            if bar[0] is not None:
                bar[0].set_postfix({k: "%.4f" % v for k, v in metrics.items() if k == "loss" or k == "val_loss"})
                bar[0].close()
                bar[0] = None
            self.epoch = epoch
            row = dict(metrics, epoch=epoch, checkpoint=path)
            self.history.append(row)
            if writer is not None:
                for k, v in metrics.items():
                    writer.add_scalar("epoch/" + k, v, epoch)
                writer.flush()
            try:
                if trainer.rank == 0:
                    self.plot_losses(os.path.join(self.log_dir, "loss_curves.png"), show=False)
            except Exception as e:  # a picture must not stop training
                logger.warning("loss curve not written: %s", e)
            go_on = True
            for cb in callbacks:
                fn = getattr(cb, "on_epoch_end", cb)
                if not callable(fn):
                    continue
                if fn(epoch - 1 if hasattr(cb, "on_epoch_end") else epoch, dict(metrics)) is False:
                    go_on = False
            return go_on

        on_batch = progress.loaded if progress is not None else None
        stop = [False]
        previous_handler = None
        if progress is not None:
            # Ctrl-C reaches every process (torchrun forwards it): it only asks to stop, and the
            # processes stop together after the step (rank 0 saves the state) instead of one leaving
            # the others waiting in a collective. The launcher's later SIGTERM still ends them.
            import signal
            import threading

            def stopping(fn, value_when_stopping):
                def call(*args):
                    value = fn(*args)
                    return value_when_stopping if stop[0] else value
                return call

            on_step, on_epoch = stopping(on_step, False), stopping(on_epoch, False)
            if threading.current_thread() is threading.main_thread():
                previous_handler = signal.signal(signal.SIGINT, lambda signum, frame: stop.__setitem__(0, True))
        result = None
        try:
            try:
                result = trainer.fit(train_loader, val_loader, int(self.epoch), int(epochs), on_step, on_epoch,
                                     on_batch)
                if stop[0]:
                    raise KeyboardInterrupt
            except RuntimeError as e:
                if progress is not None and distributed.is_peer_failure(e):
                    raise progress.failure(e) from e
                raise
        except KeyboardInterrupt:
            if bar[0] is not None:
                bar[0].close()
            path = os.path.join(self.log_dir, "mask_rcnn_%s_interrupted.pt" % self._name)
            if result is not None and result["last_checkpoint"]:
                # stopped together: mid-epoch the state went to the _interrupted file, at the end of an
                # epoch to that epoch's checkpoint
                path = result["last_checkpoint"]
                self.epoch = result["epoch"]
            if trainer.rank == 0:
                print("Interrupted: the state is saved in %s; training stopped after epoch %d" % (path, self.epoch))
            return None
        finally:
            if previous_handler is not None:
                import signal
                signal.signal(signal.SIGINT, previous_handler)
            if bar[0] is not None:
                bar[0].close()
            if writer is not None:
                writer.close()
            skipped = train_loader.skipped_bad + (val_loader.skipped_bad if val_loader else 0)
            if skipped:
                logger.warning("%d samples could not be loaded and were skipped", skipped)
        self.epoch = result["epoch"]
        return TrainResult(result)

    def plot_losses(self, path=None, show=True):
        """Training and validation losses per epoch (each loss and the total); saved to `path`
        as PNG and shown inline when `show`."""
        if show:
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=(13, 7))
        else:  # no pyplot: safe in worker code and without a display
            from matplotlib.figure import Figure
            fig = Figure(figsize=(13, 7))
        if not self.history:
            raise ValueError("plot_losses: no epoch has been trained yet")
        epochs = [h["epoch"] for h in self.history]
        for i, name in enumerate(["loss"] + LOSS_NAMES):
            ax = fig.add_subplot(2, 3, i + 1)
            ax.plot(epochs, [h.get(name, np.nan) for h in self.history], "o-", label="train")
            if any("val_" + name in h for h in self.history):
                ax.plot(epochs, [h.get("val_" + name, np.nan) for h in self.history], "o-", label="val")
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.legend()
        fig.tight_layout()
        if path:
            fig.savefig(path, dpi=80)
        if show:
            plt.show()
            plt.close(fig)
        return path

    # --- inference ------------------------------------------------------------------------------
    def detect(self, images, verbose=0, mask_format="bool"):
        """Detections for a list of RGB images (any number, any sizes), one dict per image:
        rois int32 [N, 4] (y1, x1, y2, x2), class_ids int32 [N], scores float32 [N] (decreasing),
        masks bool [H, W, N]; with mask_format="rle", masks is a list of N COCO RLEs (dicts with
        size and counts), which takes far less memory on large images."""
        if mask_format not in ("bool", "rle"):
            raise ValueError("detect: mask_format must be 'bool' or 'rle', got %r" % (mask_format,))
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        tensors = []
        from .utils import as_rgb_uint8

        for i, image in enumerate(images):
            a = as_rgb_uint8(image, "detect: image %d" % i)  # the same rule as training's load_image
            tensors.append(torch.from_numpy(a).permute(2, 0, 1))
            if verbose:
                log("image", a)
        return self._detect_tensors(tensors, mask_format)

    def _detect_tensors(self, tensors, mask_format="bool"):
        from . import cocomask

        self.net.eval()
        threshold = float(self.config.DETECTION_MASK_THRESHOLD)
        precision = getattr(self.config, "MIXED_PRECISION", None) or "off"
        _check_precision(precision, self.device)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        results = []
        batch = max(1, int(self.config.BATCH_SIZE))
        for start in range(0, len(tensors), batch):
            # autocast state is thread-local: the C++ forward on this thread runs under it
            with torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                dets = self.net.detect([t.to(self.device) for t in tensors[start:start + batch]], threshold)
            for (h, w), d in zip([t.shape[1:] for t in tensors[start:start + batch]], dets):
                d = {k: v.cpu() for k, v in d.items()}
                boxes = d["boxes"].numpy()
                rois = np.round(boxes[:, [1, 0, 3, 2]]).astype(np.int32) if len(boxes) else np.zeros((0, 4), np.int32)
                masks = d["masks"].numpy()  # [N, H, W]
                if mask_format == "rle":
                    # [N, W, H] in C order is [H, W, N] in Fortran order, the layout RLE encoding reads
                    out_masks = cocomask.encode(np.ascontiguousarray(masks.transpose(0, 2, 1)).T.view(np.uint8)) \
                        if len(masks) else []
                else:
                    out_masks = np.ascontiguousarray(masks.transpose(1, 2, 0)) if len(masks) else \
                        np.zeros((int(h), int(w), 0), dtype=bool)
                results.append({
                    "rois": rois,
                    "class_ids": d["labels"].numpy().astype(np.int32),
                    "scores": d["scores"].numpy().astype(np.float32),
                    "masks": out_masks,
                })
        return results

    def mold_inputs(self, images):
        """Matterport's mold_inputs: (molded_images float32 [N, H, W, 3], image_metas [N, size],
        windows int32 [N, 4]) -- each image resized and padded per IMAGE_RESIZE_MODE, minus the
        mean pixel. Images must mold to one shape (square mode always does)."""
        from . import utils

        cfg = self.config
        molded, metas, windows = [], [], []
        for image in images:
            m, window, scale, _, _ = utils.resize_image(
                np.asarray(image), min_dim=cfg.IMAGE_MIN_DIM, min_scale=cfg.IMAGE_MIN_SCALE,
                max_dim=cfg.IMAGE_MAX_DIM, mode=cfg.IMAGE_RESIZE_MODE)
            molded.append(mold_image(m, cfg))
            windows.append(window)
            metas.append(compose_image_meta(0, np.asarray(image).shape, m.shape, window, scale,
                                            np.zeros([cfg.NUM_CLASSES], dtype=np.int32)))
        if len({m.shape for m in molded}) > 1:
            raise ValueError("mold_inputs: the images mold to different shapes %s (IMAGE_RESIZE_MODE=%r); mold "
                             "them one at a time or use square mode" % (sorted({m.shape for m in molded}),
                                                                         cfg.IMAGE_RESIZE_MODE))
        return np.stack(molded), np.stack(metas), np.array(windows, dtype=np.int32)

    def unmold_detections(self, detections, mrcnn_mask, original_image_shape, image_shape, window):
        """Matterport's unmold_detections: detections [N, 6] (y1, x1, y2, x2 normalised to the
        molded image, class_id, score; zero rows pad the end) and mrcnn_mask [N, h, w, classes]
        mapped to the original image: (boxes int32 [n, 4], class_ids, scores, masks bool [H, W, n])."""
        from . import utils

        detections = np.asarray(detections)
        zero = np.where(detections[:, 4] == 0)[0]
        n = zero[0] if zero.shape[0] > 0 else detections.shape[0]
        boxes = detections[:n, :4]
        class_ids = detections[:n, 4].astype(np.int32)
        scores = detections[:n, 5]
        masks = np.asarray(mrcnn_mask)[np.arange(n), :, :, class_ids]
        wy1, wx1, wy2, wx2 = utils.norm_boxes(np.asarray(window)[None], image_shape[:2])[0]
        wh, ww = wy2 - wy1, wx2 - wx1
        boxes = np.divide(boxes - np.array([wy1, wx1, wy1, wx1]), np.array([wh, ww, wh, ww]))
        boxes = utils.denorm_boxes(boxes, original_image_shape[:2])
        keep = np.where((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) > 0)[0]
        boxes, class_ids, scores, masks = boxes[keep], class_ids[keep], scores[keep], masks[keep]
        full = [utils.unmold_mask(masks[i], boxes[i], original_image_shape) for i in range(len(keep))]
        full = np.stack(full, axis=-1) if full else np.zeros(tuple(original_image_shape[:2]) + (0,), dtype=bool)
        return boxes, class_ids, scores, full

    def detect_molded(self, molded_images, image_metas, verbose=0, mask_format="bool"):
        """Detection on images already molded (mold_inputs / load_image_gt + mold_image); the
        results are in molded-image pixels, as in Matterport."""
        molded_images = np.asarray(molded_images, np.float32)
        if molded_images.ndim != 4 or molded_images.shape[3] != 3:
            raise ValueError("detect_molded: molded_images must be [N, H, W, 3], got %s" % (molded_images.shape,))
        if len(image_metas) != len(molded_images):
            raise ValueError("detect_molded: %d images but %d image metas" % (len(molded_images), len(image_metas)))
        from .utils import as_rgb_uint8

        std = np.asarray(getattr(self.config, "PIXEL_STD", 1.0), np.float32)
        tensors = []
        for i, m in enumerate(molded_images):
            # unmolded to 0..255 and given to the network as detect's images are, by the same pixel rule
            # (NaN or infinite pixels, or values outside 0..255, raise naming the image)
            pixels = m * std + np.asarray(self.config.MEAN_PIXEL, np.float32)
            if np.isfinite(pixels).all():
                pixels = np.rint(pixels).astype(np.int64)
            a = as_rgb_uint8(pixels, "detect_molded: molded image %d" % i)
            tensors.append(torch.from_numpy(a).permute(2, 0, 1))
            if verbose:
                log("molded_images", m)
        return self._detect_tensors(tensors, mask_format)

    def get_anchors(self, image_shape):
        """Matterport's anchors for an input shape: (y1, x1, y2, x2) normalised, FPN level by level.
        The network's own (model.net.anchors) have the same centres and shapes, rounded to whole
        pixels as torchvision's are."""
        from . import utils

        cfg = self.config
        shapes = compute_backbone_shapes(cfg, image_shape)
        anchors = utils.generate_pyramid_anchors(cfg.RPN_ANCHOR_SCALES, cfg.RPN_ANCHOR_RATIOS, shapes,
                                                 cfg.BACKBONE_STRIDES, cfg.RPN_ANCHOR_STRIDE)
        self.anchors = anchors  # pixel coordinates, as Matterport keeps them for the inspect notebooks
        return utils.norm_boxes(anchors, image_shape[:2])

    def get_trainable_layers(self):
        """Matterport's list of the layers that have weights, named as Matterport names them
        ("conv1", "res2a_branch2a", "fpn_c5p5", "rpn_conv_shared", "mrcnn_mask_deconv", ...; a layer
        of ours with no counterpart keeps its module name). Each has .name, .weights (each with
        .name and .shape) and get_weights() (numpy arrays), as the Keras layers had."""
        groups = {}
        for key, tensor in self.net.named_parameters():
            layer = self.net.matterport_layer_name(key) or key.rsplit(".", 1)[0]
            groups.setdefault(layer, []).append((key, tensor))
        return [_Layer(name, params) for name, params in groups.items()]

    # Keras internals of Matterport's class, and what to use instead
    _KERAS_ONLY = {
        "keras_model": "the network is model.net (C++); its weights are model.net.state_dict(); "
                       "model.save_weights(path) writes them with the Config, as load_weights reads them",
        "run_graph": "model.net.stages([image tensor]) returns each inference stage's output and time",
        "ancestor": "the network is C++; inspect it with model.net.state_dict() or model.net.stages()",
        "find_trainable_layer": "layers are chosen by name with train(layers=...) (regexes over our names or "
                                "Matterport's layer names)",
        "set_trainable": "pass layers='heads' / '3+' / '4+' / '5+' / 'all' or a regex to train()",
        "compile": "train() builds its own optimizer (SGD with LEARNING_MOMENTUM and WEIGHT_DECAY)",
        "build": "the network is built by MaskRCNN(mode, config, model_dir)",
    }

    def __getattr__(self, name):
        hint = MaskRCNN._KERAS_ONLY.get(name)
        if hint is not None:
            raise AttributeError("MaskRCNN.%s is part of Matterport's Keras implementation and does not exist "
                                 "here: %s" % (name, hint))
        raise AttributeError("'MaskRCNN' object has no attribute %r" % (name,))


def _tensorboard_writer(log_dir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed
        return None
    return SummaryWriter(log_dir)


# ---------------------------------------------------------------------------------------------
# Matterport's module functions: molding images, image meta, ground truth of one image
# ---------------------------------------------------------------------------------------------

def mold_image(images, config):
    """Network-ready float32 pixels: the RGB image(s) minus MEAN_PIXEL (and divided by PIXEL_STD,
    1 by default as in Matterport)."""
    std = np.asarray(getattr(config, "PIXEL_STD", 1.0), np.float32)
    return (np.asarray(images, np.float32) - np.asarray(config.MEAN_PIXEL, np.float32)) / std


def unmold_image(normalized_images, config):
    """The inverse of mold_image, as uint8 RGB."""
    std = np.asarray(getattr(config, "PIXEL_STD", 1.0), np.float32)
    x = np.asarray(normalized_images, np.float32) * std + np.asarray(config.MEAN_PIXEL, np.float32)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def compose_image_meta(image_id, original_image_shape, image_shape, window, scale, active_class_ids):
    """One image's attributes as a 1-D float array (Matterport's layout): id, original shape (3),
    molded shape (3), window (y1, x1, y2, x2) in molded pixels (4), scale, then one 0/1 flag per
    class of the dataset the image comes from."""
    return np.array([image_id] + list(original_image_shape) + list(image_shape) + list(window) + [scale]
                    + list(active_class_ids), dtype=np.float64)


def parse_image_meta(meta):
    """Splits image meta [batch, size] (or [size]) back into its named parts."""
    meta = np.asarray(meta)
    if meta.shape[-1] < 12:
        raise ValueError("parse_image_meta: image meta has %d values, needs at least 12" % meta.shape[-1])
    return {
        "image_id": meta[..., 0].astype(np.int32),
        "original_image_shape": meta[..., 1:4].astype(np.int32),
        "image_shape": meta[..., 4:7].astype(np.int32),
        "window": meta[..., 7:11].astype(np.int32),
        "scale": meta[..., 11].astype(np.float32),
        "active_class_ids": meta[..., 12:].astype(np.int32),
    }


def parse_image_meta_graph(meta):
    """Matterport's graph version of parse_image_meta; here the same numpy function."""
    return parse_image_meta(meta)


def compute_backbone_shapes(config, image_shape):
    """[[h, w], ...] of the feature maps P2..P6 for an input of image_shape (BACKBONE_STRIDES)."""
    return np.array([[int(np.ceil(image_shape[0] / s)), int(np.ceil(image_shape[1] / s))]
                     for s in config.BACKBONE_STRIDES])


def _active_class_ids(dataset, image_id, num_classes):
    active = np.zeros([num_classes], dtype=np.int32)
    source = dataset.image_info[image_id]["source"]
    ids = getattr(dataset, "source_class_ids", {}).get(source)
    active[ids if ids else slice(None)] = 1
    return active


def load_image_gt(dataset, config, image_id, augment=False, augmentation=None, use_mini_mask=False):
    """Ground truth of one image as the network sees it (Matterport's load_image_gt):

    returns image uint8 [H, W, 3] resized and padded per IMAGE_RESIZE_MODE, image_meta,
    class_ids int32 [N], bbox int32 [N, 4] (y1, x1, y2, x2) and mask bool [H, W, N] (or
    MINI_MASK_SHAPE crops when use_mini_mask, False by default as in Matterport, so the masks
    compare with detect()'s in utils.compute_ap). augment=True flips
    left-right half the time; augmentation may be an imgaug augmenter or a callable
    (image, masks, seed) -> (image, masks). Instances left empty by resizing are dropped.
    """
    from . import utils
    from .augment import Augmentation, _imgaug_hook, _is_imgaug

    image = utils.as_rgb_uint8(dataset.load_image(image_id), "load_image(%s)" % image_id)
    mask, class_ids = dataset.load_mask(image_id)
    if mask.ndim != 3 or mask.shape[:2] != image.shape[:2] or mask.shape[2] != len(class_ids):
        raise ValueError("load_image_gt: image %s (%s) is %s but load_mask gave masks %s and %d class ids"
                         % (image_id, dataset.image_reference(image_id), image.shape[:2], mask.shape, len(class_ids)))
    original_shape = image.shape
    mode = config.IMAGE_RESIZE_MODE
    image, window, scale, padding, crop = utils.resize_image(
        image, min_dim=config.IMAGE_MIN_DIM, min_scale=config.IMAGE_MIN_SCALE, max_dim=config.IMAGE_MAX_DIM,
        mode=mode)
    mask = utils.resize_mask(mask, scale, padding, crop)
    if augment and np.random.randint(2):
        image, mask = np.fliplr(image), np.fliplr(mask)
    if augmentation is not None:
        if isinstance(augmentation, (Augmentation, dict)):
            raise TypeError("load_image_gt applies imgaug augmenters and callables; mrcnn.augment.Augmentation "
                            "runs in the training loader (see mrcnn.model.make_loader(...).prepare)")
        hook = _imgaug_hook(augmentation) if _is_imgaug(augmentation) else augmentation
        shape = image.shape
        image, mask = hook(np.ascontiguousarray(image), np.ascontiguousarray(mask), np.random.randint(2 ** 31))
        if image.shape != shape:
            raise ValueError("load_image_gt: augmentation changed the image shape from %s to %s" % (shape, image.shape))
        mask = np.asarray(mask).astype(bool)
    keep = np.any(mask, axis=(0, 1))
    mask, class_ids = mask[:, :, keep], np.asarray(class_ids)[keep].astype(np.int32)
    bbox = utils.extract_bboxes(mask)
    active = _active_class_ids(dataset, image_id, int(dataset.num_classes))
    if use_mini_mask:
        mask = utils.minimize_mask(bbox, mask, config.MINI_MASK_SHAPE)
    meta = compose_image_meta(image_id, original_shape, image.shape, window, scale, active)
    return np.ascontiguousarray(image), meta, class_ids, bbox, mask


def _short(value):
    """A config value as a short string for messages."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[%s]" % ", ".join("%g" % float(v) for v in np.asarray(value).reshape(-1))
    return str(value)


def build_rpn_targets(image_shape, anchors, gt_class_ids, gt_boxes, config):
    """Matterport's RPN targets for one image, in numpy (for inspection; training builds its own
    in C++). anchors and gt_boxes are [N, (y1, x1, y2, x2)] pixels; negative class ids mark crowds.

    Returns rpn_match int32 [A] (1 positive, -1 negative, 0 neutral) and rpn_bbox float32
    [RPN_TRAIN_ANCHORS_PER_IMAGE, 4], the positives' deltas divided by RPN_BBOX_STD_DEV, in the
    order of the positive anchors. An anchor is positive with IoU >= 0.7 or when it is a gt box's
    best anchor, negative below 0.3 unless it touches a crowd; positives are capped at half the
    sample and negatives fill the rest (randomly, numpy's global generator).
    """
    from . import utils

    anchors = np.asarray(anchors, np.float32).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    total = int(config.RPN_TRAIN_ANCHORS_PER_IMAGE)
    rpn_match = np.zeros(len(anchors), np.int32)
    rpn_bbox = np.zeros((total, 4), np.float32)
    crowd = gt_class_ids < 0
    if crowd.any():
        away_from_crowds = utils.compute_overlaps(anchors, gt_boxes[crowd]).max(axis=1) < 0.001
        gt_boxes, gt_class_ids = gt_boxes[~crowd], gt_class_ids[~crowd]
    else:
        away_from_crowds = np.ones(len(anchors), bool)
    if len(gt_boxes) == 0:
        rpn_match[away_from_crowds] = -1
        best_gt = np.zeros(len(anchors), np.int64)
    else:
        overlaps = utils.compute_overlaps(anchors, gt_boxes)
        best_gt = overlaps.argmax(axis=1)
        best_iou = overlaps[np.arange(len(anchors)), best_gt]
        rpn_match[(best_iou < 0.3) & away_from_crowds] = -1
        rpn_match[np.nonzero(overlaps == overlaps.max(axis=0))[0]] = 1  # each gt box's best anchors (ties too)
        rpn_match[best_iou >= 0.7] = 1
    positive = np.nonzero(rpn_match == 1)[0]
    if len(positive) > total // 2:
        rpn_match[np.random.choice(positive, len(positive) - total // 2, replace=False)] = 0
        positive = np.nonzero(rpn_match == 1)[0]
    negative = np.nonzero(rpn_match == -1)[0]
    extra = len(negative) - (total - len(positive))
    if extra > 0:
        rpn_match[np.random.choice(negative, extra, replace=False)] = 0
    if len(positive):
        deltas = utils.box_refinement(anchors[positive], gt_boxes[best_gt[positive]])
        rpn_bbox[:len(positive)] = deltas / np.asarray(config.RPN_BBOX_STD_DEV, np.float32)
    return rpn_match, rpn_bbox


def _random_pairs(low, high, count):
    """count sorted integer pairs (a < b) drawn uniformly from [low, high)."""
    high = max(high, low + 2)
    found = np.zeros((0, 2), np.int64)
    while len(found) < count:
        pairs = np.sort(np.random.randint(low, high, (2 * count, 2)), axis=1)
        found = np.concatenate([found, pairs[pairs[:, 1] - pairs[:, 0] >= 1]])
    return found[:count]


def generate_random_rois(image_shape, count, gt_class_ids, gt_boxes):
    """Matterport's random RoIs [count, (y1, x1, y2, x2)] int32 for inspecting the heads: 90% of
    them spread evenly over the gt boxes, each within the box grown by its own size on every side
    (and inside the image), the rest anywhere in the image."""
    h, w = int(image_shape[0]), int(image_shape[1])
    gt_boxes = np.asarray(gt_boxes, np.int64).reshape(-1, 4)
    rois = np.zeros((count, 4), np.int32)
    per_box = int(0.9 * count / len(gt_boxes)) if len(gt_boxes) else 0
    for i, (y1, x1, y2, x2) in enumerate(gt_boxes):
        bh, bw = y2 - y1, x2 - x1
        ys = _random_pairs(max(y1 - bh, 0), min(y2 + bh, h), per_box)
        xs = _random_pairs(max(x1 - bw, 0), min(x2 + bw, w), per_box)
        rois[i * per_box:(i + 1) * per_box] = np.stack([ys[:, 0], xs[:, 0], ys[:, 1], xs[:, 1]], axis=1)
    rest = count - per_box * len(gt_boxes)
    if rest > 0:
        ys, xs = _random_pairs(0, h, rest), _random_pairs(0, w, rest)
        rois[count - rest:] = np.stack([ys[:, 0], xs[:, 0], ys[:, 1], xs[:, 1]], axis=1)
    return rois


def build_detection_targets(rpn_rois, gt_class_ids, gt_boxes, gt_masks, config):
    """Matterport's targets of the heads for one image, in numpy (for inspection; training builds
    its own in C++). rpn_rois and gt_boxes are [N, (y1, x1, y2, x2)] pixels; gt_masks [H, W, G]
    full size or, with config.USE_MINI_MASK, mini-masks.

    Returns rois int32 [TRAIN_ROIS_PER_IMAGE, 4], class_ids int32 [TRAIN_ROIS_PER_IMAGE] (0 for
    background RoIs), bboxes float32 [TRAIN_ROIS_PER_IMAGE, NUM_CLASSES, 4] (deltas / BBOX_STD_DEV
    in the gt class's slot) and masks float32 [TRAIN_ROIS_PER_IMAGE, MASK_SHAPE..., NUM_CLASSES].
    RoIs with IoU > 0.5 are foreground (at most ROI_POSITIVE_RATIO of the sample), below 0.5
    background; a short sample is filled by repeating RoIs.
    """
    from . import utils

    rois_all = np.asarray(rpn_rois).reshape(-1, 4).astype(np.int32)
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4).astype(np.int32)
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1).astype(np.int32)
    gt_masks = np.asarray(gt_masks)
    total = int(config.TRAIN_ROIS_PER_IMAGE)
    if len(rois_all) == 0:
        raise ValueError("build_detection_targets: no RoIs given")
    if len(gt_boxes):
        overlaps = utils.compute_overlaps(rois_all.astype(np.float32), gt_boxes.astype(np.float32))
        assignment = overlaps.argmax(axis=1)
        best = overlaps[np.arange(len(rois_all)), assignment]
    else:
        assignment, best = np.zeros(len(rois_all), np.int64), np.zeros(len(rois_all), np.float32)
    fg, bg = np.nonzero(best > 0.5)[0], np.nonzero(best < 0.5)[0]
    fg_count = int(total * config.ROI_POSITIVE_RATIO)
    if len(fg) > fg_count:
        fg = np.random.choice(fg, fg_count, replace=False)
    if len(bg) > total - len(fg):
        bg = np.random.choice(bg, total - len(fg), replace=False)
    keep = np.concatenate([fg, bg]).astype(np.int64)
    if len(keep) < total:
        keep = np.concatenate([keep, np.random.choice(keep if len(keep) else np.arange(len(rois_all)),
                                                      total - len(keep), replace=True)])
    is_fg = np.isin(keep, fg) & (len(gt_boxes) > 0)
    rois = rois_all[keep]
    gt_of = assignment[keep]
    class_ids = np.where(is_fg, gt_class_ids[gt_of] if len(gt_boxes) else 0, 0).astype(np.int32)
    bboxes = np.zeros((total, config.NUM_CLASSES, 4), np.float32)
    masks = np.zeros((total,) + tuple(config.MASK_SHAPE) + (config.NUM_CLASSES,), np.float32)
    positive = np.nonzero(class_ids > 0)[0]
    if len(positive):
        deltas = utils.box_refinement(rois[positive], gt_boxes[gt_of[positive]])
        bboxes[positive, class_ids[positive]] = deltas / np.asarray(config.BBOX_STD_DEV, np.float32)
    image_shape = tuple(config.IMAGE_SHAPE[:2])
    for i in positive:
        g = gt_of[i]
        if config.USE_MINI_MASK:
            full = utils.expand_mask(gt_boxes[g:g + 1], gt_masks[:, :, g:g + 1], image_shape)[:, :, 0]
        else:
            full = gt_masks[:, :, g]
        y1, x1, y2, x2 = rois[i]
        crop = full[max(y1, 0):max(y2, y1 + 1), max(x1, 0):max(x2, x1 + 1)].astype(np.float32)
        if crop.size:
            masks[i, :, :, class_ids[i]] = utils.resize(crop, config.MASK_SHAPE)
    return rois, class_ids, bboxes, masks


def data_generator(*args, **kwargs):
    """Matterport's Keras generator does not exist here: training batches come from the C++
    loader (mrcnn.model.make_loader(dataset, config, augmentation).next_batch())."""
    raise NotImplementedError("data_generator is Keras-specific; use mrcnn.model.make_loader(dataset, config, "
                              "augmentation) and its next_batch() to see training batches")


# Matterport's Keras layers and TensorFlow graph functions: what each became here.
_KERAS_GRAPH_CODE = {
    "BatchNorm": "BatchNorm is frozen in the C++ backbone (folded into the convolutions by default)",
    "identity_block": "the ResNet backbone is C++ (model.net; weights: model.net.state_dict())",
    "conv_block": "the ResNet backbone is C++ (model.net; weights: model.net.state_dict())",
    "resnet_graph": "the ResNet backbone is C++ (model.net; weights: model.net.state_dict())",
    "apply_box_deltas_graph": "mrcnn.utils.apply_box_deltas (numpy)",
    "clip_boxes_graph": "numpy: np.clip on the box coordinates",
    "ProposalLayer": "the RPN is C++: model.net.stages([image tensor]) returns its proposals",
    "rpn_graph": "the RPN is C++: model.net.stages([image tensor]) returns its outputs",
    "build_rpn_model": "the RPN is C++: model.net.stages([image tensor]) returns its outputs",
    "log2_graph": "np.log2",
    "PyramidROIAlign": "mrcnn.ops.multiscale_roi_align",
    "overlaps_graph": "mrcnn.utils.compute_overlaps",
    "detection_targets_graph": "mrcnn.model.build_detection_targets (numpy)",
    "DetectionTargetLayer": "mrcnn.model.build_detection_targets (numpy)",
    "refine_detections_graph": "model.detect(), or model.net.stages() for the intermediate outputs",
    "DetectionLayer": "model.detect(), or model.net.stages() for the intermediate outputs",
    "fpn_classifier_graph": "the heads are C++: model.net.stages([image tensor])",
    "build_fpn_mask_graph": "the heads are C++: model.net.stages([image tensor])",
    "smooth_l1_loss": "the losses are computed in C++; train() logs the five of them (metrics.jsonl)",
    "rpn_class_loss_graph": "the losses are computed in C++; train() logs the five of them (metrics.jsonl)",
    "rpn_bbox_loss_graph": "the losses are computed in C++; train() logs the five of them (metrics.jsonl)",
    "mrcnn_class_loss_graph": "the losses are computed in C++; train() logs the five of them (metrics.jsonl)",
    "mrcnn_bbox_loss_graph": "the losses are computed in C++; train() logs the five of them (metrics.jsonl)",
    "mrcnn_mask_loss_graph": "the losses are computed in C++; train() logs the five of them (metrics.jsonl)",
    "trim_zeros_graph": "mrcnn.utils.trim_zeros (numpy)",
    "batch_pack_graph": "numpy indexing: np.concatenate([x[i, :n] for i, n in enumerate(counts)])",
    "norm_boxes_graph": "mrcnn.utils.norm_boxes (numpy)",
    "denorm_boxes_graph": "mrcnn.utils.denorm_boxes (numpy)",
}


def keras_only_error(module, name, hint):
    return AttributeError("mrcnn.%s.%s is part of Matterport's Keras/TensorFlow graph and does not exist here; "
                          "use instead: %s" % (module, name, hint))


def __getattr__(name):
    hint = _KERAS_GRAPH_CODE.get(name)
    if hint is not None:
        raise keras_only_error("model", name, hint)
    raise AttributeError("module 'mrcnn.model' has no attribute %r" % (name,))
