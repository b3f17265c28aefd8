"""Dataset base class and helpers with Matterport's Mask_RCNN API (``from mrcnn import utils``).

A dataset lists classes and images; subclasses override ``load_mask`` (and ``load_image`` or
``image_reference`` when they need to). Class ids are renumbered contiguously by ``prepare()``,
with id 0 the background, and every (source, id) pair maps to one internal id, so several
sources (e.g. COCO and your own images) can be combined.
"""
import copy
import logging
import os

import cv2
import numpy as np

__all__ = ["Dataset", "split_image_ids"]


class Dataset:
    """Matterport's ``utils.Dataset``: add_class / add_image, prepare, load_image, load_mask."""

    def __init__(self, class_map=None):
        self._image_ids = []
        self.image_info = []
        # internal class 0 is the background, shared by every source
        self.class_info = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids = {}

    # --- building the lists -------------------------------------------------------------------
    def add_class(self, source, class_id, name):
        """Registers class `class_id` of `source` (a short name without dots) as `name`."""
        if "." in str(source):
            raise ValueError("add_class: source %r must not contain '.'" % (source,))
        if any(c["source"] == source and c["id"] == class_id for c in self.class_info):
            return  # already known
        self.class_info.append({"source": source, "id": class_id, "name": name})

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
    """An image file as RGB uint8 [H, W, 3]; FileNotFoundError / ValueError name the file."""
    if not os.path.exists(path):
        raise FileNotFoundError("image file not found: %s" % path)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError("cannot decode image file %s (corrupt or not an image)" % path)
    if image.dtype != np.uint8:  # 16-bit PNG / TIFF: scale to 8 bits
        image = (image / (np.iinfo(image.dtype).max / 255.0)).round().astype(np.uint8)
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


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
