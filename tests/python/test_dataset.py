"""utils.Dataset with Matterport's API, driven the way the balloon notebook drives it: a subclass
that reads VIA 2.x regions and overrides load_mask."""
import json
import os

import cv2
import numpy as np
import pytest

from conftest import shared_path
from mrcnn import utils
from mrcnn.codecs import via_shape_to_mask


class BalloonDataset(utils.Dataset):
    """As a user writes it: one class, polygons from via_region_data.json."""

    def load_balloon(self, dataset_dir, subset):
        self.add_class("balloon", 1, "balloon")
        directory = os.path.join(dataset_dir, subset)
        annotations = json.load(open(os.path.join(directory, "via_region_data.json")))
        for a in annotations.values():
            if not a["regions"]:
                continue
            shapes = [r["shape_attributes"] for r in a["regions"].values()]
            image_path = os.path.join(directory, a["filename"])
            h, w = cv2.imread(image_path).shape[:2]
            self.add_image("balloon", image_id=a["filename"], path=image_path, width=w, height=h, polygons=shapes)

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        masks = np.stack([via_shape_to_mask(p, info["height"], info["width"]) for p in info["polygons"]], axis=-1)
        return masks.astype(bool), np.ones([masks.shape[-1]], dtype=np.int32)


def test_balloon_subclass_loads_images_and_masks():
    root = shared_path("data", "balloon")
    train = BalloonDataset()
    train.load_balloon(root, "train")
    train.prepare()
    assert train.num_classes == 2 and train.class_names == ["BG", "balloon"]
    assert train.num_images == 61 and list(train.image_ids) == list(range(61))
    assert train.map_source_class_id("balloon.1") == 1
    assert train.get_source_class_id(1, "balloon") == 1
    assert train.source_class_ids == {"": [0], "balloon": [0, 1]}
    image = train.load_image(0)
    masks, class_ids = train.load_mask(0)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert masks.shape[:2] == image.shape[:2] and masks.dtype == bool and masks.any(axis=(0, 1)).all()
    assert class_ids.dtype == np.int32 and len(class_ids) == masks.shape[2]


def test_classes_are_renumbered_across_sources():
    ds = utils.Dataset()
    ds.add_class("coco", 12, "dog,hound")
    ds.add_class("own", 1, "pumpkin")
    ds.add_class("coco", 12, "dog")  # duplicates are ignored
    ds.add_image("own", "a", "/nowhere/a.jpg", width=3)
    ds.prepare()
    assert ds.class_names == ["BG", "dog", "pumpkin"]
    assert ds.map_source_class_id("own.1") == 2
    assert ds.image_info[0]["width"] == 3 and ds.source_image_link(0) == "/nowhere/a.jpg"
    with pytest.raises(KeyError, match="own.7"):
        ds.map_source_class_id("own.7")
    with pytest.raises(ValueError, match="belongs to source 'coco'"):
        ds.get_source_class_id(1, "own")
    with pytest.raises(ValueError, match="must not contain"):
        ds.add_class("a.b", 1, "x")
    masks, ids = ds.load_mask(0)
    assert masks.shape == (0, 0, 0) and ids.dtype == np.int32


def test_load_image_converts_and_reports_bad_files(tmp_path):
    gray = (np.arange(20, dtype=np.uint8).reshape(4, 5) * 10)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    ds = utils.Dataset()
    for name in ("g.png", "a.png", "bad.jpg", "missing.jpg"):
        ds.add_image("t", name, str(tmp_path / name))
    ds.prepare()
    g = ds.load_image(0)
    assert g.shape == (4, 5, 3) and (g[..., 0] == gray).all()
    a = ds.load_image(1)
    assert a.shape == (3, 3, 3) and (a[..., 0] == 200).all() and (a[..., 2] == 0).all()
    with pytest.raises(ValueError, match="bad.jpg"):
        ds.load_image(2)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        ds.load_image(3)


def test_built_in_via_loader_matches_the_user_subclass():
    from mrcnn.datasets import ViaDataset
    root = shared_path("data", "balloon")
    user = BalloonDataset()
    user.load_balloon(root, "val")
    user.prepare()
    built = ViaDataset(os.path.join(root, "val", "via_region_data.json"), os.path.join(root, "val"),
                       default_class="balloon", source="balloon")
    built.prepare()
    assert built.warnings == []
    assert built.class_names == ["BG", "balloon"]
    by_name = {info["id"]: i for i, info in enumerate(built.image_info)}
    assert set(by_name) == {info["id"] for info in user.image_info}
    for i, info in enumerate(user.image_info):
        j = by_name[info["id"]]
        assert (built.image_info[j]["height"], built.image_info[j]["width"]) == (info["height"], info["width"])
        m1, c1 = user.load_mask(i)
        m2, c2 = built.load_mask(j)
        assert np.array_equal(m1, m2) and np.array_equal(c1, c2)


