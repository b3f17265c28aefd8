"""Detection ops against torchvision's on the same inputs, same threads, same process.

Cases from the ops issue: RoIAlign of 1000 RoIs on a 256x200x336 map (an 800x1344 image's P2) at
7x7 and 14x14, NMS and batched NMS on 5000 boxes, 100 masks of 28x28 pasted into 800x1066, and
the box decoding of 1000 proposals x 91 classes. CUDA cases run when a GPU is present.

    python benchmarks/bench_ops.py [--threads N] [--no-cpu-cache] [--json out/bench_ops.json]

mrcnn's caching CPU allocator is on for both sides unless --no-cpu-cache is given.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from harness import Bench  # noqa: E402

import mrcnn  # noqa: E402
import torchvision  # noqa: E402
from torchvision import ops as tvops  # noqa: E402
from torchvision.models.detection._utils import BoxCoder  # noqa: E402
from torchvision.models.detection.roi_heads import paste_masks_in_image  # noqa: E402

TV = "torchvision %s" % torchvision.__version__


def inputs(device):
    g = torch.Generator().manual_seed(0)
    feature = torch.randn(1, 256, 200, 336, generator=g)
    xy = torch.rand(1000, 2, generator=g) * torch.tensor([1344.0, 800.0])
    wh = torch.rand(1000, 2, generator=g) ** 2 * 400 + 8
    rois = torch.cat([torch.zeros(1000, 1), xy, xy + wh], 1)
    bxy = torch.rand(5000, 2, generator=g) * 1000
    boxes = torch.cat([bxy, bxy + torch.rand(5000, 2, generator=g) * 200 + 4], 1)
    scores = torch.rand(5000, generator=g)
    classes = torch.randint(0, 80, (5000,), generator=g)
    masks = torch.rand(100, 28, 28, generator=g)
    mxy = torch.rand(100, 2, generator=g) * torch.tensor([900.0, 600.0])
    mboxes = torch.cat([mxy, mxy + torch.rand(100, 2, generator=g) * 300 + 10], 1)
    proposals = torch.cat([bxy[:1000], bxy[:1000] + 50], 1)
    deltas = torch.randn(1000, 91 * 4, generator=g)
    out = dict(feature=feature, rois=rois, boxes=boxes, scores=scores, classes=classes, masks=masks,
               mboxes=mboxes, proposals=proposals, deltas=deltas)
    return {k: v.to(device) for k, v in out.items()}


def run(bench, device, label):
    d = inputs(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def timed(fn):
        def call():
            fn()
            sync()
        return call

    f, rois = d["feature"], d["rois"]
    f_cl = f.contiguous(memory_format=torch.channels_last)
    for size in (7, 14):
        bench.compare("roi_align 1000 RoIs %dx%d, NCHW map %s" % (size, size, label),
                      timed(lambda: torch.ops.mrcnn.roi_align(f, rois, 0.25, size, size, 2, False)),
                      timed(lambda: tvops.roi_align(f, rois, (size, size), 0.25, 2, False)), reference_name=TV)
    if device == "cpu":
        bench.compare("roi_align 1000 RoIs 7x7, channels-last map %s" % label,
                      timed(lambda: torch.ops.mrcnn.roi_align(f_cl, rois, 0.25, 7, 7, 2, False)),
                      timed(lambda: tvops.roi_align(f_cl, rois, (7, 7), 0.25, 2, False)), reference_name=TV)
    fg = f.clone().requires_grad_()
    grad = torch.randn(1000, 256, 7, 7, device=device)
    bench.compare("roi_align backward 1000 RoIs 7x7 %s" % label,
                  timed(lambda: torch.autograd.grad(torch.ops.mrcnn.roi_align(fg, rois, 0.25, 7, 7, 2, False), fg, grad)),
                  timed(lambda: torch.autograd.grad(tvops.roi_align(fg, rois, (7, 7), 0.25, 2, False), fg, grad)),
                  reference_name=TV)
    boxes, scores, classes = d["boxes"], d["scores"], d["classes"]
    bench.compare("nms 5000 boxes %s" % label, timed(lambda: torch.ops.mrcnn.nms(boxes, scores, 0.5)),
                  timed(lambda: tvops.nms(boxes, scores, 0.5)), reference_name=TV, number=5)
    bench.compare("batched_nms 5000 boxes 80 classes %s" % label,
                  timed(lambda: torch.ops.mrcnn.batched_nms(boxes, scores, classes, 0.5)),
                  timed(lambda: tvops.batched_nms(boxes, scores, classes, 0.5)), reference_name=TV, number=5)
    masks, mboxes = d["masks"], d["mboxes"]
    bench.compare("paste 100 masks into 800x1066, probabilities %s" % label,
                  timed(lambda: torch.ops.mrcnn.paste_masks(masks, mboxes, 800, 1066, 1, -1.0)),
                  timed(lambda: paste_masks_in_image(masks[:, None], mboxes, (800, 1066))), reference_name=TV)
    bench.compare("paste 100 masks into 800x1066, bool >= 0.5 %s" % label,
                  timed(lambda: torch.ops.mrcnn.paste_masks(masks, mboxes, 800, 1066, 1, 0.5)),
                  timed(lambda: paste_masks_in_image(masks[:, None], mboxes, (800, 1066)) >= 0.5),
                  reference_name=TV + " + threshold")
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    proposals, deltas = d["proposals"], d["deltas"]
    bench.compare("decode 1000 x 91 boxes %s" % label,
                  timed(lambda: torch.ops.mrcnn.decode_boxes(deltas, proposals, [10.0, 10.0, 5.0, 5.0])),
                  timed(lambda: coder.decode(deltas, [proposals])), reference_name=TV, number=5)


def run_onednn_layers(bench, label):
    """The layers ops/onednn.cpp runs through oneDNN itself, against torch's own (the model's P2
    3x3 convolution at 800x1066, and the box head's fc6 on 1000 RoIs), forward and backward."""
    from mrcnn import _C
    if not _C.model.winograd_status().startswith("oneDNN"):
        print("oneDNN layers: " + _C.model.winograd_status())
        return
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 256, 200, 272, generator=g).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(256, 256, 3, 3, generator=g) * 0.02, torch.zeros(256)
    bench.compare("3x3 conv 256->256 on 200x272 (P2), channels-last, Winograd vs direct %s" % label,
                  lambda: _C.model.conv3x3(x, w, b, True), lambda: torch.conv2d(x, w, b, padding=1),
                  reference_name="torch %s conv2d" % torch.__version__)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()

    def train_step(conv):
        def step():
            xg.grad = wg.grad = None
            conv().sum().backward()
        return step
    bench.compare("3x3 conv 256->256 on 200x272 (P2), forward + backward %s" % label,
                  train_step(lambda: _C.model.conv3x3(xg, wg, b, True)),
                  train_step(lambda: torch.conv2d(xg, wg, b, padding=1)),
                  reference_name="torch %s conv2d" % torch.__version__)
    feats, fc6 = torch.randn(1000, 12544, generator=g), torch.randn(1024, 12544, generator=g) * 0.01
    bias = torch.zeros(1024)
    bench.compare("box head fc6 1000 x 12544 -> 1024, oneDNN matmul vs BLAS %s" % label,
                  lambda: _C.model.linear(feats, fc6, bias, True),
                  lambda: torch.nn.functional.linear(feats, fc6, bias),
                  reference_name="torch %s linear" % torch.__version__)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-cpu-cache", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    mrcnn.set_num_threads(args.threads)
    if args.no_cpu_cache:
        mrcnn.set_cpu_cache(False)
    bench = Bench("detection ops, mrcnn vs torchvision (cpu cache %s)" % ("off" if args.no_cpu_cache else "on"),
                  repeat=7, warmup=2)
    run(bench, "cpu", "cpu %d threads" % mrcnn.get_num_threads())
    run_onednn_layers(bench, "cpu %d threads" % mrcnn.get_num_threads())
    if torch.cuda.is_available():
        run(bench, "cuda", "cuda " + torch.cuda.get_device_name(0))
    bench.report()
    if args.json:
        bench.save_json(args.json)


if __name__ == "__main__":
    main()
