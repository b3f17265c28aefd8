"""Command line: python -m mrcnn <command> (see --help)."""
import argparse
import math
import json
import os
import sys
import time


def _demo(args):
    """Matterport's shapes notebook as a script: train (heads, then all layers), detect,
    evaluate, and write pictures."""
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
    # seeded throughout (the initial weights, and each step's sampling with deterministic=True), so a
    # run's figures are the same run to run on one machine
    import torch
    torch.manual_seed(args.seed)
    model = modellib.MaskRCNN("training", config, os.path.join(args.out, "logs"))
    t0 = time.perf_counter()
    print("== training the heads")
    # warm-up: from-scratch layers take large first gradients, which at the full rate kill ReLUs
    model.train(train, val, learning_rate=args.lr, epochs=1, layers="heads", seed=args.seed, deterministic=True,
                warmup_steps=min(20, args.steps))
    print("== training all layers")
    model.train(train, val, learning_rate=args.lr, epochs=1 + args.epochs, layers="all", seed=args.seed,
                deterministic=True, schedule="cosine", warmup_steps=min(20, args.steps))
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


def _open_dataset(args, path=None):
    """A prepared built-in Dataset from --dataset/--format (and --images / --labels)."""
    from . import datasets

    path = path or args.dataset
    fmt = args.format
    if not os.path.exists(path):
        raise SystemExit("--dataset %s does not exist" % path)
    if fmt == "coco":
        images = args.images or os.path.join(os.path.dirname(os.path.abspath(path)), "images")
        ds = datasets.CocoDataset(path, images)
    elif fmt == "via":
        try:
            ds = datasets.ViaDataset(path, args.images or "", class_attribute=args.class_attribute or "",
                                     default_class=args.default_class)
        except FileNotFoundError as e:
            raise SystemExit("--dataset %s" % e)
    elif fmt == "csv":
        images = args.images or os.path.join(os.path.dirname(os.path.abspath(path)), "images")
        labels = args.labels
        if labels is None:
            guess = os.path.join(os.path.dirname(os.path.abspath(path)), "label_descriptions.json")
            labels = guess if os.path.exists(guess) else ""
        ds = datasets.RleCsvDataset(path, images, labels)
    elif fmt == "masks":
        ds = datasets.MaskFolderDataset(path, layout=args.mask_layout, class_name=args.default_class)
    else:
        raise SystemExit("--format must be coco, via, csv or masks, got %r" % fmt)
    ds.prepare()
    if len(ds.image_ids) == 0:
        raise SystemExit("--dataset %s: no usable image (see the warnings above)" % path)
    return ds


def _config_for(args, num_classes, name, inference=False):
    from .config import Config

    class CliConfig(Config):
        NAME = name
        NUM_CLASSES = num_classes
        BACKBONE = args.backbone
        IMAGES_PER_GPU = 1 if inference else args.batch
        IMAGE_MIN_DIM = args.min_dim
        IMAGE_MAX_DIM = args.max_dim
        STEPS_PER_EPOCH = getattr(args, "steps", 100)
        VALIDATION_STEPS = getattr(args, "val_steps", 10)
        DETECTION_MIN_CONFIDENCE = getattr(args, "min_confidence", 0.7)
    return CliConfig()


def _resolve_weights(model, weights):
    """--weights: a path, "last" (this NAME's last checkpoint in the logs folder), "imagenet", "coco" or
    "coco_v2" (torchvision's COCO checkpoints, downloaded into torch's hub cache the first time)."""
    if weights in (None, "", "none"):
        return None
    if weights == "last":
        return model.find_last()
    if weights == "imagenet":
        return model.get_imagenet_weights()
    from . import download
    if weights in download.detection_weights():
        try:
            return download.torchvision_weights(weights)  # torch's hub cache; downloaded once
        except download.DownloadError as e:
            raise SystemExit("--weights %s: %s" % (weights, e))
    if not os.path.exists(weights):
        raise SystemExit("--weights %s: no such file" % weights)
    return weights