def test_built_in_coco_loader_on_fruits_nuts():
    from mrcnn import cocomask
    from mrcnn.datasets import CocoDataset
    root = shared_path("data", "fruits_nuts")
    ds = CocoDataset(os.path.join(root, "trainval.json"), os.path.join(root, "images"))
    ds.prepare()
    assert ds.class_names == ["BG", "date", "fig", "hazelnut"]
    doc = json.load(open(os.path.join(root, "trainval.json")))
    assert ds.num_images == len(doc["images"])
    assert sum(len(ds.instances(i)) for i in ds.image_ids) == len(doc["annotations"])
    masks, ids = ds.load_mask(0)
    first = [a for a in doc["annotations"] if a["image_id"] == doc["images"][0]["id"]]
    assert masks.shape[2] == len(first)
    h, w = masks.shape[:2]
    for k, a in enumerate(first):  # each mask is the polygon rasterised as pycocotools does
        ref = cocomask.decode(cocomask.merge(cocomask.frPyObjects(a["segmentation"], h, w))).astype(bool)
        assert np.array_equal(masks[:, :, k], ref)
        assert ids[k] == ds.map_source_class_id("coco.%d" % a["category_id"])
    assert ds.load_image(0).shape == (h, w, 3)


def test_bad_annotations_are_skipped_with_a_warning_or_raise(tmp_path):
    from mrcnn.datasets import CocoDataset
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 12}],
           "categories": [{"id": 5, "name": "thing"}],
           "annotations": [
               {"id": 1, "image_id": 1, "category_id": 5, "segmentation": [[1, 1, 8, 1, 8, 7]], "iscrowd": 0},
               {"id": 2, "image_id": 1, "category_id": 5, "segmentation": [[1, 1, 2]], "iscrowd": 0},
               {"id": 3, "image_id": 9, "category_id": 5, "segmentation": [[1, 1, 8, 1, 8, 7]]},
               {"id": 4, "image_id": 1, "category_id": 5, "iscrowd": 1,
                "segmentation": {"size": [10, 12], "counts": [0, 30, 90]}}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((10, 12, 3), np.uint8))
    ds = CocoDataset(str(path), str(tmp_path))
    ds.prepare()
    assert len(ds.warnings) == 2
    assert "annotation 2" in ds.warnings[0] and "annotation 3" in ds.warnings[1]
    masks, ids = ds.load_mask(0)
    assert masks.shape == (10, 12, 2) and list(ids) == [1, -1]  # the crowd region is negative
    assert masks[:, :, 1].sum() == 30
    with pytest.raises(ValueError, match="annotation 2"):
        CocoDataset(str(path), str(tmp_path), bad_data="raise")
    path.write_text("{not json")
    with pytest.raises(ValueError, match="ann.json"):
        CocoDataset(str(path), str(tmp_path))


def test_built_in_csv_loader_on_fashion():
    import csv
    from mrcnn.codecs import kaggle_rle_decode
    from mrcnn.datasets import RleCsvDataset
    root = shared_path("data", "fashion")
    ds = RleCsvDataset(os.path.join(root, "train.csv"), os.path.join(root, "images"),
                       os.path.join(root, "label_descriptions.json"), source="fashion")
    ds.prepare()
    assert ds.warnings == []
    assert ds.num_classes == 14 and ds.class_names[1] == "bag"
    rows = list(csv.DictReader(open(os.path.join(root, "train.csv"))))
    assert ds.num_images == len({r["ImageId"] for r in rows}) == 799  # one of the 800 photos has no instance
    assert sum(len(ds.instances(i)) for i in ds.image_ids) == len(rows) == 4254
    first = [r for r in rows if r["ImageId"] == ds.image_info[0]["id"]]
    masks, ids = ds.load_mask(0)
    assert masks.shape[2] == len(first)
    for k, r in enumerate(first):
        assert np.array_equal(masks[:, :, k], kaggle_rle_decode(r["EncodedPixels"], int(r["Height"]), int(r["Width"])))
        assert ids[k] == ds.map_source_class_id("fashion.%s" % r["ClassId"].split("_")[0])
    assert ds.load_image(0).shape[:2] == masks.shape[:2]


