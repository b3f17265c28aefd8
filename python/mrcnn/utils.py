"""Dataset base class and helpers with Matterport's Mask_RCNN API (``from mrcnn import utils``).

A dataset lists classes and images; subclasses override ``load_mask`` (and ``load_image`` or
``image_reference`` when they need to). Class ids are renumbered contiguously by ``prepare()``,
with id 0 the background, and every (source, id) pair maps to one internal id, so several
sources (e.g. COCO and your own images) can be combined.
"""
import copy
import logging
import os
import random

import cv2
import numpy as np

from . import _C
from .evaluation import (compute_ap, compute_ap_range, compute_iou, compute_matches, compute_overlaps,  # noqa: F401
                         compute_overlaps_masks, compute_recall, extract_bboxes, non_max_suppression, trim_zeros)

# Matterport's release of its COCO-trained weights; download_trained_weights reads it when called,
# so a notebook (or a test) can point it elsewhere.
COCO_MODEL_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"

__all__ = ["COCO_MODEL_URL", "download_trained_weights", "Dataset", "split_image_ids", "resize_image", "resize_mask", "extract_bboxes", "minimize_mask",
           "expand_mask", "unmold_mask", "resize", "compute_ap", "compute_ap_range", "compute_iou",
           "compute_matches", "compute_overlaps", "compute_overlaps_masks", "compute_recall", "non_max_suppression",
           "trim_zeros", "norm_boxes", "denorm_boxes", "generate_anchors", "generate_pyramid_anchors",
           "box_refinement", "apply_box_deltas", "batch_slice"]


