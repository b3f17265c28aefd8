"""benchmarks/gpu_check.sh, the one prepared command for a lent GPU machine, in its CPU dry mode
(--cpu --small, with the installed build): every step runs and reports, so it cannot rot between
the sessions that have a GPU."""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check"
    proc = subprocess.run([os.path.join(ROOT, "benchmarks", "gpu_check.sh"), str(out), "--cpu", "--small",
                           "--no-build", "--python", sys.executable],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                          env=dict(os.environ, MRCNN_DEVICE="cpu"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = json.load(open(out / "summary.json"))
    assert summary["steps"] == {"environment": "ok", "build": "skipped (--no-build)", "correctness": "ok",
                                "speed": "ok"}, summary["steps"]
    assert summary["correctness"]["tests"] > 10 and not summary["correctness"]["failed"]
    cases = {r["case"] for r in summary["speed"]["rows"]}
    assert {"inference batch 1 float32", "inference batch 2 float32"} <= cases
    assert all(r["ours_images_per_s"] > 0 and r["torchvision_images_per_s"] > 0 for r in summary["speed"]["rows"])
    assert summary["environment"]["torch"] and os.path.exists(out / "gpu_check.log")