def test_csv_loader_2019_class_ids_quotes_and_bad_rows(tmp_path):
    from mrcnn.datasets import RleCsvDataset
    (tmp_path / "x.csv").write_text(
        "ImageId,EncodedPixels,Height,Width,ClassId,AttributesIds\n"
        'a.jpg,1 3 10 2,4,5,6_28_77,"28,77"\n'
        "a.jpg,5 2,4,5,2,\n"
        "a.jpg,1 99,4,5,2,\n"       # runs past the image
        "b.jpg,1 2,oops,5,2,\n")    # bad height
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((4, 5, 3), np.uint8))
    ds = RleCsvDataset(str(tmp_path / "x.csv"), str(tmp_path))
    ds.prepare()
    assert ds.class_names == ["BG", "class_2", "class_6"]
    assert len(ds.warnings) == 2 and "line 4" in ds.warnings[0] and "line 5" in ds.warnings[1]
    assert "Height 'oops' is not a whole number" in ds.warnings[1]
    masks, ids = ds.load_mask(0)
    assert masks.shape == (4, 5, 2) and masks[:, :, 0].sum() == 5 and list(ids) == [2, 1]
    # a class name where the number goes, and a spreadsheet's UTF-8 byte-order mark
    (tmp_path / "y.csv").write_bytes(b"\xef\xbb\xbfImageId,EncodedPixels,Height,Width,ClassId\n"
                                     b"a.jpg,1 3,4,5,shirt\na.jpg,5 2,4,5,3\n")
    ds = RleCsvDataset(str(tmp_path / "y.csv"), str(tmp_path))
    ds.prepare()
    assert len(ds.warnings) == 1 and "line 2" in ds.warnings[0] and "ClassId 'shirt' is not a whole number" \
        in ds.warnings[0]
    assert ds.num_images == 1


def test_mask_folder_loader_on_nucleus_agrees_with_its_csv():
    from mrcnn.datasets import MaskFolderDataset, RleCsvDataset
    root = shared_path("data", "nucleus")
    folder = MaskFolderDataset(os.path.join(root, "stage1_test"), class_name="nucleus")
    folder.prepare()
    assert folder.num_images == 65 and folder.warnings == []
    csv_ds = RleCsvDataset(os.path.join(root, "stage1_solution.csv"), "", bad_data="raise")
    csv_ds.prepare()
    by_id = {info["id"]: i for i, info in enumerate(csv_ds.image_info)}
    for i in range(0, 65, 8):
        masks, ids = folder.load_mask(i)
        ref, _ = csv_ds.load_mask(by_id[folder.image_info[i]["id"]])
        key = lambda m: sorted(np.packbits(m[:, :, k]).tobytes() for k in range(m.shape[2]))  # noqa: E731
        assert key(masks) == key(ref) and (ids == 1).all()
        assert folder.load_image(i).shape[:2] == masks.shape[:2]


def test_mask_folder_instance_id_layout(tmp_path):
    from mrcnn.datasets import MaskFolderDataset
    (tmp_path / "PNGImages").mkdir()
    (tmp_path / "PedMasks").mkdir()
    cv2.imwrite(str(tmp_path / "PNGImages" / "p1.png"), np.zeros((8, 10, 3), np.uint8))
    labels = np.zeros((4, 5), np.uint8)  # half size: resized to the image
    labels[0:2, 0:2] = 1
    labels[2:4, 3:5] = 2
    cv2.imwrite(str(tmp_path / "PedMasks" / "p1_mask.png"), labels)
    cv2.imwrite(str(tmp_path / "PNGImages" / "p2.png"), np.zeros((8, 10, 3), np.uint8))  # no mask file
    ds = MaskFolderDataset(str(tmp_path), layout="instance-ids", class_name="person")
    ds.prepare()
    assert ds.num_images == 1 and len(ds.warnings) == 1 and "p2" in ds.warnings[0]
    masks, ids = ds.load_mask(0)
    assert masks.shape == (8, 10, 2) and masks[:, :, 0].sum() == 16 and list(ids) == [1, 1]