def _train(args):
    from . import model as modellib
    from .augment import Augmentation
    from .utils import split_image_ids

    from .distributed import launched, rank

    say = print if rank() == 0 else (lambda *a, **k: None)  # under torchrun: one voice
    dataset = _open_dataset(args)
    if args.val_dataset:
        train, val = dataset, _open_dataset(args, args.val_dataset)
    else:
        train_ids, val_ids = split_image_ids(dataset.image_ids, args.val_fraction, args.seed)
        # --val-fraction 0: no validation (no validation losses, no best-epoch pick by them)
        train, val = dataset.subset(train_ids), (dataset.subset(val_ids) if len(val_ids) else None)
    say("== %d training and %d validation images, classes: %s"
          % (len(train.image_ids), len(val.image_ids) if val is not None else 0, ", ".join(train.class_names[1:])))
    config = _config_for(args, train.num_classes, args.name)
    processes = int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1
    if processes > 1:
        say("== %d processes train one model: %d images each per step, %d per step in all (learning rate %g for "
            "that whole batch)" % (processes, config.IMAGES_PER_GPU, config.IMAGES_PER_GPU * processes, args.lr))
    model = modellib.MaskRCNN("training", config, args.logs)
    weights = _resolve_weights(model, args.weights)
    if weights:
        exclude = [] if args.weights == "last" else ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
        model.load_weights(weights, by_name=True, exclude=exclude)
    aug = Augmentation(fliplr=0.5) if args.augment else None
    common = dict(augmentation=aug, seed=args.seed, workers=args.workers, warmup_steps=args.warmup)
    if args.heads_epochs > model.epoch:
        say("== training the heads to epoch %d" % args.heads_epochs)
        model.train(train, val, learning_rate=args.lr, epochs=args.heads_epochs, layers="heads", **common)
    if args.epochs > model.epoch:
        say("== training all layers to epoch %d" % args.epochs)
        model.train(train, val, learning_rate=args.lr / 10, epochs=args.epochs, layers="all", schedule="cosine",
                    **common)
    say("== checkpoints in %s (last: %s)" % (model.log_dir, model.find_last()))


def _load_inference_model(args):
    """An inference model from a checkpoint; the network, classes and image size come from the checkpoint."""
    from . import model as modellib
    from .config import Config

    path = args.weights
    if not os.path.exists(path):
        raise SystemExit("--weights %s: no such file" % path)
    try:
        ckpt = modellib.read_torch_file(path)  # the Config and class names
    except ValueError as e:
        raise SystemExit("--weights %s" % e)
    try:
        saved = modellib.checkpoint_config(ckpt, path)
    except ValueError as e:
        raise SystemExit("--weights %s" % e)
    if saved is None:
        raise SystemExit("--weights %s: not an mrcnn checkpoint (train one with `python -m mrcnn train`)" % path)
    names = list(ckpt.get("class_names") or []) or \
        ["BG"] + ["class%d" % i for i in range(1, int(saved.get("NUM_CLASSES", 2)))]
    del ckpt
    config = _config_for(args, int(saved.get("NUM_CLASSES", len(names))), saved.get("NAME", "mrcnn"), inference=True)
    # the network the checkpoint describes (every field its weights depend on) at the input size it
    # was trained at; --backbone, --min-dim and --max-dim do not apply to a trained network
    for k in Config.WEIGHT_DEPENDENT_FIELDS + ("IMAGE_MIN_DIM", "IMAGE_MAX_DIM", "IMAGE_RESIZE_MODE",
                                                "IMAGE_MIN_SCALE", "IMAGE_PAD_DIVISOR"):
        if k in saved:
            setattr(config, k, saved[k])
    model = modellib.MaskRCNN("inference", config, os.path.dirname(os.path.abspath(path)))
    try:
        model.load_weights(path, verbose=False)  # every layer or an error: no random layer in inference
    except ValueError as e:
        raise SystemExit("--weights %s" % e)
    model.class_names = names
    return model, names


