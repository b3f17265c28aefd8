"""Command line: python -m mrcnn <command> (see --help)."""
import argparse
import json
import os
import sys
import time


def _demo(args):
    """Matterport's shapes notebook as a script: train (heads, then all layers), detect,
    evaluate, and write pictures."""
    import numpy as np

    from . import build_info, render
    from . import model as modellib
    from .config import Config
    from .evaluation import evaluate
    from .shapes import ShapesDataset

    class ShapesConfig(Config):
        NAME = "shapes"
        NUM_CLASSES = 4
        IMAGES_PER_GPU = 2
        BACKBONE = "resnet50"
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = args.size
        RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
        TRAIN_ROIS_PER_IMAGE = 32
        PRE_NMS_LIMIT = PRE_NMS_LIMIT_TRAINING = 300
        POST_NMS_ROIS_TRAINING = POST_NMS_ROIS_INFERENCE = 300
        STEPS_PER_EPOCH = args.steps
        VALIDATION_STEPS = 4
        DETECTION_MIN_CONFIDENCE = 0.7

    os.makedirs(args.out, exist_ok=True)
    config = ShapesConfig()
    train, val = ShapesDataset(args.seed), ShapesDataset(args.seed + 1)
    train.load_shapes(args.images, args.size, args.size)
    val.load_shapes(max(8, args.images // 4), args.size, args.size)
    train.prepare()
    val.prepare()
    print("== synthetic shapes: %d training and %d validation images of %dx%d"
          % (len(train.image_ids), len(val.image_ids), args.size, args.size))
    model = modellib.MaskRCNN("training", config, os.path.join(args.out, "logs"))
    t0 = time.perf_counter()
    print("== training the heads")
    # warm-up: from-scratch layers take large first gradients, which at the full rate kill ReLUs
    model.train(train, val, learning_rate=args.lr, epochs=1, layers="heads", seed=args.seed,
                warmup_steps=min(20, args.steps))
    print("== training all layers")
    model.train(train, val, learning_rate=args.lr, epochs=1 + args.epochs, layers="all", seed=args.seed,
                schedule="cosine", warmup_steps=min(20, args.steps))
    train_s = time.perf_counter() - t0
    curves = model.plot_losses(os.path.join(args.out, "loss_curves.png"), show=False)
    print("   %.0f s; checkpoints in %s; loss curves %s" % (train_s, model.log_dir, curves))

    print("== detection and evaluation on the validation images")
    inference = modellib.MaskRCNN("inference", config, os.path.join(args.out, "logs"))
    inference.load_weights(inference.find_last(), verbose=True)
    result = evaluate(inference, val, verbose=True, progress=False)
    with open(os.path.join(args.out, "detections_coco.json"), "w") as f:
        json.dump(result["detections"], f)
    with open(os.path.join(args.out, "ground_truth_coco.json"), "w") as f:
        json.dump(result["ground_truth"], f)

    print("== pictures")
    tiles = []
    for image_id in val.image_ids[:8]:
        image = val.load_image(image_id)
        masks, ids = val.load_mask(image_id)
        r = inference.detect([image])[0]
        boxes = r["rois"][:, [1, 0, 3, 2]]
        tiles.append(render.draw_instances(image, masks, ids, val.class_names))
        tiles.append(render.draw_instances(image, r["masks"], r["class_ids"], val.class_names, r["scores"], boxes))
    print("   " + render.save_png(os.path.join(args.out, "detections.png"), render.grid(tiles, columns=4)))
    print("   (pairs: ground truth, then detections)")
    stats = {t: [float(v) for v in result[t].stats] if result[t] is not None else None for t in ("bbox", "segm")}
    summary = {"train_images": len(train.image_ids), "val_images": len(val.image_ids), "train_seconds": train_s,
               "mAP50": result["mAP50"], "coco_stats": stats, "per_class_ap": result.get("per_class", {}),
               "history": model.history, "build": dict(build_info())}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print("== done: mask AP %.3f, mask AP50 %.3f, mAP@0.5 (Matterport) %.3f; everything in %s"
          % (stats["segm"][0] if stats["segm"] else float("nan"), stats["segm"][1] if stats["segm"] else float("nan"),
             result["mAP50"], args.out))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mrcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job on the built-in synthetic shapes dataset")
    demo.add_argument("--out", default="out/demo", help="folder for pictures and results")
    demo.add_argument("--images", type=int, default=64, help="training images")
    demo.add_argument("--size", type=int, default=128, help="image side")
    demo.add_argument("--steps", type=int, default=60, help="steps per epoch")
    demo.add_argument("--epochs", type=int, default=4, help="epochs of training all layers (after one of heads)")
    demo.add_argument("--lr", type=float, default=0.01)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    sub.add_parser("info", help="print build information").set_defaults(
        func=lambda a: print(__import__("mrcnn").build_info()))
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
