"""The C++ data loader: same batches for a seed whatever the worker count, augmentation that keeps
image and masks aligned, bad samples reported and skipped (or raised), built-in datasets loaded
without Python and equal to the Python path."""
import os

import cv2
import numpy as np
import pytest

from conftest import shared_path
from mrcnn import utils
from mrcnn.augment import Augmentation
from mrcnn.config import Config
from mrcnn.model import make_loader


class SmallConfig(Config):
    NAME = "loader"
    NUM_CLASSES = 3
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 96
    IMAGE_MAX_DIM = 128


class PatternDataset(utils.Dataset):
    """Rectangles and ellipses whose pixels carry their own colour: instance k is painted
    (40 + 50k, 255 - 50k, 30k) on a grey background, so image and masks can be checked against each
    other after any geometric augmentation."""

    def __init__(self, count=6, bad=(), empty=()):
        super().__init__()
        self.add_class("p", 1, "rect")
        self.add_class("p", 2, "ellipse")
        rng = np.random.default_rng(7)
        for i in range(count):
            h, w = int(rng.integers(70, 150)), int(rng.integers(70, 150))
            shapes = []
            for k in range(0 if i in empty else int(rng.integers(1, 4))):
                y, x = int(rng.integers(5, h - 30)), int(rng.integers(5, w - 30))
                shapes.append((int(rng.integers(1, 3)), y, x, int(rng.integers(10, 25)), int(rng.integers(10, 25))))
            self.add_image("p", i, path="pattern%d" % i, height=h, width=w, shapes=shapes, bad=i in bad)

    @staticmethod
    def colour(k):
        return (40 + 50 * k, 255 - 50 * k, 30 * k)

    def load_image(self, image_id):
        info = self.image_info[image_id]
        if info["bad"]:
            raise ValueError("cannot decode image file %s (corrupt)" % info["path"])
        image = np.full((info["height"], info["width"], 3), 128, np.uint8)
        masks, _ = self.load_mask(image_id)
        for k in range(masks.shape[2]):
            image[masks[:, :, k]] = self.colour(k)
        return image

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        h, w = info["height"], info["width"]
        masks = np.zeros((h, w, len(info["shapes"])), np.uint8)
        for k, (c, y, x, sh, sw) in enumerate(info["shapes"]):
            m = np.zeros((h, w), np.uint8)
            if c == 1:
                cv2.rectangle(m, (x, y), (x + sw, y + sh), 1, -1)
            else:
                cv2.ellipse(m, (x + sw // 2, y + sh // 2), (sw // 2, sh // 2), 0, 0, 360, 1, -1)
            masks[:, :, k] = m & ~masks[:, :, :k].any(axis=2)
        return masks.astype(bool), np.array([s[0] for s in info["shapes"]], np.int32)


def prepared(ds):
    ds.prepare()
    return ds


def batches(loader, n):
    return [loader.next_batch() for _ in range(n)]


def same_batches(a, b):
    assert len(a) == len(b)
    for ba, bb in zip(a, b):
        assert len(ba) == len(bb)
        for sa, sb in zip(ba, bb):
            assert np.array_equal(sa["image"], sb["image"])
            assert np.array_equal(sa["masks"], sb["masks"])
            assert np.array_equal(sa["class_ids"].numpy(), sb["class_ids"].numpy())
            assert np.array_equal(sa["boxes"].numpy(), sb["boxes"].numpy())


def test_stream_is_deterministic_for_a_seed_whatever_the_workers():
    ds = prepared(PatternDataset(7))
    aug = Augmentation(fliplr=0.5, flipud=0.5, rot90=0.5, scale=(0.7, 1.3), crop=0.8, brightness=0.1)
    ref = batches(make_loader(ds, SmallConfig(), aug, seed=3, workers=0), 8)
    same_batches(ref, batches(make_loader(ds, SmallConfig(), aug, seed=3, workers=2), 8))
    other = batches(make_loader(ds, SmallConfig(), aug, seed=4, workers=2), 8)
    assert any(not np.array_equal(a["image"], b["image"]) for x, y in zip(ref, other) for a, b in zip(x, y))
    # every epoch visits every image once (8 batches of 2 = 16 samples over 7 images)
    loader = make_loader(ds, SmallConfig(), None, seed=5, workers=0)
    assert sorted(loader.image_index(k) for k in range(7)) == list(range(7))
    assert sorted(loader.image_index(k) for k in range(7, 14)) == list(range(7))
    assert [loader.image_index(k) for k in range(7)] != [loader.image_index(k) for k in range(7, 14)]


def test_seek_resumes_the_stream():
    ds = prepared(PatternDataset(5))
    a = make_loader(ds, SmallConfig(), Augmentation(fliplr=0.5), seed=1, workers=2)
    batches(a, 3)
    pos = a.position
    rest = batches(a, 3)
    b = make_loader(ds, SmallConfig(), Augmentation(fliplr=0.5), seed=1, workers=1)
    b.seek(pos)
    same_batches(rest, batches(b, 3))


@pytest.mark.parametrize("aug", [
    Augmentation(fliplr=1.0),
    Augmentation(flipud=1.0),
    Augmentation(rot90=1.0),
    Augmentation(scale=(0.5, 1.8)),
    Augmentation(crop=0.5),
    Augmentation(fliplr=0.5, flipud=0.5, rot90=0.5, scale=(0.6, 1.5), crop=0.6),
])
def test_geometric_augmentation_keeps_image_and_masks_aligned(aug):
    ds = prepared(PatternDataset(6))
    loader = make_loader(ds, SmallConfig(), aug, seed=11, workers=0)
    checked = 0
    for k in range(12):
        s = loader.prepare(k)
        image, masks, ids, boxes = s["image"], s["masks"], s["class_ids"].numpy(), s["boxes"].numpy()
        assert masks.shape[:2] == image.shape[:2] and masks.shape[2] == len(ids) == len(boxes)
        colours = [np.array(PatternDataset.colour(j)) for j in range(3)]
        for n in range(masks.shape[2]):
            m = masks[:, :, n]
            inner = cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            if inner.sum() < 10:
                continue
            # the interior of each mask has one instance colour (bilinear edges aside)
            px = image[inner].astype(int)
            dist = [np.abs(px - c).sum(axis=1) for c in colours]
            best = np.argmin([np.median(d) for d in dist])
            assert np.mean(dist[best] <= 6) > 0.97
            # and the box encloses the mask exactly (x2, y2 exclusive)
            ys, xs = np.nonzero(m)
            assert list(boxes[n]) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            checked += 1
        # background stays background: pixels outside every (dilated) mask are grey
        any_mask = cv2.dilate(masks.any(axis=2).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        if (~any_mask).any():
            assert np.mean(np.abs(image[~any_mask].astype(int) - 128).sum(axis=1) <= 6) > 0.99
    assert checked > 10


def test_resize_follows_the_config():
    ds = prepared(PatternDataset(4))
    cfg = SmallConfig()
    loader = make_loader(ds, cfg, None, seed=0, workers=0)
    for k in range(4):
        s = loader.prepare(k)
        info = ds.image_info[loader.image_index(k)]
        image, _ = utils.resize_image(np.zeros((info["height"], info["width"], 3), np.uint8),
                                      cfg.IMAGE_MIN_DIM, cfg.IMAGE_MAX_DIM, mode="none")[:2]
        h, w = s["image"].shape[:2]
        scale = max(1.0, cfg.IMAGE_MIN_DIM / min(info["height"], info["width"]))
        if round(max(info["height"], info["width"]) * scale) > cfg.IMAGE_MAX_DIM:
            scale = cfg.IMAGE_MAX_DIM / max(info["height"], info["width"])
        assert (h, w) == (round(info["height"] * scale), round(info["width"] * scale))


def test_colour_augmentation_changes_only_the_image():
    ds = prepared(PatternDataset(4))
    plain = make_loader(ds, SmallConfig(), None, seed=2, workers=0)
    jitter = make_loader(ds, SmallConfig(), Augmentation(brightness=0.2, contrast=0.3, saturation=0.5, hue=30,
                                                        blur=1.0), seed=2, workers=0)
    for k in range(4):
        a, b = plain.prepare(k), jitter.prepare(k)
        assert np.array_equal(a["masks"], b["masks"])
        assert not np.array_equal(a["image"], b["image"])


def test_python_hook_runs_like_an_imgaug_augmenter():
    ds = prepared(PatternDataset(4))

    def flip(image, masks, seed):
        return image[:, ::-1].copy(), masks[:, ::-1].copy()

    plain = make_loader(ds, SmallConfig(), None, seed=2, workers=0)
    hooked = make_loader(ds, SmallConfig(), flip, seed=2, workers=2)
    for k in range(4):
        a, b = plain.prepare(k), hooked.prepare(k)
        assert np.array_equal(a["image"][:, ::-1], b["image"])
        assert np.array_equal(a["masks"][:, ::-1], b["masks"])


class _ImgaugStandIn:
    """The part of imgaug's interface Matterport's load_image_gt uses: an augmenter's
    to_deterministic() / reseed() / augment_image(image, hooks=...), and HooksImages whose
    activator(images, augmenter, parents, default) decides which augmenters touch the masks.
    (imgaug's last release, 0.4.0, does not import under numpy 2, so the real one cannot run here.)"""

    class HooksImages:
        def __init__(self, activator=None):
            self.activator = activator

    class Augmenter:
        def __init__(self, children):
            self.children = children
            self.seed = None

        def to_deterministic(self):
            return _ImgaugStandIn.Augmenter(self.children)

        def reseed(self, seed):
            self.seed = seed

        def augment_image(self, image, hooks=None):
            for child in self.children:
                if hooks is None or hooks.activator(image, child, [self], True):
                    image = child(image, self.seed)
            return image

    class Fliplr:  # geometric: Matterport applies it to masks too
        def __call__(self, image, seed):
            return image[:, ::-1].copy()

    class Multiply:  # colour: images only
        def __call__(self, image, seed):
            return (image * (0.8 + 0.4 * (seed % 7) / 7)).astype(image.dtype)


def test_imgaug_augmenter_interface(monkeypatch):
    import sys
    import types
    from mrcnn.augment import to_loader_options

    module = types.ModuleType("imgaug")
    module.HooksImages = _ImgaugStandIn.HooksImages
    monkeypatch.setitem(sys.modules, "imgaug", module)
    seq = _ImgaugStandIn.Augmenter([_ImgaugStandIn.Fliplr(), _ImgaugStandIn.Multiply()])
    native, hook = to_loader_options(seq)
    assert native is None and callable(hook)
    ds = prepared(PatternDataset(4))
    loader = make_loader(ds, SmallConfig(), seq, seed=2, workers=1)
    plain = make_loader(ds, SmallConfig(), None, seed=2, workers=0)
    for k in range(4):
        a, b = plain.prepare(k), loader.prepare(k)
        assert np.array_equal(a["masks"][:, ::-1], b["masks"])  # flipped, not multiplied
        assert not np.array_equal(a["image"][:, ::-1], b["image"])  # flipped and multiplied
    # the same seed gives the same augmentation (the loader reseeds the deterministic copy)
    again = make_loader(ds, SmallConfig(), seq, seed=2, workers=0)
    assert np.array_equal(loader.prepare(1)["image"], again.prepare(1)["image"])


def test_bad_and_empty_samples_are_skipped_or_raise():
    ds = prepared(PatternDataset(6, bad={1, 4}, empty={2}))
    loader = make_loader(ds, SmallConfig(), None, seed=0, workers=2)
    got = [s for b in batches(loader, 6) for s in b]
    assert len(got) == 12 and all(len(s["class_ids"]) > 0 for s in got)
    assert loader.skipped_bad >= 2 and loader.skipped_empty >= 1
    warnings = loader.take_warnings()
    assert any("pattern1" in w and "corrupt" in w for w in warnings)
    strict = make_loader(ds, SmallConfig(), None, seed=0, workers=0, shuffle=False, on_error="raise")
    with pytest.raises(RuntimeError, match="pattern1.*corrupt"):
        batches(strict, 3)
    every = prepared(PatternDataset(3, bad={0, 1, 2}))
    with pytest.raises(RuntimeError, match="every one of the 3 images failed"):
        make_loader(every, SmallConfig(), None, workers=0).next_batch()
    with pytest.raises(ValueError, match="on_error"):
        make_loader(ds, SmallConfig(), None, on_error="ignore")
    with pytest.raises(ValueError, match="fliplr"):
        make_loader(ds, SmallConfig(), Augmentation(fliplr=2))


def test_built_in_dataset_loads_in_cpp_like_the_python_path(tmp_path):
    from mrcnn.datasets import CocoDataset
    root = shared_path("data", "fruits_nuts")
    ds = CocoDataset(os.path.join(root, "trainval.json"), os.path.join(root, "images"))
    ds.prepare()

    class ViaPython(CocoDataset):  # the same data through Python callbacks
        def load_mask(self, image_id):
            return super().load_mask(image_id)

    py = ViaPython(os.path.join(root, "trainval.json"), os.path.join(root, "images"))
    py.prepare()
    cfg = SmallConfig()
    cfg.NUM_CLASSES = ds.num_classes
    aug = Augmentation(fliplr=0.5, scale=(0.8, 1.2))
    a = make_loader(ds, cfg, aug, seed=9, workers=2)
    b = make_loader(py, cfg, aug, seed=9, workers=2)
    same_batches(batches(a, 3), batches(b, 3))


def _mask_png_layouts(root):
    """Per-instance PNGs (one colour PNG, one smaller than its image), an instance-id PNG folder and
    an Open Images layout, all drawn from the same random rectangles."""
    rng = np.random.default_rng(3)
    for i in range(4):
        h, w = int(rng.integers(60, 120)), int(rng.integers(60, 120))
        image = rng.integers(0, 255, (h, w, 3)).astype(np.uint8)
        labels = np.zeros((h, w), np.uint8)
        d = root / "nuclei" / ("img%d" % i)
        (d / "images").mkdir(parents=True)
        (d / "masks").mkdir()
        cv2.imwrite(str(d / "images" / ("img%d.png" % i)), image)
        for k in range(1, 4):
            y, x = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
            m = np.zeros((h, w), np.uint8)
            m[y:y + 15, x:x + 18] = 255
            labels[m > 0] = 10 * k
            if k == 2:  # a colour mask file
                m = np.dstack([np.zeros_like(m), m, np.zeros_like(m)])
            if k == 3 and i % 2:  # stored at half size: resized to the image
                m = cv2.resize(m, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
            cv2.imwrite(str(d / "masks" / ("m%d.png" % k)), m)
        (root / "fudan" / "PNGImages").mkdir(parents=True, exist_ok=True)
        (root / "fudan" / "PedMasks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "fudan" / "PNGImages" / ("p%d.png" % i)), image)
        cv2.imwrite(str(root / "fudan" / "PedMasks" / ("p%d_mask.png" % i)), labels)
        (root / "oi" / "images").mkdir(parents=True, exist_ok=True)
        (root / "oi" / "masks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "oi" / "images" / ("id%d.jpg" % i)), image)
        rows = []
        for k in range(1, 4):
            name = "id%d_m%d.png" % (i, k)
            cv2.imwrite(str(root / "oi" / "masks" / name), ((labels == 10 * k) * 255).astype(np.uint8)[::2, ::2])
            rows.append("%s,id%d,/m/%s,b%d,0,1,0,1,0.9," % (name, i, "cat" if k % 2 else "dog", k))
        with open(root / "oi" / "segmentation.csv", "a") as f:
            if i == 0:
                f.write("MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks\n")
            f.write("\n".join(rows) + "\n")
    with open(root / "oi" / "classes.csv", "w") as f:
        f.write("/m/cat,Cat\n/m/dog,Dog\n")


@pytest.mark.parametrize("layout", ["per-instance", "instance-ids", "open-images"])
def test_mask_png_datasets_load_in_cpp_like_the_python_path(tmp_path, layout):
    from mrcnn.datasets import MaskFolderDataset, OpenImagesDataset
    from mrcnn.model import _native_records
    _mask_png_layouts(tmp_path)

    def make(cls):
        if layout == "open-images":
            ds = cls(str(tmp_path / "oi" / "segmentation.csv"), str(tmp_path / "oi" / "images"),
                     str(tmp_path / "oi" / "masks"), class_descriptions=str(tmp_path / "oi" / "classes.csv"))
        elif layout == "per-instance":
            ds = cls(str(tmp_path / "nuclei"), layout="per-instance", class_name="nucleus")
        else:
            ds = cls(str(tmp_path / "fudan"), layout="instance-ids", class_name="person")
        ds.prepare()
        return ds

    base = OpenImagesDataset if layout == "open-images" else MaskFolderDataset

    class ThroughPython(base):
        def load_mask(self, image_id):
            return super().load_mask(image_id)

    ds, py = make(base), make(ThroughPython)
    assert _native_records(ds) is not None and _native_records(py) is None
    assert len(ds.image_ids) == 4
    cfg = SmallConfig()
    cfg.NUM_CLASSES = ds.num_classes
    aug = Augmentation(fliplr=0.5, scale=(0.8, 1.2))
    a = make_loader(ds, cfg, aug, seed=4, workers=2, batch_size=1)
    b = make_loader(py, cfg, aug, seed=4, workers=2, batch_size=1)
    got = batches(a, 4)
    assert sum(len(s["class_ids"]) for batch in got for s in batch) == 12
    same_batches(got, batches(b, 4))


def test_mask_files_read_as_opencv_reads_and_resizes_them(tmp_path):
    """The one mask-file reader (C++) against OpenCV's Python API: 8- and 16-bit label images,
    colour files (first three channels' maximum, alpha ignored), nearest-neighbour resizing to
    odd image sizes in both directions."""
    from mrcnn.datasets import MaskFolderDataset
    from mrcnn.utils import read_mask_file
    rng = np.random.default_rng(5)
    (tmp_path / "PNGImages").mkdir()
    (tmp_path / "PedMasks").mkdir()
    cases = [((37, 53), (19, 26), np.uint8, 1), ((31, 29), (64, 63), np.uint16, 1), ((17, 23), (17, 23), np.uint8, 4),
             ((45, 7), (13, 29), np.uint16, 3), ((101, 99), (50, 33), np.uint8, 3)]
    for n, (image_size, mask_size, dtype, channels) in enumerate(cases):
        labels = rng.integers(0, 5, mask_size).astype(dtype) * (700 if dtype == np.uint16 else 1)
        stored = labels if channels == 1 else np.dstack([labels] * channels)
        if channels > 1:  # colour: the label in one channel, noise below it in another; alpha anything
            stored[:, :, 0] = labels // 2
            if channels == 4:
                stored[:, :, 3] = rng.integers(0, 255, mask_size)
        cv2.imwrite(str(tmp_path / "PedMasks" / ("p%d_mask.png" % n)), stored)
        cv2.imwrite(str(tmp_path / "PNGImages" / ("p%d.png" % n)), np.zeros(image_size + (3,), np.uint8))
        read = cv2.imread(str(tmp_path / "PedMasks" / ("p%d_mask.png" % n)), cv2.IMREAD_UNCHANGED)
        expected_pixels = read if read.ndim == 2 else read[:, :, :3].max(axis=2)
        assert np.array_equal(read_mask_file(tmp_path / "PedMasks" / ("p%d_mask.png" % n)), expected_pixels)
    ds = MaskFolderDataset(str(tmp_path), layout="instance-ids", class_name="person")
    ds.prepare()
    for n, (image_size, _, _, _) in enumerate(cases):
        read = cv2.imread(str(tmp_path / "PedMasks" / ("p%d_mask.png" % n)), cv2.IMREAD_UNCHANGED)
        pixels = read if read.ndim == 2 else read[:, :, :3].max(axis=2)
        resized = cv2.resize(pixels, (image_size[1], image_size[0]), interpolation=cv2.INTER_NEAREST)
        values = [v for v in np.unique(resized) if v != 0]
        masks, ids = ds.load_mask(n)
        assert masks.shape == image_size + (len(values),) and list(ids) == [1] * len(values)
        for k, v in enumerate(values):
            assert np.array_equal(masks[:, :, k], resized == v), (n, v)
    with pytest.raises(ValueError, match="mask file not found: .*nothing.png"):
        read_mask_file(tmp_path / "nothing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="mask file is empty: .*empty.png"):
        read_mask_file(tmp_path / "empty.png")


def test_annotation_sets_are_shared_by_subsets_and_travel_by_pickle(tmp_path):
    """A built-in dataset holds its parsed annotations in C++: subsets share them, pickling (the
    processes of data-parallel training) carries them, and images added by hand send the dataset
    through Python."""
    import pickle
    from mrcnn.datasets import CocoDataset, MaskFolderDataset
    from mrcnn.model import _native_records
    root = shared_path("data", "fruits_nuts")
    ds = CocoDataset(os.path.join(root, "trainval.json"), os.path.join(root, "images"))
    ds.prepare()
    part = ds.subset([3, 1])
    assert part.image_info[0]["annotations"] is ds.image_info[3]["annotations"]
    assert [r for _, r in _native_records(part)] == [3, 1]
    back = pickle.loads(pickle.dumps(part))
    for i in range(2):
        m1, c1 = part.load_mask(i)
        m2, c2 = back.load_mask(i)
        assert np.array_equal(m1, m2) and np.array_equal(c1, c2) and m1.shape[2] > 0
        assert back.instances(i) == part.instances(i)
    _mask_png_layouts(tmp_path)
    folder = MaskFolderDataset(str(tmp_path / "fudan"), layout="instance-ids")
    folder.prepare()
    again = pickle.loads(pickle.dumps(folder))
    assert np.array_equal(again.load_mask(2)[0], folder.load_mask(2)[0]) and again.instances(2) == folder.instances(2)
    mixed = CocoDataset(os.path.join(root, "trainval.json"), os.path.join(root, "images"))
    mixed.add_image("coco", "extra", ds.image_info[0]["path"])
    mixed.prepare()
    assert _native_records(mixed) is None
    with pytest.raises(IndexError):
        ds.image_info[0]["annotations"].instances(10 ** 6)
    with pytest.raises(ValueError, match="not among the dataset's classes"):
        ds.image_info[0]["annotations"].load_mask(0, {}, 10, 10)


def test_broken_files_in_a_built_in_dataset_are_skipped(tmp_path):
    from mrcnn.datasets import CocoDataset
    import json
    good = np.full((40, 50, 3), 90, np.uint8)
    cv2.imwrite(str(tmp_path / "good.jpg"), good)
    data = open(tmp_path / "good.jpg", "rb").read()
    open(tmp_path / "truncated.jpg", "wb").write(data[:len(data) // 3])
    open(tmp_path / "zero.jpg", "wb").write(b"")
    images, anns = [], []
    for i, name in enumerate(["good.jpg", "truncated.jpg", "zero.jpg", "missing.jpg"], start=1):
        images.append({"id": i, "file_name": name, "height": 40, "width": 50})
        anns.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0,
                     "segmentation": [[5, 5, 30, 5, 30, 30, 5, 30]], "area": 625, "bbox": [5, 5, 25, 25]})
    (tmp_path / "a.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                 "categories": [{"id": 1, "name": "thing"}]}))
    ds = CocoDataset(str(tmp_path / "a.json"), str(tmp_path))
    ds.prepare()
    loader = make_loader(ds, SmallConfig(), None, seed=0, workers=1)
    for batch in batches(loader, 3):
        for s in batch:
            assert s["image"].shape[2] == 3 and len(s["class_ids"]) == 1
    text = "\n".join(loader.take_warnings())
    assert loader.skipped_bad >= 1 and ("zero.jpg" in text or "missing.jpg" in text or "truncated.jpg" in text)


@pytest.mark.parametrize("wrong, message", [
    ("none", r"load_mask\(0\) must return \(masks \[H, W, N\], class_ids \[N\]\), got NoneType"),
    ("size", r"load_mask\(0\) gave masks of 10x12 \(H x W\) for an image of \d+x\d+"),
    ("count", r"load_mask\(0\) gave \d+ masks but 7 class ids"),
])
def test_what_a_python_dataset_gives_wrong_is_named(wrong, message):
    class Wrong(PatternDataset):
        def load_image(self, image_id):
            return np.full((self.image_info[image_id]["height"], self.image_info[image_id]["width"], 3), 128, np.uint8)

        def load_mask(self, image_id):
            masks, ids = super().load_mask(image_id)
            if wrong == "none":
                return None
            if wrong == "size":
                return np.zeros((10, 12, len(ids)), bool), ids
            return masks, np.ones(7, np.int32)

    strict = make_loader(prepared(Wrong(3)), SmallConfig(), None, seed=0, workers=0, shuffle=False, on_error="raise")
    with pytest.raises(RuntimeError, match=message) as e:
        batches(strict, 1)
    assert "Exception raised from" not in str(e.value)  # no C++ backtrace
