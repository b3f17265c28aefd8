"""Built-in datasets: annotation files parsed in C++, with Matterport's Dataset API.

    train = CocoDataset("annotations/instances_train.json", "images/")
    train.prepare()
    masks, class_ids = train.load_mask(0)

Entries that cannot be used (a broken polygon, an annotation of an unknown image, a missing
image file) are skipped with a warning naming them (``dataset.warnings``), or raise with
``bad_data="raise"``.
"""
import glob
import logging
import os

import numpy as np

import cv2

from . import _C, cocomask
from .utils import Dataset

__all__ = ["CocoDataset", "ViaDataset", "RleCsvDataset", "MaskFolderDataset"]

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


class RleCsvDataset(_AnnotatedDataset):
    """Kaggle / iMaterialist RLE CSV (ImageId, EncodedPixels, Height, Width, ClassId[, AttributesIds]),
    with class names from label_descriptions.json when given. ClassId "6_28_77" is class 6."""

    def __init__(self, csv_path=None, image_dir="", label_descriptions="", source="csv", bad_data="skip"):
        super().__init__()
        if csv_path is not None:
            self.load_csv(csv_path, image_dir, label_descriptions, source, bad_data)

    def load_csv(self, csv_path, image_dir="", label_descriptions="", source="csv", bad_data="skip"):
        self._add(source, _C.data.load_rle_csv(str(csv_path), str(image_dir), str(label_descriptions or ""), bad_data))


class MaskFolderDataset(Dataset):
    """Masks stored as PNG files, one class (`class_name`):

    - layout "per-instance" (Data Science Bowl nuclei): root/<id>/images/<id>.png and
      root/<id>/masks/*.png, one file per instance, non-zero pixels inside;
    - layout "instance-ids" (PennFudan): images in root/<images_dir>, and for image "x.png" the
      file root/<masks_dir>/x<mask_suffix>.png whose pixel values 1..K label the instances.

    Masks of another size than their image are resized to it (nearest neighbour).
    """

    def __init__(self, root, layout="per-instance", class_name="object", source="masks", images_dir="PNGImages",
                 masks_dir="PedMasks", mask_suffix="_mask"):
        super().__init__()
        self.layout = layout
        self.warnings = []
        self.add_class(source, 1, class_name)
        if layout == "per-instance":
            for d in sorted(glob.glob(os.path.join(root, "*", "images"))):
                image_id = os.path.basename(os.path.dirname(d))
                files = sorted(glob.glob(os.path.join(d, "*")))
                masks = sorted(glob.glob(os.path.join(os.path.dirname(d), "masks", "*.png")))
                if not files:
                    self.warnings.append("%s: no image file; skipped" % d)
                    continue
                self.add_image(source, image_id, files[0], mask_paths=masks)
        elif layout == "instance-ids":
            for path in sorted(glob.glob(os.path.join(root, images_dir, "*"))):
                stem = os.path.splitext(os.path.basename(path))[0]
                mask = os.path.join(root, masks_dir, stem + mask_suffix + ".png")
                if not os.path.exists(mask):
                    self.warnings.append("%s: no mask file %s; skipped" % (path, mask))
                    continue
                self.add_image(source, stem, path, mask_path=mask)
        else:
            raise ValueError("MaskFolderDataset: layout must be 'per-instance' or 'instance-ids', got %r" % (layout,))
        for w in self.warnings:
            log.warning("%s", w)

    def _read_mask(self, path, shape):
        m = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if m is None:
            raise ValueError("cannot decode mask file %s" % path)
        if m.ndim == 3:
            m = m.max(axis=2)
        if shape is not None and m.shape[:2] != tuple(shape):
            m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return m

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        size = _C.data.image_size(info["path"])
        shape = size if size[0] > 0 else self.load_image(image_id).shape[:2]
        if self.layout == "per-instance":
            masks = [self._read_mask(p, shape) > 0 for p in info["mask_paths"]]
        else:
            labels = self._read_mask(info["mask_path"], shape)
            masks = [labels == v for v in np.unique(labels) if v != 0]
        if not masks:
            return np.zeros(tuple(shape) + (0,), dtype=bool), np.zeros((0,), dtype=np.int32)
        return np.stack(masks, axis=-1), np.ones(len(masks), dtype=np.int32)

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]
