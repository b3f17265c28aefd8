"""Fast OpenCV overlays of instances, for writing many pictures to disk.

(The matplotlib functions with Matterport's signatures live in mrcnn.visualize.)
"""
import colorsys
import os

import cv2
import numpy as np


def instance_colors(n, seed=7):
    """n distinct bright RGB colours (0..255), in a fixed shuffled order."""
    hsv = [(i / max(n, 1), 1.0, 1.0) for i in range(n)]
    colors = [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(*h)) for h in hsv]
    np.random.default_rng(seed).shuffle(colors)
    return colors


def draw_instances(image, masks, class_ids, class_names, scores=None, boxes=None, alpha=0.5):
    """RGB uint8 picture of image with each instance's mask tinted, its outline, box and caption.

    image: [H, W, 3] uint8 RGB; masks: [H, W, N] bool; class_ids: [N];
    boxes: [N, 4] (y1, x1, y2, x2) or None to use each mask's extent.
    """
    out = image.copy()
    n = masks.shape[2] if masks.ndim == 3 else 0
    colors = instance_colors(n)
    for i in range(n):
        m = masks[:, :, i].astype(bool)
        if not m.any():
            continue
        color = np.array(colors[i], np.float32)
        out[m] = (out[m] * (1 - alpha) + color * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, colors[i], 1)
        if boxes is not None:
            y1, x1, y2, x2 = [int(v) for v in boxes[i]]
        else:
            ys, xs = np.nonzero(m)
            y1, x1, y2, x2 = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), colors[i], 1, cv2.LINE_AA)
        caption = class_names[int(class_ids[i])]
        if scores is not None:
            caption += " %.2f" % scores[i]
        cv2.putText(out, caption, (x1 + 2, max(y1 + 10, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out


def grid(images, columns=4, pad=4):
    """Tiles equally sized RGB images into one picture."""
    h, w = images[0].shape[:2]
    rows = (len(images) + columns - 1) // columns
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, columns)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = img
    return canvas


def save_png(path, rgb):
    """Writes an RGB picture as PNG, creating the folder; raises OSError if it cannot."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError("could not write %s" % path)
    return path
