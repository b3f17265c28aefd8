"""Built-in datasets with Matterport's Dataset API: annotation files parsed in C++ (COCO, VIA, RLE
CSV) and mask-file layouts listed here (Open Images, mask folders), all held as C++ annotation
sets that load_mask and the training loader decode alike.

    train = CocoDataset("annotations/instances_train.json", "images/")
    train.prepare()
    masks, class_ids = train.load_mask(0)

Entries that cannot be used (a broken polygon, an annotation of an unknown image, a missing
image file) are skipped with a warning naming them (``dataset.warnings``), or raise with
``bad_data="raise"``.
"""
import csv
import glob
import logging
import os

from . import _C
from .utils import Dataset

__all__ = ["CocoDataset", "ViaDataset", "RleCsvDataset", "MaskFolderDataset", "OpenImagesDataset"]

log = logging.getLogger(__name__)


class _AnnotatedDataset(Dataset):
    """A Dataset of annotation sets held in C++ (mrcnn._C.data.AnnotationSet): each image_info entry
    names its set ("annotations") and its record there ("record"). load_mask and the training
    loader decode the same records, in C++."""

    def __init__(self, class_map=None):
        super().__init__(class_map)
        self.warnings = []

    def _add(self, annotations):
        """Adds the classes and images of an annotation set (its source names them)."""
        self.warnings += list(annotations.warnings)
        for w in annotations.warnings:
            log.warning("%s", w)
        for class_id, name in annotations.classes:
            self.add_class(annotations.source, class_id, name)
        for k, (image_id, path, height, width) in enumerate(annotations.images()):
            self.add_image(annotations.source, image_id, path, height=height, width=width, annotations=annotations,
                           record=k)

    def load_mask(self, image_id):
        """bool [H, W, N] masks and int32 class ids; crowd regions get negative ids (Matterport's
        convention, so training can treat them as "ignore"). A mask file that is missing or
        cannot be decoded raises ValueError naming it."""
        if not hasattr(self, "class_from_source_map"):
            raise RuntimeError("load_mask: call prepare() first")
        info = self.image_info[image_id]
        height, width = info.get("height") or 0, info.get("width") or 0
        if not (height and width):  # mask-file datasets: the size of the image file
            height, width = _C.data.image_size(info["path"])
            if not height:
                height, width = self.load_image(image_id).shape[:2]
        masks, class_ids = info["annotations"].load_mask(info["record"], self.class_from_source_map, height, width)
        return masks.numpy(), class_ids.numpy()

    def instances(self, image_id):
        """The instances of an image as its annotations give them: dicts of class_id (the file's
        own), iscrowd, and rle + bbox, or mask_file + label."""
        info = self.image_info[image_id]
        return info["annotations"].instances(info["record"])

    def image_reference(self, image_id):
        return self.image_info[image_id]["path"]


class CocoDataset(_AnnotatedDataset):
    """COCO JSON (polygons, RLE, uncompressed RLE, iscrowd); categories keep their names."""

    def __init__(self, json_path=None, image_dir="", source="coco", bad_data="skip"):
        super().__init__()
        if json_path is not None:
            self.load_coco(json_path, image_dir, source, bad_data)

    def load_coco(self, json_path, image_dir="", source="coco", bad_data="skip"):
        self._add(_C.data.load_coco(str(json_path), str(image_dir), bad_data, source))


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
        """json_path: the VIA file, or its folder (via_region_data.json there, as in Matterport's
        balloon layout, else the folder's only .json file); images are looked up in image_dir, by
        default the JSON's folder."""
        json_path = via_json(json_path)
        image_dir = str(image_dir) or os.path.dirname(os.path.abspath(json_path))
        self._add(_C.data.load_via(json_path, image_dir, class_attribute, default_class, bad_data, source))


def via_json(path):
    """The VIA JSON file a path names: the path itself, or in a folder via_region_data.json, else the
    folder's only .json file."""
    path = str(path)
    if not os.path.isdir(path):
        return path
    found = sorted(f for f in os.listdir(path) if f.lower().endswith(".json"))
    if "via_region_data.json" in found:
        return os.path.join(path, "via_region_data.json")
    if len(found) != 1:
        raise FileNotFoundError("%s: a folder given as a VIA dataset needs via_region_data.json or exactly one .json "
                                "file (found %s)" % (path, ", ".join(found) or "none"))
    return os.path.join(path, found[0])


