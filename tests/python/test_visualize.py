"""visualize.display_instances on a fashion image with its known masks: the PNG has the figure's
size, mask pixels are tinted, and the captions are drawn."""
import os

import cv2
import numpy as np

from conftest import shared_path
from mrcnn import utils, visualize
from mrcnn.datasets import RleCsvDataset


def test_display_instances_writes_a_tinted_png(tmp_path):
    root = shared_path("data", "fashion")
    ds = RleCsvDataset(os.path.join(root, "train.csv"), os.path.join(root, "images"),
                       os.path.join(root, "label_descriptions.json"), source="fashion")
    ds.prepare()
    image = ds.load_image(0)
    masks, class_ids = ds.load_mask(0)
    boxes = utils.extract_bboxes(masks)
    path = str(tmp_path / "instances.png")
    ax = visualize.display_instances(image, boxes, masks, class_ids, ds.class_names,
                                     scores=np.linspace(0.99, 0.5, len(class_ids)), figsize=(6, 8), path=path)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == len(class_ids)
    assert texts[0] == "%s 0.990" % ds.class_names[class_ids[0]]
    saved = cv2.imread(path)
    assert saved is not None and saved.shape[0] > 300 and saved.shape[1] > 200
    # the drawn image is the photo with each mask tinted half-way to its colour
    drawn = ax.images[0].get_array()
    inside = masks.any(axis=2)
    assert np.abs(drawn[inside].astype(int) - image[inside].astype(int)).mean() > 10
    assert np.array_equal(drawn[~inside], image[~inside])


def test_apply_mask_and_colors():
    image = np.full((4, 4, 3), 100.0)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = 1
    out = visualize.apply_mask(image, mask, (1.0, 0.0, 0.0), alpha=0.5)
    assert out[0, 0].tolist() == [177.5, 50.0, 50.0] and out[1, 1].tolist() == [100.0, 100.0, 100.0]
    colors = visualize.random_colors(5)
    assert len(set(colors)) == 5 and all(0 <= v <= 1 for c in colors for v in c)
