"""Built-in datasets: annotation files parsed in C++, with Matterport's Dataset API.

    train = CocoDataset("annotations/instances_train.json", "images/")
    train.prepare()
    masks, class_ids = train.load_mask(0)

Entries that cannot be used (a broken polygon, an annotation of an unknown image, a missing
image file) are skipped with a warning naming them (``dataset.warnings``), or raise with
``bad_data="raise"``.
"""
import logging

import numpy as np

from . import _C, cocomask
from .utils import Dataset

__all__ = ["CocoDataset", "ViaDataset"]

log = logging.getLogger(__name__)


class _AnnotatedDataset(Dataset):
    """A Dataset whose images carry their instances as COCO RLEs."""

    def _add(self, source, parsed):
        self.warnings = list(parsed["warnings"])
        for w in self.warnings:
            log.warning("%s", w)
        for class_id, name in parsed["classes"]:
            self.add_class(source, class_id, name)
        for im in parsed["images"]:
            self.add_image(source, im["id"], im["path"], height=im["height"], width=im["width"],
                           instances=im["instances"])

    def load_mask(self, image_id):
        """bool [H, W, N] masks and int32 class ids; crowd regions get negative ids (Matterport's
        convention, so training can treat them as "ignore")."""
        info = self.image_info[image_id]
        instances = info["instances"]
        if not instances:
            return np.zeros((info["height"], info["width"], 0), dtype=bool), np.zeros((0,), dtype=np.int32)
        masks = cocomask.decode([inst["rle"] for inst in instances]).astype(bool)
        ids = []
        for inst in instances:
            c = self.map_source_class_id("%s.%s" % (info["source"], inst["class_id"]))
            ids.append(-c if inst["iscrowd"] else c)
        return masks, np.asarray(ids, dtype=np.int32)

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]


class CocoDataset(_AnnotatedDataset):
    """COCO JSON (polygons, RLE, uncompressed RLE, iscrowd); categories keep their names."""

    def __init__(self, json_path=None, image_dir="", source="coco", bad_data="skip"):
        super().__init__()
        if json_path is not None:
            self.load_coco(json_path, image_dir, source, bad_data)

    def load_coco(self, json_path, image_dir="", source="coco", bad_data="skip"):
        self._add(source, _C.data.load_coco(str(json_path), str(image_dir), bad_data))


class ViaDataset(_AnnotatedDataset):
    """VIA 1.x exports or 2.x projects (polygon, polyline, rect, circle, ellipse, point regions).

    class_attribute names the region attribute holding the class (a string or VIA checkboxes);
    without one, every region is `default_class`.
    """

    def __init__(self, json_path=None, image_dir="", class_attribute="", default_class="object", source="via",
                 bad_data="skip"):
        super().__init__()
        if json_path is not None:
            self.load_via(json_path, image_dir, class_attribute, default_class, source, bad_data)

    def load_via(self, json_path, image_dir="", class_attribute="", default_class="object", source="via",
                 bad_data="skip"):
        self._add(source, _C.data.load_via(str(json_path), str(image_dir), class_attribute, default_class, bad_data))