def test_split_subset_and_inspection_pictures(tmp_path):
    from mrcnn import inspection
    from mrcnn.datasets import RleCsvDataset
    root = shared_path("data", "fashion")
    ds = RleCsvDataset(os.path.join(root, "train.csv"), os.path.join(root, "images"),
                       os.path.join(root, "label_descriptions.json"), source="fashion")
    ds.prepare()
    train_ids, val_ids = utils.split_image_ids(ds.image_ids, 0.2, seed=3)
    again = utils.split_image_ids(ds.image_ids, 0.2, seed=3)
    assert np.array_equal(train_ids, again[0]) and len(val_ids) == 160 and not set(train_ids) & set(val_ids)
    val = ds.subset(val_ids[:20])
    assert val.num_images == 20 and val.class_names == ds.class_names
    assert val.image_info[0] is ds.image_info[val_ids[0]]
    stats = inspection.dataset_stats(val)
    assert stats["images"] == 20 and stats["instances"] == sum(stats["class_counts"].values())
    assert len(stats["mask_areas"]) == stats["instances"] and min(stats["mask_areas"]) >= 64
    inspection.plot_dataset_stats(stats, str(tmp_path / "stats.png"))
    grid = inspection.sample_grid(val, 4, size=128, columns=2, path=str(tmp_path / "grid.png"))
    assert grid.shape == (2 * 132 + 4, 2 * 132 + 4, 3)
    saved = cv2.imread(str(tmp_path / "grid.png"))
    assert saved.shape == grid.shape and (tmp_path / "stats.png").stat().st_size > 10000
    # masks are drawn: some pixels are neither white background nor untouched photo grey
    assert len(np.unique(grid.reshape(-1, 3), axis=0)) > 1000


def test_a_duplicated_coco_image_id_is_reported_not_moved(tmp_path):
    from mrcnn.datasets import CocoDataset
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 12},
                      {"id": 2, "file_name": "b.jpg", "height": 10, "width": 12},
                      {"id": 1, "file_name": "c.jpg", "height": 20, "width": 20},
                      {"id": "x", "file_name": "d.jpg", "height": 20, "width": 20}],
           "categories": [{"id": 5, "name": "thing"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "segmentation": [[1, 1, 8, 1, 8, 7]]}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((10, 12, 3), np.uint8))
    ds = CocoDataset(str(path), str(tmp_path))
    ds.prepare()
    assert len(ds.warnings) == 2
    assert "image id 1 appears twice" in ds.warnings[0] and "c.jpg" in ds.warnings[0]
    assert "d.jpg" in ds.warnings[1]  # an id that is not a number: that entry is reported and skipped
    assert ds.num_images == 2
    masks, ids = ds.load_mask(0)  # the annotation stays with the first image of id 1
    assert masks.shape == (10, 12, 1) and list(ids) == [1]
    with pytest.raises(ValueError, match="image id 1 appears twice"):
        CocoDataset(str(path), str(tmp_path), bad_data="raise")


def test_listed_images_missing_from_the_folder_and_unknown_categories_are_reported(tmp_path):
    """COCO and CSV check, as VIA does, that the images they list are in the image folder (one
    report for all, naming the first few); an annotation of a category the file does not list is
    reported and skipped, or raises under bad_data="raise" (it used to fail in load_mask)."""
    from mrcnn.datasets import CocoDataset, RleCsvDataset
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((20, 30, 3), np.uint8))
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 20, "width": 30},
                      {"id": 2, "file_name": "gone.jpg", "height": 20, "width": 30}],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 10, 1, 10, 10]]},
                           {"id": 2, "image_id": 1, "category_id": 7, "segmentation": [[1, 1, 10, 1, 10, 10]]},
                           {"id": 3, "image_id": 2, "category_id": 1, "segmentation": [[1, 1, 10, 1, 10, 10]]}]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    ds = CocoDataset(str(path), str(tmp_path))
    ds.prepare()
    assert ds.num_images == 1 and list(ds.load_mask(0)[1]) == [1]
    assert any("category_id 7 is not in 'categories'" in w for w in ds.warnings)
    assert any("1 of its 2 images are not in the image folder" in w and "gone.jpg" in w for w in ds.warnings)
    with pytest.raises(ValueError, match="category_id 7"):
        CocoDataset(str(path), str(tmp_path), bad_data="raise")
    doc["annotations"] = doc["annotations"][:1] + doc["annotations"][2:]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="gone.jpg"):
        CocoDataset(str(path), str(tmp_path), bad_data="raise")
    (tmp_path / "t.csv").write_text("ImageId,EncodedPixels,Height,Width,ClassId\n"
                                    "a.jpg,1 3,20,30,1\ngone.jpg,1 3,20,30,1\n")
    csv = RleCsvDataset(str(tmp_path / "t.csv"), str(tmp_path))
    csv.prepare()
    assert csv.num_images == 1 and any("gone.jpg" in w for w in csv.warnings)
    # without an image folder the annotations are read on their own
    alone = RleCsvDataset(str(tmp_path / "t.csv"), "")
    alone.prepare()
    assert alone.num_images == 2


