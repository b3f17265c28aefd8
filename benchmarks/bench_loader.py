"""Data pipeline throughput: load image + decode masks + augment + resize + targets, mrcnn's C++
loader against a straightforward Python implementation of the same steps (numpy + cv2: masks
decoded with numpy or read with cv2.imread, cv2 resize, numpy flips and brightness, boxes with
np.where), with 1 and 2 workers (threads for both), on two sets of ../shared/data:
  fashion  iMaterialist RLE CSV (RleCsvDataset: masks as RLEs)
  nucleus  Data Science Bowl folders (MaskFolderDataset: one PNG per instance, 65 images)

    python benchmarks/bench_loader.py [--images 48] [--sets fashion,nucleus] [--json out/bench_loader.json]
"""
import argparse
import glob
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from harness import FASHION, fashion_dataset, machine  # noqa: E402

NUCLEUS = os.path.join(os.path.dirname(FASHION), "nucleus", "stage1_test")

import mrcnn  # noqa: E402
from mrcnn.augment import Augmentation  # noqa: E402
from mrcnn.config import Config  # noqa: E402
from mrcnn.model import make_loader  # noqa: E402


class FashionConfig(Config):
    NAME = "fashion"
    NUM_CLASSES = 47
    IMAGES_PER_GPU = 1
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024


def rle_masks(rows):
    """Kaggle RLE rows (counts, height, width) decoded with numpy."""
    masks = []
    for rle, mh, mw in rows:
        flat = np.zeros(mh * mw, np.uint8)
        v = np.asarray(rle.split(), dtype=np.int64)
        for s, n in zip(v[0::2], v[1::2]):
            flat[s - 1:s - 1 + n] = 1
        masks.append(flat.reshape((mw, mh)).T)
    return masks


def png_masks(paths):
    """One mask PNG per instance, read with cv2 (non-zero pixels inside)."""
    return [(cv2.imread(p, cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8) for p in paths]


def python_sample(path, read_masks, rng, cfg):
    """The same steps as the C++ loader, written plainly."""
    image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    masks = read_masks()
    scale = max(1.0, cfg.IMAGE_MIN_DIM / min(h, w))
    if round(max(h, w) * scale) > cfg.IMAGE_MAX_DIM:
        scale = cfg.IMAGE_MAX_DIM / max(h, w)
    scale *= rng.uniform(0.8, 1.2)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    masks = [cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in masks]
    if rng.random() < 0.5:
        image = image[:, ::-1]
        masks = [m[:, ::-1] for m in masks]
    image = np.clip(image.astype(np.float32) + rng.uniform(-0.1, 0.1) * 255, 0, 255).astype(np.uint8)
    keep, boxes = [], []
    for m in masks:
        ys, xs = np.where(m)
        if len(ys):
            keep.append(np.ascontiguousarray(m))
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return image, np.stack(keep) if keep else None, np.array(boxes)


def fashion_work(images):
    """(dataset, [(image path, masks reader)]) of the fashion set's first images."""
    ds = fashion_dataset()
    ds = ds.subset(ds.image_ids[:images])
    df = pd.read_csv(os.path.join(FASHION, "train.csv"), dtype={"ImageId": str})
    groups = {k: list(zip(g.EncodedPixels, g.Height, g.Width)) for k, g in df.groupby("ImageId")}
    return ds, [(info["path"], lambda rows=groups[info["id"]]: rle_masks(rows)) for info in ds.image_info]


def nucleus_work(images):
    """(dataset, [(image path, masks reader)]) of the nucleus folders' first images."""
    if not os.path.exists(NUCLEUS):
        sys.exit("needs %s" % NUCLEUS)
    from mrcnn.datasets import MaskFolderDataset
    ds = MaskFolderDataset(NUCLEUS, class_name="nucleus")
    ds.prepare()
    ds = ds.subset(ds.image_ids[:images])
    work = []
    for info in ds.image_info:
        folder = os.path.dirname(os.path.dirname(info["path"]))
        paths = sorted(glob.glob(os.path.join(folder, "masks", "*.png")))
        work.append((info["path"], lambda paths=paths: png_masks(paths)))
    return ds, work


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sets", default="fashion,nucleus")
    parser.add_argument("--json")
    args = parser.parse_args()
    mrcnn.set_num_threads(1)  # the loader's own threads do the work; no intra-op parallelism for either
    cfg = FashionConfig()
    aug = Augmentation(fliplr=0.5, scale=(0.8, 1.2), brightness=0.1)
    rows = []
    for name in args.sets.split(","):
        ds, work = {"fashion": fashion_work, "nucleus": nucleus_work}[name](args.images)
        n = len(work)
        print("%s: %d images, %d masks" % (name, n, sum(len(ds.load_mask(i)[1]) for i in ds.image_ids)))
        for workers in (1, 2):
            ours, ref = [], []
            for rep in range(-1, args.repeat):  # rep -1 warms both up (allocator, file cache) and is not counted
                loader = make_loader(ds, cfg, aug, seed=rep + 1, workers=workers, batch_size=1)
                t0 = time.perf_counter()
                for _ in range(n):
                    loader.next_batch()
                if rep >= 0:
                    ours.append(n / (time.perf_counter() - t0))
                del loader
                rng = np.random.default_rng(rep + 1)
                t0 = time.perf_counter()
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(lambda w: python_sample(w[0], w[1], np.random.default_rng(rng.integers(1 << 30)),
                                                          cfg), work))
                if rep >= 0:
                    ref.append(n / (time.perf_counter() - t0))
            o, r = float(np.median(ours)), float(np.median(ref))
            rows.append({"set": name, "workers": workers, "ours_images_per_s": o, "python_images_per_s": r,
                         "ratio": o / r})
            print("%s, workers %d: ours %.2f images/s, plain Python %.2f images/s: %.2fx" % (name, workers, o, r, o / r))
    info = machine()
    print("machine: " + ", ".join("%s %s" % kv for kv in info.items()))
    if args.json:
        import json
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "machine": info}, f, indent=1)


if __name__ == "__main__":
    main()
