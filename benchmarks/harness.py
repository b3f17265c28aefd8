"""Side-by-side timing: ours against a reference, alternating, with warm-up; medians and ratios.

    from harness import Bench
    bench = Bench("ops")
    bench.compare("nms 5000", ours=lambda: ..., reference=lambda: ...)
    bench.against_figure("encode", ours=fn, items=1000, reference_per_s=1737, reference="pycocotools (DESIGN.md)")
    bench.report()   # table + machine, load and versions; bench.save_json(path)

A benchmark reports figures; it never decides pass or fail.
"""
import json
import os
import platform
import statistics
import sys
import time


FASHION = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fashion")


def fashion_dataset():
    """The fashion set of ../shared/data (iMaterialist RLE CSV) as a prepared RleCsvDataset; exits
    with a message when ../shared is absent."""
    if not os.path.exists(FASHION):
        sys.exit("needs %s" % FASHION)
    from mrcnn.datasets import RleCsvDataset
    ds = RleCsvDataset(os.path.join(FASHION, "train.csv"), os.path.join(FASHION, "images"),
                       os.path.join(FASHION, "label_descriptions.json"))
    ds.prepare()
    return ds


def machine():
    """CPU model, cores, load, memory and library versions, as a dict."""
    info = {"python": sys.version.split()[0], "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    info["cores"] = os.cpu_count()
    info["load (1/5/15 min)"] = " ".join("%.2f" % v for v in os.getloadavg())
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    import numpy
    info["numpy"] = numpy.__version__
    import mrcnn
    b = mrcnn.build_info()
    for k in ("mrcnn", "cuda kernels", "blas", "threads"):
        info["mrcnn " + k if k != "mrcnn" else "mrcnn"] = b[k]
    return info


def _time(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


class Bench:
    def __init__(self, title, repeat=7, warmup=2):
        self.title = title
        self.repeat = repeat
        self.warmup = warmup
        self.rows = []

    def compare(self, name, ours, reference, number=1, reference_name="reference"):
        """Times ours and reference alternately (warm-up first); records both medians."""
        for _ in range(self.warmup):
            ours()
            reference()
        t_ours, t_ref = [], []
        for _ in range(self.repeat):
            t_ours.append(_time(ours, number))
            t_ref.append(_time(reference, number))
        row = {"case": name, "ours_s": statistics.median(t_ours), "reference_s": statistics.median(t_ref),
               "reference": reference_name}
        row["ratio"] = row["ours_s"] / row["reference_s"]
        row["speedup"] = 1.0 / row["ratio"]
        self.rows.append(row)
        return row

    def against_figure(self, name, ours, items, reference_per_s, reference, number=1):
        """Times ours and compares its throughput (items per second) with a published figure."""
        for _ in range(self.warmup):
            ours()
        times = [_time(ours, number) for _ in range(self.repeat)]
        t = statistics.median(times)
        row = {"case": name, "ours_s": t, "reference_s": items / reference_per_s, "reference": reference,
               "ours_per_s": items / t, "reference_per_s": reference_per_s}
        row["ratio"] = row["ours_s"] / row["reference_s"]
        row["speedup"] = 1.0 / row["ratio"]
        self.rows.append(row)
        return row

    def report(self, file=sys.stdout):
        print("\n## %s" % self.title, file=file)
        for k, v in machine().items():
            print("  %-20s %s" % (k + ":", v), file=file)
        print("  %d runs after %d warm-up, medians; ratio = ours / reference (lower is faster)" %
              (self.repeat, self.warmup), file=file)
        print("  %-34s %12s %12s %8s %8s  %s" % ("case", "ours", "reference", "ratio", "speedup", "reference is"),
              file=file)
        for r in self.rows:
            extra = ""
            if "ours_per_s" in r:
                extra = "  (%.4g/s vs %.4g/s)" % (r["ours_per_s"], r["reference_per_s"])
            print("  %-34s %10.3f ms %10.3f ms %8.3f %7.2fx  %s%s" % (
                r["case"], 1e3 * r["ours_s"], 1e3 * r["reference_s"], r["ratio"], r["speedup"], r["reference"],
                extra), file=file)

    def save_json(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"title": self.title, "machine": machine(), "rows": self.rows}, f, indent=1)