def test_a_truncated_jpeg_is_reported_not_trained_on(tmp_path):
    """A JPEG cut short decodes with a grey lower part and only a libjpeg message on stderr: the one
    image reader (read_rgb and the loader) reports it as truncated, naming the file."""
    from mrcnn import model as modellib
    from mrcnn import utils
    from mrcnn.config import Config
    from mrcnn.datasets import CocoDataset
    rng = np.random.default_rng(0)
    for name in ("good.jpg", "cut.jpg"):
        cv2.imwrite(str(tmp_path / name), (rng.random((64, 64, 3)) * 255).astype(np.uint8))
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:len(data) // 2])
    assert utils.read_rgb(str(tmp_path / "good.jpg")).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="cut.jpg is truncated"):
        utils.read_rgb(str(tmp_path / "cut.jpg"))
    doc = {"images": [{"id": i, "file_name": n, "height": 64, "width": 64} for i, n in enumerate(["good.jpg", "cut.jpg"])],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": i + 1, "image_id": i, "category_id": 1, "segmentation": [[5, 5, 40, 5, 40, 40]]}
                           for i in range(2)]}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    ds = CocoDataset(str(tmp_path / "ann.json"), str(tmp_path))
    ds.prepare()

    class Small(Config):
        NAME = "cut"
        NUM_CLASSES = 2
        IMAGES_PER_GPU = 1
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = 64

    loader = modellib.make_loader(ds, Small(), shuffle=False, workers=1)
    for _ in range(3):
        loader.next_batch()
    assert loader.skipped_bad >= 1 and any("cut.jpg is truncated" in w for w in loader.take_warnings())


def test_a_via_region_outside_its_image_is_reported_like_a_broken_polygon(tmp_path):
    from mrcnn.datasets import ViaDataset

    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((40, 60, 3), np.uint8))
    inside = {"name": "polygon", "all_points_x": [5, 30, 30], "all_points_y": [5, 5, 30]}
    outside = {"name": "polygon", "all_points_x": [500, 530, 530], "all_points_y": [400, 400, 430]}
    doc = {"a.jpg1234": {"filename": "a.jpg", "size": 1234, "file_attributes": {},
                         "regions": [{"shape_attributes": inside, "region_attributes": {}},
                                     {"shape_attributes": outside, "region_attributes": {}}]}}
    path = tmp_path / "via.json"
    path.write_text(json.dumps(doc))
    ds = ViaDataset(str(path), str(tmp_path))
    ds.prepare()
    assert len(ds.warnings) == 1 and "a.jpg, region 1" in ds.warnings[0] and "covers no pixel" in ds.warnings[0]
    masks, _ = ds.load_mask(0)
    assert masks.shape == (40, 60, 1) and masks.sum() > 0
    with pytest.raises(ValueError, match="region 1 .*covers no pixel of the 60x40 image"):
        ViaDataset(str(path), str(tmp_path), bad_data="raise")


def test_an_annotated_size_that_is_not_the_files_is_reported(tmp_path):
    from mrcnn.datasets import CocoDataset

    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 12},
                      {"id": 2, "file_name": "b.png", "height": 20, "width": 30},
                      {"id": 3, "file_name": "c.png", "height": 30, "width": 20}],  # EXIF-style turn: kept
           "categories": [{"id": 5, "name": "thing"}],
           "annotations": [{"id": k, "image_id": k, "category_id": 5, "segmentation": [[1, 1, 8, 1, 8, 7]]}
                           for k in (1, 2, 3)]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((10, 12, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((40, 60, 3), np.uint8))  # annotated on a smaller copy
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((20, 30, 3), np.uint8))
    ds = CocoDataset(str(path), str(tmp_path))
    ds.prepare()
    assert ds.num_images == 2
    assert len(ds.warnings) == 1 and "image 2 is annotated as 30x20 but" in ds.warnings[0] and "is 60x40" in ds.warnings[0]
    with pytest.raises(ValueError, match="b.png is 60x40"):
        CocoDataset(str(path), str(tmp_path), bad_data="raise")


def test_a_coco_file_without_categories_is_refused_when_read(tmp_path):
    from mrcnn.datasets import CocoDataset

    doc = {"images": [{"id": 1, "file_name": "a.jpg", "height": 10, "width": 12}], "categories": [],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "segmentation": [[1, 1, 8, 1, 8, 7]]}]}
    (tmp_path / "ann.json").write_text(json.dumps(doc))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="ann.json: no usable 'categories'.*none of its 1 annotations has a class"):
        CocoDataset(str(tmp_path / "ann.json"), str(tmp_path))
