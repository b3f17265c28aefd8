"""A learning run: mrcnn's C++ training loop against torchvision's own training loop
(model(images, targets), SGD), from the same initial weights, on the same training images in the
same order, with the same schedule (linear warm-up, then a constant rate), then validation mask
and box AP of both, measured by the same COCO evaluator on a held-out split.

Both sides are torchvision's maskrcnn_resnet50_fpn (our engine built with torchvision's settings);
no pretrained weights exist offline, so both start from the same seeded random weights. Steps
alternate between the two sides, so that whatever else the machine does slows both alike.

  --dataset fashion  the fashion set of ../shared/data at a reduced resolution (384-640 px), so a CPU
                     run shows learning in minutes; from random weights its AP stays near 0.
  --dataset shapes   the synthetic shapes (128x128, 128 sampled RoIs per image on both sides), which
                     both sides learn from scratch: 800 steps reach a mask AP near 0.5, so the two
                     APs can be compared.

    python benchmarks/bench_train_fashion.py [--dataset shapes] [--steps 300] [--json out/x.json] [--png out/x.png]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_train import TRAINABLE, torchvision_config, tv_step, twin_models  # noqa: E402
from harness import fashion_dataset, machine  # noqa: E402

from mrcnn import _C, cocoeval  # noqa: E402
from mrcnn.evaluation import dataset_to_coco, evaluate, results_to_coco  # noqa: E402
from mrcnn.model import make_loader  # noqa: E402
from mrcnn.shapes import ShapesDataset  # noqa: E402
from mrcnn.utils import split_image_ids  # noqa: E402


def tv_detect(tv, ds, image_ids):
    """torchvision's detections in Matterport's result format, for the shared COCO evaluator."""
    tv.eval()
    results = []
    with torch.no_grad():
        for i in image_ids:
            image = torch.from_numpy(ds.load_image(i)).permute(2, 0, 1).float() / 255
            out = tv([image])[0]
            boxes = out["boxes"].numpy()
            masks = (out["masks"][:, 0] > 0.5).numpy()
            results.append({"rois": np.round(boxes[:, [1, 0, 3, 2]]).astype(np.int32),
                            "class_ids": out["labels"].numpy().astype(np.int32),
                            "scores": out["scores"].numpy().astype(np.float32),
                            "masks": np.ascontiguousarray(masks.transpose(1, 2, 0)) if len(masks) else
                            np.zeros(image.shape[1:] + (0,), bool)})
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", choices=["fashion", "shapes"], default="fashion",
                        help="shapes: the synthetic set (600 images of 128x128), which both sides learn from "
                             "scratch in minutes, so that their AP can be compared")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--val-images", type=int, default=40)
    parser.add_argument("--min-dim", type=int, default=None, help="default 384 (fashion), 128 (shapes)")
    parser.add_argument("--max-dim", type=int, default=None, help="default 640 (fashion), 128 (shapes)")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--json")
    parser.add_argument("--png", default=None, help="loss curves of both sides (PNG)")
    args = parser.parse_args()
    if args.dataset == "shapes":
        ds = ShapesDataset(seed=0)
        ds.load_shapes(600, 128, 128)
        ds.prepare()
    else:
        ds = fashion_dataset()
    small = args.dataset == "shapes"
    args.min_dim = args.min_dim or (128 if small else 384)
    args.max_dim = args.max_dim or (128 if small else 640)
    train_ids, val_ids = split_image_ids(ds.image_ids, 0.2, seed=0)
    train, val = ds.subset(train_ids), ds.subset(val_ids[:args.val_images])
    # shapes: 128 sampled RoIs per image on both sides (torchvision's 512 would make the heads most
    # of the work on such small images)
    rois = {"TRAIN_ROIS_PER_IMAGE": 128} if small else {}
    cfg = torchvision_config(ds.num_classes, IMAGE_MIN_DIM=args.min_dim, IMAGE_MAX_DIM=args.max_dim, **rois)
    tv, ours = twin_models(ds.num_classes, cfg, min_size=args.min_dim, max_size=args.max_dim,
                           **({"box_batch_size_per_image": 128} if small else {}))
    loader = make_loader(train, cfg, None, shuffle=True, seed=0, workers=1)
    order = [loader.image_index(k) for k in range(2 * args.steps)]
    trainer = _C.train.Trainer(ours.net, _C.train.TrainOptions(learning_rate=args.lr, momentum=0.9, weight_decay=1e-4,
                                                               clip_norm=0.0, layers=TRAINABLE, steps_per_epoch=args.steps,
                                                               warmup_steps=args.warmup))
    tv.train()
    opt = torch.optim.SGD([p for p in tv.parameters() if p.requires_grad], lr=args.lr, momentum=0.9,
                          weight_decay=1e-4)
    print("%s: %d training images, %d validation images, %d classes, %d-%d px, %d steps of 2 images"
          % (args.dataset, len(train.image_ids), len(val.image_ids), ds.num_classes - 1, args.min_dim, args.max_dim, args.steps))
    t_ours, t_tv, loss_ours, loss_tv = [], [], [], []
    for s in range(args.steps):
        t0 = time.perf_counter()
        m = trainer.step(loader)
        t_ours.append(time.perf_counter() - t0)
        loss_ours.append(m["loss"])
        for g in opt.param_groups:  # the same warm-up as our trainer's
            g["lr"] = trainer.learning_rate_at(s, args.steps)
        seconds, loss = tv_step(tv, opt, train, order[2 * s:2 * s + 2])
        t_tv.append(seconds)
        loss_tv.append(loss)
        if s % 10 == 0 or s == args.steps - 1:
            print("step %d: ours %.2f s loss %.3f (mean of last 10 %.3f) | torchvision %.2f s loss %.3f (%.3f)"
                  % (s, t_ours[-1], loss_ours[-1], np.mean(loss_ours[-10:]), t_tv[-1], loss_tv[-1],
                     np.mean(loss_tv[-10:])), flush=True)
        if not (np.isfinite(loss_ours[-1]) and np.isfinite(loss_tv[-1])):
            sys.exit("a loss is not finite at step %d; lower --lr" % s)
    o, r = float(np.median(t_ours[1:])), float(np.median(t_tv[1:]))
    print("\nstep time: ours %.2f s, torchvision %.2f s: %.2fx" % (o, r, o / r))

    gt = dataset_to_coco(val)
    ours_eval = evaluate(ours, val, verbose=False, progress=False)
    tv_results = tv_detect(tv, val, val.image_ids)
    tv_dt = results_to_coco(tv_results, list(val.image_ids), val)
    stats = {"ours": {t: (list(map(float, ours_eval[t].stats)) if ours_eval[t] is not None else None)
                      for t in ("bbox", "segm")}, "torchvision": {}}
    for t in ("bbox", "segm"):
        stats["torchvision"][t] = list(map(float, cocoeval.evaluate(gt, tv_dt, t).stats)) if tv_dt else None
    for side in ("ours", "torchvision"):
        s_ = stats[side]
        print("%-12s mask AP %.4f AP50 %.4f | box AP %.4f AP50 %.4f" % (
            side, *(s_["segm"][:2] if s_["segm"] else [float("nan")] * 2),
            *(s_["bbox"][:2] if s_["bbox"] else [float("nan")] * 2)))
    first, last = slice(0, 20), slice(-20, None)
    print("mean loss, first 20 -> last 20 steps: ours %.3f -> %.3f, torchvision %.3f -> %.3f"
          % (np.mean(loss_ours[first]), np.mean(loss_ours[last]), np.mean(loss_tv[first]), np.mean(loss_tv[last])))
    info = machine()
    print("machine: " + ", ".join("%s %s" % kv for kv in info.items()))
    if args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9, 4))
        k = 10
        for name, values in (("mrcnn", loss_ours), ("torchvision", loss_tv)):
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            ax.plot(np.arange(len(smooth)) + k - 1, smooth, label=name)
        ax.set_xlabel("step (2 images)")
        ax.set_ylabel("total loss (mean of %d steps)" % k)
        ax.set_title("%s, same initial weights, same images and schedule" % args.dataset)
        ax.legend()
        os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
        fig.savefig(args.png, dpi=90, bbox_inches="tight")
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"step_s": {"ours": o, "torchvision": r, "ratio": o / r}, "ap": stats, "loss_ours": loss_ours,
                       "loss_torchvision": loss_tv, "args": vars(args), "machine": info}, f, indent=1)


if __name__ == "__main__":
    main()
