"""Training step time on the fashion set: mrcnn's C++ loop (prefetching C++ loader + Trainer.step)
against torchvision's maskrcnn_resnet50_fpn trained the usual PyTorch way (images read with cv2,
masks decoded, model(images, targets), SGD), same initial weights, same images in the same order,
torchvision's resizing (800/1333) on both sides, the same trainable layers (layer2-4, FPN, RPN,
heads), SGD lr 0.005, momentum 0.9, weight decay 1e-4, batch 2.

    python benchmarks/bench_train.py [--steps 6] [--json out/bench_train.json]
        [--amp off|bf16|fp16] [--device cpu|cuda]

--amp runs both sides under autocast with that dtype (torchvision with torch.autocast and, for
fp16, torch.cuda.amp.GradScaler; ours with Trainer's mixed_precision and loss scaling).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from harness import fashion_dataset, machine  # noqa: E402

import mrcnn  # noqa: E402
from mrcnn import _C  # noqa: E402
from mrcnn.config import Config  # noqa: E402
from mrcnn.model import make_loader  # noqa: E402

import torchvision  # noqa: E402
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor  # noqa: E402
from torchvision.models.detection.mask_rcnn import MaskRCNN as TvMaskRCNN  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

TRAINABLE = r"^(backbone\.body\.layer[234]|backbone\.fpn|rpn|roi_heads)\."


class FashionConfig(Config):
    NAME = "fashion"
    IMAGES_PER_GPU = 2
    IMAGE_RESIZE_MODE = "torchvision"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1333
    MEAN_PIXEL = np.array([123.675, 116.28, 103.53])
    PIXEL_STD = np.array([58.395, 57.12, 57.375])
    BACKBONE = "resnet50"
    BACKBONE_BN_EPS = 1e-5
    TRAIN_ROIS_PER_IMAGE = 512
    ROI_POSITIVE_RATIO = 0.25
    GRADIENT_CLIP_NORM = 0


def torchvision_config(num_classes, **overrides):
    """A Config with torchvision's maskrcnn_resnet50_fpn settings (resize, normalisation, RPN and
    head sampling, box coder weights), as our engine defines them."""
    cfg = FashionConfig()
    for k, v in json.loads(_C.model.torchvision_config(int(num_classes))).items():
        setattr(cfg, k, np.array(v) if isinstance(v, list) and k in ("MEAN_PIXEL", "PIXEL_STD", "RPN_BBOX_STD_DEV",
                                                                      "BBOX_STD_DEV") else v)
    cfg.NAME = "fashion"
    cfg.IMAGES_PER_GPU = 2
    cfg.BACKBONE_BN_EPS = 1e-5  # torchvision's FrozenBatchNorm2d default, used by the freshly built model
    cfg.GRADIENT_CLIP_NORM = 0
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def twin_models(num_classes, cfg, seed=0, device="cpu", **tv_kwargs):
    """torchvision's Mask R-CNN with seeded random weights and ours with the same weights.

    Random ResNet weights with identity frozen BatchNorm double the activations' variance per
    block and overflow on real images: each residual branch is damped (bn3 scale 0.2)."""
    torch.manual_seed(seed)
    body = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    tv = TvMaskRCNN(_resnet_fpn_extractor(body, 3), num_classes=num_classes, **tv_kwargs)
    with torch.no_grad():
        for name, buf in tv.named_buffers():
            if name.endswith("bn3.weight"):
                buf.fill_(0.2)
    ours = mrcnn.model.MaskRCNN("training", cfg, "/tmp/bench_train", device=device)
    ours.net.load_state_dict(tv.state_dict(), [])
    return tv.to(device), ours


def tv_step(tv, opt, ds, ids, amp="off", scaler=None):
    """One torchvision training step on images `ids`, the usual PyTorch way: (seconds, total loss)."""
    t0 = time.perf_counter()
    device = next(tv.parameters()).device
    images, targets = tv_batch(ds, ids)
    images = [im.to(device) for im in images]
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
    opt.zero_grad()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        losses = tv(images, targets)
    total = sum(losses.values())
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.step(opt)
        scaler.update()
    else:
        total.backward()
        opt.step()
    loss = float(total.detach())  # waits for the device
    return time.perf_counter() - t0, loss


def tv_batch(ds, ids):
    """Images and targets for torchvision's model, read the plain way (cv2 image, decoded masks,
    boxes from the masks)."""
    images, targets = [], []
    for i in ids:
        image = ds.load_image(i)
        masks, class_ids = ds.load_mask(i)
        keep = class_ids > 0
        masks, class_ids = masks[:, :, keep], class_ids[keep]
        m = torch.from_numpy(np.ascontiguousarray(masks.transpose(2, 0, 1))).to(torch.uint8)
        ys = m.any(2)
        xs = m.any(1)
        boxes = torch.stack([xs.float().argmax(1), ys.float().argmax(1),
                             m.shape[2] - xs.flip(1).float().argmax(1), m.shape[1] - ys.flip(1).float().argmax(1)], 1)
        images.append(torch.from_numpy(image).permute(2, 0, 1).float() / 255)
        targets.append({"boxes": boxes.float(), "labels": torch.from_numpy(class_ids).long(), "masks": m})
    return images, targets


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json")
    parser.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    ds = fashion_dataset()
    cfg = torchvision_config(ds.num_classes)
    tv, ours = twin_models(ds.num_classes, cfg, device=args.device)
    steps = args.steps + 1  # the first step of each side is a warm-up
    loader = make_loader(ds, cfg, None, shuffle=True, seed=0, workers=1)
    order = [loader.image_index(k) for k in range(2 * steps)]
    trainer = _C.train.Trainer(ours.net, _C.train.TrainOptions(learning_rate=0.005, momentum=0.9, weight_decay=1e-4,
                                                               clip_norm=0.0, layers=TRAINABLE, steps_per_epoch=1000,
                                                               mixed_precision=args.amp,
                                                               loss_scale=65536.0 if args.amp == "fp16" else 0.0))
    tv.train()
    opt = torch.optim.SGD([p for p in tv.parameters() if p.requires_grad], lr=0.005, momentum=0.9, weight_decay=1e-4)
    scaler = torch.cuda.amp.GradScaler() if args.amp == "fp16" else None

    tv_amp = args.amp
    if tv_amp != "off":
        try:  # a forward pass (no update) under autocast checks that torchvision supports it here
            images, targets = tv_batch(ds, order[:2])
            device = next(tv.parameters()).device
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[tv_amp]
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype):
                tv([im.to(device) for im in images], [{k: v.to(device) for k, v in t.items()} for t in targets])
        except RuntimeError as e:
            # torchvision 0.14's CPU nms has no bf16 kernel and no CPU autocast wrapper
            print("torchvision cannot train under %s autocast here (%s); it runs in float32" % (tv_amp, str(e)[:80]))
            tv_amp, scaler = "off", None

    t_ours, t_tv, loss_ours, loss_tv = [], [], [], []
    for s in range(steps):
        t0 = time.perf_counter()
        m = trainer.step(loader)
        t_ours.append(time.perf_counter() - t0)
        loss_ours.append(m["loss"])
        seconds, loss = tv_step(tv, opt, ds, order[2 * s:2 * s + 2], tv_amp, scaler)
        t_tv.append(seconds)
        loss_tv.append(loss)
        print("step %d: ours %.2f s (loss %.3f), torchvision %.2f s (loss %.3f)"
              % (s, t_ours[-1], loss_ours[-1], t_tv[-1], loss_tv[-1]))
    o, r = float(np.median(t_ours[1:])), float(np.median(t_tv[1:]))
    print("\ntraining step, 2 fashion images, %s, %d threads: ours (%s) %.2f s (%.2f images/s), "
          "%s (%s) %.2f s (%.2f images/s): %.2fx" % (args.device, mrcnn.get_num_threads(), args.amp, o, 2 / o,
                                                    "torchvision " + torchvision.__version__, tv_amp, r, 2 / r, o / r))
    info = machine()
    print("machine: " + ", ".join("%s %s" % kv for kv in info.items()))
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "amp": args.amp, "torchvision_amp": tv_amp, "ours_s": o, "torchvision_s": r, "ratio": o / r, "ours": t_ours, "torchvision": t_tv,
                       "loss_ours": loss_ours, "loss_torchvision": loss_tv, "machine": info}, f, indent=1)


if __name__ == "__main__":
    main()
