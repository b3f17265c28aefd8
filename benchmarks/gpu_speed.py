"""Throughput side by side with torchvision's maskrcnn_resnet50_fpn in one process on one device,
same weights and inputs, after warm-up, medians: inference images/s at batch 1 and 8 on 800x1333
inputs in float32 and under autocast (fp16 on CUDA, bf16 on a CPU that has it), training images/s
at batch 8 under autocast (fp16 with loss scaling on CUDA), and the peak device memory of each.

    python benchmarks/gpu_speed.py [--device cuda|cpu] [--small] [--json out/gpu_speed.json]

--small runs the same cases at 256x320, batches 1 and 2, one warm-up and two timed runs (the
pipeline check CI runs on the CPU). Part of benchmarks/gpu_check.sh.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_model import build, targets_for  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, warmup, repeat):
    for _ in range(warmup):
        fn()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return statistics.median(times), peak


def _native_bf16():
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--small", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    device = torch.device(args.device)
    h, w = (256, 320) if args.small else (800, 1333)
    batches = (1, 2) if args.small else (1, 8)
    train_batch = 2 if args.small else 8
    warmup, repeat = (1, 2) if args.small else (3, 10)
    if device.type == "cuda":
        amp = torch.float16
        torch.backends.cudnn.benchmark = True
    else:
        import mrcnn
        # bf16 where the CPU computes it natively; elsewhere (AVX2) torch emulates it, some 10x
        # slower than float32, which measures nothing useful
        amp = torch.bfloat16 if mrcnn.bf16_autocast_supported() and _native_bf16() else None
    tv, ours = build(min(h, w), max(h, w))
    tv = tv.to(device)
    ours.to(str(device))  # in place
    g = torch.Generator().manual_seed(1)
    rows = []

    def record(case, fn_ours, fn_tv, images):
        t_ours, m_ours = _timed(fn_ours, device, warmup, repeat)
        t_tv, m_tv = _timed(fn_tv, device, warmup, repeat)
        row = {"case": case, "images": images, "ours_images_per_s": images / t_ours,
               "torchvision_images_per_s": images / t_tv, "speedup": t_tv / t_ours,
               "ours_ms_per_image": 1e3 * t_ours / images, "ours_peak_bytes": m_ours, "torchvision_peak_bytes": m_tv}
        rows.append(row)
        print("  %-34s ours %8.2f img/s (%7.2f ms/img)   torchvision %8.2f img/s   %.2fx%s" % (
            case, row["ours_images_per_s"], row["ours_ms_per_image"], row["torchvision_images_per_s"], row["speedup"],
            "" if m_ours is None else "   peak %.0f / %.0f MiB" % (m_ours / 2 ** 20, m_tv / 2 ** 20)))

    print("## throughput on %s (%s), %dx%d inputs" % (
        device, torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU", h, w))
    tv.eval()
    ours.eval()
    for batch in batches:
        images = [torch.rand(3, h, w, generator=g).to(device) for _ in range(batch)]
        for dtype in [None] + ([amp] if amp is not None else []):
            def run_ours():
                with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    ours.detect(images, 0.5)

            def run_tv():
                with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    tv(images)

            record("inference batch %d %s" % (batch, "float32" if dtype is None else str(dtype).split(".")[1]),
                   run_ours, run_tv, batch)

    # training: under autocast where there is a reduced precision, else float32
    tv.train()
    ours.train(True)
    images = [torch.rand(3, h, w, generator=g).to(device) for _ in range(train_batch)]
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets_for(images)]
    for name, prm in ours.named_parameters():  # the layers torchvision trains (layer2-4 and up)
        if name.startswith(("backbone.body.conv1", "backbone.body.layer1")):
            prm.requires_grad_(False)
    opt_tv = torch.optim.SGD([q for q in tv.parameters() if q.requires_grad], lr=1e-4, momentum=0.9)
    opt_ours = torch.optim.SGD([q for _, q in ours.named_parameters() if q.requires_grad], lr=1e-4, momentum=0.9)
    scale = amp == torch.float16
    scaler_tv = torch.amp.GradScaler(device.type, enabled=scale)
    scaler_ours = torch.amp.GradScaler(device.type, enabled=scale)

    def step(model, losses, opt, scaler):
        def run():
            opt.zero_grad()
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = sum(losses().values())
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        return run

    record("training batch %d %s" % (train_batch, "float32" if amp is None else str(amp).split(".")[1]),
           step(ours, lambda: ours.losses(images, targets), opt_ours, scaler_ours),
           step(tv, lambda: tv(images, targets), opt_tv, scaler_tv), train_batch)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "size": [h, w], "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
