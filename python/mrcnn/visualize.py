"""Pictures of images, masks and boxes with Matterport's visualize functions and signatures
(``from mrcnn import visualize``). In notebooks they draw inline; every function that makes a
figure also takes ``path=`` to write it as a PNG (for scripts and reports).
"""
import colorsys
import os
import random

import numpy as np

__all__ = ["random_colors", "apply_mask", "display_instances", "display_images"]


def _plt():
    import matplotlib
    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend() \
            and "ipykernel" not in matplotlib.get_backend():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def random_colors(N, bright=True):
    """N visually distinct RGB colours in [0, 1], evenly spaced in hue, in random order."""
    brightness = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / max(N, 1), 1, brightness) for i in range(N)]
    random.shuffle(colors)
    return colors


def apply_mask(image, mask, color, alpha=0.5):
    """Tints image [H, W, 3] where mask is set with color (RGB in [0, 1]), in place; returns it."""
    for c in range(3):
        image[:, :, c] = np.where(mask == 1, image[:, :, c] * (1 - alpha) + alpha * color[c] * 255, image[:, :, c])
    return image


def _save(fig, path):
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, bbox_inches="tight", dpi=fig.dpi)


def display_instances(image, boxes, masks, class_ids, class_names, scores=None, title="", figsize=(16, 16), ax=None,
                      show_mask=True, show_bbox=True, colors=None, captions=None, path=None):
    """Draws instances on image: tinted masks with outlines, dashed boxes, captions.

    boxes: [N, 4] (y1, x1, y2, x2) pixels; masks: [H, W, N]; class_ids: [N]; scores: [N] or None;
    captions: N strings replacing "class score". Returns the matplotlib axes.
    """
    plt = _plt()
    from matplotlib import patches
    from matplotlib.patches import Polygon
    import cv2
    boxes = np.asarray(boxes)
    n = boxes.shape[0]
    if not n:
        print("\n*** No instances to display *** \n")
    elif not (n == masks.shape[-1] == len(class_ids)):
        raise ValueError("display_instances: %d boxes, %d masks and %d class ids must agree"
                         % (n, masks.shape[-1], len(class_ids)))
    auto_show = ax is None
    if auto_show:
        fig, ax = plt.subplots(1, figsize=figsize)
    colors = colors or random_colors(n)
    height, width = image.shape[:2]
    ax.set_ylim(height + 10, -10)
    ax.set_xlim(-10, width + 10)
    ax.axis("off")
    ax.set_title(title)
    masked = image.astype(np.uint32).copy()
    for i in range(n):
        color = colors[i]
        if not np.any(boxes[i]):
            continue  # zero-padded slot
        y1, x1, y2, x2 = boxes[i]
        if show_bbox:
            ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, linewidth=2, alpha=0.7, linestyle="dashed",
                                           edgecolor=color, facecolor="none"))
        if captions:
            caption = captions[i]
        else:
            label = class_names[abs(int(class_ids[i]))]
            caption = "{} {:.3f}".format(label, scores[i]) if scores is not None else label
        ax.text(x1, y1 + 8, caption, color="w", size=11, backgroundcolor="none")
        mask = masks[:, :, i]
        if show_mask:
            masked = apply_mask(masked, mask, color)
        contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        for c in contours:
            ax.add_patch(Polygon(c[:, 0, :].astype(float), facecolor="none", edgecolor=color))
    ax.imshow(masked.astype(np.uint8))
    _save(ax.figure, path)
    if auto_show and path is None:
        plt.show()
    return ax


def display_images(images, titles=None, cols=4, cmap=None, norm=None, interpolation=None, path=None):
    """Shows images side by side in a grid with optional titles."""
    plt = _plt()
    titles = titles if titles is not None else [""] * len(images)
    rows = len(images) // cols + 1
    fig = plt.figure(figsize=(14, 14 * rows // cols))
    for i, (image, title) in enumerate(zip(images, titles), start=1):
        plt.subplot(rows, cols, i)
        plt.title(title, fontsize=9)
        plt.axis("off")
        plt.imshow(np.asarray(image).astype(np.uint8), cmap=cmap, norm=norm, interpolation=interpolation)
    _save(fig, path)
    if path is None:
        plt.show()
    return fig
