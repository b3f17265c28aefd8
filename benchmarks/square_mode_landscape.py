"""Landscape images in Matterport's square mode, measured: a short training run on four 64x128
synthetic-shapes images against the same images turned to portrait (mask AP at IoU 0.5 and
0.5:0.95, Matterport's mAP@0.5), and whether an image's detections depend on its batch companion
(a 100x240 image beside itself against beside a 200x200 image, random seeded weights). The same
setting as tests/python/test_train.py::test_landscape_images_in_square_mode_train_as_well_as_portrait,
which asserts it; this prints the figures. Run it against another build by putting that build first
on PYTHONPATH.

    python benchmarks/square_mode_landscape.py [--winograd 1|0]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))

import mrcnn  # noqa: E402
from mrcnn import model as modellib  # noqa: E402
from mrcnn.evaluation import evaluate  # noqa: E402
from mrcnn.shapes import ShapesDataset  # noqa: E402
from test_train import TinyConfig, _Rotated  # noqa: E402


def shapes_image(seed, h, w):
    ds = ShapesDataset(seed)
    ds.load_shapes(1, h, w)
    ds.prepare()
    return ds.load_image(0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--winograd", type=int, default=1, choices=[0, 1])
    args = p.parse_args()
    print("mrcnn from %s; CONV_WINOGRAD=%d" % (os.path.dirname(mrcnn.__file__), args.winograd))
    wide = ShapesDataset(3)
    wide.load_shapes(4, 64, 128)
    wide.prepare()
    tall = _Rotated(wide)
    tall.prepare()
    for name, ds in (("landscape", wide), ("portrait", tall)):
        cfg = TinyConfig()
        cfg.STEPS_PER_EPOCH, cfg.VALIDATION_STEPS, cfg.CONV_WINOGRAD = 100, 0, bool(args.winograd)
        torch.manual_seed(0)
        model = modellib.MaskRCNN("training", cfg, tempfile.mkdtemp())
        t0 = time.perf_counter()
        model.train(ds, None, learning_rate=0.03, epochs=1, layers="all", verbose=0, seed=0, schedule="cosine",
                    warmup_steps=10)
        r = evaluate(model, ds, verbose=False, progress=False)
        print("%-9s mask AP50 %.3f  mask AP %.3f  mAP@0.5 %.3f  (trained in %.0f s)"
              % (name, r["segm"].stats[1], r["segm"].stats[0], r["mAP50"], time.perf_counter() - t0), flush=True)

    class Companions(TinyConfig):
        IMAGES_PER_GPU = 2
        IMAGE_MIN_DIM, IMAGE_MAX_DIM = 128, 256
        DETECTION_MIN_CONFIDENCE = 0.0
        DETECTION_MAX_INSTANCES = 20

    torch.manual_seed(0)
    model = modellib.MaskRCNN("inference", Companions(), tempfile.mkdtemp())
    a, b = shapes_image(3, 100, 240), shapes_image(4, 200, 200)
    alone, beside = model.detect([a, a])[0], model.detect([a, b])[0]
    same = len(alone["scores"]) == len(beside["scores"]) and \
        np.abs(alone["rois"] - beside["rois"]).max(initial=0) <= 1
    diff = np.abs(np.sort(alone["scores"]) - np.sort(beside["scores"])).max(initial=0) \
        if len(alone["scores"]) == len(beside["scores"]) else float("nan")
    print("batch companion: 100x240 beside itself or beside 200x200: %s (largest score difference %.4f)"
          % ("the same detections" if same else "different detections", diff))


if __name__ == "__main__":
    main()
