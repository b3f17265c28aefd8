"""Import time: `import mrcnn` (which imports torch, then loads the extension and what it links)
against `import torch` alone, each in a fresh interpreter, alternating; medians and the ratio. The
wheel issue's goal is a ratio of at most 1.2.

    python benchmarks/bench_import.py [--repeat 7] [--json out/bench_import.json]
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Bench  # noqa: E402


def fresh_import(module):
    def run():
        subprocess.run([sys.executable, "-c", "import %s" % module], check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json")
    args = p.parse_args()
    bench = Bench("import time (fresh interpreter each run, the process's whole wall time)", repeat=args.repeat,
                  warmup=1)
    bench.compare("import mrcnn vs import torch", ours=fresh_import("mrcnn"), reference=fresh_import("torch"),
                  reference_name="import torch")
    bench.report()
    if args.json:
        bench.save_json(args.json)


if __name__ == "__main__":
    main()
