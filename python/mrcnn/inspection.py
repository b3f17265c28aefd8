"""Looking at a dataset before training: counts as numbers and as pictures (PNG files too).

    stats = dataset_stats(train)              # class counts, instances per image, mask sizes
    plot_dataset_stats(stats, "out/stats.png")
    sample_grid(train, 8, path="out/samples.png")
"""
import os

import numpy as np

from . import render

__all__ = ["dataset_stats", "plot_dataset_stats", "sample_grid"]


def dataset_stats(dataset, image_ids=None):
    """dict: images, instances, class_counts {name: n}, instances_per_image [n per image],
    mask_areas [pixels per instance], crowd (instances with negative class id), empty_images."""
    ids = dataset.image_ids if image_ids is None else image_ids
    counts = {name: 0 for name in dataset.class_names[1:]}
    per_image, areas = [], []
    crowd = 0
    for i in ids:
        masks, class_ids = dataset.load_mask(i)
        per_image.append(len(class_ids))
        for k, c in enumerate(class_ids):
            if c < 0:
                crowd += 1
                continue
            counts[dataset.class_names[c]] += 1
            areas.append(int(masks[:, :, k].sum()))
    return {"images": len(per_image), "instances": int(sum(per_image)), "class_counts": counts,
            "instances_per_image": per_image, "mask_areas": areas, "crowd": crowd,
            "empty_images": int(sum(1 for n in per_image if n == 0))}


def plot_dataset_stats(stats, path=None):
    """Bar chart of class counts and histograms of instances per image and mask areas; the
    matplotlib figure is returned (shown inline in notebooks) and written to `path` as PNG."""
    import matplotlib
    if path is not None and not os.environ.get("DISPLAY") and not any(
            k in str(matplotlib.get_backend()) for k in ("inline", "ipykernel")):  # keep a notebook's backend
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    names = list(stats["class_counts"])
    axes[0].barh(names, [stats["class_counts"][n] for n in names], color="tab:blue")
    axes[0].invert_yaxis()
    axes[0].set_title("instances per class (%d in %d images)" % (stats["instances"], stats["images"]))
    per = stats["instances_per_image"]
    axes[1].hist(per, bins=range(0, max(per + [1]) + 2), color="tab:green", align="left")
    axes[1].set_title("instances per image")
    areas = np.asarray(stats["mask_areas"], dtype=float)
    if areas.size:
        axes[2].hist(np.log10(np.maximum(areas, 1)), bins=30, color="tab:orange")
    axes[2].set_title("mask area (log10 pixels)")
    fig.tight_layout()
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def sample_grid(dataset, count=8, seed=0, size=256, columns=4, path=None):
    """A grid of `count` random images with their masks, boxes and class names drawn; RGB uint8,
    written to `path` as PNG when given."""
    import cv2
    rng = np.random.RandomState(seed)
    ids = rng.choice(dataset.image_ids, size=min(count, len(dataset.image_ids)), replace=False)
    tiles = []
    for i in ids:
        try:
            image = dataset.load_image(i)
            masks, class_ids = dataset.load_mask(i)
        except (OSError, ValueError, RuntimeError) as e:  # a broken file: reported, the others drawn
            import warnings
            warnings.warn("sample_grid: image %s (%s) skipped: %s" % (i, dataset.image_reference(i), e), stacklevel=2)
            continue
        picture = render.draw_instances(image, masks, np.abs(class_ids), dataset.class_names)
        scale = size / max(picture.shape[:2])
        picture = cv2.resize(picture, (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        tile = np.full((size, size, 3), 255, np.uint8)
        tile[:picture.shape[0], :picture.shape[1]] = picture
        tiles.append(tile)
    canvas = render.grid(tiles, columns=columns)
    if path is not None:
        render.save_png(path, canvas)
    return canvas