class Dataset:
    """Matterport's ``utils.Dataset``: add_class / add_image, prepare, load_image, load_mask."""

    def __init__(self, class_map=None):
        self._image_ids = []
        self.image_info = []
        # internal class 0 is the background, shared by every source
        self.class_info = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids = {}

    # --- building the lists -------------------------------------------------------------------
    def add_class(self, source, class_id, class_name):
        """Registers class `class_id` of `source` (a short name without dots) as `class_name`."""
        if "." in str(source):
            raise ValueError("add_class: source %r must not contain '.'" % (source,))
        if any(c["source"] == source and c["id"] == class_id for c in self.class_info):
            return  # already known
        self.class_info.append({"source": source, "id": class_id, "name": class_name})

    def add_image(self, source, image_id, path, **kwargs):
        """Registers an image; extra keyword arguments (polygons, width, height, ...) are kept in
        image_info for load_mask."""
        info = {"id": image_id, "source": source, "path": path}
        info.update(kwargs)
        self.image_info.append(info)

    def image_reference(self, image_id):
        """Where the image comes from (a URL or path), for debugging; override as needed."""
        return ""

    def prepare(self, class_map=None):
        """Builds the lookup tables; call once after adding classes and images."""
        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        # "person,people" -> "person": Matterport keeps the first comma-separated name
        self.class_names = [str(c["name"]).split(",")[0] for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {"%s.%s" % (c["source"], c["id"]): i for i, c in enumerate(self.class_info)}
        self.image_from_source_map = {"%s.%s" % (im["source"], im["id"]): i for i, im in enumerate(self.image_info)}
        self.sources = sorted({c["source"] for c in self.class_info})
        self.source_class_ids = {
            s: [i for i, c in enumerate(self.class_info) if i == 0 or c["source"] == s] for s in self.sources}

    # --- lookups ------------------------------------------------------------------------------
    @property
    def image_ids(self):
        return self._image_ids

    def map_source_class_id(self, source_class_id):
        """Internal class id of "source.class_id" (e.g. "coco.12")."""
        try:
            return self.class_from_source_map[source_class_id]
        except KeyError:
            raise KeyError("map_source_class_id: no class %r (known: %s)"
                           % (source_class_id, ", ".join(sorted(self.class_from_source_map)))) from None

    def get_source_class_id(self, class_id, source):
        """The source's own id of internal class `class_id`."""
        info = self.class_info[class_id]
        if info["source"] != source:
            raise ValueError("get_source_class_id: class %d belongs to source %r, not %r"
                             % (class_id, info["source"], source))
        return info["id"]

    def subset(self, image_ids):
        """A prepared copy holding only the given images (same classes, same class ids)."""
        part = copy.copy(self)
        part.class_info = list(self.class_info)
        part.image_info = [self.image_info[i] for i in image_ids]
        part.prepare()
        return part

    def source_image_link(self, image_id):
        return self.image_info[image_id]["path"]

    # --- data ---------------------------------------------------------------------------------
    def load_image(self, image_id):
        """RGB uint8 [H, W, 3] of the image; grayscale is replicated, alpha dropped."""
        path = self.image_info[image_id]["path"]
        return read_rgb(path)

    def load_mask(self, image_id):
        """(masks bool [H, W, N], class_ids int32 [N]). Override this: the default has no instances."""
        logging.warning("Dataset.load_mask was not overridden: image %s gets no instances", image_id)
        return np.empty([0, 0, 0], dtype=bool), np.empty([0], dtype=np.int32)


def read_rgb(path):
    """An image file as RGB uint8 [H, W, 3], read as the training loader reads it (one reader, in
    C++): 16-bit files scaled to 8 bits, grayscale replicated, alpha dropped. FileNotFoundError /
    ValueError name the file (missing, empty, truncated JPEG, not an image)."""
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError("image file not found: %s" % path)
    if not _C.data.WITH_OPENCV:
        return _read_rgb_with_cv2(path)
    return _C.data.read_image(path).numpy()


def read_mask_file(path):
    """A mask file's pixels as uint8 (8-bit files) or int32 (16-bit) [H, W], read as the training
    loader reads them (one reader, in C++): colour files give their first three channels' maximum,
    alpha is ignored. ValueError names a file that is missing, empty or not an image."""
    return _C.data.read_mask_file(str(path)).numpy()


def _read_mask_with_cv2(path):
    """The mask reader for a build without OpenCV's C++ library (MRCNN_OPENCV=0): Python's cv2
    decodes; what the pixels mean is decided in C++ all the same."""
    import torch

    data = np.fromfile(path, dtype=np.uint8)
    m = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if m is None:
        raise ValueError("cannot decode mask file %s (corrupt or not an image)" % path)
    if m.ndim == 3:
        m = m[:, :, :3].max(axis=2)
    return torch.from_numpy(m if m.dtype == np.uint8 else m.astype(np.int32))


def _read_rgb_with_cv2(path):
    """read_rgb for a build without OpenCV's C++ library (MRCNN_OPENCV=0): Python's cv2 decodes,
    as_rgb_uint8 applies the pixel rule (no truncated-JPEG check)."""
    if os.path.getsize(path) == 0:
        raise ValueError("image file is empty: %s" % path)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("cannot decode image file %s (corrupt or not an image)" % path)
    if image.ndim == 3:  # OpenCV's BGR(A) order
        image = image[:, :, [2, 1, 0, 3][:image.shape[2]]]
    return as_rgb_uint8(image, path)


def _uint8_values(a, what):
    """The pixel values of `a` as uint8, by the rule as_rgb_uint8 documents."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return (a / 257.0).round().astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ValueError("%s: %s pixel values %d..%d are outside 0..255 (give uint8, uint16, or values in 0..255)"
                             % (what, a.dtype, lo, hi))
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if a.size and not np.isfinite(a).all():
            raise ValueError("%s: %d pixels are NaN or infinite" % (what, int((~np.isfinite(a)).sum())))
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < 0 or hi > 255:
            raise ValueError("%s: float pixel values %g..%g are outside both 0..1 and 0..255" % (what, lo, hi))
        return np.rint(a * 255.0 if hi <= 1.0 else a).astype(np.uint8)
    raise TypeError("%s: pixels of dtype %s are not an image (give uint8 RGB)" % (what, a.dtype))


def as_rgb_uint8(image, what="image"):
    """The one rule for the pixels given to training (a Dataset's load_image) and to detect:

    uint8 as it is; uint16 scaled by 1/257 (as 16-bit image files are read); other integers must lie
    in 0..255; floats in 0..1 are scaled by 255 (skimage's convention), floats with values above 1
    are taken as 0..255 and rounded; bool is 0 or 255. NaN or infinite pixels, values outside
    those ranges and non-numeric dtypes raise, naming `what`. Grayscale [H, W] or [H, W, 1] is
    replicated to RGB, RGBA loses its alpha. Returns uint8 [H, W, 3]."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or 0 in a.shape[:2]:
        raise ValueError("%s: expected an RGB image [H, W, 3] (or grayscale / RGBA), got shape %s"
                         % (what, tuple(a.shape)))
    a = _uint8_values(a, what)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def split_image_ids(image_ids, val_fraction=0.2, seed=0):
    """(train_ids, val_ids): a shuffled split with a fixed seed, so reruns give the same split.

    image_ids: a count or a sequence of ids. At least one image goes to each side when there are two.
    """
    ids = np.arange(image_ids) if np.isscalar(image_ids) else np.asarray(image_ids)
    if not 0 <= val_fraction < 1:
        raise ValueError("split_image_ids: val_fraction must be in [0, 1), got %r" % (val_fraction,))
    order = np.random.RandomState(seed).permutation(len(ids))
    n_val = int(round(len(ids) * val_fraction))
    if len(ids) >= 2 and val_fraction > 0:
        n_val = min(max(n_val, 1), len(ids) - 1)
    return ids[np.sort(order[n_val:])], ids[np.sort(order[:n_val])]


# ---------------------------------------------------------------------------------------------
# Image and mask geometry (Matterport's utils functions, with OpenCV doing the resizing)
# ---------------------------------------------------------------------------------------------

def resize(image, output_shape, order=1):
    """Resizes image [H, W] or [H, W, C] to output_shape (h, w), keeping the dtype and the value
    range: order 1 is bilinear (area-averaged when shrinking), order 0 nearest neighbour."""
    h, w = int(output_shape[0]), int(output_shape[1])
    if h <= 0 or w <= 0:
        raise ValueError("resize: output size must be positive, got %dx%d" % (h, w))
    src = np.asarray(image)
    if src.shape[0] == h and src.shape[1] == w:
        return src.copy()
    is_bool = src.dtype == bool
    work = src.astype(np.float32) if is_bool or src.dtype not in (np.uint8, np.uint16, np.float32) else src
    if order == 0:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if h < src.shape[0] and w < src.shape[1] else cv2.INTER_LINEAR
    channels = work.shape[2] if work.ndim == 3 else 0
    if channels > 4:  # OpenCV resizes at most 4 channels at a time (masks have N)
        out = np.concatenate([cv2.resize(work[:, :, k:k + 4], (w, h), interpolation=interp).reshape(h, w, -1)
                              for k in range(0, channels, 4)], axis=2)
    else:
        out = cv2.resize(work, (w, h), interpolation=interp)
        if channels:
            out = out.reshape(h, w, channels)
    if is_bool:
        return out >= 0.5
    return out.astype(src.dtype, copy=False)


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square"):
    """Matterport's resize: returns (image, window, scale, padding, crop).

    mode "none": unchanged; "square": scale up so the short side reaches min_dim (never down),
    cap the long side at max_dim, pad to max_dim x max_dim (centred); "pad64": scale as above
    without the cap and pad each side to a multiple of 64; "crop": scale, then a random
    min_dim x min_dim crop. window is (y1, x1, y2, x2) of the image inside the result.
    """
    dtype = image.dtype
    h, w = image.shape[:2]
    window, scale, padding, crop = (0, 0, h, w), 1, [(0, 0), (0, 0), (0, 0)], None
    if mode == "none":
        return image, window, scale, padding, crop
    if mode not in ("square", "pad64", "crop", "torchvision"):
        raise ValueError("resize_image: mode must be none, square, pad64, crop or torchvision, got %r" % (mode,))
    if mode == "pad64" and min_dim is not None and min_dim % 64 != 0:
        raise ValueError("resize_image: min_dim must be a multiple of 64 in pad64 mode, got %r" % (min_dim,))
    # the scale and size rule is the network's own (C++ model::resize_plan), shared with the loader
    scale, nh, nw = _C.model.resize_plan(mode, h, w, int(min_dim or 0), int(max_dim or 0), float(min_scale or 0))
    if mode == "torchvision":
        # torchvision's GeneralizedRCNNTransform: padding at the bottom and right to a multiple of 32
        image = resize(image, (nh, nw))
        padding = [(0, (-nh) % 32), (0, (-nw) % 32), (0, 0)]
        image = np.pad(image, padding[:image.ndim], mode="constant", constant_values=0)
        return image.astype(dtype), (0, 0, nh, nw), scale, padding, crop
    if scale != 1:
        image = resize(image, (nh, nw))
    h, w = image.shape[:2]
    if mode == "square":
        top, left = (max_dim - h) // 2, (max_dim - w) // 2
        padding = [(top, max_dim - h - top), (left, max_dim - w - left), (0, 0)]
    elif mode == "pad64":
        ph, pw = (-h) % 64, (-w) % 64
        padding = [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)]
    else:  # crop
        if h < min_dim or w < min_dim:
            raise ValueError("resize_image: a %dx%d image cannot give a %d crop" % (h, w, min_dim))
        y, x = random.randint(0, h - min_dim), random.randint(0, w - min_dim)
        crop = (y, x, min_dim, min_dim)
        return image[y:y + min_dim, x:x + min_dim].astype(dtype), (0, 0, min_dim, min_dim), scale, padding, crop
    image = np.pad(image, padding[:image.ndim], mode="constant", constant_values=0)
    window = (padding[0][0], padding[1][0], h + padding[0][0], w + padding[1][0])
    return image.astype(dtype), window, scale, padding, crop


def resize_mask(mask, scale, padding, crop=None):
    """Masks [H, W, N] resized with the scale and padding (or crop) resize_image returned
    (nearest neighbour, so they stay binary)."""
    h, w = mask.shape[:2]
    if scale != 1:
        mask = resize(mask, (round(h * scale), round(w * scale)), order=0)
    if crop is not None:
        y, x, ch, cw = crop
        return mask[y:y + ch, x:x + cw]
    return np.pad(mask, padding[:mask.ndim], mode="constant", constant_values=0)


def minimize_mask(bbox, mask, mini_shape):
    """Each mask cropped to its box and resized to mini_shape (Matterport's mini-masks, saving
    memory for large images)."""
    mini = np.zeros(tuple(mini_shape) + (mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = bbox[i][:4]
        m = mask[y1:y2, x1:x2, i]
        if m.size == 0:
            raise ValueError("minimize_mask: instance %d has an empty box %s" % (i, list(bbox[i][:4])))
        # Matterport rounds (np.around: exactly 0.5 goes to 0)
        mini[:, :, i] = resize(m.astype(np.float32), mini_shape) > 0.5
    return mini


def expand_mask(bbox, mini_mask, image_shape):
    """The inverse of minimize_mask: full-image bool masks [H, W, N]."""
    mask = np.zeros(tuple(image_shape[:2]) + (mini_mask.shape[-1],), dtype=bool)
    for i in range(mask.shape[-1]):
        y1, x1, y2, x2 = bbox[i][:4]
        if y2 > y1 and x2 > x1:
            mask[y1:y2, x1:x2, i] = resize(mini_mask[:, :, i].astype(np.float32), (y2 - y1, x2 - x1)) > 0.5
    return mask


def unmold_mask(mask, bbox, image_shape):
    """A predicted mask (float, small) pasted into its box of a full image, thresholded at 0.5."""
    y1, x1, y2, x2 = bbox
    full = np.zeros(image_shape[:2], dtype=bool)
    if y2 > y1 and x2 > x1:
        full[y1:y2, x1:x2] = resize(np.asarray(mask, np.float32), (y2 - y1, x2 - x1)) >= 0.5
    return full


def norm_boxes(boxes, shape):
    """Pixel boxes (y1, x1, y2, x2) to normalised coordinates of an image of shape (h, w)
    (Matterport's convention: (0, 0) is the first pixel, (1, 1) one past the last)."""
    h, w = shape[:2]
    scale = np.array([h - 1, w - 1, h - 1, w - 1], dtype=np.float32)
    return ((np.asarray(boxes, np.float32) - np.array([0, 0, 1, 1], np.float32)) / scale).astype(np.float32)


def denorm_boxes(boxes, shape):
    """The inverse of norm_boxes: int32 pixel boxes."""
    h, w = shape[:2]
    scale = np.array([h - 1, w - 1, h - 1, w - 1], dtype=np.float32)
    return np.around(np.asarray(boxes, np.float32) * scale + np.array([0, 0, 1, 1], np.float32)).astype(np.int32)


def generate_anchors(scales, ratios, shape, feature_stride, anchor_stride):
    """Anchors (y1, x1, y2, x2) in pixels for one feature map of `shape` (Matterport's layout:
    every scale x ratio at every anchor_stride-th cell, centred on cell * feature_stride)."""
    scales, ratios = np.meshgrid(np.array(scales, np.float64), np.array(ratios, np.float64))
    scales, ratios = scales.flatten(), ratios.flatten()
    heights, widths = scales / np.sqrt(ratios), scales * np.sqrt(ratios)
    ys = np.arange(0, shape[0], anchor_stride) * feature_stride
    xs = np.arange(0, shape[1], anchor_stride) * feature_stride
    xs, ys = np.meshgrid(xs, ys)
    box_w, cx = np.meshgrid(widths, xs)
    box_h, cy = np.meshgrid(heights, ys)
    centers = np.stack([cy, cx], axis=2).reshape([-1, 2])
    sizes = np.stack([box_h, box_w], axis=2).reshape([-1, 2])
    return np.concatenate([centers - 0.5 * sizes, centers + 0.5 * sizes], axis=1)


def generate_pyramid_anchors(scales, ratios, feature_shapes, feature_strides, anchor_stride):
    """Anchors of every FPN level, level by level: scales[i] on feature_shapes[i]."""
    return np.concatenate([generate_anchors(scales[i], ratios, feature_shapes[i], feature_strides[i], anchor_stride)
                           for i in range(len(scales))], axis=0)


def _centres_and_sizes(boxes):
    """(cy, cx, h, w) of boxes [N, (y1, x1, y2, x2)], as float32."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    h, w = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return b[:, 0] + 0.5 * h, b[:, 1] + 0.5 * w, h, w


def box_refinement(box, gt_box):
    """Matterport's box deltas [N, (dy, dx, log(dh), log(dw))] that move each box onto its gt_box
    (both [N, (y1, x1, y2, x2)]): centre shifts in units of the box's size, log size ratios.
    Normalising by BBOX_STD_DEV is left to the caller, as in Matterport."""
    cy, cx, h, w = _centres_and_sizes(box)
    gy, gx, gh, gw = _centres_and_sizes(gt_box)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([(gy - cy) / h, (gx - cx) / w, np.log(gh / h), np.log(gw / w)], axis=1)


def apply_box_deltas(boxes, deltas):
    """Matterport's inverse of box_refinement: boxes [N, (y1, x1, y2, x2)] moved by deltas
    [N, (dy, dx, log(dh), log(dw))]; float32."""
    cy, cx, h, w = _centres_and_sizes(boxes)
    d = np.asarray(deltas, np.float32).reshape(-1, 4)
    cy, cx = cy + d[:, 0] * h, cx + d[:, 1] * w
    h, w = h * np.exp(d[:, 2]), w * np.exp(d[:, 3])
    y1, x1 = cy - 0.5 * h, cx - 0.5 * w
    return np.stack([y1, x1, y1 + h, x1 + w], axis=1)


def batch_slice(inputs, graph_fn, batch_size, names=None):
    """Matterport's TensorFlow helper (a graph function run per batch item) has no meaning here:
    apply the function to each item in a loop, or use mrcnn.model.MaskRCNN.detect on a list."""
    raise NotImplementedError("batch_slice slices TensorFlow graph tensors; with numpy or torch, apply "
                              "graph_fn to each item in a loop and stack the results")


def __getattr__(name):
    if name == "box_refinement_graph":
        from .model import keras_only_error
        raise keras_only_error("utils", name, "mrcnn.utils.box_refinement (numpy)")
    raise AttributeError("module 'mrcnn.utils' has no attribute %r" % (name,))


def download_trained_weights(coco_model_path, verbose=1):
    """Matterport's: downloads its COCO-trained weights (COCO_MODEL_URL) to coco_model_path, with a
    progress bar, written only when complete and checked to be an HDF5 file. Raises
    mrcnn.download.DownloadError naming the URL when that fails; nothing is left behind."""
    from . import download

    if verbose > 0:
        print("Downloading pretrained model to " + str(coco_model_path) + " ...")
    download.download(COCO_MODEL_URL, coco_model_path, progress=verbose > 0, check=download.check_hdf5)
    if verbose > 0:
        print("... done downloading pretrained model!")
