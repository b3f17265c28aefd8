#!/usr/bin/env bash
# The Colab-style install test against pip's CPU wheel of torch instead of the CUDA build in .venv:
# a fresh virtual environment with only that torch and numpy, `pip install --no-build-isolation
# git+file://<this repository>` (its committed HEAD), import, one detect, and the import-time check
# after a torch change. It compiles the whole extension against that torch (about 6 minutes on 2
# cores), which is why ./run.sh test runs the same test against .venv's torch instead.
#
#   tools/check_cpu_wheel.sh [torch requirement, default torch==2.13.0]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "run ./run.sh build first (it creates .venv)" >&2; exit 1; }
MRCNN_TEST_CPU_TORCH=${1:-torch==2.13.0} .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/python/test_install.py::test_colab_style_install_then_detect