class RleCsvDataset(_AnnotatedDataset):
    """Kaggle / iMaterialist RLE CSV (ImageId, EncodedPixels, Height, Width, ClassId[, AttributesIds]),
    with class names from label_descriptions.json when given. ClassId "6_28_77" is class 6."""

    def __init__(self, csv_path=None, image_dir="", label_descriptions="", source="csv", bad_data="skip"):
        super().__init__()
        if csv_path is not None:
            self.load_csv(csv_path, image_dir, label_descriptions, source, bad_data)

    def load_csv(self, csv_path, image_dir="", label_descriptions="", source="csv", bad_data="skip"):
        self._add(_C.data.load_rle_csv(str(csv_path), str(image_dir), str(label_descriptions or ""), bad_data,
                                       source))


class MaskFolderDataset(_AnnotatedDataset):
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
        images, warnings = [], []
        if layout == "per-instance":
            for d in sorted(glob.glob(os.path.join(root, "*", "images"))):
                image_id = os.path.basename(os.path.dirname(d))
                files = sorted(glob.glob(os.path.join(d, "*")))
                masks = sorted(glob.glob(os.path.join(os.path.dirname(d), "masks", "*.png")))
                if not files:
                    warnings.append("%s: no image file; skipped" % d)
                    continue
                images.append((image_id, files[0], [(m, 0, 1) for m in masks]))
        elif layout == "instance-ids":
            for path in sorted(glob.glob(os.path.join(root, images_dir, "*"))):
                stem = os.path.splitext(os.path.basename(path))[0]
                mask = os.path.join(root, masks_dir, stem + mask_suffix + ".png")
                if not os.path.exists(mask):
                    warnings.append("%s: no mask file %s; skipped" % (path, mask))
                    continue
                images.append((stem, path, [(mask, -1, 1)]))  # every value of the label image is an instance
        else:
            raise ValueError("MaskFolderDataset: layout must be 'per-instance' or 'instance-ids', got %r" % (layout,))
        self._add(_C.data.AnnotationSet.from_mask_files(source, [(1, class_name)], images, warnings))


# --- Open Images --------------------------------------------------------------------------------

_OPEN_IMAGES_COLUMNS = ("MaskPath", "ImageID", "LabelName")


def _check_bad_data(bad_data, where):
    if bad_data not in ("skip", "raise"):
        raise ValueError("%s: bad_data must be 'skip' or 'raise', got %r" % (where, bad_data))


