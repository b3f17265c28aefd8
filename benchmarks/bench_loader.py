"""Data pipeline throughput: load image + decode masks + augment + resize + targets on the fashion
set (iMaterialist RLE CSV), mrcnn's C++ loader against a straightforward Python implementation of
the same steps (numpy + cv2: Kaggle RLE decoded with numpy, cv2 resize, numpy flips and brightness,
boxes with np.where), with 1 and 2 workers (threads for both).

    python benchmarks/bench_loader.py [--images 48] [--json out/bench_loader.json]
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from harness import FASHION, fashion_dataset, machine  # noqa: E402

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


def python_sample(path, rows, rng, cfg):
    """The same steps as the C++ loader, written plainly."""
    image = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    masks = []
    for rle, mh, mw in rows:
        flat = np.zeros(mh * mw, np.uint8)
        v = np.asarray(rle.split(), dtype=np.int64)
        for s, n in zip(v[0::2], v[1::2]):
            flat[s - 1:s - 1 + n] = 1
        masks.append(flat.reshape((mw, mh)).T)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    mrcnn.set_num_threads(1)  # the loader's own threads do the work; no intra-op parallelism for either
    ds = fashion_dataset()
    ds = ds.subset(ds.image_ids[:args.images])
    df = pd.read_csv(os.path.join(FASHION, "train.csv"), dtype={"ImageId": str})
    groups = {k: list(zip(g.EncodedPixels, g.Height, g.Width)) for k, g in df.groupby("ImageId")}
    work = [(info["path"], groups[info["id"]]) for info in ds.image_info]
    cfg = FashionConfig()
    aug = Augmentation(fliplr=0.5, scale=(0.8, 1.2), brightness=0.1)
    n = len(work)
    print("fashion: %d images, %d masks" % (n, sum(len(r) for _, r in work)))
    rows = []
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
                list(pool.map(lambda w: python_sample(w[0], w[1], np.random.default_rng(rng.integers(1 << 30)), cfg),
                              work))
            if rep >= 0:
                ref.append(n / (time.perf_counter() - t0))
        o, r = float(np.median(ours)), float(np.median(ref))
        rows.append({"workers": workers, "ours_images_per_s": o, "python_images_per_s": r, "ratio": o / r})
        print("workers %d: ours %.2f images/s, plain Python %.2f images/s: %.2fx" % (workers, o, r, o / r))
    info = machine()
    print("machine: " + ", ".join("%s %s" % kv for kv in info.items()))
    if args.json:
        import json
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "machine": info}, f, indent=1)


if __name__ == "__main__":
    main()
