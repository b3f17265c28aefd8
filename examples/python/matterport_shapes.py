"""Shapes, the Matterport way: a training script written only against Matterport's Mask_RCNN API.

A Config subclass, a Dataset subclass that draws its own images (squares, circles and triangles)
with OpenCV, training of the heads then of all layers, an inference model loaded from the last
checkpoint, detection, a picture of the detections and the mean average precision.

Nothing here is specific to this implementation: the same file runs with Matterport's package.

    python examples/python/matterport_shapes.py                           # full settings
    MRCNN_NOTEBOOK_SMALL=1 python examples/python/matterport_shapes.py    # a quick check

Checkpoints go to $MRCNN_LOGS (default ./logs); the picture to $MRCNN_LOGS/shapes_detections.png.
"""
import math
import os
import random
import sys

import cv2
import matplotlib

matplotlib.use("Agg")  # a script: pictures go to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# The package of this repository when it is not installed
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from mrcnn.config import Config  # noqa: E402
from mrcnn import utils, visualize  # noqa: E402
import mrcnn.model as modellib  # noqa: E402

SMALL = os.environ.get("MRCNN_NOTEBOOK_SMALL", "0") == "1"
MODEL_DIR = os.environ.get("MRCNN_LOGS", "logs")


class ShapesConfig(Config):
    NAME = "shapes"
    GPU_COUNT = 1
    IMAGES_PER_GPU = 2
    NUM_CLASSES = 1 + 3  # background, square, circle, triangle
    BACKBONE = "resnet50"
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TRAIN_ROIS_PER_IMAGE = 32
    # a quick run: a narrower box head
    FPN_CLASSIF_FC_LAYERS_SIZE = 256 if SMALL else 1024
    LEARNING_RATE = 0.002
    STEPS_PER_EPOCH = 2 if SMALL else 100
    VALIDATION_STEPS = 1 if SMALL else 5


class InferenceConfig(ShapesConfig):
    GPU_COUNT = 1
    IMAGES_PER_GPU = 1


