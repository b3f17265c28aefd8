"""The synthetic shapes dataset: squares, circles and triangles on a plain background.

Generated in code (no download), so the demo and the tests run on a fresh machine. Each image
is drawn from a seeded random specification, so the same seed always gives the same data.
"""
import math

import cv2
import numpy as np

from .utils import Dataset as _Dataset

CLASS_NAMES = ["BG", "square", "circle", "triangle"]


def random_spec(rng, height, width, max_shapes=4):
    """A random image specification: background colour and a list of (shape, colour, (x, y, s))."""
    bg = tuple(int(v) for v in rng.integers(0, 256, size=3))
    shapes = []
    boxes = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        shape = CLASS_NAMES[int(rng.integers(1, 4))]
        color = tuple(int(v) for v in rng.integers(0, 256, size=3))
        buffer = 20
        s = int(rng.integers(buffer, max(buffer + 1, height // 4)))
        y = int(rng.integers(buffer, max(buffer + 1, height - buffer - 1)))
        x = int(rng.integers(buffer, max(buffer + 1, width - buffer - 1)))
        shapes.append((shape, color, (x, y, s)))
        boxes.append([y - s, x - s, y + s, x + s])
    # Drop shapes hidden behind later ones, keeping the layout readable.
    keep = _suppress_overlaps(np.array(boxes, dtype=np.float64), 0.3)
    return bg, [shapes[i] for i in keep]


def _suppress_overlaps(boxes, threshold):
    keep = []
    for i in range(len(boxes)):
        ok = True
        for j in keep:
            y1, x1 = np.maximum(boxes[i, :2], boxes[j, :2])
            y2, x2 = np.minimum(boxes[i, 2:], boxes[j, 2:])
            inter = max(0.0, y2 - y1) * max(0.0, x2 - x1)
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_j = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
            if inter / (area_i + area_j - inter) > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def _draw(canvas, shape, color, dims):
    x, y, s = dims
    if shape == "square":
        cv2.rectangle(canvas, (x - s, y - s), (x + s, y + s), color, -1)
    elif shape == "circle":
        cv2.circle(canvas, (x, y), s, color, -1)
    else:
        pts = np.array([[(x, y - s), (x - s / math.sin(math.radians(60)), y + s),
                         (x + s / math.sin(math.radians(60)), y + s)]], dtype=np.int32)
        cv2.fillPoly(canvas, pts, color)
    return canvas


def render(spec, height, width):
    """(image uint8 [H, W, 3] RGB, masks bool [H, W, N], class_ids int32 [N]) of a spec.

    Later shapes occlude earlier ones; fully hidden shapes are removed.
    """
    bg, shapes = spec
    image = np.empty((height, width, 3), np.uint8)
    image[:] = bg
    masks = np.zeros((height, width, len(shapes)), np.uint8)
    for i, (shape, color, dims) in enumerate(shapes):
        _draw(image, shape, color, dims)
        masks[:, :, i] = _draw(np.zeros((height, width), np.uint8), shape, 1, dims)
    # Occlusion: a pixel belongs to the last shape drawn over it.
    occlusion = np.ones((height, width), bool)
    for i in range(len(shapes) - 1, -1, -1):
        masks[:, :, i] = masks[:, :, i] & occlusion
        occlusion &= ~masks[:, :, i].astype(bool)
    visible = masks.reshape(-1, len(shapes)).any(axis=0)
    class_ids = np.array([CLASS_NAMES.index(s[0]) for s in shapes], np.int32)
    return image, masks[:, :, visible].astype(bool), class_ids[visible]


def generate(count, height=128, width=128, seed=0):
    """count (image, masks, class_ids) samples, deterministic in seed."""
    rng = np.random.default_rng(seed)
    return [render(random_spec(rng, height, width), height, width) for _ in range(count)]


class ShapesDataset(_Dataset):
    """Matterport's shapes sample as a Dataset: images drawn on the fly from stored specs.

        train = ShapesDataset(); train.load_shapes(500, 128, 128); train.prepare()
    """

    def __init__(self, seed=0):
        super().__init__()
        self._rng = np.random.default_rng(seed)

    def load_shapes(self, count, height, width):
        for i, name in enumerate(CLASS_NAMES[1:], start=1):
            self.add_class("shapes", i, name)
        for _ in range(count):
            spec = random_spec(self._rng, height, width)
            self.add_image("shapes", image_id=len(self.image_info), path=None, width=width, height=height,
                           spec=spec)

    def load_image(self, image_id):
        info = self.image_info[image_id]
        return render(info["spec"], info["height"], info["width"])[0]

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        _, masks, class_ids = render(info["spec"], info["height"], info["width"])
        return masks, class_ids

    def image_reference(self, image_id):
        return "shapes image %d" % image_id
