"""Mask R-CNN inference and a training step, mrcnn vs torchvision, same weights, same process.

torchvision's maskrcnn_resnet50_fpn is built with seeded random weights (frozen BatchNorm, as for
pretrained weights) and box_score_thresh 0, so both sides always return 100 detections; ours
loads its state_dict. Cases: inference at 800x1066 (resized as torchvision does) and at 512x512
(min_size = max_size = 512, no resize), and one training step on 2 images (forward, backward,
SGD step). Ours returns bool masks (Matterport's detect format); torchvision returns float masks.
Per-stage times of ours come from MaskRCNN.stages.

    python benchmarks/bench_model.py [--threads N] [--no-cpu-cache] [--json out/bench_model.json]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from harness import Bench  # noqa: E402

import mrcnn  # noqa: E402
from mrcnn import _C  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor  # noqa: E402
from torchvision.models.detection.mask_rcnn import MaskRCNN as TvMaskRCNN  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d  # noqa: E402

TV = "torchvision %s" % torchvision.__version__


def build(min_size=800, max_size=1333):
    torch.manual_seed(0)
    body = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    tv = TvMaskRCNN(_resnet_fpn_extractor(body, 3), num_classes=91, box_score_thresh=0.0,
                    min_size=min_size, max_size=max_size)
    cfg = json.loads(_C.model.torchvision_config(91))
    cfg.update(BACKBONE_BN_EPS=1e-5, DETECTION_MIN_CONFIDENCE=0.0, IMAGE_MIN_DIM=min_size, IMAGE_MAX_DIM=max_size)
    ours = _C.model.MaskRCNN(json.dumps(cfg))
    ours.load_state_dict(tv.state_dict(), [])
    return tv, ours


def targets_for(images):
    out = []
    for img in images:
        h, w = img.shape[1:]
        boxes = torch.tensor([[0.1 * w, 0.1 * h, 0.5 * w, 0.6 * h], [0.4 * w, 0.3 * h, 0.9 * w, 0.8 * h]])
        masks = torch.zeros(2, h, w, dtype=torch.uint8)
        for i, b in enumerate(boxes.long()):
            masks[i, b[1]:b[3], b[0]:b[2]] = 1
        out.append(dict(boxes=boxes, labels=torch.tensor([1, 2]), masks=masks))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-cpu-cache", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    mrcnn.set_num_threads(args.threads)
    if args.no_cpu_cache:
        mrcnn.set_cpu_cache(False)
    bench = Bench("Mask R-CNN R50-FPN, mrcnn vs torchvision (cpu cache %s)" % ("off" if args.no_cpu_cache else "on"),
                  repeat=3, warmup=1)
    g = torch.Generator().manual_seed(1)
    stages = {}
    for (h, w, lo, hi) in [(800, 1066, 800, 1333), (512, 512, 512, 512)]:
        tv, ours = build(lo, hi)
        tv.eval()
        ours.eval()
        image = torch.rand(3, h, w, generator=g)

        def run_tv():
            with torch.no_grad():
                tv([image])

        bench.compare("inference %dx%d, %d threads" % (h, w, mrcnn.get_num_threads()),
                      lambda: ours.detect([image], 0.5), run_tv, reference_name=TV)
        if h == 800 and mrcnn.bf16_autocast_supported():
            # what a user gets from MIXED_PRECISION = "bf16" on a CPU with bf16 support; torchvision
            # 0.14 cannot run under CPU bf16 autocast (its nms has no bf16 kernel), so it stays float32
            def run_ours_bf16():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    ours.detect([image], 0.5)

            bench.compare("inference %dx%d, ours bf16 autocast vs torchvision float32" % (h, w), run_ours_bf16,
                          run_tv, reference_name=TV)
        times = [ours.stages([image])["times"] for _ in range(3)]
        stages["%dx%d" % (h, w)] = {k: sorted(t[k] for t in times)[1] for k in times[0]}

    tv, ours = build()
    tv.train()
    ours.train(True)
    images = [torch.rand(3, 800, 1066, generator=g), torch.rand(3, 800, 1066, generator=g)]
    targets = targets_for(images)
    opt_tv = torch.optim.SGD([p for p in tv.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
    # torchvision trains layer2-4 of the backbone (trainable_backbone_layers=3): freeze the same
    for name, p in ours.named_parameters():
        if name.startswith(("backbone.body.conv1", "backbone.body.layer1")):
            p.requires_grad_(False)
    opt_ours = torch.optim.SGD([p for _, p in ours.named_parameters() if p.requires_grad], lr=1e-4, momentum=0.9)

    def step_tv():
        opt_tv.zero_grad()
        sum(tv(images, targets).values()).backward()
        opt_tv.step()

    def step_ours():
        opt_ours.zero_grad()
        sum(ours.losses(images, targets).values()).backward()
        opt_ours.step()

    bench.compare("training step, 2 images 800x1066, %d threads" % mrcnn.get_num_threads(), step_ours, step_tv,
                  reference_name=TV)
    bench.report()
    print("\n  ours, per stage (median of 3, seconds):")
    for size, t in stages.items():
        print("    %-9s " % size + "  ".join("%s %.3f" % (k, v) for k, v in t.items()))
    if args.json:
        bench.save_json(args.json)
        with open(args.json.replace(".json", "_stages.json"), "w") as f:
            json.dump(stages, f, indent=1)


if __name__ == "__main__":
    main()