class ShapesDataset(utils.Dataset):
    """Random shapes on a random background; each image is kept as its drawing instructions."""

    def load_shapes(self, count, height, width):
        self.add_class("shapes", 1, "square")
        self.add_class("shapes", 2, "circle")
        self.add_class("shapes", 3, "triangle")
        for i in range(count):
            background, shapes = self.random_image(height, width)
            self.add_image("shapes", image_id=i, path=None, width=width, height=height,
                           bg_color=background, shapes=shapes)

    def random_shape(self, height, width):
        """(name, colour, (x, y, size)) of one shape that fits in the image."""
        name = random.choice(["square", "circle", "triangle"])
        color = tuple(random.randint(0, 255) for _ in range(3))
        margin = 20
        y = random.randint(margin, height - margin - 1)
        x = random.randint(margin, width - margin - 1)
        size = random.randint(margin, height // 4)
        return name, color, (x, y, size)

    def random_image(self, height, width):
        """A background colour and 1 to 4 shapes that do not overlap much."""
        background = np.array([random.randint(0, 255) for _ in range(3)])
        shapes, boxes = [], []
        for _ in range(random.randint(1, 4)):
            name, color, (x, y, s) = self.random_shape(height, width)
            shapes.append((name, color, (x, y, s)))
            boxes.append([y - s, x - s, y + s, x + s])
        keep = utils.non_max_suppression(np.array(boxes), np.arange(len(boxes)), 0.3)
        return background, [shapes[i] for i in sorted(keep)]

    @staticmethod
    def draw_shape(canvas, name, dims, color):
        x, y, s = dims
        if name == "square":
            cv2.rectangle(canvas, (x - s, y - s), (x + s, y + s), color, -1)
        elif name == "circle":
            cv2.circle(canvas, (x, y), s, color, -1)
        else:
            half = s / math.sin(math.radians(60))
            corners = np.array([[(x, y - s), (x - half, y + s), (x + half, y + s)]], dtype=np.int32)
            cv2.fillPoly(canvas, corners, color)
        return canvas

    def load_image(self, image_id):
        info = self.image_info[image_id]
        image = np.zeros([info["height"], info["width"], 3], dtype=np.uint8)
        image[:, :] = info["bg_color"]
        for name, color, dims in info["shapes"]:
            image = self.draw_shape(image, name, dims, color)
        return image

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        shapes = info["shapes"]
        mask = np.zeros([info["height"], info["width"], len(shapes)], dtype=np.uint8)
        for i, (name, _, dims) in enumerate(shapes):
            layer = np.zeros([info["height"], info["width"]], dtype=np.uint8)
            mask[:, :, i] = self.draw_shape(layer, name, dims, 1)
        # A shape drawn later hides the ones below it
        visible = np.logical_not(mask[:, :, -1]).astype(np.uint8)
        for i in range(len(shapes) - 2, -1, -1):
            mask[:, :, i] = mask[:, :, i] * visible
            visible = np.logical_and(visible, np.logical_not(mask[:, :, i])).astype(np.uint8)
        class_ids = np.array([self.class_names.index(s[0]) for s in shapes], dtype=np.int32)
        return mask.astype(bool), class_ids

    def image_reference(self, image_id):
        return "shapes: %s" % ", ".join(s[0] for s in self.image_info[image_id]["shapes"])


def main():
    random.seed(0)
    np.random.seed(0)
    config = ShapesConfig()
    config.display()

    dataset_train = ShapesDataset()
    dataset_train.load_shapes(8 if SMALL else 500, config.IMAGE_SHAPE[0], config.IMAGE_SHAPE[1])
    dataset_train.prepare()
    dataset_val = ShapesDataset()
    dataset_val.load_shapes(4 if SMALL else 50, config.IMAGE_SHAPE[0], config.IMAGE_SHAPE[1])
    dataset_val.prepare()

    model = modellib.MaskRCNN(mode="training", config=config, model_dir=MODEL_DIR)
    try:
        model.load_weights(model.get_imagenet_weights(), by_name=True)
    except OSError as e:  # not in the cache and no download (offline)
        print("ImageNet weights not available, training from scratch (%s)" % e)

    # The heads first, then every layer at a tenth of the rate
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE, epochs=1, layers="heads")
    model.train(dataset_train, dataset_val, learning_rate=config.LEARNING_RATE / 10, epochs=2, layers="all")

    inference_config = InferenceConfig()
    model = modellib.MaskRCNN(mode="inference", config=inference_config, model_dir=MODEL_DIR)
    model_path = model.find_last()
    print("Loading weights from", model_path)
    model.load_weights(model_path, by_name=True)

    image_id = random.choice(dataset_val.image_ids)
    original_image, image_meta, gt_class_id, gt_bbox, gt_mask = modellib.load_image_gt(
        dataset_val, inference_config, image_id, use_mini_mask=False)
    r = model.detect([original_image], verbose=1)[0]
    fig, ax = plt.subplots(1, figsize=(8, 8))
    visualize.display_instances(original_image, r["rois"], r["masks"], r["class_ids"], dataset_val.class_names,
                                r["scores"], ax=ax)
    os.makedirs(MODEL_DIR, exist_ok=True)
    picture = os.path.join(MODEL_DIR, "shapes_detections.png")
    fig.savefig(picture)
    plt.close(fig)
    print("detections drawn in", picture)

    APs = []
    for image_id in dataset_val.image_ids:
        image, image_meta, gt_class_id, gt_bbox, gt_mask = modellib.load_image_gt(
            dataset_val, inference_config, image_id, use_mini_mask=False)
        r = model.detect([image], verbose=0)[0]
        AP, precisions, recalls, overlaps = utils.compute_ap(gt_bbox, gt_class_id, gt_mask, r["rois"],
                                                             r["class_ids"], r["scores"], r["masks"])
        APs.append(AP)
    print("mAP: %.3f" % np.mean(APs))


if __name__ == "__main__":
    main()