def _detect(args):
    from . import render
    from .evaluation import results_to_coco
    from .utils import read_rgb

    model, names = _load_inference_model(args)
    exts = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
    if os.path.isdir(args.image):
        files = sorted(os.path.join(args.image, f) for f in os.listdir(args.image) if f.lower().endswith(exts))
    elif os.path.exists(args.image):
        files = [args.image]
    else:
        raise SystemExit("--image %s does not exist" % args.image)
    os.makedirs(args.out, exist_ok=True)
    from tqdm.auto import tqdm
    records = []
    for k, f in enumerate(tqdm(files, desc="detect")):
        try:
            image = read_rgb(f)
        except (OSError, ValueError) as e:
            print("skipped %s: %s" % (f, e))
            continue
        r = model.detect([image])[0]
        stem = os.path.splitext(os.path.basename(f))[0]
        render.save_png(os.path.join(args.out, stem + "_detections.png"),
                        render.draw_instances(image, r["masks"], r["class_ids"], names, r["scores"],
                                              r["rois"][:, [1, 0, 3, 2]]))
        for rec in results_to_coco([r], [k], segmentation=args.segmentation):
            rec["file_name"] = os.path.basename(f)
            rec["category_name"] = names[rec["category_id"]] if rec["category_id"] < len(names) else ""
            records.append(rec)
        print("%s: %d instances%s" % (os.path.basename(f), len(r["class_ids"]),
                                      "" if not len(r["class_ids"]) else " (" + ", ".join(
                                          "%s %.2f" % (names[c], s) for c, s in zip(r["class_ids"], r["scores"])) + ")"))
    out = os.path.join(args.out, "detections.json")
    with open(out + ".tmp", "w") as fh:
        json.dump(records, fh)
    os.replace(out + ".tmp", out)
    print("== %d images, %d detections; pictures and %s in %s" % (len(files), len(records), "detections.json",
                                                                    args.out))


def _evaluate(args):
    from .evaluation import evaluate

    model, names = _load_inference_model(args)
    dataset = _open_dataset(args)
    if args.limit:
        dataset = dataset.subset(dataset.image_ids[:args.limit])
    result = evaluate(model, dataset, verbose=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        summary = {t: [float(v) for v in result[t].stats] if result.get(t) is not None else None
                   for t in ("bbox", "segm")}
        summary["mAP50"] = result["mAP50"]
        summary["per_class"] = result.get("per_class", {})
        with open(os.path.join(args.out, "evaluation.json"), "w") as fh:
            json.dump(summary, fh, indent=1)
        print("== written %s" % os.path.join(args.out, "evaluation.json"))


def _inspect(args):
    from . import inspection

    dataset = _open_dataset(args)
    stats = inspection.dataset_stats(dataset)
    print("%d images, %d instances (%d crowd), %d images without instances"
          % (stats["images"], stats["instances"], stats["crowd"], stats["empty_images"]))
    for name, n in sorted(stats["class_counts"].items(), key=lambda kv: -kv[1]):
        print("  %-30s %d" % (name, n))
    os.makedirs(args.out, exist_ok=True)
    inspection.plot_dataset_stats(stats, os.path.join(args.out, "dataset_stats.png"))
    inspection.sample_grid(dataset, args.samples, path=os.path.join(args.out, "samples.png"))
    with open(os.path.join(args.out, "dataset_stats.json"), "w") as fh:
        json.dump({k: v for k, v in stats.items()}, fh)
    print("== dataset_stats.png, samples.png and dataset_stats.json in %s" % args.out)


def _dataset_args(p, required=True):
    p.add_argument("--dataset", required=required, help="annotation file (coco/csv), VIA json or folder, masks folder")
    p.add_argument("--format", choices=["coco", "via", "csv", "masks"], required=required)
    p.add_argument("--images", help="image folder (default: beside the annotations)")
    p.add_argument("--labels", help="label_descriptions.json for csv (default: beside the CSV if present)")
    p.add_argument("--class-attribute", dest="class_attribute", help="VIA region attribute holding the class")
    p.add_argument("--default-class", dest="default_class", default="object", help="class of unlabelled regions")
    p.add_argument("--mask-layout", dest="mask_layout", default="per-instance", choices=["per-instance", "instance-ids"])


def _count(minimum):
    """argparse type: an integer >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
        if value < minimum:
            raise argparse.ArgumentTypeError("%d is below %d" % (value, minimum))
        return value
    parse.__name__ = "count"
    return parse


def _number(low, high, low_open=False, high_open=False):
    """argparse type: a finite float in [low, high] (open where asked)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text) from None
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low) or \
                (high_open and value == high):
            raise argparse.ArgumentTypeError("%s is not in %s%g, %g%s" % (text, "(" if low_open else "[", low, high,
                                                                         ")" if high_open else "]"))
        return value
    parse.__name__ = "number"
    return parse