def _read_class_descriptions(path):
    """{LabelName: DisplayName} of an Open Images class-descriptions CSV ("/m/011k07,Tortoise" lines;
    a "LabelName,DisplayName" header line is allowed)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("class descriptions file not found: %s" % path)
    names = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for line_no, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise ValueError("%s: line %d: expected 'LabelName,DisplayName', got %r"
                                 % (path, line_no, ",".join(row)))
            if line_no == 1 and row[0].strip() == "LabelName":
                continue
            names[row[0].strip()] = row[1].strip()
    return names


def _read_segmentation_csv(path):
    """(column names, [(line number, row dict)]) of an Open Images segmentation CSV."""
    if not os.path.isfile(path):
        raise FileNotFoundError("segmentation CSV not found: %s" % path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in _OPEN_IMAGES_COLUMNS if c not in columns]
        if missing:
            raise ValueError("%s: not an Open Images segmentation CSV: no column %s (columns: %s)"
                             % (path, ", ".join(missing), ", ".join(columns) or "none"))
        reader.fieldnames = columns
        # line numbers count the header as line 1
        rows = [(i + 2, {k: (v or "").strip() for k, v in row.items() if k is not None})
                for i, row in enumerate(reader)]
    return columns, rows


def _select_labels(classes, descriptions, csv_labels, where):
    """The LabelNames to keep, in class-id order. classes: None (every label of the CSV, sorted by
    display name) or display names / label names, kept in the given order."""
    name_of = lambda label: descriptions.get(label, label)  # noqa: E731
    if classes is None:
        return sorted(set(csv_labels), key=lambda label: (name_of(label).lower(), label))
    if isinstance(classes, str):
        classes = [classes]
    by_name = {}
    for label, name in descriptions.items():
        by_name.setdefault(name.lower(), []).append(label)
    labels = []
    for c in classes:
        c = str(c).strip()
        if c in descriptions or c in csv_labels or c.startswith("/"):  # a LabelName ("/m/011k07")
            found = [c]
        elif c.lower() in by_name:
            found = by_name[c.lower()]
        else:
            hint = "" if descriptions else " (display names need class_descriptions)"
            raise ValueError("%s: unknown class %r: not a LabelName or DisplayName%s" % (where, c, hint))
        labels += [label for label in found if label not in labels]
    return labels


class _MaskIndex:
    """Finds mask files: masks_dir/<MaskPath>, else a file of that name anywhere below masks_dir
    (the train-masks-0/ ... folders of the Open Images archives; one walk, on the first miss)."""

    def __init__(self, masks_dir):
        self.masks_dir = masks_dir
        self._by_name = None

    def find(self, mask_path):
        """The file of mask_path; masks_dir/<mask_path> when there is none."""
        path = os.path.join(self.masks_dir, mask_path)
        if os.path.isfile(path):
            return path
        if self._by_name is None:
            self._by_name = {}
            for top, dirs, files in os.walk(self.masks_dir):
                dirs.sort()
                for f in files:
                    self._by_name.setdefault(f, os.path.join(top, f))
        return self._by_name.get(os.path.basename(mask_path), path)


class OpenImagesDataset(_AnnotatedDataset):
    """Open Images instance segmentations: a CSV with MaskPath, ImageID, LabelName, BoxID,
    BoxXMin, BoxXMax, BoxYMin, BoxYMax, ... (one row per instance), the images as
    <images_dir>/<ImageID>.jpg and one mask PNG per instance in masks_dir (or a subfolder of it).

    class_descriptions: the "LabelName,DisplayName" CSV ("/m/011k07,Tortoise"), for class names.
    classes: display names or label names to keep, in class-id order; pass the same list to train
    and val datasets so they share class ids. Without it every label of the CSV is kept, sorted by
    name. Images without a file are skipped with a warning (``dataset.warnings``), or raise with
    ``bad_data="raise"``. Masks of another size than their image are resized to it (nearest
    neighbour). Each image_info entry keeps the CSV's "labels", "box_ids" and normalised
    "boxes" (x_min, y_min, x_max, y_max) of its instances.
    """

    def __init__(self, csv_path=None, images_dir="", masks_dir="", class_descriptions=None, classes=None,
                 source="openimages", bad_data="skip"):
        super().__init__()
        if csv_path is not None:
            self.load_open_images(csv_path, images_dir, masks_dir, class_descriptions, classes, source, bad_data)

    def load_open_images(self, csv_path, images_dir="", masks_dir="", class_descriptions=None, classes=None,
                         source="openimages", bad_data="skip"):
        csv_path, images_dir, masks_dir = str(csv_path), str(images_dir), str(masks_dir)
        _check_bad_data(bad_data, "OpenImagesDataset")
        warnings = []

        def problem(text, error=ValueError):
            if bad_data == "raise":
                raise error(text)
            warnings.append(text)

        descriptions = _read_class_descriptions(str(class_descriptions)) if class_descriptions else {}
        _, rows = _read_segmentation_csv(csv_path)
        good = []
        for line_no, row in rows:
            empty = [c for c in _OPEN_IMAGES_COLUMNS if not row.get(c)]
            if empty:
                problem("%s: line %d: empty %s; skipped" % (csv_path, line_no, ", ".join(empty)))
            else:
                good.append(row)
        labels = _select_labels(classes, descriptions, {r["LabelName"] for r in good}, "OpenImagesDataset")
        class_ids = {label: i + 1 for i, label in enumerate(labels)}
        seen = {r["LabelName"] for r in good}
        names = []
        for label in labels:
            name = descriptions.get(label)
            if name is None:
                name = label
                if descriptions:
                    warnings.append("%s: label %s is not in %s; named by its label"
                                    % (csv_path, label, class_descriptions))
            if label not in seen:
                warnings.append("%s: class %s (%s) has no instances" % (csv_path, name, label))
            names.append((class_ids[label], name))

        kept = [r for r in good if r["LabelName"] in class_ids]
        masks = _MaskIndex(masks_dir)
        by_image = {}
        for r in kept:
            by_image.setdefault(r["ImageID"], []).append(r)
        images, image_rows = [], []
        for image_id, rows_of_image in by_image.items():
            path = os.path.join(images_dir, image_id + ".jpg")
            if not os.path.isfile(path):
                problem("%s: image file not found: %s; its %d instance(s) skipped"
                        % (csv_path, path, len(rows_of_image)), FileNotFoundError)
                continue
            images.append((image_id, path, [(masks.find(r["MaskPath"]), 0, class_ids[r["LabelName"]])
                                            for r in rows_of_image]))
            image_rows.append(rows_of_image)
        first = len(self.image_info)
        self._add(_C.data.AnnotationSet.from_mask_files(source, names, images, warnings))
        for info, rows_of_image in zip(self.image_info[first:], image_rows):
            info["labels"] = [r["LabelName"] for r in rows_of_image]
            info["box_ids"] = [r.get("BoxID", "") for r in rows_of_image]
            info["boxes"] = [_box_of(r) for r in rows_of_image]


def _box_of(row):
    """(x_min, y_min, x_max, y_max) normalised to 0..1 from a CSV row, or None when absent."""
    try:
        return tuple(float(row[k]) for k in ("BoxXMin", "BoxYMin", "BoxXMax", "BoxYMax"))
    except (KeyError, ValueError):
        return None
