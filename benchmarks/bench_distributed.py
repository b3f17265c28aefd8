"""Data-parallel step time: one process with the whole batch against torchrun's N processes with
IMAGES_PER_GPU images each (Gloo on the CPU, NCCL on CUDA), the same model, images and steps, as
medians of the step times after warm-up (each step timed by rank 0 from batch end to batch end).

    python benchmarks/bench_distributed.py [--processes 2] [--per-process 1] [--steps 12]
        [--size 256] [--device cpu|cuda] [--json out/bench_distributed.json]

On the CPU the processes share the machine's cores (each gets cores / processes threads, the one
process all of them), so the ratio says what the communication and the split cost there, not what
several GPUs gain: weak-scaling efficiency = (one process's time for per-process images) / (N
processes' time for per-process images each).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

JOB = textwrap.dedent(r'''
    import json, os, sys, time
    import torch
    from mrcnn import distributed
    from mrcnn import model as modellib
    from mrcnn.config import Config
    from mrcnn.shapes import ShapesDataset

    out, per_process, steps, size, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

    class Bench(Config):
        NAME = "bench"
        NUM_CLASSES = 4
        IMAGES_PER_GPU = per_process
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = size
        BACKBONE = "resnet50"
        STEPS_PER_EPOCH = steps
        VALIDATION_STEPS = 0

    class Clock:
        times = []

        def on_batch_end(self, batch, logs):
            Clock.times.append(time.perf_counter())

    torch.manual_seed(0)
    model = modellib.MaskRCNN("training", Bench(), out, device=device)
    data = ShapesDataset(1)
    data.load_shapes(64, size, size)
    data.prepare()
    model.train(data, None, 0.001, 1, "all", workers=1, seed=3, verbose=0, custom_callbacks=[Clock()])
    if distributed.rank() == 0:
        with open(os.path.join(out, "times.json"), "w") as f:
            json.dump(Clock.times, f)
''')


def run(tmp, processes, per_process, args):
    out = tempfile.mkdtemp(dir=tmp)
    script = os.path.join(tmp, "job.py")
    with open(script, "w") as f:
        f.write(JOB)
    job = [script, out, str(per_process), str(args.steps), str(args.size), args.device]
    cores = os.cpu_count() or 1
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // processes)))
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)] + job
    else:
        cmd = [sys.executable] + job
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    times = json.load(open(os.path.join(out, "times.json")))
    steps = np.diff(times)[2:]  # after two steps of warm-up
    return float(np.median(steps))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--per-process", dest="per_process", type=int, default=1)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json")
    args = p.parse_args()
    n, b = args.processes, args.per_process
    with tempfile.TemporaryDirectory() as tmp:
        whole = run(tmp, 1, n * b, args)  # one process, the whole batch
        alone = run(tmp, 1, b, args)      # one process, one process's share
        split = run(tmp, n, b, args)      # N processes, b images each
    result = {
        "processes": n, "images_per_process": b, "size": args.size, "device": args.device,
        "cpu_count": os.cpu_count(),
        "step_s_one_process_whole_batch": whole,
        "step_s_one_process_share": alone,
        "step_s_processes": split,
        "speedup_vs_one_process_whole_batch": whole / split,
        "weak_scaling_efficiency": alone / split,
    }
    print("batch %d (%d x %d), %dx%d images, %s, %d cores" % (n * b, n, b, args.size, args.size, args.device,
                                                            os.cpu_count()))
    print("  one process, %d images per step:      %.3f s/step" % (n * b, whole))
    print("  one process, %d image(s) per step:    %.3f s/step" % (b, alone))
    print("  %d processes, %d image(s) each:        %.3f s/step  (%.2fx the one-process whole batch; "
          "weak-scaling efficiency %.2f)" % (n, b, split, whole / split, alone / split))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