def _model_args(p):
    from . import _C
    p.add_argument("--backbone", default="resnet50", choices=_C.model.backbone_names())
    p.add_argument("--min-dim", dest="min_dim", type=_count(1), default=512)
    p.add_argument("--max-dim", dest="max_dim", type=_count(1), default=512)
    p.add_argument("--batch", type=_count(1), default=2,
                   help="images per step (per process when torchrun starts several)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mrcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the main job on the built-in synthetic shapes dataset")
    demo.add_argument("--out", default="out/demo", help="folder for pictures and results")
    demo.add_argument("--images", type=_count(1), default=64, help="training images")
    demo.add_argument("--size", type=_count(32), default=128, help="image side")
    demo.add_argument("--steps", type=_count(1), default=60, help="steps per epoch")
    demo.add_argument("--epochs", type=_count(0), default=4, help="epochs of training all layers (after one of heads)")
    demo.add_argument("--lr", type=_number(0, 10, low_open=True), default=0.01)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    train = sub.add_parser("train", help="train on your dataset: heads, then all layers")
    _dataset_args(train)
    _model_args(train)
    train.add_argument("--val-dataset", dest="val_dataset", help="separate validation annotations (same format)")
    train.add_argument("--val-fraction", dest="val_fraction", type=_number(0, 1, high_open=True), default=0.2)
    train.add_argument("--weights", default="imagenet", help="coco, coco_v2, imagenet, last, none or a file")
    train.add_argument("--logs", "--log-dir", dest="logs", default="logs",
                       help="checkpoints and logs folder (under torchrun write --log-dir: torchrun takes --logs for "
                            "its own --logs-specs)")
    train.add_argument("--name", default="mrcnn", help="run name (checkpoint prefix)")
    train.add_argument("--heads-epochs", dest="heads_epochs", type=_count(0), default=10)
    train.add_argument("--epochs", type=_count(1), default=20, help="final epoch (heads epochs included)")
    train.add_argument("--steps", type=_count(1), default=100, help="steps per epoch")
    train.add_argument("--val-steps", dest="val_steps", type=_count(0), default=10)
    train.add_argument("--lr", type=_number(0, 10, low_open=True), default=0.001)
    train.add_argument("--warmup", type=_count(0), default=0, help="warm-up steps")
    train.add_argument("--augment", action="store_true", help="random left-right flips")
    train.add_argument("--workers", type=_count(0), default=None)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=_train)
    det = sub.add_parser("detect", help="detect in an image or a folder; pictures and COCO JSON to --out")
    det.add_argument("--weights", required=True, help="an mrcnn checkpoint (.pt)")
    det.add_argument("--image", required=True, help="image file or folder")
    det.add_argument("--out", default="out/detect")
    det.add_argument("--min-confidence", dest="min_confidence", type=_number(0, 1), default=0.7)
    det.add_argument("--segmentation", default="rle", choices=["rle", "polygon"])
    _model_args(det)
    det.set_defaults(func=_detect)
    ev = sub.add_parser("evaluate", help="COCO AP and Matterport's mAP of a checkpoint on a dataset")
    ev.add_argument("--weights", required=True, help="an mrcnn checkpoint (.pt)")
    _dataset_args(ev)
    _model_args(ev)
    ev.add_argument("--min-confidence", dest="min_confidence", type=_number(0, 1), default=0.05)
    ev.add_argument("--limit", type=_count(0), default=0, help="evaluate the first N images only")
    ev.add_argument("--out", default=None, help="folder for evaluation.json")
    ev.set_defaults(func=_evaluate)
    ins = sub.add_parser("inspect", help="dataset statistics and a grid of samples, as numbers and PNG")
    _dataset_args(ins)
    ins.add_argument("--out", default="out/inspect")
    ins.add_argument("--samples", type=_count(1), default=8)
    ins.set_defaults(func=_inspect)
    sub.add_parser("info", help="print build information").set_defaults(
        func=lambda a: print(__import__("mrcnn").build_info()))
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
